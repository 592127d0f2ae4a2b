# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Barman's JSON output (``barman -f json <command>``) read the same way for 3.4 (Debian 12) and 3.13 (Debian 13).

Every difference between the two versions' output stays here (docs/design/barman.md, section 0, from the lab's own
Barman; tests/unit/fixtures/barman). Each document is ``{SERVER: ...}``; Barman's messages sit under top-level keys
that start with ``_`` (``_ERROR``, ``_WARNING``, ...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError

DONE = "DONE"
_SEGMENT_RE = re.compile(r"^[0-9A-F]{24}$")
# the application_name of Barman's receive-wal (its streaming_archiver_name default)
RECEIVE_WAL_NAME = "barman_receive_wal"
# show-backup's backup_type (3.13; 3.4 has none: every backup is full) in BackupTool.inventory()'s words
BACKUP_TYPES = {"full": "full", "rsync": "full", "snapshot": "full", "incremental": "incr"}


def server_section(text, server, command):
    """The part of ``barman -f json <command>``'s document that is the server's; ToolError naming the command when
    the output is not Barman's JSON, holds an error, or lacks the server."""
    try:
        data = json.loads(text or "")
    except ValueError:
        raise ToolError("barman %s did not print JSON: %s" % (command, (text or "").strip()[:300]))
    if not isinstance(data, dict):
        raise ToolError("barman %s printed %r, not a document" % (command, type(data).__name__))
    errors = [str(message) for key in ("_ERROR", "_EXCEPTION") for message in data.get(key) or []]
    if errors:
        raise ToolError("barman %s: %s" % (command, "; ".join(errors)))
    if server not in data:
        raise ToolError("barman %s does not know server %s (it lists %s)" % (
            command, server, ", ".join(sorted(k for k in data if not k.startswith("_"))) or "none"))
    return data[server]


def _int(value):
    """Barman prints epoch seconds as strings ('1796312783') and sizes as numbers; None stays None."""
    if value in (None, "", "None"):
        return None
    return int(float(value))


def backup_labels(text, server):
    """The ids of the server's backups that are DONE, oldest first, from ``list-backups``; the others (STARTED,
    WAITING_FOR_WALS, FAILED) have no end and no WAL range to offer a restore."""
    backups = server_section(text, server, "list-backups")
    done = [b for b in backups if isinstance(b, dict) and b.get("status") == DONE]
    done.sort(key=lambda b: (_int(b.get("end_time_timestamp")) or 0, b.get("backup_id")))
    return [b["backup_id"] for b in done]


def inventory_backup(text, server, repository=1):
    """One backup in BackupTool.inventory()'s form, from ``show-backup SERVER ID``. The size is the cluster's (3.13's
    cluster_size) or, on 3.4, which has none, the backup's; the repository size is what the backup occupies
    (3.13 backup_size, 3.4 disk_usage)."""
    backup = server_section(text, server, "show-backup")
    base = backup.get("base_backup_information") or {}
    catalog = backup.get("catalog_information") or {}
    stored = base.get("backup_size_bytes", base.get("disk_usage_bytes"))
    start, stop = _int(base.get("begin_time_timestamp")), _int(base.get("end_time_timestamp"))
    kind = BACKUP_TYPES.get(backup.get("backup_type") or "full", "full")
    return {
        "label": backup.get("backup_id"),
        "type": kind,
        "prior": catalog.get("parent_backup_id") if kind == "incr" else None,
        "start": start,
        "stop": stop,
        "duration": stop - start if start is not None and stop is not None else None,
        "size": _int(backup.get("cluster_size_bytes", stored)),
        "repository_size": _int(stored),
        "lsn_start": base.get("begin_lsn"),
        "lsn_stop": base.get("end_lsn"),
        "wal_start": base.get("begin_wal"),
        "wal_stop": base.get("end_wal"),
        "error": backup.get("status") != DONE,
        "repository": repository,
    }


def newest_archived_segment(text):
    """The newest WAL segment in Barman's archive, on any timeline, from ``sync-info SERVER`` (its xlogdb as JSON;
    show-backup's last_available counts the backup's own timeline only, so after a restore it would end the archive
    at the old timeline); None without one. Newest: the highest timeline's latest, as recovery_target_timeline
    latest replays it."""
    try:
        data = json.loads(text or "")
        names = [str(wal["name"]) for wal in data["wals"]]
    except (ValueError, KeyError, TypeError):
        raise ToolError("barman sync-info did not print its catalog: %s" % (text or "").strip()[:300])
    segments = [name for name in names if _SEGMENT_RE.match(name)]
    return max(segments) if segments else None


def streaming_directory(text, server):
    """Where receive-wal writes (its .partial segment), from ``show-server``."""
    directory = server_section(text, server, "show-server").get("streaming_wals_directory")
    if not directory:
        raise ToolError("barman show-server names no streaming_wals_directory for %s" % server)
    return directory


def checks(text, server):
    """``barman check``'s results: [{'name', 'ok', 'hint'}], in Barman's order; the name is Barman's key
    (postgresql, receive_wal_running, replication_slot, ...)."""
    found = server_section(text, server, "check")
    return [{"name": name, "ok": result.get("status") == "OK", "hint": result.get("hint") or ""}
            for name, result in found.items() if isinstance(result, dict)]


def receive_wal_lag(text, server, application_name=RECEIVE_WAL_NAME):
    """How far receive-wal is behind the server, from ``replication-status --target wal-streamer``:
    {'flushed_bytes', 'written_bytes', 'sent_bytes'} behind the server's current LSN (Barman prints each as a
    negative difference), or None when no receive-wal of that application_name is attached."""
    status = server_section(text, server, "replication-status")
    for streamer in status.get("wal_streamers") or []:
        if streamer.get("application_name") == application_name:
            return dict(("%s_bytes" % word, max(0, -int(streamer.get("%s_lsn_diff_bytes" % kind) or 0)))
                        for word, kind in (("flushed", "flush"), ("written", "write"), ("sent", "sent")))
    return None
