# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the values users write that several layers take: text, durations and names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^(?:(\d+)([smhdw]))+$")
_DURATION_PART_RE = re.compile(r"(\d+)([smhdw])")
# a stanza, repository or dump name: it becomes part of paths, cron names and option values
# (\Z, not $: $ also matches before a final newline)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# A newline in a value written to a configuration file or a cron line starts a line of its own (another
# repo1-path=, another job); NUL cuts a command's argument short. A shell command or SQL may span lines.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


def check_text(value, variable, multiline=False):
    """``value`` as text (None stays None), or PolicyError naming ``variable`` when it holds a control character
    (below 0x20, or 0x7f); ``multiline`` (a shell command, SQL) lets newlines and tabs through.
    The message never quotes the value: it may be a secret."""
    if value is None:
        return None
    if isinstance(value, (dict, list, tuple, set)):
        raise PolicyError(variable, "expected text, got a %s" % type(value).__name__)
    text = value if isinstance(value, str) else str(value)
    found = (_MULTILINE_CONTROL_RE if multiline else _CONTROL_RE).search(text)
    if found:
        char = found.group()
        rule = ("it may span lines but holds no other control character" if multiline else
                "a value written into a configuration file, a cron line or a command is one line of printable text")
        raise PolicyError(variable, "holds %s at character %d; %s: remove it"
                          % (_CONTROL_NAMES.get(char, "control character 0x%02x" % ord(char)), found.start() + 1, rule))
    return text


def check_texts(raw, variable, but=()):
    """{key: check_text(value)} of the dictionary ``raw`` (the user's ``variable``), but for the keys in ``but``
    (those whose values are not text)."""
    return dict((key, check_text(raw[key], "%s.%s" % (variable, key))) for key in sorted(raw) if key not in but)


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
