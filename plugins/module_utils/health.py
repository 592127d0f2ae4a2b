# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the backups keep their promise (the declared RPO and schedules), from observations only.

Pure functions: each check takes what was observed (a pg_stat_archiver row, the archive_status listing,
pg_wal's size, the tools' inventory, manifests, the drill's JSON, the previous state) and returns a result
{'check', 'subject', 'status' (ok, failing, unknown), 'message', 'figures'}. The monitoring check on the
host and the pg_backup_info module share them; ``render_metrics`` writes the Prometheus text format and
``advance_alerts`` is the alert state machine (failing, repeated, recovered).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.pgops.backup.plugins.module_utils.decisions import archiver_state
from ansible_collections.pgops.backup.plugins.module_utils.policy import PolicyError, parse_duration
from ansible_collections.pgops.backup.plugins.module_utils.schedule_gaps import max_interval
from ansible_collections.pgops.backup.plugins.module_utils.timestamps import as_datetime, to_epoch

OK, FAILING, UNKNOWN = "ok", "failing", "unknown"
CHECKS = ("archiving", "backlog", "freshness", "drill", "tool", "wal_dropped")
# Which backup types satisfy a scheduled kind: a full one serves every kind; wal-g's deltas serve diff and incr.
SATISFYING_TYPES = {"full": ("full",), "diff": ("full", "diff", "delta"), "incr": ("full", "diff", "incr", "delta"),
                    "logical": ("logical",), "base": ("base",)}
# The schedules whose runs produce a backup that satisfies each kind.
SATISFYING_SCHEDULES = {"full": ("full",), "diff": ("full", "diff"), "incr": ("full", "diff", "incr")}
DEFAULTS = {
    "interval": "1m", "alert_repeat": "1h", "tool_check_interval": "1h", "inventory_interval": "5m",
    "backup_margin": "1h", "wal_size_factor": 2.0, "wal_fs_fraction": 0.5, "ready_max": 16,
    "checks": list(CHECKS), "alert_command": None,
}
_DROP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d+)?\s.*dropped WAL file '([0-9A-F]{24})' "
                      r"because archive queue exceeded")


def result(check, subject, status, message, **figures):
    return {"check": check, "subject": subject, "status": status, "message": message, "figures": figures}


def _clock(epoch):
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) if epoch is not None else "never"


def _span(seconds):
    """'45s', '12m', '3h20m', '2d5h': a duration as people read it in an alert."""
    seconds = int(seconds)
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    if seconds < 172800:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dd%dh" % (seconds // 86400, seconds % 86400 // 3600)


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
    return settings


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
        reasons.append("the oldest waiting segment is %ds old, more than %ds (archive_timeout %ds + margin)"
                       % (waiting_age, limit, archive_timeout))
    figures = dict(archived_count=state["archived_count"], failed_count=state["failed_count"],
                   new_failures=new_failures, last_archived_wal=state["last_archived_wal"],
                   last_archived_time=last_ok, last_failed_time=last_failed,
                   last_archived_age_seconds=state["last_archived_age_seconds"], ready=ready,
                   oldest_ready_age_seconds=waiting_age, age_limit_seconds=limit)
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
              and b.get("type") in SATISFYING_TYPES.get(kind, (kind,))]
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
                      % (kind, repository, _span(allowed_seconds)), **figures)
    if age > allowed_seconds:
        return result("freshness", subject, FAILING, "newest %s backup in %s is %s old (%s, finished %s), "
                      "the schedule allows %s" % (kind, repository, _span(age), newest.get("label"),
                                                  time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stop)),
                                                  _span(allowed_seconds)), **figures)
    return result("freshness", subject, OK, "newest %s backup in %s is %s old (%s)"
                  % (kind, repository, _span(age), newest.get("label")), **figures)


def manifest_backup(manifest):
    """A local (logical or base) backup's manifest.json as a backup of the inventory's shape; None when the
    manifest does not describe a complete backup."""
    if not isinstance(manifest, dict) or manifest.get("status") != "complete" or not manifest.get("finished"):
        return None
    try:
        stop = int(to_epoch(manifest["finished"]))
        start = int(to_epoch(manifest.get("started") or manifest["finished"]))
    except (TypeError, ValueError):
        return None
    return {"label": manifest.get("label"), "type": manifest.get("kind"), "start": start, "stop": stop,
            "error": False}


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


