# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the backups keep their promise (the declared RPO and schedules), from observations only.

Pure functions: each check takes what was observed (a pg_stat_archiver row, the archive_status listing,
pg_wal's size, the tools' inventory, manifests, the drill's JSON, the previous state) and returns a result
{'check', 'subject', 'status' (ok, failing, unknown), 'message', 'figures'}. The monitoring check on the
host and the pg_backup_info module share them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgops.backup.plugins.module_utils.core.alerts import span
from ansible_collections.pgops.backup.plugins.module_utils.core.cron import max_interval
from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import as_datetime, to_epoch
from ansible_collections.pgops.backup.plugins.module_utils.drivers.selection import SATISFYING_SCHEDULES, satisfies
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.observe import archiver_state

OK, FAILING, UNKNOWN = "ok", "failing", "unknown"


def result(check, subject, status, message, **figures):
    return {"check": check, "subject": subject, "status": status, "message": message, "figures": figures}


def _clock(epoch):
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) if epoch is not None else "never"


def archive_age_limit(archive_timeout, rpo_seconds):
    """The oldest the last archived segment may be while WAL waits: archive_timeout forces a segment switch,
    and the rest of the RPO (at least a minute) is the margin for shipping it."""
    return int(archive_timeout) + max(60, int(rpo_seconds) - int(archive_timeout))


def check_archiving(row, now, archive_timeout, rpo_seconds, previous=None, ready=0, oldest_ready=None,
                    command_missing=None):
    """archiving: pg_stat_archiver (failures since the previous check, a failure newer than the last success),
    and WAL that waits longer than archive_age_limit (the oldest .ready file's age) or an archive_command
    whose program does not exist (PostgreSQL then restarts its archiver and never counts a failure).

    previous: {'failed_count', 'baseline_failed_count', 'stats_reset'} from the state of the last run.
    Returns (result, state to keep).
    """
    state = archiver_state(row, now)
    now_epoch = to_epoch(as_datetime(now))
    previous = dict(previous or {})
    if previous.get("stats_reset") != state["stats_reset"]:
        previous = {}
    new_failures = max(0, state["failed_count"] - int(previous.get("failed_count", state["failed_count"])))
    limit = archive_age_limit(archive_timeout, rpo_seconds)
    waiting_age = None if oldest_ready is None else max(0, int(now_epoch - oldest_ready))
    last_ok = to_epoch(state["last_archived_time"])
    last_failed = to_epoch(state["last_failed_time"])
    baseline = int(previous.get("baseline_failed_count", state["failed_count"]))
    reasons = []
    if command_missing:
        reasons.append("archive_command's program %s was not found" % command_missing)
    if state["failing"]:
        failures = max(state["failed_count"] - baseline, 1)
        reasons.append("archiving failed %s since %s (last: %s at %s)" % (
            "once" if failures == 1 else "%d times" % failures, _clock(previous.get("failing_since") or last_failed),
            state["last_failed_wal"], _clock(last_failed)))
    if waiting_age is not None and waiting_age > limit:
        # named after the policy's RPO, the user's own figure: the limit follows from it
        reasons.append("the oldest waiting segment is %ds old, more than the %ds pg_backup_rpo %s allows "
                       "(archive_timeout %ds + %ds to ship it)"
                       % (waiting_age, limit, span(rpo_seconds), archive_timeout, limit - int(archive_timeout)))
    figures = dict(archived_count=state["archived_count"], failed_count=state["failed_count"],
                   new_failures=new_failures, last_archived_wal=state["last_archived_wal"],
                   last_archived_time=last_ok, last_failed_time=last_failed,
                   last_archived_age_seconds=state["last_archived_age_seconds"], ready=ready,
                   oldest_ready_age_seconds=waiting_age, age_limit_seconds=limit, rpo_seconds=int(rpo_seconds))
    keep = {"failed_count": state["failed_count"], "stats_reset": state["stats_reset"]}
    if reasons:
        keep["baseline_failed_count"] = baseline
        keep["failing_since"] = previous.get("failing_since") or (last_failed if state["failing"] else now_epoch)
        message = "%s; last success %s, %d segments waiting" % ("; ".join(reasons), _clock(last_ok), ready)
        return result("archiving", "wal", FAILING, message, **figures), keep
    keep["baseline_failed_count"] = state["failed_count"]
    message = "archiving works: last segment %s at %s, %d waiting" % (state["last_archived_wal"], _clock(last_ok), ready)
    if new_failures:
        message += " (%d failed attempts since the last check, then success)" % new_failures
    return result("archiving", "wal", OK, message, **figures), keep


def check_backlog(ready, pg_wal_bytes, max_wal_size_bytes, free_bytes, settings):
    """backlog: .ready files against ready_max, and pg_wal's size against the smaller of wal_size_factor x
    max_wal_size and wal_fs_fraction of what pg_wal could grow into (its size plus the free space)."""
    size_limit = int(min(settings["wal_size_factor"] * max_wal_size_bytes,
                         settings["wal_fs_fraction"] * (pg_wal_bytes + free_bytes)))
    figures = dict(ready=ready, ready_limit=settings["ready_max"], pg_wal_bytes=pg_wal_bytes,
                   pg_wal_limit_bytes=size_limit, free_bytes=free_bytes, max_wal_size_bytes=max_wal_size_bytes)
    reasons = []
    if ready > settings["ready_max"]:
        reasons.append("%d segments wait to be archived (more than %d)" % (ready, settings["ready_max"]))
    if pg_wal_bytes > size_limit:
        reasons.append("pg_wal holds %d MB, more than %d MB (max_wal_size %d MB, %d MB free)" % (
            pg_wal_bytes >> 20, size_limit >> 20, max_wal_size_bytes >> 20, free_bytes >> 20))
    if reasons:
        return result("backlog", "pg_wal", FAILING, "; ".join(reasons), **figures)
    return result("backlog", "pg_wal", OK, "%d segments waiting, pg_wal %d MB of %d MB allowed"
                  % (ready, pg_wal_bytes >> 20, size_limit >> 20), **figures)


