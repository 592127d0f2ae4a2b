# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's checks, alert state machine and metrics, over observations."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import os
import re

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.cron import max_interval
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets
from ansible_collections.pgops.backup.plugins.module_utils.monitoring import alerts, checks, metrics, observe, settings

NOW = 1795677600  # 2026-11-26 07:20:00 UTC
HOUR, DAY = 3600, 86400
SETTINGS = settings.monitor_settings({})


def row(archived_at, failed_at=None, failed_count=0, archived_count=40):
    return {"archived_count": archived_count, "last_archived_wal": "000000010000000000000028",
            "last_archived_time": archived_at, "failed_count": failed_count,
            "last_failed_wal": "000000010000000000000029" if failed_at else None, "last_failed_time": failed_at,
            "stats_reset": "2026-11-25 00:00:00+00"}


class TestSettings:
    def test_defaults(self):
        assert SETTINGS["interval_seconds"] == 60
        assert SETTINGS["alert_repeat_seconds"] == 3600
        assert SETTINGS["tool_check_interval_seconds"] == 3600
        assert SETTINGS["checks"] == list(settings.CHECKS)

    @pytest.mark.parametrize("raw, variable", [
        ({"alert_repeat": "often"}, "monitoring_alert_repeat"),
        ({"interval": "0s"}, "monitoring_interval"),
        ({"interval": "2h"}, "monitoring_interval"),
        ({"wal_size_factor": 0.5}, "monitoring_wal_size_factor"),
        ({"wal_fs_fraction": 1.5}, "monitoring_wal_fs_fraction"),
        ({"ready_max": 0}, "monitoring_ready_max"),
        ({"ready_max": "ten"}, "monitoring_ready_max"),
        ({"checks": ["archiving", "bogus"]}, "monitoring_checks"),
        ({"checks": []}, "monitoring_checks"),
        ({"alert_command": ""}, "monitoring_alert_command"),
        ({"alert_command": ["curl", 3]}, "monitoring_alert_command"),
        ({"colour": "red"}, "monitoring_colour"),
    ])
    def test_bad_values_name_the_variable(self, raw, variable):
        with pytest.raises(PolicyError) as err:
            settings.monitor_settings(raw)
        assert err.value.variable == variable

    @pytest.mark.parametrize("command, variable, found", [
        ("curl -d @- https://alerts\x00", "monitoring_alert_command", "a NUL byte at character 26"),
        ("logger -t pgops\r", "monitoring_alert_command", "a carriage return at character 16"),
        (["/usr/bin/logger", "-t\x1b"], "monitoring_alert_command[1]", "control character 0x1b at character 3"),
    ])
    def test_a_control_character_in_the_alert_command_is_refused(self, command, variable, found):
        with pytest.raises(PolicyError) as err:
            settings.monitor_settings({"alert_command": command})
        assert err.value.variable == variable
        assert str(err.value).startswith("%s: holds %s" % (variable, found)), str(err.value)

    @pytest.mark.parametrize("command", ["logger -t pgops\nmail -s alert ops", ["/bin/sh", "-c", "a\n\tb"]])
    def test_an_alert_command_may_span_lines(self, command):
        assert settings.monitor_settings({"alert_command": command})["alert_command"] == command

    def test_checks_in_canonical_order(self):
        assert settings.monitor_settings({"checks": ["drill", "archiving"]})["checks"] == ["archiving", "drill"]


class TestScheduleGaps:
    @pytest.mark.parametrize("expressions, seconds", [
        (["30 1 * * 0"], 7 * DAY),
        (["30 1 * * 0", "30 1 * * 1-6"], DAY),
        (["*/15 2-4 * * *"], 21 * HOUR + 15 * 60),
        (["@daily"], DAY),
        (["0 3 1 * *"], 31 * DAY),
        (["0 3 1 * mon"], 7 * DAY),  # day or weekday, as cron reads it
        (["* * * * *"], 60),
    ])
    def test_longest_gap(self, expressions, seconds):
        assert max_interval(expressions) == seconds

    def test_off(self):
        assert max_interval(["", None]) is None


