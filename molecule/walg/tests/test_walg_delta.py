"""wal-g delta backups, as the scheduled jobs take them with walg_delta_max_steps > 0 and a diff schedule: each delta
is taken on the backup before it (wal-g's default WALG_DELTA_ORIGIN, LATEST), after walg_delta_max_steps deltas
the next scheduled delta is a full backup again (wal-g: "Reached max delta steps. Doing full backup."), the count
retention keeps the deltas of the full backups it keeps, and pg_restore of the newest delta brings back exactly
the rows, updates and deletes committed before it.

The scenario declares walg_delta_max_steps 2 and a diff schedule for walg-bullseye (molecule.yml), so what the test
runs is what the converge wrote.
"""
import json

import pytest

from labtest import host, module, psql, run_as, scheduled_job
from test_walg import FULL_CYCLE, RETAIN_FULL, backups, restore_and_start, stop_restored

MAX_STEPS = 2
RESTORED = "/var/lib/postgresql/delta-restore"
PORT = 5496
BATCH = 100
WALG_JSON = "/var/lib/postgresql/.walg.json"
# every row and every value of the table, so an update or a delete the restore missed shows
CONTENTS = "SELECT count(*) || ':' || md5(string_agg(d::text, ',' ORDER BY id)) FROM delta_ledger d"


def walg_settings(name):
    return json.loads(host(name).check_output("cat %s", WALG_JSON))


def scheduled_backup(name, kind):
    """The scheduled job of that kind, run as cron runs it: the name of the one backup it added, and what wal-g
    said in that run (the job's log from where it started)."""
    job, log = "main-offsite-" + kind, "/var/log/pgops-backup/main-offsite-%s.log" % kind
    before = set(b["backup_name"] for b in backups(name))
    offset = int(host(name).check_output("cat %s 2>/dev/null | wc -c", log))
    ran = run_as(name, "postgres", scheduled_job(name, "postgres", job))
    assert ran.rc == 0, ran.stderr
    (new,) = [b["backup_name"] for b in backups(name) if b["backup_name"] not in before]
    return new, host(name).check_output("tail -c +%s %s", str(offset + 1), log)


def write(name, sql):
    psql(name, sql, db="shop")


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_scheduled_deltas_chain_on_the_previous_backup_until_max_steps_and_the_newest_restores(name):
    major = psql(name, "SELECT current_setting('server_version_num')::int / 10000")
    pgdata = "/var/lib/postgresql/%s/main" % major
    try:
        assert walg_settings(name)["WALG_DELTA_MAX_STEPS"] == str(MAX_STEPS)
        assert scheduled_job(name, "postgres", "main-offsite-diff").endswith(
            "-- /usr/local/bin/wal-g backup-push %s" % pgdata)
        write(name, "DROP TABLE IF EXISTS delta_ledger; CREATE TABLE delta_ledger (id serial PRIMARY KEY, "
                    "note text NOT NULL DEFAULT 'inserted')")
        write(name, "INSERT INTO delta_ledger SELECT FROM generate_series(1, %d)" % BATCH)
        full, dummy = scheduled_backup(name, "full")
        # changed pages, not only new ones, go into each delta
        write(name, "INSERT INTO delta_ledger SELECT FROM generate_series(1, %d); "
                    "UPDATE delta_ledger SET note = 'updated after the full backup' WHERE id <= %d" % (BATCH, BATCH // 2))
        first_delta, first_said = scheduled_backup(name, "diff")
        write(name, "INSERT INTO delta_ledger SELECT FROM generate_series(1, %d); "
                    "DELETE FROM delta_ledger WHERE id %% 10 = 0" % BATCH)
        committed = psql(name, CONTENTS, db="shop")
        second_delta, second_said = scheduled_backup(name, "diff")
        write(name, "INSERT INTO delta_ledger SELECT FROM generate_series(1, %d)" % BATCH)
        after_max_steps, last_said = scheduled_backup(name, "diff")

        # wal-g's names: a delta's ends in _D_ and the WAL file of the backup it was taken on; and its own words
        assert "_D_" not in full and "_D_" not in after_max_steps, (full, after_max_steps)
        assert first_delta.endswith("_D_" + full[5:29]), (full, first_delta)
        assert second_delta.endswith("_D_" + first_delta[5:29]), (first_delta, second_delta)
        assert "Delta backup from %s" % full in first_said, first_said
        assert "Delta backup from %s" % first_delta in second_said, second_said
        assert "Reached max delta steps. Doing full backup." in last_said, last_said
        # pg_backup_info reports the chain: type and the backup each delta was taken on
        info = module(name, "pg_backup_info", {"tool": "walg", "archiver": False})
        listed = dict((b["label"], (b["type"], b["prior"])) for b in info["repositories"][0]["backups"])
        assert [listed[label] for label in (full, first_delta, second_delta, after_max_steps)] == [
            ("full", None), ("delta", full), ("delta", first_delta), ("full", None)]

        # the count retention counts full backups: the two it keeps come with the deltas taken on them
        job = scheduled_job(name, "postgres", "main-offsite-expire")
        assert job.endswith("wal-g delete retain FULL %d --confirm" % RETAIN_FULL) and RETAIN_FULL == 2, job
        expire = run_as(name, "postgres", job)
        assert expire.rc == 0, expire.stderr
        assert [b["backup_name"] for b in backups(name)] == [full, first_delta, second_delta, after_max_steps]

        # the newest delta, restored into a new directory and started beside the server: wal-g applies the full
        # backup and both deltas, recovery stops where the backup is consistent
        dummy, restored_sql = restore_and_start(name, RESTORED, PORT, {
            "tool": "walg", "backup": second_delta, "target": {"type": "immediate"}})
        assert restored_sql(CONTENTS) == committed
        assert restored_sql(CONTENTS) != psql(name, CONTENTS, db="shop")
        assert restored_sql("SELECT count(*) FROM delta_ledger WHERE note = 'updated after the full backup'") == "45"
    finally:
        stop_restored(name, RESTORED)
