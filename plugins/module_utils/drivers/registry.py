# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Picks the driver for a policy's tool."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman import Barman
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pg_basebackup import BaseBackup
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pg_dump import LogicalDump
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import PgBackRest
from ansible_collections.pgops.backup.plugins.module_utils.drivers.walg import WalG

DRIVERS = {PgBackRest.name: PgBackRest, WalG.name: WalG, Barman.name: Barman}
# the dumps role's kinds: dated directories on the host, not WAL archiving tools
DRIVERS.update({LogicalDump.name: LogicalDump, BaseBackup.name: BaseBackup})


def driver_for(policy, cluster=None):
    """The driver of the policy's tool; cluster (pg_cluster_info's) for the tools that need it."""
    try:
        driver = DRIVERS[policy["tool"]]
    except KeyError:
        raise ValueError("no driver for tool %r; known: %s" % (policy["tool"], ", ".join(sorted(DRIVERS))))
    return driver(policy, cluster)
