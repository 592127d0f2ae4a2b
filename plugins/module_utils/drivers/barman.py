# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Barman driver: the policy as one server section of the Barman server's /etc/barman.d, its command lines, and
its catalog read through barman_output.

Barman runs on the repository host (pg_backup_repository_host) and pulls from the database host: base backups by
streaming (backup_method = postgres, a replication slot) or by rsync over SSH, WAL by receive-wal (streaming) or
by the database host's archive_command (barman-wal-archive). The server's name is the policy's stanza. Every
difference between Barman 3.4 (Debian 12) and 3.13 (Debian 13) stays in this driver and in barman_output
(docs/design/barman.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import barman_output
from ansible_collections.pgops.backup.plugins.module_utils.drivers.base import BackupTool

BINARY = "/usr/bin/barman"
BACKUP_METHODS = ("postgres", "rsync")
WAL_MODES = ("streaming", "archive_command")
# the database roles Barman connects as: one for its queries, one with REPLICATION for pg_basebackup and receive-wal
USER, STREAMING_USER = "barman", "streaming_barman"
# WAL compression per policy word, and the Barman release that first has it (3.12 added xz, zstd and lz4)
WAL_COMPRESSION = {"gzip": ("gzip", (0, 0)), "bzip2": ("bzip2", (0, 0)), "zstd": ("zstd", (3, 12)),
                   "lz4": ("lz4", (3, 12)), "lzma": ("xz", (3, 12))}
# the policy's null: gzip on every release (3.13's zstd and lz4 need python3-zstandard or python3-lz4, which the
# barman package does not pull in: without them each segment fails to archive, over and over)
DEFAULT_WAL_COMPRESSION = "gzip"
# a scheduled backup waits for its last WAL segment (3.13's --wait does not switch it): archive_timeout bounds
# that, and the next `barman cron` minute moves the segment into the archive
WAIT_MARGIN_SECONDS = 120
_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)\b")
# a libpq conninfo value this driver writes unquoted: no space, quote, backslash or '='
_CONNINFO_VALUE_RE = re.compile(r"^[^\s'\"\\=]+$")


def version_tuple(text):
    """(3, 4, 0) from `barman --version` ('3.4.0 Barman by EnterpriseDB (www.enterprisedb.com)'); ToolError when
    the text names no version."""
    match = _VERSION_RE.match(text or "")
    if not match:
        raise ToolError("barman --version printed %r, not a version" % ((text or "").strip()[:200],))
    return tuple(int(part) for part in match.groups())


def slot_name(stanza):
    """The replication slot receive-wal streams from: Barman takes [0-9a-z_] only."""
    return "barman_" + re.sub(r"[^0-9a-z_]", "_", stanza.lower())


def retention_policy(retention):
    """Barman's retention_policy for a repository's retention: its newest N full backups (count), or a recovery
    window of N days (time), which keeps the newest backup finished before the window, as pgBackRest does."""
    full = int(retention["full"])
    if retention["type"] == "count":
        return "REDUNDANCY %d" % full
    return "RECOVERY WINDOW OF %d DAYS" % full


def wal_compression(compression, version):
    """Barman's `compression` for the policy's word on this release (None: uncompressed); ToolError naming
    pg_backup_compression when the release lacks it."""
    if compression == "none":
        return None
    if compression is None:
        return DEFAULT_WAL_COMPRESSION
    if compression not in WAL_COMPRESSION:
        raise ToolError("pg_backup_compression: Barman cannot compress with %s" % compression)
    name, since = WAL_COMPRESSION[compression]
    if tuple(version[:2]) < since:
        release = ".".join(str(part) for part in version)
        raise ToolError("pg_backup_compression: Barman %s compresses WAL with gzip or bzip2 only (%s arrives in "
                        "Barman %d.%d); use gzip, bzip2 or none" % (release, compression, since[0], since[1]))
    return name


def _conninfo(parts):
    words = []
    for key, value in parts:
        value = str(value)
        if not _CONNINFO_VALUE_RE.match(value):
            raise ValueError("%s: %r cannot go into a libpq conninfo unquoted" % (key, value))
        words.append("%s=%s" % (key, value))
    return " ".join(words)


