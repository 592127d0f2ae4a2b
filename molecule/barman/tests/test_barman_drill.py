"""The restore drill and pg_restore_check on each Barman server, as barman: the newest backup verified by `barman
verify-backup`, restored into a scratch cluster beside the catalog and checked; a flipped byte in the backup fails
the drill before anything is restored; on a database host pg_restore_check is refused by name."""
import json
import threading

import pytest

from labtest import host, module, psql, run_as, scheduled_job, wait_for

from test_barman import PAIRS, done_backups
from test_barman_restore import archived

RESULTS = "/var/lib/pgops-backup/drills"
SCRATCH = "/var/tmp/pgops-restore-drill"
FLIP = ("python3 -c 'import os, sys; p = sys.argv[1]; n = os.path.getsize(p) // 2; f = open(p, \"r+b\"); "
        "f.seek(n); b = f.read(1)[0]; f.seek(n); f.write(bytes([b ^ 0xFF]))' %s")


def run_drill(server):
    return run_as(server, "barman", scheduled_job(server, "barman", "drill:main"))


def latest_result(server):
    return json.loads(host(server).file(RESULTS + "/latest.json").content_string)


def catalog_state(server):
    """Every file of the server's catalog (backups and WAL) with its size and time: what a drill must not touch."""
    return host(server).check_output("find /var/lib/barman/main/base /var/lib/barman/main/wals -type f "
                                     "-printf '%%p %%s %%T@\\n' | sort | sha256sum")


@pytest.fixture(scope="module")
def drills():
    """Both servers' drills at once, as cron starts them, each between two looks at its catalog, once the rows of
    `drilled` are in each catalog's WAL: {'runs', 'before', 'after', 'rows'}. Nothing switches the segment the rows
    are in: archive_timeout (60 s for the RPO of 2m) closes it, and the package's per-minute `barman cron` (here
    each poll) moves it into the catalog, as on a quiet production server."""
    rows, before, segments = {}, {}, {}
    for db, server, dummy in PAIRS:
        psql(db, "DROP TABLE IF EXISTS drilled; CREATE TABLE drilled AS SELECT generate_series(1, 100) AS n")
        rows[server] = int(psql(db, "SELECT count(*) FROM drilled"))
        segments[server] = psql(db, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    for db, server, dummy in PAIRS:
        segment = segments[server]
        assert psql(db, "SHOW archive_timeout") == "1min"
        assert wait_for(lambda: archived(server, segment), timeout=150), "%s did not reach %s" % (segment, server)
        before[server] = catalog_state(server)
    runs = {}
    threads = [threading.Thread(target=lambda s=server: runs.__setitem__(s, run_drill(s)))
               for dummy, server, dummy in PAIRS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"runs": runs, "before": before, "after": dict((s, catalog_state(s)) for dummy, s, v in PAIRS), "rows": rows}


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_the_drill_is_scheduled_monthly_as_barman(db, server, version):
    crontab = host(server).check_output("crontab -l -u barman")
    assert "#Ansible: pgops.backup drill:main\n30 4 1 * * /usr/local/bin/pgops-backup-job drill-main -- " \
           "/usr/local/bin/pgops-restore-drill --config /etc/pgops-backup/drill-main.json" in crontab, crontab


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_the_drill_verifies_restores_and_checks_the_newest_backup_and_leaves_the_catalog_alone(drills, db, server,
                                                                                               version):
    run = drills["runs"][server]
    assert run.rc == 0, run.stdout + run.stderr
    log = host(server).file("/var/log/pgops-backup/drill-main.log").content_string.splitlines()
    assert log[-1].endswith(" drill-main: ok") and log[-2].startswith("restore drill passed on %s: barman" % server), \
        log[-3:]
    result = latest_result(server)
    print("%s drill: %s" % (server, log[-2]))
    assert result["passed"] is True and result["tool"] == "barman" and result["error"] is None
    assert result["backup_label"] == done_backups(server)[-1]
    checks = [check["name"] for check in result["checks"]]
    assert checks[0] == "barman verify-backup" and result["checks"][0]["detail"] == "backup successfully verified"
    assert "amcheck postgres" in checks and all(check["passed"] for check in result["checks"]), result["checks"]
    assert result["replay_end_lsn"] and result["archive_end_segment"] and result["rto_seconds"] > 0
    assert drills["after"][server] == drills["before"][server]
    assert not host(server).file(SCRATCH).exists


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_a_flipped_byte_in_the_backup_fails_the_drill_before_anything_is_restored(drills, db, server, version):
    label = done_backups(server)[-1]
    target = host(server).check_output(
        "find /var/lib/barman/main/base/%s/data/base -type f -printf '%%s %%p\\n' | sort -n | tail -n 1 "
        "| cut -d' ' -f2", label)
    host(server).check_output(FLIP % target)
    try:
        failed = run_drill(server)
    finally:
        host(server).check_output(FLIP % target)  # the same byte flipped back
    assert failed.rc != 0 and "restore drill FAILED" in failed.stderr, failed.stdout + failed.stderr
    result = latest_result(server)
    relative = target.split("/data/", 1)[1]
    print("%s drill with a byte of %s flipped: %s" % (server, relative, result["error"]))
    assert result["passed"] is False and result["backup_label"] == label
    assert 'checksum mismatch for file "%s"' % relative in result["error"], result
    assert result["checks"] == [] and result["rto_seconds"] is None


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_pg_restore_check_proves_a_backup_on_its_server_and_is_refused_on_the_database_host(drills, db, server,
                                                                                            version):
    checked = module(server, "pg_restore_check", {
        "tool": "barman", "target": {"type": "latest"}, "amcheck": False,
        "row_counts": [{"database": "postgres", "table": "drilled", "equals": drills["rows"][server]}]},
        become_user="barman")
    assert checked.get("failed") is None and checked["passed"], checked
    assert [c["name"] for c in checked["checks"]] == ["barman verify-backup", "rows postgres.drilled"]
    # every row acknowledged and archived before the check
    assert checked["checks"][1]["value"] == drills["rows"][server] == 100
    refused = module(db, "pg_restore_check", {"tool": "barman"})
    assert refused.get("failed") and refused["msg"].startswith("tool: pg_restore_check checks a Barman backup on "
                                                               "its Barman server"), refused
