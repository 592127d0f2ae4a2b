#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_recovery
short_description: Prove where the recovery of a restored cluster ended, then promote it
description:
  - Run after M(pgops.backup.pg_restore) and starting PostgreSQL. pg_restore makes PostgreSQL recover in standby
    mode to V(latest) and pause at an exact target, so it never promotes by itself; this module waits until replay
    has ended and proves it ended where it must before it promotes the cluster with C(pg_promote()) (or resumes
    it at the target, which ends recovery).
  - For V(latest), replay must reach the last WAL segment the stanza's repositories hold (pgBackRest info's
    archive max, wal-g's wal-show); for an exact target, recovery must have paused at the target.
  - PostgreSQL takes a restore_command that fails for a missing, corrupt or unreachable segment for the end of
    the archive. When replay stops short (it has not moved for O(stall_timeout) seconds), the server stops, or
    O(timeout) runs out, the module stops the cluster without promoting it (standby.signal or recovery.signal
    stays, so a restart does not promote either) and fails naming the first segment not replayed and
    PostgreSQL's own FATAL, PANIC or error line. A cluster that is not promoted archives nothing.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
extends_documentation_fragment:
  - pgops.backup.tool
  - pgops.backup.tool.connection
options:
  data_directory:
    description: The restored cluster's data directory.
    type: path
    required: true
  log_file:
    description: The cluster's server log (pg_lsclusters' log file), where PostgreSQL's reason for a failure is read.
    type: path
  target:
    description: The recovery target given to pg_restore.
    type: dict
    default: {type: latest}
    suboptions:
      type:
        description: As pg_restore's O(target.type).
        type: str
        choices: [latest, time, lsn, xid, name, immediate]
        default: latest
      value:
        description: As pg_restore's O(target.value).
        type: str
  archive_end:
    description:
      - The last segment the repositories held before recovery started (pg_restore's C(archive_end_segment)), so
        that a repository that fails during recovery cannot hide where the archive ends.
      - Read from the repositories when not given.
    type: str
  repository:
    description:
      - pgBackRest repository index the cluster was restored from, as given to pg_restore's
        O(pgops.backup.pg_restore#module:repository). Where O(archive_end) is not given, the end of that repository's
        archive is the one replay must reach.
    type: int
  timeout:
    description: Seconds recovery may take in all.
    type: int
    default: 1800
  stall_timeout:
    description: Seconds replay may stand still short of where it must end before the restore fails.
    type: int
    default: 60
attributes:
  check_mode:
    description: Reports that it would verify and promote, and touches nothing.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
"""

EXAMPLES = r"""
- name: Recovery reached the end of the archive and the cluster is the primary
  pgops.backup.pg_recovery:
    data_directory: /var/lib/postgresql/15/main
    port: 5432
    log_file: /var/log/postgresql/postgresql-15-main.log
  become: true
  become_user: postgres
"""

RETURN = r"""
replay_end_lsn:
  description: The LSN where replay ended (pg_last_wal_replay_lsn()).
  returned: when the cluster accepted connections
  type: str
  sample: 0/9000110
replay_end_time:
  description: Commit time of the last transaction replayed (UTC), null when none was.
  returned: when the cluster accepted connections
  type: str
  sample: "2026-11-26T10:14:58.120000Z"
archive_end_segment:
  description: The last WAL segment the repositories hold.
  returned: always
  type: str
  sample: "000000010000000000000009"
promoted:
  description: Whether this run promoted the cluster (false when it was not in recovery).
  returned: success
  type: bool
timeline:
  description: The cluster's timeline after promotion.
  returned: success
  type: int
msg:
  description: What was proven, or why recovery failed.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import normalize_target
from ansible_collections.pgops.backup.plugins.module_utils.core.wal import parse_segment
from ansible_collections.pgops.backup.plugins.module_utils.module_support import (
    cluster_session, target_argument_spec, tool_argument_spec, tool_for)
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import (
    data_directory_state, pg_ctl, read_text)
from ansible_collections.pgops.backup.plugins.module_utils.restore.recovery import (
    RecoveryFailed, archive_end, prove_and_promote)


def main():
    argument_spec = tool_argument_spec()
    argument_spec.update(
        data_directory=dict(type="path", required=True),
        port=dict(type="int", default=5432),
        socket_dir=dict(type="path", default="/var/run/postgresql"),
        log_file=dict(type="path"),
        target=dict(type="dict", default={"type": "latest"}, options=target_argument_spec()),
        archive_end=dict(type="str"),
        repository=dict(type="int"),
        timeout=dict(type="int", default=1800),
        stall_timeout=dict(type="int", default=60),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    data = params["data_directory"].rstrip("/")
    try:
        target = normalize_target(params["target"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if module.check_mode:
        module.exit_json(changed=True, msg="recovery of %s would be proven, then the cluster promoted" % data)

    session = cluster_session(params["socket_dir"], params["port"])

    def stop():
        if data_directory_state(data) == "running":
            module.run_command([pg_ctl(data), "-D", data, "-m", "fast", "-w", "stop"])

    tool, dummy, run = tool_for(module)
    end = params["archive_end"]
    try:
        if end:
            parse_segment(end)
        else:
            end = archive_end(tool, run, params["repository"])
        result = prove_and_promote(session, lambda: data_directory_state(data) == "running", stop,
                                   lambda: read_text(params["log_file"]), target, end, params["timeout"],
                                   stall=params["stall_timeout"], clock=time.time, sleep=time.sleep)
    except (ToolError, ValueError) as exc:
        stop()
        module.fail_json(msg="the end of the archive could not be read, so recovery cannot be proven: %s. The "
                             "cluster was stopped without promoting" % exc, archive_end_segment=end)
    except RecoveryFailed as exc:
        exc.state.pop("replay_end_epoch", None)
        module.fail_json(msg=str(exc), **exc.state)
    result.pop("replay_end_epoch", None)
    module.exit_json(changed=result["promoted"], msg="replay ended at %s (last commit %s); the archive ends at %s%s"
                     % (result["replay_end_lsn"], result["replay_end_time"] or "none", end,
                        "; promoted on timeline %s" % result["timeline"] if result["promoted"] else
                        "; the cluster was not in recovery"), **result)


if __name__ == "__main__":
    main()
