# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pgBackRest driver: commands, pgbackrest.conf for each host role, and `info` parsed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import configparser

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import (
    LOG_PATH, PgBackRest, SPOOL_PATH, keys_in_use, parse_config, parse_info, render_config, repository_location,
    stanza_state)
from ansible_collections.pgops.backup.plugins.module_utils.policy import (
    minimal_policy, normalize_policy, with_passphrases)

PG = {"path": "/var/lib/postgresql/15/main", "port": 5432, "socket_path": "/var/run/postgresql"}
ACCESS_KEY = "AKIAEXAMPLEACCESS"
SECRET_KEY = "s3cr3t/EXAMPLE+key"
PASSPHRASE = "generated-passphrase-0123456789abcdef"
SECRETS = (ACCESS_KEY, SECRET_KEY, PASSPHRASE)
SYSTEM_ID = "7435286245716893416"
OTHER_SYSTEM_ID = "7301234567890123456"


def two_repo_policy(**overrides):
    """repo1: posix, count retention; repo2: encrypted s3 on MinIO, time retention with diff."""
    settings = dict(repositories=[
        {"name": "local", "type": "posix", "path": "/var/lib/pgbackrest", "retention": {"full": 2}},
        {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "https://minio.lab.internal:9000",
         "uri_style": "path", "ca_file": "/etc/pgbackrest/lab-ca.pem", "access_key": ACCESS_KEY,
         "secret_key": SECRET_KEY, "retention": {"type": "time", "full": 30, "diff": 7}},
    ])
    settings.update(overrides)
    return with_passphrases(normalize_policy(**settings), {"offsite": PASSPHRASE})


def sections(role="standalone", policy=None, **kwargs):
    kwargs.setdefault("process_max", 4)
    if role == "pg":
        kwargs.setdefault("repository_host", "backup1.lab.internal")
    if role == "repository":
        kwargs.setdefault("pg_host", "db1.lab.internal")
    result = PgBackRest(policy or two_repo_policy()).config_sections(role, PG, **kwargs)
    # each section appears once and holds each option once, as pgBackRest expects
    assert len(set(name for name, dummy in result)) == len(result)
    for dummy, options in result:
        assert len(set(key for key, dummy in options)) == len(options)
        assert all(isinstance(value, str) for dummy, value in options)
    return dict((name, dict(options)) for name, options in result)


def all_values(config):
    return [value for options in config.values() for value in options.values()]


class TestCommands:
    def setup_method(self):
        self.tool = PgBackRest(two_repo_policy(stanza="prod"))
        self.repo2 = self.tool.policy["repositories"][1]

    def test_archive_command(self):
        assert self.tool.archive_command() == "pgbackrest --stanza=prod archive-push %p"

    def test_restore_command(self):
        assert self.tool.restore_command() == 'pgbackrest --stanza=prod archive-get %f "%p"'

    @pytest.mark.parametrize("kind", ["full", "diff", "incr"])
    def test_backup_argv(self, kind):
        assert self.tool.backup_argv(self.repo2, kind) == [
            "pgbackrest", "--stanza=prod", "--repo=2", "--type=%s" % kind, "backup"]

    def test_unknown_backup_type(self):
        with pytest.raises(ValueError, match="'expire'"):
            self.tool.backup_argv(self.repo2, "expire")

    def test_expire_argv(self):
        assert self.tool.expire_argv(self.repo2) == ["pgbackrest", "--stanza=prod", "--repo=2", "expire"]

    def test_other_argv(self):
        assert self.tool.info_argv() == ["pgbackrest", "--stanza=prod", "--output=json", "info"]
        assert self.tool.stanza_create_argv() == ["pgbackrest", "--stanza=prod", "stanza-create"]
        assert self.tool.check_argv() == ["pgbackrest", "--stanza=prod", "check"]

    def test_no_argv_carries_a_secret(self):
        argvs = [self.tool.backup_argv(r, "full") for r in self.tool.policy["repositories"]]
        argvs += [self.tool.expire_argv(r) for r in self.tool.policy["repositories"]]
        argvs += [self.tool.info_argv(), self.tool.stanza_create_argv(), self.tool.check_argv()]
        text = " ".join(" ".join(argv) for argv in argvs)
        assert not [s for s in SECRETS if s in text]


