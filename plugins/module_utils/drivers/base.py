# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every backup tool driver implements, so roles and modules never care which tool runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class BackupTool(object):
    """One backup tool, configured from the normalized policy (see policy.normalize_policy).

    cluster: the cluster pg_cluster_info found ({'data_directory', 'port', 'socket_dir', 'major', ...}),
    for the tools whose commands name it; None where nothing needs it (archive_command, for one).
    """

    name = None
    binary = None
    # the backup types backup_argv takes (and a module offers)
    backup_types = ()

    def __init__(self, policy, cluster=None):
        self.policy = policy
        self.cluster = cluster

    # archiving: the settings the archiving role writes into postgresql.conf
    def archive_settings(self):
        """The archiving drop-in's settings: archive_command and restore_command of this tool, archive_timeout
        from the policy's RPO."""
        return {
            "wal_level": self.policy["wal_level"],
            "archive_mode": "on",
            "archive_command": self.archive_command(),
            "restore_command": self.restore_command(),
            "archive_timeout": "%ds" % self.policy["archive_timeout"],
        }

    def archive_command(self):
        raise NotImplementedError

    def restore_command(self):
        raise NotImplementedError

    # scheduling: argv of a scheduled backup job; argv, so no shell ever parses policy values
    def backup_argv(self, repository, backup_type):
        raise NotImplementedError

    def expire_argv(self, repository):
        raise NotImplementedError

    def check_argv(self):
        """The tool's own check that archiving and the repositories work (the monitor runs it hourly)."""
        raise NotImplementedError

    # what the repositories hold
    def inventory(self, run):
        """Every repository of the stanza with its backups and its WAL archive range.

        run: ``run(argv) -> stdout``, supplied by the module; it raises ToolError when the command fails.
        Returns {'repositories': [{'index', 'name', 'status', 'backups', 'archive': {'min', 'max'}}]}, where
        'status' is the tool's word on the repository ('ok' when all is well), 'archive' min and max are WAL
        segment names (None when unknown or empty) and every backup, oldest first, is
        {'label', 'type' ('full', 'diff', 'incr' or 'delta'), 'prior' (the backup a diff, incr or delta was taken
        on: pgBackRest's prior, wal-g's delta base; None for a full one), 'start', 'stop' (whole epoch seconds),
        'duration' (stop - start), 'size', 'repository_size' (bytes), 'lsn_start', 'lsn_stop' ('X/Y'), 'wal_start',
        'wal_stop' (segment names; None where the tool does not say), 'error' (bool: the tool found errors in
        it), 'repository' (the index)}.
        """
        raise NotImplementedError

    # restore: how to fetch a backup, and what recovery then needs
    def restore_plan(self, data_directory, backup=None, target=None, target_action="pause", delta=False,
                     primary=False, repository=None):
        """{'argv', 'auto_conf', 'recovery_signal', 'standby_signal'}: the command that fetches the backup into
        data_directory, the settings the module then appends to postgresql.auto.conf, and which signal file it
        must create. latest recovers in standby mode and an exact target pauses by default, so that PostgreSQL
        never promotes by itself: restore.recovery proves where replay ended, then promotes.

        backup: a label, None for the tool's latest; target: {'type': latest|time|lsn|xid|name|immediate,
        'value'} or None for latest (see restore.normalize_target); target_action: promote, pause or shutdown,
        for every target but latest; delta: restore over an existing data directory (pgBackRest only);
        primary: the restored cluster takes over as the primary and keeps archiving, otherwise archive_mode is
        turned off so a copy never pushes WAL into its origin's archive; repository: index of the repository to
        restore from (None: the tool chooses). ValueError names a wrong argument.
        """
        raise NotImplementedError

    def verify_argv(self, label):
        """The tool's own check of one backup's files before a drill restores it, or None where the restore itself
        proves them (pgBackRest checks each file's checksum as it restores) or the tool has no such check."""
        return None
