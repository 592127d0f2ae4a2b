# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump, pg_dumpall, pg_restore and pg_basebackup command lines, and the local backups as an inventory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets, pg_basebackup, pg_dump, registry

PG15 = {"major": 15, "port": 5433, "socket_dir": "/var/run/postgresql"}
PG17 = dict(PG15, major=17)
CONNECT = ["--host", "/var/run/postgresql", "--port", "5433", "--no-password"]


def dump(**kwargs):
    base = {"database": "shop", "name": "shop", "format": "custom", "content": "all", "jobs": 1, "tables": [],
            "schemas": []}
    base.update(kwargs)
    return base


def test_directory_dump_with_parallel_jobs_on_17():
    argv = pg_dump.LogicalDump({"tool": "logical"}, PG17).dump_argv(
        dump(format="directory", jobs=3), "shop", "/b/shop.dir", "zstd:1")
    assert argv == ["/usr/lib/postgresql/17/bin/pg_dump"] + CONNECT + [
        "--format=d", "--file=/b/shop.dir", "--compress=zstd:1", "--jobs=3", "--dbname=shop"]


def test_tables_schemas_and_content_on_15_take_a_gzip_level():
    argv = pg_dump.LogicalDump({"tool": "logical"}, PG15).dump_argv(
        dump(format="plain", tables=["public.orders"], schemas=["public"], content="data"), "shop", "/b/x.sql.gz",
        "gzip:1")
    assert argv[0] == "/usr/lib/postgresql/15/bin/pg_dump"
    assert argv[6:] == ["--format=p", "--file=/b/x.sql.gz", "--compress=1", "--schema=public",
                        "--table=public.orders", "--data-only", "--dbname=shop"]


@pytest.mark.parametrize("fmt, compression, path", [
    ("custom", "zstd:1", "shop.dump"), ("directory", "gzip:1", "shop.dir"), ("plain", "gzip:1", "shop.sql.gz"),
    ("plain", "zstd:3", "shop.sql.zst"), ("plain", "lz4", "shop.sql.lz4"), ("plain", "none", "shop.sql")])
def test_dump_paths(fmt, compression, path):
    assert pg_dump.dump_path(dump(format=fmt), compression) == path


def test_compression_option_before_16_is_a_level():
    assert pg_dump.compression_option("none", 15) == "0"
    assert pg_dump.compression_option("gzip", 15) == "6"
    assert pg_dump.compression_option("gzip:1", 16) == "gzip:1"


def test_globals_and_restore():
    tool = pg_dump.LogicalDump({"tool": "logical"}, PG17)
    assert tool.globals_argv("/b/globals.sql") == ["/usr/lib/postgresql/17/bin/pg_dumpall"] + CONNECT + [
        "--globals-only", "--file=/b/globals.sql"]
    assert tool.restore_argv("/b/shop.dir", "copy", jobs=4, tables=["public.orders", "items"], clean=True) == [
        "/usr/lib/postgresql/17/bin/pg_restore"] + CONNECT + [
        "--dbname=copy", "--jobs=4", "--exit-on-error", "--clean", "--if-exists", "--schema=public",
        "--table=orders", "--table=items", "/b/shop.dir"]


def test_the_table_of_contents_is_read_from_the_file_alone():
    assert pg_dump.LogicalDump({"tool": "logical"}, PG15).list_argv("/b/shop-data.dump") == [
        "/usr/lib/postgresql/15/bin/pg_restore", "--list", "/b/shop-data.dump"]


def test_the_tables_a_data_only_dump_fills_come_from_its_list(fixture_text):
    listing = fixture_text("pg_dump/restore-list-data-only.captured.txt")
    assert pg_dump.table_data(listing) == [("crm", "customers"), ("crm", "contacts"), ("public", "orders")]


def test_table_data_reads_names_with_spaces_and_nothing_else():
    listing = ("; Archive created at 2026-11-26 02:15:00 UTC\n;\n"
               "3380; 0 16420 TABLE DATA public order lines postgres\n"
               "3381; 0 0 SEQUENCE SET public order_lines_id_seq postgres\n"
               "3207; 2606 16402 FK CONSTRAINT crm contacts contacts_customer_id_fkey postgres\n")
    assert pg_dump.table_data(listing) == [("public", "order lines")]
    assert pg_dump.table_data("") == []


def test_a_data_only_dump_restores_in_one_job_without_clean():
    """pg_restore's workers would load crm.contacts before crm.customers, which its foreign key references (seen in
    the lab: 'violates foreign key constraint contacts_customer_id_fkey' with --jobs=2); one job follows the dump's
    order, referenced tables first."""
    tool = pg_dump.LogicalDump({"tool": "logical"}, PG15)
    assert tool.restore_argv("/b/shop-data.dump", "copy", jobs=4, clean=True, data_only=True) == [
        "/usr/lib/postgresql/15/bin/pg_restore"] + CONNECT + ["--dbname=copy", "--jobs=1", "--exit-on-error",
                                                              "/b/shop-data.dump"]


def test_basebackup_compresses_on_the_server_from_15():
    tool = pg_basebackup.BaseBackup({"tool": "base"}, PG15)
    assert tool.basebackup_argv("/b/pgdata", "server-zstd:1", "pgops.backup base L") == [
        "/usr/lib/postgresql/15/bin/pg_basebackup"] + CONNECT + [
        "--pgdata=/b/pgdata", "--format=tar", "--wal-method=stream", "--checkpoint=fast",
        "--label=pgops.backup base L", "--compress=server-zstd:1"]
    assert pg_basebackup.compression_args("gzip:1", 13) == ["--gzip", "--compress=1"]
    assert pg_basebackup.compression_args("none", 17) == []
    assert tool.verify_argv("/b/pgdata/backup_manifest", "/b/.verify") == [
        "/usr/lib/postgresql/15/bin/pg_verifybackup", "--manifest-path=/b/pgdata/backup_manifest", "/b/.verify"]


def test_drivers_are_registered_and_scheduled_through_the_script():
    tool = registry.driver_for({"tool": "logical"})
    assert tool.backup_argv(None, "full") == ["/usr/local/bin/pgops-backup-dumps", "backup", "logical",
                                              "--settings", "/etc/pgops-backup/dumps.json"]
    with pytest.raises(ValueError, match="always whole"):
        registry.driver_for({"tool": "base"}).backup_argv(None, "incr")


def test_inventory_lists_the_local_backups(tmp_path):
    root = str(tmp_path / "backups")
    settings = tmp_path / "dumps.json"
    settings.write_text(json.dumps({"local_dir": root}))
    os.makedirs(os.path.join(root, "base"))
    backup = backup_sets.BackupSet(root, "base", 1795677600)
    backup.create()
    backup.finish(1795677660, "17.2")
    tool = pg_basebackup.BaseBackup({"tool": "base"}, None, settings_file=str(settings))
    repositories = tool.inventory(None)["repositories"]
    assert [r["name"] for r in repositories] == ["local"]
    assert [(b["label"], b["kind"], b["duration"]) for b in repositories[0]["backups"]] == [
        ("20261126T072000Z", "base", 60)]