class TestStandaloneConfig:
    def setup_method(self):
        self.config = sections("standalone", process_max=6)
        self.glob = self.config["global"]

    def test_section_order(self):
        names = [n for n, dummy in PgBackRest(two_repo_policy()).config_sections("standalone", PG, 6)]
        assert names == ["global", "global:archive-push", "global:archive-get", "main"]

    def test_logging(self):
        assert self.glob["log-path"] == LOG_PATH
        assert self.glob["log-level-file"] == "detail"

    def test_compression_is_zstd_never_gzip(self):
        assert self.glob["compress-type"] == "zst"
        assert self.glob["compress-level"] == "3"
        assert "gz" not in all_values(self.config)

    @pytest.mark.parametrize("compression, compress_type", [("lz4", "lz4"), ("gzip", "gz"), ("bzip2", "bz2"),
                                                            ("none", "none")])
    def test_chosen_compression(self, compression, compress_type):
        glob = sections(policy=two_repo_policy(compression=compression))["global"]
        assert glob["compress-type"] == compress_type
        assert "compress-level" not in glob

    @pytest.mark.parametrize("compression", ["brotli", "lzma"])
    def test_compression_pgbackrest_cannot_do(self, compression):
        with pytest.raises(ToolError, match=compression):
            sections(policy=two_repo_policy(compression=compression))

    def test_process_max_from_the_cores_given(self):
        assert self.glob["process-max"] == "6"
        # archive-push/get: at most 4, they move one 16 MB segment each
        assert self.config["global:archive-push"] == {"process-max": "4"}
        assert self.config["global:archive-get"] == {"process-max": "4"}

    @pytest.mark.parametrize("cores, backup, archive", [(0, "1", "1"), ("2", "2", "2"), (1, "1", "1")])
    def test_process_max_never_below_one(self, cores, backup, archive):
        config = sections(process_max=cores)
        assert config["global"]["process-max"] == backup
        assert config["global:archive-push"]["process-max"] == archive

    def test_async_archiving_with_spool(self):
        assert self.glob["archive-async"] == "y"
        assert self.glob["spool-path"] == SPOOL_PATH

    def test_start_fast(self):
        assert self.glob["start-fast"] == "y"

    def test_posix_repository(self):
        assert self.glob["repo1-type"] == "posix"
        assert self.glob["repo1-path"] == "/var/lib/pgbackrest"
        assert not [k for k in self.glob if k.startswith("repo1-s3") or k.startswith("repo1-storage")]

    def test_retention_by_count(self):
        assert self.glob["repo1-retention-full-type"] == "count"
        assert self.glob["repo1-retention-full"] == "2"
        assert "repo1-retention-diff" not in self.glob

    def test_retention_by_time_with_diff(self):
        assert self.glob["repo2-retention-full-type"] == "time"
        assert self.glob["repo2-retention-full"] == "30"
        assert self.glob["repo2-retention-diff"] == "7"

    def test_encryption_only_on_encrypted_repositories(self):
        assert self.glob["repo2-cipher-type"] == "aes-256-cbc"
        assert self.glob["repo2-cipher-pass"] == PASSPHRASE
        assert "repo1-cipher-type" not in self.glob and "repo1-cipher-pass" not in self.glob

    def test_s3_repository(self):
        expected = {
            "repo2-type": "s3",
            "repo2-path": "/pgbackrest",
            "repo2-s3-bucket": "pg-backups",
            "repo2-s3-endpoint": "minio.lab.internal",
            "repo2-storage-port": "9000",
            "repo2-s3-region": "us-east-1",
            "repo2-s3-uri-style": "path",
            "repo2-s3-key": ACCESS_KEY,
            "repo2-s3-key-secret": SECRET_KEY,
            "repo2-storage-verify-tls": "y",
            "repo2-storage-ca-file": "/etc/pgbackrest/lab-ca.pem",
        }
        assert dict((k, self.glob.get(k)) for k in expected) == expected

    def test_s3_without_port_ca_file_or_tls_verification(self):
        policy = two_repo_policy(repositories=[{
            "type": "s3", "bucket": "b", "region": "eu-west-3", "access_key": "a", "secret_key": "s",
            "verify_tls": False, "encrypt": False}])
        glob = sections(policy=policy)["global"]
        assert glob["repo1-s3-endpoint"] == "s3.eu-west-3.amazonaws.com"
        assert glob["repo1-storage-verify-tls"] == "n"
        assert "repo1-storage-port" not in glob and "repo1-storage-ca-file" not in glob
        assert "repo1-cipher-type" not in glob

    def test_stanza_section(self):
        assert self.config["main"] == {"pg1-path": PG["path"], "pg1-port": "5432",
                                       "pg1-socket-path": "/var/run/postgresql"}

    def test_stanza_without_socket_path(self):
        pg = {"path": PG["path"], "port": 5433}
        config = dict((n, dict(o)) for n, o in PgBackRest(two_repo_policy()).config_sections("standalone", pg, 2))
        assert config["main"] == {"pg1-path": PG["path"], "pg1-port": "5433"}

    def test_unknown_role(self):
        with pytest.raises(ValueError, match="host_role"):
            sections("backup")


