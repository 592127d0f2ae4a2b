# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore over a server's own data directory settles before it changes anything: the running server's
WAL archived (so the end of the archive is known, not guessed from the clock), a target inside that archive,
and whatever pg_wal holds that the archive lacks kept aside, since a delta restore replaces pg_wal."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import PG_STAT_ARCHIVER_SQL
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import lsn_value
from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import to_epoch
from ansible_collections.pgops.backup.plugins.module_utils.core.wal import parse_segment, previous_segment, segment_size

POLL_SECONDS = 2
KEPT_WAL_FORMAT = "%Y%m%dT%H%M%SZ"
# pg_switch_wal() returns the end of the segment it closed, and pg_walfile_name() of it names that segment; but when
# the current segment is empty the switch does nothing and returns a position inside that open segment, which is
# never archived until something is written: INSERT_SQL, read after the switch, settles which segment is closed
SWITCH_SQL = ("SELECT pg_walfile_name(s.lsn) AS segment, s.lsn::text AS lsn, "
              "extract(epoch FROM clock_timestamp())::float8 AS epoch, "
              "pg_snapshot_xmax(pg_current_snapshot())::text AS next_xid FROM (SELECT pg_switch_wal() AS lsn) s")
POSITION_SQL = ("SELECT pg_walfile_name(pg_current_wal_lsn()) AS segment, pg_current_wal_lsn()::text AS lsn, "
                "extract(epoch FROM clock_timestamp())::float8 AS epoch, "
                "pg_snapshot_xmax(pg_current_snapshot())::text AS next_xid")
INSERT_SQL = ("SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment, "
              "current_setting('wal_segment_size') AS segment_size")


def _holds(end, segment):
    """Whether an archive ending at segment ``end`` holds ``segment`` (names sort by timeline, then position)."""
    return end is not None and end >= segment


def _switch(conn, query):
    """The switch's position, its segment the last closed one: the segment before the one now being written
    bounds it (a switch of an empty segment closes nothing; the closed one is then the segment before it)."""
    position = query(conn, SWITCH_SQL)[0]
    inserting = query(conn, INSERT_SQL)[0]
    closed = previous_segment(inserting["segment"], segment_size(inserting["segment_size"]))
    return dict(position, segment=min(position["segment"], closed))


def archive_wal(session, archive_end, timeout, switch=True, clock=time.time, sleep=time.sleep):
    """Close the running server's current WAL segment and wait until the archive holds it.

    session(action) runs action(conn, query) on the server; archive_end() reads the newest segment the
    repositories hold. Returns {'segment', 'lsn', 'time' (epoch), 'next_xid', 'archive_end_segment'}: the archive
    then holds every commit made before 'time', 'lsn' and 'next_xid'. With switch=False (check mode) nothing is
    switched and nothing waited for: the position is the server's current one. ToolError when the archive does
    not receive the segment within timeout seconds, with what pg_stat_archiver says about it.
    """
    position = session(_switch if switch else lambda conn, query: query(conn, POSITION_SQL)[0])
    result = {"segment": position["segment"], "lsn": position["lsn"], "time": float(position["epoch"]),
              "next_xid": int(position["next_xid"]), "archive_end_segment": None}
    if not switch:
        result["archive_end_segment"] = archive_end()
        return result
    deadline, end = clock() + timeout, None
    while True:
        archiver = session(lambda conn, query: query(conn, PG_STAT_ARCHIVER_SQL)[0])
        if _holds(archiver["last_archived_wal"], result["segment"]):
            end = archive_end()
            if _holds(end, result["segment"]):
                result["archive_end_segment"] = end
                return result
        if clock() >= deadline:
            if end is None:
                try:
                    end = archive_end()
                except ToolError:
                    end = None
            failed = ""
            if archiver.get("last_failed_wal"):
                failed = "; PostgreSQL's archiver last failed on %s at %s" % (
                    archiver["last_failed_wal"], archiver["last_failed_time"])
            raise ToolError("the archive did not receive WAL segment %s within %d s (PostgreSQL last archived %s%s; "
                            "the repositories' newest segment is %s), so the end of the archive is not known; nothing "
                            "was stopped or changed. Fix archiving (pgops.backup's monitor shows why it fails), then "
                            "restore again" % (result["segment"], timeout, archiver.get("last_archived_wal") or "nothing",
                                               failed, end or "unknown"))
        sleep(POLL_SECONDS)


def check_within_archive(target, archived):
    """target, when the archive that ``archived`` (archive_wal's result) describes reaches it; ValueError
    otherwise, naming where the archive ends. Names and 'immediate' cannot be judged here: recovery proves them."""
    kind, value = target["type"], target.get("value")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(archived["time"]))
    if kind == "time" and to_epoch(value) > archived["time"]:
        raise ValueError("target.value: '%s' is after the end of the archive: the server's WAL was archived through "
                         "%s (segment %s); restore to latest, or to a time before that" % (value, when, archived["segment"]))
    if kind == "lsn" and lsn_value(value) > lsn_value(archived["lsn"]):
        raise ValueError("target.value: LSN %s is after the end of the archive, %s (segment %s, archived at %s)"
                         % (value, archived["lsn"], archived["segment"], when))
    if kind == "xid" and int(value) >= int(archived["next_xid"]):
        raise ValueError("target.value: transaction %s had not started when the server's WAL was archived (at %s the "
                         "next transaction id was %s)" % (value, when, archived["next_xid"]))
    return target


def unarchived_wal(pg_wal, archive_end):
    """The files of pg_wal the archive may lack, oldest first: segments (and .partial ones) not at or before the
    archive's end on its timeline or an earlier one, timeline history files of later timelines, and every
    segment PostgreSQL still marks .ready. Every WAL file when the end of the archive is unknown."""
    try:
        names = sorted(os.listdir(pg_wal))
    except OSError:
        return []
    try:
        ready = set(n[:-len(".ready")] for n in os.listdir(os.path.join(pg_wal, "archive_status")) if n.endswith(".ready"))
    except OSError:
        ready = set()
    end = parse_segment(archive_end) if archive_end else None
    kept = []
    for name in names:
        if not os.path.isfile(os.path.join(pg_wal, name)):
            continue
        if name.endswith(".history"):
            try:
                timeline = int(name[:8], 16)
            except ValueError:
                continue
            if end is None or timeline > end[0] or name in ready:
                kept.append(name)
            continue
        try:
            timeline, number = parse_segment(name)
        except ValueError:
            continue  # not WAL: PostgreSQL's temporary files
        if end is None or name in ready or name.endswith(".partial") or timeline > end[0] or number > end[1]:
            kept.append(name)
    return kept


def keep_unarchived_wal(data_directory, archive_end, now=None):
    """Copy what pg_wal holds that the archive lacks to '<data_directory>.wal-kept-<UTC time>' beside it, each file
    synced to disk, before a restore replaces pg_wal. {'directory', 'files'}; directory None when nothing needed
    keeping. The copies stay until the user removes them."""
    pg_wal = os.path.join(data_directory, "pg_wal")
    names = unarchived_wal(pg_wal, archive_end)
    if not names:
        return {"directory": None, "files": []}
    now = time.time() if now is None else now
    directory = "%s.wal-kept-%s" % (data_directory.rstrip("/"), time.strftime(KEPT_WAL_FORMAT, time.gmtime(now)))
    os.makedirs(directory, 0o700)
    for name in names:
        destination = os.path.join(directory, name)
        shutil.copyfile(os.path.join(pg_wal, name), destination)
        with open(destination, "rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"directory": directory, "files": names}
