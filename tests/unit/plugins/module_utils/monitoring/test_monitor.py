# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of the monitoring check over a data directory, manifests and a drill file in a temporary
directory, a stand-in PostgreSQL connection and recorded tool output; alerts through a real command."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.monitoring import monitor, observe
from pgops_backup_host import LocalHost  # pylint: disable=import-error


class FakeHost(LocalHost):
    """The host entry point's LocalHost, with the tools answered by ``run``; the alert command really runs."""

    def __init__(self, run=None):
        super(FakeHost, self).__init__()
        self.fake = run
        self.out, self.err = [], []

    def run_command(self, argv, environ_update=None, data=None, timeout=None):
        if self.fake is None or argv[0].endswith("alert.sh") or argv[0] == "/bin/sh":
            return LocalHost.run_command(self, argv, environ_update, data, timeout)
        return self.fake(argv, timeout=timeout)

    def print_out(self, line):
        self.out.append(line)

    def print_error(self, line):
        self.err.append(line)


NOW = 1795677600  # 2026-11-26 07:20:00 UTC
SECRET = "s3cr3t-EXAMPLE-key-0123"


class FakeConnection(object):
    """psycopg2's cursor protocol for the two queries the monitor makes."""

    def __init__(self, archiver, settings):
        self.archiver, self.settings = archiver, settings
        self.closed = False

    def cursor(self):
        return self

    def execute(self, sql, params=None):
        if "pg_stat_archiver" in sql:
            names = list(self.archiver)
            self.description = [(n,) for n in names]
            self.rows = [tuple(self.archiver[n] for n in names)]
        else:
            self.description = [("name",), ("setting",), ("unit",)]
            self.rows = self.settings

    def fetchall(self):
        return self.rows

    def close(self):
        self.closed = True


def archiver(failed_count=0, failed_at=None, archived_at="2026-11-26 07:19:30+00"):
    return {"archived_count": 40, "last_archived_wal": "000000010000000000000028", "last_archived_time": archived_at,
            "failed_count": failed_count, "last_failed_wal": "000000010000000000000029" if failed_at else None,
            "last_failed_time": failed_at, "stats_reset": "2026-11-25 00:00:00+00"}


SETTINGS = [("archive_mode", "on", None), ("archive_command", "/bin/true %p", None), ("archive_timeout", "60", "s"),
            ("max_wal_size", "1024", "MB")]


@pytest.fixture
def lab(tmp_path, fixture_text):
    data = tmp_path / "data"
    (data / "pg_wal" / "archive_status").mkdir(parents=True)
    (data / "pg_wal" / "000000010000000000000029").write_bytes(b"\0" * 4096)
    for kind in ("logical", "base"):
        (tmp_path / "backups" / kind).mkdir(parents=True)
    (tmp_path / "state").mkdir()
    (tmp_path / "metrics").mkdir()
    conf = tmp_path / "pgbackrest.conf"
    conf.write_text(u"[global]\nrepo1-s3-key-secret=%s\n" % SECRET)
    alerts = tmp_path / "alerts.log"
    script = tmp_path / "alert.sh"
    script.write_text(u'#!/bin/sh\n{ echo "$PGOPS_ALERT_EVENT|$PGOPS_ALERT_CHECK|$PGOPS_ALERT_SUBJECT|$PGOPS_ALERT_CLUSTER"; '
                      u'cat; } >> %s\n' % alerts)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    config = {
        "host": "db1", "cluster": {"name": "15/main", "socket_dir": "/run/postgresql", "port": 5432,
                                   "data_directory": str(data)},
        "tool": "pgbackrest", "stanza": "main", "rpo_seconds": 120,
        "repositories": [{"index": 1, "name": "local", "schedule": {"full": "30 1 * * 0", "diff": "30 1 * * 1-6",
                                                                    "incr": "", "expire": ""}},
                         {"index": 2, "name": "offsite", "schedule": {"full": "30 1 * * 0", "diff": "", "incr": "",
                                                                      "expire": ""}}],
        "local_backups": {"root": str(tmp_path / "backups"), "schedules": {"logical": "0 2 * * *", "base": ""}},
        "pgbackrest_log_dir": str(tmp_path), "state_dir": str(tmp_path / "state"),
        "status_file": str(tmp_path / "state" / "status.json"), "metrics_file": str(tmp_path / "metrics" / "pgops.prom"),
        "drill_file": str(tmp_path / "drill.json"), "secret_files": [str(conf)],
        "settings": {"alert_command": [str(script)], "alert_repeat": "1h"},
    }
    info = fixture_text("pgbackrest/info-two-repos-pg15.captured.json")
    return {"tmp": tmp_path, "config": config, "data": data, "alerts": alerts, "info": info, "calls": []}


