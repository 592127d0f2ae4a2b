# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of a logical or base backup, as cron runs it through /usr/local/bin/pgops-backup-dumps: the backup
into a partial directory, the configuration files beside it, the manifest, the rename that makes it complete,
then the offsite copy and retention. Exits non-zero with an ERROR line that says why."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import os
import re
import shutil
import sys
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.process import CommandRunner
from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets, pg_basebackup, pg_dump
from ansible_collections.pgops.backup.plugins.module_utils.drivers.local import SETTINGS_FILE, read_settings

CONFIG_DIR = "config"
VERIFY_DIR = ".verify"
TAR_DECOMPRESS = ((".tar.zst", ["--zstd"]), (".tar.lz4", ["--use-compress-program=lz4"]), (".tar.gz", ["--gzip"]),
                  (".tar", []))
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class JobError(Exception):
    pass


def run(runner, argv, what):
    """Runs argv (never a shell); its stdout, or JobError with the command's own error line."""
    try:
        return runner.run(argv, what=what)[1]
    except ToolError as exc:
        raise JobError(str(exc))


def tree_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(parent, name)) for parent, dirs, files in os.walk(path) for name in files)


class Server(object):
    """What the run asks the running cluster, over its socket, as the job's user (postgres)."""

    def __init__(self, cluster):
        from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import connect, query

        try:
            conn = connect(cluster["socket_dir"], cluster["port"])
        except Exception as exc:  # psycopg2's errors, or psycopg2 missing
            raise JobError("cannot connect to PostgreSQL on port %s: %s" % (cluster["port"], str(exc).strip()))
        try:
            row = query(conn, "SELECT current_setting('server_version_num')::int AS num, "
                              "current_setting('config_file') AS config_file, current_setting('hba_file') AS hba_file, "
                              "current_setting('ident_file') AS ident_file")[0]
            self.databases = [r["datname"] for r in query(conn, pg_dump.DATABASES_SQL)]
        finally:
            conn.close()
        num = row["num"]
        self.major = num // 10000
        self.version = "%d.%d" % (self.major, num % 10000)
        self.config_files = [row["config_file"], row["hba_file"], row["ident_file"]]
        if self.major != int(cluster["major"]):
            raise JobError("the cluster runs PostgreSQL %d, the settings are for %s: apply the dumps role again"
                           % (self.major, cluster["major"]))


def copy_config(server, directory):
    """postgresql.conf, pg_hba.conf, pg_ident.conf and conf.d's drop-ins, which pg_dump and (on Debian)
    pg_basebackup leave out. Returns their paths in the backup."""
    target = os.path.join(directory, CONFIG_DIR)
    os.mkdir(target, 0o700)
    copied = []
    for path in server.config_files:
        shutil.copyfile(path, os.path.join(target, os.path.basename(path)))
        copied.append(CONFIG_DIR + "/" + os.path.basename(path))
    conf_d = os.path.join(os.path.dirname(server.config_files[0]), "conf.d")
    if os.path.isdir(conf_d):
        os.mkdir(os.path.join(target, "conf.d"), 0o700)
        for name in sorted(os.listdir(conf_d)):
            if os.path.isfile(os.path.join(conf_d, name)):
                shutil.copyfile(os.path.join(conf_d, name), os.path.join(target, "conf.d", name))
                copied.append(CONFIG_DIR + "/conf.d/" + name)
    return copied


def logical_dumps(settings, server):
    """The declared dumps, or every database that takes connections in the custom format."""
    if settings["logical"]["dumps"]:
        return settings["logical"]["dumps"]
    return [{"database": name, "name": _UNSAFE_NAME.sub("_", name), "format": "custom", "content": "all",
             "jobs": 1, "tables": [], "schemas": []} for name in server.databases]


def take_logical(runner, settings, server, directory, out):
    tool = pg_dump.LogicalDump({"tool": "logical"}, settings["cluster"])
    compression = settings["logical"]["compression"]
    records = []
    for dump in logical_dumps(settings, server):
        path = pg_dump.dump_path(dump, compression)
        started = time.time()
        run(runner, tool.dump_argv(dump, dump["database"], os.path.join(directory, path), compression),
            "pg_dump of %s (%s)" % (dump["database"], dump["name"]))
        record = dict(dump, path=path, size=tree_size(os.path.join(directory, path)),
                      duration_seconds=round(time.time() - started, 3))
        records.append(record)
        out.write("dumped %s as %s (%s, %d bytes, %.1f s)\n"
                  % (dump["database"], path, dump["format"], record["size"], record["duration_seconds"]))
    extra = {"databases": records, "compression": compression, "globals": None}
    if settings["logical"]["globals"]:
        run(runner, tool.globals_argv(os.path.join(directory, pg_dump.GLOBALS_FILE)), "pg_dumpall --globals-only")
        extra["globals"] = pg_dump.GLOBALS_FILE
    return extra


def extract_tar(runner, archive, destination):
    for suffix, option in TAR_DECOMPRESS:
        if archive.endswith(suffix):
            run(runner, ["tar", "--extract", "--file=" + archive, "--directory=" + destination] + option,
                "extracting %s" % os.path.basename(archive))
            return
    raise JobError("%s is not a tar file pg_basebackup writes" % archive)


