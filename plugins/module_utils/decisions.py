# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions the backup modules take from what the tools and PostgreSQL report: whether a backup is fresh
enough to skip another, which backup a recovery target needs, and whether WAL archiving is failing.
Pure functions over the normalized backups of BackupTool.inventory() and a pg_stat_archiver row.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.restore import normalize_target
from ansible_collections.pgops.backup.plugins.module_utils.timestamps import as_datetime, to_epoch

ARCHIVER_TIMES = ("last_archived_time", "last_failed_time", "stats_reset")


def _usable(backups, repository):
    return [b for b in backups or [] if not b.get("error")
            and (repository is None or b.get("repository") == repository)]


def _newest(backups):
    # by stop; of two that stopped in the same second, the later in the list (lists are oldest first)
    newest = None
    for backup in backups:
        if newest is None or backup["stop"] >= newest["stop"]:
            newest = backup
    return newest


def fresh_backup(backups, max_age_seconds, now, repository=None):
    """The newest backup without error that stopped at most max_age_seconds before now (epoch seconds, or an
    aware datetime), in that repository index when given; None when there is none."""
    oldest = to_epoch(as_datetime(now)) - max_age_seconds
    return _newest([b for b in _usable(backups, repository) if b.get("stop") is not None and b["stop"] >= oldest])


def _lsn_value(text):
    high, dummy, low = str(text).partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def backup_for_target(backups, target, repository=None):
    """The backup a recovery to ``target`` starts from, chosen as pgBackRest chooses when no set is given: for a
    time, the newest that stopped before it; for an LSN, the newest whose stop LSN is at or before it; for any
    other target, the newest. None when no backup fits. wal-g's backup-fetch takes LATEST or a name only, so
    a wal-g restore to a time or an LSN passes this backup's label."""
    target = normalize_target(target)
    usable = [b for b in _usable(backups, repository) if b.get("stop") is not None]
    if target["type"] == "time":
        when = to_epoch(target["value"])
        usable = [b for b in usable if b["stop"] < when]
    elif target["type"] == "lsn":
        lsn = _lsn_value(target["value"])
        usable = [b for b in usable if b.get("lsn_stop") and _lsn_value(b["lsn_stop"]) <= lsn]
    return _newest(usable)


def _count(value):
    if value is None or value == "":
        return 0
    return int(value)


def _iso(value):
    return value.isoformat() if value is not None else None


def archiver_state(row, now):
    """pg_stat_archiver, ready to report: its columns with the times as ISO 8601 text, plus
    last_archived_age_seconds (whole seconds since the last segment was archived, None when none was) and
    failing (the last failure is newer than the last success, or archiving failed and never succeeded).

    row: the view's columns; times as aware datetimes (psycopg2) or timestamptz text, counts as numbers or
    text. now: epoch seconds or an aware datetime.
    """
    times = dict((key, as_datetime(row.get(key))) for key in ARCHIVER_TIMES)
    archived, failed = times["last_archived_time"], times["last_failed_time"]
    failed_count = _count(row.get("failed_count"))
    age = None
    if archived is not None:
        age = max(0, int((to_epoch(as_datetime(now)) - to_epoch(archived)) // 1))
    if archived is None:
        failing = failed is not None or failed_count > 0
    else:
        failing = failed is not None and failed > archived
    return {
        "archived_count": _count(row.get("archived_count")),
        "last_archived_wal": row.get("last_archived_wal") or None,
        "last_archived_time": _iso(archived),
        "failed_count": failed_count,
        "last_failed_wal": row.get("last_failed_wal") or None,
        "last_failed_time": _iso(failed),
        "stats_reset": _iso(times["stats_reset"]),
        "last_archived_age_seconds": age,
        "failing": failing,
    }


# A backup satisfies a request when it is at least as complete: a full one serves every request.
_SATISFIES = {"full": ("full",), "diff": ("full", "diff"), "incr": ("full", "diff", "incr"),
              "delta": ("full", "delta")}


def satisfying(backups, backup_type):
    """The backups that make a new one of backup_type unnecessary (with max_age)."""
    accepted = _SATISFIES.get(backup_type, (backup_type,))
    return [b for b in backups if b.get("type") in accepted]