class TestDatabaseHostConfig:
    """Role 'pg': the database host of a repository-host pair only knows how to reach the repository host."""

    def setup_method(self):
        self.config = sections("pg", repository_host="backup1.lab.internal")
        self.glob = self.config["global"]

    def test_every_repository_is_reached_through_the_repository_host(self):
        repo_options = dict((k, v) for k, v in self.glob.items() if k.startswith("repo"))
        assert repo_options == {"repo1-host": "backup1.lab.internal", "repo1-host-user": "pgbackrest",
                                "repo2-host": "backup1.lab.internal", "repo2-host-user": "pgbackrest"}

    def test_no_secret_and_no_s3_option(self):
        assert not [s for s in SECRETS if s in all_values(self.config)]
        assert not [k for k in self.glob if "s3" in k or "cipher" in k or "storage" in k or "retention" in k]

    def test_archives_asynchronously(self):
        assert self.glob["archive-async"] == "y"
        assert self.glob["spool-path"] == SPOOL_PATH
        assert "global:archive-push" in self.config

    def test_wal_is_compressed_as_the_policy_says(self):
        # archive-push compresses on the database host, with this host's compress-type (pgBackRest's default: gz)
        assert self.glob["compress-type"] == "zst"

    def test_backups_are_not_run_here(self):
        assert "process-max" not in self.glob and "start-fast" not in self.glob

    def test_stanza_section_is_local(self):
        assert self.config["main"]["pg1-path"] == PG["path"]
        assert "pg1-host" not in self.config["main"]


class TestRepositoryHostConfig:
    def setup_method(self):
        self.config = sections("repository", pg_host="db1.lab.internal")
        self.glob = self.config["global"]

    def test_holds_the_repositories(self):
        assert self.glob["repo1-path"] == "/var/lib/pgbackrest"
        assert self.glob["repo2-s3-key-secret"] == SECRET_KEY
        assert self.glob["repo2-cipher-pass"] == PASSPHRASE
        assert "repo1-host" not in self.glob

    def test_reaches_the_database_host(self):
        assert self.config["main"] == {"pg1-path": PG["path"], "pg1-port": "5432", "pg1-host": "db1.lab.internal",
                                       "pg1-host-user": "postgres"}

    def test_does_not_archive(self):
        assert "archive-async" not in self.glob and "spool-path" not in self.glob
        assert "global:archive-push" not in self.config and "global:archive-get" not in self.config

    def test_runs_backups(self):
        assert self.glob["start-fast"] == "y"
        assert self.glob["process-max"] == "4"
        assert self.glob["compress-type"] == "zst"


class TestReadOnlyConfig:
    """The restore test's throwaway host: how to reach and decrypt each repository, and nothing that writes there."""

    def setup_method(self):
        policy = two_repo_policy()
        # as the restore test reads it: its S3 repository only, still repo2
        policy["repositories"] = policy["repositories"][1:]
        self.raw = PgBackRest(policy).read_only_sections(6)
        self.config = dict((name, dict(options)) for name, options in self.raw)

    def test_reaches_and_decrypts_the_repository_under_its_own_index(self):
        glob = self.config["global"]
        assert (glob["repo2-type"], glob["repo2-s3-bucket"], glob["repo2-s3-endpoint"], glob["repo2-storage-port"]) == \
            ("s3", "pg-backups", "minio.lab.internal", "9000")
        assert glob["repo2-storage-verify-tls"] == "y" and glob["repo2-storage-ca-file"] == "/etc/pgbackrest/lab-ca.pem"
        assert glob["repo2-cipher-type"] == "aes-256-cbc" and glob["repo2-cipher-pass"] == PASSPHRASE
        assert not [option for option in glob if option.startswith("repo1-")]

    def test_holds_no_retention_no_database_and_no_archive_push(self):
        options = [option for dummy, section in self.raw for option, dummy in section]
        assert not [o for o in options if "retention" in o or o.startswith("pg1-") or o == "archive-push-queue-max"]
        assert [name for name, dummy in self.raw] == ["global", "global:archive-get"]

    def test_restores_in_parallel_and_prefetches_wal(self):
        assert self.config["global"]["process-max"] == "6" and self.config["global:archive-get"]["process-max"] == "4"
        assert self.config["global"]["archive-async"] == "y" and self.config["global"]["spool-path"] == SPOOL_PATH


class TestRenderConfig:
    HEADER = "Managed by pgops.backup\npgBackRest for stanza main\n100% generated: do not edit"

    def parse(self, text):
        parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
        parser.optionxform = str  # keep option names as written
        parser.read_string(text)
        return parser

    @pytest.mark.parametrize("role", ["standalone", "pg", "repository"])
    def test_valid_ini_that_reads_back_the_same(self, role):
        raw = PgBackRest(two_repo_policy()).config_sections(
            role, PG, 4, repository_host="backup1.lab.internal", pg_host="db1.lab.internal")
        parser = self.parse(render_config(raw, self.HEADER))
        assert parser.sections() == [name for name, dummy in raw]
        for name, options in raw:
            assert list(parser[name].items()) == options

    def test_header_is_comments(self):
        text = render_config(PgBackRest(two_repo_policy()).config_sections("standalone", PG, 4), self.HEADER)
        lines = text.splitlines()
        assert lines[:3] == ["# Managed by pgops.backup", "# pgBackRest for stanza main",
                             "# 100% generated: do not edit"]
        assert lines[3] == "" and lines[4] == "[global]"
        assert text.endswith("\n") and not text.endswith("\n\n")

    def test_no_spaces_around_equals(self):
        text = render_config([("global", [("repo1-path", "/var/lib/pgbackrest")])], "h")
        assert "repo1-path=/var/lib/pgbackrest" in text.splitlines()

    def test_secret_with_percent_and_hash_survives(self):
        raw = [("global", [("repo1-cipher-pass", "a%b#c;d=e")])]
        assert self.parse(render_config(raw, "h"))["global"]["repo1-cipher-pass"] == "a%b#c;d=e"


