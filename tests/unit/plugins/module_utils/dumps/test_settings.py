# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dumps role's settings: validated once, naming the variable, with a fast compression per PostgreSQL."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.dumps.settings import normalize_settings

PG15 = {"major": 15, "port": 5432, "socket_dir": "/var/run/postgresql"}
PG17 = dict(PG15, major=17)
OFFSITE = {"bucket": "b", "endpoint": "minio:9000", "uri_style": "path", "access_key": "AK", "secret_key": "SK",
           "ca_file": "/ca.crt", "part_size_mb": 5}


def test_defaults_are_fast_and_keep_a_week():
    result = normalize_settings(PG15)
    settings = result["settings"]
    assert settings["logical"]["compression"] == "gzip:1"
    assert settings["base"]["compression"] == "server-zstd:1"
    assert settings["logical"]["dumps"] is None  # every database
    assert settings["logical"]["retention"] == {"count": 7, "max_age": None}
    assert settings["offsite"] is None and result["credentials"] is None
    assert normalize_settings(PG17)["settings"]["logical"]["compression"] == "zstd:1"


def test_dumps_are_completed():
    dumps = normalize_settings(PG17, logical_dumps=[
        {"database": "shop", "format": "directory", "jobs": 4},
        {"database": "shop", "name": "orders", "format": "plain", "tables": ["public.orders"], "content": "data"},
    ])["settings"]["logical"]["dumps"]
    assert dumps[0] == {"database": "shop", "name": "shop", "format": "directory", "content": "all", "jobs": 4,
                        "tables": [], "schemas": []}
    assert dumps[1]["jobs"] == 1 and dumps[1]["tables"] == ["public.orders"] and dumps[1]["content"] == "data"


def test_offsite_keys_are_kept_apart_from_the_settings():
    result = normalize_settings(PG15, offsite=OFFSITE, offsite_prefix="db1")
    offsite = result["settings"]["offsite"]
    assert offsite == {"bucket": "b", "endpoint": "https://minio:9000", "region": "us-east-1", "uri_style": "path",
                       "prefix": "db1", "ca_file": "/ca.crt", "part_size": 5 * 1024 * 1024,
                       "credentials_file": "/etc/pgops-backup/offsite-credentials.json"}
    assert result["credentials"] == {"access_key": "AK", "secret_key": "SK"}
    assert "SK" not in repr(result["settings"])


@pytest.mark.parametrize("kwargs, variable", [
    ({"logical_dumps": [{"format": "custom"}]}, "dumps_logical[0].database"),
    ({"logical_dumps": [{"database": "shop", "format": "tar"}]}, "dumps_logical[0].format"),
    ({"logical_dumps": [{"database": "shop", "format": "custom", "jobs": 4}]}, "dumps_logical[0].jobs"),
    ({"logical_dumps": [{"database": "shop", "content": "everything"}]}, "dumps_logical[0].content"),
    ({"logical_dumps": [{"database": "my shop"}]}, "dumps_logical[0].name"),
    ({"logical_dumps": [{"database": "shop", "tables": "orders"}]}, "dumps_logical[0].tables"),
    ({"logical_dumps": [{"database": "shop", "table": ["orders"]}]}, "dumps_logical[0]"),
    ({"logical_dumps": [{"database": "shop"}, {"database": "shop"}]}, "dumps_logical"),
    ({"logical_compression": "zstd:1"}, "dumps_logical_compression"),  # pg_dump 15 has gzip only
    ({"logical_compression": "brotli"}, "dumps_logical_compression"),
    ({"logical_compression": "gzip:12"}, "dumps_logical_compression"),
    ({"base_compression": "xz"}, "dumps_base_compression"),
    ({"logical_retention": {"count": 0}}, "dumps_logical_retention.count"),
    ({"base_retention": {"days": 3}}, "dumps_base_retention"),
    ({"logical_schedule": "61 * * * *"}, "pg_backup_logical_schedule"),
    ({"base_schedule": "daily"}, "pg_backup_base_schedule"),
    ({"local_dir": "backups"}, "pg_backup_local_dir"),
    ({"logical_jobs": 0}, "dumps_logical_jobs"),
    ({"offsite": dict(OFFSITE, bucket="")}, "dumps_offsite.bucket"),
    ({"offsite": dict(OFFSITE, secret_key=None)}, "dumps_offsite.secret_key"),
    ({"offsite": dict(OFFSITE, endpoint="http://minio:9000")}, "dumps_offsite.endpoint"),
    ({"offsite": dict(OFFSITE, uri_style="virtual")}, "dumps_offsite.uri_style"),
    ({"offsite": dict(OFFSITE, part_size_mb=4)}, "dumps_offsite.part_size_mb"),
    ({"offsite": dict(OFFSITE, verify_tls=False)}, "dumps_offsite"),
])
def test_invalid_settings_name_the_variable(kwargs, variable):
    with pytest.raises(PolicyError) as err:
        normalize_settings(PG15, **kwargs)
    assert err.value.variable == variable, str(err.value)
    assert "SK" not in str(err.value)


