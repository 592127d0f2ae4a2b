# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's settings: the monitoring_* variables with their defaults, checked once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import check_text, parse_duration
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError

CHECKS = ("archiving", "backlog", "freshness", "drill", "tool", "wal_dropped")
DEFAULTS = {
    "interval": "1m", "alert_repeat": "1h", "tool_check_interval": "1h", "inventory_interval": "5m",
    "backup_margin": "1h", "wal_size_factor": 2.0, "wal_fs_fraction": 0.5, "ready_max": 16,
    "checks": list(CHECKS), "alert_command": None,
}


def _number(value, variable, low, high, integer=False):
    if isinstance(value, bool):
        raise PolicyError(variable, "expected a number, got %r" % (value,))
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise PolicyError(variable, "expected a %s, got %r" % ("whole number" if integer else "number", value))
    if integer and str(value).strip() != str(number):
        raise PolicyError(variable, "expected a whole number, got %r" % (value,))
    if not low <= number <= high:
        raise PolicyError(variable, "must be between %s and %s, got %r" % (low, high, value))
    return number


def monitor_settings(raw, prefix="monitoring_"):
    """The monitor's settings with defaults filled in and checked, or PolicyError naming the variable
    (``prefix`` + key, as the role's user writes it)."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise PolicyError(prefix + unknown[0], "unknown setting; known: %s" % ", ".join(sorted(DEFAULTS)))
    settings = dict(DEFAULTS)
    settings.update((k, v) for k, v in raw.items() if v is not None or k == "alert_command")
    for key in ("interval", "alert_repeat", "tool_check_interval", "inventory_interval", "backup_margin"):
        settings[key + "_seconds"] = parse_duration(settings[key], prefix + key)
    if settings["interval_seconds"] > 3600:
        raise PolicyError(prefix + "interval", "must be 1h or less, got %r: the check would report too late"
                          % (settings["interval"],))
    settings["wal_size_factor"] = _number(settings["wal_size_factor"], prefix + "wal_size_factor", 1.0, 100.0)
    settings["wal_fs_fraction"] = _number(settings["wal_fs_fraction"], prefix + "wal_fs_fraction", 0.05, 0.95)
    settings["ready_max"] = _number(settings["ready_max"], prefix + "ready_max", 1, 100000, integer=True)
    checks = settings["checks"]
    if not isinstance(checks, (list, tuple)) or not checks:
        raise PolicyError(prefix + "checks", "expected a list of checks out of %s" % ", ".join(CHECKS))
    for check in checks:
        if check not in CHECKS:
            raise PolicyError(prefix + "checks", "unknown check %r; use %s" % (check, ", ".join(CHECKS)))
    settings["checks"] = [c for c in CHECKS if c in checks]
    command = settings["alert_command"]
    if command is not None and not (isinstance(command, str) and command.strip()) and not (
            isinstance(command, (list, tuple)) and command and all(isinstance(a, str) and a for a in command)):
        raise PolicyError(prefix + "alert_command", "expected a shell command (a string) or an argv list "
                          "of strings, got %r" % (command,))
    # a shell command may span lines; neither it nor an argument may hold NUL or other control characters
    if isinstance(command, str):
        check_text(command, prefix + "alert_command", multiline=True)
    for index, argument in enumerate(command if isinstance(command, (list, tuple)) else []):
        check_text(argument, "%salert_command[%d]" % (prefix, index), multiline=True)
    return settings
