# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The procedure pg_restore_check and the restore drill share, with the tool and the cluster faked."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.restore import scratch as restore_scratch


class FakeTool(object):
    def __init__(self, fail_restore=False):
        self.fail_restore = fail_restore
        self.plans = []

    def inventory(self, run):
        return {"repositories": [{"index": 1, "backups": [
            {"label": "F1", "type": "full", "start": 10, "stop": 20, "error": False, "repository": 1,
             "lsn_start": "0/1000000", "lsn_stop": "0/2000000"}]}]}

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

    def wait_until_promoted(self, timeout):
        self.calls.append("promoted")

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


def test_restores_the_newest_backup_and_runs_every_check(monkeypatch):
    monkeypatch.setattr(restore_scratch, "amcheck", lambda cluster, db: {"name": "amcheck " + db, "passed": True})
    monkeypatch.setattr(restore_scratch, "row_count", lambda cluster, check: {"name": "rows", "passed": True})
    tool, scratch = FakeTool(), FakeScratch()
    times = iter([100.0, 112.25])
    result = restore_scratch.restore_and_check(tool, run_ok, scratch, {"type": "latest", "value": None},
                                               {"row_counts": [{"database": "shop", "table": "orders", "min": 1}]},
                                               clock=lambda: next(times))
    assert result["passed"] is True and result["backup"] == "F1" and result["rto_seconds"] == 12.25
    assert [c["name"] for c in result["checks"]] == ["amcheck shop", "rows"]
    assert tool.plans[0]["backup"] == "F1" and tool.plans[0]["primary"] is False
    assert scratch.calls == ["prepare", "configure", "start", "promoted", "stop", "remove"]


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


def test_a_cluster_that_does_not_start_is_reported():
    scratch = FakeScratch(start_error="the restored cluster did not start: FATAL: bad")
    result = restore_scratch.restore_and_check(FakeTool(), run_ok, scratch, {"type": "latest", "value": None}, {})
    assert result["passed"] is False and result["msg"].startswith("the restored cluster did not start")
    assert "rto_seconds" not in result