class TestArchiving:
    def test_ok(self):
        res, keep = checks.check_archiving(row("2026-11-26 07:19:00+00"), NOW, 60, 120)
        assert res["status"] == checks.OK
        assert keep["baseline_failed_count"] == 0
        assert res["figures"]["age_limit_seconds"] == 120

    def test_failure_newer_than_success_names_the_figures(self):
        previous = {"failed_count": 3, "baseline_failed_count": 0, "stats_reset": "2026-11-25T00:00:00+00:00",
                    "failing_since": NOW - 300}
        res, keep = checks.check_archiving(row("2026-11-26 07:10:00+00", "2026-11-26 07:19:50+00", 14), NOW, 60,
                                           120, previous, ready=37)
        assert res["status"] == checks.FAILING
        assert res["figures"]["new_failures"] == 11
        assert "failed 14 times since 07:15:00" in res["message"]
        assert "last success 07:10:00" in res["message"]
        assert "37 segments waiting" in res["message"]
        assert keep["baseline_failed_count"] == 0 and keep["failing_since"] == NOW - 300

    def test_recovered_within_the_interval_is_ok_and_counts(self):
        previous = {"failed_count": 3, "baseline_failed_count": 0, "stats_reset": "2026-11-25T00:00:00+00:00"}
        res, keep = checks.check_archiving(row("2026-11-26 07:19:55+00", "2026-11-26 07:19:30+00", 5), NOW, 60,
                                           120, previous)
        assert res["status"] == checks.OK
        assert res["figures"]["new_failures"] == 2
        assert keep["baseline_failed_count"] == 5

    def test_stats_reset_forgets_the_previous_count(self):
        previous = {"failed_count": 30, "stats_reset": "2026-11-01T00:00:00+00:00"}
        res, dummy = checks.check_archiving(row("2026-11-26 07:19:00+00", failed_count=2), NOW, 60, 120, previous)
        assert res["figures"]["new_failures"] == 0

    def test_missing_program_fails_at_once(self):
        res, dummy = checks.check_archiving(row("2026-11-26 07:19:00+00"), NOW, 60, 120, ready=1, oldest_ready=NOW - 5,
                                            command_missing="/usr/bin/nothing")
        assert res["status"] == checks.FAILING
        assert "/usr/bin/nothing was not found" in res["message"]

    def test_segment_waiting_too_long(self):
        res, dummy = checks.check_archiving(row("2026-11-26 07:00:00+00"), NOW, 60, 300, ready=2,
                                            oldest_ready=NOW - 400)
        assert res["status"] == checks.FAILING
        assert "400s old, more than the 300s pg_backup_rpo 5m allows (archive_timeout 60s + 240s to ship it)" \
            in res["message"], res["message"]
        assert res["figures"]["rpo_seconds"] == 300

    def test_the_limit_of_a_short_rpo_keeps_a_minute_to_ship(self):
        # pg_backup_rpo 1m: archive_timeout 30s, and at least a minute to ship the segment it forced
        res, dummy = checks.check_archiving(row("2026-11-26 07:00:00+00"), NOW, 30, 60, ready=1,
                                            oldest_ready=NOW - 95)
        assert res["figures"]["age_limit_seconds"] == 90
        assert "95s old, more than the 90s pg_backup_rpo 60s allows (archive_timeout 30s + 60s to ship it)" \
            in res["message"], res["message"]

    def test_idle_cluster_is_not_failing(self):
        # nothing waits: an old last archived segment means no WAL was written
        res, dummy = checks.check_archiving(row("2026-11-25 07:00:00+00"), NOW, 60, 120)
        assert res["status"] == checks.OK


