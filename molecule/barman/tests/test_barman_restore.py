"""A lost database server restored from its Barman server by playbooks/restore.yml (through the gate: barman recover
into the database host, WAL by get-wal) to every target, each time with exactly the rows acknowledged before it.

Runs after test_barman.py (file order): it destroys each database host's data directory, one target after another.
"""
import json
import time

import pytest

from labtest import ansible_playbook, host, psql, wait_for
from test_barman import PAIRS, backup_as_cron_runs_it

BATCH = 50
# Barman is given no target (PostgreSQL stops at it, the same on 3.4 and 3.13), so each release restores to half the
# targets: 3.4 to latest first (receive-wal then follows the restored server), then to a time, an xid and the
# backup's end; 3.13 to an LSN and a restore point (the CI budget: a restore to latest costs 90 s)
TARGETS = {"bm-db-bookworm": ["latest", "time", "xid", "immediate"], "bm-db-trixie": ["lsn", "name"]}
MARKS = {}
MAJOR = {"bm-db-bookworm": 15, "bm-db-trixie": 17}


def insert(db, rows):
    """rows acknowledged commits, one transaction each; the last one's xid."""
    xid = None
    for dummy in range(rows):
        xid = psql(db, "INSERT INTO bm_ledger DEFAULT VALUES RETURNING txid_current()").splitlines()[0]
    return xid


def archived(server, segment):
    """Whether Barman's catalog holds segment (after a barman cron moved it from receive-wal)."""
    host(server).run("sudo -u barman barman -q cron")
    catalog = json.loads(host(server).check_output("sudo -u barman barman sync-info main"))
    return segment in [wal["name"] for wal in catalog["wals"]]


def marks(db, server):
    """The ledger's history on a host: rows in its newest backup, then rows before one point that every exact target
    names, then rows after it, all archived."""
    if db in MARKS:
        return MARKS[db]
    psql(db, "DROP TABLE IF EXISTS bm_ledger; CREATE TABLE bm_ledger (id serial PRIMARY KEY)")
    insert(db, BATCH)
    assert backup_as_cron_runs_it(db, server).rc == 0
    xid = insert(db, BATCH)
    lsn = psql(db, "SELECT pg_current_wal_lsn()")
    psql(db, "SELECT pg_create_restore_point('bm-before-the-rest')")
    time.sleep(1.2)
    at = psql(db, "SELECT clock_timestamp()")
    time.sleep(1.2)
    insert(db, BATCH)
    segment = psql(db, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(db, "SELECT pg_switch_wal()")
    assert wait_for(lambda: archived(server, segment), timeout=120), "WAL up to %s did not reach Barman" % segment
    MARKS[db] = {"time": at, "xid": xid, "lsn": lsn, "name": "bm-before-the-rest"}
    return MARKS[db]


@pytest.mark.parametrize("db, kind", [(db, kind) for db in sorted(TARGETS) for kind in TARGETS[db]])
def test_a_lost_server_is_restored_to_each_target_with_exactly_the_rows_acknowledged_before_it(db, kind):
    server = dict((pair[0], pair[1]) for pair in PAIRS)[db]
    points = marks(db, server)
    expected = {"latest": 3 * BATCH, "immediate": BATCH}.get(kind, 2 * BATCH)
    major = MAJOR[db]
    data = "/var/lib/postgresql/%s/main" % major
    # the server is lost: every PostgreSQL process killed, its data directory and pg_wal gone
    host(db).check_output("systemctl kill -s KILL postgresql@%s-main; systemctl stop postgresql@%s-main; rm -rf %s"
                          % (major, major, data))
    target = {"type": kind} if kind in ("latest", "immediate") else {"type": kind, "value": points[kind]}
    result = ansible_playbook("../../playbooks/restore.yml", "--limit", db, "-e",
                              json.dumps({"restore_target": target}))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    rows = psql(db, "SELECT count(*), coalesce(max(id), 0), pg_is_in_recovery() FROM bm_ledger")
    assert rows == "%d|%d|f" % (expected, expected), (kind, rows)
    if kind == "latest":
        # the restored primary, on its new timeline, goes on streaming to Barman
        segment = psql(db, "SELECT pg_walfile_name(pg_current_wal_lsn())")
        psql(db, "SELECT pg_switch_wal()")
        assert wait_for(lambda: archived(server, segment), timeout=120), host(server).run(
            "tail -n 30 /var/log/barman/barman.log").stdout
