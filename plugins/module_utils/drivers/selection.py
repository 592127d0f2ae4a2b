# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backup serves a request, from the normalized backups of BackupTool.inventory(): whether one is fresh
enough to skip another, which one a recovery target starts from, and the one table of which backup type
satisfies which kind. Pure functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.core.targets import lsn_value, normalize_target
from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import as_datetime, to_epoch

# The one table of which backup satisfies which request: a full backup serves every kind; wal-g's deltas
# serve diff and incr; a local (logical or base) backup is whole, and serves its own kind.
SATISFYING_TYPES = {"full": ("full",), "diff": ("full", "diff", "delta"), "incr": ("full", "diff", "incr", "delta"),
                    "delta": ("full", "delta"), "logical": ("logical",), "base": ("base",)}
# The schedules whose runs produce a backup that satisfies each kind.
SATISFYING_SCHEDULES = {"full": ("full",), "diff": ("full", "diff"), "incr": ("full", "diff", "incr")}


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
        lsn = lsn_value(target["value"])
        usable = [b for b in usable if b.get("lsn_stop") and lsn_value(b["lsn_stop"]) <= lsn]
    return _newest(usable)


def satisfies(backup, kind):
    """Whether a backup (of the inventory's shape) makes a new one of kind unnecessary. A local backup's
    'kind' (logical, base) is what it is; a tool's backup is its 'type'."""
    accepted = SATISFYING_TYPES.get(kind, (kind,))
    return backup.get("type") in accepted or backup.get("kind") in accepted


def satisfying(backups, backup_type):
    """The backups that make a new one of backup_type unnecessary (with max_age)."""
    return [b for b in backups if satisfies(b, backup_type)]
