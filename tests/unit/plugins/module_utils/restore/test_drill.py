# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.restore import drill


def settings(**overrides):
    values = dict(tool="pgbackrest", stanza="main", schedule="30 4 1 * *")
    values.update(overrides)
    return values


class FakeHost(object):
    def __init__(self, rc=0):
        self.no_log_values = set()
        self.commands, self.out, self.err = [], [], []
        self.rc = rc

    def run_command(self, argv, environ_update=None, data=None, timeout=None):
        self.commands.append({"argv": argv, "environ": environ_update, "data": data})
        return self.rc, "", ""

    def print_out(self, line):
        self.out.append(line)

    def print_error(self, line):
        self.err.append(line)


def config_for(tmp_path, **overrides):
    config = drill.normalize_drill(**settings(scratch_directory=str(tmp_path / "scratch"),
                                              result_dir=str(tmp_path / "results")))
    os.makedirs(config["result_dir"])
    config.update(overrides)
    return config


class TestNormalizeDrill(object):
    def test_defaults(self):
        config = drill.normalize_drill(**settings(scratch_directory="/var/tmp/drill"))
        assert config["target"] == "latest" and config["keep"] == 12 and config["timeout"] == 3600
        assert config["cron"] == {"minute": "30", "hour": "4", "day": "1", "month": "*", "weekday": "*"}
        assert config["result_dir"] == "/var/lib/pgops-backup/drills"

    def test_empty_schedule_means_not_scheduled(self):
        assert drill.normalize_drill(**settings(schedule="", scratch_directory="/var/tmp/d"))["cron"] is None

    @pytest.mark.parametrize("overrides, variable", [
        ({"schedule": "every month"}, "pg_backup_drill_schedule"),
        ({"target": "time"}, "pg_backup_drill_target"),
        ({"keep": 0}, "pg_backup_drill_keep"),
        ({"keep": "many"}, "pg_backup_drill_keep"),
        ({"repository": 0}, "pg_backup_drill_repository"),
        ({"repository": True}, "pg_backup_drill_repository"),
        ({"timeout": "soon"}, "pg_backup_drill_timeout"),
        ({"alert_command": ["curl"]}, "pg_backup_drill_alert_command"),
        ({"row_counts": [{"database": "shop"}]}, "pg_backup_drill_row_counts[0]"),
        ({"row_counts": [{"database": "shop", "table": "orders; DROP TABLE x"}]}, "pg_backup_drill_row_counts[0]"),
        ({"row_counts": [{"database": "shop", "table": "orders", "min": "some"}]}, "pg_backup_drill_row_counts[0]"),
        ({"sql": [{"database": "shop", "query": "SELECT 1"}]}, "pg_backup_drill_sql[0]"),
        ({"scratch_directory": "tmp/drill"}, "pg_backup_drill_scratch_directory"),
        ({"result_dir": "/"}, "pg_backup_drill_result_dir"),
    ])
    def test_bad_settings_name_the_variable(self, overrides, variable):
        values = settings(scratch_directory="/var/tmp/drill")
        values.update(overrides)
        with pytest.raises(PolicyError) as error:
            drill.normalize_drill(**values)
        assert error.value.variable == variable
        assert str(error.value).startswith(variable + ": ")

    def test_unknown_tool_is_refused(self):
        with pytest.raises(PolicyError):
            drill.normalize_drill(**settings(tool="bacula", scratch_directory="/var/tmp/drill"))

    def test_barmans_backups_are_drilled_on_schedule_like_the_other_tools(self):
        config = drill.normalize_drill(**settings(tool="barman", scratch_directory="/var/tmp/drill"))
        assert config["tool"] == "barman" and config["cron"]

    @pytest.mark.parametrize("overrides, variable, found", [
        ({"schedule": "30 4 1 * *\n* * * * * root id"}, "pg_backup_drill_schedule", "a newline at character 11"),
        ({"alert_command": "mail -s drill ops\x00"}, "pg_backup_drill_alert_command", "a NUL byte at character 18"),
        ({"alert_command": "mail ops\r\n"}, "pg_backup_drill_alert_command", "a carriage return at character 9"),
        ({"row_counts": [{"database": "shop\n", "table": "orders", "min": 1}]},
         "pg_backup_drill_row_counts[0].database", "a newline at character 5"),
        ({"row_counts": [{"database": "shop", "table": "orders\n", "min": 1}]},
         "pg_backup_drill_row_counts[0].table", "a newline at character 7"),
        ({"sql": [{"database": "shop\t", "query": "SELECT 1", "expected": "1"}]},
         "pg_backup_drill_sql[0].database", "a tab at character 5"),
        ({"sql": [{"database": "shop", "name": "one\nrow", "query": "SELECT 1", "expected": "1"}]},
         "pg_backup_drill_sql[0].name", "a newline at character 4"),
        ({"sql": [{"database": "shop", "query": "SELECT 1\x00", "expected": "1"}]},
         "pg_backup_drill_sql[0].query", "a NUL byte at character 9"),
        ({"scratch_directory": "/var/tmp/drill\n"}, "pg_backup_drill_scratch_directory", "a newline at character 15"),
        ({"result_dir": "/var/lib/drills\x1b"}, "pg_backup_drill_result_dir", "control character 0x1b"),
    ])
    def test_a_control_character_is_refused_naming_the_variable(self, overrides, variable, found):
        values = settings(scratch_directory="/var/tmp/drill")
        values.update(overrides)
        with pytest.raises(PolicyError) as error:
            drill.normalize_drill(**values)
        assert error.value.variable == variable
        assert str(error.value).startswith("%s: holds %s" % (variable, found)), str(error.value)

    # the policy's repositories, as the role hands them over: with their secrets, which the configuration drops
    POLICY_REPOSITORIES = [{"index": 1, "name": "local", "type": "posix", "path": "/var/lib/pgbackrest"},
                           {"index": 2, "name": "offsite", "type": "s3", "access_key": "AKIA", "secret_key": "s3cr3t"}]

    @pytest.mark.parametrize("repository, chosen", [(None, None), (2, 2), ("2", 2), ("offsite", 2), ("all", "all")])
    def test_repository_by_index_or_name_or_all(self, repository, chosen):
        config = drill.normalize_drill(**settings(scratch_directory="/var/tmp/drill", repository=repository,
                                                  repositories=self.POLICY_REPOSITORIES))
        assert config["repository"] == chosen
        assert config["repositories"] == [{"index": 1, "name": "local"}, {"index": 2, "name": "offsite"}]

    @pytest.mark.parametrize("repository", [3, "remote", "every", True])
    def test_a_repository_the_policy_lacks_is_refused_naming_the_variable(self, repository):
        with pytest.raises(PolicyError) as error:
            drill.normalize_drill(**settings(scratch_directory="/var/tmp/drill", repository=repository,
                                             repositories=self.POLICY_REPOSITORIES))
        assert str(error.value) == ("pg_backup_drill_repository: %r is not a repository of the policy: give the index "
                                    "or the name of one of 1 (local), 2 (offsite), or all (each in turn)" % (repository,))

    def test_all_needs_the_policy_s_repositories(self):
        with pytest.raises(PolicyError, match="pg_backup_drill_repository: expected a repository index"):
            drill.normalize_drill(**settings(scratch_directory="/var/tmp/drill", repository="all"))

    def test_an_alert_command_and_a_query_may_span_lines(self):
        command = 'printf "%s\\n" "$PGOPS_ALERT_SUMMARY" \\\n\t| mail -s drill ops'
        query = "SELECT count(*) > 0\n  FROM orders"
        config = drill.normalize_drill(**settings(
            scratch_directory="/var/tmp/drill", alert_command=command,
            sql=[{"database": "shop", "query": query, "expected": "True"}]))
        assert config["alert_command"] == command and config["sql"][0]["query"] == query


