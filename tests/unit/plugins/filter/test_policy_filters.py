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
    FilterModule, archive_settings, backup_jobs, backup_policy, barman_failed_checks, barman_gate_host, pgbackrest_config,
    policy_with_passphrases, repository_index, walg_backup_support, walg_config, walg_version)
from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import JOB_WRAPPER

ACCESS_KEY = "AKIAEXAMPLEACCESS"
SECRET_KEY = "s3cr3t/EXAMPLE+key"
PASSPHRASE = "generated-passphrase-0123456789abcdef"
USER_PASSPHRASE = "users-own-passphrase-0123456789"
LIBSODIUM_KEY = "00112233445566778899aabbccddeeff" * 2
SECRETS = (ACCESS_KEY, SECRET_KEY, PASSPHRASE, USER_PASSPHRASE, LIBSODIUM_KEY)
PG = {"path": "/var/lib/postgresql/15/main", "port": 5432, "socket_path": "/var/run/postgresql"}
# what pg_cluster_info finds
CLUSTER = {"name": "main", "version": "15", "major": 15, "data_directory": "/var/lib/postgresql/15/main",
           "port": 5432, "socket_dir": "/var/run/postgresql"}

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


def walg_policy(**repository):
    """wal-g with one encrypted S3 repository, its keys, a passphrase, and every job kind on."""
    repo = {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio.lab.internal:9000",
            "uri_style": "path", "access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
            "schedule": {"incr": "0 */4 * * *"}}
    repo.update(repository)
    plain = backup_policy(variables(tool="walg", repositories=[repo]))
    return policy_with_passphrases(plain, {"offsite": PASSPHRASE})


def filter_error(function, *args, **kwargs):
    with pytest.raises(AnsibleFilterError) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert message.startswith("pgops.backup policy: ")
    return message


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == sorted([
        "backup_policy", "policy_with_passphrases", "archive_settings", "pgbackrest_config", "repository_index",
        "backup_jobs", "tool_check_argv", "walg_config", "walg_backup_support", "walg_version", "pgbackrest_queue_max",
        "barman_server_settings", "barman_failed_checks", "barman_argv", "barman_gate_host", "barman_streaming_directory"])


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
        assert "offsite" in filter_error(policy_with_passphrases, plain, {})
        filled = policy_with_passphrases(plain, {"offsite": PASSPHRASE})
        assert filled["repositories"][1]["cipher_passphrase"] == PASSPHRASE


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

    def test_walg(self):
        settings = archive_settings(walg_policy())
        assert settings["archive_command"] == "/usr/local/bin/wal-g wal-push %p"
        assert settings["restore_command"] == "/usr/local/bin/wal-g wal-fetch %f %p"
        assert settings["archive_timeout"] == "150s" and settings["wal_level"] == "replica"
        assert not [s for s in SECRETS if s in " ".join(settings.values())]


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
        assert "log" not in job  # the wrapper logs to pg_backup_job_log_dir/main-offsite-full.log

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

    def test_pgbackrest_jobs_take_the_cluster_too(self):
        assert backup_jobs(policy_with_secrets(), CLUSTER) == self.jobs


