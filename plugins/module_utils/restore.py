# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore decides before any tool runs: the recovery target, the state of the data directory, the
marker that makes a repeated restore a no-op, and a free port for a scratch cluster. Pure functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import socket
import time

from ansible_collections.pgops.backup.plugins.module_utils.timestamps import TIMESTAMP_RE, parse_timestamp, to_epoch

TARGET_TYPES = ("latest", "time", "lsn", "xid", "name", "immediate")
# the types that carry a value, and the recovery_target_* setting each one becomes
VALUE_TARGETS = ("time", "lsn", "xid", "name")
TARGET_ACTIONS = ("promote", "pause", "shutdown")
TIME_EXAMPLE = "2026-11-26 10:15:00+00"
LSN_EXAMPLE = "0/3000060"
# pg_create_restore_point refuses longer names (MAXFNAMELEN - 1)
MAX_RESTORE_POINT_NAME = 63
MARKER_SUFFIX = ".pgops-restore.json"
MARKER_VERSION = 1
SOCKET_DIR = "/var/run/postgresql"

_LSN_RE = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def _time_value(value):
    text = value.strip()
    match = TIMESTAMP_RE.match(text)
    fraction = match.group(7) if match else None
    try:
        if not match or (fraction is not None and len(fraction) > 6):
            raise ValueError(text)
        parsed = parse_timestamp(text)
    except ValueError:
        raise ValueError("target.value: '%s' is not a time; use %s" % (value, TIME_EXAMPLE))
    if parsed.tzinfo is None:
        raise ValueError("target.value: '%s' names no time zone, and pgBackRest and PostgreSQL would each read it "
                         "in their own; add one, as in %s (UTC) or %s+01:00"
                         % (value, TIME_EXAMPLE, TIME_EXAMPLE[:-3]))
    return text


def normalize_target(target):
    """{'type', 'value'} of a recovery target; None means latest. ValueError names what is wrong.

    time: 'YYYY-MM-DD HH:MM:SS[.ffffff]' with a zone (Z, +HH, +HHMM or +HH:MM), or the ISO 'T' form; the
    user's text is kept as the value (recovery_time() gives the form the tools take). lsn: '0/3000060'.
    xid: a whole number. name: a restore point name. latest and immediate take no value.
    """
    if target is None:
        return {"type": "latest", "value": None}
    if not isinstance(target, dict):
        raise ValueError("target: expected a dictionary with type and value, got %r" % (target,))
    unknown = sorted(set(target) - set(("type", "value")))
    if unknown:
        raise ValueError("target: unknown key(s) %s; use type and value" % ", ".join(unknown))
    kind = target.get("type") or "latest"
    if kind not in TARGET_TYPES:
        raise ValueError("target.type: '%s' is not one of %s" % (kind, ", ".join(TARGET_TYPES)))
    value = target.get("value")
    if isinstance(value, bool):
        raise ValueError("target.value: %r is not a recovery target" % (value,))
    if value is not None and not hasattr(value, "strip"):
        value = str(value)  # a number: an xid, most likely
    if value is not None and not value.strip():
        value = None
    if kind not in VALUE_TARGETS:
        if value is not None:
            raise ValueError("target type '%s' takes no value, got '%s'" % (kind, value))
        return {"type": kind, "value": None}
    if value is None:
        raise ValueError("target type '%s' needs a value" % kind)
    if kind == "time":
        value = _time_value(value)
    elif kind == "lsn":
        value = value.strip()
        if not _LSN_RE.match(value):
            raise ValueError("target.value: '%s' is not an LSN; an LSN looks like %s" % (value, LSN_EXAMPLE))
    elif kind == "xid":
        value = value.strip()
        if not value.isdigit() or int(value) == 0:
            raise ValueError("target.value: '%s' is not a transaction id; an xid is a whole number above 0"
                             % (value,))
        value = str(int(value))
    elif len(value) > MAX_RESTORE_POINT_NAME:
        raise ValueError("target.value: a restore point name has at most %d characters, '%s' has %d"
                         % (MAX_RESTORE_POINT_NAME, value, len(value)))
    return {"type": kind, "value": value}


def recovery_time(value):
    """A time target in the one form pgBackRest takes (it refuses the 'T' and 'Z' of ISO 8601) and PostgreSQL
    reads alike: 'YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM]'."""
    match = TIMESTAMP_RE.match(str(value or "").strip())
    if not match:
        raise ValueError("target.value: '%s' is not a time; use %s" % (value, TIME_EXAMPLE))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    text = "%s-%s-%s %s:%s:%s" % (year, month, day, hour, minute, second)
    if fraction:
        text += "." + fraction
    if zone in ("Z", "z"):
        zone = "+00"
    elif zone and len(zone) == 5:  # +HHMM
        zone = "%s:%s" % (zone[:3], zone[3:])
    return text + (zone or "")


