# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The wal-g driver: commands, .walg.json, `backup-list` parsed, and which wal-g can back up which PostgreSQL."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import PgBackRest
from ansible_collections.pgops.backup.plugins.module_utils.drivers.registry import driver_for
from ansible_collections.pgops.backup.plugins.module_utils.drivers.walg import (
    BINARY, WalG, backup_support, concurrency_for, key_material, keys_in_use, libsodium_key_transform,
    parse_backup_list, parse_wal_show, repository_location, secret_values, time_retention, version_tuple)
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy, normalize_policy

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

    def test_expire_by_time_runs_the_time_retention_job_without_a_shell(self):
        policy = walg_policy(s3(retention={"type": "time", "full": 30}))
        argv = tool(policy).expire_argv(policy["repositories"][0])
        assert argv == ["/usr/local/bin/pgops-backup-expire", "--days", "30"]

    def test_delete_before_a_backup_keeps_it(self):
        assert self.tool.delete_before_argv("base_000000010000000000000006") == [
            "/usr/local/bin/wal-g", "delete", "before", "base_000000010000000000000006", "--confirm"]

    @pytest.mark.parametrize("label", ["", "--confirm", "FIND_FULL base_000000010000000000000006", "../x"])
    def test_delete_before_refuses_what_is_no_backup_label(self, label):
        with pytest.raises(ValueError, match="not a backup label"):
            self.tool.delete_before_argv(label)

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

    def test_a_posix_repository_is_wal_g_s_file_storage(self):
        result = config(walg_policy({"name": "local", "type": "posix", "path": "/srv/walg"}))
        assert result["WALG_FILE_PREFIX"] == "/srv/walg"
        assert not [k for k in result if k.startswith(("AWS_", "WALG_S3_"))], result
        assert result["PGDATA"] == "/var/lib/postgresql/15/main" and result["WALG_PREVENT_WAL_OVERWRITE"] == "true"

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
        from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
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
            "prior": "base_000000010000000000000002", "time": "2025-03-03T01:30:05.220931Z", "start": "2025-03-03T01:30:01.902274Z",
            "stop": "2025-03-03T01:30:04.771096Z", "lsn_start": "0/4000028", "lsn_stop": "0/4000100",
            "wal_start": "000000010000000000000004", "size": 1843200, "repository_size": 262656,
            "permanent": False, "hostname": "db1", "pg_version": 150010}

    def test_each_delta_names_the_backup_it_was_taken_on(self, fixture_text):
        backups = parse_backup_list(fixture_text("walg/backup-list-detail-fulls-and-deltas.captured.json"))
        assert [(b["label"][5:29], b["type"], b["prior"]) for b in backups] == [
            ("000000010000000000000003", "full", None),
            ("000000010000000000000005", "delta", "base_000000010000000000000003"),
            ("000000010000000000000007", "full", None),
            ("000000010000000000000009", "delta", "base_000000010000000000000007"),
            ("00000001000000000000000B", "full", None)]

    def test_a_delta_on_a_delta_and_one_whose_base_is_gone(self):
        names = ["base_000000010000000000000005", "base_000000010000000000000007_D_000000010000000000000005",
                 "base_000000010000000000000009_D_000000010000000000000007",
                 "base_00000001000000000000000B_D_000000010000000000000003"]
        backups = parse_backup_list(json.dumps([{"backup_name": n, "is_permanent": False} for n in names]))
        assert [b["prior"] for b in backups] == [None, names[0], names[1], None]

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


def epoch(*parts):
    import calendar
    return calendar.timegm(tuple(parts) + (0, 0, 0))


def fake_run(answers, calls=None):
    """run(argv) -> stdout as modules supply it: the answer of the first key found in argv; an exception
    answer is raised (as the module's run raises ToolError)."""

    def run(argv):
        if calls is not None:
            calls.append(list(argv))
        for key, answer in answers:
            if key in argv:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise AssertionError("unexpected command %r" % (argv,))

    return run


def minimal_tool(cluster=None):
    return WalG(minimal_policy("walg"), cluster)


