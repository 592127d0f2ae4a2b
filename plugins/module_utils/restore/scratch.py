# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proving a backup restores: a scratch cluster from it, the checks run against it, then it is gone."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import btree_indexes, connect, query
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import (
    apply_restore_plan, data_directory_state, pg_ctl, read_text, starting_backup)
from ansible_collections.pgops.backup.plugins.module_utils.restore.recovery import (
    RecoveryFailed, archive_end, postgres_says, prove_and_promote, this_start)

# Marks a scratch directory as this module's own: nothing else is ever removed.
SENTINEL = ".pgops-restore-check"
# how long a scratch postmaster may take to write its pid file once pg_ctl launched it
START_SECONDS = 30
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


def quote_table(name):
    """'schema.table' quoted as identifiers; ValueError for anything that is not a plain table name."""
    if not _TABLE_RE.match(name or ""):
        raise ValueError("table %r: use table or schema.table (letters, digits, _ and $)" % (name,))
    return ".".join('"%s"' % part for part in name.split("."))


class ScratchCluster(object):
    """A restored data directory started on a private socket and a free port, never on the network."""

    def __init__(self, directory, port, run_command):
        self.directory = directory.rstrip("/")
        self.data = os.path.join(self.directory, "data")
        self.port = int(port)
        self.run_command = run_command  # module.run_command
        self.started = False
        self.owned = False

    def foreign(self):
        """Why the directory may not be used (it holds something that is not an earlier scratch cluster)."""
        if not os.path.exists(self.directory):
            return None
        if not os.path.isdir(self.directory):
            return "%s is not a directory" % self.directory
        entries = os.listdir(self.directory)
        if entries and SENTINEL not in entries:
            return ("%s is not empty and was not made by pg_restore_check (no %s in it): choose another "
                    "scratch_directory; it is never removed" % (self.directory, SENTINEL))
        return None

    def prepare_directory(self):
        problem = self.foreign()
        if problem:
            raise RuntimeError(problem)
        if os.path.exists(self.directory):
            shutil.rmtree(self.directory)
        os.makedirs(self.directory, 0o700)
        open(os.path.join(self.directory, SENTINEL), "w").close()
        self.owned = True

    def configure(self):
        """Settings that keep the scratch cluster to itself, after whatever the backup brought."""
        settings = ["port = %d" % self.port, "listen_addresses = ''",
                    "unix_socket_directories = '%s'" % self.directory, "archive_mode = off",
                    "shared_buffers = '64MB'"]
        # postgresql.auto.conf is read last, so these win over the backup's own ALTER SYSTEM settings
        open(os.path.join(self.data, "postgresql.conf"), "a").close()
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as handle:
            handle.write("\n# pgops.backup restore check\n" + "\n".join(settings) + "\n")
        # the socket directory is this user's only (0700), so trust reaches no one else
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as handle:
            handle.write("local all all trust\n")
        open(os.path.join(self.data, "pg_ident.conf"), "a").close()

    def start(self, timeout, clock=time.time, sleep=time.sleep):
        """Start the postmaster without waiting for connections: a cluster that cannot reach a consistent state
        (its WAL cannot be fetched) never accepts one, and recovery.watch judges that by the log, in stall
        seconds. Returns once the postmaster runs; RuntimeError, in PostgreSQL's words, when it does not."""
        self.started = True
        rc, out, err = self.run_command([pg_ctl(self.data), "-D", self.data, "-l", self.log_path(), "-W", "start"])
        deadline = clock() + min(int(timeout), START_SECONDS)
        while rc == 0 and not self.running() and clock() < deadline:
            sleep(0.5)
        if rc != 0 or not self.running():
            lines = this_start(self.read_log())
            raise RuntimeError("the restored cluster did not start: %s" % (postgres_says(lines) or " | ".join(
                line.strip() for line in lines[-8:]) or (err or "").strip() or "no server log"))

    def running(self):
        return data_directory_state(self.data) == "running"

    def session(self, action):
        """action(conn, query) on a connection to the postgres database, closed afterwards."""
        conn = self.connect("postgres")
        try:
            return action(conn, query)
        finally:
            conn.close()

    def connect(self, database):
        return connect(self.directory, self.port, dbname=database, user="postgres")

    def facts(self):
        conn = self.connect("postgres")
        try:
            return query(conn, "SELECT timeline_id, pg_current_wal_lsn()::text AS lsn, "
                               "current_setting('server_version') AS version FROM pg_control_checkpoint()")[0]
        finally:
            conn.close()

    def databases(self):
        conn = self.connect("postgres")
        try:
            return [r["datname"] for r in query(conn, "SELECT datname FROM pg_database WHERE datallowconn "
                                                      "AND NOT datistemplate ORDER BY 1")]
        finally:
            conn.close()

    def stop(self):
        if self.started and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.run_command([pg_ctl(self.data), "-D", self.data, "-m", "immediate", "-w",
                              "stop"])

    def remove(self):
        if self.owned and os.path.exists(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_path(self):
        return os.path.join(self.directory, "postgresql.log")

    def read_log(self):
        return read_text(self.log_path())


def amcheck(cluster, database):
    """bt_index_check on every btree index. A server without the amcheck extension fails the check: asked for,
    an index check that could not run is not a pass."""
    conn = cluster.connect(database)
    try:
        if not query(conn, "SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'"):
            return {"name": "amcheck %s" % database, "passed": False,
                    "detail": "not checked: the amcheck extension is not available on this server (install the "
                              "server's contrib modules, or turn amcheck off)"}
        query(conn, "CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = btree_indexes(conn)
        failures = []
        for index in indexes:
            try:
                query(conn, "SELECT bt_index_check(%s::regclass)", (index["oid"],))
            except Exception as exc:
                failures.append("%s: %s" % (index["name"], str(exc).strip()))
        return {"name": "amcheck %s" % database, "passed": not failures,
                "detail": "; ".join(failures) or "%d btree indexes checked" % len(indexes)}
    finally:
        conn.close()


def row_count(cluster, check):
    conn = cluster.connect(check["database"])
    try:
        count = query(conn, "SELECT count(*) AS n FROM %s" % quote_table(check["table"]))[0]["n"]
    finally:
        conn.close()
    passed = True
    if check.get("equals") is not None:
        passed = count == int(check["equals"])
    if check.get("min") is not None:
        passed = passed and count >= int(check["min"])
    return {"name": "rows %s.%s" % (check["database"], check["table"]), "passed": passed, "value": count,
            "detail": "%d rows (equals %s, min %s)" % (count, check.get("equals"), check.get("min"))}


def sql_assertion(cluster, check):
    conn = cluster.connect(check["database"])
    try:
        rows = query(conn, check["query"])
    finally:
        conn.close()
    value = None if not rows else list(rows[0].values())[0]
    value = None if value is None else str(value)
    expected = None if check.get("expected") is None else str(check["expected"])
    return {"name": check.get("name") or "sql %s" % check["query"], "passed": value == expected,
            "value": value, "detail": "got %r, expected %r" % (value, expected)}


def _checked(name, check, *args):
    """A check's result; one that cannot even run (a missing table, a syntax error) fails with the reason."""
    try:
        return check(*args)
    except Exception as exc:  # psycopg2's errors among them: the other checks still run
        return {"name": name, "passed": False, "detail": " ".join(str(exc).split())}


def run_checks(cluster, options):
    """amcheck on every database (where asked), then the row counts and SQL assertions of options."""
    checks = []
    if options.get("amcheck", True):
        checks += [_checked("amcheck %s" % database, amcheck, cluster, database) for database in cluster.databases()]
    checks += [_checked("rows %s.%s" % (check.get("database"), check.get("table")), row_count, cluster, check)
               for check in options.get("row_counts") or []]
    checks += [_checked(check.get("name") or "sql %s" % check.get("query"), sql_assertion, cluster, check)
               for check in options.get("sql") or []]
    return checks


def verify_backup(tool, run, label):
    """The tool's own check of the backup's files (drivers' verify_argv), as a passed check: [] where the tool has
    none. A backup that fails it raises ToolError: it is not restored at all, so a copy that would start from a
    changed file cannot pass the checks that follow."""
    argv = tool.verify_argv(label)
    if not argv:
        return []
    lines = [line.strip() for line in (run(argv) or "").splitlines() if line.strip()]
    return [{"name": "%s verify-backup" % tool.name, "passed": True,
             "detail": lines[-1] if lines else "backup %s verified" % label}]


def restore_and_check(tool, run, scratch, target, options, clock=time.time, sleep=time.sleep):
    """Verify the backup where its tool can (verify_backup), restore it into the scratch cluster, start it, prove
    where recovery ended (restore.recovery), promote it, run the checks, then stop and remove it, also when
    something fails. The one procedure of pg_restore_check and of the scheduled restore drill.

    tool: a driver; run: ``run(argv) -> stdout`` raising ToolError; scratch: a ScratchCluster whose directory
    was checked (foreign() is None); target: a normalized target; options: backup, repository, timeout,
    stall_timeout, amcheck, row_counts, sql. Returns {'backup', 'target', 'passed', 'checks', 'rto_seconds',
    'checked_seconds', 'recovered', 'recovery', 'msg'}: 'rto_seconds' runs from the start to a promoted cluster that
    accepts connections, 'checked_seconds' to the end of its checks; 'recovery' is where replay ended (replay_end_lsn, replay_end_time) and the
    end of the archive (archive_end_segment), with 'rpo_seconds' (the archive end read to the last commit
    replayed); 'msg' says why it failed when the restore itself failed (then 'checks' may be missing).
    """
    result = {"target": target, "passed": False, "backup": options.get("backup")}
    started = clock()
    timeout = options.get("timeout", 600)
    try:
        result["backup"] = result["backup"] or starting_backup(tool, run, target, options.get("repository"))
        verified = verify_backup(tool, run, result["backup"])
        scratch.prepare_directory()
        plan = tool.restore_plan(scratch.data, backup=result["backup"], target=target, target_action="pause",
                                 primary=False, repository=options.get("repository"))
        # the end replay must reach, read before anything is fetched (the repository may fail during recovery):
        # WAL archived since counts as a bonus
        end, end_read = archive_end(tool, run, options.get("repository")), clock()
        apply_restore_plan(plan, scratch.data, run)
        scratch.configure()
        scratch.start(timeout)
        result["recovery"] = prove_and_promote(scratch.session, scratch.running, scratch.stop, scratch.read_log,
                                               target, end, timeout, stall=options.get("stall_timeout") or 60,
                                               clock=clock, sleep=sleep)
        epoch = result["recovery"].pop("replay_end_epoch", None)
        result["recovery"]["rpo_seconds"] = None if epoch is None else round(max(end_read - epoch, 0.0), 2)
        result["rto_seconds"] = round(clock() - started, 2)
        result["recovered"] = scratch.facts()
        result["checks"] = verified + run_checks(scratch, options)
        result["checked_seconds"] = round(clock() - started, 2)
        result["passed"] = all(check["passed"] for check in result["checks"])
    except RecoveryFailed as exc:
        exc.state.pop("replay_end_epoch", None)
        result.update(msg=str(exc), recovery=exc.state)
    except (ToolError, ValueError, RuntimeError) as exc:
        result["msg"] = str(exc)
    except Exception as exc:  # psycopg2 errors and the like: report, then clean up all the same
        result["msg"] = "restore check failed: %s" % exc
    finally:
        scratch.stop()
        scratch.remove()
    if not result["passed"] and not result.get("msg"):
        result["msg"] = "checks failed: %s" % ", ".join(c["name"] for c in result["checks"] if not c["passed"])
    return result
