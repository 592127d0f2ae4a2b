# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore decisions: recovery targets, the data directory's state, the restore marker and a free port."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import stat

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import (
    check_backup_label, check_reachable, check_target_action, normalize_target, recovery_time)
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import (
    data_directory_state, free_port, marker_path, read_marker, restore_record, same_restore, starting_backup,
    write_marker)

DEAD_PID = 2 ** 22 + 12345  # above Linux's highest pid_max: no process can have it


class TestNormalizeTarget:
    @pytest.mark.parametrize("target", [None, {}, {"type": "latest"}, {"type": "latest", "value": None},
                                        {"type": "latest", "value": ""}, {"value": None}])
    def test_latest(self, target):
        assert normalize_target(target) == {"type": "latest", "value": None}

    def test_immediate(self):
        assert normalize_target({"type": "immediate"}) == {"type": "immediate", "value": None}

    @pytest.mark.parametrize("value", [
        "2026-11-26 10:15:00+00", "2026-11-26 10:15:00.123456+00", "2026-11-26 10:15:00+01:00",
        "2026-11-26 10:15:00-0530", "2026-11-26 10:15:00Z", "2026-11-26T10:15:00Z", "2026-11-26T10:15:00.5+02:00",
        "2026-11-26 10:15:00,25+00"])
    def test_time_keeps_the_users_text(self, value):
        assert normalize_target({"type": "time", "value": value}) == {"type": "time", "value": value}

    def test_time_is_stripped(self):
        assert normalize_target({"type": "time", "value": " 2026-11-26 10:15:00+00\n"})["value"] == (
            "2026-11-26 10:15:00+00")

    @pytest.mark.parametrize("value", ["soon", "2026-11-26", "26/11/2026 10:15:00+00", "2026-13-01 10:15:00+00",
                                       "2026-02-30 10:15:00+00", "2026-11-26 25:00:00+00",
                                       "2026-11-26 10:15:00.1234567+00", "2026-11-26 10:15:00 UTC",
                                       "2026-11-26 10:15:00+24:00"])
    def test_not_a_time(self, value):
        with pytest.raises(ValueError) as info:
            normalize_target({"type": "time", "value": value})
        assert str(info.value) == "target.value: '%s' is not a time; use 2026-11-26 10:15:00+00" % value

    @pytest.mark.parametrize("value", ["2026-11-26 10:15:00", "2026-11-26T10:15:00.5"])
    def test_time_without_zone_is_refused(self, value):
        with pytest.raises(ValueError) as info:
            normalize_target({"type": "time", "value": value})
        message = str(info.value)
        assert message.startswith("target.value: '%s' names no time zone" % value)
        assert "2026-11-26 10:15:00+00" in message

    @pytest.mark.parametrize("value", ["0/3000060", "A1B/C4000028", "ff/0"])
    def test_lsn(self, value):
        assert normalize_target({"type": "lsn", "value": value}) == {"type": "lsn", "value": value}

    @pytest.mark.parametrize("value", ["3000060", "0/", "0/3000060/1", "G/1", "123456789/0", "0x0/1"])
    def test_not_an_lsn(self, value):
        with pytest.raises(ValueError, match="target.value: .* an LSN looks like 0/3000060"):
            normalize_target({"type": "lsn", "value": value})

    @pytest.mark.parametrize("value, expected", [("1234", "1234"), (1234, "1234"), (" 42 ", "42"), ("007", "7")])
    def test_xid(self, value, expected):
        assert normalize_target({"type": "xid", "value": value}) == {"type": "xid", "value": expected}

    @pytest.mark.parametrize("value", ["12.5", "-3", "abc", "0", True, 1.5])
    def test_not_an_xid(self, value):
        with pytest.raises(ValueError, match="target.value"):
            normalize_target({"type": "xid", "value": value})

    def test_not_an_xid_says_what_an_xid_is(self):
        with pytest.raises(ValueError, match="an xid is a whole number"):
            normalize_target({"type": "xid", "value": "12.5"})

    def test_name(self):
        assert normalize_target({"type": "name", "value": "before upgrade"}) == {
            "type": "name", "value": "before upgrade"}

    def test_name_too_long_for_a_restore_point(self):
        assert normalize_target({"type": "name", "value": "n" * 63})["value"] == "n" * 63
        with pytest.raises(ValueError, match="at most 63 characters"):
            normalize_target({"type": "name", "value": "n" * 64})

    @pytest.mark.parametrize("kind", ["time", "lsn", "xid", "name"])
    @pytest.mark.parametrize("value", [None, "", "  "])
    def test_value_needed(self, kind, value):
        with pytest.raises(ValueError) as info:
            normalize_target({"type": kind, "value": value})
        assert str(info.value) == "target type '%s' needs a value" % kind

    @pytest.mark.parametrize("kind", ["latest", "immediate"])
    def test_no_value_taken(self, kind):
        with pytest.raises(ValueError, match="target type '%s' takes no value" % kind):
            normalize_target({"type": kind, "value": "2026-11-26 10:15:00+00"})

    def test_unknown_type(self):
        with pytest.raises(ValueError) as info:
            normalize_target({"type": "yesterday"})
        assert str(info.value) == "target.type: 'yesterday' is not one of latest, time, lsn, xid, name, immediate"

    def test_unknown_key(self):
        with pytest.raises(ValueError, match="unknown key.*action"):
            normalize_target({"type": "latest", "action": "promote"})

    @pytest.mark.parametrize("target", ["latest", ["time", "x"], 5])
    def test_not_a_dictionary(self, target):
        with pytest.raises(ValueError, match="target: expected a dictionary"):
            normalize_target(target)


