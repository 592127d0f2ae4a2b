# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup modules share: their common options, the driver for them, and the local cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import (
    PG_LSCLUSTERS, choose_cluster, connect, parse_lsclusters, query)
from ansible_collections.pgops.backup.plugins.module_utils.core.process import CommandRunner
from ansible_collections.pgops.backup.plugins.module_utils.drivers import barman
from ansible_collections.pgops.backup.plugins.module_utils.drivers.backup_sets import KINDS as LOCAL_KINDS
from ansible_collections.pgops.backup.plugins.module_utils.drivers.registry import driver_for
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy


def tool_argument_spec():
    return dict(
        tool=dict(type="str", default="pgbackrest", choices=["pgbackrest", "walg", "barman"] + list(LOCAL_KINDS)),
        stanza=dict(type="str", default="main"),
    )


def refuse_barman_off_its_server(module, what):
    """Fail, naming the tool option, on a database host of a Barman server: a Barman backup is checked on its
    server, as barman, where `barman verify-backup` and a scratch cluster run beside the catalog; the gate offers
    a database host neither."""
    if module.params["tool"] == barman.Barman.name and barman.on_database_host(module.params["stanza"]):
        where = "%s/%s.conf" % (barman.CONFIG_DIR, module.params["stanza"])
        module.fail_json(msg="tool: %s checks a Barman backup on its Barman server (no %s here): run it there as "
                             "barman (become_user: barman)" % (what, where))


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
    if tool.name == barman.Barman.name:
        tool.gate = barman.on_database_host(policy["stanza"])
    runner = CommandRunner(module)

    run = runner.stdout

    return tool, runner, run


def target_argument_spec():
    return dict(
        type=dict(type="str", default="latest", choices=["latest", "time", "lsn", "xid", "name", "immediate"]),
        value=dict(type="str"),
    )


def cluster_session(socket_dir, port):
    """session(action): action(conn, query) on a fresh connection to the cluster, closed after."""
    def session(action):
        conn = connect(socket_dir, port, dbname="postgres")
        try:
            return action(conn, query)
        finally:
            conn.close()
    return session
