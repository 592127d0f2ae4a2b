# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the values users write that several layers take: durations and names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^(?:(\d+)([smhdw]))+$")
_DURATION_PART_RE = re.compile(r"(\d+)([smhdw])")
# a stanza, repository or dump name: it becomes part of paths, cron names and option values
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_duration(value, variable):
    """Seconds in ``value``: a positive integer of seconds, or '90s', '5m', '1h30m', '7d', '2w'."""
    if isinstance(value, bool):
        raise PolicyError(variable, "expected a duration such as 5m, 1h or 7d, got %r" % (value,))
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        if text.isdigit():
            seconds = int(text)
        elif _DURATION_RE.match(text):
            seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART_RE.findall(text))
        else:
            raise PolicyError(variable, "expected a duration such as 5m, 1h or 7d, got %r" % (value,))
    if seconds <= 0:
        raise PolicyError(variable, "a duration must be longer than zero, got %r" % (value,))
    return seconds