class TestWalgBackupJobs:
    def setup_method(self):
        self.jobs = backup_jobs(walg_policy(), CLUSTER)
        self.by_name = dict((job["name"], job) for job in self.jobs)

    def test_one_job_per_enabled_kind(self):
        assert sorted(self.by_name) == sorted([
            "pgops.backup main-offsite-full", "pgops.backup main-offsite-diff", "pgops.backup main-offsite-incr",
            "pgops.backup main-offsite-expire"])

    def test_full(self):
        assert shlex.split(self.by_name["pgops.backup main-offsite-full"]["job"]) == [
            JOB_WRAPPER, "main-offsite-full", "--", "/usr/local/bin/wal-g", "backup-push", "--full",
            "/var/lib/postgresql/15/main"]

    def test_diff_and_incr_are_deltas(self):
        for kind in ("diff", "incr"):
            assert shlex.split(self.by_name["pgops.backup main-offsite-%s" % kind]["job"])[3:] == [
                "/usr/local/bin/wal-g", "backup-push", "/var/lib/postgresql/15/main"]

    def test_expire_by_count(self):
        assert shlex.split(self.by_name["pgops.backup main-offsite-expire"]["job"])[3:] == [
            "/usr/local/bin/wal-g", "delete", "retain", "FULL", "2", "--confirm"]

    def test_expire_by_time_is_the_time_retention_job(self):
        jobs = backup_jobs(walg_policy(retention={"type": "time", "full": 14}), CLUSTER)
        job = [j for j in jobs if j["name"] == "pgops.backup main-offsite-expire"][0]["job"]
        assert shlex.split(job) == [JOB_WRAPPER, "main-offsite-expire", "--", "/usr/local/bin/pgops-backup-expire",
                                    "--days", "14"]

    def test_no_percent_sign_cron_would_split_on(self):
        assert not [job["name"] for job in self.jobs if "%" in job["job"]]

    def test_no_secret_in_any_job(self):
        text = repr(self.jobs)
        assert not [s for s in SECRETS if s in text]

    def test_cluster_is_needed(self):
        assert "data_directory" in filter_error(backup_jobs, walg_policy())

    def test_expire_alone_needs_no_cluster(self):
        policy = walg_policy(schedule={"full": "", "diff": "", "incr": ""})
        assert [job["name"] for job in backup_jobs(policy)] == ["pgops.backup main-offsite-expire"]


class TestWalgConfig:
    def test_config(self):
        result = walg_config(walg_policy(), CLUSTER, 2, libsodium_key=LIBSODIUM_KEY)
        assert result["WALG_S3_PREFIX"] == "s3://pg-backups/walg"
        assert result["AWS_ENDPOINT"] == "https://minio.lab.internal:9000"
        assert result["AWS_S3_FORCE_PATH_STYLE"] == "true"
        assert result["WALG_LIBSODIUM_KEY"] == LIBSODIUM_KEY and result["WALG_LIBSODIUM_KEY_TRANSFORM"] == "hex"
        assert result["WALG_UPLOAD_CONCURRENCY"] == "4"
        assert result["PGDATA"] == CLUSTER["data_directory"] and result["PGPORT"] == "5432"
        assert "WALG_DELTA_MAX_STEPS" not in result
        # the generated pgBackRest-style passphrase is not what wal-g encrypts with
        assert PASSPHRASE not in result.values()

    def test_delta_and_brotli(self):
        policy = backup_policy(variables(tool="walg", compression="brotli", repositories=[
            {"type": "s3", "bucket": "b", "access_key": "a", "secret_key": "s", "encrypt": False}]))
        result = walg_config(policy, CLUSTER, "8", delta_max_steps=6, brotli_available=True)
        assert result["WALG_DELTA_MAX_STEPS"] == "6" and result["WALG_COMPRESSION_METHOD"] == "brotli"
        assert result["WALG_UPLOAD_CONCURRENCY"] == "16"
        assert "brotli" in filter_error(walg_config, policy, CLUSTER, 8)

    @pytest.mark.parametrize("key", [None, "", LIBSODIUM_KEY[:63], "k" * 31, "not a key at all"])
    def test_bad_key(self, key):
        message = filter_error(walg_config, walg_policy(), CLUSTER, 2, libsodium_key=key)
        assert "pgops.backup policy: walg_libsodium_key: " in message
        assert not key or key not in message

    def test_tls_verification_off_is_refused_with_the_policy(self):
        with pytest.raises(Exception) as info:
            walg_policy(verify_tls=False)
        assert "pg_backup_repositories[0].verify_tls" in str(info.value)

    def test_without_cluster(self):
        assert "data_directory" in filter_error(walg_config, walg_policy(), None, 2, libsodium_key=LIBSODIUM_KEY)

    def test_pgbackrest_policy(self):
        assert "walg" in filter_error(walg_config, backup_policy(variables()), CLUSTER, 2)