class TestRecoveryTime:
    @pytest.mark.parametrize("value, expected", [
        ("2026-11-26 10:15:00+00", "2026-11-26 10:15:00+00"),
        ("2026-11-26T10:15:00Z", "2026-11-26 10:15:00+00"),
        ("2026-11-26t10:15:00z", "2026-11-26 10:15:00+00"),
        ("2026-11-26T10:15:00.250+02:00", "2026-11-26 10:15:00.250+02:00"),
        ("2026-11-26 10:15:00-0530", "2026-11-26 10:15:00-05:30"),
        ("2026-11-26 10:15:00+01", "2026-11-26 10:15:00+01"),
    ])
    def test_the_form_pgbackrest_takes(self, value, expected):
        assert recovery_time(value) == expected

    def test_not_a_time(self):
        with pytest.raises(ValueError, match="is not a time"):
            recovery_time("soon")


class TestChecks:
    @pytest.mark.parametrize("action", ["promote", "pause", "shutdown"])
    def test_target_action(self, action):
        assert check_target_action(action) == action

    @pytest.mark.parametrize("action", ["resume", "", None, "Promote"])
    def test_unknown_target_action(self, action):
        with pytest.raises(ValueError, match="target_action: .* is not one of promote, pause, shutdown"):
            check_target_action(action)

    @pytest.mark.parametrize("label", ["20261126-055056F", "20261126-055056F_20261126-061000D",
                                       "base_000000010000000000000006",
                                       "base_000000010000000000000004_D_000000010000000000000002"])
    def test_backup_label(self, label):
        assert check_backup_label(label) == label

    @pytest.mark.parametrize("label", ["--delta", "-x", "../etc", "a b", "base_1/2", ""])
    def test_not_a_backup_label(self, label):
        with pytest.raises(ValueError, match="backup: .* is not a backup label"):
            check_backup_label(label)


def write_pid(directory, pid):
    with open(os.path.join(str(directory), "postmaster.pid"), "w") as handle:
        handle.write("%s\n/var/lib/postgresql/15/main\n1764140000\n5432\n" % pid)


class TestDataDirectoryState:
    def test_missing(self, tmp_path):
        assert data_directory_state(str(tmp_path / "main")) == "missing"

    def test_empty(self, tmp_path):
        assert data_directory_state(str(tmp_path)) == "empty"

    def test_stopped_without_postmaster_pid(self, tmp_path):
        (tmp_path / "PG_VERSION").write_text(u"15\n")
        assert data_directory_state(str(tmp_path)) == "stopped"

    def test_running(self, tmp_path):
        write_pid(tmp_path, os.getpid())
        assert data_directory_state(str(tmp_path)) == "running"

    def test_stale_pid_file_of_a_dead_postmaster(self, tmp_path):
        write_pid(tmp_path, DEAD_PID)
        assert data_directory_state(str(tmp_path)) == "stopped"

    def test_alive_under_another_user(self, tmp_path, monkeypatch):
        import errno

        def kill(pid, signal):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "kill", kill)
        write_pid(tmp_path, 1)
        assert data_directory_state(str(tmp_path)) == "running"

    @pytest.mark.parametrize("content", ["", "\n", "garbage\n", "0\n", "-1\n"])
    def test_unreadable_pid_is_stopped(self, tmp_path, content, monkeypatch):
        calls = []
        monkeypatch.setattr(os, "kill", lambda pid, signal: calls.append(pid))
        (tmp_path / "postmaster.pid").write_text(u"%s" % content)
        assert data_directory_state(str(tmp_path)) == "stopped"
        assert calls == []  # never os.kill(0, 0) or a negative pid: those signal process groups

    def test_a_file_is_not_a_data_directory(self, tmp_path):
        path = tmp_path / "main"
        path.write_text(u"x")
        with pytest.raises(ValueError, match="not a directory"):
            data_directory_state(str(path))


