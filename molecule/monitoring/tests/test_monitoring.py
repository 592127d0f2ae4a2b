"""The monitoring role against real faults: each fault is injected on the real hosts, the alert command's
record (/var/tmp/lab-alerts.log) must show the alert within 2 minutes with the reason and figures, the metrics
must show it, and removing the fault must bring the recovery message. Faults run on both hosts at once where
they can. Measured fault-to-alert times are appended to .cache/monitoring-fault-to-alert.txt in the repository (kept after
the scenario's destroy)."""
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from labtest import ansible_playbook, assert_no_secret_in, host, newest_backup, psql, s3_objects, wait_for

DB_HOSTS = ("mon-bookworm", "mon-trixie")
ALERTS = "/var/tmp/lab-alerts.log"
METRICS = "/var/lib/prometheus/node-exporter/pgops_backup.prom"
STATUS = "/var/lib/pgops-backup/monitor/status.json"
ALERT_WITHIN = 120
# MinIO stopped: pgBackRest's archive-push fails only after its archive-timeout (60 s), then the check needs up to
# one interval (mon-trixie: the default minute) and its own run
MINIO_ALERT_WITHIN = {"mon-bookworm": 120, "mon-trixie": 150}
RECOVERY_WITHIN = 240
MEASUREMENTS = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "..", "..", ".cache", "monitoring-fault-to-alert.txt")


def now(name):
    return int(host(name).check_output("date +%s"))


def alerts(name):
    """(epoch, event, check:subject, message) for each alert the command received."""
    text = host(name).run("cat %s" % ALERTS).stdout
    found = []
    # a line the alert command is still writing has no newline yet: it is read at the next look
    for line in text.splitlines(True):
        if not line.endswith("\n"):
            continue
        line = line[:-1]
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[0].isdigit():
            found.append((int(parts[0]), parts[1], parts[2], parts[3]))
    return found


def wait_alert(name, event, key, since, timeout):
    def seen():
        return [a for a in alerts(name) if a[1] == event and a[2] == key and a[0] >= since]

    found = wait_for(seen, timeout, interval=3)
    assert found, "no %s alert for %s on %s within %ds; alerts: %s\nstatus: %s" % (
        event, key, name, timeout, alerts(name), host(name).run("cat %s" % STATUS).stdout)
    return found[0]


def record(fault, name, seconds):
    with open(MEASUREMENTS, "a") as out:
        out.write("%s %s on %s: alert after %ds\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), fault, name,
                                                      seconds))


def metric(name, metric_name, **labels):
    text = host(name).check_output("cat %s" % METRICS)
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
        if not match or match.group(1) != metric_name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def write_wal(name):
    """Committed rows and a finished segment, so that archiving has something to do now."""
    psql(name, "INSERT INTO orders (customer, amount) SELECT 'monitor', 1 FROM generate_series(1, 100)", db="shop")
    psql(name, "SELECT pg_switch_wal()")


def segment_numbers(name):
    """Numbers of the WAL segments of timeline 1 in the host's S3 archive (16 MB segments: 256 per log)."""
    keys = s3_objects(name, "pgops-pgbackrest", "%s/archive/" % name)["keys"]
    names = set(re.findall(r"/(00000001[0-9A-F]{16})-", "\n".join(keys)))
    return sorted(int(n[8:16], 16) * 256 + int(n[16:24], 16) for n in names)


def write_logical_manifest(seconds_ago):
    """A finished logical backup on mon-trixie, as the logical role (issue 7) leaves it; returns its label."""
    finished = time.time() - seconds_ago
    label = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(finished - 600))
    manifest = {"kind": "logical", "label": label, "status": "complete",
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished - 600)),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)), "duration_seconds": 600.0,
                "server_version": "17", "files": []}
    trixie = host("mon-trixie")
    trixie.check_output("rm -rf /var/backups/pgops/logical && install -d -o postgres -g postgres "
                        "/var/backups/pgops/logical/%s" % label)
    trixie.check_output("cat > /var/backups/pgops/logical/%s/manifest.json <<'EOF'\n%s\nEOF" % (label, json.dumps(manifest)))
    return label


