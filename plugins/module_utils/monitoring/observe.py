# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the monitor observes on the host, without judging it: pg_stat_archiver and the settings, the
archive_status listing, pg_wal's size, local backups, the drill's JSON, pgBackRest's dropped-WAL log lines
and the secrets to redact. The monitoring check and pg_backup_info share these."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shlex
import shutil
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import as_datetime, to_epoch
from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets

_DROP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d+)?\s.*dropped WAL file '([0-9A-F]{24})' "
                      r"because archive queue exceeded")
ARCHIVER_TIMES = ("last_archived_time", "last_failed_time", "stats_reset")
SETTINGS_SQL = ("SELECT name, setting, unit FROM pg_settings WHERE name IN "
                "('archive_mode', 'archive_command', 'archive_timeout', 'max_wal_size', 'data_directory')")
_UNIT_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1 << 20, "16MB": 16 << 20, "GB": 1 << 30}
# option names whose values are secrets in pgbackrest.conf and .walg.json
_SECRET_WORDS = ("key", "pass", "secret", "token")


def secret_values(paths):
    """The secret values in the tools' configuration files, to redact from anything the monitor says."""
    secrets = []
    for path in paths or []:
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError):
            continue
        if path.endswith(".json"):
            try:
                items = json.loads(text).items()
            except (ValueError, AttributeError):
                items = []
        else:
            items = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
        secrets += [str(v).strip() for k, v in items
                    if any(w in str(k).lower() for w in _SECRET_WORDS) and len(str(v).strip()) >= 4]
    return secrets


def settings_of(rows):
    """pg_settings rows as {name: value}, sizes in bytes and times in seconds."""
    settings = {}
    for row in rows:
        value, unit = row["setting"], row.get("unit")
        if unit in _UNIT_BYTES:
            value = int(value) * _UNIT_BYTES[unit]
        elif unit == "s":
            value = int(value)
        elif unit == "min":
            value = int(value) * 60
        settings[row["name"]] = value
    return settings


def missing_program(archive_command, path=None):
    """The program archive_command runs when it does not exist (or is not executable), else None."""
    try:
        words = shlex.split(archive_command or "")
    except ValueError:
        return None
    if not words:
        return None
    program = words[0]
    if "/" in program:
        return None if os.access(program, os.X_OK) else program
    found = shutil.which(program, path=path or os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin")
    return None if found else program


def ready_files(data_directory):
    """(count, oldest mtime or None) of the .ready files in pg_wal/archive_status."""
    count, oldest = 0, None
    for entry in os.scandir(os.path.join(data_directory, "pg_wal", "archive_status")):
        if entry.name.endswith(".ready"):
            count += 1
            mtime = entry.stat().st_mtime
            oldest = mtime if oldest is None else min(oldest, mtime)
    return count, oldest


def pg_wal_usage(data_directory):
    """(bytes in pg_wal, bytes free on its filesystem for an unprivileged user)."""
    path = os.path.join(data_directory, "pg_wal")
    size = sum(e.stat().st_size for e in os.scandir(path) if e.is_file(follow_symlinks=False))
    stat = os.statvfs(path)
    return size, stat.f_bavail * stat.f_frsize


def local_backups(root, kind):
    """The newest complete logical or base backup under root/kind, in the inventory's shape, as a list of one
    (or none)."""
    newest = backup_sets.newest_backup(root, kind)
    return [backup_sets.inventory_entry(newest)] if newest else []


def read_json(path):
    """A JSON file's content; None when it does not exist, {'unreadable': message} when it is not JSON."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError):
        return None
    except ValueError as exc:
        return {"unreadable": str(exc)}


def local_epoch(stamp):
    """Epoch seconds of 'YYYY-MM-DD HH:MM:SS' read in the host's time zone, as pgBackRest writes its log stamps:
    mktime applies the zone's offset at that moment, summer time included. The stamps carry no offset, so the hour
    that repeats when summer time ends is ambiguous; mktime takes one of the two (glibc: the later)."""
    return int(time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")))


def parse_drops(text):
    """(epoch seconds, segment) of each WAL segment pgBackRest dropped because archive-push-queue-max was
    exceeded, from its archive-push logs, whose stamps are the host's local time."""
    drops = []
    for line in text.splitlines():
        match = _DROP_RE.search(line)
        if match:
            drops.append((local_epoch(match.group(1)), match.group(2)))
    return drops


def scan_drops(log_dir, stanza, previous):
    """New drops in pgBackRest's archive-push logs since the last run: (drops, offsets to keep)."""
    offsets, drops = {}, []
    for path in sorted(glob.glob(os.path.join(log_dir, "%s-archive-push*.log" % stanza))):
        try:
            stat = os.stat(path)
            seen = (previous or {}).get(path) or {}
            start = seen.get("offset", 0) if seen.get("inode") == stat.st_ino and seen.get("offset", 0) <= stat.st_size else 0
            with open(path, "rb") as handle:
                handle.seek(start)
                text = handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            continue
        drops += parse_drops(text)
        offsets[path] = {"inode": stat.st_ino, "offset": start + len(text.encode("utf-8"))}
    return drops, offsets


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