class TestInventory:
    def inventory(self, fixture_text, wal_show=None, tool_=None, calls=None,
                  backup_list="walg/backup-list-detail.captured.json"):
        if wal_show is None:
            wal_show = fixture_text("walg/wal-show-detailed.handwritten.json")
        answers = [("backup-list", fixture_text(backup_list)), ("wal-show", wal_show)]
        return (tool_ or minimal_tool()).inventory(fake_run(answers, calls))

    def test_real_backup_list(self, fixture_text):
        calls = []
        [repo] = self.inventory(fixture_text, calls=calls)["repositories"]
        assert calls == [["/usr/local/bin/wal-g", "backup-list", "--detail", "--json"],
                         ["/usr/local/bin/wal-g", "wal-show", "--detailed-json", "--without-backups"]]
        assert (repo["index"], repo["name"], repo["status"]) == (1, "walg", "ok")
        first, second = repo["backups"]
        assert (first["label"], second["label"]) == ("base_000000010000000000000006", "base_000000010000000000000007")
        # 2026-11-26T06:11:22.064029Z to 06:11:23.286908Z, then 06:11:23.502571Z to 06:11:24.724238Z: cut to seconds
        assert (first["start"], first["stop"], first["duration"]) == (
            epoch(2026, 11, 26, 6, 11, 22), epoch(2026, 11, 26, 6, 11, 23), 1)
        assert (second["start"], second["stop"], second["duration"]) == (
            epoch(2026, 11, 26, 6, 11, 23), epoch(2026, 11, 26, 6, 11, 24), 1)
        assert all(isinstance(b[k], int) for b in (first, second) for k in ("start", "stop", "duration"))
        assert first == {
            "label": "base_000000010000000000000006", "type": "full", "prior": None, "start": 1795673482,
            "stop": 1795673483,
            "duration": 1, "size": 34936405, "repository_size": 6518220, "lsn_start": "0/6000028",
            "lsn_stop": "0/6000100", "wal_start": "000000010000000000000006", "wal_stop": None, "error": False,
            "repository": 1}

    def test_archive_range_across_timelines(self, fixture_text):
        [repo] = self.inventory(fixture_text)["repositories"]
        assert repo["archive"] == {"min": "000000010000000000000001", "max": "00000002000000000000000C"}

    def test_same_clock_as_pgbackrest(self, fixture_text):
        """The lab took the pgBackRest backups at 05:50:56 UTC that day: both tools give UTC epoch seconds."""
        [repo] = self.inventory(fixture_text)["repositories"]
        assert repo["backups"][0]["start"] - 1795672256 == (6 * 3600 + 11 * 60 + 22) - (5 * 3600 + 50 * 60 + 56)

    def test_named_from_the_policy(self, fixture_text):
        [repo] = self.inventory(fixture_text, tool_=tool())["repositories"]
        assert repo["name"] == "offsite"

    def test_delta_backups(self, fixture_text):
        [repo] = self.inventory(fixture_text, backup_list="walg/backup-list-detail.handwritten.json")["repositories"]
        assert [(b["type"], b["duration"]) for b in repo["backups"]] == [("full", 6), ("delta", 3), ("full", 7)]
        delta = repo["backups"][1]
        assert (delta["start"], delta["stop"]) == (epoch(2025, 3, 3, 1, 30, 1), epoch(2025, 3, 3, 1, 30, 4))
        assert delta["prior"] == repo["backups"][0]["label"]

    @pytest.mark.parametrize("wal_show", ["", "[]", "null", "  \n", "not json at all",
                                          ToolError("wal-g failed (exit 1): ERROR: Failed to get the WAL folder")])
    def test_archive_unknown_does_not_fail_the_inventory(self, fixture_text, wal_show):
        [repo] = self.inventory(fixture_text, wal_show=wal_show)["repositories"]
        assert repo["archive"] == {"min": None, "max": None}
        assert len(repo["backups"]) == 2

    def test_json_after_a_log_line(self, fixture_text):
        text = ("INFO: 2026/11/26 06:12:00.000000 listing WAL\n"
                + fixture_text("walg/wal-show-detailed.handwritten.json"))
        [repo] = self.inventory(fixture_text, wal_show=text)["repositories"]
        assert repo["archive"]["max"] == "00000002000000000000000C"

    def test_no_backup_yet(self):
        answers = [("backup-list", ""), ("wal-show", "[]")]
        assert minimal_tool().inventory(fake_run(answers)) == {"repositories": [
            {"index": 1, "name": "walg", "status": "ok", "backups": [], "archive": {"min": None, "max": None}}]}

    def test_backup_list_failure_is_the_tools(self):
        answers = [("backup-list", ToolError("wal-g failed (exit 1): ERROR: failed to list s3 folder"))]
        with pytest.raises(ToolError, match="s3 folder"):
            minimal_tool().inventory(fake_run(answers))

    def test_backup_without_start_and_finish_time(self):
        text = json.dumps([{"backup_name": "base_000000010000000000000002", "time": "2025-01-01T00:00:09.5+01:00",
                            "wal_file_name": "000000010000000000000002", "start_lsn": 33554472,
                            "finish_lsn": 33554728}])
        [repo] = minimal_tool().inventory(fake_run([("backup-list", text), ("wal-show", "[]")]))["repositories"]
        assert (repo["backups"][0]["start"], repo["backups"][0]["stop"], repo["backups"][0]["duration"]) == (
            epoch(2024, 12, 31, 23, 0, 9), epoch(2024, 12, 31, 23, 0, 9), 0)

    def test_nanoseconds_as_go_prints_them(self):
        text = json.dumps([{"backup_name": "base_000000010000000000000002", "time": "2025-01-01T00:00:10Z",
                            "start_time": "2025-01-01T00:00:01.999999999Z",
                            "finish_time": "2025-01-01T00:00:09.123456789Z"}])
        [repo] = minimal_tool().inventory(fake_run([("backup-list", text), ("wal-show", "[]")]))["repositories"]
        assert repo["backups"][0]["duration"] == 8