class TestMarker:
    def test_path_is_next_to_the_data_directory(self):
        assert marker_path("/var/lib/postgresql/15/main") == "/var/lib/postgresql/15/.main.pgops-restore.json"
        assert marker_path("/var/lib/postgresql/15/main/") == "/var/lib/postgresql/15/.main.pgops-restore.json"

    def test_round_trip(self, tmp_path):
        data = str(tmp_path / "main")
        target = {"type": "time", "value": "2026-11-26 10:15:00+00"}
        record = restore_record("pgbackrest", "main", "20261126-055056F", target)
        path = write_marker(data, record)
        assert path == str(tmp_path / ".main.pgops-restore.json")
        assert read_marker(data) == record
        assert not os.path.exists(data)  # the data directory itself is not touched
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert os.listdir(str(tmp_path)) == [".main.pgops-restore.json"]  # no temporary file left

    def test_overwrites(self, tmp_path):
        data = str(tmp_path / "main")
        write_marker(data, restore_record("walg", "main", None, None))
        write_marker(data, restore_record("walg", "main", "base_000000010000000000000007", None))
        assert read_marker(data)["backup"] == "base_000000010000000000000007"

    def test_mode_0600_despite_a_lax_umask(self, tmp_path):
        old = os.umask(0)
        try:
            path = write_marker(str(tmp_path / "main"), {"tool": "walg"})
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    def test_a_failed_write_keeps_the_old_marker_and_leaves_no_temporary_file(self, tmp_path, monkeypatch):
        data = str(tmp_path / "main")
        write_marker(data, {"tool": "walg"})

        def disk_full(fd):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError):
            write_marker(data, {"tool": "pgbackrest"})
        assert read_marker(data) == {"tool": "walg"}
        assert sorted(os.listdir(str(tmp_path))) == [os.path.basename(marker_path(data))]

    def test_missing(self, tmp_path):
        assert read_marker(str(tmp_path / "main")) is None

    @pytest.mark.parametrize("content", ["", "{", "[1, 2]", "null", "\"text\""])
    def test_invalid(self, tmp_path, content):
        with open(marker_path(str(tmp_path / "main")), "w") as handle:
            handle.write(content)
        assert read_marker(str(tmp_path / "main")) is None


class TestSameRestore:
    def record(self, tool="pgbackrest", stanza="main", label="20261126-055056F", target=None):
        return restore_record(tool, stanza, label, target)

    def test_record(self):
        assert self.record(target={"type": "xid", "value": 1234}) == {
            "version": 1, "tool": "pgbackrest", "stanza": "main", "backup": "20261126-055056F",
            "target": {"type": "xid", "value": "1234"}}

    def test_record_refuses_a_bad_target(self):
        with pytest.raises(ValueError, match="needs a value"):
            self.record(target={"type": "time"})

    def test_same(self):
        target = {"type": "lsn", "value": "0/3000060"}
        assert same_restore(self.record(target=target), self.record(target=target))

    def test_extra_fields_in_the_marker_do_not_count(self):
        marker = dict(self.record(), restored_at="2026-11-26T10:20:00Z", version=0)
        assert same_restore(marker, self.record())

    def test_none_and_latest_are_the_same(self):
        assert same_restore(self.record(target=None), self.record(target={"type": "latest"}))

    def test_same_instant_written_two_ways(self):
        assert same_restore(self.record(target={"type": "time", "value": "2026-11-26T10:15:00Z"}),
                            self.record(target={"type": "time", "value": "2026-11-26 11:15:00+01:00"}))

    def test_marker_read_back_from_json(self, tmp_path):
        record = self.record(target={"type": "name", "value": "before upgrade"})
        marker = json.loads(json.dumps(record))
        assert same_restore(marker, record)

    @pytest.mark.parametrize("change", [
        {"tool": "walg"}, {"stanza": "reports"}, {"label": "20261126-055059F"}, {"label": None},
        {"target": {"type": "immediate"}}, {"target": {"type": "time", "value": "2026-11-26 10:15:01+00"}},
        {"target": {"type": "name", "value": "2026-11-26 10:15:00+00"}}])
    def test_different(self, change):
        base = self.record(target={"type": "time", "value": "2026-11-26 10:15:00+00"})
        settings = dict(target={"type": "time", "value": "2026-11-26 10:15:00+00"})
        settings.update(change)
        assert not same_restore(base, self.record(**settings))

    @pytest.mark.parametrize("marker", [None, {}, [], "x", {"tool": "pgbackrest", "target": "garbage"}])
    def test_no_usable_marker(self, marker):
        assert not same_restore(marker, self.record())


