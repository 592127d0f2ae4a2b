# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions over inventory backups and pg_stat_archiver: a fresh backup, the backup for a target, archiving state."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import FixedOffset, UTC
from ansible_collections.pgops.backup.plugins.module_utils.drivers.selection import backup_for_target, fresh_backup
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.observe import archiver_state

NOW = 1795677600  # 2026-11-26 07:20:00 UTC
HOUR = 3600


def backup(label, stop, repository=1, error=False, lsn_stop="0/5000100", duration=60):
    return {"label": label, "type": "full", "start": stop - duration, "stop": stop, "duration": duration,
            "error": error, "repository": repository, "lsn_stop": lsn_stop}


BACKUPS = [
    backup("old", NOW - 30 * HOUR, lsn_stop="0/3000100"),
    backup("repo2", NOW - 10, repository=2, lsn_stop="0/7000100"),
    backup("recent", NOW - 2 * HOUR, lsn_stop="0/5000100"),
    backup("broken", NOW - 60, error=True, lsn_stop="0/6000100"),
]


class TestFreshBackup:
    def test_newest_within_max_age(self):
        assert fresh_backup(BACKUPS, 3 * HOUR, NOW, repository=1)["label"] == "recent"

    def test_any_repository(self):
        assert fresh_backup(BACKUPS, 3 * HOUR, NOW)["label"] == "repo2"

    def test_error_backups_are_ignored(self):
        assert fresh_backup(BACKUPS, 120, NOW, repository=1) is None
        assert fresh_backup([backup("broken", NOW, error=True)], HOUR, NOW) is None

    def test_exactly_at_the_boundary_counts(self):
        assert fresh_backup(BACKUPS, 2 * HOUR, NOW, repository=1)["label"] == "recent"
        assert fresh_backup(BACKUPS, 2 * HOUR - 1, NOW, repository=1) is None

    def test_other_repository_only(self):
        assert fresh_backup(BACKUPS, 60, NOW, repository=2)["label"] == "repo2"
        assert fresh_backup(BACKUPS, 3 * HOUR, NOW, repository=3) is None

    def test_nothing_fresh(self):
        assert fresh_backup(BACKUPS, 5, NOW) is None
        assert fresh_backup([], HOUR, NOW) is None

    def test_float_now_and_aware_datetime(self):
        assert fresh_backup(BACKUPS, 2 * HOUR, NOW + 0.9, repository=1) is None
        when = datetime.datetime(2026, 11, 26, 8, 20, tzinfo=FixedOffset(60))
        assert fresh_backup(BACKUPS, 2 * HOUR, when, repository=1)["label"] == "recent"

    def test_ties_go_to_the_later_listed(self):
        twins = [backup("first", NOW - 10), backup("second", NOW - 10)]
        assert fresh_backup(twins, HOUR, NOW)["label"] == "second"


class TestBackupForTarget:
    def test_latest_and_others_take_the_newest(self):
        for target in (None, {"type": "immediate"}, {"type": "xid", "value": "7"}, {"type": "name", "value": "x"}):
            assert backup_for_target(BACKUPS, target, repository=1)["label"] == "recent"

    def test_time_takes_the_newest_that_stopped_before_it(self):
        # 2026-11-26 05:00:00+00 is NOW - 2h20m: only "old" stopped before it
        assert backup_for_target(BACKUPS, {"type": "time", "value": "2026-11-26 05:00:00+00"})["label"] == "old"
        assert backup_for_target(BACKUPS, {"type": "time", "value": "2026-11-26T06:00:00+01:00"})["label"] == "old"
        assert backup_for_target(BACKUPS, {"type": "time", "value": "2026-11-26T06:30:00+01:00"})["label"] == "recent"
        assert backup_for_target(BACKUPS, {"type": "time", "value": "2026-11-26 07:19:59Z"})["label"] == "repo2"
        assert backup_for_target(BACKUPS, {"type": "time", "value": "2026-11-26 07:19:59Z"},
                                 repository=1)["label"] == "recent"

    def test_time_at_the_stop_itself_is_too_early(self):
        stop = datetime.datetime.fromtimestamp(NOW - 2 * HOUR, UTC).strftime("%Y-%m-%d %H:%M:%S+00")
        assert backup_for_target(BACKUPS, {"type": "time", "value": stop}, repository=1)["label"] == "old"

    def test_lsn(self):
        assert backup_for_target(BACKUPS, {"type": "lsn", "value": "0/5000100"})["label"] == "recent"
        assert backup_for_target(BACKUPS, {"type": "lsn", "value": "0/50000FF"})["label"] == "old"
        assert backup_for_target(BACKUPS, {"type": "lsn", "value": "1/0"})["label"] == "repo2"

    def test_none_fits(self):
        assert backup_for_target(BACKUPS, {"type": "time", "value": "2020-01-01 00:00:00+00"}) is None
        assert backup_for_target([], None) is None

    def test_bad_target(self):
        with pytest.raises(ValueError, match="needs a value"):
            backup_for_target(BACKUPS, {"type": "lsn"})