class TestBacklog:
    def test_ok(self):
        res = checks.check_backlog(3, 200 << 20, 1 << 30, 10 << 30, SETTINGS)
        assert res["status"] == checks.OK
        assert res["figures"]["pg_wal_limit_bytes"] == 2 << 30

    def test_too_many_ready(self):
        res = checks.check_backlog(17, 300 << 20, 1 << 30, 10 << 30, SETTINGS)
        assert res["status"] == checks.FAILING and "17 segments wait" in res["message"]

    def test_limit_follows_free_space(self):
        res = checks.check_backlog(0, 600 << 20, 1 << 30, 400 << 20, SETTINGS)
        assert res["figures"]["pg_wal_limit_bytes"] == 500 << 20
        assert res["status"] == checks.FAILING and "pg_wal holds 600 MB" in res["message"]


class TestFreshness:
    SCHEDULE = {"full": "30 1 * * 0", "diff": "30 1 * * 1-6", "incr": "", "expire": "45 3 * * *"}

    def test_allowed_age(self):
        assert checks.allowed_age(self.SCHEDULE, "full", HOUR) == 7 * DAY + HOUR
        assert checks.allowed_age(self.SCHEDULE, "diff", HOUR) == DAY + HOUR
        assert checks.allowed_age(self.SCHEDULE, "incr", HOUR) is None

    def test_a_full_backup_serves_diff(self):
        backups = [{"label": "F", "type": "full", "stop": NOW - 2 * HOUR}]
        assert checks.check_freshness("offsite", "diff", backups, DAY, NOW)["status"] == checks.OK

    def test_stale(self):
        backups = [{"label": "F", "type": "full", "stop": NOW - 3 * DAY},
                   {"label": "E", "type": "full", "stop": NOW - HOUR, "error": True}]
        res = checks.check_freshness("offsite", "full", backups, DAY + HOUR, NOW)
        assert res["status"] == checks.FAILING
        assert "is 3d0h old (F" in res["message"] and "allows 25h00m" in res["message"]
        assert res["figures"]["age_seconds"] == 3 * DAY

    def test_none(self):
        res = checks.check_freshness("offsite", "full", [], DAY, NOW)
        assert res["status"] == checks.FAILING and "no full backup in offsite" in res["message"]

    def test_unreadable_repository(self):
        res = checks.check_freshness("offsite", "full", [], DAY, NOW, status="error (other)")
        assert res["status"] == checks.FAILING and "cannot be read" in res["message"]

    def test_a_local_backup_satisfies_its_own_kind(self):
        manifest = {"kind": "logical", "label": "20261126T010203Z", "status": "complete",
                    "started": "2026-11-26T01:02:03Z", "finished": "2026-11-26T01:12:03Z"}
        backup = backup_sets.inventory_entry({"label": manifest["label"], "path": "/x", "manifest": manifest})
        assert backup["kind"] == "logical" and backup["stop"] - backup["start"] == 600
        res = checks.check_freshness("local", "logical", [backup], DAY, backup["stop"] + 60)
        assert res["status"] == checks.OK, res
        assert checks.check_freshness("local", "base", [backup], DAY, backup["stop"] + 60)["status"] == checks.FAILING