def write_manifest(lab, kind, label, finished):
    path = lab["tmp"] / "backups" / kind / label
    path.mkdir()
    (path / "manifest.json").write_text(json.dumps({"kind": kind, "label": label, "status": "complete",
                                                    "started": finished, "finished": finished}))


def run_once(lab, now, row, check_rc=0, check_err=""):
    def run(argv, timeout=None):
        lab["calls"].append(argv)
        if argv[-1] == "info":
            return 0, lab["info"], ""
        return check_rc, "", check_err

    conn = FakeConnection(row, SETTINGS)
    mon = monitor.Monitor(lab["config"], FakeHost(run), now=now, connect=lambda *args: conn)
    status = mon.once()
    assert conn.closed
    return status


def alerts(lab):
    return lab["alerts"].read_text() if lab["alerts"].exists() else ""


def results(status):
    return dict(("%s:%s" % (r["check"], r["subject"]), r) for r in status["results"])


def test_a_healthy_run_writes_status_and_metrics_and_alerts_nothing(lab):
    # the fixture's newest backups stopped 2026-11-26 05:51; a logical backup from 02:00 today
    write_manifest(lab, "logical", "20261126T020000Z", "2026-11-26T02:10:00Z")
    (lab["tmp"] / "drill.json").write_text(json.dumps({"passed": True, "finished": "2026-11-26T06:00:00Z"}))
    status = run_once(lab, NOW, archiver())
    assert status["ok"], status["failing"]
    found = results(status)
    assert set(found) == {"archiving:wal", "backlog:pg_wal", "freshness:local/full", "freshness:local/diff",
                          "freshness:offsite/full", "freshness:local/logical", "drill:latest", "tool:pgbackrest",
                          "wal_dropped:archive"}
    assert json.loads((lab["tmp"] / "state" / "status.json").read_text())["ok"] is True
    metrics = (lab["tmp"] / "metrics" / "pgops.prom").read_text()
    assert 'pgops_backup_check_failing{check="archiving",cluster="15/main"' in metrics
    assert 'pgops_backup_age_seconds{cluster="15/main",kind="logical",repository="local"' in metrics
    assert alerts(lab) == ""
    assert ["pgbackrest", "--stanza=main", "check"] in lab["calls"]
    # no temporary file is left next to the metrics
    assert os.listdir(str(lab["tmp"] / "metrics")) == ["pgops.prom"]


def test_archiving_failure_alerts_once_then_recovers(lab):
    write_manifest(lab, "logical", "20261126T020000Z", "2026-11-26T02:10:00Z")
    run_once(lab, NOW, archiver(failed_count=2, failed_at="2026-11-26 07:00:00+00",
                                archived_at="2026-11-26 07:19:30+00"))
    for index in range(3):
        (lab["data"] / "pg_wal" / "archive_status" / ("00000001000000000000003%d.ready" % index)).write_text(u"")
    status = run_once(lab, NOW + 60, archiver(failed_count=16, failed_at="2026-11-26 07:20:55+00"))
    assert "archiving:wal" in status["failing"]
    text = alerts(lab)
    assert text.startswith("failing|archiving|wal|15/main\n")
    assert "archiving failed 14 times since 07:20:55" in text and "last success 07:19:30" in text
    assert "3 segments waiting" in text
    run_once(lab, NOW + 120, archiver(failed_count=20, failed_at="2026-11-26 07:21:50+00"))
    assert alerts(lab).count("failing|archiving") == 1  # not repeated within alert_repeat
    status = run_once(lab, NOW + 180, archiver(failed_count=20, failed_at="2026-11-26 07:21:50+00",
                                               archived_at="2026-11-26 07:22:50+00"))
    assert "archiving:wal" not in status["failing"]
    assert "recovered|archiving|wal|15/main\nRECOVERED archiving wal on db1 (15/main) after 2m" in alerts(lab)


