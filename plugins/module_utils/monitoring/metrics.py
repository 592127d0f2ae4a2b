# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor's results in Prometheus' text exposition format (for node_exporter's textfile collector)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.monitoring.checks import FAILING, UNKNOWN


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
