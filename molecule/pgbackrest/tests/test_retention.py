"""pgBackRest keeps what the policy's retention says, and the jobs cron runs enforce it (every backup and expire below
is its crontab line, run as the repository user): on Debian 12 (its own repositories) and 13 (its jobs run on the
repository host backup-trixie).

- local (repo1) keeps {full: 2, diff: 3}: after full, diff, full, diff, full, diff and the expire job, the two newest
  fulls and their diffs are left, the WAL from the older one's first segment on, the offsite repository unchanged;
  the newest diff, listed as a diff of the newest full, restores into a new directory to exactly the rows committed
  before it.
- offsite (repo2, S3) keeps {full: 14, type: time}: every backup is minutes old, so the expire job removes nothing.
  With its clock 14 days past a moment W between full backups B and C, it keeps the newest full that ended before W
  (B) and everything after it, and removes every older backup and the WAL before B (pgBackRest's rule,
  src/command/expire/expire.c); a point-in-time restore to W from what is left holds exactly the rows committed
  before W.

Why a moved clock: pgBackRest counts the window in whole days (repo2-retention-full=14), and these backups are
seconds apart. libfaketime starts the clock of the expire job's pgbackrest process alone at W + 14 days; the backups'
clock and PostgreSQL's are never moved. MinIO refuses a request signed 14 days ahead, so that one expire reaches it
through labtest.s3_relay, which signs each request again at the real time.

Runs after test_restore_playbook.py and before test_stanza_refusal.py (file order), which needs only the stanza.
"""
import contextlib
import functools
import json
import re

import pytest

from labtest import faked_clock, host, module, psql, run_as, s3_relay, scheduled_job, started_cluster, wait_for

# (host that runs the jobs, its repository user, the database host)
RUNNERS = [("pg-bookworm", "postgres", "pg-bookworm"), ("backup-trixie", "pgbackrest", "pg-trixie")]
LOCAL, OFFSITE = 1, 2
DAYS = 14  # the offsite repository's retention.full (molecule.yml)
COUNTED = ("full", "diff", "full", "diff", "full", "diff")
LABEL = re.compile(r"^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$")
RESTORED = "/var/lib/postgresql/retention-restore"
DATA = RESTORED + "/data"
PORT = 5496


def info(name, user):
    result = run_as(name, user, "pgbackrest --stanza=main --output=json info")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout, strict=False)[0]


def in_repository(stanza, repo):
    return [b for b in stanza["backup"] if b["database"]["repo-key"] == repo]


def archive_min(stanza, repo):
    """The oldest WAL segment a repository holds for the stanza's newest database."""
    archives = [a for a in stanza["archive"] if a["database"]["repo-key"] == repo]
    return max(archives, key=lambda a: a["database"]["id"])["min"]


def state(stanza, repo):
    return [b["label"] for b in in_repository(stanza, repo)], archive_min(stanza, repo)


def run_job(name, user, job, env=None):
    """A job's crontab line, run as cron runs it (with env's variables added, when given); this run's job log."""
    log = "/var/log/pgops-backup/%s.log" % job
    h = host(name)
    offset = int(h.check_output("cat %s 2>/dev/null | wc -c", log))
    result = run_as(name, user, scheduled_job(name, user, job), env=env)
    output = h.check_output("tail -c +%s %s", str(offset + 1), log)
    assert result.rc == 0, "%s on %s failed: %s\n%s" % (job, name, result.stderr, output)
    return output


def scheduled_backup(name, user, job, kind):
    run_job(name, user, job)
    backup = in_repository(info(name, user), LOCAL if "-local-" in job else OFFSITE)[-1]
    assert backup["type"] == kind, backup
    return backup


def ledger(db, phase):
    """A ledger row, committed; its id."""
    return int(psql(db, "WITH r AS (INSERT INTO retention_ledger (phase) VALUES ('%s') RETURNING id) SELECT id FROM r"
                    % phase, db="shop"))


def ledger_ids(sql, where="true"):
    return sql("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM retention_ledger WHERE %s" % where,
               "shop")