class TestRunDrill(object):
    def test_passing_drill(self, tmp_path, monkeypatch):
        seen = {}

        def fake_restore_and_check(tool, run, scratch, target, options, clock):
            seen.update(tool=tool.name, target=target, backup=options["backup"], scratch=scratch.directory)
            return {"passed": True, "backup": "20261126-010203F", "rto_seconds": 12.5,
                    "checks": [{"name": "amcheck shop", "passed": True}], "recovered": {"timeline_id": 2},
                    "recovery": {"replay_end_lsn": "0/9000110", "replay_end_time": "2026-11-26T01:00:00.000000Z",
                                 "archive_end_segment": "000000010000000000000009", "rpo_seconds": 4.5,
                                 "promoted": True, "timeline": 2}}

        monkeypatch.setattr(drill, "restore_and_check", fake_restore_and_check)
        monkeypatch.setattr(drill, "free_port", lambda **kwargs: 5499)
        times = iter([1764144000.0, 1764144012.5])
        result = drill.run_drill(config_for(tmp_path), FakeHost(), clock=lambda: next(times), hostname="backup1")
        assert seen == {"tool": "pgbackrest", "target": {"type": "latest", "value": None}, "backup": None,
                        "scratch": str(tmp_path / "scratch")}
        assert result == {
            "version": 1, "passed": True, "started": "2025-11-26T08:00:00Z", "finished": "2025-11-26T08:00:12Z",
            "host": "backup1", "tool": "pgbackrest", "stanza": "main", "backup_label": "20261126-010203F",
            "target": "latest", "rto_seconds": 12.5, "checks": [{"name": "amcheck shop", "passed": True}],
            "error": None, "recovered": {"timeline_id": 2}, "replay_end_lsn": "0/9000110",
            "replay_end_time": "2026-11-26T01:00:00.000000Z", "archive_end_segment": "000000010000000000000009",
            "rpo_seconds": 4.5, "repository": None}

    def drilled_from(self, monkeypatch, outcomes):
        """restore_and_check faked: each repository's outcome (a dict, or an exception raised); returns the
        repositories it was asked to restore from, in order."""
        asked = []

        def fake_restore_and_check(tool, run, scratch, target, options, clock):
            asked.append(options["repository"])
            outcome = outcomes[options["repository"]]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        monkeypatch.setattr(drill, "restore_and_check", fake_restore_and_check)
        monkeypatch.setattr(drill, "free_port", lambda **kwargs: 5499)
        return asked

    REPOSITORIES = [{"index": 1, "name": "local"}, {"index": 2, "name": "offsite"}]

    @staticmethod
    def passed(label, rto):
        return {"passed": True, "backup": label, "rto_seconds": rto, "checks": [{"name": "amcheck shop", "passed": True}],
                "recovered": {"timeline_id": 2}, "recovery": {"replay_end_lsn": "0/9000110", "replay_end_time": None,
                                                              "archive_end_segment": "000000010000000000000009"}}

    def test_the_repository_given_is_the_one_restored_from(self, tmp_path, monkeypatch):
        asked = self.drilled_from(monkeypatch, {2: self.passed("20261126-020000F", 30.0)})
        result = drill.run_drill(config_for(tmp_path, repository=2, repositories=self.REPOSITORIES), FakeHost(),
                                 hostname="backup1")
        assert asked == [2] and result["repository"] == 2 and result["passed"] is True
        assert result["backup_label"] == "20261126-020000F" and "repositories" not in result
        assert drill.summary(result).startswith(
            "restore drill passed on backup1: pgbackrest stanza main, backup 20261126-020000F from repository 2 to "
            "latest, replayed to 0/9000110")

    def test_all_drills_every_repository_in_turn_and_records_each(self, tmp_path, monkeypatch):
        asked = self.drilled_from(monkeypatch, {1: self.passed("20261126-010000F", 12.5),
                                                2: self.passed("20261126-020000F", 30.0)})
        result = drill.run_drill(config_for(tmp_path, repository="all", repositories=self.REPOSITORIES), FakeHost(),
                                 hostname="backup1")
        assert asked == [1, 2] and result["passed"] is True and result["error"] is None
        assert result["repository"] == "all"
        assert [(r["repository"], r["name"], r["passed"], r["backup_label"], r["rto_seconds"])
                for r in result["repositories"]] == [(1, "local", True, "20261126-010000F", 12.5),
                                                     (2, "offsite", True, "20261126-020000F", 30.0)]
        # the other fields are the last repository's (normally the offsite copy)
        assert result["backup_label"] == "20261126-020000F" and result["rto_seconds"] == 30.0
        line = drill.summary(result)
        assert line.startswith("restore drill passed on backup1: pgbackrest stanza main to latest from every "
                               "repository: repository 1 (local): backup 20261126-010000F, replayed to 0/9000110")
        assert "; repository 2 (offsite): backup 20261126-020000F, replayed to 0/9000110" in line

    def test_one_failing_repository_fails_the_drill_naming_it_and_the_others_are_still_drilled(self, tmp_path,
                                                                                               monkeypatch):
        asked = self.drilled_from(monkeypatch, {
            1: {"passed": False, "backup": None, "msg": "no successful backup to restore in repository 1"},
            2: self.passed("20261126-020000F", 30.0)})
        result = drill.run_drill(config_for(tmp_path, repository="all", repositories=self.REPOSITORIES), FakeHost(),
                                 hostname="backup1")
        assert asked == [1, 2] and result["passed"] is False
        assert result["error"] == "repository 1 (local), backup none: no successful backup to restore in repository 1"
        assert [r["passed"] for r in result["repositories"]] == [False, True]
        # the other fields are the failed repository's
        assert result["backup_label"] is None and result["checks"] == []
        assert drill.summary(result) == (
            "restore drill FAILED on backup1: pgbackrest stanza main, every repository to latest: repository 1 "
            "(local), backup none: no successful backup to restore in repository 1")

    def test_failed_checks_of_a_repository_are_its_error(self, tmp_path, monkeypatch):
        failing = dict(self.passed("20261126-020000F", 30.0), passed=False, msg=None,
                       checks=[{"name": "rows shop.orders", "passed": False, "detail": "3 rows"}])
        self.drilled_from(monkeypatch, {1: self.passed("20261126-010000F", 12.5), 2: failing,
                                        3: RuntimeError("repository 3 unreachable")})
        repositories = self.REPOSITORIES + [{"index": 3, "name": "dr"}]
        result = drill.run_drill(config_for(tmp_path, repository="all", repositories=repositories), FakeHost(),
                                 hostname="h")
        assert result["error"] == ("repository 2 (offsite), backup 20261126-020000F: rows shop.orders (3 rows); "
                                   "repository 3 (dr), backup none: repository 3 unreachable")
        assert result["backup_label"] == "20261126-020000F"

    def test_all_without_repositories_fails_and_restores_nothing(self, tmp_path, monkeypatch):
        asked = self.drilled_from(monkeypatch, {})
        result = drill.run_drill(config_for(tmp_path, repository="all", repositories=[]), FakeHost(), hostname="h")
        assert asked == [] and result["passed"] is False and result["repositories"] == []
        assert result["error"] == "no repository to drill: the configuration lists none"

    def test_failing_check_is_the_error(self, tmp_path, monkeypatch):
        monkeypatch.setattr(drill, "restore_and_check", lambda *a, **k: {
            "passed": False, "backup": "b1", "msg": "checks failed: rows shop.orders", "rto_seconds": 3.0,
            "checks": [{"name": "rows shop.orders", "passed": False, "detail": "3 rows (equals 20000, min None)"}]})
        monkeypatch.setattr(drill, "free_port", lambda **kwargs: 5499)
        result = drill.run_drill(config_for(tmp_path), FakeHost(), hostname="h")
        assert result["passed"] is False and result["error"] == "checks failed: rows shop.orders"

    def test_foreign_scratch_directory_fails_without_touching_it(self, tmp_path, monkeypatch):
        monkeypatch.setattr(drill, "free_port", lambda **kwargs: 5499)
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        (scratch / "precious").write_text(u"keep me")
        result = drill.run_drill(config_for(tmp_path), FakeHost(), hostname="h")
        assert result["passed"] is False and "was not made by pg_restore_check" in result["error"]
        assert (scratch / "precious").read_text() == u"keep me"

    def test_unexpected_exception_is_recorded(self, tmp_path, monkeypatch):
        def broken(**kwargs):
            raise OSError("no free port")

        monkeypatch.setattr(drill, "free_port", broken)
        result = drill.run_drill(config_for(tmp_path), FakeHost(), hostname="h")
        assert result["passed"] is False and result["error"] == "no free port" and result["finished"]


