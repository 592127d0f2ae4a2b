# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring a logical backup into a database: which backup and dump, whether the database may be written (a
data-only dump: whether its tables are there and empty), the checksums of what is restored, globals first, then
pg_restore with parallel jobs; and the record that makes the same restore asked again a no-op."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os

from ansible_collections.pgops.backup.plugins.module_utils.core.files import write_atomically
from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets, pg_dump
from ansible_collections.pgops.backup.plugins.module_utils.drivers.local import DEFAULT_ROOT, read_settings

RESTORABLE_FORMATS = ("custom", "directory")
# relations a fresh database has none of outside these schemas
_USER_RELATIONS_SQL = (
    "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
    "AND n.nspname NOT LIKE 'pg_temp%'")


def logical_argument_spec():
    return dict(
        database=dict(type="str"),
        dump=dict(type="str"),
        tables=dict(type="list", elements="str", default=[]),
        jobs=dict(type="int", default=2),
        globals=dict(type="bool", default=True),
        overwrite=dict(type="bool", default=False),
        local_dir=dict(type="path"),
    )


def find_backup(root, label=None):
    backups = backup_sets.list_backups(root, "logical")
    if label:
        backups = [b for b in backups if b["label"] == label]
    if not backups:
        raise ValueError("backup: no complete logical backup %sin %s"
                         % ("labelled %s " % label if label else "", backup_sets.kind_dir(root, "logical")))
    return backups[-1]


def find_dump(manifest, name=None):
    """The dump to restore: by name, or the backup's only one that pg_restore reads."""
    dumps = manifest.get("databases") or []
    if name:
        chosen = [d for d in dumps if d["name"] == name]
        if not chosen:
            raise ValueError("dump: backup %s has no dump %r (it has %s)"
                             % (manifest["label"], name, ", ".join(d["name"] for d in dumps) or "none"))
    else:
        chosen = [d for d in dumps if d["format"] in RESTORABLE_FORMATS]
        if len(chosen) != 1:
            raise ValueError("dump: backup %s has %d dumps pg_restore reads (%s); name one"
                             % (manifest["label"], len(chosen), ", ".join(d["name"] for d in chosen)))
    dump = chosen[0]
    if dump["format"] not in RESTORABLE_FORMATS:
        raise ValueError("dump: %s is plain SQL, which pg_restore does not read; feed %s to psql"
                         % (dump["name"], dump["path"]))
    return dump


def files_of(manifest, path):
    """The manifest's entries of a dump file, or of every file of a directory dump."""
    return [e for e in manifest["files"] if e["path"] == path or e["path"].startswith(path + "/")]


def marker_path(root, database):
    return os.path.join(backup_sets.kind_dir(root, "logical"), ".restored-%s.json" % database.replace("/", "_"))


def read_marker(root, database):
    try:
        with open(marker_path(root, database)) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


@contextlib.contextmanager
def _query_on(cluster, database="postgres"):
    """query(sql, params) on a connection to a database of the cluster, closed after the block."""
    from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import connect, query

    conn = connect(cluster["socket_dir"], cluster["port"], dbname=database)
    try:
        yield lambda sql, params=None: query(conn, sql, params)
    finally:
        conn.close()


def database_state(cluster, database):
    """(oid or None, number of user relations) of a database of the cluster."""
    with _query_on(cluster) as query:
        rows = query("SELECT oid::bigint AS oid FROM pg_database WHERE datname = %s", (database,))
    if not rows:
        return None, 0
    with _query_on(cluster, database) as query:
        return rows[0]["oid"], query(_USER_RELATIONS_SQL)[0]["n"]


def chosen_tables(tables, asked):
    """The dump's (schema, table) pairs that pg_restore's tables option restores: all when none is asked; an asked
    'schema.table' or 'table' (any schema) otherwise."""
    if not asked:
        return list(tables)
    return [(schema, table) for schema, table in tables
            if "%s.%s" % (schema, table) in asked or table in asked]


def _qualified(pair):
    return "%s.%s" % tuple(quote_ident(part) for part in pair)


def tables_state(cluster, database, tables):
    """Of tables ((schema, table) pairs), those a database lacks, and those that hold rows."""
    missing, holding = [], []
    with _query_on(cluster, database) as query:
        for pair in tables:
            if query("SELECT to_regclass(%s) IS NULL AS missing", (_qualified(pair),))[0]["missing"]:
                missing.append(pair)
            elif query("SELECT EXISTS (SELECT FROM %s) AS rows" % _qualified(pair))[0]["rows"]:
                holding.append(pair)
    return missing, holding