class TestDrillToolDrops:
    DRILL = {"version": 1, "passed": False, "started": "2026-11-26T06:00:00Z", "finished": "2026-11-26T06:05:00Z",
             "backup_label": "20261126-010203F", "rto_seconds": 300.5,
             "checks": [{"name": "amcheck", "passed": True}, {"name": "rows", "passed": False}], "error": None}

    def test_failed_drill_names_the_failed_checks(self):
        res = checks.check_drill(self.DRILL)
        assert res["status"] == checks.FAILING and "failed checks: rows" in res["message"]

    def test_drill_error_message(self):
        res = checks.check_drill(dict(self.DRILL, error="restore failed: no backup"))
        assert "restore failed: no backup" in res["message"]

    def test_passed_and_absent(self):
        assert checks.check_drill(dict(self.DRILL, passed=True))["status"] == checks.OK
        assert checks.check_drill(None)["status"] == checks.UNKNOWN
        assert checks.check_drill({"unreadable": "x"})["status"] == checks.FAILING

    def test_tool(self):
        assert checks.check_tool("pgbackrest", None)["status"] == checks.UNKNOWN
        res = checks.check_tool("pgbackrest", {"ran_at": NOW, "ok": False, "message": "ERROR: [082]: timeout"})
        assert res["status"] == checks.FAILING and "[082]" in res["message"]

    def test_drops_from_pgbackrest_log(self, zone):
        zone("UTC0")
        log = ("2026-11-26 07:01:02.123 P00   INFO: push 1 WAL file(s) to archive: 000000010000000000000027\n"
               "2026-11-26 07:02:03.456 P00   WARN: dropped WAL file '000000010000000000000028' because archive "
               "queue exceeded 16MB\n")
        drops = observe.parse_drops(log)
        assert drops == [(1795676523, "000000010000000000000028")]
        res = checks.check_wal_dropped(1, drops[0][0], drops[0][1], NOW - DAY)
        assert res["status"] == checks.FAILING and "point-in-time recovery is broken" in res["message"]
        assert checks.check_wal_dropped(1, drops[0][0], drops[0][1], NOW)["status"] == checks.OK


def dropped_at(stamp):
    return observe.parse_drops("%s P00   WARN: dropped WAL file '000000010000000000000028' because archive queue "
                               "exceeded 16MB\n" % stamp)[0][0]


class TestDropStampsAreTheHostsLocalTime:
    BERLIN = "CET-1CEST,M3.5.0,M10.5.0/3"
    NEW_YORK = "EST5EDT,M3.2.0,M11.1.0"

    def test_east_of_utc_in_winter(self, zone):
        zone(self.BERLIN)
        assert dropped_at("2026-11-26 08:02:03.456") == calendar.timegm((2026, 11, 26, 7, 2, 3))

    def test_east_of_utc_in_summer_time(self, zone):
        zone(self.BERLIN)
        assert dropped_at("2026-07-01 14:00:00.000") == calendar.timegm((2026, 7, 1, 12, 0, 0))

    def test_west_of_utc_a_drop_before_the_newest_backup_is_not_hidden(self, zone):
        # 23:30 in New York on the 25th is 04:30 UTC on the 26th: after a backup that stopped at 04:00 UTC
        zone(self.NEW_YORK)
        drop = dropped_at("2026-11-25 23:30:00.000")
        assert drop == calendar.timegm((2026, 11, 26, 4, 30, 0))
        backup_stop = calendar.timegm((2026, 11, 26, 4, 0, 0))
        assert checks.check_wal_dropped(1, drop, "000000010000000000000028", backup_stop)["status"] == checks.FAILING

    def test_the_days_summer_time_starts_and_ends(self, zone):
        zone(self.BERLIN)
        # 2026-03-29: 01:59 CET, then 03:00 CEST
        assert dropped_at("2026-03-29 01:59:00.000") == calendar.timegm((2026, 3, 29, 0, 59, 0))
        assert dropped_at("2026-03-29 03:00:00.000") == calendar.timegm((2026, 3, 29, 1, 0, 0))
        # 2026-10-25: 03:00 CEST becomes 02:00 CET; 03:30 is after it
        assert dropped_at("2026-10-25 03:30:00.000") == calendar.timegm((2026, 10, 25, 2, 30, 0))

    def test_the_zone_is_restored_after_each_test(self):
        assert os.environ.get("TZ") not in (self.BERLIN, self.NEW_YORK)


def failing(check="archiving"):
    return checks.result(check, "wal", checks.FAILING, "archiving failed 3 times")


def passing(check="archiving"):
    return checks.result(check, "wal", checks.OK, "archiving works")


