"""The scheduled restore drill, run as cron runs it: it proves the newest backup restores, never touches the
production cluster or the repository, and fails loudly when a byte of the backup is corrupted."""
import json
import os
import re
import threading

import pytest

from labtest import host, psql, run_as, s3_objects, scheduled_job

# the backup host of each database host, and the user the drill runs as there
DRILLS = {"rst-bookworm": "postgres", "rst-backup": "pgbackrest", "rst-walg": "postgres"}
RESULTS = "/var/lib/pgops-backup/drills"


def run_drill(name):
    return run_as(name, DRILLS[name], scheduled_job(name, DRILLS[name], "drill:main"))


def latest_result(name):
    return json.loads(host(name).file(RESULTS + "/latest.json").content_string)


# each drill's repository, with the database host whose archive it holds
ARCHIVES = {"rst-bookworm": "rst-bookworm", "rst-backup": "rst-trixie"}


def untouched_state():
    """What a drill must leave alone: the production cluster on rst-bookworm (the drill runs beside it), the
    backups in both pgBackRest repositories and rst-walg's backups in S3."""
    state = {
        "postmaster": host("rst-bookworm").check_output("systemctl show -p MainPID --value postgresql@15-main"),
        "ledger": psql("rst-bookworm", "SELECT count(*) FROM ledger", db="shop"),
        "walg": sorted(s3_objects("rst-walg", "pgops-walg", "rst-walg/basebackups_005/")["keys"]),
    }
    for name in ARCHIVES:
        state["repository " + name] = host(name).check_output(
            "find /var/lib/pgbackrest/backup -type f -printf '%p %s %T@\\n' | sort | sha256sum")
    return state


def archives():
    """Every WAL archive a drill could write to, as {where: {file: size}}: production keeps archiving while the
    drills run, so these may grow, but only with the production timeline's WAL."""
    found = {}
    for name in ARCHIVES:
        listing = host(name).check_output("find /var/lib/pgbackrest/archive -type f -printf '%P %s\\n'")
        found[name] = dict(line.rsplit(" ", 1) for line in listing.splitlines())
    walg = s3_objects("rst-walg", "pgops-walg", "rst-walg/wal_005/")
    found["rst-walg"] = dict((key, None) for key in walg["keys"])
    return found


def timeline_of(path):
    """The timeline of an archived segment or history file, from its name (the first 8 hex digits)."""
    return int(os.path.basename(path)[:8], 16)


