# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wal-g driver: commands, .walg.json, `backup-list` parsed, and which wal-g can back up which PostgreSQL."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.policy import normalize_policy
from ansible_collections.pgops.backup.plugins.module_utils.tools.base import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.tools.drivers import driver_for
from ansible_collections.pgops.backup.plugins.module_utils.tools.pgbackrest import PgBackRest
from ansible_collections.pgops.backup.plugins.module_utils.tools.walg import (
    BINARY, WalG, backup_support, concurrency_for, libsodium_key_transform, parse_backup_list, version_tuple)

CLUSTER = {"name": "main", "major": 15, "data_directory": "/var/lib/postgresql/15/main", "port": 5433,
           "socket_dir": "/var/run/postgresql"}
ACCESS_KEY = "AKIAEXAMPLEACCESS"
SECRET_KEY = "s3cr3t/EXAMPLE+key"
HEX_KEY = "0123456789abcdef" * 4
BASE64_KEY = base64.b64encode(b"k" * 32).decode("ascii")
SECRETS = (ACCESS_KEY, SECRET_KEY, HEX_KEY, BASE64_KEY)
USUAL = object()  # stands for CLUSTER, so that a test can pass None


def s3(**overrides):
    repo = {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "https://minio.lab.internal:9000",
            "uri_style": "path", "ca_file": "/etc/ssl/lab-ca.pem", "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY, "retention": {"full": 3}}
    repo.update(overrides)
    return repo


def walg_policy(repository=None, **overrides):
    settings = dict(tool="walg", repositories=[repository or s3()])
    settings.update(overrides)
    return normalize_policy(**settings)


def tool(policy=None, cluster=USUAL):
    return WalG(policy or walg_policy(), CLUSTER if cluster is USUAL else cluster)


def config(policy=None, cluster=USUAL, cores=4, **kwargs):
    cluster = CLUSTER if cluster is USUAL else cluster
    policy = policy or walg_policy()
    if policy["repositories"][0]["encrypt"]:
        kwargs.setdefault("libsodium_key", HEX_KEY)
    result = WalG(policy, cluster).config(policy["repositories"][0], cores, **kwargs)
    assert all(isinstance(value, str) for value in result.values())
    return result


class TestDriver:
    def test_registered(self):
        assert isinstance(driver_for(walg_policy(), CLUSTER), WalG)
        assert driver_for(walg_policy(), CLUSTER).cluster == CLUSTER

    def test_pgbackrest_takes_and_ignores_the_cluster(self):
        driver = driver_for(normalize_policy(), CLUSTER)
        assert isinstance(driver, PgBackRest)
        assert driver.archive_command() == "pgbackrest --stanza=main archive-push %p"

    def test_cluster_is_optional(self):
        assert driver_for(walg_policy()).cluster is None


class TestCommands:
    def setup_method(self):
        self.tool = tool()
        self.repo = self.tool.policy["repositories"][0]

    def test_binary_is_absolute_for_cron(self):
        assert BINARY == "/usr/local/bin/wal-g"

    def test_archive_command(self):
        assert self.tool.archive_command() == "/usr/local/bin/wal-g wal-push %p"

    def test_restore_command(self):
        assert self.tool.restore_command() == "/usr/local/bin/wal-g wal-fetch %f %p"

    def test_archiving_needs_no_cluster(self):
        assert tool(cluster=None).archive_command().endswith("wal-push %p")

    def test_full_backup(self):
        assert self.tool.backup_argv(self.repo, "full") == [
            "/usr/local/bin/wal-g", "backup-push", "--full", "/var/lib/postgresql/15/main"]

    @pytest.mark.parametrize("kind", ["diff", "incr"])
    def test_diff_and_incr_let_wal_g_take_a_delta(self, kind):
        assert self.tool.backup_argv(self.repo, kind) == [
            "/usr/local/bin/wal-g", "backup-push", "/var/lib/postgresql/15/main"]

    def test_unknown_backup_type(self):
        with pytest.raises(ValueError, match="'expire'"):
            self.tool.backup_argv(self.repo, "expire")

    @pytest.mark.parametrize("cluster", [None, {}, {"port": 5432}])
    def test_backup_needs_the_cluster(self, cluster):
        with pytest.raises(ValueError, match="data_directory"):
            tool(cluster=cluster).backup_argv(self.repo, "full")

    def test_expire_by_count(self):
        assert self.tool.expire_argv(self.repo) == [
            "/usr/local/bin/wal-g", "delete", "retain", "FULL", "3", "--confirm"]

    def test_expire_by_time(self):
        policy = walg_policy(s3(retention={"type": "time", "full": 30}))
        argv = tool(policy).expire_argv(policy["repositories"][0])
        assert argv == ["/bin/sh", "-c", "exec /usr/local/bin/wal-g delete before FIND_FULL "
                                         "\"$(date -u -d '-30 days' -Iseconds)\" --confirm"]

    @pytest.mark.parametrize("retention", [{"full": 2}, {"type": "time", "full": 7}, {"type": "time", "full": 365}])
    def test_expire_has_no_percent_sign_cron_would_split_on(self, retention):
        policy = walg_policy(s3(retention=retention))
        assert "%" not in " ".join(tool(policy).expire_argv(policy["repositories"][0]))

    def test_backup_argv_has_no_percent_sign(self):
        assert not [k for k in ("full", "diff", "incr") if "%" in " ".join(self.tool.backup_argv(self.repo, k))]

    def test_other_argv(self):
        assert self.tool.backup_list_argv() == ["/usr/local/bin/wal-g", "backup-list", "--detail", "--json"]
        assert self.tool.version_argv() == ["/usr/local/bin/wal-g", "--version"]

    def test_no_command_carries_a_secret(self):
        text = " ".join([self.tool.archive_command(), self.tool.restore_command()]
                        + [" ".join(self.tool.backup_argv(self.repo, k)) for k in ("full", "diff", "incr")]
                        + self.tool.expire_argv(self.repo))
        assert not [s for s in SECRETS if s in text]


class TestConfig:
    def setup_method(self):
        self.config = config()

    def test_storage(self):
        assert dict((k, self.config[k]) for k in (
            "WALG_S3_PREFIX", "AWS_ENDPOINT", "AWS_REGION", "AWS_S3_FORCE_PATH_STYLE", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "WALG_S3_CA_CERT_FILE")) == {
            "WALG_S3_PREFIX": "s3://pg-backups/walg",
            "AWS_ENDPOINT": "https://minio.lab.internal:9000",
            "AWS_REGION": "us-east-1",
            "AWS_S3_FORCE_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "WALG_S3_CA_CERT_FILE": "/etc/ssl/lab-ca.pem",
        }

    def test_cluster(self):
        assert (self.config["PGHOST"], self.config["PGPORT"], self.config["PGDATA"]) == (
            "/var/run/postgresql", "5433", "/var/lib/postgresql/15/main")

    def test_config_needs_the_cluster(self):
        with pytest.raises(ValueError, match="data_directory"):
            config(cluster=None)

    def test_host_style_aws_without_port_or_ca(self):
        policy = walg_policy(s3(endpoint=None, region="eu-west-3", uri_style="host", ca_file=None,
                                prefix="prod/db1"))
        result = config(policy)
        assert result["AWS_ENDPOINT"] == "https://s3.eu-west-3.amazonaws.com"
        assert result["AWS_REGION"] == "eu-west-3"
        assert result["AWS_S3_FORCE_PATH_STYLE"] == "false"
        assert result["WALG_S3_PREFIX"] == "s3://pg-backups/prod/db1"
        assert "WALG_S3_CA_CERT_FILE" not in result

    def test_ca_file_where_the_role_put_it(self):
        assert config(ca_file="/etc/wal-g/ca.pem")["WALG_S3_CA_CERT_FILE"] == "/etc/wal-g/ca.pem"

    def test_tls_verification_off_refused_by_the_policy(self):
        from ansible_collections.pgops.backup.plugins.module_utils.policy import PolicyError
        with pytest.raises(PolicyError) as info:
            walg_policy(s3(verify_tls=False))
        assert str(info.value).startswith("pg_backup_repositories[0].verify_tls: ")
        assert "ca_file" in str(info.value)

    def test_32_plain_characters_need_no_transform(self):
        settings = config(walg_policy(), libsodium_key="k" * 32)
        assert settings["WALG_LIBSODIUM_KEY"] == "k" * 32
        assert "WALG_LIBSODIUM_KEY_TRANSFORM" not in settings
        assert settings["WALG_PREVENT_WAL_OVERWRITE"] == "true"

    def test_compression_defaults_to_lz4(self):
        assert self.config["WALG_COMPRESSION_METHOD"] == "lz4"

    @pytest.mark.parametrize("compression", ["zstd", "lzma", "lz4"])
    def test_policy_compression(self, compression):
        assert config(walg_policy(compression=compression))["WALG_COMPRESSION_METHOD"] == compression

    def test_compression_argument_wins(self):
        assert config(walg_policy(compression="zstd"), compression="lzma")["WALG_COMPRESSION_METHOD"] == "lzma"

    def test_brotli_needs_a_binary_built_with_it(self):
        with pytest.raises(ToolError) as info:
            config(walg_policy(compression="brotli"))
        message = str(info.value)
        assert message.startswith("pg_backup_compression: ") and "built with brotli" in message

    def test_brotli_when_available(self):
        result = config(walg_policy(compression="brotli"), brotli_available=True)
        assert result["WALG_COMPRESSION_METHOD"] == "brotli"

    @pytest.mark.parametrize("compression", ["gzip", "bzip2", "none"])
    def test_compression_wal_g_cannot_do(self, compression):
        with pytest.raises(ToolError, match="pg_backup_compression"):
            config(compression=compression)

    @pytest.mark.parametrize("cores, expected", [(0, "1"), (1, "2"), (2, "4"), ("4", "8"), (8, "16"), (64, "16"),
                                                 (None, "2")])
    def test_concurrency_two_per_core_between_1_and_16(self, cores, expected):
        result = config(cores=cores)
        assert result["WALG_UPLOAD_CONCURRENCY"] == expected
        assert result["WALG_DOWNLOAD_CONCURRENCY"] == expected

    def test_concurrency_bounds(self):
        assert [concurrency_for(n) for n in (-3, 0, 1, 7, 8, 9, 1000)] == [1, 1, 2, 14, 16, 16, 16]

    def test_no_delta_unless_asked(self):
        assert "WALG_DELTA_MAX_STEPS" not in self.config
        assert "WALG_DELTA_MAX_STEPS" not in config(delta_max_steps=0)

    def test_delta_max_steps(self):
        assert config(delta_max_steps=6)["WALG_DELTA_MAX_STEPS"] == "6"

    def test_encrypted_with_a_hex_key(self):
        assert self.config["WALG_LIBSODIUM_KEY"] == HEX_KEY
        assert self.config["WALG_LIBSODIUM_KEY_TRANSFORM"] == "hex"

    def test_encrypted_with_a_base64_key(self):
        result = config(libsodium_key=BASE64_KEY)
        assert result["WALG_LIBSODIUM_KEY"] == BASE64_KEY
        assert result["WALG_LIBSODIUM_KEY_TRANSFORM"] == "base64"

    def test_encrypted_without_a_key(self):
        with pytest.raises(ToolError) as info:
            config(libsodium_key=None)
        message = str(info.value)
        assert message.startswith("walg_libsodium_key: ")
        assert "offsite" in message and "64 hex" in message and "base64" in message

    def test_unencrypted_repository_gets_no_key(self):
        result = config(walg_policy(s3(encrypt=False)), libsodium_key=HEX_KEY)
        assert not [k for k in result if "LIBSODIUM" in k]
        assert HEX_KEY not in result.values()

    def test_json_for_walg_json(self):
        assert json.loads(json.dumps(self.config, sort_keys=True)) == self.config

    def test_no_empty_setting(self):
        result = config(cluster={"data_directory": "/srv/pg", "major": 15})
        assert "PGHOST" not in result and "PGPORT" not in result
        assert "" not in result.values()


class TestLibsodiumKey:
    @pytest.mark.parametrize("key, transform", [
        (HEX_KEY, "hex"), (HEX_KEY.upper(), "hex"), (BASE64_KEY, "base64"),
        (base64.b64encode(bytes(bytearray(range(200, 232)))).decode("ascii"), "base64"), (" %s\n" % HEX_KEY, "hex")])
    def test_accepted(self, key, transform):
        assert libsodium_key_transform(key) == transform

    @pytest.mark.parametrize("key", [
        HEX_KEY[:63],                               # 63 hex characters
        HEX_KEY + "0",                              # 65
        "x" * 31,                                   # 31 plain characters: one short
        "correct horse battery staple, 32b",        # passphrase-like garbage
        HEX_KEY[:62] + "zz",                        # 64 characters, not hex
        base64.b64encode(b"k" * 31).decode("ascii"),  # base64 of 31 bytes
        base64.b64encode(b"k" * 33).decode("ascii"),  # base64 of 33 bytes
        base64.urlsafe_b64encode(b"\xfb" * 32).decode("ascii"),  # URL-safe alphabet: Go's StdEncoding refuses it
        BASE64_KEY.rstrip("="),                     # no padding
        "",
    ])
    def test_refused(self, key):
        with pytest.raises(ToolError) as info:
            libsodium_key_transform(key)
        message = str(info.value)
        assert message.startswith("walg_libsodium_key: ")
        assert "32 bytes" in message and "64 hex characters" in message and "base64" in message
        assert not key or key not in message

    def test_refused_in_config_without_quoting_the_key(self):
        with pytest.raises(ToolError) as info:
            config(libsodium_key="not-a-key-but-a-secret-all-the-same")
        assert "not-a-key-but-a-secret-all-the-same" not in str(info.value)


class TestParseBackupList:
    def test_two_fulls_and_a_delta(self, fixture_text):
        backups = parse_backup_list(fixture_text("walg/backup-list-detail.handwritten.json"))
        assert [(b["label"], b["type"]) for b in backups] == [
            ("base_000000010000000000000002", "full"),
            ("base_000000010000000000000004_D_000000010000000000000002", "delta"),
            ("base_000000010000000000000006", "full")]

    def test_backup_details(self, fixture_text):
        delta = parse_backup_list(fixture_text("walg/backup-list-detail.handwritten.json"))[1]
        assert delta == {
            "label": "base_000000010000000000000004_D_000000010000000000000002", "type": "delta",
            "time": "2025-03-03T01:30:05.220931Z", "start": "2025-03-03T01:30:01.902274Z",
            "stop": "2025-03-03T01:30:04.771096Z", "lsn_start": "0/4000028", "lsn_stop": "0/4000100",
            "wal_start": "000000010000000000000004", "size": 1843200, "repository_size": 262656,
            "permanent": False, "hostname": "db1", "pg_version": 150010}

    def test_permanent(self, fixture_text):
        backups = parse_backup_list(fixture_text("walg/backup-list-detail.handwritten.json"))
        assert [b["permanent"] for b in backups] == [False, False, True]

    def test_high_lsn_and_no_storage_name(self):
        text = json.dumps([{"backup_name": "base_0000000200000A1B000000C4", "time": "2025-01-01T00:00:00Z",
                            "wal_file_name": "0000000200000A1B000000C4", "start_lsn": (0xA1B << 32) + 0xC4000028,
                            "finish_lsn": "A1B/C4000100", "is_permanent": False}])
        [backup] = parse_backup_list(text)
        assert (backup["lsn_start"], backup["lsn_stop"]) == ("A1B/C4000028", "A1B/C4000100")
        assert backup["size"] is None and backup["start"] is None

    @pytest.mark.parametrize("text", ["", "  \n", None, "[]", "null",
                                      "INFO: 2025/03/02 01:30:00.000000 No backups found\n", "No backups found"])
    def test_no_backup(self, text):
        assert parse_backup_list(text) == []

    @pytest.mark.parametrize("text", ["ERROR: 2025/03/02 01:30:00.000000 failed to list s3 folder", "[{"])
    def test_not_json(self, text):
        with pytest.raises(ToolError, match="did not return JSON"):
            parse_backup_list(text)

    def test_not_a_list(self):
        with pytest.raises(ToolError, match="not a list"):
            parse_backup_list('{"backup_name": "base_000000010000000000000002"}')


class TestVersion:
    @pytest.mark.parametrize("text, expected", [
        ("wal-g version v1.1.3-rc-with-build\tdevel\tdevel\tPostgreSQL", (1, 1, 3)),
        ("wal-g version v2.0.1\t1eb88a5\t2022.05.20_10:45:57\tPostgreSQL\n", (2, 0, 1)),
        ("v3.0.5", (3, 0, 5)),
        ("3.0.5", (3, 0, 5)),
        ("wal-g version v3.0.7\tabc1234\t2025.01.01_00:00:00\tPostgreSQL", (3, 0, 7)),
        ("wal-g Version v10.20.30", (10, 20, 30)),
    ])
    def test_parsed(self, text, expected):
        assert version_tuple(text) == expected

    @pytest.mark.parametrize("text", [
        "wal-g version devel\tdevel\tdevel\tPostgreSQL",
        "wal-g version devel\t1eb88a5\t2022.05.20_10:45:57\tPostgreSQL",  # the build date is no version
        "", None, "wal-g version", "bash: wal-g: command not found", "v2.0", "version v2.x.1"])
    def test_unparsable(self, text):
        assert version_tuple(text) is None


VERSIONS = {
    "1.1.3": "wal-g version v1.1.3-rc-with-build\tdevel\tdevel\tPostgreSQL",
    "2.0.1": "wal-g version v2.0.1\t1eb88a5\t2022.05.20_10:45:57\tPostgreSQL",
    "3.0.5": "wal-g version v3.0.5\t0123abc\t2024.11.01_00:00:00\tPostgreSQL",
    "devel": "wal-g version devel\tdevel\tdevel\tPostgreSQL",
}


class TestBackupSupport:
    @pytest.mark.parametrize("version", sorted(VERSIONS))
    @pytest.mark.parametrize("major", [13, 14, "14"])
    def test_before_15_anything_goes(self, version, major):
        result = backup_support(VERSIONS[version], major)
        assert result["ok"] is True and result["required"] is None
        assert result["found"] == (None if version == "devel" else version)

    @pytest.mark.parametrize("version", ["2.0.1", "3.0.5"])
    @pytest.mark.parametrize("major", [15, 17, "17"])
    def test_from_15_on_with_2_0_1_or_later(self, version, major):
        result = backup_support(VERSIONS[version], major)
        assert result == {"ok": True, "found": version, "required": "2.0.1",
                          "msg": "wal-g %s can take base backups of PostgreSQL %s" % (version, major)}

    @pytest.mark.parametrize("major", [15, 17])
    def test_1_1_3_cannot_back_up_15_or_later(self, major):
        result = backup_support(VERSIONS["1.1.3"], major)
        assert result == {
            "ok": False, "found": "1.1.3", "required": "2.0.1",
            "msg": "wal-g 1.1.3 cannot take base backups of PostgreSQL %d (it calls pg_start_backup, removed in 15): "
                   "install wal-g 2.0.1 or later, or turn scheduled backups off "
                   "(pg_backup_schedule full/diff/incr \"\")" % major}

    @pytest.mark.parametrize("major", [15, 17])
    def test_unknown_version_from_15_on(self, major):
        result = backup_support(VERSIONS["devel"], major)
        assert result["ok"] is False and result["found"] is None and result["required"] == "2.0.1"
        assert "could not be read" in result["msg"] and "2.0.1" in result["msg"]

    def test_2_0_0_is_not_enough(self):
        assert backup_support("wal-g version v2.0.0\tx\ty\tPostgreSQL", 15)["ok"] is False

    def test_major_that_is_not_a_number(self):
        with pytest.raises(ValueError, match="major"):
            backup_support(VERSIONS["3.0.5"], "fifteen")


def test_real_backup_list_output_parses():
    """Captured in the lab: wal-g v1.1.3-rc-with-build, PostgreSQL 13, after the retention job (2 fulls)."""
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "walg",
                        "backup-list-detail.captured.json")
    with open(path) as f:
        text = f.read()
    raw = json.loads(text)
    parsed = parse_backup_list(text)
    assert [b["label"] for b in parsed] == [b["backup_name"] for b in raw]
    for backup, source in zip(parsed, raw):
        assert backup["type"] == "full"
        assert backup["wal_start"] == source["wal_file_name"]
        assert backup["size"] == source["uncompressed_size"] > backup["repository_size"] > 0
        assert backup["lsn_start"].count("/") == 1 and backup["pg_version"] == 130016
