#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_cluster_info
short_description: Find a PostgreSQL cluster on Debian's layout
description:
  - Finds a cluster's version, data directory, port, configuration paths and systemd unit with
    C(pg_lsclusters) (Debian's postgresql-common), so that roles need no paths from the user.
  - Changes nothing.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
options:
  version:
    description: Major version of the cluster; needed only when several versions have a cluster of that name.
    type: str
  name:
    description: Name of the cluster.
    type: str
    default: main
attributes:
  check_mode:
    description: Can run in check mode and predict whether it would change anything.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
requirements:
  - postgresql-common (Debian, Ubuntu)
"""

EXAMPLES = r"""
- name: Cluster is known
  pgops.backup.pg_cluster_info:
  register: cluster

- name: Show its data directory
  ansible.builtin.debug:
    msg: "{{ cluster.cluster.data_directory }}"
"""

RETURN = r"""
cluster:
  description: The cluster that was found.
  returned: success
  type: dict
  sample:
    version: "15"
    major: 15
    name: main
    port: 5432
    running: true
    owner: postgres
    data_directory: /var/lib/postgresql/15/main
    config_dir: /etc/postgresql/15/main
    config_file: /etc/postgresql/15/main/postgresql.conf
    conf_d: /etc/postgresql/15/main/conf.d
    socket_dir: /var/run/postgresql
    service: postgresql@15-main
clusters:
  description: Every cluster on the host.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import (
    PG_LSCLUSTERS, choose_cluster, parse_lsclusters)


def main():
    module = AnsibleModule(
        argument_spec=dict(version=dict(type="str"), name=dict(type="str", default="main")),
        supports_check_mode=True,
    )
    rc, out, err = module.run_command([PG_LSCLUSTERS, "--no-header"])
    if rc != 0:
        module.fail_json(msg="pg_lsclusters failed (is postgresql-common installed?): %s" % err.strip(), clusters=[])
    clusters = parse_lsclusters(out)
    cluster, error = choose_cluster(clusters, module.params["version"], module.params["name"])
    if error:
        module.fail_json(msg=error, clusters=clusters)
    module.exit_json(changed=False, cluster=cluster, clusters=clusters)


if __name__ == "__main__":
    main()
