# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The procedure pg_restore_check and the restore drill share, with the tool and the cluster faked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.restore import scratch as restore_scratch
from ansible_collections.pgops.backup.plugins.module_utils.restore.recovery import RecoveryFailed


class FakeTool(object):
    name = "fake"

    def __init__(self, fail_restore=False, offsite=False, verifies=False):
        self.fail_restore = fail_restore
        self.offsite = offsite
        self.verifies = verifies
        self.plans = []

    def verify_argv(self, label):
        return ["verify", label] if self.verifies else None

    def inventory(self, run):
        repositories = [{"index": 1, "archive": {"min": "000000010000000000000001",
                                                 "max": "000000010000000000000009"}, "backups": [
            {"label": "F1", "type": "full", "start": 10, "stop": 20, "error": False, "repository": 1,
             "lsn_start": "0/1000000", "lsn_stop": "0/2000000"}]}]
        if self.offsite:  # a second repository, its archive behind the first's
            repositories.append({"index": 2, "archive": {"min": "000000010000000000000001",
                                                         "max": "000000010000000000000007"}, "backups": [
                {"label": "F2", "type": "full", "start": 5, "stop": 15, "error": False, "repository": 2,
                 "lsn_start": "0/1000000", "lsn_stop": "0/2000000"}]})
        return {"repositories": repositories}

    def restore_plan(self, data_directory, **kwargs):
        self.plans.append(dict(kwargs, data_directory=data_directory))
        return {"argv": ["restore"], "auto_conf": {}, "recovery_signal": False}


class FakeScratch(object):
    def __init__(self, databases=("shop",), start_error=None):
        self.data = "/scratch/data"
        self.calls = []
        self._databases = list(databases)
        self.start_error = start_error

    def prepare_directory(self):
        self.calls.append("prepare")

    def configure(self):
        self.calls.append("configure")

    def start(self, timeout):
        self.calls.append("start")
        if self.start_error:
            raise RuntimeError(self.start_error)

    def session(self, action):
        raise AssertionError("prove_and_promote is faked in these tests")

    def running(self):
        return True

    def read_log(self):
        return ""

    def facts(self):
        return {"timeline_id": 2}

    def databases(self):
        return self._databases

    def stop(self):
        self.calls.append("stop")

    def remove(self):
        self.calls.append("remove")


def run_ok(argv):
    return ""


@pytest.fixture(autouse=True)
def proven(monkeypatch):
    """prove_and_promote (tested in test_recovery.py) faked: replay reached the end of the archive."""
    calls = []

    def fake(session, alive, stop, read_log, target, end, timeout, stall=60, clock=None, sleep=None):
        calls.append({"target": target, "end": end, "stall": stall})
        return {"replay_end_lsn": "0/9000110", "replay_end_time": "2026-11-26T10:00:00.000000Z",
                "replay_end_epoch": 95.0, "archive_end_segment": end, "promoted": True, "timeline": 2}

    monkeypatch.setattr(restore_scratch, "prove_and_promote", fake)
    return calls


def test_restores_the_newest_backup_and_runs_every_check(monkeypatch, proven):
    monkeypatch.setattr(restore_scratch, "amcheck", lambda cluster, db: {"name": "amcheck " + db, "passed": True})
    monkeypatch.setattr(restore_scratch, "row_count", lambda cluster, check: {"name": "rows", "passed": True})
    tool, scratch = FakeTool(), FakeScratch()
    # started, archive end read, usable (RTO), checked
    times = iter([100.0, 101.0, 112.25, 115.5])
    result = restore_scratch.restore_and_check(tool, run_ok, scratch, {"type": "latest", "value": None},
                                               {"row_counts": [{"database": "shop", "table": "orders", "min": 1}]},
                                               clock=lambda: next(times))
    assert result["passed"] is True and result["backup"] == "F1" and result["rto_seconds"] == 12.25
    assert result["checked_seconds"] == 15.5
    assert [c["name"] for c in result["checks"]] == ["amcheck shop", "rows"]
    assert tool.plans[0]["backup"] == "F1" and tool.plans[0]["primary"] is False
    assert scratch.calls == ["prepare", "configure", "start", "stop", "remove"]
    # paused at a target or waiting at the end of the archive, never promoted by PostgreSQL itself
    assert tool.plans[0]["target_action"] == "pause"
    assert proven == [{"target": {"type": "latest", "value": None}, "end": "000000010000000000000009", "stall": 60}]
    assert result["recovery"] == {"replay_end_lsn": "0/9000110", "replay_end_time": "2026-11-26T10:00:00.000000Z",
                                  "archive_end_segment": "000000010000000000000009", "rpo_seconds": 6.0,
                                  "promoted": True, "timeline": 2}