def parse_drops(text):
    """(epoch seconds, segment) of each WAL segment pgBackRest dropped because archive-push-queue-max was
    exceeded, from its archive-push logs (times in the log are the host's local time, here read as UTC)."""
    drops = []
    for line in text.splitlines():
        match = _DROP_RE.search(line)
        if match:
            drops.append((int(to_epoch(match.group(1))), match.group(2)))
    return drops


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


def _key(res):
    return "%s:%s" % (res["check"], res["subject"])


def advance_alerts(state, results, now, repeat_seconds):
    """The alert state machine. state: {key: {'status', 'since', 'last_alert'}} from the last run.

    Returns (new state, notifications): a notification {'event': failing|repeat|recovered, 'key', 'result',
    'since'} when a check turns failing, again every repeat_seconds while it fails, and once when it recovers.
    A caller that could not deliver a notification calls ``undelivered`` so the next run tries again.
    """
    state = dict(state or {})
    notifications = []
    for res in results:
        key = _key(res)
        previous = state.get(key) or {"status": OK}
        if res["status"] == FAILING:
            if previous["status"] != FAILING:
                state[key] = {"status": FAILING, "since": now, "last_alert": now}
                notifications.append({"event": "failing", "key": key, "result": res, "since": now})
            elif previous.get("last_alert") is None or now - previous["last_alert"] >= repeat_seconds:
                state[key] = dict(previous, last_alert=now)
                notifications.append({"event": "repeat", "key": key, "result": res, "since": previous["since"]})
        elif res["status"] == OK and previous["status"] == FAILING:
            state[key] = {"status": OK, "since": now, "last_alert": None}
            notifications.append({"event": "recovered", "key": key, "result": res, "since": previous["since"],
                                  "previous": previous})
        elif res["status"] == OK:
            state[key] = {"status": OK, "since": previous.get("since", now), "last_alert": None}
    return state, notifications


def undelivered(state, notification):
    """The state as if the notification had not been sent, so the next run sends it again."""
    state = dict(state)
    if notification["event"] == "recovered":
        state[notification["key"]] = notification["previous"]
    elif notification["event"] == "failing":
        state[notification["key"]] = {"status": FAILING, "since": notification["since"], "last_alert": None}
    else:
        state[notification["key"]] = dict(state[notification["key"]], last_alert=None)
    return state


