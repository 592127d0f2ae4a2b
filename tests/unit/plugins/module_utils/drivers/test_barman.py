# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Barman driver: its server section from the policy, its command lines, and its catalog from the lab's own
Barman 3.4 (bookworm) and 3.13 (trixie) output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import registry
from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman import (
    Barman, retention_policy, slot_name, version_tuple, wal_compression)

V34, V313 = (3, 4, 0), (3, 13, 3)
LOCAL = {"index": 1, "name": "local", "type": "posix", "path": "/var/lib/barman/", "retention": {"full": 2, "type": "count"},
         "schedule": {"full": "30 1 * * *", "diff": "", "incr": "", "expire": "45 3 * * *"}}
CLUSTER = {"port": 5432, "major": 15, "data_directory": "/var/lib/postgresql/15/main"}
# each release's captured backups, oldest first (tests/unit/fixtures/barman)
LABELS = {"bookworm": ["20261203T154621", "20261203T154622"], "trixie": ["20261203T154813", "20261203T155226"]}


def driver(compression=None, archive_timeout=30):
    policy = {"tool": "barman", "stanza": "main", "compression": compression, "archive_timeout": archive_timeout,
              "repositories": [LOCAL]}
    return registry.driver_for(policy)


def settings(**overrides):
    arguments = {"repository": LOCAL, "db_host": "db1", "cluster": CLUSTER, "version": V34}
    arguments.update(overrides)
    compression = arguments.pop("compression", None)
    return dict(driver(compression).server_settings(**arguments))


@pytest.mark.parametrize("release, expected", [("bookworm", (3, 4, 0)), ("trixie", (3, 13, 3))])
def test_the_version_is_read_from_barmans_own_words(fixture_text, release, expected):
    assert version_tuple(fixture_text("barman/version-%s.captured.txt" % release)) == expected


def test_a_version_line_without_a_version_is_an_error():
    with pytest.raises(ToolError):
        version_tuple("barman: command not found")


def test_the_registry_picks_barman():
    assert isinstance(driver(), Barman)


def test_streaming_backups_and_wal_need_no_ssh_and_a_slot_barman_creates():
    found = settings()
    assert found["backup_method"] == "postgres" and "ssh_command" not in found
    assert found["conninfo"] == "host=db1 port=5432 user=barman dbname=postgres"
    assert found["streaming_conninfo"] == "host=db1 port=5432 user=streaming_barman"
    assert (found["streaming_archiver"], found["archiver"]) == ("on", "off")
    assert (found["slot_name"], found["create_slot"]) == ("barman_main", "auto")
    assert found["backup_directory"] == "/var/lib/barman/main"
    assert found["path_prefix"] == "/usr/lib/postgresql/15/bin"
    assert found["retention_policy"] == "REDUNDANCY 2" and found["retention_policy_mode"] == "auto"


def test_rsync_with_archive_command_goes_over_ssh_and_streams_nothing():
    found = settings(backup_method="rsync", wal="archive_command", parallel_jobs=3)
    assert found["ssh_command"] == "ssh -q -o BatchMode=yes postgres@db1"
    assert (found["reuse_backup"], found["parallel_jobs"]) == ("link", "3")
    assert (found["streaming_archiver"], found["archiver"]) == ("off", "on")
    assert "slot_name" not in found and "streaming_conninfo" not in found


def test_tls_settings_reach_both_connections_in_a_stable_order():
    found = settings(connection={"sslrootcert": "/etc/ssl/pg-ca.crt", "sslmode": "verify-full"})
    assert found["conninfo"].endswith(" sslmode=verify-full sslrootcert=/etc/ssl/pg-ca.crt")
    assert found["streaming_conninfo"].endswith(" sslmode=verify-full sslrootcert=/etc/ssl/pg-ca.crt")


@pytest.mark.parametrize("connection", [{"sslrootcert": "/etc/my ca.crt"}, {"sslmode": "require' host=evil"}])
def test_a_connection_value_that_would_need_quoting_is_refused(connection):
    with pytest.raises(ValueError) as info:
        settings(connection=connection)
    assert list(connection)[0] in str(info.value)


@pytest.mark.parametrize("overrides, variable", [({"backup_method": "pg_basebackup"}, "barman_backup_method"),
                                                 ({"wal": "both"}, "barman_wal")])
def test_an_unknown_method_is_refused_naming_the_variable(overrides, variable):
    with pytest.raises(ValueError) as info:
        settings(**overrides)
    assert str(info.value).startswith(variable + ": ")


