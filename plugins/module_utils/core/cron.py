# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cron schedules: one table of their fields, the check that turns an expression into ansible.builtin.cron's
fields, and the longest time a schedule leaves between two runs (how old the newest backup may grow before
the schedule has certainly been missed). Pure Python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import check_text
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError

_CRON_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day", 1, 31, None),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("weekday", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_SPECIAL = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually")


def _cron_value(token, low, high, names, variable, expr):
    if names and token.lower() in names:
        return names.index(token.lower()) + (1 if low == 1 else 0)
    if not token.isdigit() or not low <= int(token) <= high:
        raise PolicyError(variable, "%r in %r is not between %d and %d" % (token, expr, low, high))
    return int(token)


def parse_cron(expr, variable):
    """Split a five-field cron expression (or @daily and friends) into ansible.builtin.cron's fields.

    An empty string or None means the job is off and returns None.
    """
    text = (check_text(expr, variable) or "").strip()
    if not text:
        return None
    if text.startswith("@"):
        if text not in _CRON_SPECIAL:
            raise PolicyError(variable, "unknown schedule %r; use five cron fields or one of %s"
                              % (text, ", ".join(_CRON_SPECIAL)))
        return {"special_time": text[1:].replace("yearly", "annually")}
    fields = text.split()
    if len(fields) != 5:
        raise PolicyError(variable, "%r is not a cron schedule: expected 5 fields "
                          "(minute hour day month weekday), got %d" % (text, len(fields)))
    result = {}
    for field, (name, low, high, names) in zip(fields, _CRON_FIELDS):
        for item in field.split(","):
            body, slash, step = item.partition("/")
            if slash and (not step.isdigit() or int(step) == 0):
                raise PolicyError(variable, "step %r in %r must be a positive number" % (step, text))
            if body == "*":
                continue
            first, dash, last = body.partition("-")
            start = _cron_value(first, low, high, names, variable, text)
            if dash and _cron_value(last, low, high, names, variable, text) < start:
                raise PolicyError(variable, "range %r in %r runs backwards" % (body, text))
        result[name] = field
    return result


_SPECIAL = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0", "monthly": "0 0 1 * *",
            "annually": "0 0 1 1 *"}
# name -> (lowest, highest, names), from the one table above
_RANGES = dict((name, (low, high)) for name, low, high, names in _CRON_FIELDS)
_NAMES = dict((name, names) for name, low, high, names in _CRON_FIELDS if names)
# Over 800 days every combination of month length, weekday and leap year that matters has come round.
_SPAN_DAYS = 800
_START = datetime.date(2024, 1, 1)


def _value(token, field):
    names = _NAMES.get(field)
    if names and token.lower() in names:
        return names.index(token.lower()) + (1 if field == "month" else 0)
    return int(token)


def _expand(text, field):
    low, high = _RANGES[field]
    values = set()
    for item in text.split(","):
        body, dummy, step = item.partition("/")
        step = int(step) if step else 1
        if body == "*":
            first, last = low, high
        else:
            first_text, dash, last_text = body.partition("-")
            first = _value(first_text, field)
            last = _value(last_text, field) if dash else (high if step > 1 else first)
        values.update(range(first, last + 1, step))
    if field == "weekday" and 7 in values:
        values.add(0)
    return values


def _fields(expr, variable):
    fields = parse_cron(expr, variable)
    if fields is None:
        return None
    if "special_time" in fields:
        fields = parse_cron(_SPECIAL[fields["special_time"]], variable)
    return fields


def max_interval(expressions, variable="schedule"):
    """Seconds of the longest gap between two consecutive runs of the union of ``expressions`` (cron
    expressions; "" or None are off). None when every expression is off."""
    specs = []
    for expr in expressions:
        fields = _fields(expr, variable)
        if fields is None:
            continue
        spec = dict((name, _expand(fields.get(name, "*"), name)) for name in _RANGES)
        # Vixie cron: when both day of month and weekday are restricted, either one matching is enough
        spec["either_day"] = fields.get("day", "*") != "*" and fields.get("weekday", "*") != "*"
        specs.append(spec)
    if not specs:
        return None
    longest, last, inner = 0, None, {}
    for offset in range(_SPAN_DAYS):
        date = _START + datetime.timedelta(days=offset)
        weekday = (date.weekday() + 1) % 7
        minutes = set()
        for spec in specs:
            if date.month not in spec["month"]:
                continue
            day_ok, weekday_ok = date.day in spec["day"], weekday in spec["weekday"]
            if (day_ok or weekday_ok) if spec["either_day"] else (day_ok and weekday_ok):
                minutes.update(h * 60 + m for h in spec["hour"] for m in spec["minute"])
        if not minutes:
            continue
        day = tuple(sorted(minutes))
        if day not in inner:
            inner[day] = max([b - a for a, b in zip(day, day[1:])] or [0])
        longest = max(longest, inner[day])
        if last is not None:
            longest = max(longest, offset * 1440 + day[0] - last)
        last = offset * 1440 + day[-1]
    if not longest:
        return _SPAN_DAYS * 86400
    return longest * 60