def test_a_repository_given_is_the_one_restored_from_and_its_archive_the_end_replay_must_reach(monkeypatch, proven):
    monkeypatch.setattr(restore_scratch, "amcheck", lambda cluster, db: {"name": "amcheck " + db, "passed": True})
    tool = FakeTool(offsite=True)
    result = restore_scratch.restore_and_check(tool, run_ok, FakeScratch(), {"type": "latest", "value": None},
                                               {"repository": 2}, clock=lambda: 100.0)
    assert result["passed"] is True and result["backup"] == "F2"
    assert tool.plans[0]["repository"] == 2 and tool.plans[0]["backup"] == "F2"
    assert proven[0]["end"] == "000000010000000000000007"


def test_recovery_that_stops_short_fails_with_what_was_measured(monkeypatch):
    def short(*args, **kwargs):
        raise RecoveryFailed("replay has not moved for 60 s; segment 000000010000000000000005 is missing",
                             {"replay_end_lsn": "0/4FFFF00", "replay_end_epoch": 90.0,
                              "archive_end_segment": "000000010000000000000009"})

    monkeypatch.setattr(restore_scratch, "prove_and_promote", short)
    scratch = FakeScratch()
    result = restore_scratch.restore_and_check(FakeTool(), run_ok, scratch, {"type": "latest", "value": None}, {})
    assert result["passed"] is False and "000000010000000000000005 is missing" in result["msg"]
    assert result["recovery"] == {"replay_end_lsn": "0/4FFFF00", "archive_end_segment": "000000010000000000000009"}
    assert "checks" not in result and "rto_seconds" not in result
    assert scratch.calls[-2:] == ["stop", "remove"]


def test_a_check_that_cannot_run_fails_alone(monkeypatch):
    def missing_table(cluster, check):
        raise Exception('relation "orders" does not exist\nLINE 1: SELECT')

    monkeypatch.setattr(restore_scratch, "amcheck", lambda cluster, db: {"name": "amcheck " + db, "passed": True})
    monkeypatch.setattr(restore_scratch, "row_count", missing_table)
    result = restore_scratch.restore_and_check(FakeTool(), run_ok, FakeScratch(), {"type": "latest", "value": None},
                                               {"row_counts": [{"database": "shop", "table": "orders"}]})
    assert result["passed"] is False and result["msg"] == "checks failed: rows shop.orders"
    assert result["checks"][1] == {"name": "rows shop.orders", "passed": False,
                                   "detail": 'relation "orders" does not exist LINE 1: SELECT'}


def test_a_failed_restore_is_reported_and_the_scratch_cluster_removed():
    def failing_run(argv):
        raise ToolError("pgbackrest failed (exit 82): ERROR: [082]: checksum mismatch")

    scratch = FakeScratch()
    result = restore_scratch.restore_and_check(FakeTool(), failing_run, scratch, {"type": "latest", "value": None},
                                               {"backup": "F1"})
    assert result["passed"] is False and "checksum mismatch" in result["msg"] and "checks" not in result
    assert scratch.calls[-2:] == ["stop", "remove"]


def test_a_tool_that_verifies_its_backups_does_so_first_and_the_result_is_the_first_check(monkeypatch):
    monkeypatch.setattr(restore_scratch, "amcheck", lambda cluster, db: {"name": "amcheck " + db, "passed": True})
    ran = []

    def run(argv):
        ran.append(argv)
        return "Verifying backup 'F1' on server main\nCalling pg_verifybackup\nbackup successfully verified\n"

    tool = FakeTool(verifies=True)
    result = restore_scratch.restore_and_check(tool, run, FakeScratch(), {"type": "latest", "value": None}, {})
    assert result["passed"] is True and ran[0] == ["verify", "F1"]
    assert result["checks"][0] == {"name": "fake verify-backup", "passed": True,
                                   "detail": "backup successfully verified"}


