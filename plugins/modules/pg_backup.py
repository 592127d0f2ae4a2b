#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_backup
short_description: Take a PostgreSQL backup with pgBackRest, wal-g or Barman, unless a fresh one exists
description:
  - Takes a backup with the configured tool and returns it as the tool lists it afterwards.
  - With O(max_age) it does nothing when a successful backup younger than that exists in the repository.
  - In check mode it reports whether a backup would be taken.
  - A failed backup fails the task with the tool's own error line.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
extends_documentation_fragment:
  - pgops.backup.tool
  - pgops.backup.tool.CLUSTER
options:
  type:
    description:
      - Kind of backup. pgBackRest takes V(full), V(diff) and V(incr); wal-g takes V(full) and V(delta)
        (a delta when WALG_DELTA_MAX_STEPS allows one, else a full backup); Barman takes V(full) (on the Barman
        server, waiting until the backup's WAL is archived); V(logical) and V(base) (the
        pgops.backup.dumps role's backups, taken by its job script with its settings) take V(full) only.
    type: str
    choices: [full, diff, incr, delta]
    default: full
  repository:
    description: pgBackRest repository index (repo1 is 1). wal-g and Barman have one repository.
    type: int
    default: 1
  max_age:
    description:
      - Take no backup when a successful one younger than this exists in the repository that is at least
        as complete as O(type) asks (a full backup serves every request, a diff serves diff and incr).
      - A duration such as V(30m), V(6h) or V(1d).
    type: str
  data_directory:
    description: The cluster's data directory (wal-g only); found with pg_lsclusters when not given.
    type: path
attributes:
  check_mode:
    description: Reports whether a backup would be taken, and takes none.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
"""

EXAMPLES = r"""
- name: A full backup into repository 2, unless one from the last 12 hours is there
  pgops.backup.pg_backup:
    type: full
    repository: 2
    max_age: 12h
  become: true
  become_user: postgres
  register: backup

- name: A wal-g backup
  pgops.backup.pg_backup:
    tool: walg
  become: true
  become_user: postgres

- name: A Barman backup, on the Barman server, unless one from the last day is there
  pgops.backup.pg_backup:
    tool: barman
    max_age: 1d
  become: true
  become_user: barman
"""

RETURN = r"""
backup:
  description: The backup taken, or the fresh one that made a new one unnecessary.
  returned: when a backup was taken or found fresh
  type: dict
  contains:
    label:
      description: The tool's name of the backup.
      type: str
      sample: 20261126-055103F
    type:
      description: "full, diff, incr or delta."
      type: str
    prior:
      description: "The backup a diff, incr or delta was taken on (pgBackRest's prior, wal-g's delta base); null for
        a full backup."
      type: str
    start:
      description: "Start, seconds since the epoch."
      type: int
    stop:
      description: "Stop, seconds since the epoch."
      type: int
    duration:
      description: "Seconds the backup took."
      type: int
    size:
      description: "Size of the cluster in the backup, in bytes."
      type: int
    repository_size:
      description: "Size in the repository, in bytes."
      type: int
    lsn_start:
      description: "First LSN."
      type: str
    lsn_stop:
      description: "Last LSN."
      type: str
    wal_start:
      description: "First WAL segment needed."
      type: str
    wal_stop:
      description: "Last WAL segment needed."
      type: str
msg:
  description: What was done and why.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import parse_duration
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError, ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.selection import fresh_backup, satisfying
from ansible_collections.pgops.backup.plugins.module_utils.module_support import (
    cluster_argument_spec, local_cluster, tool_argument_spec, tool_for)


def repository_backups(inventory, index):
    for repo in inventory["repositories"]:
        if repo["index"] == index:
            return repo["backups"]
    return []


def main():
    argument_spec = tool_argument_spec()
    argument_spec.update(cluster_argument_spec())
    argument_spec.update(
        type=dict(type="str", default="full", choices=["full", "diff", "incr", "delta"]),
        repository=dict(type="int", default=1),
        max_age=dict(type="str"),
        data_directory=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    try:
        max_age = parse_duration(params["max_age"], "max_age") if params["max_age"] else None
    except PolicyError as exc:
        module.fail_json(msg=str(exc))

    cluster = None
    if params["tool"] == "walg":
        cluster = local_cluster(module)
        if params["data_directory"]:
            cluster = dict(cluster, data_directory=params["data_directory"])
    tool, dummy, run = tool_for(module, cluster)
    if params["type"] not in tool.backup_types:
        module.fail_json(msg="type: %s takes %s backups, not %s"
                         % (tool.name, ", ".join(tool.backup_types), params["type"]))
    try:
        before = repository_backups(tool.inventory(run), params["repository"])
        if max_age is not None:
            fresh = fresh_backup(satisfying(before, params["type"]), max_age, int(time.time()), params["repository"])
            if fresh:
                module.exit_json(changed=False, backup=fresh, msg="backup %s finished %d s ago, within max_age %s"
                                 % (fresh["label"], int(time.time()) - fresh["stop"], params["max_age"]))
        if module.check_mode:
            module.exit_json(changed=True, msg="a %s backup would be taken" % params["type"])
        run(tool.backup_argv({"index": params["repository"]}, params["type"]))
        known = set(b["label"] for b in before)
        taken = [b for b in repository_backups(tool.inventory(run), params["repository"]) if b["label"] not in known]
    except (ToolError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    if not taken:
        module.fail_json(msg="%s reported success but listed no new backup in repository %d"
                         % (tool.name, params["repository"]))
    module.exit_json(changed=True, backup=taken[-1], msg="backup %s taken" % taken[-1]["label"])


if __name__ == "__main__":
    main()
