# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters the roles call: policy validation, postgresql.conf settings, pgbackrest.conf, cron jobs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.policy import (
    JOB_WRAPPER, FilterModule, archive_settings, backup_jobs, backup_policy, passphrases_needed, pgbackrest_config,
    policy_with_passphrases)

ACCESS_KEY = "AKIAEXAMPLEACCESS"
SECRET_KEY = "s3cr3t/EXAMPLE+key"
PASSPHRASE = "generated-passphrase-0123456789abcdef"
USER_PASSPHRASE = "users-own-passphrase-0123456789"
SECRETS = (ACCESS_KEY, SECRET_KEY, PASSPHRASE, USER_PASSPHRASE)
PG = {"path": "/var/lib/postgresql/15/main", "port": 5432, "socket_path": "/var/run/postgresql"}

# what roles/_common/tasks/policy.yml hands to backup_policy, with the role defaults
DEFAULTS = {"tool": "pgbackrest", "stanza": "main", "rpo": "5m", "wal_level": "replica",
            "repositories": [{"name": "local", "type": "posix", "path": "/var/lib/pgbackrest",
                              "retention": {"full": 2}}],
            "schedule": {"full": "30 1 * * 0", "diff": "30 1 * * 1-6", "incr": "", "expire": "45 3 * * *"},
            "compression": None, "repository_host": None}


def variables(**overrides):
    result = dict(DEFAULTS)
    result.update(overrides)
    return result