def result_at(started, passed=True):
    return {"version": 1, "passed": passed, "started": started, "finished": started, "host": "h",
            "tool": "pgbackrest", "stanza": "main", "backup_label": "b", "target": "latest", "rto_seconds": 1.0,
            "checks": [], "error": None if passed else "boom"}


class TestWriteResult(object):
    def test_latest_and_history_are_written_and_pruned(self, tmp_path):
        for day in range(1, 5):
            drill.write_result(str(tmp_path), result_at("2026-11-0%dT04:30:00Z" % day), keep=2)
        assert sorted(os.listdir(str(tmp_path))) == ["drill-20261103T043000Z.json", "drill-20261104T043000Z.json",
                                                     "latest.json"]
        assert json.loads((tmp_path / "latest.json").read_text())["started"] == "2026-11-04T04:30:00Z"
        assert oct(os.stat(str(tmp_path / "latest.json")).st_mode & 0o777) == "0o644"

    def test_other_files_are_left_alone(self, tmp_path):
        (tmp_path / "notes.txt").write_text(u"mine")
        drill.write_result(str(tmp_path), result_at("2026-11-01T04:30:00Z"), keep=1)
        drill.write_result(str(tmp_path), result_at("2026-11-02T04:30:00Z"), keep=1)
        assert sorted(os.listdir(str(tmp_path))) == ["drill-20261102T043000Z.json", "latest.json", "notes.txt"]


