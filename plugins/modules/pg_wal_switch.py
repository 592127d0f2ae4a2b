#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_wal_switch
short_description: Archive what a running cluster has written, and report where the archive then ends
description:
  - Closes the running cluster's current WAL segment (C(pg_switch_wal())) and waits until PostgreSQL's archiver
    has archived it and the stanza's repositories list it. Every commit made before the returned time, LSN and
    transaction id is then in the archive.
  - Run it before judging a recovery target on a server that still runs (C(playbooks/restore.yml) does), so a
    target in the not-yet-archived tail is restored exactly, and one after the end of the archive is refused
    (M(pgops.backup.pg_restore)'s O(pgops.backup.pg_restore#module:archived_through)) before anything is stopped.
  - Fails, changing nothing else, when the archive does not receive the segment within O(timeout) seconds,
    with what C(pg_stat_archiver) says about the last failure.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
extends_documentation_fragment:
  - pgops.backup.tool
  - pgops.backup.tool.connection
options:
  timeout:
    description: Seconds to wait for the archive to receive the closed segment (nothing is stopped while it waits).
    type: int
    default: 300
attributes:
  check_mode:
    description: Switches nothing and waits for nothing; reports the cluster's current position and the archive's end.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
"""

EXAMPLES = r"""
- name: What the server has written is archived before the target is judged
  pgops.backup.pg_wal_switch:
    port: 5432
  become: true
  become_user: postgres
  register: archived

- name: Backups reach the target
  pgops.backup.pg_restore:
    data_directory: /var/lib/postgresql/15/main
    target: {type: time, value: "2026-11-26 10:15:00+00"}
    archived_through: "{{ archived.archived_through }}"
    delta: true
  check_mode: true
"""

RETURN = r"""
archived_through:
  description:
    - Where the archive ends - C(segment), the newest closed segment; C(lsn), its end; C(time), the epoch seconds of the
      switch; C(next_xid), the first transaction id not yet assigned then; C(archive_end_segment), the newest
      segment the repositories hold.
    - In check mode, the cluster's current position, not yet archived.
  returned: success
  type: dict
  sample: {segment: "000000010000000000000009", lsn: "0/A000000", time: 1796204100.5, next_xid: 1234,
           archive_end_segment: "000000010000000000000009"}
msg:
  description: What was done.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.module_support import (
    cluster_session, tool_argument_spec, tool_for)
from ansible_collections.pgops.backup.plugins.module_utils.policy import TOOLS
from ansible_collections.pgops.backup.plugins.module_utils.restore.preflight import archive_wal
from ansible_collections.pgops.backup.plugins.module_utils.restore.recovery import archive_end


def main():
    argument_spec = tool_argument_spec()
    argument_spec.update(
        port=dict(type="int", default=5432),
        socket_dir=dict(type="path", default="/var/run/postgresql"),
        timeout=dict(type="int", default=300),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    # the WAL archiving tools: the dumps role's kinds keep no archive
    if params["tool"] not in TOOLS:
        module.fail_json(msg="tool: %s keeps no WAL archive; pg_wal_switch is for %s"
                             % (params["tool"], ", ".join(TOOLS)))

    session = cluster_session(params["socket_dir"], params["port"])
    tool, dummy, run = tool_for(module)
    try:
        archived = archive_wal(session, lambda: archive_end(tool, run), params["timeout"],
                               switch=not module.check_mode, clock=time.time, sleep=time.sleep)
    except ToolError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # psycopg2's errors: the server is not reachable
        module.fail_json(msg="the running cluster on port %s could not be asked to switch WAL: %s"
                             % (params["port"], str(exc).strip()))
    module.exit_json(changed=True, archived_through=archived,
                     msg="%s segment %s; the archive ends at %s" % (
                         "would close" if module.check_mode else "archived", archived["segment"],
                         archived["archive_end_segment"]))


if __name__ == "__main__":
    main()
