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

import os
import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import (
    check_backup_label, check_data_directory, normalize_target, recovery_target_settings)
from ansible_collections.pgops.backup.plugins.module_utils.drivers import barman_output
from ansible_collections.pgops.backup.plugins.module_utils.drivers.base import BackupTool

BINARY = "/usr/bin/barman"
# where the barman role writes each server's section: present on the Barman server only
CONFIG_DIR = "/etc/barman.d"
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
# what a database host's postgres reaches its Barman server by: the Host entry in ~/.ssh/config that the barman
# role writes (address, user barman, host key alias), one per server name
GATE_HOST_PREFIX = "pgops-barman-"
SSH_OPTIONS = ["-q", "-o", "BatchMode=yes"]
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


def gate_host(stanza):
    return GATE_HOST_PREFIX + stanza


def on_database_host(stanza):
    """Whether this host reaches the server's Barman through the gate: it holds no section for it."""
    return not os.path.exists(os.path.join(CONFIG_DIR, stanza + ".conf"))


class Barman(BackupTool):
    """On the Barman server (gate False) every command line runs Barman itself; on the database host
    (gate=True) it is a request over SSH to the server's gate (barman_gate), which runs the same command line
    there."""

    name = "barman"
    binary = BINARY
    backup_types = ("full",)

    def __init__(self, policy, cluster=None, gate=False):
        super(Barman, self).__init__(policy, cluster)
        self.gate = gate

    def _server(self):
        return self.policy["stanza"]

    def _ask(self, words, argv):
        """argv on the Barman server; the request words over SSH from the database host."""
        if self.gate:
            return ["ssh"] + SSH_OPTIONS + [gate_host(self._server())] + list(words)
        return argv

    def _local(self, repository):
        """Barman's own catalog is the posix repository (index 1 in every policy Barman accepts)."""
        if repository.get("type", "posix") != "posix":
            raise ValueError("repository %s: Barman's scheduled jobs run on its own catalog, the posix repository"
                             % repository.get("name"))

    def archive_settings(self):
        """The database host's drop-in with streaming WAL: archive_command stays unused (receive-wal pulls WAL), but
        archive_timeout is what closes a segment on a quiet server. Barman's catalog, a restore and a scheduled
        backup's --wait count closed segments only (receive-wal's .partial is none of them), so without it the RPO
        would be however long the server takes to fill 16 MB."""
        return {"wal_level": self.policy["wal_level"], "archive_timeout": "%ds" % self.policy["archive_timeout"]}

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
        return self._ask(["check"], [self.binary, "-f", "json", "check", self._server()])

    def list_backups_argv(self):
        return self._ask(["list-backups"], [self.binary, "-f", "json", "list-backups", self._server()])

    def show_backup_argv(self, label):
        return self._ask(["show-backup", label], [self.binary, "-f", "json", "show-backup", self._server(), label])

    def verify_argv(self, label):
        """`barman verify-backup`: pg_verifybackup against the backup's backup_manifest (pg_basebackup writes one
        from PostgreSQL 13), so a changed byte fails before a restore that would copy it unseen. On the Barman server
        only: the gate offers no such request."""
        if self.gate:
            raise ValueError("a Barman backup is verified on its server, as barman, not through the gate")
        return [self.binary, "verify-backup", self._server(), check_backup_label(label)]

    def get_wal_argv(self, name):
        """One WAL file (segment or history) on stdout, decompressed: what restore_command fetches."""
        return self._ask(["get-wal", name], [self.binary, "get-wal", self._server(), name])

    def recover_argv(self, label, data_directory, standby=False, remote_ssh=None):
        """`barman recover` of a backup into data_directory on remote_ssh (postgres@<database host>), run on the
        Barman server. --get-wal copies no WAL (restore_command fetches it, and the module sets its own);
        --standby-mode writes standby.signal (latest: PostgreSQL waits at the end instead of promoting). Barman is
        never given a target: the module writes those settings itself, the same for every Barman release
        (3.4's --target-time with a WAL copy could miss segments)."""
        argv = [self.binary, "-f", "json", "recover"]
        if remote_ssh:
            argv += ["--remote-ssh-command", " ".join(["ssh"] + SSH_OPTIONS + [remote_ssh])]
        argv += ["--get-wal"] + (["--standby-mode"] if standby else [])
        return argv + [self._server(), label, data_directory]

    def restore_command(self):
        """restore_command of a cluster restored from this server: get-wal through the gate on the database host,
        Barman itself on the Barman server (a drill's scratch cluster runs as barman there)."""
        return " ".join(self.get_wal_argv("%f")) + " > %p"

    def restore_plan(self, data_directory, backup=None, target=None, target_action="pause", delta=False,
                     primary=False, repository=None):
        """`barman recover` through the gate into an empty or missing data directory, then the module's recovery
        settings: the target (latest: standby mode), get-wal as restore_command, archive_mode off for a copy."""
        if delta:
            raise ValueError("delta: Barman restores into an empty or missing directory only; delta restore is a "
                             "pgBackRest feature")
        if repository not in (None, 1, "1"):
            raise ValueError("repository: Barman restores from its own catalog (repository 1), not %r" % (repository,))
        data_directory = check_data_directory(data_directory)
        target = normalize_target(target)
        label = check_backup_label(backup) if backup else "latest"
        latest = target["type"] == "latest"
        words = ["recover", label, data_directory] + (["standby"] if latest else [])
        settings = {"restore_command": self.restore_command()}
        settings.update(recovery_target_settings(target, target_action))
        if not primary:
            settings["archive_mode"] = "off"
        return {"argv": self._ask(words, self.recover_argv(label, data_directory, standby=latest)),
                "auto_conf": settings, "recovery_signal": not latest, "standby_signal": latest}

    def version_argv(self):
        return [self.binary, "--version"]

    def maintenance_argv(self, action):
        """The Barman server's own upkeep, run there as barman: 'cron' (starts receive-wal, archives what it
        streamed, applies retention), 'stop-receive-wal', 'show-server' (its settings and directories, JSON)."""
        commands = {"cron": ["-q", "cron"], "stop-receive-wal": ["receive-wal", "--stop", self._server()],
                    "show-server": ["-f", "json", "show-server", self._server()]}
        if action not in commands:
            raise ValueError("no Barman upkeep %r; known: %s" % (action, ", ".join(sorted(commands))))
        return [self.binary] + commands[action]

    def wal_catalog_argv(self):
        """Barman's catalog of archived WAL, every timeline (sync-info prints its xlogdb as JSON)."""
        return self._ask(["sync-info"], [self.binary, "sync-info", self._server()])

    def inventory(self, run):
        """Barman's catalog as repository 1: its DONE backups (show-backup each) and the archive from the oldest
        backup's first segment (wal_retention_policy main removes older WAL) to the newest archived one."""
        server = self._server()
        backups = [barman_output.inventory_backup(run(self.show_backup_argv(label)), server)
                   for label in barman_output.backup_labels(run(self.list_backups_argv()), server)]
        newest = barman_output.newest_archived_segment(run(self.wal_catalog_argv())) if backups else None
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