def epoch(db):
    return float(psql(db, "SELECT extract(epoch FROM clock_timestamp())"))


@contextlib.contextmanager
def restored(db, args):
    """pg_restore of args into a new directory, started on a spare port; yields (its result, sql, socket dir, log)."""
    h = host(db)
    h.check_output("rm -rf %s && install -d -o postgres -g postgres -m 0700 %s", RESTORED, RESTORED)
    try:
        result = module(db, "pg_restore", dict(args, data_directory=DATA))
        assert result.get("failed") is not True, result.get("msg")
        with started_cluster(db, DATA, PORT) as (sql, socket_dir, log):
            yield result, sql, socket_dir, log
    finally:
        h.run("rm -rf %s", RESTORED)


@pytest.fixture(scope="module", autouse=True)
def retention_ledger():
    for _name, _user, db in RUNNERS:
        psql(db, "CREATE TABLE IF NOT EXISTS retention_ledger (id serial PRIMARY KEY, phase text NOT NULL, "
                 "at timestamptz NOT NULL DEFAULT clock_timestamp())", db="shop")


@pytest.fixture(scope="module")
def local_sets():
    """Per runner: full, diff, full, diff, full, diff of the local repository, each its cron job, with a ledger row
    committed before each and one after the last; then the local expire job. Both repositories before and after."""
    runs = {}
    for name, user, db in RUNNERS:
        before, taken, rows = info(name, user), [], []
        for kind in COUNTED:
            rows.append(ledger(db, "before the local %s #%d" % (kind, len(taken) + 1)))
            taken.append(scheduled_backup(name, user, "main-local-%s" % kind, kind)["label"])
        rows.append(ledger(db, "after the local backups"))
        expire_log = run_job(name, user, "main-local-expire")
        runs[name] = {"before": before, "after": info(name, user), "taken": taken, "rows": rows, "expire_log": expire_log}
    return runs


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_count_retention_keeps_the_two_newest_full_backups_and_their_diffs(local_sets, name, user, db):
    run = local_sets[name]
    full1, diff1, full2, diff2, full3, diff3 = run["taken"]
    kept = in_repository(run["after"], LOCAL)
    assert [b["label"] for b in kept] == [full2, diff2, full3, diff3], "taken %s" % run["taken"]
    assert [b.get("prior") for b in kept] == [None, full2, None, full3]
    assert in_repository(run["before"], LOCAL), "no older backup was there to expire"
    # gone from the repository's disk too, with every older backup
    on_disk = host(name).check_output("ls /var/lib/pgbackrest/backup/main").split()
    assert sorted(entry for entry in on_disk if LABEL.match(entry)) == [full2, diff2, full3, diff3]
    # the WAL: from the oldest kept backup's first segment on, nothing older
    assert archive_min(run["before"], LOCAL) < kept[0]["archive"]["start"] == archive_min(run["after"], LOCAL)
    assert "expire command end: completed successfully" in run["expire_log"]
    assert state(run["after"], OFFSITE) == state(run["before"], OFFSITE)


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_the_diff_backup_restores_to_the_rows_committed_before_it(local_sets, name, user, db):
    run = local_sets[name]
    full3, diff3 = run["taken"][4:]
    backups = in_repository(run["after"], LOCAL)
    newest_full = [b["label"] for b in backups if b["type"] == "full"][-1]
    assert (backups[-1]["label"], backups[-1]["type"], backups[-1]["prior"]) == (diff3, "diff", newest_full)
    assert newest_full == full3
    with restored(db, {"backup": diff3, "repository": LOCAL, "target": {"type": "immediate"}}) as (result, sql, _s, _l):
        assert result["backup"] == diff3
        ids = ledger_ids(sql)
    assert "repo1: restore backup set %s" % diff3 in host(db).check_output(
        "grep 'restore backup set' /var/log/pgbackrest/main-restore.log | tail -n 1")
    before_diff, after_diff = run["rows"][-2:]
    assert ids == ledger_ids(functools.partial(psql, db), "id <= %d" % before_diff)
    # the row committed between the newest full and the diff is in the diff alone; the one after it in neither
    assert str(before_diff) in ids.split(",") and str(after_diff) not in ids.split(",")


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_time_retention_expires_nothing_inside_its_14_days(name, user, db):
    before = info(name, user)
    assert len([b for b in in_repository(before, OFFSITE) if b["type"] == "full"]) >= 2
    log = run_job(name, user, "main-offsite-expire")
    assert state(info(name, user), OFFSITE) == state(before, OFFSITE)
    assert "repo2: time-based archive retention not met - archive logs will not be expired" in log