def test_the_server_section_never_points_at_an_s3_repository():
    with pytest.raises(ValueError):
        settings(repository={"name": "offsite", "type": "s3"})


@pytest.mark.parametrize("retention, expected", [({"full": 3, "type": "count"}, "REDUNDANCY 3"),
                                                 ({"full": 14, "type": "time"}, "RECOVERY WINDOW OF 14 DAYS")])
def test_retention_becomes_barmans_retention_policy(retention, expected):
    assert retention_policy(retention) == expected


@pytest.mark.parametrize("compression, version, expected", [
    (None, V34, "gzip"), (None, V313, "gzip"), ("gzip", V34, "gzip"), ("bzip2", V313, "bzip2"),
    ("lzma", V313, "xz"), ("lz4", V313, "lz4"), ("none", V34, None)])
def test_wal_compression_follows_the_policy_on_each_release(compression, version, expected):
    assert wal_compression(compression, version) == expected


@pytest.mark.parametrize("compression", ["zstd", "lz4", "lzma"])
def test_a_compression_barman_34_lacks_is_refused_naming_the_variable_and_the_release(compression):
    with pytest.raises(ToolError) as info:
        wal_compression(compression, V34)
    assert str(info.value).startswith("pg_backup_compression: Barman 3.4.0 compresses WAL with gzip or bzip2 only")
    assert "3.12" in str(info.value)


def test_uncompressed_wal_writes_no_compression_setting():
    assert "compression" not in settings(compression="none")


def test_slot_names_keep_to_barmans_characters():
    assert slot_name("Shop-DB.eu") == "barman_shop_db_eu"


def test_a_scheduled_backup_waits_longer_than_archive_timeout_for_its_last_segment():
    argv = driver(archive_timeout=150).backup_argv(LOCAL, "full")
    assert argv == ["/usr/bin/barman", "-q", "backup", "--wait", "--wait-timeout", "270", "main"]


@pytest.mark.parametrize("kind", ["diff", "incr", "delta"])
def test_other_backup_types_are_refused(kind):
    with pytest.raises(ValueError):
        driver().backup_argv(LOCAL, kind)


def test_retention_needs_no_job_of_its_own():
    assert driver().expire_argv(LOCAL) is None


def test_the_check_is_barmans_own_in_json():
    assert driver().check_argv() == ["/usr/bin/barman", "-f", "json", "check", "main"]


@pytest.mark.parametrize("release", sorted(LABELS))
def test_inventory_lists_each_done_backup_and_the_archive_range(fixture_text, release):
    oldest, newest = LABELS[release]
    outputs = {"list-backups": "list-backups", oldest: "show-backup-oldest", newest: "show-backup-latest",
               "sync-info": "sync-info"}
    calls = []

    def run(argv):
        calls.append(argv)
        key = argv[-1] if "show-backup" in argv else [word for word in argv if word in outputs][0]
        if key == "sync-info":  # a later capture of the same release's catalog: its newest segment
            return fixture_text("barman/sync-info-trixie.captured.json")
        return fixture_text("barman/%s-%s.captured.json" % (outputs[key], release))

    (repository,) = driver().inventory(run)["repositories"]
    assert [b["label"] for b in repository["backups"]] == [oldest, newest]
    assert all(b["type"] == "full" and b["error"] is False and b["repository"] == 1 for b in repository["backups"])
    assert repository["archive"]["min"] == "000000010000000000000003"
    assert repository["archive"]["max"] == "00000001000000000000000B"
    assert calls[-1] == ["/usr/bin/barman", "sync-info", "main"]
    assert (repository["index"], repository["name"], repository["status"]) == (1, "local", "ok")
    assert calls[0] == ["/usr/bin/barman", "-f", "json", "list-backups", "main"]


def test_an_empty_catalog_has_no_archive_range():
    (repository,) = driver().inventory(lambda argv: '{"main": []}')["repositories"]
    assert repository["backups"] == [] and repository["archive"] == {"min": None, "max": None}


def test_the_database_hosts_drop_in_closes_segments_within_the_rpo_and_archives_nothing():
    policy = {"tool": "barman", "stanza": "main", "wal_level": "replica", "archive_timeout": 60,
              "repositories": [LOCAL]}
    # receive-wal pulls the WAL; archive_timeout closes the segment it is writing, which only then is restorable
    assert registry.driver_for(policy).archive_settings() == {"wal_level": "replica", "archive_timeout": "60s"}