@pytest.fixture(scope="module")
def drills(restore_run):
    """Every backup host's drill at once, as cron starts it, between two looks at what it must not touch."""
    before, archived = untouched_state(), archives()
    runs = {}
    threads = [threading.Thread(target=lambda n=name: runs.__setitem__(n, run_drill(n))) for name in DRILLS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs, before, untouched_state(), archived, archives()


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_is_scheduled_monthly(name):
    crontab = host(name).check_output("crontab -l -u %s", DRILLS[name])
    assert "#Ansible: pgops.backup drill:main\n30 4 1 * * /usr/local/bin/pgops-backup-job drill-main -- " \
           "/usr/local/bin/pgops-restore-drill --config /etc/pgops-backup/drill-main.json" in crontab, crontab


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_restores_the_newest_backup_and_passes_every_check(drills, name):
    runs = drills[0]
    assert runs[name].rc == 0, runs[name].stdout + runs[name].stderr
    # the job wrapper keeps the drill's own line in the job's log
    log = host(name).file("/var/log/pgops-backup/drill-main.log").content_string.splitlines()
    assert log[-1].endswith(" drill-main: ok") and log[-2].startswith("restore drill passed on "), log[-3:]
    result = latest_result(name)
    assert result["passed"] is True and result["error"] is None and result["target"] == "latest"
    assert result["rto_seconds"] > 0 and result["started"] <= result["finished"]
    checks = {check["name"]: check for check in result["checks"]}
    assert checks["amcheck shop"]["passed"] and "btree indexes checked" in checks["amcheck shop"]["detail"]
    assert checks["rows shop.orders"]["value"] == 20000
    assert checks["ledger restored"]["passed"]
    assert all(check["passed"] for check in result["checks"])
    # the newest backup: the last one the writer's jobs took
    labels = run_as(name, DRILLS[name], "wal-g backup-list --json" if name == "rst-walg"
                    else "pgbackrest --stanza=main --repo=1 info --output=json")
    assert labels.rc == 0, labels.stderr
    newest = json.loads(labels.stdout)
    newest = newest[-1]["backup_name"] if name == "rst-walg" else newest[0]["backup"][-1]["label"]
    assert result["backup_label"] == newest
    assert host(name).file(RESULTS + "/drill-%s.json" % result["started"].replace("-", "").replace(":", "")).exists


def test_drill_touches_neither_the_production_cluster_nor_the_repository(drills):
    runs, before, after, archived_before, archived_after = drills
    assert runs["rst-bookworm"].rc == 0
    assert after == before
    assert not host("rst-bookworm").file("/var/tmp/pgops-restore-drill").exists
    # the archives lost and changed nothing; what they gained is the production servers' own WAL, on their
    # timeline: a promoted drill cluster archiving would add a history file and WAL of a timeline after it
    for where, files in archived_before.items():
        production = int(psql(ARCHIVES.get(where, where), "SELECT timeline_id FROM pg_control_checkpoint()"))
        now = archived_after[where]
        assert files, "no archive listed on %s" % where
        assert [f for f in files if now.get(f, "gone") != files[f]] == [], where
        added = [f for f in now if f not in files and re.match(r"[0-9A-F]{8}", os.path.basename(f))]
        foreign = [f for f in added if f.endswith(".history") or ".history." in f or timeline_of(f) > production]
        assert foreign == [], "the drill wrote into the archive on %s: %s" % (where, foreign)


def test_corrupted_backup_fails_the_drill_loudly_and_pgbackrest_verify_reports_it(drills):
    name, label = "rst-bookworm", latest_result("rst-bookworm")["backup_label"]
    target = host(name).check_output(
        "find /var/lib/pgbackrest/backup/main/%s/pg_data -type f -printf '%%s %%p\\n' | sort -n | tail -n 1 "
        "| cut -d' ' -f2", label)
    flip = ("python3 -c 'import os, sys; p = sys.argv[1]; n = os.path.getsize(p) // 2; f = open(p, \"r+b\"); "
            "f.seek(n); b = f.read(1)[0]; f.seek(n); f.write(bytes([b ^ 0xFF]))' %s" % target)
    alerts_before = host(name).file("/var/tmp/lab-alerts.log").content_string.count("\n")
    host(name).check_output(flip)
    try:
        failed = run_drill(name)
        verify = run_as(name, "postgres", "pgbackrest --stanza=main --repo=1 verify --log-level-console=info")
    finally:
        host(name).check_output(flip)  # the same byte flipped back
    assert failed.rc != 0 and "restore drill FAILED" in failed.stderr, failed.stdout + failed.stderr
    result = latest_result(name)
    assert result["passed"] is False and result["backup_label"] == label and result["error"]
    alerts = host(name).file("/var/tmp/lab-alerts.log").content_string.splitlines()
    # the one alert contract (core/alerts.py): the monitor's message shape, naming the backup and the reason
    assert len(alerts) == alerts_before + 1 and " drill failing FAILING restore_drill main on " in alerts[-1], alerts
    assert "backup %s to latest: " % label in alerts[-1], alerts
    report = verify.stdout + verify.stderr
    print("pgbackrest verify (exit %d) with one byte of %s flipped:\n%s" % (verify.rc, target, report))
    # pgBackRest 2.45 and 2.55 exit 0 here: the report is the verdict
    assert "invalid checksum '%s'" % target.split("/backup/main/")[1] in report, report
    assert re.search(r"status: error\n\s+backup: %s, status: invalid.*\n\s+checksum invalid: 1" % label, report), report
    # with the byte restored the same backup passes again, and only the newest pg_backup_drill_keep (2) results stay
    again = run_drill(name)
    assert again.rc == 0, again.stdout + again.stderr
    kept = host(name).check_output("ls %s", RESULTS).split()
    assert sorted(kept) == sorted(["latest.json"] + [f for f in kept if f.startswith("drill-")]) and \
        len([f for f in kept if f.startswith("drill-")]) == 2, kept