def test_tool_errors_are_redacted_and_checked_hourly(lab):
    status = run_once(lab, NOW, archiver(), check_rc=82, check_err="ERROR: [082]: key %s refused" % SECRET)
    assert "tool:pgbackrest" in status["failing"]
    text = alerts(lab)
    assert "[082]" in text and SECRET not in text
    assert SECRET not in (lab["tmp"] / "state" / "status.json").read_text()
    calls = len(lab["calls"])
    run_once(lab, NOW + 60, archiver())
    assert ["pgbackrest", "--stanza=main", "check"] not in lab["calls"][calls:]


def test_stale_logical_backup_and_failed_drill(lab):
    write_manifest(lab, "logical", "20261123T020000Z", "2026-11-23T02:10:00Z")
    # an unfinished backup never counts
    partial = lab["tmp"] / "backups" / "logical" / ".partial-20261126T020000Z"
    partial.mkdir()
    (partial / "manifest.json").write_text(json.dumps({"kind": "logical", "status": "complete",
                                                       "finished": "2026-11-26T02:10:00Z"}))
    (lab["tmp"] / "drill.json").write_text(json.dumps({"passed": False, "finished": "2026-11-26T06:00:00Z",
                                                       "checks": [], "error": "restore failed: no backup"}))
    status = run_once(lab, NOW, archiver())
    assert "freshness:local/logical" in status["failing"] and "drill:latest" in status["failing"]
    assert "restore failed: no backup" in alerts(lab)
    assert "newest logical backup in local is 3d5h old (20261123T020000Z" in alerts(lab)


def test_missing_archive_command_program(lab):
    conn = FakeConnection(archiver(), [("archive_mode", "on", None), ("archive_command", "/nonexistent/push %p", None),
                                       ("archive_timeout", "60", "s"), ("max_wal_size", "1024", "MB")])
    mon = monitor.Monitor(lab["config"], FakeHost(lambda argv, timeout=None: (0, lab["info"], "")), now=NOW, connect=lambda *args: conn)
    status = mon.once()
    assert "archiving:wal" in status["failing"]
    assert "/nonexistent/push was not found" in alerts(lab)


def test_unreadable_cluster(lab):
    def refuse(*args):
        raise RuntimeError("connection refused")

    mon = monitor.Monitor(lab["config"], FakeHost(lambda argv, timeout=None: (0, lab["info"], "")), now=NOW, connect=refuse)
    status = mon.once()
    assert status["up"] is False and "archiving:wal" in status["failing"]
    assert "pgops_backup_up{" in (lab["tmp"] / "metrics" / "pgops.prom").read_text()


def test_dropped_wal_in_the_log(lab, zone):
    # pgBackRest stamps its log in the host's zone: 08:19:03 in Berlin is 07:19:03 UTC, 57 s before NOW
    zone("CET-1CEST,M3.5.0,M10.5.0/3")
    (lab["tmp"] / "main-archive-push-async.log").write_text(
        u"2026-11-26 08:19:03.456 P00   WARN: dropped WAL file '000000010000000000000028' because archive queue "
        u"exceeded 16MB\n")
    status = run_once(lab, NOW, archiver())
    assert "wal_dropped:archive" in status["failing"]
    assert results(status)["wal_dropped:archive"]["figures"]["last_drop"] == NOW - 57
    assert "last 000000010000000000000028 at 07:19:03" in results(status)["wal_dropped:archive"]["message"]
    assert "pgops_backup_wal_dropped_total{" in (lab["tmp"] / "metrics" / "pgops.prom").read_text()
    # read once: the next run counts no new drop
    status = run_once(lab, NOW + 60, archiver())
    assert results(status)["wal_dropped:archive"]["figures"]["dropped_total"] == 1