class TestKeysInUse:
    """What a host's pgbackrest.conf encrypts each repository with, read back from the file the role writes."""

    def written(self, role="standalone", policy=None):
        raw = PgBackRest(policy or two_repo_policy()).config_sections(
            role, PG, 4, repository_host="backup1", pg_host="db1")
        return render_config(raw, "Managed by pgops.backup")

    def test_the_role_s_own_file_reads_back_its_key_and_location(self):
        policy = two_repo_policy()
        [found] = keys_in_use(self.written(policy=policy), "main", "db1")
        assert found == {"index": 2, "option": "repo2-cipher-pass", "key": PASSPHRASE,
                         "location": repository_location(policy["repositories"][1], "db1")}
        assert found["location"] == ("s3", "minio.lab.internal", 9000, "pg-backups", "/pgbackrest")

    def test_a_database_host_behind_a_repository_host_holds_no_key(self):
        assert keys_in_use(self.written("pg"), "main", "db1") == []

    def test_the_repository_host_holds_them(self):
        [found] = keys_in_use(self.written("repository"), "main", "backup1")
        assert found["key"] == PASSPHRASE and found["index"] == 2

    def test_a_posix_repository_is_on_the_host_whose_file_it_is(self):
        text = "[global]\nrepo1-path=/backups/\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=p1\n"
        [found] = keys_in_use(text, "main", "db1")
        assert found["location"] == ("posix", "db1", "/backups")
        policy = two_repo_policy(repositories=[{"name": "local", "type": "posix", "path": "/backups"}])
        assert repository_location(policy["repositories"][0], "db1") == found["location"]
        assert repository_location(policy["repositories"][0], "backup1") != found["location"]

    def test_pgbackrest_s_defaults_when_the_file_leaves_them_out(self):
        text = "[global]\nrepo1-cipher-pass=p1\nrepo3-type=s3\nrepo3-s3-bucket=b\nrepo3-s3-endpoint=s3.example.com\n" \
               "repo3-cipher-pass=p3\n"
        found = keys_in_use(text, "main", "db1")
        assert [f["location"] for f in found] == [("posix", "db1", "/var/lib/pgbackrest"),
                                                  ("s3", "s3.example.com", 443, "b", "/var/lib/pgbackrest")]

    def test_an_endpoint_with_its_port_is_the_same_place(self):
        text = "[global]\nrepo1-type=s3\nrepo1-s3-bucket=pg-backups\nrepo1-s3-endpoint=MinIO.lab.internal:9000\n" \
               "repo1-path=/pgbackrest/\nrepo1-cipher-pass=p1\n"
        [found] = keys_in_use(text, "main", "db1")
        assert found["location"] == repository_location(two_repo_policy()["repositories"][1], "db1")

    def test_the_stanza_s_section_overrides_global_and_other_stanzas_do_not_count(self):
        text = ("# comment\n[global]\nrepo1-cipher-pass = global-pass\n[main]\nrepo1-cipher-pass=stanza-pass\n"
                "[other]\nrepo2-cipher-pass=other-pass\n")
        assert [(f["index"], f["key"]) for f in keys_in_use(text, "main", "db1")] == [(1, "stanza-pass")]

    def test_a_passphrase_with_equals_and_hash_is_read_whole(self):
        text = "[global]\nrepo1-cipher-pass=a=b#c\n"
        assert keys_in_use(text, "main", "db1")[0]["key"] == "a=b#c"

    def test_an_empty_or_missing_file_holds_no_key(self):
        assert keys_in_use("", "main", "db1") == [] and parse_config(None) == {}

    def test_an_encrypted_repository_without_a_passphrase_is_never_written(self):
        policy = two_repo_policy()
        policy["repositories"][1]["cipher_passphrase"] = None
        with pytest.raises(ToolError, match="'offsite' is encrypted but has no passphrase"):
            PgBackRest(policy).config_sections("standalone", PG, 4)


