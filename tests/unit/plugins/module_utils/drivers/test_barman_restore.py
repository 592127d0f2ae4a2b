# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring from Barman: the database host's requests through the gate, the command line each becomes on the Barman
server, and the recovery settings the module writes (the same for Barman 3.4 and 3.13: Barman is given no target)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.drivers import barman_gate
from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman import Barman
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy

SSH = ["ssh", "-q", "-o", "BatchMode=yes", "pgops-barman-main"]
DATA = "/var/lib/postgresql/15/main"


def on_database_host():
    return Barman(minimal_policy("barman"), gate=True)


def on_server():
    return Barman(minimal_policy("barman"))


def gate(command, db_ssh="postgres@db1"):
    return barman_gate.gate_argv(on_server(), barman_gate.request_words(command), db_ssh)


class TestRequestsFromTheDatabaseHost(object):
    def test_listing_goes_through_the_gate_by_its_host_alias(self):
        assert on_database_host().list_backups_argv() == SSH + ["list-backups"]
        assert on_database_host().show_backup_argv("20261204T010203") == SSH + ["show-backup", "20261204T010203"]

    def test_on_the_server_they_are_barmans_own_command_lines(self):
        assert on_server().list_backups_argv() == ["/usr/bin/barman", "-f", "json", "list-backups", "main"]

    def test_restore_command_fetches_each_file_through_the_gate(self):
        assert on_database_host().restore_command() == "ssh -q -o BatchMode=yes pgops-barman-main get-wal %f > %p"
        assert on_server().restore_command() == "/usr/bin/barman get-wal main %f > %p"

    def test_latest_recovers_in_standby_mode_and_archives_nothing(self):
        plan = on_database_host().restore_plan(DATA, backup="20261204T010203")
        assert plan["argv"] == SSH + ["recover", "20261204T010203", DATA, "standby"]
        assert plan["auto_conf"] == {"restore_command": "ssh -q -o BatchMode=yes pgops-barman-main get-wal %f > %p",
                                     "archive_mode": "off"}
        assert (plan["standby_signal"], plan["recovery_signal"]) == (True, False)

    @pytest.mark.parametrize("target, setting", [
        ({"type": "time", "value": "2026-12-04 01:02:03+00"}, ("recovery_target_time", "2026-12-04 01:02:03+00")),
        ({"type": "lsn", "value": "0/3000060"}, ("recovery_target_lsn", "0/3000060")),
        ({"type": "xid", "value": "1234"}, ("recovery_target_xid", "1234")),
        ({"type": "name", "value": "before-upgrade"}, ("recovery_target_name", "before-upgrade")),
        ({"type": "immediate"}, ("recovery_target", "immediate"))])
    def test_an_exact_target_is_written_by_the_module_and_pauses_there(self, target, setting):
        plan = on_database_host().restore_plan(DATA, backup="20261204T010203", target=target, primary=True)
        assert plan["argv"] == SSH + ["recover", "20261204T010203", DATA]
        assert plan["auto_conf"][setting[0]] == setting[1]
        assert plan["auto_conf"]["recovery_target_action"] == "pause" and "archive_mode" not in plan["auto_conf"]
        assert (plan["standby_signal"], plan["recovery_signal"]) == (False, True)

    def test_without_a_backup_barman_takes_its_latest(self):
        assert on_database_host().restore_plan(DATA)["argv"] == SSH + ["recover", "latest", DATA, "standby"]

    @pytest.mark.parametrize("arguments, word", [({"delta": True}, "delta"), ({"repository": 2}, "repository"),
                                                 ({"backup": "--force"}, "backup")])
    def test_what_barman_cannot_do_is_refused_by_name(self, arguments, word):
        with pytest.raises(ValueError) as info:
            on_database_host().restore_plan(DATA, **arguments)
        assert str(info.value).startswith(word)


class TestTheScratchClusterOnTheServer(object):
    """What pg_restore_check and the drill run as barman on the Barman server."""

    def test_the_backup_is_verified_by_barman_before_a_restore(self):
        assert on_server().verify_argv("20261204T010203") == [
            "/usr/bin/barman", "verify-backup", "main", "20261204T010203"]

    def test_verification_is_not_asked_through_the_gate(self):
        with pytest.raises(ValueError, match="on its server"):
            on_database_host().verify_argv("20261204T010203")

    @pytest.mark.parametrize("label", ["--reset", "../x", ""])
    def test_a_label_that_is_not_one_is_refused(self, label):
        with pytest.raises(ValueError, match="is not a backup label"):
            on_server().verify_argv(label)

    def test_the_scratch_cluster_is_recovered_locally_and_fetches_wal_from_barman_itself(self):
        plan = on_server().restore_plan("/var/tmp/pgops-restore-drill/data", backup="20261204T010203",
                                        target={"type": "immediate"})
        assert plan["argv"] == ["/usr/bin/barman", "-f", "json", "recover", "--get-wal", "main", "20261204T010203",
                                "/var/tmp/pgops-restore-drill/data"]
        assert plan["auto_conf"]["restore_command"] == "/usr/bin/barman get-wal main %f > %p"
        assert plan["auto_conf"]["archive_mode"] == "off"