@pytest.fixture(scope="module")
def window():
    """Per runner: full backups A, B, C of the offsite repository, each its cron job, with ledger rows committed
    before A, after A, after B, after W and after C; W is the next whole second after B ended (C starts after it).
    Then the offsite expire job, its pgbackrest's clock started at W + 14 days."""
    runs = {}
    for name, user, db in RUNNERS:
        before, taken, rows = info(name, user), [], {"before A": ledger(db, "before A")}
        for backup in ("A", "B"):
            taken.append(scheduled_backup(name, user, "main-offsite-full", "full"))
            rows["after " + backup] = ledger(db, "after " + backup)
        start = int(epoch(db)) + 1
        assert wait_for(lambda: epoch(db) >= start, timeout=10, interval=0.2)
        rows["after W"] = ledger(db, "after W")
        taken.append(scheduled_backup(name, user, "main-offsite-full", "full"))
        rows["after C"] = ledger(db, "after C")
        with s3_relay(name, OFFSITE) as (env, relayed):
            expire_log = run_job(name, user, "main-offsite-expire", dict(env, **faked_clock(start + DAYS * 86400)))
            requests = relayed()
        runs[name] = {"before": before, "after": info(name, user), "taken": taken, "rows": rows, "start": start,
                      "expire_log": expire_log, "requests": requests}
    return runs


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_time_retention_keeps_the_newest_full_backup_that_ended_before_the_window(window, name, user, db):
    run = window[name]
    a, b, c = run["taken"]
    assert b["timestamp"]["stop"] < run["start"] <= c["timestamp"]["start"]
    assert [x["label"] for x in in_repository(run["after"], OFFSITE)] == [b["label"], c["label"]]
    assert in_repository(run["before"], OFFSITE), "no backup older than A was there to expire"
    assert "repo2: expire time-based backup %s" % a["label"] in run["expire_log"], run["expire_log"]
    # the WAL before B's first segment is gone, B's is kept
    assert archive_min(run["before"], OFFSITE) < b["archive"]["start"] == archive_min(run["after"], OFFSITE)
    assert state(run["after"], LOCAL) == state(run["before"], LOCAL)
    # the expire read and rewrote the S3 repository through the relay
    assert any(r.startswith("PUT ") and r.split()[1].endswith("/backup/main/backup.info") for r in run["requests"]), \
        run["requests"]


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_a_restore_to_the_window_start_holds_exactly_the_rows_committed_before_it(window, name, user, db):
    run = window[name]
    target = {"type": "time", "value": psql(db, "SELECT to_timestamp(%d)" % run["start"])}
    with restored(db, {"repository": OFFSITE, "target": target}) as (result, sql, socket_dir, log):
        assert result["backup"] == run["taken"][1]["label"]
        recovered = module(db, "pg_recovery", {"data_directory": DATA, "target": target, "port": PORT,
                                               "socket_dir": socket_dir, "log_file": log,
                                               "archive_end": result["archive_end_segment"]})
        assert recovered.get("failed") is not True, recovered.get("msg")
        assert sql("SELECT pg_is_in_recovery()") == "f"
        ids = ledger_ids(sql)
    assert ids == ledger_ids(functools.partial(psql, db), "at < to_timestamp(%d)" % run["start"])
    rows = run["rows"]
    assert {str(rows[k]) for k in ("before A", "after A", "after B")} <= set(ids.split(","))
    assert not {str(rows[k]) for k in ("after W", "after C")} & set(ids.split(","))