class Barman(BackupTool):
    name = "barman"
    binary = BINARY
    backup_types = ("full",)

    def _server(self):
        return self.policy["stanza"]

    def _local(self, repository):
        """Barman's own catalog is the posix repository (index 1 in every policy Barman accepts)."""
        if repository.get("type", "posix") != "posix":
            raise ValueError("repository %s: Barman's scheduled jobs run on its own catalog, the posix repository"
                             % repository.get("name"))

    def backup_argv(self, repository, backup_type):
        """A full backup that waits until its WAL is archived, so a DONE backup is one a restore can use (and a
        barman-cloud copy of it can run)."""
        if backup_type != "full":
            raise ValueError("Barman takes full backups here, not %r" % (backup_type,))
        self._local(repository)
        wait = int(self.policy.get("archive_timeout") or 300) + WAIT_MARGIN_SECONDS
        return [self.binary, "-q", "backup", "--wait", "--wait-timeout", str(wait), self._server()]

    def expire_argv(self, repository):
        """None: every `barman cron` run (the package's cron.d entry, each minute) applies retention_policy."""
        self._local(repository)
        return None

    def check_argv(self):
        return [self.binary, "-f", "json", "check", self._server()]

    def list_backups_argv(self):
        return [self.binary, "-f", "json", "list-backups", self._server()]

    def show_backup_argv(self, label):
        return [self.binary, "-f", "json", "show-backup", self._server(), label]

    def version_argv(self):
        return [self.binary, "--version"]

    def inventory(self, run):
        """Barman's catalog as repository 1: its DONE backups (show-backup each) and the archive from the oldest
        backup's first segment (wal_retention_policy main removes older WAL) to the newest archived one."""
        server = self._server()
        backups, newest = [], None
        for label in barman_output.backup_labels(run(self.list_backups_argv()), server):
            text = run(self.show_backup_argv(label))
            backups.append(barman_output.inventory_backup(text, server))
            newest = barman_output.newest_archived_segment(text, server) or newest
        repositories = self.policy.get("repositories") or [{}]
        return {"repositories": [{
            "index": 1, "name": repositories[0].get("name") or "barman", "status": "ok", "backups": backups,
            "archive": {"min": backups[0]["wal_start"] if backups else None, "max": newest}}]}

    def server_settings(self, repository, db_host, cluster, version, backup_method="postgres", wal="streaming",
                        connection=None, parallel_jobs=1):
        """The server's section of /etc/barman.d/<stanza>.conf, as (setting, value) pairs in order.

        repository: the policy's posix repository (its path holds <stanza>/); db_host: the name the Barman server
        reaches the database host by; cluster: pg_cluster_info's (port, major); version: the installed Barman's
        version_tuple; connection: further libpq settings for both connections (sslmode, sslrootcert).
        ValueError or ToolError names what is wrong.
        """
        if backup_method not in BACKUP_METHODS:
            raise ValueError("barman_backup_method: expected %s, got %r" % (" or ".join(BACKUP_METHODS), backup_method))
        if wal not in WAL_MODES:
            raise ValueError("barman_wal: expected %s, got %r" % (" or ".join(WAL_MODES), wal))
        self._local(repository)
        extra = sorted((connection or {}).items())
        address = [("host", db_host), ("port", int(cluster["port"]))]
        streaming = wal == "streaming"
        settings = [
            ("description", "pgops.backup: %s of %s" % (self._server(), db_host)),
            ("conninfo", _conninfo(address + [("user", USER), ("dbname", "postgres")] + extra)),
        ]
        # pg_basebackup and receive-wal connect for replication; rsync with archive_command needs neither
        if backup_method == "postgres" or streaming:
            settings.append(("streaming_conninfo", _conninfo(address + [("user", STREAMING_USER)] + extra)))
        settings += [
            ("backup_method", backup_method),
            ("backup_directory", "%s/%s" % (repository["path"].rstrip("/"), self._server())),
            ("path_prefix", "/usr/lib/postgresql/%d/bin" % int(cluster["major"])),
            ("immediate_checkpoint", "true"),
            # Debian keeps postgresql.conf and pg_hba.conf outside the data directory: the roles own them
            ("backup_options", "concurrent_backup,external_configuration"),
        ]
        if backup_method == "rsync":
            settings += [("ssh_command", "ssh -q -o BatchMode=yes postgres@%s" % db_host),
                         ("reuse_backup", "link"), ("parallel_jobs", str(max(1, int(parallel_jobs))))]
        settings += [("streaming_archiver", "on" if streaming else "off"), ("archiver", "off" if streaming else "on")]
        if streaming:
            # receive-wal creates the slot it streams from (create_slot = auto), so no WAL is lost between the
            # server's configuration and the first `barman cron`
            settings += [("slot_name", slot_name(self._server())), ("create_slot", "auto")]
        compression = wal_compression(self.policy.get("compression"), version)
        if compression:
            settings.append(("compression", compression))
        settings += [("retention_policy", retention_policy(repository["retention"])),
                     ("retention_policy_mode", "auto"), ("wal_retention_policy", "main")]
        return settings