class TestParseInfo:
    def test_two_repositories(self, fixture_text):
        [stanza] = parse_info(fixture_text("pgbackrest/info-two-repos.handwritten.json"))
        assert stanza["name"] == "main"
        assert (stanza["status_code"], stanza["status"]) == (0, "ok")
        assert stanza["system_id"] == int(SYSTEM_ID)
        assert [(r["key"], r["status_code"], r["status"]) for r in stanza["repositories"]] == [
            (1, 0, "ok"), (2, 0, "ok")]
        repo1, repo2 = stanza["repositories"]
        assert [b["label"] for b in repo1["backups"]] == ["20250302-013002F", "20250302-013002F_20250303-013001D"]
        assert [b["label"] for b in repo2["backups"]] == ["20250302-014511F"]
        assert stanza["archive"] == [
            {"id": "15-1", "min": "000000010000000000000004", "max": "000000010000000000000009"},
            {"id": "15-1", "min": "000000010000000000000005", "max": "000000010000000000000009"}]

    def test_backup_details(self, fixture_text):
        [stanza] = parse_info(fixture_text("pgbackrest/info-two-repos.handwritten.json"))
        diff = stanza["repositories"][0]["backups"][1]
        assert diff == {
            "label": "20250302-013002F_20250303-013001D", "type": "diff", "prior": "20250302-013002F",
            "start": 1740965401, "stop": 1740965409,
            "size": 31559187, "repository_size": 4115342, "lsn_start": "0/7000028", "lsn_stop": "0/7000100",
            "wal_start": "000000010000000000000007", "wal_stop": "000000010000000000000007", "error": False}

    def test_empty(self, fixture_text):
        assert parse_info(fixture_text("pgbackrest/info-empty.handwritten.json")) == []

    def test_missing_stanza(self, fixture_text):
        [stanza] = parse_info(fixture_text("pgbackrest/info-missing-stanza.handwritten.json"))
        assert stanza["system_id"] is None
        assert [(r["key"], r["status_code"], r["backups"]) for r in stanza["repositories"]] == [(1, 1, []), (2, 1, [])]

    def test_current_system_id_is_the_newest_after_an_upgrade(self, fixture_text):
        [stanza] = parse_info(fixture_text("pgbackrest/info-upgraded.handwritten.json"))
        assert stanza["system_id"] == int(SYSTEM_ID)
        assert [a["id"] for a in stanza["archive"]] == ["14-1", "15-2"]

    def test_backup_of_a_repository_not_listed_is_kept(self):
        text = ('[{"name": "main", "status": {"code": 0, "message": "ok"}, "backup": [{"label": "20250101-000000F",'
                ' "type": "full", "timestamp": {"start": 1, "stop": 2}}]}]')
        [stanza] = parse_info(text)
        [repo] = stanza["repositories"]
        assert repo["key"] == 1 and repo["backups"][0]["label"] == "20250101-000000F"
        assert repo["backups"][0]["size"] is None and repo["backups"][0]["error"] is False

    @pytest.mark.parametrize("text", ["", "P00  ERROR: [055]: unable to load info file", "[{"])
    def test_not_json(self, text):
        with pytest.raises(ToolError, match="did not return JSON"):
            parse_info(text)


class TestStanzaState:
    def state(self, fixture_text, name, expected_repos=(1, 2), system_id=SYSTEM_ID, stanza="main"):
        return stanza_state(parse_info(fixture_text("pgbackrest/" + name)), stanza, list(expected_repos),
                            system_id)

    def test_no_stanza_at_all(self, fixture_text):
        state, message = self.state(fixture_text, "info-empty.handwritten.json")
        assert state == "missing" and "not in any repository" in message

    def test_missing_in_every_repository(self, fixture_text):
        state, message = self.state(fixture_text, "info-missing-stanza.handwritten.json")
        assert state == "missing" and message.endswith("repositories 1, 2")

    def test_present_in_both(self, fixture_text):
        assert self.state(fixture_text, "info-two-repos.handwritten.json") == (
            "present", "stanza main exists in every repository")

    def test_present_without_system_id_to_compare(self, fixture_text):
        assert self.state(fixture_text, "info-two-repos.handwritten.json", system_id=None)[0] == "present"

    def test_present_before_the_first_backup(self, fixture_text):
        assert self.state(fixture_text, "info-no-backup.handwritten.json", expected_repos=[1])[0] == "present"

    def test_missing_in_repository_2_only(self, fixture_text):
        state, message = self.state(fixture_text, "info-repo2-missing.handwritten.json")
        assert state == "missing" and message.endswith("repositories 2")

    def test_repository_not_reported_counts_as_missing(self, fixture_text):
        state, message = self.state(fixture_text, "info-no-backup.handwritten.json", expected_repos=[1, 3])
        assert state == "missing" and message.endswith("repositories 3")

    def test_other_stanza_in_the_output_does_not_count(self, fixture_text):
        state, dummy = self.state(fixture_text, "info-two-repos.handwritten.json", stanza="reporting")
        assert state == "missing"

    def test_system_id_mismatch(self, fixture_text):
        with pytest.raises(ToolError) as info:
            self.state(fixture_text, "info-two-repos.handwritten.json", system_id=OTHER_SYSTEM_ID)
        message = str(info.value)
        assert SYSTEM_ID in message and OTHER_SYSTEM_ID in message
        assert "pg_backup_stanza" in message and "stanza-upgrade" in message

    def test_system_id_compared_as_text(self, fixture_text):
        assert self.state(fixture_text, "info-two-repos.handwritten.json", system_id=int(SYSTEM_ID))[0] == "present"

    def test_unreadable_repository_is_an_error_not_present(self, fixture_text):
        with pytest.raises(ToolError) as info:
            self.state(fixture_text, "info-repo-error.handwritten.json")
        assert "repository 2" in str(info.value) and "HostConnectError" in str(info.value)