@pytest.mark.parametrize("name", DB_HOSTS)
def test_check_runs_on_its_timer_and_passes(name):
    h = host(name)
    if name == "mon-trixie":
        write_logical_manifest(3600)
        # a passed drill, as the restore drill (issue 6) records it
        h.check_output("install -d -o postgres -g postgres /var/lib/pgops-backup/drills && echo '%s' > "
                       "/var/lib/pgops-backup/drills/latest.json" % json.dumps(
                           {"version": 1, "passed": True, "started": "2026-11-26T06:00:00Z",
                            "finished": "2026-11-26T06:04:00Z", "host": name, "tool": "pgbackrest", "stanza": "main",
                            "backup_label": "20261126-010203F", "target": "latest", "rto_seconds": 240.0,
                            "checks": [], "error": None}))
    assert h.service("pgops-backup-monitor.timer").is_enabled
    assert h.service("pgops-backup-monitor.timer").is_running
    timer = h.check_output("systemctl cat pgops-backup-monitor.timer")
    # mon-trixie runs at the role's default, every minute
    assert "OnUnitActiveSec=%ds" % (15 if name == "mon-bookworm" else 60) in timer
    assert "User=postgres" in h.check_output("systemctl cat pgops-backup-monitor.service")
    before = json.loads(h.check_output("cat %s" % STATUS))["checked_at"]
    assert wait_for(lambda: json.loads(h.check_output("cat %s" % STATUS))["checked_at"] != before, 90)
    status = json.loads(h.check_output("cat %s" % STATUS))
    assert status["ok"], status
    checks = set("%s:%s" % (r["check"], r["subject"]) for r in status["results"])
    assert {"archiving:wal", "backlog:pg_wal", "freshness:offsite/full", "tool:pgbackrest",
            "wal_dropped:archive"} <= checks
    assert metric(name, "pgops_backup_check_failing", check="archiving") == 0
    assert metric(name, "pgops_backup_max_age_seconds", repository="offsite", kind="full") == 86400 + 3600
    assert h.file(METRICS).mode == 0o644


def test_node_exporter_serves_the_metrics_over_http():
    for source, target in (("mon-trixie", "mon-bookworm"), ("mon-bookworm", "mon-trixie")):
        out = host(source).check_output("curl -sf http://%s:9100/metrics", target)
        assert re.search(r'^pgops_backup_up\{cluster="1[57]/main",stanza="main",tool="pgbackrest"\} 1$', out, re.M), out
        assert re.search(r'^pgops_backup_check_failing\{check="archiving".*\} 0$', out, re.M)


RULES_TEST = """
rule_files: [%s]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'pgops_backup_age_seconds{instance="db1",cluster="15/main",repository="offsite",kind="full"}'
        values: '90000+60x10'
      - series: 'pgops_backup_max_age_seconds{instance="db1",cluster="15/main",repository="offsite",kind="full"}'
        values: '90000x10'
      - series: 'pgops_backup_drill_passed{instance="db1",cluster="15/main"}'
        values: '1 1 0 0 0'
      - series: 'pgops_backup_monitor_timestamp_seconds{instance="db1",cluster="15/main"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: PgopsBackupTooOld
        exp_alerts:
          - exp_labels: {severity: critical, instance: db1, cluster: 15/main, repository: offsite, kind: full}
            exp_annotations:
              summary: "the newest full backup in offsite on db1 is older than its schedule allows"
      - eval_time: 1m
        alertname: PgopsBackupDrillFailed
        exp_alerts: []
      - eval_time: 3m
        alertname: PgopsBackupDrillFailed
        exp_alerts:
          - exp_labels: {severity: critical, instance: db1, cluster: 15/main}
            exp_annotations: {summary: "the last restore drill of db1 (15/main) failed"}
      - eval_time: %s
        alertname: PgopsBackupMonitorSilent
        exp_alerts: []
      - eval_time: %s
        alertname: PgopsBackupMonitorSilent
        exp_alerts:
          - exp_labels: {severity: warning, instance: db1, cluster: 15/main}
            exp_annotations: {summary: "pgops.backup's monitoring check has not run for %ss on db1"}
"""


