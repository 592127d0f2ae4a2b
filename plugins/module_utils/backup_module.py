# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup modules share: their common options, the driver for them, and the local cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgops.backup.plugins.module_utils.backup_sets import KINDS as LOCAL_KINDS
from ansible_collections.pgops.backup.plugins.module_utils.decisions import backup_for_target
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy
from ansible_collections.pgops.backup.plugins.module_utils.postgres import (
    PG_LSCLUSTERS, choose_cluster, parse_lsclusters)
from ansible_collections.pgops.backup.plugins.module_utils.runner import CommandRunner
from ansible_collections.pgops.backup.plugins.module_utils.tools.base import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.tools.drivers import driver_for


def tool_argument_spec():
    return dict(
        tool=dict(type="str", default="pgbackrest", choices=["pgbackrest", "walg"] + list(LOCAL_KINDS)),
        stanza=dict(type="str", default="main"),
    )


def cluster_argument_spec():
    return dict(
        cluster_version=dict(type="str"),
        cluster_name=dict(type="str", default="main"),
    )


def local_cluster(module, required=True):
    """The local cluster from pg_lsclusters, or None (a repository host has none) unless required."""
    rc, out, err = module.run_command([PG_LSCLUSTERS, "--no-header"])
    if rc != 0:
        if required:
            module.fail_json(msg="pg_lsclusters failed (is postgresql-common installed?): %s" % err.strip())
        return None
    cluster, error = choose_cluster(parse_lsclusters(out), module.params.get("cluster_version"),
                                    module.params.get("cluster_name") or "main")
    if error and required:
        module.fail_json(msg=error)
    return cluster


def tool_for(module, cluster=None):
    """(driver, runner, run): run(argv) returns stdout and raises ToolError with the tool's error line."""
    if module.params["tool"] in LOCAL_KINDS:  # the dumps role's backups: their settings file says the rest
        policy = {"tool": module.params["tool"], "stanza": module.params["stanza"], "repositories": []}
    else:
        policy = minimal_policy(module.params["tool"], module.params["stanza"])
    tool = driver_for(policy, cluster)
    runner = CommandRunner(module)

    def run(argv):
        return runner.run(argv)[1]

    return tool, runner, run


def target_argument_spec():
    return dict(
        type=dict(type="str", default="latest", choices=["latest", "time", "lsn", "xid", "name", "immediate"]),
        value=dict(type="str"),
    )


def apply_restore_plan(plan, data_directory, run):
    """Fetch the backup, then append the recovery settings the tool does not write itself."""
    run(plan["argv"])
    if plan["auto_conf"]:
        lines = ["# recovery settings written by pgops.backup"]
        lines += ["%s = '%s'" % (key, str(value).replace("'", "''")) for key, value in sorted(plan["auto_conf"].items())]
        with open(os.path.join(data_directory, "postgresql.auto.conf"), "a") as handle:
            handle.write("\n".join(lines) + "\n")
    if plan["recovery_signal"]:
        open(os.path.join(data_directory, "recovery.signal"), "a").close()


def starting_backup(tool, run, target, repository=None):
    """Label of the backup a restore to target starts from (wal-g's backup-fetch cannot choose it itself)."""
    backups = [b for repo in tool.inventory(run)["repositories"] for b in repo["backups"]]
    chosen = backup_for_target(backups, target, repository)
    if chosen is None:
        raise ToolError("no successful backup %s: the target is before the oldest backup, or there is none"
                        % ("before the target" if target["type"] in ("time", "lsn") else "to restore"))
    return chosen["label"]