class TestSummaryAndAlert(object):
    def test_failure_summary_names_host_backup_and_reason(self):
        line = drill.summary(result_at("2026-11-01T04:30:00Z", passed=False))
        assert line == "restore drill FAILED on h: pgbackrest stanza main, backup b to latest: boom"

    def test_failed_checks_are_the_reason_when_there_is_no_error(self):
        result = result_at("2026-11-01T04:30:00Z", passed=False)
        result.update(error=None, checks=[{"name": "amcheck shop", "passed": False, "detail": "index x corrupt"}])
        assert drill.summary(result).endswith("backup b to latest: amcheck shop (index x corrupt)")

    def test_alert_gets_the_message_on_stdin_and_in_the_environment_never_in_argv(self):
        host = FakeHost()
        rc = drill.alert({"alert_command_file": "/etc/pgops-backup/drill-main-alert"},
                         result_at("2026-11-01T04:30:00Z", passed=False), host)
        assert rc is None  # delivered
        command = host.commands[0]
        assert command["argv"] == ["/etc/pgops-backup/drill-main-alert"]
        assert command["data"] == ("FAILING restore_drill main on h (main) since 2026-11-01 04:30:00Z: pgbackrest stanza "
                                   "main, backup b to latest: boom\n")
        assert command["environ"]["PGOPS_ALERT_STATE"] == "failing"
        assert command["environ"]["PGOPS_ALERT_CHECK"] == "restore_drill"
        # the one alert contract: the monitor's variables too
        assert command["environ"]["PGOPS_ALERT_EVENT"] == "failing"
        assert command["environ"]["PGOPS_ALERT_SUBJECT"] == "main" and command["environ"]["PGOPS_ALERT_HOST"] == "h"
        assert command["environ"]["PGOPS_ALERT_MESSAGE"] + "\n" == command["data"]
        assert command["environ"]["PGOPS_ALERT_SINCE"] == "2026-11-01T04:30:00Z"

    def test_a_failing_alert_command_is_reported_with_its_exit_status(self):
        host = FakeHost(rc=3)
        failure = drill.alert({"alert_command_file": "/etc/pgops-backup/drill-main-alert"},
                              result_at("2026-11-01T04:30:00Z", passed=False), host)
        assert failure == "alert command failed (exit 3): no output"

    def test_no_alert_command_runs_nothing(self):
        host = FakeHost()
        assert drill.alert({"alert_command_file": None}, result_at("2026-11-01T04:30:00Z"), host) is None
        assert host.commands == []