@pytest.mark.parametrize("name, silent_after", [("mon-bookworm", 3 * 15 + 60), ("mon-trixie", 3 * 60 + 60)])
def test_prometheus_rules_are_valid_and_fire_at_the_role_thresholds(name, silent_after):
    h = host(name)
    rules = "/etc/pgops-backup/prometheus/pgops-backup-rules.yml"
    check = h.run("promtool check rules %s", rules)
    assert check.rc == 0 and "SUCCESS: 10 rules found" in check.stdout, check.stdout + check.stderr
    # silent from the first whole minute after the threshold (the series' samples are at whole minutes)
    below, above = "%ds" % (silent_after - 1), "%dm" % (silent_after // 60 + 1)
    h.run("cat > /tmp/rules-test.yml <<'EOF'\n%s\nEOF" % (RULES_TEST % (rules, below, above, silent_after)))
    test = h.run("promtool test rules /tmp/rules-test.yml")
    assert test.rc == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_minio_stopped_is_alerted_and_recovers_without_a_gap():
    minio = host("mon-minio")
    before = dict((name, segment_numbers(name)) for name in DB_HOSTS)
    minio.check_output("systemctl stop minio")
    started = dict((name, now(name)) for name in DB_HOSTS)
    try:
        for name in DB_HOSTS:
            write_wal(name)
        for name in DB_HOSTS:
            alert = wait_alert(name, "failing", "archiving:wal", started[name], MINIO_ALERT_WITHIN[name])
            record("MinIO stopped", name, alert[0] - started[name])
            assert "archiving failed" in alert[3] and "segments waiting" in alert[3], alert
            assert "last success" in alert[3]
            # the metrics are written when the run ends, after the repository listing
            assert wait_for(lambda: metric(name, "pgops_backup_check_failing", check="archiving") == 1, 60)
            assert metric(name, "pgops_backup_last_failed_timestamp_seconds") > \
                metric(name, "pgops_backup_last_archived_timestamp_seconds")
        for name in DB_HOSTS:
            write_wal(name)
    finally:
        minio.check_output("systemctl start minio")
    restored = dict((name, now(name)) for name in DB_HOSTS)
    for name in DB_HOSTS:
        alert = wait_alert(name, "recovered", "archiving:wal", restored[name], RECOVERY_WITHIN)
        assert alert[3].startswith("RECOVERED archiving wal on %s" % name), alert
        assert wait_for(lambda: metric(name, "pgops_backup_wal_ready_files") == 0, 60), "the backlog did not drain"
        check = host(name).run("sudo -u postgres pgbackrest --stanza=main check")
        assert check.rc == 0, check.stdout + check.stderr
        after = segment_numbers(name)
        assert after[-1] > before[name][-1] + 1
        missing = sorted(set(range(after[0], after[-1] + 1)) - set(after))
        assert not missing, "segments missing from the archive: %s" % missing


def set_archive_command(command):
    if command is None:
        psql("mon-bookworm", "ALTER SYSTEM RESET archive_command")
    else:
        psql("mon-bookworm", "ALTER SYSTEM SET archive_command = '%s'" % command)
    psql("mon-bookworm", "SELECT pg_reload_conf()")


def test_archive_command_faults_and_a_stale_backup_and_a_failed_drill():
    """mon-bookworm: archive_command exits 1, then its program is missing; meanwhile on mon-trixie a logical
    backup older than its daily schedule allows and a failed restore drill."""
    trixie = host("mon-trixie")
    write_logical_manifest(3 * 86400 + 3600)
    old_finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
    drill = {"version": 1, "passed": False, "started": old_finished, "finished": old_finished, "host": "mon-trixie",
             "tool": "pgbackrest", "stanza": "main", "backup_label": "20261126-010203F", "target": "latest",
             "rto_seconds": 42.0, "checks": [{"name": "amcheck", "passed": True, "detail": ""},
                                             {"name": "orders rows", "passed": False, "detail": "19999 != 20000"}],
             "error": None}
    trixie.check_output("cat > /var/lib/pgops-backup/drills/latest.json <<'EOF'\n%s\nEOF" % json.dumps(drill))
    trixie_started = now("mon-trixie")
    set_archive_command("/bin/false")
    started = now("mon-bookworm")
    write_wal("mon-bookworm")

    alert = wait_alert("mon-bookworm", "failing", "archiving:wal", started, ALERT_WITHIN)
    record("archive_command exits 1", "mon-bookworm", alert[0] - started)
    assert "archiving failed" in alert[3] and "(last: 0000000" in alert[3], alert

    stale = wait_alert("mon-trixie", "failing", "freshness:local/logical", trixie_started, ALERT_WITHIN)
    record("logical backup older than its schedule allows", "mon-trixie", stale[0] - trixie_started)
    assert "newest logical backup in local is 3d" in stale[3] and "the schedule allows 25h00m" in stale[3], stale
    failed = wait_alert("mon-trixie", "failing", "drill:latest", trixie_started, ALERT_WITHIN)
    record("failed restore drill", "mon-trixie", failed[0] - trixie_started)
    assert "failed checks: orders rows" in failed[3], failed
    assert metric("mon-trixie", "pgops_backup_drill_passed") == 0
    assert metric("mon-trixie", "pgops_backup_age_seconds", kind="logical") > 3 * 86400 - 700

    set_archive_command(None)
    restored = now("mon-bookworm")
    wait_alert("mon-bookworm", "recovered", "archiving:wal", restored, RECOVERY_WITHIN)

    set_archive_command("/usr/local/bin/pgops-no-such-archiver %p")
    started = now("mon-bookworm")
    write_wal("mon-bookworm")
    alert = wait_alert("mon-bookworm", "failing", "archiving:wal", started, ALERT_WITHIN)
    record("archive_command not found", "mon-bookworm", alert[0] - started)
    assert "archive_command's program /usr/local/bin/pgops-no-such-archiver was not found" in alert[3], alert
    set_archive_command(None)
    restored = now("mon-bookworm")
    wait_alert("mon-bookworm", "recovered", "archiving:wal", restored, RECOVERY_WITHIN)

    drill["passed"], drill["checks"][1]["passed"] = True, True
    trixie.check_output("cat > /var/lib/pgops-backup/drills/latest.json <<'EOF'\n%s\nEOF" % json.dumps(drill))
    write_logical_manifest(60)
    fixed = now("mon-trixie")
    wait_alert("mon-trixie", "recovered", "drill:latest", fixed, RECOVERY_WITHIN)
    wait_alert("mon-trixie", "recovered", "freshness:local/logical", fixed, RECOVERY_WITHIN)


# a policy whose schedule promises a full backup every minute: the threshold is 1m + monitoring_backup_margin
EVERY_MINUTE = {"pg_backup_schedule": {"full": "* * * * *", "diff": "", "incr": "", "expire": "45 3 * * *"},
                "monitoring_backup_margin": "1m"}
ARCHIVE_HOLD = "/var/tmp/lab-archive-hold"
HELD_ARCHIVER = "/usr/local/bin/lab-archive-held"
HELD_ARCHIVER_SCRIPT = """#!/bin/sh
# the lab's archive_command that stands still while %s exists (no failure counted), then archives
while [ -e %s ]; do sleep 1; done
exec pgbackrest --stanza=main archive-push "$1"
""" % (ARCHIVE_HOLD, ARCHIVE_HOLD)


def apply_playbooks(*runs):
    """Each (playbook, host, extra variables) at once, as the user runs the roles on the hosts they changed."""
    def apply(run):
        playbook, name, extra = run
        return ansible_playbook(playbook, "--limit", name, *(["-e", json.dumps(extra)] if extra else []))

    with ThreadPoolExecutor(len(runs)) as pool:
        for done in pool.map(apply, runs):
            assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def test_a_real_backup_grown_stale_and_archiving_stalled_past_the_rpo_are_alerted():
    """mon-trixie: its newest real pgBackRest backup (its manifest as pgBackRest wrote it) becomes older than the
    freshness threshold once the policy's schedule promises a full backup every minute (the monitoring role applied
    with it: 1m + a margin of 1m): the alert names that backup's label, age and finish time. mon-bookworm: with
    pg_backup_rpo 1m (the archiving and monitoring roles applied with it) archive_timeout is 30s and the archive-age
    threshold 90s; archiving then stands still without failing (archive_command waits), and the alert names the
    threshold and the RPO it came from. Both recover once the setting is restored or archiving moves again."""
    trixie, bookworm = host("mon-trixie"), host("mon-bookworm")
    backup = newest_backup("mon-trixie")
    bookworm.check_output("cat > %s <<'EOF'\n%sEOF\nchmod 755 %s" % (HELD_ARCHIVER, HELD_ARCHIVER_SCRIPT, HELD_ARCHIVER))
    stale_since = now("mon-trixie")
    try:
        apply_playbooks(("apply_roles.yml", "mon-trixie", EVERY_MINUTE),
                        ("apply_policy.yml", "mon-bookworm", {"pg_backup_rpo": "1m"}))
        assert psql("mon-bookworm", "SHOW archive_timeout") == "30s"
        assert json.loads(bookworm.check_output("cat /etc/pgops-backup/monitor.json"))["rpo_seconds"] == 60
        bookworm.check_output("touch %s", ARCHIVE_HOLD)
        set_archive_command(HELD_ARCHIVER + " %p")
        held = now("mon-bookworm")
        write_wal("mon-bookworm")

        stale = wait_alert("mon-trixie", "failing", "freshness:offsite/full", stale_since, ALERT_WITHIN)
        record("real pgBackRest backup older than its schedule allows", "mon-trixie", stale[0] - stale_since)
        finished = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(backup["timestamp"]["stop"]))
        assert "newest full backup in offsite is " in stale[3] and "(%s, finished %s)" % (backup["label"], finished) \
            in stale[3] and "the schedule allows 2m" in stale[3], stale
        freshness = [r for r in json.loads(trixie.check_output("cat %s" % STATUS))["results"]
                     if r["check"] == "freshness" and r["subject"] == "offsite/full"][0]["figures"]
        assert freshness["label"] == backup["label"] and freshness["max_age_seconds"] == 120
        assert abs(freshness["age_seconds"] - (now("mon-trixie") - backup["timestamp"]["stop"])) < 120

        # the segment switched at `held` waits: 90s, then up to one interval (15s) and the check's run
        stalled = wait_alert("mon-bookworm", "failing", "archiving:wal", held, 90 + ALERT_WITHIN)
        record("archiving stalled past the RPO's threshold", "mon-bookworm", stalled[0] - held)
        assert "more than the 90s pg_backup_rpo 60s allows (archive_timeout 30s + 60s to ship it)" in stalled[3], stalled
        assert "archiving failed" not in stalled[3] and stalled[0] - held >= 90, stalled
        # the metrics are written when the run ends
        assert wait_for(lambda: metric("mon-bookworm", "pgops_backup_archive_age_limit_seconds") == 90, 60)
    finally:
        bookworm.check_output("rm -f %s", ARCHIVE_HOLD)
        moving = now("mon-bookworm")
        set_archive_command(None)
        restored = now("mon-trixie")
        apply_playbooks(("apply_roles.yml", "mon-trixie", None), ("apply_policy.yml", "mon-bookworm", None))
    wait_alert("mon-bookworm", "recovered", "archiving:wal", moving, RECOVERY_WITHIN)
    assert psql("mon-bookworm", "SHOW archive_timeout") == "1min"
    assert wait_for(lambda: metric("mon-bookworm", "pgops_backup_archive_age_limit_seconds") == 120, 60)
    recovered = wait_alert("mon-trixie", "recovered", "freshness:offsite/full", restored, RECOVERY_WITHIN)
    assert backup["label"] in recovered[3], recovered