def test_a_backup_that_fails_its_tools_verification_is_never_restored():
    def run(argv):
        if argv[0] == "verify":
            raise ToolError('barman failed (exit 1): ERROR: pg_verifybackup: error: checksum mismatch for file '
                            '"base/5/16390"')
        return ""

    tool, scratch = FakeTool(verifies=True), FakeScratch()
    result = restore_scratch.restore_and_check(tool, run, scratch, {"type": "latest", "value": None}, {})
    assert result["passed"] is False and 'checksum mismatch for file "base/5/16390"' in result["msg"]
    assert tool.plans == [] and "prepare" not in scratch.calls and "checks" not in result


def test_a_cluster_that_does_not_start_is_reported():
    scratch = FakeScratch(start_error="the restored cluster did not start: FATAL: bad")
    result = restore_scratch.restore_and_check(FakeTool(), run_ok, scratch, {"type": "latest", "value": None}, {})
    assert result["passed"] is False and result["msg"].startswith("the restored cluster did not start")
    assert "rto_seconds" not in result


def started_cluster(tmp_path, rc=0, running_after=None):
    """A ScratchCluster whose pg_ctl returns rc and whose postmaster runs once ``running_after`` checks passed."""
    calls, checks = [], []
    data = tmp_path / "scratch" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15\n")
    (tmp_path / "scratch" / "postgresql.log").write_text("2026-12-02 03:00:00 UTC [1] FATAL:  could not load pg_hba.conf\n")
    cluster = restore_scratch.ScratchCluster(str(tmp_path / "scratch"), 5499,
                                             lambda argv: calls.append(argv) or (rc, "", ""))
    cluster.log_path = lambda: str(tmp_path / "scratch" / "postgresql.log")

    def running():
        checks.append(1)
        return running_after is not None and len(checks) > running_after
    cluster.running = running
    return cluster, calls


def test_start_does_not_wait_for_connections_a_cluster_short_of_consistency_never_takes(tmp_path, clock):
    cluster, calls = started_cluster(tmp_path, running_after=2)
    cluster.start(3600, clock=clock, sleep=clock.sleep)
    assert calls[0][-2:] == ["-W", "start"] and "-w" not in calls[0]
    assert clock.now == 1.0  # two half-second looks, then the postmaster ran


def test_start_fails_in_postgresqls_words_when_the_postmaster_never_runs(tmp_path, clock):
    cluster, calls = started_cluster(tmp_path, running_after=None)
    with pytest.raises(RuntimeError) as caught:
        cluster.start(3600, clock=clock, sleep=clock.sleep)
    assert "did not start" in str(caught.value) and "could not load pg_hba.conf" in str(caught.value)
    assert clock.now == restore_scratch.START_SECONDS


class FakeConnection(object):
    closed = False

    def close(self):
        self.closed = True


class ClusterOf(object):
    def __init__(self):
        self.conn = FakeConnection()

    def connect(self, database):
        return self.conn


def test_amcheck_that_cannot_run_is_a_failed_check_not_a_pass(monkeypatch):
    asked = []

    def no_amcheck(conn, sql, args=None):
        asked.append(sql)
        return []  # pg_available_extensions has no amcheck

    monkeypatch.setattr(restore_scratch, "query", no_amcheck)
    cluster = ClusterOf()
    checked = restore_scratch.amcheck(cluster, "shop")
    assert checked["passed"] is False and checked["detail"].startswith("not checked: the amcheck extension")
    assert len(asked) == 1 and cluster.conn.closed  # nothing created, nothing checked


def test_amcheck_checks_every_btree_index_and_names_the_corrupt_one(monkeypatch):
    def answers(conn, sql, args=None):
        if "pg_available_extensions" in sql:
            return [{"?column?": 1}]
        if "bt_index_check" in sql and args == (2,):
            raise Exception("index \"orders_pkey\" lacks a main relation\n")
        return []

    monkeypatch.setattr(restore_scratch, "query", answers)
    monkeypatch.setattr(restore_scratch, "btree_indexes",
                        lambda conn: [{"oid": 1, "name": "a_pkey"}, {"oid": 2, "name": "orders_pkey"}])
    checked = restore_scratch.amcheck(ClusterOf(), "shop")
    assert checked == {"name": "amcheck shop", "passed": False,
                       "detail": 'orders_pkey: index "orders_pkey" lacks a main relation'}