def test_main_reports_a_bad_configuration(tmp_path):
    path = tmp_path / "monitor.json"
    path.write_text(u'{"settings": {"alert_repeat": "often"}, "state_dir": "/tmp"}')
    host = FakeHost()
    assert monitor.main([str(path)], host) == 2
    assert "monitoring_alert_repeat" in host.err[0]


def test_missing_program_lookup(tmp_path):
    assert observe.missing_program("sh -c 'exit 1'") is None
    assert observe.missing_program("pgbackrest-nope --stanza=main archive-push %p") == "pgbackrest-nope"
    assert observe.missing_program("") is None


def test_a_hanging_repository_delays_no_archiving_alert_and_is_asked_again(lab):
    write_manifest(lab, "logical", "20261126T020000Z", "2026-11-26T02:10:00Z")
    order = []

    def run(argv, timeout=None):
        order.append(argv[-1])
        if argv[-1] == "info":
            assert alerts(lab).startswith("failing|archiving|wal"), "archiving was not alerted before the listing"
            assert timeout == monitor.INVENTORY_TIMEOUT
            return 124, "", "pgbackrest timed out after 30s"
        return 0, "", ""

    row = archiver(failed_count=3, failed_at="2026-11-26 07:19:50+00")
    conn = FakeConnection(row, SETTINGS)
    status = monitor.Monitor(lab["config"], FakeHost(run), now=NOW, connect=lambda *args: conn).once()
    assert "freshness:offsite/full" in status["failing"]
    assert "timed out" in results(status)["freshness:offsite/full"]["message"]
    conn = FakeConnection(row, SETTINGS)
    mon = monitor.Monitor(lab["config"], FakeHost(run), now=NOW + 60, connect=lambda *args: conn)
    mon.once()
    assert order.count("info") == 2


def test_local_backups_reads_back_from_the_newest_label(lab):
    write_manifest(lab, "logical", "20261125T020000Z", "2026-11-25T02:10:00Z")
    write_manifest(lab, "logical", "20261126T020000Z", "2026-11-26T02:10:00Z")
    broken = lab["tmp"] / "backups" / "logical" / "20261126T030000Z"
    broken.mkdir()
    (broken / "manifest.json").write_text(u"{not json")
    found = observe.local_backups(str(lab["tmp"] / "backups"), "logical")
    assert [b["label"] for b in found] == ["20261126T020000Z"]
    assert observe.local_backups(str(lab["tmp"] / "nowhere"), "logical") == []


def test_the_inventory_is_read_again_within_its_interval_only_while_a_repository_is_not_ok(lab, fixture_text):
    # make demo's first minutes: the monitor ran before the first backup, and went on reporting "no valid backups"
    # from its cache for inventory_interval (5m) after the backup
    write_manifest(lab, "logical", "20261126T020000Z", "2026-11-26T02:10:00Z")
    lab["info"] = fixture_text("pgbackrest/info-missing-stanza.handwritten.json")
    row = archiver()
    info = ["pgbackrest", "--stanza=main", "--output=json", "info"]
    run_once(lab, NOW, row)
    lab["info"] = fixture_text("pgbackrest/info-two-repos-pg15.captured.json")
    status = run_once(lab, NOW + 60, row)
    assert lab["calls"].count(info) == 2
    assert results(status)["freshness:local/full"]["figures"]["label"] == "20261126-055056F"
    run_once(lab, NOW + 120, row)
    assert lab["calls"].count(info) == 2  # all ok: the cached inventory serves