def check_data_only(dump, database, missing, holding, overwrite):
    """A data-only dump goes into tables that exist (its schema restored first) and hold no rows (or overwrite
    empties them first); ValueError saying what to do otherwise. missing, holding: (schema, table) pairs."""
    if missing:
        raise ValueError("dump %s holds data only, and database %s lacks its table(s) %s: restore the schema first "
                         "(a dump with content schema or all), then this dump"
                         % (dump, database, ", ".join("%s.%s" % pair for pair in missing)))
    if holding and not overwrite:
        raise ValueError("dump %s holds data only, and table(s) %s of database %s hold rows already: set "
                         "overwrite=true to empty them first (TRUNCATE), or restore into a database that has the "
                         "schema and no rows" % (dump, ", ".join("%s.%s" % pair for pair in holding), database))


def truncate(cluster, database, tables):
    """Empties the tables ((schema, table) pairs) at once; PostgreSQL refuses while other tables reference them."""
    with _query_on(cluster, database) as query:
        query("TRUNCATE TABLE %s" % ", ".join(_qualified(pair) for pair in tables))


def create_database(cluster, database):
    with _query_on(cluster) as query:
        query("CREATE DATABASE %s TEMPLATE template0" % quote_ident(database))


def restore_logical(module, cluster, run):
    """The whole restore, for pg_restore's tool=logical; ends the module."""
    params = module.params
    database = params["database"]
    settings = read_settings()
    root = params["local_dir"] or settings.get("local_dir") or DEFAULT_ROOT
    tool = pg_dump.LogicalDump({"tool": "logical"}, cluster)
    try:
        backup = find_backup(root, params["backup"])
        manifest = backup["manifest"]
        dump = find_dump(manifest, params["dump"])
        oid, relations = database_state(cluster, database)
        # a data-only dump fills tables that must exist: its own list says which
        data_only = dump.get("content") == "data"
        if data_only:
            fills = chosen_tables(pg_dump.table_data(run(tool.list_argv(os.path.join(backup["path"], dump["path"])))),
                                  params["tables"])
            missing, holding = tables_state(cluster, database, fills) if oid is not None else (fills, [])
    except Exception as exc:  # ValueError, ToolError with pg_restore's own line, or psycopg2's errors
        module.fail_json(msg=str(exc))
    record = {"backup": backup["label"], "dump": dump["name"], "database": database,
              "tables": sorted(params["tables"]), "globals": bool(params["globals"] and manifest.get("globals"))}
    marker = read_marker(root, database)
    if oid is not None and marker and marker.get("oid") == oid and dict(marker, oid=None) == dict(record, oid=None):
        module.exit_json(changed=False, restored=record, msg="%s already holds this restore" % database)
    if data_only:
        try:
            check_data_only(dump["name"], database, missing, holding, params["overwrite"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    elif relations and not params["overwrite"]:
        module.fail_json(msg="database %s is not empty (%d relations): set overwrite=true to restore over it "
                             "(pg_restore --clean), or restore into a new database" % (database, relations))
    if module.check_mode:
        module.exit_json(changed=True, restored=record, msg="%s would be restored from %s/%s"
                         % (database, backup["label"], dump["name"]))
    paths = [dump["path"]] + ([manifest["globals"]] if record["globals"] else [])
    entries = [e for path in paths for e in files_of(manifest, path)]
    wrong = backup_sets.mismatched_files(backup["path"], {"files": entries})
    if wrong:
        module.fail_json(msg="backup %s is damaged: %s differ from its manifest" % (backup["label"], ", ".join(wrong)))
    try:
        if record["globals"]:
            run(tool.globals_restore_argv(os.path.join(backup["path"], manifest["globals"])))
        if oid is None:
            create_database(cluster, database)
        if data_only and holding:
            truncate(cluster, database, holding)
        run(tool.restore_argv(os.path.join(backup["path"], dump["path"]), database, jobs=params["jobs"],
                              tables=params["tables"], clean=bool(relations), data_only=data_only))
        oid, relations = database_state(cluster, database)
        write_atomically(marker_path(root, database), json.dumps(dict(record, oid=oid), sort_keys=True, indent=2) + "\n",
                         mode=0o600)
    except Exception as exc:  # ToolError with pg_restore's own line, or psycopg2's errors
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, restored=record, msg="%s restored from %s/%s"
                     % (database, backup["label"], dump["name"]))