def test_newer_compressions_on_newer_postgresql():
    settings = normalize_settings(PG17, logical_compression="lz4", base_compression="server-lz4:1")["settings"]
    assert settings["logical"]["compression"] == "lz4"
    assert settings["base"]["compression"] == "server-lz4:1"
    with pytest.raises(PolicyError, match="server-side compression needs PostgreSQL 15"):
        normalize_settings(dict(PG15, major=13), base_compression="server-zstd")


@pytest.mark.parametrize("kwargs, variable, found", [
    ({"local_dir": "/var/backups/pgops\n/etc"}, "pg_backup_local_dir", "a newline at character 19"),
    ({"logical_schedule": "0 2 * * *\n* * * * * id"}, "pg_backup_logical_schedule", "a newline at character 10"),
    ({"base_schedule": "0\t3 * * 0"}, "pg_backup_base_schedule", "a tab at character 2"),
    ({"logical_dumps": [{"database": "shop\nx"}]}, "dumps_logical[0].database", "a newline at character 5"),
    ({"logical_dumps": [{"database": "shop", "name": "shop\n"}]}, "dumps_logical[0].name", "a newline"),
    ({"logical_dumps": [{"database": "shop", "tables": ["orders", "line\x00items"]}]}, "dumps_logical[0].tables[1]",
     "a NUL byte at character 5"),
    ({"logical_dumps": [{"database": "shop", "schemas": ["sales\r"]}]}, "dumps_logical[0].schemas[0]",
     "a carriage return"),
    ({"logical_compression": "gzip:1\n"}, "dumps_logical_compression", "a newline"),
    ({"base_compression": "server-zstd\x1b"}, "dumps_base_compression", "control character 0x1b"),
    ({"offsite": dict(OFFSITE, bucket="b\nc")}, "dumps_offsite.bucket", "a newline at character 2"),
    ({"offsite": dict(OFFSITE, endpoint="minio:9000\n")}, "dumps_offsite.endpoint", "a newline"),
    ({"offsite": dict(OFFSITE, prefix="db1\n")}, "dumps_offsite.prefix", "a newline"),
    ({"offsite": dict(OFFSITE, region="us-east-1\t")}, "dumps_offsite.region", "a tab"),
    ({"offsite": dict(OFFSITE, ca_file="/ca.crt\n")}, "dumps_offsite.ca_file", "a newline"),
    ({"offsite": dict(OFFSITE, secret_key="SK\n")}, "dumps_offsite.secret_key", "a newline"),
])
def test_a_control_character_is_refused_naming_the_variable(kwargs, variable, found):
    with pytest.raises(PolicyError) as err:
        normalize_settings(PG15, **kwargs)
    assert err.value.variable == variable, str(err.value)
    assert str(err.value).startswith("%s: holds %s" % (variable, found)), str(err.value)
    assert "SK" not in str(err.value)
