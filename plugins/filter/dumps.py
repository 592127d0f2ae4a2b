# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that hand the dumps role its validated settings and its scheduled jobs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from shlex import quote
except ImportError:  # pragma: no cover
    from pipes import quote

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.policy import JOB_WRAPPER
from ansible_collections.pgops.backup.plugins.module_utils.dumps import normalize_settings
from ansible_collections.pgops.backup.plugins.module_utils.policy import PolicyError, parse_cron
from ansible_collections.pgops.backup.plugins.module_utils.tools import drivers


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
        fields = parse_cron(schedule, "pg_backup_%s_schedule" % kind)
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup dumps: %s" % exc)
    if fields is None:
        return []
    argv = drivers.driver_for({"tool": kind}).backup_argv(None, "full")
    log_name = "%s-%s" % (kind, cluster_name)
    job = dict(fields)
    job.update({"name": "pgops.backup %s:%s" % (kind, cluster_name),
                "job": " ".join(quote(a) for a in [JOB_WRAPPER, log_name, "--"] + argv),
                "log": "/var/log/pgops-backup/%s.log" % log_name})
    return [job]


class FilterModule(object):
    def filters(self):
        return {"dumps_settings": dumps_settings, "dumps_jobs": dumps_jobs}
