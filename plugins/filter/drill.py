# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore_drill role: its validated configuration and its scheduled job."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from shlex import quote
except ImportError:  # pragma: no cover
    from pipes import quote

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.drill import normalize_drill
from ansible_collections.pgops.backup.plugins.module_utils.policy import PolicyError

JOB_WRAPPER = "/usr/local/bin/pgops-backup-job"
DRILL_SCRIPT = "/usr/local/bin/pgops-restore-drill"


def restore_drill_config(variables):
    """Validate the pg_backup_drill_* variables (a dict without the prefix, plus tool and stanza)."""
    try:
        return normalize_drill(**variables)
    except TypeError as exc:
        raise AnsibleFilterError("pgops.backup restore drill: unknown setting (%s)" % exc)
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup restore drill: %s" % exc)


def restore_drill_jobs(config, config_file):
    """The drill's cron job (family drill), or none when it is not scheduled."""
    if config["cron"] is None:
        return []
    name = "drill-%s" % config["stanza"]
    job = dict(config["cron"])
    job.update({
        "name": "pgops.backup drill:%s" % config["stanza"],
        "job": " ".join(quote(a) for a in [JOB_WRAPPER, name, "--", DRILL_SCRIPT, "--config", config_file]),
    })
    return [job]


class FilterModule(object):
    def filters(self):
        return {
            "restore_drill_config": restore_drill_config,
            "restore_drill_jobs": restore_drill_jobs,
        }
