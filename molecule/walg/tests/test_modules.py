"""The collection's modules with wal-g: the whole set on Debian 11; what wal-g 1.1.3 can do on 12 and 13."""
import pytest

from labtest import assert_sampled_without_secrets, host, lsn, module, process_lists, psql, wait_for
from test_walg import ALL, FULL_CYCLE

WALG = {"tool": "walg"}


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_pg_backup_takes_a_wal_g_backup_unless_one_is_fresh(name):
    # the backup and the WAL pushes it waits for, the host's process list sampled all along
    with process_lists(name) as samples:
        first = module(name, "pg_backup", dict(WALG, type="full", max_age="1h"))
    assert_sampled_without_secrets(samples, r"^\S*wal-g backup-push\b")
    assert first["changed"] is True, first
    assert first["backup"]["label"].startswith("base_") and first["backup"]["size"] > 0
    # LSNs compare as numbers ('0/A000028' is after '0/9FFFFD8'), and the backup ends where the server's WAL is
    start, stop = lsn(first["backup"]["lsn_start"]), lsn(first["backup"]["lsn_stop"])
    assert 0 < start < stop <= lsn(psql(name, "SELECT pg_current_wal_lsn()")), first["backup"]
    again = module(name, "pg_backup", dict(WALG, type="full", max_age="1h"))
    assert again["changed"] is False and again["backup"]["label"] == first["backup"]["label"]
    predicted = module(name, "pg_backup", dict(WALG, type="delta"), check=True)
    assert predicted["changed"] is True


@pytest.mark.parametrize("name", [n for n in ALL if n not in FULL_CYCLE])
def test_pg_backup_failure_carries_the_tools_error_line(name):
    # wal-g 1.1.3 calls pg_start_backup, which PostgreSQL 15 and 17 no longer have
    result = module(name, "pg_backup", dict(WALG, type="full"))
    assert result.get("failed") is True
    assert "wal-g failed (exit" in result["msg"], result["msg"]


@pytest.mark.parametrize("name", ALL)
def test_pg_backup_info_reports_backups_archive_and_archiver(name):
    segment = psql(name, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(name, "CREATE TABLE IF NOT EXISTS wal_probe (at timestamptz); INSERT INTO wal_probe VALUES (now());"
               " SELECT pg_switch_wal()")
    assert wait_for(lambda: psql(name, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver"
                                 % segment) == "t", timeout=90)
    result = module(name, "pg_backup_info", WALG)
    assert result["changed"] is False
    (repo,) = result["repositories"]
    assert repo["index"] == 1
    if name in FULL_CYCLE:
        assert repo["backups"] and all(b["stop"] >= b["start"] for b in repo["backups"])
    assert repo["archive"]["min"] and repo["archive"]["max"] >= segment >= repo["archive"]["min"]
    assert result["archiver"]["failing"] is False and result["archiver"]["archived_count"] > 0


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_pg_restore_check_proves_a_wal_g_backup(name):
    started = psql(name, "SELECT pg_postmaster_start_time()")
    with process_lists(name) as samples:
        result = module(name, "pg_restore_check", dict(WALG, row_counts=[
            {"database": "shop", "table": "orders", "equals": 20000}]))
    assert_sampled_without_secrets(samples, r"^\S*wal-g backup-fetch\b")
    assert result.get("failed") is not True, result.get("msg")
    assert result["passed"] and result["rto_seconds"] > 0
    assert [c for c in result["checks"] if c["name"] == "amcheck shop"][0]["passed"]
    assert not host(name).file("/var/tmp/pgops-restore-check").exists
    assert psql(name, "SELECT pg_postmaster_start_time()") == started


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_pg_restore_with_wal_g_writes_the_target_and_is_idempotent(name):
    h = host(name)
    target = "/var/lib/postgresql/restored/data"
    h.check_output("rm -rf /var/lib/postgresql/restored && "
                   "install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/restored")
    args = dict(WALG, data_directory=target, target={"type": "immediate"})
    first = module(name, "pg_restore", args)
    assert first["changed"] is True, first
    assert h.file(target + "/recovery.signal").exists
    auto_conf = h.file(target + "/postgresql.auto.conf").content_string
    assert "recovery_target = 'immediate'" in auto_conf and "archive_mode = 'off'" in auto_conf
    assert "restore_command = '/usr/local/bin/wal-g wal-fetch %f %p'" in auto_conf
    assert module(name, "pg_restore", args)["changed"] is False
    refused = module(name, "pg_restore", dict(WALG, data_directory="/var/lib/postgresql/restored/other", delta=True,
                                              target={"type": "immediate"}))
    assert refused.get("failed") is True and "empty directory only" in refused["msg"]
