# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the logical and base backup drivers share: their backups are dated directories on the host (see
backup_sets), taken by the job script the dumps role installs, which reads the role's settings file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets
from ansible_collections.pgops.backup.plugins.module_utils.drivers.base import BackupTool

# absolute: cron's PATH (/usr/bin:/bin) lacks /usr/local/bin
SCRIPT = "/usr/local/bin/pgops-backup-dumps"
SETTINGS_FILE = "/etc/pgops-backup/dumps.json"
DEFAULT_ROOT = "/var/backups/pgops"
POSTGRESQL_BIN = "/usr/lib/postgresql/%s/bin"


def read_settings(path=SETTINGS_FILE):
    """The dumps role's settings on the host; {} when the role has not written them."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {}


def binary(major, name):
    """A PostgreSQL client of the cluster's own major version (Debian installs each in its own directory)."""
    return os.path.join(POSTGRESQL_BIN % major, name)


class LocalBackupTool(BackupTool):
    """Backups the job script takes into <root>/<kind>/; the kind is the tool's name."""

    backup_types = ("full",)

    def __init__(self, policy, cluster=None, settings_file=SETTINGS_FILE):
        super(LocalBackupTool, self).__init__(policy, cluster)
        self.settings_file = settings_file

    def root(self):
        return read_settings(self.settings_file).get("local_dir") or DEFAULT_ROOT

    def backup_argv(self, repository, backup_type):
        if backup_type not in self.backup_types:
            raise ValueError("a %s backup is always whole: type full, not %r" % (self.name, backup_type))
        return [SCRIPT, "backup", self.name, "--settings", self.settings_file]

    def inventory(self, run):
        """The local directory as repository 1; run is not needed (nothing to ask a tool)."""
        backups = [backup_sets.inventory_entry(b) for b in backup_sets.list_backups(self.root(), self.name)]
        return {"repositories": [{"index": 1, "name": "local", "status": "ok", "backups": backups,
                                  "archive": {"min": None, "max": None}}]}

    def archive_command(self):
        raise ValueError("%s backups do not archive WAL; pg_backup_tool names the tool that does" % self.name)

    restore_command = archive_command
