# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Timestamps as the tools and PostgreSQL print them, read without dateutil (module_utils run on old Pythons).

'2026-11-26T06:11:22.064029Z' (wal-g, RFC 3339, up to 9 fraction digits from Go), '2026-11-26 06:11:23.286908+00'
(PostgreSQL's timestamptz text) and '2026-11-26 10:15:00+01:00' all parse to an aware datetime.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import re
from numbers import Real

# date, time, optional fraction (. or ,), optional zone: Z, +HH, +HHMM or +HH:MM
TIMESTAMP_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ Tt](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
                          r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$")


class FixedOffset(datetime.tzinfo):
    """A zone that is a fixed number of minutes east of UTC (datetime.timezone is Python 3 only)."""

    def __init__(self, minutes):
        super(FixedOffset, self).__init__()
        self._offset = datetime.timedelta(minutes=minutes)
        self._minutes = minutes

    def utcoffset(self, dt):
        return self._offset

    def dst(self, dt):
        return datetime.timedelta(0)

    def tzname(self, dt):
        sign = "-" if self._minutes < 0 else "+"
        return "%s%02d:%02d" % (sign, abs(self._minutes) // 60, abs(self._minutes) % 60)

    def __repr__(self):
        return "FixedOffset(%d)" % self._minutes


UTC = FixedOffset(0)


def zone_minutes(zone):
    """Minutes east of UTC of 'Z', '+02', '-0530' or '+05:30'; None when there is no zone."""
    if not zone:
        return None
    if zone in ("Z", "z"):
        return 0
    digits = zone[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return -minutes if zone[0] == "-" else minutes


def parse_timestamp(text):
    """An aware datetime from ``text`` (naive when it names no zone); ValueError when it is no timestamp.

    Fractions beyond microseconds (Go prints nanoseconds) are cut, not rounded.
    """
    match = TIMESTAMP_RE.match(str(text or "").strip())
    if not match:
        raise ValueError("%r is not a timestamp" % (text,))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    minutes = zone_minutes(zone)
    if minutes is not None and abs(minutes) >= 24 * 60:
        raise ValueError("%r has a zone offset of a day or more" % (text,))
    tzinfo = None if minutes is None else FixedOffset(minutes)
    return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo)


def to_epoch(value):
    """Seconds since the epoch (a float) of an aware datetime, a timestamp text, or a number (returned as is).

    A naive datetime counts as UTC. None stays None.
    """
    if value is None:
        return None
    if isinstance(value, Real) and not isinstance(value, bool):
        return value
    if not isinstance(value, datetime.datetime):
        value = parse_timestamp(value)
    if value.tzinfo is not None:
        value = value - value.utcoffset()
    return calendar.timegm(value.timetuple()[:6]) + value.microsecond / 1000000.0


def epoch_seconds(value):
    """Whole seconds since the epoch (the fraction cut) of what to_epoch takes; None stays None."""
    seconds = to_epoch(value)
    if seconds is None:
        return None
    return int(seconds // 1)


def as_datetime(value):
    """An aware datetime of a datetime (naive counts as UTC), a timestamp text or epoch seconds; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, Real) and not isinstance(value, bool):
        return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=value)
    parsed = parse_timestamp(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