@pytest.mark.parametrize("fixture,version", [("info-two-repos-pg15.captured.json", "15"),
                                             ("info-repo-host-pg17.captured.json", "17")])
def test_real_info_output_parses_into_a_full_backup_per_repository(fixture, version):
    import json
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "pgbackrest", fixture)
    with open(path) as f:
        text = f.read()
    raw = json.loads(text)[0]
    stanzas = parse_info(text)
    assert [s["name"] for s in stanzas] == ["main"]
    stanza = stanzas[0]
    assert stanza["system_id"] == raw["db"][-1]["system-id"]
    assert [r["key"] for r in stanza["repositories"]] == [1, 2]
    for repo in stanza["repositories"]:
        fulls = [b for b in repo["backups"] if b["type"] == "full"]
        assert fulls, "repo%d has no full backup" % repo["key"]
        backup = fulls[0]
        assert backup["label"].endswith("F")
        assert backup["stop"] >= backup["start"]
        assert backup["size"] > 0 and backup["lsn_start"] and backup["wal_start"]
        assert not backup["error"]
    assert all(a["min"] and a["max"] for a in stanza["archive"])
    assert raw["db"][-1]["version"] == version
    state, _message = stanza_state(stanzas, "main", [1, 2], system_id=stanza["system_id"])
    assert state == "present"
    with pytest.raises(ToolError, match="belongs to system id"):
        stanza_state(stanzas, "main", [1, 2], system_id="1")


def fake_run(text, calls=None):
    """run(argv) -> stdout, as modules supply it, answering every command with ``text``."""

    def run(argv):
        if calls is not None:
            calls.append(list(argv))
        return text

    return run


def minimal_tool(stanza="main"):
    return PgBackRest(minimal_policy("pgbackrest", stanza))


