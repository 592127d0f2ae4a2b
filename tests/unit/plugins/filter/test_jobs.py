# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which cron entries differ from the crontab: only those are written."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.jobs import cron_jobs_to_write
from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import cron_job, cron_line

FULL = cron_job("main-local-full", "main-local-full", "30 1 * * 0", ["pgbackrest", "backup"], "pg_backup_schedule.full")
DRILL = cron_job("drill:main", "drill-main", "@monthly", ["pgops-restore-drill"], "pg_backup_drill_schedule")
# what ansible.builtin.cron wrote for them (its get_cron_job: five fields or @special, then the job)
CRONTAB = """#Ansible: pgops.backup main-local-full
30 1 * * 0 /usr/local/bin/pgops-backup-job main-local-full -- pgbackrest backup
#Ansible: pgops.backup drill:main
@monthly /usr/local/bin/pgops-backup-job drill-main -- pgops-restore-drill
"""


def test_lines_are_the_cron_modules():
    assert cron_line(FULL) == "30 1 * * 0 /usr/local/bin/pgops-backup-job main-local-full -- pgbackrest backup"
    assert cron_line(DRILL) == "@monthly /usr/local/bin/pgops-backup-job drill-main -- pgops-restore-drill"


def test_a_converged_crontab_needs_no_cron_module_run():
    assert cron_jobs_to_write([FULL, DRILL], CRONTAB) == []


def test_a_missing_or_changed_entry_is_written():
    moved = cron_job("main-local-full", "main-local-full", "45 1 * * 0", ["pgbackrest", "backup"], "s")
    assert cron_jobs_to_write([moved, DRILL], CRONTAB) == [moved]
    assert cron_jobs_to_write([FULL, DRILL], "") == [FULL, DRILL]
    # a name comment whose line was edited by hand, or lost at the end of the file
    assert cron_jobs_to_write([FULL], CRONTAB.replace("30 1 * * 0", "30 2 * * 0")) == [FULL]
    assert cron_jobs_to_write([FULL], "#Ansible: pgops.backup main-local-full\n") == [FULL]


def test_what_is_not_jobs_is_an_error():
    with pytest.raises(AnsibleFilterError, match="cron_jobs_to_write"):
        cron_jobs_to_write([{"job": "x"}], CRONTAB)