def socket_dir_with(tmp_path, port):
    directory = tmp_path / "sockets"
    directory.mkdir(exist_ok=True)
    (directory / (".s.PGSQL.%d" % port)).write_text(u"")
    return str(directory)


def unused_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class TestFreePort:
    def test_first_free_port(self, tmp_path):
        port = unused_port()
        assert free_port(port, port, socket_dir=str(tmp_path)) == port

    def test_socket_file_means_taken(self, tmp_path):
        port = unused_port()
        with pytest.raises(ValueError, match="no free port from %d to %d" % (port, port)):
            free_port(port, port, socket_dir=socket_dir_with(tmp_path, port))

    def test_socket_file_in_an_extra_directory(self, tmp_path):
        port = unused_port()
        with pytest.raises(ValueError):
            free_port(port, port, socket_dir=str(tmp_path / "none"),
                      extra_socket_dirs=[socket_dir_with(tmp_path, port)])

    def test_skips_the_port_with_a_socket_file(self, tmp_path):
        port = unused_port()
        found = free_port(port, port + 50, socket_dir=socket_dir_with(tmp_path, port))
        assert port < found <= port + 50

    def test_bound_port_means_taken(self, tmp_path):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        try:
            with pytest.raises(ValueError):
                free_port(port, port, socket_dir=str(tmp_path))
            found = free_port(port, port + 50, socket_dir=str(tmp_path))
            assert port < found <= port + 50
        finally:
            sock.close()

    def test_the_port_found_is_released(self, tmp_path):
        port = free_port(unused_port(), 65535, socket_dir=str(tmp_path))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        finally:
            sock.close()


class TestCheckReachable:
    NOW = 1795676400.0  # 2026-11-26 07:00:00 UTC

    def test_time_in_the_past_is_reachable(self):
        target = {"type": "time", "value": "2026-11-26 06:59:59+00"}
        assert check_reachable(target, now=self.NOW) is target

    def test_time_after_now_is_after_the_end_of_the_archive(self):
        with pytest.raises(ValueError, match="is after the end of the archive .*now, 2026-11-26 07:00:00 UTC"):
            check_reachable({"type": "time", "value": "2026-11-26 08:00:01+01"}, now=self.NOW)

    @pytest.mark.parametrize("target", [{"type": "latest", "value": None}, {"type": "xid", "value": "9999999"},
                                        {"type": "immediate", "value": None}])
    def test_other_targets_are_left_to_the_tools(self, target):
        assert check_reachable(target, now=self.NOW) is target


class TestStartingBackup:
    INVENTORY = {"repositories": [
        {"index": 1, "status": "missing stanza path", "backups": []},
        {"index": 2, "status": "ok", "backups": [
            {"label": "20261201-010000F", "start": 10, "stop": 20, "error": False, "repository": 2}]}]}
    LATEST = {"type": "latest", "value": None}

    def test_the_repository_given_or_any(self):
        assert starting_backup(None, None, self.LATEST, 2, self.INVENTORY) == "20261201-010000F"
        assert starting_backup(None, None, self.LATEST, None, self.INVENTORY) == "20261201-010000F"

    def test_an_unreadable_repository_says_why_it_has_no_backup(self):
        with pytest.raises(ToolError) as info:
            starting_backup(None, None, self.LATEST, 1, self.INVENTORY)
        assert str(info.value) == "no successful backup to restore in repository 1: it reports missing stanza path"

    def test_a_target_before_every_backup(self):
        with pytest.raises(ToolError) as info:
            starting_backup(None, None, {"type": "time", "value": "1970-01-01 00:00:05+00"}, 2, self.INVENTORY)
        assert str(info.value) == ("no successful backup before the target in repository 2: the target is before the "
                                   "oldest backup, or there is none")