def verify_base(runner, tool, pgdata, scratch):
    """pg_verifybackup on the backup unpacked into scratch (PostgreSQL before 18 cannot read tar backups)."""
    os.mkdir(scratch, 0o700)
    tars = sorted(name for name in os.listdir(pgdata) if ".tar" in name)
    for name in tars:
        if name.startswith("base.tar"):
            extract_tar(runner, os.path.join(pgdata, name), scratch)
    tablespaces = os.path.join(scratch, "pg_tblspc")
    for name in tars:
        oid = name.split(".")[0]
        if name.startswith("pg_wal.tar"):
            extract_tar(runner, os.path.join(pgdata, name), os.path.join(scratch, "pg_wal"))
        elif oid.isdigit():
            # the link in base.tar points at the live tablespace: never unpack through it
            link = os.path.join(tablespaces, oid)
            if os.path.lexists(link):
                os.unlink(link)
            os.makedirs(link, 0o700)
            extract_tar(runner, os.path.join(pgdata, name), link)
    try:
        return run(runner, tool.verify_argv(os.path.join(pgdata, pg_basebackup.MANIFEST), scratch), "pg_verifybackup").strip()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def take_base(runner, settings, server, directory, label, out):
    tool = pg_basebackup.BaseBackup({"tool": "base"}, settings["cluster"])
    compression = settings["base"]["compression"]
    pgdata = os.path.join(directory, pg_basebackup.DATA_DIRECTORY)
    run(runner, tool.basebackup_argv(pgdata, compression, "pgops.backup base " + label), "pg_basebackup")
    out.write("pg_basebackup wrote %d bytes\n" % tree_size(pgdata))
    verified = verify_base(runner, tool, pgdata, os.path.join(directory, VERIFY_DIR))
    out.write("pg_verifybackup: %s\n" % verified)
    return {"compression": compression, "verified": True, "verify_output": verified,
            "data_directory": pg_basebackup.DATA_DIRECTORY}


def copy_offsite(settings, kind, final, manifest, now, out, s3=None):
    from ansible_collections.pgops.backup.plugins.module_utils.dumps import offsite

    try:
        if s3 is None:
            s3 = offsite.client(settings, offsite.read_credentials(settings["credentials_file"]))
        store = offsite.Offsite(settings, s3)
        count = store.upload_backup(kind, final, manifest)
        out.write("offsite: %d objects in s3://%s/%s, ETags match\n"
                  % (count, settings["bucket"], store.key(kind, manifest["label"])))
        removed = store.apply_retention(kind, settings["retention"], now, manifest["label"])
    except offsite.OffsiteError as exc:
        raise JobError("offsite copy: %s" % exc)
    except Exception as exc:  # boto3's and botocore's errors: the message says what S3 answered
        raise JobError("offsite copy to s3://%s failed: %s" % (settings["bucket"], str(exc).strip()))
    if removed:
        out.write("offsite retention removed %s\n" % ", ".join(removed))


def backup(runner, kind, settings, out=sys.stdout, s3=None):
    """One backup of kind; returns its manifest, raises JobError."""
    root = settings["local_dir"]
    directory = backup_sets.kind_dir(root, kind)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    lock = backup_sets.KindLock(directory)
    if not lock.acquire():
        raise JobError("another %s backup is running (it holds %s)" % (kind, lock.path))
    try:
        for stale in backup_sets.stale_partials(root, kind):
            shutil.rmtree(stale, ignore_errors=True)
            out.write("removed %s, left by a run that did not finish\n" % stale)
        server = Server(settings["cluster"])
        backup_set = backup_sets.BackupSet(root, kind, backup_sets.start_epoch(directory, kind))
        backup_set.create()
        try:
            if kind == "logical":
                extra = take_logical(runner, settings, server, backup_set.partial, out)
            else:
                extra = take_base(runner, settings, server, backup_set.partial, backup_set.label, out)
            extra["config_files"] = copy_config(server, backup_set.partial)
            manifest = backup_set.finish(time.time(), server.version, extra)
        except BaseException:
            backup_set.discard()
            raise
        size = sum(entry["size"] for entry in manifest["files"])
        out.write("%s backup %s complete: %d files, %d bytes, %.1f s\n"
                  % (kind, manifest["label"], len(manifest["files"]), size, manifest["duration_seconds"]))
        retention = settings[kind]["retention"]
        if settings.get("offsite"):
            copy_offsite(dict(settings["offsite"], retention=retention), kind, backup_set.final, manifest,
                         time.time(), out, s3)
        removed = backup_sets.apply_retention(root, kind, retention, time.time())
        if removed:
            out.write("retention removed %s\n" % ", ".join(removed))
        return manifest
    finally:
        lock.release()


def main(argv, host):
    parser = argparse.ArgumentParser(prog="pgops-backup-dumps", description="Take a logical or base backup.")
    parser.add_argument("action", choices=["backup"])
    parser.add_argument("kind", choices=backup_sets.KINDS)
    parser.add_argument("--settings", default=SETTINGS_FILE)
    args = parser.parse_args(argv)
    settings = read_settings(args.settings)
    if not settings:
        sys.stderr.write("ERROR: no settings in %s: apply the pgops.backup.dumps role\n" % args.settings)
        return 2
    os.umask(0o077)
    try:
        backup(CommandRunner(host), args.kind, settings)
    except (JobError, OSError, ValueError) as exc:
        sys.stderr.write("ERROR: %s backup failed: %s\n" % (args.kind, exc))
        return 1
    return 0
