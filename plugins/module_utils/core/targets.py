# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore inputs: recovery targets as users write them (time, LSN, xid, restore point, immediate, latest), checked once and
put in the form the tools take; backup labels and data directories. Pure functions: the drivers and the restore paths share them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import (
    TIMESTAMP_RE, parse_timestamp, to_epoch)

TARGET_TYPES = ("latest", "time", "lsn", "xid", "name", "immediate")
# the types that carry a value, and the recovery_target_* setting each one becomes
VALUE_TARGETS = ("time", "lsn", "xid", "name")
TARGET_ACTIONS = ("promote", "pause", "shutdown")
TIME_EXAMPLE = "2026-11-26 10:15:00+00"
LSN_EXAMPLE = "0/3000060"
# pg_create_restore_point refuses longer names (MAXFNAMELEN - 1)
MAX_RESTORE_POINT_NAME = 63

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


# recovery_target_* for each target type that carries a value
RECOVERY_TARGET_SETTINGS = {"time": "recovery_target_time", "lsn": "recovery_target_lsn",
                            "xid": "recovery_target_xid", "name": "recovery_target_name"}


def recovery_target_settings(target, target_action):
    """The postgresql.auto.conf settings that stop recovery at a normalized target and do target_action there; none
    for latest, which replays the whole archive (in standby mode, so PostgreSQL never promotes by itself)."""
    settings = {}
    if target["type"] in RECOVERY_TARGET_SETTINGS:
        value = recovery_time(target["value"]) if target["type"] == "time" else target["value"]
        settings[RECOVERY_TARGET_SETTINGS[target["type"]]] = value
    elif target["type"] == "immediate":
        settings["recovery_target"] = "immediate"
    if target["type"] != "latest":
        settings["recovery_target_action"] = check_target_action(target_action)
    return settings


def lsn_value(text):
    """An LSN 'X/Y' as the number PostgreSQL compares."""
    high, dummy, low = str(text).partition("/")
    return (int(high, 16) << 32) + int(low, 16)


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


def target_key(target):
    try:
        target = normalize_target(target)
    except ValueError:
        return ("invalid", repr(target))
    if target["type"] == "time":
        # the same instant written two ways is the same target
        return ("time", to_epoch(parse_timestamp(target["value"])))
    return (target["type"], target["value"])
