# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before a restore over a server's own data directory: its WAL archived, the target inside the archive, and what
pg_wal holds that the archive lacks kept aside."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import restore_summary
from ansible_collections.pgops.backup.plugins.module_utils.restore.preflight import (
    INSERT_SQL, SWITCH_SQL, archive_wal, check_within_archive, keep_unarchived_wal, unarchived_wal)

SEG = "00000001000000000000000%d"


class FakeServer(object):
    """A running server whose archiver archives a segment after ``archived_after`` polls."""

    def __init__(self, archived_after=1, last_archived=SEG % 4, failed=None, switched=(SEG % 5, "0/6000000"),
                 inserting=SEG % 6):
        self.statements = []
        self.switched = switched
        self.inserting = inserting
        self.polls = 0
        self.archived_after = archived_after
        self.last_archived = last_archived
        self.failed = failed

    def session(self, action):
        return action(self, self.query)

    def query(self, conn, sql, params=None):
        self.statements.append(sql)
        if "pg_stat_archiver" in sql:
            self.polls += 1
            archived = SEG % 5 if self.polls > self.archived_after else self.last_archived
            failed_wal, failed_time = self.failed or (None, None)
            return [{"last_archived_wal": archived, "last_failed_wal": failed_wal, "last_failed_time": failed_time}]
        if sql == INSERT_SQL:
            return [{"segment": self.inserting, "segment_size": "16MB"}]
        return [{"segment": self.switched[0], "lsn": self.switched[1], "epoch": 1796200000.25, "next_xid": "742"}]


class TestArchiveWal:
    def test_switches_and_waits_until_the_archiver_and_the_repositories_hold_the_segment(self, clock):
        server = FakeServer(archived_after=2)
        ends = iter([SEG % 4, SEG % 5])
        result = archive_wal(server.session, lambda: next(ends), 60, clock=clock, sleep=clock.sleep)
        assert server.statements[:2] == [SWITCH_SQL, INSERT_SQL]
        assert result == {"segment": SEG % 5, "lsn": "0/6000000", "time": 1796200000.25, "next_xid": 742,
                          "archive_end_segment": SEG % 5}
        assert clock.now == 6  # polled every 2 s until both said so

    def test_a_switch_of_an_empty_segment_waits_for_the_segment_an_earlier_switch_closed(self, clock):
        # nothing written since the last switch: pg_switch_wal() is a no-op naming the open segment 5, which
        # is not archived until something is written; segment 4 is the newest closed one
        server = FakeServer(archived_after=10 ** 6, last_archived=SEG % 4, switched=(SEG % 5, "0/5000028"),
                            inserting=SEG % 5)
        result = archive_wal(server.session, lambda: SEG % 4, 60, clock=clock, sleep=clock.sleep)
        assert result["segment"] == SEG % 4 and result["archive_end_segment"] == SEG % 4 and clock.now == 0

    def test_times_out_naming_the_segment_and_the_archivers_last_failure(self, clock):
        server = FakeServer(archived_after=10 ** 6, failed=(SEG % 5, "2026-12-02 03:00:00+00"))
        with pytest.raises(ToolError) as caught:
            archive_wal(server.session, lambda: SEG % 4, 10, clock=clock, sleep=clock.sleep)
        message = str(caught.value)
        assert "did not receive WAL segment %s within 10 s" % (SEG % 5) in message
        assert "last archived %s" % (SEG % 4) in message and "last failed on %s" % (SEG % 5) in message
        assert "nothing was stopped or changed" in message

    def test_check_mode_switches_nothing_and_waits_for_nothing(self, clock):
        server = FakeServer(archived_after=10 ** 6)
        result = archive_wal(server.session, lambda: SEG % 4, 10, switch=False, clock=clock, sleep=clock.sleep)
        assert not any("pg_switch_wal" in sql for sql in server.statements) and clock.now == 0
        assert result["archive_end_segment"] == SEG % 4 and result["segment"] == SEG % 5


ARCHIVED = {"segment": SEG % 5, "lsn": "0/6000000", "time": 1796200000.0, "next_xid": 742}


class TestCheckWithinArchive:
    @pytest.mark.parametrize("target", [
        {"type": "time", "value": "2027-01-01 00:00:00+00"},  # well after the switch (2026-12-02 08:26:40 UTC)
        {"type": "time", "value": "2026-12-02 08:26:41+00"},
        {"type": "lsn", "value": "0/6000001"},
        {"type": "xid", "value": "742"},
    ])
    def test_after_the_end_of_the_archive_is_refused(self, target):
        with pytest.raises(ValueError) as caught:
            check_within_archive(target, ARCHIVED)
        assert str(caught.value).startswith("target.value:") and "end of the archive" in str(caught.value) or (
            "next transaction id was 742" in str(caught.value))

    @pytest.mark.parametrize("target", [
        {"type": "time", "value": "2026-12-02 08:26:39+00"}, {"type": "time", "value": "2026-12-02 09:26:39+01:00"},
        {"type": "lsn", "value": "0/6000000"}, {"type": "xid", "value": "741"},
        {"type": "name", "value": "before-upgrade"}, {"type": "latest", "value": None},
        {"type": "immediate", "value": None}])
    def test_inside_the_archive_passes(self, target):
        assert check_within_archive(target, ARCHIVED) == target


def make_pg_wal(root, names, ready=()):
    pg_wal = root / "main" / "pg_wal"
    (pg_wal / "archive_status").mkdir(parents=True)
    for name in names:
        (pg_wal / name).write_bytes(name.encode() * 4)
    for name in ready:
        (pg_wal / "archive_status" / (name + ".ready")).write_text("")
    return pg_wal


