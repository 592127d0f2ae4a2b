# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump driver: the command lines of a logical backup (pg_dump per database, pg_dumpall --globals-only)
and of its restore (pg_restore), with a fast compression by default."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.drivers.local import LocalBackupTool, binary

FORMATS = ("custom", "directory", "plain")
FORMAT_FLAGS = {"custom": "c", "directory": "d", "plain": "p"}
CONTENTS = ("all", "schema", "data")
CONTENT_FLAGS = {"all": [], "schema": ["--schema-only"], "data": ["--data-only"]}
COMPRESSION_METHODS = ("none", "gzip", "lz4", "zstd")
# pg_dump compresses with lz4 and zstd from PostgreSQL 16 on; before, gzip levels only
METHODS_SINCE_MAJOR = 16
PLAIN_SUFFIXES = {"none": ".sql", "gzip": ".sql.gz", "lz4": ".sql.lz4", "zstd": ".sql.zst"}
GLOBALS_FILE = "globals.sql"
# what "every database" means when no dump is declared
DATABASES_SQL = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
_COMPRESSION_RE = re.compile(r"^(none|gzip|lz4|zstd)(?::(\d{1,2}))?$")
# pg_restore --list: "ID; TABLEOID OID DESCRIPTION SCHEMA NAME OWNER", here the rows of one table
_TABLE_DATA_RE = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (.+) (\S+)$")


def default_compression(major):
    """Fast, not pg_dump's default (gzip level 6, slow): zstd level 1 where pg_dump has it, else gzip level 1."""
    return "zstd:1" if int(major) >= METHODS_SINCE_MAJOR else "gzip:1"


def check_compression(value, major, variable):
    """The compression as 'method[:level]'; ValueError naming the variable when this pg_dump cannot do it."""
    text = str(value).strip().lower()
    match = _COMPRESSION_RE.match(text)
    if not match:
        raise ValueError("%s: %r is not a compression; use none, gzip[:1-9], lz4[:level] or zstd[:level]"
                         % (variable, value))
    method, level = match.groups()
    if method in ("lz4", "zstd") and int(major) < METHODS_SINCE_MAJOR:
        raise ValueError("%s: pg_dump %s compresses with gzip only (lz4 and zstd need PostgreSQL %d); use gzip:1"
                         % (variable, major, METHODS_SINCE_MAJOR))
    if method == "gzip" and level is not None and not 1 <= int(level) <= 9:
        raise ValueError("%s: gzip levels are 1 to 9, not %s" % (variable, level))
    if method == "none" and level is not None:
        raise ValueError("%s: none takes no level" % variable)
    return text


def compression_method(compression):
    return compression.split(":")[0]


def compression_option(compression, major):
    """pg_dump's -Z value: 'method[:level]' from 16 on; a gzip level (0 for none) before."""
    if int(major) >= METHODS_SINCE_MAJOR:
        return compression
    method, dummy, level = compression.partition(":")
    return "0" if method == "none" else (level or "6")


def dump_path(dump, compression):
    """The dump's name inside the backup: NAME.dump (custom), NAME.dir (directory), NAME.sql[.gz|.lz4|.zst]."""
    if dump["format"] == "custom":
        return dump["name"] + ".dump"
    if dump["format"] == "directory":
        return dump["name"] + ".dir"
    return dump["name"] + PLAIN_SUFFIXES[compression_method(compression)]


def table_data(listing):
    """The tables whose rows a custom or directory dump holds, as (schema, table) in the dump's order, from
    ``pg_restore --list`` (a table name with a space in it is read whole; the schema and owner names have none)."""
    found = []
    for line in (listing or "").splitlines():
        match = _TABLE_DATA_RE.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def connection_args(cluster):
    return ["--host", cluster["socket_dir"], "--port", str(cluster["port"]), "--no-password"]


class LogicalDump(LocalBackupTool):
    name = "logical"
    binary = "pg_dump"

    def dump_argv(self, dump, database, path, compression):
        """pg_dump of one database into path (a file, or a directory for the directory format)."""
        major = self.cluster["major"]
        argv = [binary(major, "pg_dump")] + connection_args(self.cluster)
        argv += ["--format=" + FORMAT_FLAGS[dump["format"]], "--file=" + path,
                 "--compress=" + compression_option(compression, major)]
        if dump["format"] == "directory":
            argv.append("--jobs=%d" % dump["jobs"])
        argv += ["--schema=" + schema for schema in dump.get("schemas") or []]
        argv += ["--table=" + table for table in dump.get("tables") or []]
        argv += CONTENT_FLAGS[dump.get("content") or "all"]
        return argv + ["--dbname=" + database]

    def globals_argv(self, path):
        """Roles and tablespaces, which pg_dump leaves out."""
        return [binary(self.cluster["major"], "pg_dumpall")] + connection_args(self.cluster) + [
            "--globals-only", "--file=" + path]

    def restore_argv(self, path, database, jobs=1, tables=None, clean=False, data_only=False):
        """pg_restore of a custom or directory dump into an existing database; tables as 'schema.table' or
        'table' restore those alone. A data-only dump restores in one job and never with --clean: pg_restore's
        parallel workers load tables in any order, so a row could arrive before the row its foreign key
        references (the dump lists referenced tables first), and --clean would drop nothing of it."""
        argv = [binary(self.cluster["major"], "pg_restore")] + connection_args(self.cluster)
        argv += ["--dbname=" + database, "--jobs=%d" % (1 if data_only else max(1, int(jobs))), "--exit-on-error"]
        if clean and not data_only:
            argv += ["--clean", "--if-exists"]
        for table in tables or []:
            schema, dot, name = table.rpartition(".")
            if dot:
                argv.append("--schema=" + schema)
            argv.append("--table=" + name)
        return argv + [path]

    def list_argv(self, path):
        """pg_restore --list of a custom or directory dump: its table of contents (read from the file alone)."""
        return [binary(self.cluster["major"], "pg_restore"), "--list", path]

    def globals_restore_argv(self, path):
        """psql over the globals file: roles that exist already are reported and left as they are."""
        return [binary(self.cluster["major"], "psql")] + connection_args(self.cluster) + [
            "-X", "--quiet", "--dbname=postgres", "--file=" + path]
