# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  tool:
    description:
      - The backup tool, configured on the host by the collection's roles (pgBackRest reads
        /etc/pgbackrest/pgbackrest.conf, wal-g the user's ~/.walg.json, Barman /etc/barman.d).
      - Run the module as the user that owns the tool's configuration (C(become_user) postgres, or
        pgbackrest on a pgBackRest repository host); Barman's modules run on the Barman server as barman.
      - V(logical) and V(base) are the pgops.backup.dumps role's backups (pg_dump and pg_basebackup into
        dated directories on the host, see its settings in /etc/pgops-backup/dumps.json); run as postgres.
    type: str
    choices: [pgbackrest, walg, barman, logical, base]
    default: pgbackrest
  stanza:
    description: The backup set (pgBackRest's stanza, Barman's server name; ignored by wal-g).
    type: str
    default: main
"""

    CLUSTER = r"""
options:
  cluster_version:
    description: Major version of the local cluster; needed only when several have the same name.
    type: str
  cluster_name:
    description: Name of the local cluster (Debian's layout, found with pg_lsclusters).
    type: str
    default: main
"""

    # a running cluster the module connects to, over its Unix socket
    CONNECTION = r"""
options:
  port:
    description: Port of the cluster.
    type: int
    default: 5432
  socket_dir:
    description: Unix socket directory of the cluster.
    type: path
    default: /var/run/postgresql
"""