class TestAlerts:
    def test_turning_failing_alerts_once_then_repeats_after_the_interval(self):
        state, sent = alerts.advance_alerts({}, [failing()], NOW, HOUR)
        assert [n["event"] for n in sent] == ["failing"]
        state, sent = alerts.advance_alerts(state, [failing()], NOW + 60, HOUR)
        assert sent == []
        state, sent = alerts.advance_alerts(state, [failing()], NOW + HOUR, HOUR)
        assert [n["event"] for n in sent] == ["repeat"] and sent[0]["since"] == NOW

    def test_recovery(self):
        state, dummy = alerts.advance_alerts({}, [failing()], NOW, HOUR)
        state, sent = alerts.advance_alerts(state, [passing()], NOW + 300, HOUR)
        assert [n["event"] for n in sent] == ["recovered"]
        text = alerts.alert_text(sent[0], "db1", "15/main", NOW + 300)
        assert text.startswith("RECOVERED archiving wal on db1 (15/main) after 5m")
        state, sent = alerts.advance_alerts(state, [passing()], NOW + 360, HOUR)
        assert sent == []

    def test_passing_from_the_start_sends_nothing(self):
        assert alerts.advance_alerts({}, [passing()], NOW, HOUR)[1] == []

    def test_undelivered_is_sent_again(self):
        state, sent = alerts.advance_alerts({}, [failing()], NOW, HOUR)
        state = alerts.undelivered(state, sent[0])
        state, sent = alerts.advance_alerts(state, [failing()], NOW + 60, HOUR)
        assert [n["event"] for n in sent] == ["repeat"]
        state, sent = alerts.advance_alerts(state, [passing()], NOW + 120, HOUR)
        state = alerts.undelivered(state, sent[0])
        state, sent = alerts.advance_alerts(state, [passing()], NOW + 180, HOUR)
        assert [n["event"] for n in sent] == ["recovered"]

    def test_unknown_keeps_the_state(self):
        state, dummy = alerts.advance_alerts({}, [failing("drill")], NOW, HOUR)
        unknown = checks.result("drill", "wal", checks.UNKNOWN, "no drill")
        state, sent = alerts.advance_alerts(state, [unknown], NOW + 60, HOUR)
        assert sent == [] and state["drill:wal"]["status"] == checks.FAILING

    def test_failing_text(self):
        dummy, sent = alerts.advance_alerts({}, [failing()], NOW, HOUR)
        assert alerts.alert_text(sent[0], "db1", "15/main", NOW) == (
            "FAILING archiving wal on db1 (15/main) since 2026-11-26 07:20:00Z: archiving failed 3 times")


class TestMetrics:
    def test_text_format(self):
        res, dummy = checks.check_archiving(row("2026-11-26 07:19:00+00"), NOW, 60, 120, ready=2)
        fresh = checks.check_freshness("off\"site", "full", [{"label": "F", "type": "full", "stop": NOW - HOUR}],
                                       DAY, NOW)
        drill = checks.check_drill(None)
        text = metrics.render_metrics([res, fresh, drill], {"cluster": "15/main", "stanza": "main", "tool": "pgbackrest"},
                                      True, NOW, 0.25)
        assert 'pgops_backup_check_failing{check="archiving",cluster="15/main",stanza="main",subject="wal",' \
               'tool="pgbackrest"} 0' in text
        assert 'pgops_backup_age_seconds{cluster="15/main",kind="full",repository="off\\"site",stanza="main",' \
               'tool="pgbackrest"} 3600' in text
        assert "pgops_backup_monitor_duration_seconds{" in text and "} 0.25" in text
        assert 'check="drill"' not in text  # unknown: no sample rather than a false 0
        for line in text.splitlines():
            assert line.startswith("#") or re.match(r'^[a-z_]+\{[^}]*\} -?[0-9.e+]+$', line), line
        names = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
        assert ("pgops_backup_archived_count", "counter") in names