def policy_with_secrets():
    """Two repositories, one of them S3 with keys and a passphrase from the controller, one with the user's own."""
    plain = backup_policy(variables(repositories=[
        {"name": "local", "type": "posix"},
        {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio.lab.internal:9000",
         "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "schedule": {"incr": "0 */4 * * *"}},
        {"name": "dr", "type": "s3", "bucket": "pg-dr", "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
         "cipher_passphrase": USER_PASSPHRASE, "schedule": {"diff": "", "full": "@monthly"}},
    ]))
    return policy_with_passphrases(plain, {"offsite": PASSPHRASE})


def filter_error(function, *args, **kwargs):
    with pytest.raises(AnsibleFilterError) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert message.startswith("pgops.backup policy: ")
    return message


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == sorted([
        "backup_policy", "passphrases_needed", "policy_with_passphrases", "archive_settings", "pgbackrest_config",
        "backup_jobs"])


class TestBackupPolicy:
    def test_role_defaults_are_a_valid_policy(self):
        policy = backup_policy(variables())
        assert policy["tool"] == "pgbackrest" and policy["archive_timeout"] == 150

    def test_error_names_the_variable(self):
        message = filter_error(backup_policy, variables(rpo="soon"))
        assert "pg_backup_rpo: " in message

    def test_error_in_a_repository(self):
        message = filter_error(backup_policy, variables(repositories=[{"type": "s3"}]))
        assert "pg_backup_repositories[0].bucket" in message

    def test_unknown_setting(self):
        message = filter_error(backup_policy, variables(retention_days=7))
        assert "unknown policy setting" in message and "retention_days" in message

    def test_passphrases(self):
        plain = backup_policy(variables(repositories=[
            {"name": "local", "type": "posix"},
            {"name": "offsite", "type": "s3", "bucket": "b", "access_key": "a", "secret_key": "s"}]))
        assert passphrases_needed(plain) == ["offsite"]
        assert "offsite" in filter_error(policy_with_passphrases, plain, {})
        filled = policy_with_passphrases(plain, {"offsite": PASSPHRASE})
        assert passphrases_needed(filled) == []


class TestArchiveSettings:
    def test_settings(self):
        assert archive_settings(backup_policy(variables(rpo="2m", wal_level="logical"))) == {
            "wal_level": "logical",
            "archive_mode": "on",
            "archive_command": "pgbackrest --stanza=main archive-push %p",
            "restore_command": 'pgbackrest --stanza=main archive-get %f "%p"',
            "archive_timeout": "60s",
        }

    def test_archive_timeout_floor(self):
        assert archive_settings(backup_policy(variables(rpo="1m")))["archive_timeout"] == "30s"

    def test_no_secret(self):
        values = " ".join(archive_settings(policy_with_secrets()).values())
        assert not [s for s in SECRETS if s in values]


class TestPgbackrestConfig:
    def test_sections(self):
        result = pgbackrest_config(policy_with_secrets(), "standalone", PG, 2)
        assert [name for name, dummy in result] == ["global", "global:archive-push", "global:archive-get", "main"]

    def test_database_host_gets_no_secret(self):
        result = pgbackrest_config(policy_with_secrets(), "pg", PG, 2, repository_host="backup1")
        values = [value for dummy, options in result for dummy, value in options]
        assert not [s for s in SECRETS if s in values]

    def test_compression_pgbackrest_cannot_do(self):
        assert "brotli" in filter_error(pgbackrest_config, backup_policy(variables(compression="brotli")),
                                        "standalone", PG, 2)

    def test_unknown_role(self):
        assert "host_role" in filter_error(pgbackrest_config, backup_policy(variables()), "replica", PG, 2)


class TestBackupJobs:
    def setup_method(self):
        self.jobs = backup_jobs(policy_with_secrets())
        self.by_name = dict((job["name"], job) for job in self.jobs)

    def test_one_job_per_repository_and_enabled_kind(self):
        assert sorted(self.by_name) == sorted([
            "pgops.backup main-local-full", "pgops.backup main-local-diff", "pgops.backup main-local-expire",
            "pgops.backup main-offsite-full", "pgops.backup main-offsite-diff", "pgops.backup main-offsite-incr",
            "pgops.backup main-offsite-expire",
            "pgops.backup main-dr-full", "pgops.backup main-dr-expire",
        ])
        assert len(self.jobs) == len(self.by_name)

    def test_disabled_kinds_are_absent(self):
        assert "pgops.backup main-local-incr" not in self.by_name
        assert "pgops.backup main-dr-diff" not in self.by_name
        assert "pgops.backup main-dr-incr" not in self.by_name

    def test_cron_fields_are_split(self):
        job = self.by_name["pgops.backup main-local-diff"]
        assert dict((k, job[k]) for k in ("minute", "hour", "day", "month", "weekday")) == {
            "minute": "30", "hour": "1", "day": "*", "month": "*", "weekday": "1-6"}
        assert "special_time" not in job
        assert self.by_name["pgops.backup main-offsite-incr"]["hour"] == "*/4"

    def test_special_time(self):
        job = self.by_name["pgops.backup main-dr-full"]
        assert job["special_time"] == "monthly"
        assert "minute" not in job

    def test_job_runs_the_wrapper_with_the_tools_argv(self):
        job = self.by_name["pgops.backup main-offsite-full"]
        assert job["job"].startswith(JOB_WRAPPER + " ")
        assert JOB_WRAPPER == "/usr/local/bin/pgops-backup-job"
        assert shlex.split(job["job"]) == [JOB_WRAPPER, "main-offsite-full", "--", "pgbackrest", "--stanza=main",
                                           "--repo=2", "--type=full", "backup"]
        assert job["log"] == "/var/log/pgops-backup/main-offsite-full.log"

    def test_expire_job(self):
        assert shlex.split(self.by_name["pgops.backup main-dr-expire"]["job"])[3:] == [
            "pgbackrest", "--stanza=main", "--repo=3", "expire"]

    def test_every_job_starts_with_the_wrapper(self):
        assert all(job["job"].startswith(JOB_WRAPPER + " ") for job in self.jobs)

    def test_no_secret_in_any_job(self):
        text = repr(self.jobs)
        assert not [s for s in SECRETS if s in text]

    def test_no_percent_sign_cron_would_split_on(self):
        assert not [job["name"] for job in self.jobs if "%" in job["job"]]

    def test_default_policy(self):
        jobs = backup_jobs(backup_policy(variables()))
        assert sorted(job["name"] for job in jobs) == [
            "pgops.backup main-local-diff", "pgops.backup main-local-expire", "pgops.backup main-local-full"]