class TestParseWalShow:
    def test_one_timeline(self):
        text = json.dumps([{"id": 1, "start_segment": "000000010000000000000003",
                            "end_segment": "000000010000000000000009", "missing_segments": []}])
        assert parse_wal_show(text) == {"min": "000000010000000000000003", "max": "000000010000000000000009"}

    def test_garbage(self):
        with pytest.raises(ToolError, match="wal-show"):
            parse_wal_show("{")


class TestRestorePlan:
    DATA = "/var/lib/postgresql/13/main"

    def plan(self, **kwargs):
        return minimal_tool().restore_plan(self.DATA, **kwargs)

    def test_latest_recovers_in_standby_mode_so_that_postgresql_never_promotes_by_itself(self):
        assert self.plan() == {
            "argv": ["/usr/local/bin/wal-g", "backup-fetch", self.DATA, "LATEST"],
            "auto_conf": {"restore_command": "/usr/local/bin/wal-g wal-fetch %f %p", "archive_mode": "off"},
            "recovery_signal": False, "standby_signal": True}

    def test_an_exact_target_pauses_by_default(self):
        plan = self.plan(target={"type": "immediate"})
        assert plan["auto_conf"]["recovery_target_action"] == "pause"
        assert (plan["recovery_signal"], plan["standby_signal"]) == (True, False)

    def test_a_named_backup(self):
        argv = self.plan(backup="base_000000010000000000000006")["argv"]
        assert argv == ["/usr/local/bin/wal-g", "backup-fetch", self.DATA, "base_000000010000000000000006"]

    @pytest.mark.parametrize("target, settings", [
        ({"type": "time", "value": "2026-11-26 10:15:00+00"}, {"recovery_target_time": "2026-11-26 10:15:00+00"}),
        ({"type": "time", "value": "2026-11-26T10:15:00Z"}, {"recovery_target_time": "2026-11-26 10:15:00+00"}),
        ({"type": "lsn", "value": "0/3000060"}, {"recovery_target_lsn": "0/3000060"}),
        ({"type": "xid", "value": "1234"}, {"recovery_target_xid": "1234"}),
        ({"type": "name", "value": "before upgrade"}, {"recovery_target_name": "before upgrade"}),
        ({"type": "immediate"}, {"recovery_target": "immediate"}),
    ])
    @pytest.mark.parametrize("action", ["promote", "pause", "shutdown"])
    def test_targets(self, target, settings, action):
        plan = self.plan(target=target, target_action=action)
        expected = {"restore_command": "/usr/local/bin/wal-g wal-fetch %f %p", "archive_mode": "off",
                    "recovery_target_action": action}
        expected.update(settings)
        assert plan["auto_conf"] == expected
        assert plan["recovery_signal"] is True and plan["standby_signal"] is False
        assert plan["argv"][-1] == "LATEST"

    def test_primary_keeps_archiving(self):
        assert self.plan(primary=True)["auto_conf"] == {"restore_command": "/usr/local/bin/wal-g wal-fetch %f %p"}

    def test_repository_one_is_the_one(self):
        assert self.plan(repository=1) == self.plan()
        assert self.plan(repository={"index": 1}) == self.plan()

    def test_needs_no_cluster(self):
        assert minimal_tool(cluster=None).restore_plan(self.DATA)["argv"][2] == self.DATA

    def test_delta_refused(self):
        with pytest.raises(ValueError) as info:
            self.plan(delta=True)
        assert str(info.value) == "wal-g restores into an empty directory only; delta restore is a pgBackRest feature"

    @pytest.mark.parametrize("kwargs, message", [
        (dict(target={"type": "time", "value": "soon"}), "target.value: 'soon' is not a time; use 2026-11-26"),
        (dict(target={"type": "name"}), "target type 'name' needs a value"),
        (dict(target={"type": "lsn", "value": "3000060"}), "an LSN looks like 0/3000060"),
        (dict(target={"type": "xid", "value": "-1"}), "an xid is a whole number"),
        (dict(target={"type": "tomorrow"}), "target.type"),
        (dict(target_action="resume"), "target_action"),
        (dict(backup="--help"), "not a backup label"),
        (dict(repository=2), "one repository"),
    ])
    def test_refused(self, kwargs, message):
        with pytest.raises(ValueError) as info:
            self.plan(**kwargs)
        assert message in str(info.value)

    def test_data_directory_must_be_absolute(self):
        with pytest.raises(ValueError, match="data_directory"):
            minimal_tool().restore_plan("13/main")


