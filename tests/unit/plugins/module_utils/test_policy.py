# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""normalize_policy and its helpers: every default, and every refusal naming the variable to fix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import check_text, check_texts, parse_duration
from ansible_collections.pgops.backup.plugins.module_utils.core.cron import parse_cron
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.policy import (
    DEFAULT_POSIX_PATH, archive_timeout_for, minimal_policy, normalize_policy, parse_endpoint,
    repositories_needing_passphrase, repository_choice, with_passphrases)

PASSPHRASE = "correct-horse-battery-staple-42"


def s3(**overrides):
    repo = {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio.lab.internal:9000",
            "access_key": "AKIAEXAMPLEACCESS", "secret_key": "s3cr3t/EXAMPLE+key"}
    repo.update(overrides)
    return repo


def posix(**overrides):
    repo = {"name": "local", "type": "posix"}
    repo.update(overrides)
    return repo


def refused(variable, **policy):
    """normalize_policy(**policy) raises PolicyError for ``variable``; returns the error."""
    with pytest.raises(PolicyError) as info:
        normalize_policy(**policy)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + ": ")
    return info.value


class TestValidationNamesTheVariable:
    def test_s3_repository_without_bucket(self):
        refused("pg_backup_repositories[1].bucket", repositories=[posix(), s3(bucket="")])

    def test_unknown_repository_type(self):
        error = refused("pg_backup_repositories[0].type", repositories=[{"name": "nfs", "type": "nfs"}])
        assert "'nfs'" in str(error)

    def test_repository_without_type(self):
        refused("pg_backup_repositories[0].type", repositories=[{"name": "local"}])

    def test_repository_that_is_not_a_dictionary(self):
        refused("pg_backup_repositories[0]", repositories=["/var/lib/pgbackrest"])

    @pytest.mark.parametrize("full", [0, "0", -1])
    def test_retention_keeping_no_full_backup(self, full):
        refused("pg_backup_repositories[0].retention.full", repositories=[posix(retention={"full": full})])

    @pytest.mark.parametrize("full", ["two", 1.5, True])
    def test_retention_full_that_is_not_a_whole_number(self, full):
        refused("pg_backup_repositories[0].retention.full", repositories=[posix(retention={"full": full})])

    def test_retention_diff_zero(self):
        refused("pg_backup_repositories[0].retention.diff", repositories=[posix(retention={"full": 2, "diff": 0})])

    def test_retention_type(self):
        refused("pg_backup_repositories[0].retention.type", repositories=[posix(retention={"type": "days"})])

    def test_retention_unknown_key(self):
        refused("pg_backup_repositories[0].retention", repositories=[posix(retention={"keep": 3})])

    def test_retention_that_is_not_a_dictionary(self):
        refused("pg_backup_repositories[0].retention", repositories=[posix(retention=[2])])

    @pytest.mark.parametrize("expr", ["61 * * * *", "* * *", "@often", "5-1 * * * *", "*/0 * * * *",
                                      "5- * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                                      "*/x * * * *", "1,,2 * * * *", "* * * * * *", "* * * * fri-mon"])
    def test_malformed_cron(self, expr):
        refused("pg_backup_schedule.full", schedule={"full": expr})

    def test_malformed_cron_in_a_repository_schedule(self):
        refused("pg_backup_repositories[0].schedule.diff", repositories=[posix(schedule={"diff": "* * *"})])

    def test_unknown_scheduled_job(self):
        refused("pg_backup_schedule", schedule={"weekly": "@weekly"})

    def test_schedule_that_is_not_a_dictionary(self):
        refused("pg_backup_schedule", schedule="@daily")

    @pytest.mark.parametrize("rpo", ["soon", 0, "0", "10s", 59, "59s", -300, "5 m", True, "1.5h"])
    def test_rpo(self, rpo):
        refused("pg_backup_rpo", rpo=rpo)

    def test_rpo_under_a_minute_says_why(self):
        assert "streaming replication" in str(refused("pg_backup_rpo", rpo="30s"))

    def test_unknown_tool(self):
        error = refused("pg_backup_tool", tool="bacula")
        assert "pgbackrest, walg, barman" in str(error)

    @pytest.mark.parametrize("stanza", ["", None, "my stanza", "-main", "main/prod"])
    def test_stanza_name(self, stanza):
        refused("pg_backup_stanza", stanza=stanza)

    def test_wal_level(self):
        refused("pg_backup_wal_level", wal_level="minimal")

    def test_compression(self):
        refused("pg_backup_compression", compression="xz")

    def test_duplicate_repository_names(self):
        error = refused("pg_backup_repositories", repositories=[posix(name="a"), s3(name="a")])
        assert "a" in str(error).rsplit(": ", maxsplit=1)[-1]

    def test_duplicate_default_names(self):
        # repo2 is the name the second repository would get by default
        refused("pg_backup_repositories", repositories=[posix(name="repo2"), {"type": "posix", "path": "/srv/b"}])

    @pytest.mark.parametrize("repositories", [[], {}, "local"])
    def test_repositories_must_be_a_non_empty_list(self, repositories):
        refused("pg_backup_repositories", repositories=repositories)

    def test_repository_name(self):
        refused("pg_backup_repositories[0].name", repositories=[posix(name="my repo")])

    def test_http_endpoint(self):
        error = refused("pg_backup_repositories[0].endpoint", repositories=[s3(endpoint="http://minio:9000")])
        assert "TLS" in str(error)

    @pytest.mark.parametrize("endpoint", ["minio:0", "minio:70000", "minio:port", "https://minio:9000/path",
                                          "user@minio"])
    def test_bad_endpoint(self, endpoint):
        refused("pg_backup_repositories[0].endpoint", repositories=[s3(endpoint=endpoint)])

    def test_uri_style(self):
        refused("pg_backup_repositories[0].uri_style", repositories=[s3(uri_style="virtual")])

    @pytest.mark.parametrize("key", ["access_key", "secret_key"])
    def test_s3_credentials(self, key):
        refused("pg_backup_repositories[0].%s" % key, repositories=[s3(**{key: ""})])

    def test_walg_with_two_repositories(self):
        error = refused("pg_backup_repositories", tool="walg", repositories=[s3(), posix()])
        assert "one repository (s3 or posix)" in str(error) and "offsite, local" in str(error)
        assert "keep pg_backup_tool: pgbackrest" in str(error)

    def test_walg_behind_a_repository_host(self):
        error = refused("pg_backup_repository_host", tool="walg", repositories=[posix()], repository_host="backup")
        assert "unset pg_backup_repository_host for walg" in str(error)

    @pytest.mark.parametrize("compression", ["gzip", "bzip2", "none"])
    def test_walg_compression(self, compression):
        error = refused("pg_backup_compression", tool="walg", repositories=[s3()], compression=compression)
        assert compression in str(error) and "lz4, zstd, lzma, brotli" in str(error)

    def test_unknown_compression_with_walg(self):
        refused("pg_backup_compression", tool="walg", repositories=[s3()], compression="xz")

    def test_short_cipher_passphrase(self):
        error = refused("pg_backup_repositories[0].cipher_passphrase",
                        repositories=[s3(cipher_passphrase="short-secret")])
        assert "short-secret" not in str(error)

    def test_relative_posix_path(self):
        refused("pg_backup_repositories[0].path", repositories=[posix(path="backups")])

    def test_repository_host_is_pgbackrest_only(self):
        refused("pg_backup_repository_host", tool="walg", repositories=[s3()], repository_host="backup1")


class TestRepositoryKeys:
    def test_a_misspelt_key_is_refused_not_ignored(self):
        # retension: the default retention would otherwise apply without a word
        error = refused("pg_backup_repositories[0]", repositories=[posix(retension={"full": 7})])
        assert str(error) == ("pg_backup_repositories[0]: unknown key(s) retension; posix repositories take "
                              "name, type, retention, schedule, encrypt, cipher_passphrase, path")

    def test_an_s3_key_on_a_posix_repository_says_whose_it_is(self):
        error = refused("pg_backup_repositories[1]", repositories=[s3(), posix(bucket="pg-backups", region="x")])
        assert "bucket, region: for s3 repositories only; posix repositories take " in str(error)

    def test_a_posix_key_on_an_s3_repository_says_whose_it_is(self):
        error = refused("pg_backup_repositories[0]", repositories=[s3(path="/srv/backups")])
        assert "path: for posix repositories only; s3 repositories take name, type, retention" in str(error)

    def test_typos_and_keys_of_the_other_type_are_named_together(self):
        error = refused("pg_backup_repositories[0]", repositories=[posix(ca_file="/ca.pem", pth="/srv")])
        assert "unknown key(s) pth; ca_file: for s3 repositories only; posix repositories take" in str(error)

    def test_every_key_of_each_type_is_taken(self):
        policy = normalize_policy(repositories=[
            posix(retention={"full": 3}, schedule={"incr": ""}, encrypt=True, cipher_passphrase=PASSPHRASE,
                  path="/srv/b"),
            s3(region="eu-west-1", uri_style="path", prefix="/db1", verify_tls=True, ca_file="/ca.pem")])
        assert [r["retention"]["full"] for r in policy["repositories"]] == [3, 2]


class TestControlCharacters:
    """A newline in a value that reaches pgbackrest.conf, a cron line or a command would start a line of
    its own (a second repo1-path=): it is refused, naming the variable, before anything changes."""

    def test_a_newline_in_a_repository_path(self):
        error = refused("pg_backup_repositories[0].path",
                        repositories=[posix(path="/var/lib/pgbackrest\nrepo1-path=/tmp")])
        assert "holds a newline at character 20" in str(error)
        assert "repo1-path" not in str(error)

    @pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f"])
    def test_a_control_character_in_the_stanza(self, char):
        error = refused("pg_backup_stanza", stanza="main" + char)
        assert "at character 5" in str(error) and "remove it" in str(error)

    def test_a_newline_in_a_schedule(self):
        error = refused("pg_backup_schedule.full", schedule={"full": "30 1 * * 0\n* * * * * root id"})
        assert "holds a newline at character 11" in str(error)

    def test_a_tab_in_a_repository_schedule(self):
        error = refused("pg_backup_repositories[0].schedule.diff", repositories=[posix(schedule={"diff": "30\t1 * * *"})])
        assert "holds a tab at character 3" in str(error)

    def test_a_newline_in_a_bucket(self):
        error = refused("pg_backup_repositories[0].bucket", repositories=[s3(bucket="pg-backups\n")])
        assert "holds a newline at character 11" in str(error)

    @pytest.mark.parametrize("key", ["name", "endpoint", "region", "prefix", "access_key", "secret_key", "ca_file",
                                     "cipher_passphrase"])
    def test_a_control_character_in_any_s3_text(self, key):
        value = "%s-value-long-enough-for-a-passphrase\x1b" % key
        error = refused("pg_backup_repositories[0].%s" % key, repositories=[s3(**{key: value})])
        assert "control character 0x1b" in str(error)
        assert value not in str(error)  # the keys and the passphrase are secrets

    def test_a_newline_in_the_compression(self):
        assert "newline" in str(refused("pg_backup_compression", compression="zstd\n"))

    def test_a_newline_in_the_repository_host(self):
        assert "newline" in str(refused("pg_backup_repository_host", repository_host="backup1\nrepo1-host=evil"))

    def test_printable_text_with_spaces_is_kept(self):
        repo = normalize_policy(repositories=[posix(path="/srv/pg backups/")])["repositories"][0]
        assert repo["path"] == "/srv/pg backups"


class TestDefaults:
    def test_everything_defaulted(self):
        policy = normalize_policy()
        assert policy["tool"] == "pgbackrest"
        assert policy["stanza"] == "main"
        assert policy["rpo_seconds"] == 300
        assert policy["archive_timeout"] == 150
        assert policy["wal_level"] == "replica"
        assert policy["compression"] is None
        assert policy["repository_host"] is None
        [repo] = policy["repositories"]
        assert repo["name"] == "local" and repo["type"] == "posix" and repo["index"] == 1
        assert repo["path"] == DEFAULT_POSIX_PATH["pgbackrest"] == "/var/lib/pgbackrest"
        assert repo["encrypt"] is False and repo["cipher_passphrase"] is None
        assert repo["retention"] == {"full": 2, "type": "count", "diff": None}

    def test_walg_takes_a_posix_repository_in_its_own_default_directory(self):
        [repo] = normalize_policy(tool="walg")["repositories"]
        assert repo["type"] == "posix" and repo["path"] == DEFAULT_POSIX_PATH["walg"] == "/var/lib/walg"
        [repo] = normalize_policy(tool="walg", repositories=[posix(path="/srv/wal-g/")])["repositories"]
        assert repo["path"] == "/srv/wal-g" and repo["encrypt"] is False

    def test_default_schedule_is_weekly_full_and_daily_diff(self):
        schedule = normalize_policy()["schedule"]
        assert schedule == {"full": "30 1 * * 0", "diff": "30 1 * * 1-6", "incr": "", "expire": "45 3 * * *"}
        assert parse_cron(schedule["full"], "x")["weekday"] == "0"
        assert parse_cron(schedule["diff"], "x")["weekday"] == "1-6"

    def test_s3_is_encrypted_by_default_posix_is_not(self):
        policy = normalize_policy(repositories=[posix(), s3()])
        assert [r["encrypt"] for r in policy["repositories"]] == [False, True]

    def test_encryption_can_be_chosen(self):
        policy = normalize_policy(repositories=[posix(encrypt=True), s3(encrypt=False)])
        assert [r["encrypt"] for r in policy["repositories"]] == [True, False]

    def test_repository_indexes_and_default_names_follow_the_list(self):
        policy = normalize_policy(repositories=[{"type": "posix"}, s3(name=None)])
        assert [(r["index"], r["name"]) for r in policy["repositories"]] == [(1, "repo1"), (2, "repo2")]

    @pytest.mark.parametrize("tool", ["pgbackrest", "walg"])
    def test_prefix_defaults_to_the_tool(self, tool):
        assert normalize_policy(tool=tool, repositories=[s3()])["repositories"][0]["prefix"] == "/" + tool

    @pytest.mark.parametrize("prefix, expected", [("prod/pg", "/prod/pg"), ("/prod/pg/", "/prod/pg"), ("/", "/")])
    def test_prefix_is_absolute_without_trailing_slash(self, prefix, expected):
        assert normalize_policy(repositories=[s3(prefix=prefix)])["repositories"][0]["prefix"] == expected

    def test_s3_details(self):
        repo = normalize_policy(repositories=[s3(ca_file="/etc/ssl/lab-ca.pem")])["repositories"][0]
        assert repo["endpoint_host"] == "minio.lab.internal"
        assert repo["endpoint_port"] == 9000
        assert repo["region"] == "us-east-1"
        assert repo["uri_style"] == "host"
        assert repo["verify_tls"] is True
        assert repo["ca_file"] == "/etc/ssl/lab-ca.pem"
        assert repo["bucket"] == "pg-backups"

    def test_s3_endpoint_defaults_to_aws_in_the_region(self):
        repo = normalize_policy(repositories=[s3(endpoint=None, region="eu-west-3")])["repositories"][0]
        assert (repo["endpoint_host"], repo["endpoint_port"]) == ("s3.eu-west-3.amazonaws.com", None)

    def test_posix_path_loses_trailing_slash(self):
        assert normalize_policy(repositories=[posix(path="/srv/backups/")])["repositories"][0]["path"] == \
            "/srv/backups"

    def test_repository_schedule_overrides_the_global_one_job_by_job(self):
        policy = normalize_policy(schedule={"incr": "0 */6 * * *"},
                                  repositories=[posix(), s3(schedule={"full": "@weekly", "diff": None})])
        local, offsite = [r["schedule"] for r in policy["repositories"]]
        assert local == dict(policy["schedule"])
        assert local["incr"] == "0 */6 * * *"
        assert offsite == {"full": "@weekly", "diff": "", "incr": "0 */6 * * *", "expire": "45 3 * * *"}

    def test_a_job_is_turned_off_with_an_empty_string(self):
        assert normalize_policy(schedule={"diff": ""})["schedule"]["diff"] == ""

    def test_retention_by_time_with_diff(self):
        repo = normalize_policy(repositories=[posix(retention={"type": "time", "full": "14", "diff": 7})])
        assert repo["repositories"][0]["retention"] == {"full": 14, "type": "time", "diff": 7}

    def test_long_enough_passphrase_is_kept(self):
        repo = normalize_policy(repositories=[s3(cipher_passphrase=PASSPHRASE)])["repositories"][0]
        assert repo["cipher_passphrase"] == PASSPHRASE

    def test_rpo_sets_archive_timeout(self):
        assert normalize_policy(rpo="1h30m")["archive_timeout"] == 2700
        assert normalize_policy(rpo="1m")["archive_timeout"] == 30

    def test_walg_with_one_s3_repository(self):
        policy = normalize_policy(tool="walg", repositories=[s3()])
        assert policy["tool"] == "walg"
        assert [(r["name"], r["prefix"], r["encrypt"]) for r in policy["repositories"]] == [("offsite", "/walg", True)]

    @pytest.mark.parametrize("compression", [None, "lz4", "zstd", "lzma", "brotli"])
    def test_walg_compressions(self, compression):
        assert normalize_policy(tool="walg", repositories=[s3()], compression=compression)["compression"] == compression

    @pytest.mark.parametrize("compression", ["zstd", "lz4", "gzip", "bzip2", "none", "brotli", "lzma"])
    def test_pgbackrest_compressions_are_left_to_its_driver(self, compression):
        # brotli and lzma pass here; the pgBackRest driver refuses them (ToolError) when writing its config
        assert normalize_policy(compression=compression)["compression"] == compression

    def test_input_is_not_modified(self):
        repos = [s3()]
        before = [dict(r) for r in repos]
        normalize_policy(repositories=repos)
        assert repos == before


class TestDurations:
    @pytest.mark.parametrize("text, seconds", [
        ("1h30m", 5400), ("90s", 90), ("5m", 300), ("7d", 604800), ("2w", 1209600), ("1d12h", 129600),
        ("300", 300), (300, 300), (" 5M ", 300),
    ])
    def test_parsed(self, text, seconds):
        assert parse_duration(text, "v") == seconds

    @pytest.mark.parametrize("value", ["", "m", "5x", "h1", "1.5h", "-5m", 0, -1, False, None])
    def test_refused(self, value):
        with pytest.raises(PolicyError) as info:
            parse_duration(value, "pg_backup_rpo")
        assert info.value.variable == "pg_backup_rpo"


def refused_text(value, variable="v", **kwargs):
    with pytest.raises(PolicyError) as info:
        check_text(value, variable, **kwargs)
    assert info.value.variable == variable
    return str(info.value)


class TestCheckText:
    @pytest.mark.parametrize("char, name", [("\n", "a newline"), ("\r", "a carriage return"), ("\t", "a tab"),
                                            ("\x00", "a NUL byte"), ("\x1b", "control character 0x1b"),
                                            ("\x7f", "control character 0x7f"), ("\x01", "control character 0x01"),
                                            ("\x1f", "control character 0x1f")])
    def test_every_control_character_is_refused_by_name_and_place(self, char, name):
        message = refused_text("/srv" + char + "x", "pg_backup_repositories[0].path")
        assert message.startswith("pg_backup_repositories[0].path: holds %s at character 5;" % name)

    def test_the_value_is_not_quoted_it_may_be_a_secret(self):
        assert "hunter2" not in refused_text("hunter2\nrepo1-path=/tmp")

    @pytest.mark.parametrize("value", ["/srv/pg backups", "s3cr3t/EXAMPLE+key~!", "/srv/b\u00e4ckups", "", " "])
    def test_printable_text_passes_unchanged(self, value):
        assert check_text(value, "v") == value

    @pytest.mark.parametrize("value, text", [(None, None), (5, "5")])
    def test_none_stays_none_and_numbers_become_text(self, value, text):
        assert check_text(value, "v") == text

    @pytest.mark.parametrize("value", [["/srv"], {"path": "/srv"}])
    def test_a_container_is_not_text(self, value):
        assert "expected text, got a " in refused_text(value)

    @pytest.mark.parametrize("value", ["curl -d @- https://alert\necho sent", "if true; then\n\texit 0\nfi"])
    def test_multiline_text_keeps_newlines_and_tabs(self, value):
        assert check_text(value, "v", multiline=True) == value

    @pytest.mark.parametrize("char", ["\x00", "\r", "\x1b", "\x7f"])
    def test_multiline_text_refuses_other_control_characters(self, char):
        assert "may span lines" in refused_text("echo" + char, multiline=True)

    def test_check_texts_names_each_key_and_skips_those_that_are_not_text(self):
        assert check_texts({"path": "/srv", "retention": {"full": 2}}, "repo", but=("retention",)) == {"path": "/srv"}
        with pytest.raises(PolicyError) as info:
            check_texts({"path": "/srv\n", "retention": {"full": 2}}, "repo", but=("retention",))
        assert info.value.variable == "repo.path"


class TestArchiveTimeout:
    @pytest.mark.parametrize("rpo, timeout", [(60, 30), (61, 30), (300, 150), (3600, 1800), (40, 30), (1, 30)])
    def test_half_the_rpo_with_a_floor_of_30_seconds(self, rpo, timeout):
        assert archive_timeout_for(rpo) == timeout


class TestCron:
    def test_five_fields(self):
        assert parse_cron("30 1 * * 0", "v") == {"minute": "30", "hour": "1", "day": "*", "month": "*",
                                                 "weekday": "0"}

    @pytest.mark.parametrize("expr", ["*/15 * * * *", "0 1-5/2 * * *", "0 0 1,15 * *", "0 3 * jan-mar mon-fri",
                                      "0 3 * * 7", "0 3 * * SUN", "5/10 * * * *", "0 0 31 12 *"])
    def test_accepted(self, expr):
        assert parse_cron(expr, "v")["minute"] == expr.split()[0]

    @pytest.mark.parametrize("expr, special", [("@daily", "daily"), ("@hourly", "hourly"), ("@yearly", "annually"),
                                               ("@annually", "annually"), ("@weekly", "weekly")])
    def test_special(self, expr, special):
        assert parse_cron(expr, "v") == {"special_time": special}

    @pytest.mark.parametrize("expr", [None, "", "   "])
    def test_off(self, expr):
        assert parse_cron(expr, "v") is None

    def test_error_quotes_the_expression(self):
        with pytest.raises(PolicyError) as info:
            parse_cron("61 * * * *", "pg_backup_schedule.full")
        assert "'61'" in str(info.value) and "0 and 59" in str(info.value)


class TestEndpoint:
    @pytest.mark.parametrize("endpoint, expected", [
        ("minio:9000", ("minio", 9000)), ("https://minio:9000", ("minio", 9000)),
        ("https://minio.lab.internal/", ("minio.lab.internal", None)), ("s3.amazonaws.com", ("s3.amazonaws.com", None)),
        ("10.0.0.5:443", ("10.0.0.5", 443)),
    ])
    def test_host_and_port(self, endpoint, expected):
        assert parse_endpoint(endpoint, "v") == expected

    def test_plain_http_refused(self):
        with pytest.raises(PolicyError, match="TLS"):
            parse_endpoint("http://minio:9000", "v")


class TestPassphrases:
    def policy(self):
        dr = s3(name="dr", bucket="dr-bucket", cipher_passphrase=PASSPHRASE)
        return normalize_policy(repositories=[posix(), s3(), dr])

    def test_only_encrypted_repositories_without_one_need_a_passphrase(self):
        assert repositories_needing_passphrase(self.policy()) == ["offsite"]

    def test_generated_passphrase_is_filled_in(self):
        policy = self.policy()
        filled = with_passphrases(policy, {"offsite": "g" * 64, "local": "ignored"})
        assert [r["cipher_passphrase"] for r in filled["repositories"]] == [None, "g" * 64, PASSPHRASE]
        assert repositories_needing_passphrase(filled) == []
        # the policy it came from is left as it was
        assert policy["repositories"][1]["cipher_passphrase"] is None

    @pytest.mark.parametrize("passphrases", [None, {}, {"offsite": ""}])
    def test_missing_passphrase_refused(self, passphrases):
        with pytest.raises(PolicyError) as info:
            with_passphrases(self.policy(), passphrases)
        assert info.value.variable == "pg_backup_repositories"
        assert "offsite" in str(info.value)


class TestMinimalPolicy:
    def test_pgbackrest(self):
        assert minimal_policy("pgbackrest") == {"tool": "pgbackrest", "stanza": "main", "compression": None,
                                                "repositories": []}

    def test_walg_names_its_one_repository(self):
        assert minimal_policy("walg", "prod") == {"tool": "walg", "stanza": "prod", "compression": None,
                                                  "repositories": [{"index": 1, "name": "walg"}]}

    @pytest.mark.parametrize("tool, stanza, variable", [("bacula", "main", "tool"), ("pgbackrest", "a b", "stanza"),
                                                        ("walg", "", "stanza"), (None, "main", "tool"),
                                                        ("pgbackrest", "main\n", "stanza")])
    def test_refused(self, tool, stanza, variable):
        with pytest.raises(PolicyError) as info:
            minimal_policy(tool, stanza)
        assert info.value.variable == variable


class TestSharedLocations:
    def test_two_posix_repositories_in_one_path_are_refused(self):
        with pytest.raises(PolicyError) as info:
            normalize_policy(repositories=[posix(), posix(name="second")])
        assert info.value.variable == "pg_backup_repositories[1]"
        assert "same place as pg_backup_repositories[0]" in str(info.value)

    def test_two_s3_repositories_in_one_bucket_and_prefix_are_refused(self):
        with pytest.raises(PolicyError) as info:
            normalize_policy(repositories=[s3(), s3(name="again")])
        assert info.value.variable == "pg_backup_repositories[1]"

    def test_other_prefix_or_bucket_is_another_place(self):
        policy = normalize_policy(repositories=[s3(), s3(name="p", prefix="/other"), s3(name="b", bucket="other")])
        assert len(policy["repositories"]) == 3


class TestRepositoryChoice:
    REPOSITORIES = [{"index": 1, "name": "local"}, {"index": 2, "name": "offsite"}]

    @pytest.mark.parametrize("value, index", [(None, None), ("", None), (2, 2), ("2", 2), ("offsite", 2), (1, 1),
                                              ("local", 1)])
    def test_by_index_or_name(self, value, index):
        assert repository_choice(self.REPOSITORIES, value, "restore_repository") == index

    def test_all_only_where_each_in_turn_is_possible(self):
        assert repository_choice(self.REPOSITORIES, "all", "pg_backup_drill_repository", every=True) == "all"
        with pytest.raises(PolicyError, match="restore_repository: 'all' is not a repository of the policy"):
            repository_choice(self.REPOSITORIES, "all", "restore_repository")

    @pytest.mark.parametrize("value", [3, "3", 0, True, "remote", 2.5, ["offsite"]])
    def test_one_the_policy_lacks_is_refused_naming_the_variable_and_the_repositories(self, value):
        with pytest.raises(PolicyError) as info:
            repository_choice(self.REPOSITORIES, value, "restore_repository")
        assert info.value.variable == "restore_repository"
        assert str(info.value) == ("restore_repository: %r is not a repository of the policy: give the index or the "
                                   "name of one of 1 (local), 2 (offsite)" % (value,))
