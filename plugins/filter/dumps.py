# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that hand the dumps role its validated settings and its scheduled jobs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import registry
from ansible_collections.pgops.backup.plugins.module_utils.dumps.settings import normalize_settings
from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import cron_job


def dumps_settings(variables, cluster):
    """{'settings', 'credentials'} from the role's variables (a dict of normalize_settings' arguments)."""
    try:
        return normalize_settings(cluster, **variables)
    except TypeError as exc:
        raise AnsibleFilterError("pgops.backup dumps: unknown setting (%s)" % exc)
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup dumps: %s" % exc)


def dumps_jobs(kind, schedule, cluster_name):
    """The kind's one cron job (ansible.builtin.cron arguments), named 'pgops.backup KIND:CLUSTER'; [] when off."""
    try:
        job = cron_job("%s:%s" % (kind, cluster_name), "%s-%s" % (kind, cluster_name), schedule,
                       registry.driver_for({"tool": kind}).backup_argv(None, "full"), "pg_backup_%s_schedule" % kind)
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup dumps: %s" % exc)
    return [job] if job else []


class FilterModule(object):
    def filters(self):
        return {"dumps_settings": dumps_settings, "dumps_jobs": dumps_jobs}
