# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore_drill role: its validated configuration and its scheduled job."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.restore.drill import normalize_drill
from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import wrapped_job

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
    return [wrapped_job("drill:%s" % config["stanza"], "drill-%s" % config["stanza"],
                        [DRILL_SCRIPT, "--config", config_file], config["cron"])]


class FilterModule(object):
    def filters(self):
        return {
            "restore_drill_config": restore_drill_config,
            "restore_drill_jobs": restore_drill_jobs,
        }