class TestBackupTypes:
    def test_offered(self):
        assert WalG.backup_types == ("full", "delta")

    def test_delta(self):
        assert tool().backup_argv(tool().policy["repositories"][0], "delta") == [
            "/usr/local/bin/wal-g", "backup-push", "/var/lib/postgresql/15/main"]

    @pytest.mark.parametrize("kind, argv", [("full", ["backup-push", "--full", "/srv/pg"]),
                                            ("delta", ["backup-push", "/srv/pg"])])
    def test_minimal_policy_and_no_repository(self, kind, argv):
        assert minimal_tool({"data_directory": "/srv/pg"}).backup_argv({}, kind) == ["/usr/local/bin/wal-g"] + argv
        assert minimal_tool({"data_directory": "/srv/pg"}).backup_argv(None, kind) == ["/usr/local/bin/wal-g"] + argv

    def test_driver_for_a_minimal_policy(self):
        assert isinstance(driver_for(minimal_policy("walg"), CLUSTER), WalG)
        assert isinstance(driver_for(minimal_policy("pgbackrest")), PgBackRest)


def test_real_wal_show_output_gives_the_archive_range():
    """Captured in the lab: wal-g v1.1.3-rc-with-build on PostgreSQL 15, after one switched segment."""
    import os
    from ansible_collections.pgops.backup.plugins.module_utils.drivers.walg import parse_wal_show
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "walg",
                        "wal-show-detailed.captured.json")
    with open(path) as f:
        assert parse_wal_show(f.read()) == {"min": "000000010000000000000001", "max": "000000010000000000000001"}


class TestKeysInUse:
    """What a host's .walg.json encrypts with, read back from the file the role writes."""

    @pytest.mark.parametrize("key", [HEX_KEY, BASE64_KEY, "p" * 32])
    def test_the_role_s_own_file_reads_back_its_key_and_location(self, key):
        policy = walg_policy()
        [found] = keys_in_use(json.dumps(config(policy, libsodium_key=key)))
        assert found["key"] == key and found["option"] == "WALG_LIBSODIUM_KEY"
        assert found["material"] == key_material(key)
        assert found["location"] == repository_location(policy["repositories"][0])
        assert found["location"] == ("s3", "https://minio.lab.internal:9000", "s3://pg-backups/walg")

    def test_a_posix_repository_s_key_reads_back_with_its_directory(self):
        policy = walg_policy({"name": "local", "type": "posix", "path": "/srv/walg", "encrypt": True})
        [found] = keys_in_use(json.dumps(config(policy, libsodium_key=HEX_KEY)))
        assert found["location"] == repository_location(policy["repositories"][0]) == ("file", "", "/srv/walg")

    def test_an_unencrypted_repository_holds_no_key(self):
        assert keys_in_use(json.dumps(config(walg_policy(s3(encrypt=False))))) == []

    def test_one_key_written_as_hex_or_base64_is_the_same_key(self):
        raw = bytes(range(32))
        as_hex, as_base64 = raw.hex(), base64.b64encode(raw).decode("ascii")
        assert key_material(as_hex) == key_material(as_base64) == "bytes:" + raw.hex()
        assert key_material(HEX_KEY) != key_material(BASE64_KEY)

    def test_the_transform_in_the_file_decides_how_its_key_reads(self):
        # wal-g before 2.0 ignores the transform: a file without one uses the key's text
        text = json.dumps({"WALG_LIBSODIUM_KEY": HEX_KEY, "WALG_S3_PREFIX": "s3://b/p", "AWS_ENDPOINT": "https://e"})
        assert keys_in_use(text)[0]["material"] == "bytes:" + HEX_KEY.encode("ascii").hex()
        assert keys_in_use(text)[0]["material"] != key_material(HEX_KEY)

    def test_a_key_that_decodes_to_nothing_still_compares(self):
        assert key_material("not a key") == "text:not a key" != key_material("not a key either")

    @pytest.mark.parametrize("text", ["", "{not json", "[]"])
    def test_a_file_that_is_no_json_object_is_refused_not_ignored(self, text):
        with pytest.raises(ToolError, match="the role does not replace a key it cannot read"):
            keys_in_use(text)