class TestInventory:
    @pytest.mark.parametrize("fixture, labels, times, archive", [
        ("info-two-repos-pg15.captured.json", ["20261126-055056F", "20261126-055059F"],
         [(1795672256, 1795672258), (1795672259, 1795672263)],
         ("000000010000000000000001", "000000010000000000000008")),
        ("info-repo-host-pg17.captured.json", ["20261126-055103F", "20261126-055107F"],
         [(1795672263, 1795672266), (1795672267, 1795672271)],
         ("000000010000000000000001", "000000010000000000000008")),
    ])
    def test_real_info_output(self, fixture_text, fixture, labels, times, archive):
        calls = []
        result = minimal_tool().inventory(fake_run(fixture_text("pgbackrest/" + fixture), calls))
        assert calls == [["pgbackrest", "--stanza=main", "--output=json", "info"]]  # one call
        repo1, repo2 = result["repositories"]
        assert [(r["index"], r["name"], r["status"]) for r in (repo1, repo2)] == [
            (1, "repo1", "ok"), (2, "repo2", "ok")]
        for repo, label, (start, stop) in zip((repo1, repo2), labels, times):
            [backup] = repo["backups"]
            assert backup["label"] == label and backup["type"] == "full"
            assert (backup["start"], backup["stop"], backup["duration"]) == (start, stop, stop - start)
            for key in ("start", "stop", "duration", "size", "repository_size"):
                assert isinstance(backup[key], int) and not isinstance(backup[key], bool), key
            assert backup["repository"] == repo["index"] and backup["error"] is False
            assert backup["lsn_start"].count("/") == 1 and backup["lsn_stop"].count("/") == 1
            assert len(backup["wal_start"]) == 24 and len(backup["wal_stop"]) == 24
            assert repo["archive"] == {"min": archive[0], "max": archive[1]}

    def test_an_encrypted_second_repository_behind_a_repository_host_is_read_alone(self, fixture_text):
        # captured on the demo's database host: info of both repositories cannot decrypt repo2 (pgBackRest takes
        # its cipher settings before it asked the repository host), info --repo=2 can
        answers = {"info": fixture_text("pgbackrest/info-repo-host-encrypted-repo2.captured.json"),
                   "--repo=2": fixture_text("pgbackrest/info-repo-host-encrypted-repo2-alone.captured.json")}
        calls = []

        def run(argv):
            calls.append(list(argv))
            return answers["--repo=2" if "--repo=2" in argv else "info"]

        repo1, repo2 = PgBackRest(two_repo_policy()).inventory(run)["repositories"]
        assert calls == [["pgbackrest", "--stanza=main", "--output=json", "info"],
                         ["pgbackrest", "--stanza=main", "--repo=2", "--output=json", "info"]]
        assert (repo1["status"], repo2["status"]) == ("ok", "ok")
        assert [b["label"] for b in repo2["backups"]] == ["20261202-064908F"]
        assert repo2["backups"][0]["repository"] == 2
        assert repo2["archive"] == {"min": "000000010000000000000001", "max": "000000010000000000000006"}
        assert repo1["archive"]["max"] == "000000010000000000000006" and len(repo1["backups"]) == 1

    def test_a_second_repository_still_failing_alone_keeps_its_error(self, fixture_text):
        text = fixture_text("pgbackrest/info-repo-host-encrypted-repo2.captured.json")
        calls = []
        repo1, repo2 = PgBackRest(two_repo_policy()).inventory(fake_run(text, calls))["repositories"]
        assert len(calls) == 2 and repo2["status"].startswith("[FormatError] unable to load info file")
        assert repo2["backups"] == [] and repo1["status"] == "ok"

    def test_every_backup_has_the_same_keys(self, fixture_text):
        result = minimal_tool().inventory(fake_run(fixture_text("pgbackrest/info-two-repos-pg15.captured.json")))
        for repo in result["repositories"]:
            assert set(repo) == {"index", "name", "status", "backups", "archive"}
            for backup in repo["backups"]:
                assert set(backup) == {"label", "type", "prior", "start", "stop", "duration", "size", "repository_size",
                                       "lsn_start", "lsn_stop", "wal_start", "wal_stop", "error", "repository"}

    def test_repositories_named_from_the_policy(self, fixture_text):
        result = PgBackRest(two_repo_policy()).inventory(
            fake_run(fixture_text("pgbackrest/info-two-repos-pg15.captured.json")))
        assert [(r["index"], r["name"]) for r in result["repositories"]] == [(1, "local"), (2, "offsite")]

    def test_backups_oldest_first(self, fixture_text):
        result = minimal_tool().inventory(fake_run(fixture_text("pgbackrest/info-two-repos.handwritten.json")))
        repo1, repo2 = result["repositories"]
        assert [(b["label"], b["type"]) for b in repo1["backups"]] == [
            ("20250302-013002F", "full"), ("20250302-013002F_20250303-013001D", "diff")]
        assert repo1["backups"][1]["duration"] == 8
        assert repo1["archive"] == {"min": "000000010000000000000004", "max": "000000010000000000000009"}
        assert repo2["archive"] == {"min": "000000010000000000000005", "max": "000000010000000000000009"}

    def test_archive_of_the_newest_database_after_an_upgrade(self, fixture_text):
        [repo] = minimal_tool().inventory(fake_run(fixture_text("pgbackrest/info-upgraded.handwritten.json")))[
            "repositories"]
        assert repo["archive"] == {"min": "000000010000000000000004", "max": "000000010000000000000009"}

    def test_stanza_not_created_yet(self, fixture_text):
        result = minimal_tool().inventory(fake_run(fixture_text("pgbackrest/info-missing-stanza.handwritten.json")))
        assert [(r["index"], r["status"], r["backups"], r["archive"]) for r in result["repositories"]] == [
            (1, "missing stanza path", [], {"min": None, "max": None}),
            (2, "missing stanza path", [], {"min": None, "max": None})]

    def test_repository_of_the_policy_that_info_does_not_report(self, fixture_text):
        policy = two_repo_policy()
        policy["repositories"].append(dict(policy["repositories"][0], index=3, name="third"))
        result = PgBackRest(policy).inventory(fake_run(fixture_text("pgbackrest/info-two-repos-pg15.captured.json")))
        third = result["repositories"][2]
        assert (third["index"], third["name"], third["backups"]) == (3, "third", [])
        assert third["status"] != "ok" and third["archive"] == {"min": None, "max": None}

    def test_other_stanza_only(self, fixture_text):
        result = minimal_tool("reports").inventory(
            fake_run(fixture_text("pgbackrest/info-two-repos-pg15.captured.json")))
        assert result == {"repositories": []}

    def test_no_stanza_at_all(self, fixture_text):
        assert minimal_tool().inventory(fake_run(fixture_text("pgbackrest/info-empty.handwritten.json"))) == {
            "repositories": []}

    def test_error_backup_is_marked(self):
        text = ('[{"name": "main", "status": {"code": 0, "message": "ok"}, "repo": [{"key": 1, "status": {"code": 0,'
                ' "message": "ok"}}], "backup": [{"label": "20250101-000000F", "type": "full", "error": true,'
                ' "timestamp": {"start": 10, "stop": 70}, "database": {"id": 1, "repo-key": 1}}]}]')
        [repo] = minimal_tool().inventory(fake_run(text))["repositories"]
        assert repo["backups"][0]["error"] is True and repo["backups"][0]["duration"] == 60

    def test_failure_is_the_tools(self):
        def run(argv):
            raise ToolError("pgbackrest failed (exit 56): ERROR: [056]: unable to find primary cluster")

        with pytest.raises(ToolError, match="056"):
            minimal_tool().inventory(run)

    def test_not_json(self):
        with pytest.raises(ToolError, match="did not return JSON"):
            minimal_tool().inventory(fake_run("P00  ERROR: [055]: unable to load info file"))


DATA = "/var/lib/postgresql/15/main"
BASE = ["pgbackrest", "--stanza=main", "--reset-pg1-host", "--pg1-path=%s" % DATA]


