# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one cron-line builder of the filters: a scheduled job runs through the job wrapper, which logs it to
pg_backup_job_log_dir/LOG_NAME.log (roles/_common/templates/pgops-backup-job.sh.j2)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from shlex import quote
except ImportError:  # pragma: no cover
    from pipes import quote

from ansible_collections.pgops.backup.plugins.module_utils.core.cron import parse_cron

# absolute: cron's PATH (/usr/bin:/bin) lacks /usr/local/bin
JOB_WRAPPER = "/usr/local/bin/pgops-backup-job"


def cron_job(name, log_name, schedule, argv, variable):
    """ansible.builtin.cron arguments of one job named 'pgops.backup NAME', or None when the schedule is off
    ('' or None). PolicyError names ``variable`` when the schedule is not a cron expression."""
    fields = parse_cron(schedule, variable)
    return None if fields is None else wrapped_job(name, log_name, argv, fields)


def wrapped_job(name, log_name, argv, fields):
    """The job of argv through the wrapper at the cron fields (parse_cron's) given."""
    job = dict(fields)
    job.update({"name": "pgops.backup %s" % name,
                "job": " ".join(quote(a) for a in [JOB_WRAPPER, log_name, "--"] + list(argv))})
    return job


def cron_line(job):
    """The line ansible.builtin.cron writes for a job of wrapped_job's (under its '#Ansible: NAME' comment)."""
    if job.get("special_time"):
        return "@%s %s" % (job["special_time"], job["job"])
    return " ".join([job.get(field) or "*" for field in ("minute", "hour", "day", "month", "weekday")] + [job["job"]])


def jobs_to_write(jobs, crontab):
    """The jobs whose entry in a crontab (`crontab -l`'s text) is missing or other than the job: on a converged
    host none, so the cron module runs only where something changes."""
    lines = (crontab or "").splitlines()
    present = dict((line[len("#Ansible: "):], following)
                   for line, following in zip(lines, lines[1:]) if line.startswith("#Ansible: "))
    return [job for job in jobs or [] if present.get(job["name"]) != cron_line(job)]