class TestTheGate(object):
    def test_recover_writes_into_the_database_host_the_gate_names_only(self):
        assert gate("recover 20261204T010203 %s standby" % DATA, "postgres@db1") == [
            "/usr/bin/barman", "-f", "json", "recover", "--remote-ssh-command", "ssh -q -o BatchMode=yes postgres@db1",
            "--get-wal", "--standby-mode", "main", "20261204T010203", DATA]
        assert "--standby-mode" not in gate("recover 20261204T010203 %s" % DATA)

    @pytest.mark.parametrize("command, argv", [
        ("list-backups", ["/usr/bin/barman", "-f", "json", "list-backups", "main"]),
        ("check", ["/usr/bin/barman", "-f", "json", "check", "main"]),
        ("sync-info", ["/usr/bin/barman", "sync-info", "main"]),
        ("show-backup latest", ["/usr/bin/barman", "-f", "json", "show-backup", "main", "latest"]),
        ("get-wal 000000010000000000000003", ["/usr/bin/barman", "get-wal", "main", "000000010000000000000003"]),
        ("get-wal 00000002.history", ["/usr/bin/barman", "get-wal", "main", "00000002.history"])])
    def test_each_request_becomes_the_drivers_command_line_for_the_gates_own_server(self, command, argv):
        assert gate(command) == argv

    @pytest.mark.parametrize("command", [
        "", "delete main 20261204T010203", "barman delete main oldest", "list-backups other", "cron",
        "receive-wal --stop", "show-backup ../../etc", "show-backup 20261204T010203 extra",
        "get-wal 000000010000000000000003 > /tmp/x", "get-wal ../../../etc/shadow",
        "recover 20261204T010203 /var/lib/postgresql/15/main --remote-ssh-command=evil",
        "recover 20261204T010203 relative/dir", "recover 20261204T010203 /var/lib/../../root",
        "recover 20261204T010203 '/var/lib/post gresql'", "recover latest /x standby extra", "sh -c 'id'",
        "keep main latest --target full", "recover 'unterminated"])
    def test_anything_else_is_refused(self, command):
        with pytest.raises(barman_gate.Refused):
            gate(command)

    def test_the_entry_point_execs_what_passes_and_logs_what_does_not(self, monkeypatch):
        ran, logged = [], []
        monkeypatch.setattr(barman_gate.syslog, "openlog", lambda *args: None)
        monkeypatch.setattr(barman_gate.syslog, "syslog", lambda level, text: logged.append(text))

        class Host(object):
            def print_error(self, line):
                logged.append(line)

        environ = {"SSH_ORIGINAL_COMMAND": "get-wal 000000010000000000000003"}
        assert barman_gate.main(["main", "postgres@db1"], Host(), environ, lambda path, argv: ran.append(argv)) == 0
        assert ran == [["/usr/bin/barman", "get-wal", "main", "000000010000000000000003"]]
        environ = {"SSH_ORIGINAL_COMMAND": "delete main oldest"}
        assert barman_gate.main(["main", "postgres@db1"], Host(), environ, lambda path, argv: ran.append(argv)) == 1
        assert len(ran) == 1 and any("refused for postgres@db1 (server main)" in line for line in logged), logged


class TestFollowingARestoredServer(object):
    def test_the_upkeep_commands_are_barmans_own_for_the_server(self):
        assert on_server().maintenance_argv("stop-receive-wal") == ["/usr/bin/barman", "receive-wal", "--stop", "main"]
        assert on_server().maintenance_argv("cron") == ["/usr/bin/barman", "-q", "cron"]
        with pytest.raises(ValueError):
            on_server().maintenance_argv("delete")

    def test_receive_wals_directory_is_read_from_show_server(self):
        from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman_output import streaming_directory
        text = '{"main": {"backup_directory": "/var/lib/barman/main", "streaming_wals_directory": "/var/lib/barman/main/streaming"}}'
        assert streaming_directory(text, "main") == "/var/lib/barman/main/streaming"
