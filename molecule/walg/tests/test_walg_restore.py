"""A lost server restored to a point in time brings back exactly the rows committed before it.

Runs after test_walg.py (file order): it destroys each full-cycle host's data directory.
"""
import time

import pytest

from labtest import host, psql, run_as, wait_for
from test_walg import FULL_CYCLE

BATCH = 200


def archived_up_to(name, segment):
    return psql(name, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver" % segment) == "t"


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_restore_to_a_time_onto_a_destroyed_data_directory(name):
    h = host(name)
    major = psql(name, "SELECT current_setting('server_version_num')::int / 10000")
    data = "/var/lib/postgresql/%s/main" % major
    psql(name, "DROP TABLE IF EXISTS ledger; CREATE TABLE ledger (id serial PRIMARY KEY, at timestamptz NOT NULL "
               "DEFAULT clock_timestamp())", db="shop")
    for dummy in range(BATCH):
        psql(name, "INSERT INTO ledger DEFAULT VALUES", db="shop")
    before_target = int(psql(name, "SELECT max(id) FROM ledger", db="shop"))
    time.sleep(1.5)
    target = psql(name, "SELECT clock_timestamp()")
    time.sleep(1.5)
    for dummy in range(BATCH):
        psql(name, "INSERT INTO ledger DEFAULT VALUES", db="shop")
    segment = psql(name, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(name, "SELECT pg_switch_wal()")
    assert wait_for(lambda: archived_up_to(name, segment), timeout=90), "WAL up to %s was not archived" % segment

    # the server is lost: its data directory and pg_wal are gone
    h.check_output("systemctl stop postgresql@%s-main && rm -rf %s" % (major, data))
    fetched = run_as(name, "postgres", "/usr/local/bin/wal-g backup-fetch %s LATEST" % data)
    assert fetched.rc == 0, fetched.stderr
    h.check_output("sudo -u postgres touch %s/recovery.signal" % data)
    h.check_output("printf '%%s\\n' %s %s >> " + data + "/postgresql.auto.conf",
                   "recovery_target_time = '%s'" % target, "recovery_target_action = 'promote'")
    h.check_output("systemctl start postgresql@%s-main" % major)
    promoted = wait_for(lambda: h.run("sudo -u postgres psql -XAtc 'SELECT pg_is_in_recovery()'").stdout.strip() == "f",
                        timeout=120)
    assert promoted, h.run("tail -n 20 /var/log/postgresql/postgresql-%s-main.log" % major).stdout

    rows = psql(name, "SELECT count(*), coalesce(max(id), 0) FROM ledger WHERE at <= '%s'" % target, db="shop")
    after = psql(name, "SELECT count(*) FROM ledger WHERE at > '%s'" % target, db="shop")
    assert rows == "%d|%d" % (before_target, before_target)
    assert after == "0"
    assert psql(name, "SELECT min(id) FROM ledger", db="shop") == "1"