@pytest.mark.parametrize("name", DB_HOSTS)
def test_a_failing_check_is_not_repeated_within_the_interval_and_no_secret_is_told(name):
    """After the faults above (MinIO stopped on both hosts, archive_command broken on mon-bookworm): each was
    told once, none again within monitoring_alert_repeat (1h), and nothing told holds a secret."""
    h = host(name)
    told = alerts(name)
    failing = [a for a in told if a[1] == "failing" and a[2] == "archiving:wal"]
    assert failing and any("archiving failed" in a[3] for a in failing), told
    keys = [a[2] for a in told if a[1] == "repeat"]
    assert keys == [], "repeated within monitoring_alert_repeat (1h): %s" % keys
    said = h.check_output("cat %s %s /etc/pgops-backup/monitor.json", ALERTS, STATUS)
    said += h.check_output("journalctl -u pgops-backup-monitor --no-pager")
    said += h.check_output("ps -eo args")
    assert_no_secret_in(said, "the alerts, the monitor's status, settings and journal and the process list")


def test_wal_dropped_by_archive_push_queue_max_is_alerted():
    """mon-bookworm with archive-push-queue-max (what pgbackrest_archive_push_queue_max sets) at 16MB: WAL piles
    up while archiving fails (archive_command /bin/false), and when pgBackRest archives again it finds more than
    16MB waiting, reports the segments as archived and drops them. The monitor says so. Last, because the
    archive then has a gap (point-in-time recovery is broken until the next backup). mon-bookworm runs in
    Europe/Berlin (prepare.yml), and pgBackRest stamps its log in local time: the drop's time is read in that zone."""
    bookworm = host("mon-bookworm")
    assert bookworm.check_output("date +%Z") in ("CET", "CEST")
    conf = "/etc/pgbackrest/pgbackrest.conf"
    assert "archive-push-queue-max" not in bookworm.file(conf).content_string  # off by default
    bookworm.check_output("cp -p %s %s.lab-saved", conf, conf)
    bookworm.check_output("sed -i 's/^\\[global\\]$/[global]\\narchive-push-queue-max=16MB/' %s", conf)
    try:
        set_archive_command("/bin/false")
        for dummy in range(4):
            write_wal("mon-bookworm")
        ready = int(bookworm.check_output("ls /var/lib/postgresql/15/main/pg_wal/archive_status | grep -c ready"))
        assert ready >= 4
        set_archive_command(None)
        started = now("mon-bookworm")
        alert = wait_alert("mon-bookworm", "failing", "wal_dropped:archive", started, ALERT_WITHIN)
        record("WAL dropped (archive-push-queue-max)", "mon-bookworm", alert[0] - started)
        assert "pgBackRest dropped WAL" in alert[3] and "take one now" in alert[3], alert
        assert wait_for(lambda: (metric("mon-bookworm", "pgops_backup_wal_dropped_total") or 0) >= ready, 60)
        log = bookworm.check_output("cat /var/log/pgbackrest/main-archive-push-async.log")
        drop = re.search(r"^(\S+ \S+) P\d+ +WARN: dropped WAL file '[0-9A-F]{24}' because archive queue exceeded 16MB",
                         log, re.M)
        assert drop, log[-2000:]
        # the drop came within a minute of archiving working again, and before its alert; its stamp read as UTC
        # would be an hour or two off
        dropped = json.loads(bookworm.check_output("cat %s" % STATUS))
        last_drop = [r for r in dropped["results"] if r["check"] == "wal_dropped"][0]["figures"]["last_drop"]
        assert started - 1 <= last_drop <= min(started + 60, alert[0]), (started, last_drop, alert[0], drop.group(1))
        stamp_as_utc = int(bookworm.check_output("date -u -d %s +%%s", drop.group(1)))
        assert abs(stamp_as_utc - started) > 1800, (started, drop.group(1))
    finally:
        bookworm.check_output("mv %s.lab-saved %s", conf, conf)
        set_archive_command(None)