def check_reachable(target, now=None):
    """target, when the archive can reach it; ValueError for a time after now (no archive reaches into the
    future, so PostgreSQL would replay every segment and then refuse to start: refused before anything changes).
    """
    now = time.time() if now is None else now
    if target["type"] == "time" and to_epoch(target["value"]) > now:
        raise ValueError("target.value: '%s' is after the end of the archive (the newest WAL cannot be newer than "
                         "now, %s UTC); restore to latest, or to a time in the past"
                         % (target["value"], time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))))
    return target


def check_target_action(action):
    """What PostgreSQL does when it reaches the target: promote, pause or shutdown; ValueError otherwise."""
    if action not in TARGET_ACTIONS:
        raise ValueError("target_action: '%s' is not one of %s" % (action, ", ".join(TARGET_ACTIONS)))
    return action


def check_backup_label(label):
    """A backup label as the tools print them; refuses what a tool could read as an option or a path."""
    text = str(label or "")
    if not _LABEL_RE.match(text):
        raise ValueError("backup: %r is not a backup label (such as 20261126-055056F or "
                         "base_000000010000000000000006)" % (label,))
    return text


def check_data_directory(path):
    text = str(path or "")
    if not text.startswith("/"):
        raise ValueError("data_directory: %r is not an absolute path" % (path,))
    return os.path.normpath(text)


def data_directory_state(path):
    """'missing', 'empty', 'stopped' or 'running'.

    running: postmaster.pid names a live process (a pid reused by another process counts as running too:
    a restore waits rather than overwrite a live cluster). ValueError when the path is not a directory.
    """
    if not os.path.lexists(path):
        return "missing"
    if not os.path.isdir(path):
        raise ValueError("data_directory: %s exists and is not a directory" % path)
    if not os.listdir(path):
        return "empty"
    pid = _postmaster_pid(os.path.join(path, "postmaster.pid"))
    if pid is not None and _alive(pid):
        return "running"
    return "stopped"


def _postmaster_pid(pid_file):
    try:
        with open(pid_file) as handle:
            first = handle.readline().strip()
    except (IOError, OSError):
        return None
    if not first.isdigit() or int(first) <= 0:
        return None  # 0 or a negative pid would signal a process group
    return int(first)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.EPERM:  # alive, owned by another user
            return True
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True


def marker_path(data_directory):
    """'<parent>/.<basename>.pgops-restore.json': next to the data directory, never in it, since a delta restore
    removes every file the backup does not hold."""
    path = os.path.normpath(str(data_directory))
    parent, base = os.path.split(path)
    return os.path.join(parent, "." + base + MARKER_SUFFIX)


def read_marker(data_directory):
    """The record of the last restore into ``data_directory``; None when there is none or it is not a JSON object."""
    try:
        with open(marker_path(data_directory)) as handle:
            record = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_marker(data_directory, record):
    """Write the record atomically (a temporary file renamed over the marker), readable by its owner only."""
    path = marker_path(data_directory)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            fd = None
            json.dump(record, handle, sort_keys=True, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
    except Exception:
        if fd is not None:
            os.close(fd)
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return path


def clear_marker(data_directory):
    """Forget an earlier restore before a new one starts, so a failed restore never looks like a done one."""
    try:
        os.remove(marker_path(data_directory))
    except OSError:
        pass


def restore_record(tool, stanza, backup_label, target):
    """What the marker stores about a restore; a module may add fields (when, by whom) before writing it."""
    return {
        "version": MARKER_VERSION,
        "tool": tool,
        "stanza": stanza,
        "backup": backup_label,
        "target": normalize_target(target),
    }


def _target_key(target):
    try:
        target = normalize_target(target)
    except ValueError:
        return ("invalid", repr(target))
    if target["type"] == "time":
        # the same instant written two ways is the same target
        return ("time", to_epoch(parse_timestamp(target["value"])))
    return (target["type"], target["value"])


def same_restore(marker, record):
    """Whether the marker records the restore that ``record`` asks for: same tool, stanza, backup and target."""
    if not isinstance(marker, dict) or not isinstance(record, dict):
        return False
    for key in ("tool", "stanza", "backup"):
        if marker.get(key) != record.get(key):
            return False
    return _target_key(marker.get("target")) == _target_key(record.get("target"))


def _bindable(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except (socket.error, OSError):
        return False
    finally:
        sock.close()
    return True


def free_port(start=5499, end=5599, socket_dir=SOCKET_DIR, extra_socket_dirs=()):
    """The first port from start to end (both included) that no cluster uses: no .s.PGSQL.<port> socket in
    socket_dir or extra_socket_dirs, and bindable on 127.0.0.1 (the test socket is closed again)."""
    dirs = [d for d in [socket_dir] + list(extra_socket_dirs or ()) if d]
    for port in range(int(start), int(end) + 1):
        if any(os.path.lexists(os.path.join(d, ".s.PGSQL.%d" % port)) for d in dirs):
            continue
        if _bindable(port):
            return port
    raise ValueError("no free port from %d to %d: each has a PostgreSQL socket in %s or is in use"
                     % (int(start), int(end), " or ".join(dirs) or "no socket directory"))
