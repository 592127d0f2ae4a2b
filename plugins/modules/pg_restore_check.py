#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_restore_check
short_description: Prove that a backup restores - restore it into a scratch cluster and check it
description:
  - Restores a backup into a scratch directory, starts it on a free port with a private socket and no
    TCP listener, proves that recovery reached the target (to V(latest), the last WAL segment the repositories
    hold; see M(pgops.backup.pg_recovery)) and only then promotes it, runs the checks (amcheck on every btree index,
    row counts, SQL assertions), measures the time from the start of
    the restore to a usable cluster (RTO), then stops and removes the scratch cluster, also when a check
    fails.
  - Never touches the source cluster and never writes into the repository; the scratch cluster runs
    with archive_mode off.
  - Fails when recovery stops short (a missing, corrupt or unreachable segment), naming the segment and
    PostgreSQL's own words, and when a check fails, with every check's result.
  - With O(tool=barman) it runs on the Barman server, as barman; the backup is first verified with
    C(barman verify-backup) (pg_verifybackup against its backup_manifest), and a backup that fails that is not
    restored. On a database host of a Barman server it fails, naming O(tool).
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
extends_documentation_fragment:
  - pgops.backup.tool
options:
  backup:
    description: Label of the backup to check; the newest one when not given.
    type: str
  target:
    description: Where recovery stops (see pgops.backup.pg_restore); the scratch cluster is promoted there.
    type: dict
    default: {type: latest}
    suboptions:
      type:
        description: V(latest), V(time), V(lsn), V(xid), V(name) or V(immediate).
        type: str
        choices: [latest, time, lsn, xid, name, immediate]
        default: latest
      value:
        description: The target's time, LSN, xid or restore point name.
        type: str
  repository:
    description: pgBackRest repository index to restore from.
    type: int
  scratch_directory:
    description: Where the scratch cluster lives; removed before and after. Its parent must be writable.
    type: path
    default: /var/tmp/pgops-restore-check
  port:
    description: Port of the scratch cluster; the first free one from 5499 when not given.
    type: int
  amcheck:
    description:
      - Check every btree index with amcheck's bt_index_check, in every database.
      - A server without the amcheck extension fails this check rather than passing it unchecked.
    type: bool
    default: true
  row_counts:
    description: Tables whose rows are counted, each with V(database), V(table) and V(equals) or V(min).
    type: list
    elements: dict
    default: []
  sql:
    description: Queries whose first value must equal V(expected), each with V(database), V(query), V(expected) and an optional V(name).
    type: list
    elements: dict
    default: []
  timeout:
    description: Seconds the restored cluster may take to start and reach the target.
    type: int
    default: 600
  stall_timeout:
    description: Seconds replay may stand still short of where it must end before the check fails.
    type: int
    default: 60
attributes:
  check_mode:
    description: Restores nothing in check mode.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
requirements:
  - psycopg2 on the host
  - the PostgreSQL server binaries of the backup's major version (C(/usr/lib/postgresql/<major>/bin))
"""

EXAMPLES = r"""
- name: The newest backup restores, and its data is whole
  pgops.backup.pg_restore_check:
    row_counts:
      - {database: shop, table: orders, min: 1}
    sql:
      - {database: shop, query: "SELECT count(*) > 0 FROM orders", expected: "True", name: orders present}
  become: true
  become_user: pgbackrest
  register: drill
"""

RETURN = r"""
backup:
  description: Label of the backup that was restored.
  returned: when a restore was attempted
  type: str
target:
  description: The recovery target.
  returned: always
  type: dict
checks:
  description: Each check with its name, whether it passed, its value where it has one, and details; with
    O(tool=barman) the first is C(barman verify-backup).
  returned: when the scratch cluster started
  type: list
  elements: dict
passed:
  description: Every check passed.
  returned: always
  type: bool
rto_seconds:
  description: Seconds from the start of the restore to a promoted cluster that accepts connections.
  returned: when the scratch cluster became usable
  type: float
checked_seconds:
  description: Seconds from the start of the restore to the end of the checks on the restored cluster (the RTO plus
    the checks' own time).
  returned: when the checks ran
  type: float
recovery:
  description: Where replay ended (replay_end_lsn, replay_end_time), the end of the archive (archive_end_segment)
    and the achieved RPO (rpo_seconds - from the last commit replayed to when the archive's end was read).
  returned: when the scratch cluster started
  type: dict
recovered:
  description: The scratch cluster after recovery - timeline_id, lsn and server version.
  returned: when the scratch cluster became usable
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.targets import check_reachable, normalize_target
from ansible_collections.pgops.backup.plugins.module_utils.module_support import (
    LOCAL_KINDS, refuse_barman_off_its_server, target_argument_spec, tool_argument_spec, tool_for)
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import data_directory_state, free_port
from ansible_collections.pgops.backup.plugins.module_utils.restore.scratch import ScratchCluster, restore_and_check


# where each backup kind pg_restore_check refuses is proven instead
LOCAL_RESTORE = {
    "logical": "pgops.backup.pg_restore with tool=logical into a scratch database, then SQL of your own",
    "base": "unpacked into a scratch directory, as the README shows",
}


def main():
    argument_spec = tool_argument_spec()
    argument_spec.update(
        backup=dict(type="str"),
        target=dict(type="dict", default={"type": "latest"}, options=target_argument_spec()),
        repository=dict(type="int"),
        scratch_directory=dict(type="path", default="/var/tmp/pgops-restore-check"),
        port=dict(type="int"),
        amcheck=dict(type="bool", default=True),
        row_counts=dict(type="list", elements="dict", default=[]),
        sql=dict(type="list", elements="dict", default=[]),
        timeout=dict(type="int", default=600),
        stall_timeout=dict(type="int", default=60),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    result = dict(changed=False, passed=False)
    refuse_barman_off_its_server(module, "pg_restore_check")
    if params["tool"] in LOCAL_KINDS:
        module.fail_json(msg="tool: pg_restore_check proves physical backups of pgbackrest, walg and barman; a %s backup is "
                             "checked by restoring it (%s)" % (params["tool"], LOCAL_RESTORE[params["tool"]]), **result)
    try:
        result["target"] = check_reachable(normalize_target(params["target"]))
        port = params["port"] or free_port(extra_socket_dirs=[params["scratch_directory"]])
    except ValueError as exc:
        module.fail_json(msg=str(exc), **result)
    scratch = ScratchCluster(params["scratch_directory"], port, module.run_command)
    if scratch.foreign():
        module.fail_json(msg=scratch.foreign(), **result)
    if data_directory_state(scratch.data) == "running":
        module.fail_json(msg="%s holds a running cluster: stop it, or choose another scratch_directory" % scratch.data,
                         **result)
    if module.check_mode:
        module.exit_json(msg="check mode: nothing restored", **result)

    tool, dummy, run = tool_for(module)
    result.update(restore_and_check(tool, run, scratch, result["target"], params))
    msg = result.pop("msg", None)
    if not result["passed"]:
        module.fail_json(msg=msg, **result)
    module.exit_json(msg="backup %s restored in %.1f s and passed %d checks"
                     % (result["backup"], result["rto_seconds"], len(result["checks"])), **result)


if __name__ == "__main__":
    main()