def at(hour, minute=0, second=0):
    return datetime.datetime(2026, 11, 26, hour, minute, second, tzinfo=UTC)


def row(**overrides):
    values = dict(archived_count=42, last_archived_wal="000000010000000000000008", last_archived_time=at(7, 19),
                  failed_count=0, last_failed_wal=None, last_failed_time=None, stats_reset=at(5, 50))
    values.update(overrides)
    return values


class TestArchiverState:
    def test_healthy(self):
        assert archiver_state(row(), NOW) == {
            "archived_count": 42, "last_archived_wal": "000000010000000000000008",
            "last_archived_time": "2026-11-26T07:19:00+00:00", "failed_count": 0, "last_failed_wal": None,
            "last_failed_time": None, "stats_reset": "2026-11-26T05:50:00+00:00",
            "last_archived_age_seconds": 60, "failing": False}

    def test_failure_older_than_the_last_success(self):
        state = archiver_state(row(failed_count=3, last_failed_wal="000000010000000000000005",
                                   last_failed_time=at(7, 0)), NOW)
        assert state["failing"] is False and state["failed_count"] == 3
        assert state["last_failed_time"] == "2026-11-26T07:00:00+00:00"

    def test_failure_newer_than_the_last_success(self):
        state = archiver_state(row(failed_count=1, last_failed_wal="000000010000000000000009",
                                   last_failed_time=at(7, 19, 30)), NOW)
        assert state["failing"] is True and state["last_failed_wal"] == "000000010000000000000009"

    def test_failure_at_the_same_instant_is_not_failing(self):
        assert archiver_state(row(failed_count=1, last_failed_time=at(7, 19)), NOW)["failing"] is False

    def test_failed_and_nothing_ever_archived(self):
        state = archiver_state(row(archived_count=0, last_archived_wal=None, last_archived_time=None,
                                   failed_count=12, last_failed_wal="000000010000000000000001",
                                   last_failed_time=at(7, 19)), NOW)
        assert state["failing"] is True and state["last_archived_age_seconds"] is None
        assert state["last_archived_time"] is None

    def test_failed_count_alone_with_nothing_archived(self):
        assert archiver_state(row(archived_count=0, last_archived_wal=None, last_archived_time=None,
                                  failed_count=1), NOW)["failing"] is True

    def test_new_cluster_with_nothing_yet(self):
        state = archiver_state(row(archived_count=0, last_archived_wal=None, last_archived_time=None,
                                   stats_reset=None), NOW)
        assert state["failing"] is False and state["last_archived_age_seconds"] is None
        assert state["stats_reset"] is None

    def test_other_zones_compare_as_instants(self):
        plus_two = FixedOffset(120)
        state = archiver_state(row(last_archived_time=datetime.datetime(2026, 11, 26, 9, 19, tzinfo=plus_two),
                                   failed_count=1, last_failed_time=at(7, 18)), NOW)
        assert state["failing"] is False and state["last_archived_age_seconds"] == 60
        assert state["last_archived_time"] == "2026-11-26T09:19:00+02:00"

    def test_now_as_datetime_and_age_never_negative(self):
        assert archiver_state(row(), at(7, 29, 30))["last_archived_age_seconds"] == 630
        assert archiver_state(row(), at(7, 0))["last_archived_age_seconds"] == 0

    def test_fractional_seconds_are_cut(self):
        assert archiver_state(row(), NOW + 0.99)["last_archived_age_seconds"] == 60

    def test_text_as_psql_prints_it(self):
        state = archiver_state({"archived_count": "42", "last_archived_wal": "000000010000000000000008",
                                "last_archived_time": "2026-11-26 07:19:00.123456+00", "failed_count": "0",
                                "last_failed_wal": "", "last_failed_time": "", "stats_reset": ""}, NOW)
        assert state["archived_count"] == 42 and state["failed_count"] == 0
        assert state["last_archived_time"] == "2026-11-26T07:19:00.123456+00:00"
        assert state["last_archived_age_seconds"] == 59
        assert state["last_failed_wal"] is None and state["failing"] is False


# the one table (monitoring's freshness reads it too): wal-g takes a delta where diff or incr is scheduled
@pytest.mark.parametrize("wanted,served", [
    ("full", ["F"]), ("diff", ["F", "D", "W"]), ("incr", ["F", "D", "I", "W"]), ("delta", ["F", "W"])])
def test_only_an_at_least_as_complete_backup_satisfies_a_request(wanted, served):
    from ansible_collections.pgops.backup.plugins.module_utils.drivers.selection import satisfying
    backups = [{"label": "F", "type": "full"}, {"label": "D", "type": "diff"}, {"label": "I", "type": "incr"},
               {"label": "W", "type": "delta"}]
    assert [b["label"] for b in satisfying(backups, wanted)] == served