def allowed_age(schedule, kind, margin_seconds, variable="schedule"):
    """Seconds the newest backup of ``kind`` may be old under ``schedule`` ({kind: cron}), or None when the
    schedule takes no such backup: the longest gap between the runs that produce one, plus the margin."""
    kinds = SATISFYING_SCHEDULES.get(kind, (kind,))
    if not (schedule or {}).get(kind):
        return None
    gap = max_interval([schedule.get(k) for k in kinds], variable)
    return None if gap is None else gap + margin_seconds


def check_freshness(repository, kind, backups, allowed_seconds, now, status=None):
    """freshness of one repository and kind: the newest backup without error of a type that satisfies
    ``kind`` (its 'stop' in epoch seconds) against allowed_seconds."""
    now_epoch = to_epoch(as_datetime(now))
    usable = [b for b in backups or [] if not b.get("error") and b.get("stop") is not None
              and satisfies(b, kind)]
    newest = max(usable, key=lambda b: b["stop"]) if usable else None
    subject = "%s/%s" % (repository, kind)
    stop = newest["stop"] if newest else None
    age = None if stop is None else max(0, int(now_epoch - stop))
    figures = dict(repository=repository, kind=kind, last_success=stop, age_seconds=age,
                   max_age_seconds=allowed_seconds, label=newest.get("label") if newest else None)
    if status and status != "ok":
        return result("freshness", subject, FAILING, "repository %s cannot be read: %s" % (repository, status),
                      **figures)
    if newest is None:
        return result("freshness", subject, FAILING, "no %s backup in %s; the schedule allows %s"
                      % (kind, repository, span(allowed_seconds)), **figures)
    if age > allowed_seconds:
        return result("freshness", subject, FAILING, "newest %s backup in %s is %s old (%s, finished %s), "
                      "the schedule allows %s" % (kind, repository, span(age), newest.get("label"),
                                                  time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stop)),
                                                  span(allowed_seconds)), **figures)
    return result("freshness", subject, OK, "newest %s backup in %s is %s old (%s)"
                  % (kind, repository, span(age), newest.get("label")), **figures)


def check_drill(drill):
    """drill: the last restore drill's result (its latest.json), unknown when no drill has run."""
    if drill is None:
        return result("drill", "latest", UNKNOWN, "no restore drill has run yet", passed=None)
    if not isinstance(drill, dict) or not isinstance(drill.get("passed"), bool):
        return result("drill", "latest", FAILING, "the last restore drill's result cannot be read", passed=None)
    finished = drill.get("finished") or drill.get("started")
    try:
        finished_epoch = int(to_epoch(finished)) if finished else None
    except ValueError:
        finished_epoch = None
    figures = dict(passed=drill["passed"], finished=finished_epoch, rto_seconds=drill.get("rto_seconds"),
                   backup_label=drill.get("backup_label"))
    if drill["passed"]:
        return result("drill", "latest", OK, "the restore drill of %s passed (backup %s, RTO %ss)"
                      % (finished, drill.get("backup_label"), drill.get("rto_seconds")), **figures)
    failed = [c.get("name") for c in drill.get("checks") or [] if isinstance(c, dict) and not c.get("passed")]
    reason = drill.get("error") or ("failed checks: %s" % ", ".join(str(n) for n in failed) if failed else "no reason given")
    return result("drill", "latest", FAILING, "the restore drill of %s failed: %s" % (finished, reason), **figures)


def check_tool(tool, last):
    """tool: the last run of the tool's own check (pgbackrest check, wal-g wal-verify), from the state:
    {'ran_at', 'ok', 'message'}."""
    if not last:
        return result("tool", tool, UNKNOWN, "%s's own check has not run yet" % tool, ok=None, ran_at=None)
    status = OK if last.get("ok") else FAILING
    return result("tool", tool, status, "%s check at %s: %s" % (tool, _clock(last.get("ran_at")), last.get("message")),
                  ok=bool(last.get("ok")), ran_at=last.get("ran_at"))


def check_wal_dropped(dropped_total, last_drop, last_segment, newest_backup_stop):
    """wal_dropped: WAL that pgBackRest dropped breaks point-in-time recovery across the gap until the next
    backup; failing while the last drop is newer than the newest backup."""
    figures = dict(dropped_total=dropped_total, last_drop=last_drop, last_segment=last_segment,
                   newest_backup=newest_backup_stop)
    if last_drop is None:
        return result("wal_dropped", "archive", OK, "no WAL was dropped", **figures)
    if newest_backup_stop is None or newest_backup_stop < last_drop:
        return result("wal_dropped", "archive", FAILING, "pgBackRest dropped WAL (%d segments, last %s at %s): "
                      "point-in-time recovery is broken until the next backup; take one now"
                      % (dropped_total, last_segment, _clock(last_drop)), **figures)
    return result("wal_dropped", "archive", OK, "WAL was dropped at %s, a backup has been taken since"
                  % _clock(last_drop), **figures)
