# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every backup tool driver implements, so roles and modules never care which tool runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ToolError(Exception):
    """A tool failed; ``message`` is the tool's own error line, ready for fail_json."""

    def __init__(self, message, rc=None, stderr=""):
        self.rc = rc
        self.stderr = stderr
        super(ToolError, self).__init__(message)


class BackupTool(object):
    """One backup tool, configured from the normalized policy (see policy.normalize_policy).

    cluster: the cluster pg_cluster_info found ({'data_directory', 'port', 'socket_dir', 'major', ...}),
    for the tools whose commands name it; None where nothing needs it (archive_command, for one).
    """

    name = None
    binary = None

    def __init__(self, policy, cluster=None):
        self.policy = policy
        self.cluster = cluster

    # archiving: the settings the archiving role writes into postgresql.conf
    def archive_command(self):
        raise NotImplementedError

    def restore_command(self):
        raise NotImplementedError

    # scheduling: argv of a scheduled backup job; argv, so no shell ever parses policy values
    def backup_argv(self, repository, backup_type):
        raise NotImplementedError

    def expire_argv(self, repository):
        raise NotImplementedError
