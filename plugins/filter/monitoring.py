# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that hand the monitoring check's settings and configuration to the monitoring role."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.checks import allowed_age
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.settings import monitor_settings

# role variable (without monitoring_) -> the monitor's setting
SETTINGS = ("interval", "alert_repeat", "tool_check_interval", "inventory_interval", "backup_margin",
            "wal_size_factor", "wal_fs_fraction", "ready_max", "checks", "alert_command")


def monitoring_settings(variables):
    """Validate the monitoring_* variables (a dict without the prefix); the settings with durations in seconds."""
    try:
        return monitor_settings(dict((k, variables.get(k)) for k in SETTINGS if k in variables))
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup monitoring: %s" % exc)


def monitoring_config(settings, policy, cluster, host, paths, local_backups):
    """The check's configuration file (no secrets: those stay in the tools' own files, read to redact them).

    paths: state_dir, status_file, metrics_file, drill_file, secret_files. local_backups: root and the
    logical and base schedules.
    """
    try:
        for kind, schedule in sorted((local_backups.get("schedules") or {}).items()):
            allowed_age({kind: schedule}, kind, 0, "pg_backup_%s_schedule" % kind)
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup monitoring: %s" % exc)
    config = {
        "host": host,
        "cluster": {"name": "%s/%s" % (cluster["version"], cluster["name"]), "socket_dir": cluster["socket_dir"],
                    "port": cluster["port"], "data_directory": cluster["data_directory"]},
        "tool": policy["tool"],
        "stanza": policy["stanza"],
        "rpo_seconds": policy["rpo_seconds"],
        "repositories": [{"index": r["index"], "name": r["name"], "schedule": r["schedule"]}
                         for r in policy["repositories"]],
        "local_backups": local_backups,
        "pgbackrest_log_dir": "/var/log/pgbackrest",
        "settings": dict((k, settings[k]) for k in SETTINGS),
    }
    config.update(paths)
    return config


class FilterModule(object):
    def filters(self):
        return {"monitoring_settings": monitoring_settings, "monitoring_config": monitoring_config}