class TestMain(object):
    def write_config(self, tmp_path, **overrides):
        config = config_for(tmp_path, **overrides)
        config.pop("cron")
        path = tmp_path / "drill.json"
        path.write_text(json.dumps(config))
        return str(path)

    def test_usage(self):
        host = FakeHost()
        assert drill.main([], host) == 2 and "usage" in host.err[0]

    def test_unreadable_config(self, tmp_path):
        host = FakeHost()
        assert drill.main(["--config", str(tmp_path / "missing.json")], host) == 2
        assert "cannot read" in host.err[0]

    def test_failure_exits_1_records_and_alerts(self, tmp_path, monkeypatch):
        monkeypatch.setattr(drill, "run_drill", lambda config, host, clock: result_at("2026-11-01T04:30:00Z", False))
        host = FakeHost()
        path = self.write_config(tmp_path, alert_command_file="/bin/alert")
        assert drill.main(["--config", path], host) == 1
        assert host.err[0].startswith("restore drill FAILED on h")
        assert host.commands[0]["argv"] == ["/bin/alert"]
        assert json.loads((tmp_path / "results" / "latest.json").read_text())["passed"] is False

    def test_success_exits_0_without_alert(self, tmp_path, monkeypatch):
        monkeypatch.setattr(drill, "run_drill", lambda config, host, clock: result_at("2026-11-01T04:30:00Z"))
        host = FakeHost()
        path = self.write_config(tmp_path, alert_command_file="/bin/alert")
        assert drill.main(["--config", path], host) == 0
        assert host.out[0].startswith("restore drill passed on h") and host.commands == []

    def test_unwritable_results_fail_the_drill(self, tmp_path, monkeypatch):
        monkeypatch.setattr(drill, "run_drill", lambda config, host, clock: result_at("2026-11-01T04:30:00Z"))
        host = FakeHost()
        path = self.write_config(tmp_path, result_dir=str(tmp_path / "nowhere"))
        assert drill.main(["--config", path], host) == 1
        assert "could not be written" in host.err[0]
