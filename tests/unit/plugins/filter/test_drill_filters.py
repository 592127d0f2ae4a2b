# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore_drill role's filters: its validated settings and its cron job."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.drill import (
    DRILL_SCRIPT, FilterModule, restore_drill_config, restore_drill_jobs)
from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import JOB_WRAPPER

SETTINGS = {"tool": "walg", "stanza": "main", "schedule": "@monthly", "scratch_directory": "/var/tmp/drill"}


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == ["restore_drill_config", "restore_drill_jobs"]


def test_job_runs_the_drill_through_the_job_wrapper():
    config = restore_drill_config(SETTINGS)
    jobs = restore_drill_jobs(config, "/etc/pgops-backup/drill-main.json")
    assert len(jobs) == 1 and jobs[0]["name"] == "pgops.backup drill:main"
    assert jobs[0]["special_time"] == "monthly"
    assert shlex.split(jobs[0]["job"]) == [JOB_WRAPPER, "drill-main", "--", DRILL_SCRIPT, "--config",
                                           "/etc/pgops-backup/drill-main.json"]


def test_no_schedule_no_job():
    config = restore_drill_config(dict(SETTINGS, schedule=""))
    assert restore_drill_jobs(config, "/etc/pgops-backup/drill-main.json") == []


def test_bad_setting_names_the_variable():
    with pytest.raises(AnsibleFilterError, match="pg_backup_drill_keep: expected a number"):
        restore_drill_config(dict(SETTINGS, keep=-1))


def test_unknown_setting_is_refused():
    with pytest.raises(AnsibleFilterError, match="unknown setting"):
        restore_drill_config(dict(SETTINGS, frequency="monthly"))
