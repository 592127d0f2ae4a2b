# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore_test role: the policy its throwaway host reads, that host's pgbackrest.conf, the report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError, ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import PgBackRest, render_config
from ansible_collections.pgops.backup.plugins.module_utils.restore import restore_test

CONFIG_HEADER = ("Managed by pgops.backup: the restore test's pgBackRest. It reads these repositories and restores "
                 "from them;\nit holds no retention and no database, so nothing is backed up, archived or expired "
                 "from here.\nHolds secrets: owner postgres, mode 0640.")


def restore_test_policy(policy, secrets_dir, host, repository=None):
    """The validated policy (_pg_backup_policy) of ``host`` as the restore test reads it: its S3 repositories, each
    with its key (cipher_passphrase, or the controller's copy in secrets_dir)."""
    try:
        return restore_test.with_controller_keys(restore_test.readable_policy(policy, repository), secrets_dir, host)
    except PolicyError as exc:
        raise AnsibleFilterError("pgops.backup restore test: %s" % exc)


def restore_test_pgbackrest_conf(policy, process_max):
    """The text of the throwaway host's pgbackrest.conf."""
    try:
        return render_config(PgBackRest(policy).read_only_sections(process_max), CONFIG_HEADER)
    except (ToolError, ValueError) as exc:
        raise AnsibleFilterError("pgops.backup restore test: %s" % exc)


def restore_test_report(result, host, policy):
    """pg_restore_check's result as the restore test's report: data, with 'lines' to print."""
    return restore_test.report(result, host, policy)


class FilterModule(object):
    def filters(self):
        return {
            "restore_test_policy": restore_test_policy,
            "restore_test_pgbackrest_conf": restore_test_pgbackrest_conf,
            "restore_test_report": restore_test_report,
        }