def alert_text(notification, host, cluster, now):
    res = notification["result"]
    if notification["event"] == "recovered":
        return "RECOVERED %s %s on %s (%s) after %s: %s" % (
            res["check"], res["subject"], host, cluster, _span(now - notification["since"]), res["message"])
    return "%s %s %s on %s (%s) since %s: %s" % (
        "FAILING" if notification["event"] == "failing" else "STILL FAILING", res["check"], res["subject"], host,
        cluster, time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(notification["since"])), res["message"])


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# name: (type, help); units are in the names (Prometheus' conventions)
METRICS = {
    "pgops_backup_up": ("gauge", "1 when the monitor could read the cluster"),
    "pgops_backup_check_failing": ("gauge", "1 when the check fails, 0 when it passes (absent when unknown)"),
    "pgops_backup_archived_count": ("counter", "pg_stat_archiver.archived_count"),
    "pgops_backup_archive_failed_count": ("counter", "pg_stat_archiver.failed_count"),
    "pgops_backup_last_archived_timestamp_seconds": ("gauge", "when the last segment was archived"),
    "pgops_backup_last_failed_timestamp_seconds": ("gauge", "when archiving last failed"),
    "pgops_backup_oldest_ready_age_seconds": ("gauge", "age of the oldest segment waiting to be archived"),
    "pgops_backup_archive_age_limit_seconds": ("gauge", "archive_timeout plus the RPO's margin"),
    "pgops_backup_wal_ready_files": ("gauge", ".ready files in pg_wal/archive_status"),
    "pgops_backup_wal_ready_limit": ("gauge", "the most .ready files allowed"),
    "pgops_backup_pg_wal_bytes": ("gauge", "size of pg_wal"),
    "pgops_backup_pg_wal_limit_bytes": ("gauge", "the largest pg_wal allowed"),
    "pgops_backup_pg_wal_free_bytes": ("gauge", "free space on pg_wal's filesystem"),
    "pgops_backup_last_success_timestamp_seconds": ("gauge", "when the newest backup of a kind finished"),
    "pgops_backup_age_seconds": ("gauge", "age of the newest backup of a kind"),
    "pgops_backup_max_age_seconds": ("gauge", "the largest age the schedule allows"),
    "pgops_backup_drill_passed": ("gauge", "1 when the last restore drill passed"),
    "pgops_backup_drill_timestamp_seconds": ("gauge", "when the last restore drill finished"),
    "pgops_backup_drill_rto_seconds": ("gauge", "the last restore drill's recovery time"),
    "pgops_backup_tool_check_ok": ("gauge", "1 when the tool's own check passed"),
    "pgops_backup_tool_check_timestamp_seconds": ("gauge", "when the tool's own check ran"),
    "pgops_backup_wal_dropped_total": ("counter", "WAL segments pgBackRest dropped (archive-push-queue-max)"),
    "pgops_backup_monitor_timestamp_seconds": ("gauge", "when the monitor last ran"),
    "pgops_backup_monitor_duration_seconds": ("gauge", "how long the monitor's last run took"),
}
_FIGURE_METRICS = {
    "archiving": (("pgops_backup_archived_count", "archived_count"), ("pgops_backup_archive_failed_count", "failed_count"),
                  ("pgops_backup_last_archived_timestamp_seconds", "last_archived_time"),
                  ("pgops_backup_last_failed_timestamp_seconds", "last_failed_time"),
                  ("pgops_backup_oldest_ready_age_seconds", "oldest_ready_age_seconds"),
                  ("pgops_backup_archive_age_limit_seconds", "age_limit_seconds")),
    "backlog": (("pgops_backup_wal_ready_files", "ready"), ("pgops_backup_wal_ready_limit", "ready_limit"),
                ("pgops_backup_pg_wal_bytes", "pg_wal_bytes"), ("pgops_backup_pg_wal_limit_bytes", "pg_wal_limit_bytes"),
                ("pgops_backup_pg_wal_free_bytes", "free_bytes")),
    "freshness": (("pgops_backup_last_success_timestamp_seconds", "last_success"), ("pgops_backup_age_seconds", "age_seconds"),
                  ("pgops_backup_max_age_seconds", "max_age_seconds")),
    "drill": (("pgops_backup_drill_passed", "passed"), ("pgops_backup_drill_timestamp_seconds", "finished"),
              ("pgops_backup_drill_rto_seconds", "rto_seconds")),
    "tool": (("pgops_backup_tool_check_ok", "ok"), ("pgops_backup_tool_check_timestamp_seconds", "ran_at")),
    "wal_dropped": (("pgops_backup_wal_dropped_total", "dropped_total"),),
}


def _labels(labels):
    return "{%s}" % ",".join('%s="%s"' % (k, _escape(v)) for k, v in sorted(labels.items()))


def _format(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def render_metrics(results, base_labels, up, ran_at, duration):
    """The Prometheus text exposition format of the results (base_labels: cluster, stanza, tool)."""
    samples = dict((name, []) for name in METRICS)
    samples["pgops_backup_up"].append((base_labels, 1 if up else 0))
    samples["pgops_backup_monitor_timestamp_seconds"].append((base_labels, ran_at))
    samples["pgops_backup_monitor_duration_seconds"].append((base_labels, float(round(duration, 3))))
    for res in results:
        labels = dict(base_labels, check=res["check"], subject=res["subject"])
        if res["status"] != UNKNOWN:
            samples["pgops_backup_check_failing"].append((labels, 1 if res["status"] == FAILING else 0))
        extra = {"repository": res["figures"]["repository"], "kind": res["figures"]["kind"]} \
            if res["check"] == "freshness" else {}
        if res["check"] == "tool":
            extra = {"tool": res["subject"]}
        for name, figure in _FIGURE_METRICS.get(res["check"], ()):
            value = res["figures"].get(figure)
            if value is not None:
                samples[name].append((dict(base_labels, **extra), value))
    lines = []
    for name in sorted(samples):
        if not samples[name]:
            continue
        kind, text = METRICS[name]
        lines += ["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind)]
        lines += ["%s%s %s" % (name, _labels(labels), _format(value)) for labels, value in samples[name]]
    return "\n".join(lines) + "\n"