class TestRestorePlan:
    def plan(self, **kwargs):
        return minimal_tool().restore_plan(DATA, **kwargs)

    def test_latest_recovers_in_standby_mode_so_that_postgresql_never_promotes_by_itself(self):
        assert self.plan() == {"argv": BASE + ["--type=standby", "--archive-mode=off", "restore"], "auto_conf": {},
                               "recovery_signal": False, "standby_signal": False}
        assert self.plan(target={"type": "latest"})["argv"] == self.plan()["argv"]

    @pytest.mark.parametrize("target, options", [
        ({"type": "time", "value": "2026-11-26 10:15:00+00"}, ["--type=time", "--target=2026-11-26 10:15:00+00"]),
        ({"type": "time", "value": "2026-11-26T10:15:00.5Z"}, ["--type=time", "--target=2026-11-26 10:15:00.5+00"]),
        ({"type": "time", "value": "2026-11-26 10:15:00+0100"}, ["--type=time", "--target=2026-11-26 10:15:00+01:00"]),
        ({"type": "lsn", "value": "0/3000060"}, ["--type=lsn", "--target=0/3000060"]),
        ({"type": "xid", "value": 1234}, ["--type=xid", "--target=1234"]),
        ({"type": "name", "value": "before upgrade"}, ["--type=name", "--target=before upgrade"]),
        ({"type": "immediate"}, ["--type=immediate"]),
    ])
    @pytest.mark.parametrize("action", ["promote", "pause", "shutdown"])
    def test_targets(self, target, options, action):
        plan = self.plan(target=target, target_action=action)
        assert plan["argv"] == BASE + options + ["--target-action=%s" % action, "--archive-mode=off", "restore"]
        assert plan["auto_conf"] == {} and plan["recovery_signal"] is False

    def test_an_exact_target_pauses_by_default(self):
        assert "--target-action=pause" in self.plan(target={"type": "xid", "value": "7"})["argv"]

    def test_every_option(self):
        argv = self.plan(backup="20261126-055059F", target={"type": "immediate"}, target_action="pause", delta=True,
                         primary=True, repository=2)["argv"]
        assert argv == BASE + ["--type=immediate", "--target-action=pause", "--set=20261126-055059F", "--repo=2",
                               "--delta", "restore"]

    def test_repository_as_a_dictionary(self):
        assert "--repo=2" in self.plan(repository={"index": 2})["argv"]

    def test_primary_keeps_archiving(self):
        assert "--archive-mode=off" not in self.plan(primary=True)["argv"]

    def test_data_directory_is_normalized(self):
        assert minimal_tool().restore_plan(DATA + "/")["argv"][3] == "--pg1-path=%s" % DATA

    @pytest.mark.parametrize("kwargs, message", [
        (dict(target={"type": "time", "value": "soon"}), "target.value: 'soon' is not a time; use 2026-11-26"),
        (dict(target={"type": "time"}), "target type 'time' needs a value"),
        (dict(target={"type": "lsn", "value": "3000060"}), "an LSN looks like 0/3000060"),
        (dict(target={"type": "xid", "value": "x"}), "an xid is a whole number"),
        (dict(target_action="resume"), "target_action"),
        (dict(backup="--delta"), "not a backup label"),
        (dict(repository=0), "repository"),
        (dict(repository="two"), "repository"),
    ])
    def test_refused(self, kwargs, message):
        with pytest.raises(ValueError) as info:
            self.plan(**kwargs)
        assert message in str(info.value)

    @pytest.mark.parametrize("path", ["main", "", None, "relative/main"])
    def test_data_directory_must_be_absolute(self, path):
        with pytest.raises(ValueError, match="data_directory"):
            minimal_tool().restore_plan(path)


class TestMinimalPolicy:
    def test_backup_types(self):
        assert PgBackRest.backup_types == ("full", "diff", "incr")

    @pytest.mark.parametrize("kind", ["full", "diff", "incr"])
    def test_backup_argv_with_an_index_only(self, kind):
        assert minimal_tool("prod").backup_argv({"index": 2}, kind) == [
            "pgbackrest", "--stanza=prod", "--repo=2", "--type=%s" % kind, "backup"]

    def test_delta_is_wal_g_s(self):
        with pytest.raises(ValueError, match="'delta'"):
            minimal_tool().backup_argv({"index": 1}, "delta")

    def test_commands_need_no_policy_detail(self):
        tool = minimal_tool("prod")
        assert tool.info_argv() == ["pgbackrest", "--stanza=prod", "--output=json", "info"]
        assert tool.expire_argv({"index": 1}) == ["pgbackrest", "--stanza=prod", "--repo=1", "expire"]


def test_info_with_a_raw_control_character_in_a_string_still_parses():
    # seen in the lab: `pgbackrest info --output=json` on a database host behind a repository host
    text = ('[{"archive":[],"backup":[],"db":[],"name":"main","repo":[{"cipher":"none","key":1,'
            '"status":{"code":0,"message":"ok\tfrom\nremote"}}],"status":{"code":2,"message":"no valid backups"}}]')
    stanza = parse_info(text)[0]
    assert stanza["repositories"][0]["status"] == "ok\tfrom\nremote"