def at(text):
    from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import to_epoch
    return to_epoch(text)


class TestTimeRetention:
    """Keep the newest full backup that finished before the window's start, and what follows it (pgBackRest's rule)."""

    def plan(self, fixture_text, window_start, fixture="walg/backup-list-detail.captured.json"):
        return time_retention(parse_backup_list(fixture_text(fixture)), at(window_start))

    def test_the_full_backup_the_window_starts_from_is_kept(self, fixture_text):
        # base_...06 finished 06:11:23.29, base_...07 06:11:24.72. wal-g's `delete before FIND_FULL 06:11:24Z`
        # deletes before the first backup after 06:11:24, base_...07, so a restore to 06:11:24 would be impossible.
        plan = self.plan(fixture_text, "2026-11-26T06:11:24Z")
        assert plan == {"keep": "base_000000010000000000000006", "keep_finished": at("2026-11-26T06:11:23.286908Z"),
                        "expired": [], "kept": ["base_000000010000000000000006", "base_000000010000000000000007"]}

    def test_older_backups_go_once_a_newer_full_finished_before_the_window(self, fixture_text):
        plan = self.plan(fixture_text, "2026-11-26T06:11:25Z")
        assert (plan["keep"], plan["expired"], plan["kept"]) == (
            "base_000000010000000000000007", ["base_000000010000000000000006"], ["base_000000010000000000000007"])

    @pytest.mark.parametrize("window_start", ["2026-11-26T06:00:00Z", "2026-11-26T06:11:23.286908Z"])
    def test_nothing_is_deleted_while_no_full_backup_finished_before_the_window(self, fixture_text, window_start):
        plan = self.plan(fixture_text, window_start)
        assert (plan["keep"], plan["expired"]) == (None, [])
        assert plan["kept"] == ["base_000000010000000000000006", "base_000000010000000000000007"]

    LAB = "walg/backup-list-detail-fulls-and-deltas.captured.json"
    F3, D5, F7, D9, F11 = ("base_000000010000000000000003", "base_000000010000000000000005_D_000000010000000000000003",
                           "base_000000010000000000000007", "base_000000010000000000000009_D_000000010000000000000007",
                           "base_00000001000000000000000B")

    def test_fulls_and_deltas_from_the_lab_the_full_and_delta_before_the_window_stay(self, fixture_text):
        # D9 finished 00:53:35.92, F11 started 00:53:39.07. In the lab, wal-g 1.1.3's
        # `delete before FIND_FULL 2026-12-02T00:53:37Z` would delete F7 and D9: a restore to 00:53:37 needs both.
        plan = self.plan(fixture_text, "2026-12-02T00:53:37Z", self.LAB)
        assert (plan["keep"], plan["expired"], plan["kept"]) == (self.F7, [self.F3, self.D5], [self.F7, self.D9, self.F11])

    @pytest.mark.parametrize("window_start, keep, expired", [
        ("2026-12-02T00:53:20Z", None, []),
        ("2026-12-02T00:53:29Z", F3, []),
        ("2026-12-02T00:53:45Z", F11, [F3, D5, F7, D9]),
    ])
    def test_fulls_and_deltas_from_the_lab_at_other_window_starts(self, fixture_text, window_start, keep, expired):
        plan = self.plan(fixture_text, window_start, self.LAB)
        assert (plan["keep"], plan["expired"]) == (keep, expired)

    def test_a_delta_is_kept_with_its_full_and_never_chosen(self, fixture_text):
        # the delta base_...04_D_...02 finished before the window, but a restore from it needs its full
        plan = self.plan(fixture_text, "2025-03-05T00:00:00Z", "walg/backup-list-detail.handwritten.json")
        assert (plan["keep"], plan["expired"]) == ("base_000000010000000000000002", [])

    def test_permanent_backups_are_chosen_like_any_other_and_never_expired(self, fixture_text):
        plan = self.plan(fixture_text, "2025-03-10T00:00:00Z", "walg/backup-list-detail.handwritten.json")
        assert plan["keep"] == "base_000000010000000000000006"
        assert plan["expired"] == ["base_000000010000000000000002",
                                   "base_000000010000000000000004_D_000000010000000000000002"]
        permanent_first = json.loads(fixture_text("walg/backup-list-detail.handwritten.json"))
        permanent_first[0]["is_permanent"] = True
        plan = time_retention(parse_backup_list(json.dumps(permanent_first)), at("2025-03-10T00:00:00Z"))
        assert plan["expired"] == ["base_000000010000000000000004_D_000000010000000000000002"]
        assert plan["kept"] == ["base_000000010000000000000002", "base_000000010000000000000006"]

    def test_expired_is_what_wal_g_deletes_before_the_kept_backup_in_its_own_order(self):
        # a restore onto timeline 2 from an early backup: wal-g orders by timeline, then segment
        text = json.dumps([
            {"backup_name": "base_000000010000000000000009", "time": "2026-01-01T00:00:00Z",
             "finish_time": "2026-01-01T00:00:00Z"},
            {"backup_name": "base_000000020000000000000005", "time": "2026-01-02T00:00:00Z",
             "finish_time": "2026-01-02T00:00:00Z"},
            {"backup_name": "base_000000020000000000000007", "time": "2026-01-03T00:00:00Z",
             "finish_time": "2026-01-03T00:00:00Z"}])
        plan = time_retention(parse_backup_list(text), at("2026-01-02T12:00:00Z"))
        assert (plan["keep"], plan["expired"]) == ("base_000000020000000000000005", ["base_000000010000000000000009"])

    def test_an_older_wal_g_without_finish_time_is_judged_by_the_sentinel_time(self):
        text = json.dumps([{"backup_name": "base_000000010000000000000002", "time": "2026-01-01T00:00:00Z"},
                           {"backup_name": "base_000000010000000000000004", "time": "2026-01-02T00:00:00Z"}])
        plan = time_retention(parse_backup_list(text), at("2026-01-01T12:00:00Z"))
        assert (plan["keep"], plan["expired"]) == ("base_000000010000000000000002", [])

    def test_no_backup_at_all(self):
        assert time_retention([], at("2026-01-01T00:00:00Z")) == {
            "keep": None, "keep_finished": None, "expired": [], "kept": []}

    def test_applied_it_lists_then_deletes_before_the_kept_backup(self, fixture_text):
        calls = []
        answers = [("backup-list", fixture_text("walg/backup-list-detail.captured.json")), ("delete", "")]
        plan = minimal_tool().expire_by_time(fake_run(answers, calls), at("2026-11-26T06:11:25Z"))
        assert plan["keep"] == "base_000000010000000000000007"
        assert calls == [[BINARY, "backup-list", "--detail", "--json"],
                         [BINARY, "delete", "before", "base_000000010000000000000007", "--confirm"]]

    def test_applied_it_deletes_nothing_when_it_keeps_everything(self, fixture_text):
        calls = []
        answers = [("backup-list", fixture_text("walg/backup-list-detail.captured.json"))]
        plan = minimal_tool().expire_by_time(fake_run(answers, calls), at("2026-11-26T06:00:00Z"))
        assert plan["keep"] is None and calls == [[BINARY, "backup-list", "--detail", "--json"]]

    def test_a_failed_listing_deletes_nothing(self):
        calls = []
        answers = [("backup-list", ToolError("wal-g failed (exit 1): ERROR: no such bucket"))]
        with pytest.raises(ToolError, match="no such bucket"):
            minimal_tool().expire_by_time(fake_run(answers, calls), at("2026-11-26T06:00:00Z"))
        assert len(calls) == 1


def test_secrets_of_the_walg_json():
    text = config()
    assert sorted(secret_values(json.dumps(text))) == sorted([ACCESS_KEY, SECRET_KEY, HEX_KEY])
    assert secret_values("not json") == [] and secret_values("[]") == []
