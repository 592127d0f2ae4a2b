"""wal-g's time retention keeps what a restore into the start of its window needs, as pgBackRest's does: the
newest full backup that finished before the window's start, its WAL, and everything after it.

Backups seconds apart stand for backups days apart: the scheduled job runs once as cron runs it (every backup is
inside its 30 days: nothing goes), then once more with an explicit window start between two full backups.
Runs after test_walg.py and before test_walg_restore.py (file order).
"""
import json
import re
import shlex
import time

import pytest

from labtest import ansible_playbook, host, module, psql, run_as, s3_objects, scheduled_job
from test_walg import BUCKET, FULL_CYCLE, backups, restore_and_start, stop_restored

DAYS = 30
JOB = "main-offsite-expire"
LOG = "/var/log/pgops-backup/%s.log" % JOB
RESTORED = "/var/lib/postgresql/expire-pitr"
PORT = 5497
BATCH = 50
WAL_NAME = re.compile(r"^[0-9A-F]{24}$")


def apply_retention(name, retention):
    repositories = ["{{ lab_walg_repository | combine({'retention': %s}) }}" % json.dumps(retention)]
    result = ansible_playbook("apply_roles.yml", "--limit", name,
                              "-e", json.dumps({"pg_backup_repositories": repositories}))
    assert result.returncode == 0, result.stdout + result.stderr


def names(name):
    return [b["backup_name"] for b in backups(name)]


def full_backup(name):
    before = set(names(name))
    assert run_as(name, "postgres", scheduled_job(name, "postgres", "main-offsite-full")).rc == 0
    (new,) = set(names(name)) - before
    return new


def write_rows(name):
    for dummy in range(BATCH):
        psql(name, "INSERT INTO expire_ledger DEFAULT VALUES", db="shop")


def now(name):
    return psql(name, "SELECT clock_timestamp()")


def job_log_tail(name):
    return host(name).check_output("tail -n 3 %s" % LOG)


def archived_segments(name):
    keys = s3_objects(name, BUCKET, "%s/wal_005/" % name)["keys"]
    return sorted(k.rsplit("/", 1)[1][:24] for k in keys if WAL_NAME.match(k.rsplit("/", 1)[1][:24]))


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_time_retention_keeps_the_full_backup_the_window_starts_from(name):
    apply_retention(name, {"full": DAYS, "type": "time"})
    try:
        job = scheduled_job(name, "postgres", JOB)
        assert job.endswith("-- /usr/local/bin/pgops-backup-expire --days %d" % DAYS), job
        psql(name, "DROP TABLE IF EXISTS expire_ledger; CREATE TABLE expire_ledger (id serial PRIMARY KEY, "
                   "at timestamptz NOT NULL DEFAULT clock_timestamp())", db="shop")
        first = full_backup(name)
        write_rows(name)
        anchor = full_backup(name)
        write_rows(name)
        time.sleep(1.5)
        window_start = now(name)
        time.sleep(1.5)
        write_rows(name)
        target = now(name)
        time.sleep(1.5)
        write_rows(name)
        newest = full_backup(name)
        write_rows(name)
        before = names(name)
        assert before.index(first) < before.index(anchor) < before.index(newest)

        # as cron runs it: every backup is minutes old, far inside 30 days, so nothing goes
        ran = run_as(name, "postgres", job)
        assert ran.rc == 0, ran.stderr
        assert names(name) == before
        assert "nothing to expire (%d backups kept)" % len(before) in job_log_tail(name)

        # the window starts between two full backups: the one before it stays, every older one goes
        ran = run_as(name, "postgres", "%s --window-start %s" % (job, shlex.quote(window_start)))
        assert ran.rc == 0, ran.stderr
        assert names(name) == [anchor, newest], "left %s of %s" % (names(name), before)
        assert "kept %s" % anchor in job_log_tail(name)
        # and its WAL: nothing older than the kept backup's first segment, everything from it on
        anchor_wal = [b for b in backups(name) if b["backup_name"] == anchor][0]["wal_file_name"]
        segments = archived_segments(name)
        assert segments[0] == anchor_wal, segments[:3]

        # a restore to a moment after the window's start, before the next full backup, starts from it
        restore_to_a_time_inside_the_window(name, anchor, target)
    finally:
        stop_restored(name, RESTORED)
        apply_retention(name, {"full": 2})
    assert scheduled_job(name, "postgres", JOB).endswith("wal-g delete retain FULL 2 --confirm")


def restore_to_a_time_inside_the_window(name, anchor, target):
    args = {"tool": "walg", "target": {"type": "time", "value": target}}
    predicted = module(name, "pg_restore", dict(args, data_directory=RESTORED + "/data"), check=True)
    assert predicted.get("failed") is not True, predicted.get("msg")
    assert predicted["backup"] == anchor
    dummy, restored_sql = restore_and_start(name, RESTORED, PORT, args)
    expected = psql(name, "SELECT count(*) FROM expire_ledger WHERE at <= '%s'" % target, db="shop")
    assert int(expected) == 3 * BATCH
    assert restored_sql("SELECT count(*) FROM expire_ledger") == expected
    assert restored_sql("SELECT count(*) FROM expire_ledger WHERE at > '%s'" % target) == "0"
