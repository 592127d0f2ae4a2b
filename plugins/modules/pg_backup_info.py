#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_backup_info
short_description: Report the backups in each repository and the cluster's archiving state
description:
  - Returns the backups in each repository and the WAL archive's range, as the tool lists them
    (C(pgbackrest info --output=json), C(wal-g backup-list --detail --json), Barman's C(list-backups) and
    C(show-backup) in JSON on the Barman server).
  - Returns the local cluster's archiving state from pg_stat_archiver when there is a local cluster
    (a pgBackRest repository host has none), except with Barman, which streams WAL instead.
  - Changes nothing.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
extends_documentation_fragment:
  - pgops.backup.tool
  - pgops.backup.tool.CLUSTER
options:
  archiver:
    description: Read pg_stat_archiver of the local cluster (connecting over its Unix socket as the current user).
    type: bool
    default: true
attributes:
  check_mode:
    description: Runs the same in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
requirements:
  - psycopg2 on the host, for the archiving state
"""

EXAMPLES = r"""
- name: Backups and archiving state
  pgops.backup.pg_backup_info:
  become: true
  become_user: postgres
  register: info

- name: The newest backup of repository 1
  ansible.builtin.debug:
    msg: "{{ info.repositories[0].backups[-1].label }}"
"""

RETURN = r"""
repositories:
  description: Each repository with its backups (oldest first) and the range of its WAL archive.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: "Repository index (repo1 is 1)."
      type: int
    name:
      description: "Repository name."
      type: str
    backups:
      description: "Backups as pgops.backup.pg_backup returns them."
      type: list
      elements: dict
    archive:
      description: "Oldest and newest WAL segment in the archive (min, max)."
      type: dict
archiver:
  description: The local cluster's pg_stat_archiver, with the age of the last archived segment.
  returned: when a local cluster was read
  type: dict
  contains:
    archived_count:
      description: "Segments archived since the statistics were reset."
      type: int
    last_archived_wal:
      description: "Last archived segment."
      type: str
    last_archived_time:
      description: "When it was archived (ISO 8601)."
      type: str
    last_archived_age_seconds:
      description: "Seconds since then."
      type: int
    failed_count:
      description: "Failed archive attempts."
      type: int
    last_failed_wal:
      description: "Segment of the last failure."
      type: str
    last_failed_time:
      description: "Time of the last failure."
      type: str
    failing:
      description: "The last attempt failed (a failure newer than the last success)."
      type: bool
health:
  description:
    - The monitoring role's archiving check on the local cluster (pgops.backup.monitoring), with the RPO taken
      as twice archive_timeout, as the policy sets it.
  returned: when a local cluster was read
  type: dict
  contains:
    status:
      description: "ok or failing."
      type: str
    message:
      description: "What the check found, with its figures."
      type: str
    figures:
      description: "The figures (failed_count, ready, oldest_ready_age_seconds, age_limit_seconds, ...)."
      type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import archiver_row, connect, query
from ansible_collections.pgops.backup.plugins.module_utils.module_support import (
    cluster_argument_spec, local_cluster, tool_argument_spec, tool_for)
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.checks import check_archiving
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.observe import (
    SETTINGS_SQL, archiver_state, missing_program, ready_files, settings_of)


def main():
    argument_spec = tool_argument_spec()
    argument_spec.update(cluster_argument_spec())
    argument_spec.update(archiver=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    cluster = local_cluster(module, required=False)
    tool, dummy, run = tool_for(module, cluster)
    result = dict(changed=False)
    try:
        result["repositories"] = tool.inventory(run)["repositories"]
    except (ToolError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    # Barman streams WAL (receive-wal), so pg_stat_archiver says nothing of it; and a Barman server's own cluster,
    # if it has one, is not the one backed up
    if module.params["archiver"] and cluster and cluster["running"] and tool.name != "barman":
        try:
            conn = connect(cluster["socket_dir"], cluster["port"])
            try:
                row, now = archiver_row(conn), time.time()
                result["archiver"] = archiver_state(row, now)
                settings = settings_of(query(conn, SETTINGS_SQL))
                ready, oldest = ready_files(settings.get("data_directory") or cluster["data_directory"])
                timeout = settings.get("archive_timeout") or 0
                result["health"] = check_archiving(row, now, timeout, 2 * timeout, ready=ready, oldest_ready=oldest,
                                                   command_missing=missing_program(settings.get("archive_command")))[0]
            finally:
                conn.close()
        except Exception as exc:  # psycopg2 missing or the cluster refusing: say which
            module.fail_json(msg="could not read pg_stat_archiver of %s: %s" % (cluster["service"], exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
