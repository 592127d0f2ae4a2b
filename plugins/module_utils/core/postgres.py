# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL on the host: cluster discovery on Debian's layout (postgresql-common)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

PG_LSCLUSTERS = "/usr/bin/pg_lsclusters"
SOCKET_DIR = "/var/run/postgresql"


def parse_lsclusters(text):
    """Clusters from `pg_lsclusters --no-header`: version, name, port, status, owner, data dir, log file."""
    clusters = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[2].isdigit():
            continue
        version, name = fields[0], fields[1]
        clusters.append({
            "version": version,
            "major": int(version.split(".")[0]),
            "name": name,
            "port": int(fields[2]),
            "running": fields[3].startswith("online"),
            "owner": fields[4],
            "data_directory": fields[5],
            "config_dir": os.path.join("/etc/postgresql", version, name),
            "config_file": os.path.join("/etc/postgresql", version, name, "postgresql.conf"),
            "conf_d": os.path.join("/etc/postgresql", version, name, "conf.d"),
            "socket_dir": SOCKET_DIR,
            "service": "postgresql@%s-%s" % (version, name),
            "log_file": fields[6] if len(fields) > 6 else None,
        })
    return clusters


def choose_cluster(clusters, version=None, name="main"):
    """The one cluster the policy is about, or an error message that says how to name it."""
    matches = [c for c in clusters if c["name"] == name and (version is None or c["version"] == str(version))]
    if len(matches) == 1:
        return matches[0], None
    listed = ", ".join("%s/%s" % (c["version"], c["name"]) for c in clusters) or "none"
    if not matches:
        return None, ("no PostgreSQL cluster %s/%s on this host (clusters: %s); set pg_backup_cluster.version "
                      "and pg_backup_cluster.name" % (version or "*", name, listed))
    return None, ("several clusters are named %s (%s); set pg_backup_cluster.version to pick one" % (name, listed))


PG_STAT_ARCHIVER_SQL = (
    "SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, "
    "last_failed_time, stats_reset FROM pg_stat_archiver")


def connect(host, port, dbname="postgres", user=None, connect_timeout=5):
    """A psycopg2 connection in autocommit over a Unix socket directory (host) and port."""
    import psycopg2  # imported here: modules report a clear error when it is missing

    kwargs = dict(host=host, port=int(port), dbname=dbname, connect_timeout=connect_timeout)
    if user:
        kwargs["user"] = user
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    return conn


def query(conn, sql, params=None):
    """Rows as dictionaries."""
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        if cur.description is None:
            return []
        names = [column[0] for column in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        cur.close()


def archiver_row(conn):
    return query(conn, PG_STAT_ARCHIVER_SQL)[0]


def btree_indexes(conn):
    """Every btree index of the database outside the system schemas."""
    return query(conn, (
        "SELECT c.oid::int AS oid, n.nspname || '.' || c.relname AS name FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE a.amname = 'btree' AND i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND c.relpersistence <> 't' ORDER BY 2"))