class TestUnarchivedWal:
    def test_segments_after_the_end_of_the_archive_and_later_timelines(self, tmp_path):
        pg_wal = make_pg_wal(tmp_path, [SEG % 3, SEG % 4, SEG % 5, "000000020000000000000005",
                                        "00000002.history", "00000001.history", SEG % 6 + ".partial", "xlogtemp.123"])
        assert unarchived_wal(str(pg_wal), SEG % 4) == [
            SEG % 5, SEG % 6 + ".partial", "00000002.history", "000000020000000000000005"]

    def test_a_segment_still_ready_is_kept_even_before_the_end(self, tmp_path):
        pg_wal = make_pg_wal(tmp_path, [SEG % 3, SEG % 4], ready=[SEG % 3])
        assert unarchived_wal(str(pg_wal), SEG % 4) == [SEG % 3]

    def test_everything_when_the_end_of_the_archive_is_unknown(self, tmp_path):
        pg_wal = make_pg_wal(tmp_path, [SEG % 3, "00000001.history"])
        assert unarchived_wal(str(pg_wal), None) == ["00000001.history", SEG % 3]

    def test_no_pg_wal(self, tmp_path):
        assert unarchived_wal(str(tmp_path / "gone"), SEG % 4) == []


class TestKeepUnarchivedWal:
    def test_copies_beside_the_data_directory_in_a_dated_private_directory(self, tmp_path):
        pg_wal = make_pg_wal(tmp_path, [SEG % 4, SEG % 5])
        kept = keep_unarchived_wal(str(tmp_path / "main"), SEG % 4, now=1796200000)
        assert kept == {"directory": str(tmp_path / "main.wal-kept-20261202T082640Z"), "files": [SEG % 5]}
        copy = os.path.join(kept["directory"], SEG % 5)
        assert open(copy, "rb").read() == (pg_wal / (SEG % 5)).read_bytes()
        assert stat.S_IMODE(os.stat(kept["directory"]).st_mode) == 0o700
        assert (pg_wal / (SEG % 5)).exists()  # copied, not moved: a failed restore leaves pg_wal as it was

    def test_nothing_to_keep_makes_no_directory(self, tmp_path):
        make_pg_wal(tmp_path, [SEG % 4])
        assert keep_unarchived_wal(str(tmp_path / "main"), SEG % 4, now=1796200000) == {"directory": None, "files": []}
        assert sorted(os.listdir(str(tmp_path))) == ["main"]


class FakeTool(object):
    def __init__(self, backups, archive_max=SEG % 9):
        self.backups = backups
        self.archive_max = archive_max

    def inventory(self, run):
        return {"repositories": [{"index": 1, "backups": self.backups, "archive": {"min": SEG % 1, "max": self.archive_max}}]}


BACKUPS = [
    {"label": "20261201-010000F", "start": 1796086800, "stop": 1796086900, "lsn_stop": "0/3000100", "wal_start": SEG % 2,
     "error": False, "repository": 1, "type": "full"},
    {"label": "20261201-010000F_20261202-010000I", "start": 1796173200, "stop": 1796173300, "lsn_stop": "0/5000100",
     "wal_start": SEG % 4, "error": False, "repository": 1, "type": "incr"},
]


class TestRestoreSummary:
    def test_latest_starts_from_the_newest_and_replays_to_the_end_of_the_archive(self):
        summary = restore_summary(FakeTool(BACKUPS).inventory(None), {"type": "latest", "value": None})
        assert summary == {"backup": BACKUPS[1]["label"], "wal_start": SEG % 4, "archive_end_segment": SEG % 9,
                           "stop": "at the end of the archive, %s" % (SEG % 9)}

    def test_a_time_starts_from_the_newest_backup_before_it(self):
        summary = restore_summary(FakeTool(BACKUPS).inventory(None), {"type": "time", "value": "2026-12-01 12:00:00+00"})
        assert summary["backup"] == BACKUPS[0]["label"] and summary["wal_start"] == SEG % 2
        assert summary["stop"] == "at the last commit before 2026-12-01 12:00:00+00"

    def test_a_named_backup(self):
        summary = restore_summary(FakeTool(BACKUPS).inventory(None), {"type": "xid", "value": "12"}, backup=BACKUPS[0]["label"])
        assert summary["backup"] == BACKUPS[0]["label"] and summary["stop"] == "after transaction 12"

    def test_no_backup(self):
        with pytest.raises(ToolError):
            restore_summary(FakeTool([]).inventory(None), {"type": "latest", "value": None})

    def test_a_repository_s_own_backup_and_the_end_of_its_own_archive(self):
        offsite = dict(BACKUPS[0], repository=2, label="20261201-020000F")
        inventory = FakeTool(BACKUPS).inventory(None)
        # the offsite archive lags the local one: a restore from it replays its own archive, to its own end
        inventory["repositories"].append({"index": 2, "backups": [offsite], "archive": {"min": SEG % 1, "max": SEG % 7}})
        assert restore_summary(inventory, {"type": "latest", "value": None})["archive_end_segment"] == SEG % 9
        summary = restore_summary(inventory, {"type": "latest", "value": None}, repository=2)
        assert summary["backup"] == offsite["label"] and summary["archive_end_segment"] == SEG % 7
        with pytest.raises(ToolError, match="no backup 20261201-010000F in repository 2"):
            restore_summary(inventory, {"type": "latest", "value": None}, backup=BACKUPS[0]["label"], repository=2)
