# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the _common role's jobs step: which cron entries differ from the crontab, so that a converged host
costs one crontab read instead of a cron module run per job."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import jobs_to_write


def cron_jobs_to_write(jobs, crontab):
    try:
        return jobs_to_write(jobs, crontab)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("cron_jobs_to_write: expected jobs of the roles' job filters and crontab -l's "
                                 "text: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"cron_jobs_to_write": cron_jobs_to_write}
