# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wal-g's time retention, as cron runs it through /usr/local/bin/pgops-backup-expire (the host entry point's
``expire``): keep what a restore to any moment of the last N days needs, as pgBackRest's time retention does.

The decision is the driver's (drivers/walg.py time_retention): the newest full backup that finished before the
window's start stays with everything after it, and wal-g deletes what is older. pgBackRest applies its time
retention itself and needs no such job.

    pgops-backup-expire --days N [--window-start TIME]

--window-start puts the window's start at TIME (with its zone, not in the future) instead of N days ago: a
one-off trim that keeps exactly what a restore to TIME or later needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.process import CommandRunner
from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import as_datetime, parse_timestamp, to_epoch
from ansible_collections.pgops.backup.plugins.module_utils.drivers import walg


class UsageError(Exception):
    pass


def window_start(days, explicit, now):
    """The window's start in epoch seconds: ``explicit`` (a timestamp with its zone) or ``days`` before now."""
    if explicit is None:
        return now - days * walg.DAY_SECONDS
    try:
        parsed = parse_timestamp(explicit)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError("--window-start: %r is not a time with its zone, such as 2026-11-26T06:00:00Z" % explicit)
    start = to_epoch(parsed)
    if start > now:
        raise UsageError("--window-start: %s is in the future; a restore to it needs the newest backup, which "
                         "retention never deletes" % explicit)
    return start


def iso(seconds):
    return as_datetime(int(seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def report(plan, start):
    """What the run decided, in a line or two for the job's log."""
    if not plan["keep"]:
        return ("no full backup finished before the window's start %s: nothing to expire (%d backups kept)"
                % (iso(start), len(plan["kept"])))
    return ("kept %s (finished %s), the newest full backup finished before the window's start %s, and what "
            "follows it; deleted before it: %s" % (plan["keep"], iso(plan["keep_finished"]), iso(start),
                                                   ", ".join(plan["expired"]) or "no backup, only older WAL"))


def secrets(path):
    try:
        with open(os.path.expanduser(path)) as handle:
            return walg.secret_values(handle.read())
    except (IOError, OSError):
        return []


def main(argv, host, now=None):
    parser = argparse.ArgumentParser(prog="pgops-backup-expire", description="Apply wal-g's time retention.")
    parser.add_argument("--days", type=int, required=True, help="the policy's retention: full (type time)")
    parser.add_argument("--window-start", help="the window's start instead of DAYS ago (a time with its zone)")
    args = parser.parse_args(argv)
    now = time.time() if now is None else now
    try:
        if args.days < 1:
            raise UsageError("--days: expected 1 or more, got %d" % args.days)
        start = window_start(args.days, args.window_start, now)
    except UsageError as exc:
        host.print_error("ERROR: %s" % exc)
        return 2
    runner = CommandRunner(host, secrets=secrets(walg.CONFIG_FILE))
    try:
        plan = walg.WalG({"tool": walg.WalG.name, "repositories": []}).expire_by_time(runner.stdout, start)
    except (ToolError, ValueError) as exc:
        host.print_error("ERROR: wal-g time retention failed: %s" % runner.say(str(exc)))
        return 1
    host.print_out(report(plan, start))
    return 0