class TestWalgVersion:
    @pytest.mark.parametrize("text, version", [
        ("wal-g version v1.1.3-rc-with-build\tdevel\tdevel\tPostgreSQL", "1.1.3"),
        ("wal-g version v2.0.1\t1eb88a5\t2022.05.20_10:45:57\tPostgreSQL", "2.0.1"),
        ("v3.0.5", "3.0.5"), ("wal-g version devel\tdevel\tdevel\tPostgreSQL", None), ("", None)])
    def test_version(self, text, version):
        assert walg_version(text) == version

    def test_backup_support(self):
        result = walg_backup_support("wal-g version v1.1.3-rc-with-build\tdevel\tdevel\tPostgreSQL", 15)
        assert result["ok"] is False and result["found"] == "1.1.3" and result["required"] == "2.0.1"
        assert "pg_start_backup" in result["msg"]
        assert walg_backup_support("v2.0.1", "17")["ok"] is True
        assert walg_backup_support("v1.1.3", 14)["ok"] is True

    def test_backup_support_bad_major(self):
        assert "major" in filter_error(walg_backup_support, "v2.0.1", "latest")


def test_the_tools_own_check_is_built_by_its_driver():
    from ansible_collections.pgops.backup.plugins.filter.policy import tool_check_argv
    assert tool_check_argv(backup_policy(variables())) == ["pgbackrest", "--stanza=main", "check"]


class TestRepositoryIndex:
    """restore.yml's restore_repository: the index of one of the policy's repositories, checked before anything."""

    def test_index_or_name_of_the_policy_s_repositories(self):
        policy = policy_with_secrets()
        assert [repository_index(policy, value, "restore_repository") for value in (None, 2, "2", "offsite", "dr")] \
            == [None, 2, 2, 2, 3]

    def test_another_is_refused_naming_the_variable_and_the_policy_s_repositories(self):
        message = filter_error(repository_index, policy_with_secrets(), "remote", "restore_repository")
        assert message == ("pgops.backup policy: restore_repository: 'remote' is not a repository of the policy: give "
                           "the index or the name of one of 1 (local), 2 (offsite), 3 (dr)")

    def test_wal_g_has_one(self):
        assert "of one of 1 (offsite)" in filter_error(repository_index, walg_policy(), 2, "restore_repository")


def test_barman_schedules_its_backups_and_leaves_retention_to_barman_cron():
    policy = backup_policy(variables(tool="barman", repository_host="barman1",
                                     repositories=[{"name": "local", "type": "posix", "retention": {"full": 2}}],
                                     schedule={"full": "30 1 * * *", "diff": "", "incr": "", "expire": "45 3 * * *"}))
    (job,) = backup_jobs(policy)
    assert job["name"] == "pgops.backup main-local-full"
    assert shlex.split(job["job"])[3:] == ["/usr/bin/barman", "-q", "backup", "--wait", "--wait-timeout", "270", "main"]


def test_barmans_failed_checks_are_named_with_their_hints(fixture_text):
    text = fixture_text("barman/check-receive-wal-stopped-bookworm.captured.json")
    assert sorted(barman_failed_checks(text, "main")) == ["receive_wal_running", "replication_slot"]
    assert "replication_slot: slot 'barman_main' not active: is 'receive-wal' running?" in barman_failed_checks(
        text, "main", hints=True)
    assert barman_failed_checks(fixture_text("barman/check-bookworm.captured.json"), "main") == []


def test_output_that_is_not_barmans_counts_as_a_failed_check():
    assert barman_failed_checks("Traceback (most recent call last):", "main") == ["barman check"]


def test_the_gate_host_is_the_drivers_name_for_the_server():
    # the ~/.ssh/config entry the role writes and the name the driver's requests use must be one
    from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman import Barman
    assert barman_gate_host({"stanza": "main"}) == "pgops-barman-main"
    assert Barman({"tool": "barman", "stanza": "main"}, gate=True).list_backups_argv()[4] == "pgops-barman-main"
