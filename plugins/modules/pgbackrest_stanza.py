#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pgbackrest_stanza
short_description: Make sure a pgBackRest stanza exists in every repository
description:
  - Reads C(pgbackrest info) and runs C(stanza-create) only where the stanza is missing.
  - Refuses to touch a stanza that belongs to another cluster (a different system identifier), whose
    backups would be orphaned.
  - Run it as the user that owns the repository (postgres, or pgbackrest on a repository host).
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
options:
  stanza:
    description: Name of the stanza.
    type: str
    required: true
  system_identifier:
    description:
      - The cluster's system identifier (C(SELECT system_identifier FROM pg_control_system())).
      - When given, a stanza recorded for another system identifier fails the task.
    type: str
  repositories:
    description: Indexes of the repositories the stanza must exist in (repo1 is 1).
    type: list
    elements: int
    default: [1]
attributes:
  check_mode:
    description: Can run in check mode and predict whether it would change anything.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
"""

EXAMPLES = r"""
- name: Stanza main exists in both repositories
  pgops.backup.pgbackrest_stanza:
    stanza: main
    repositories: [1, 2]
    system_identifier: "7301234567890123456"
  become: true
  become_user: postgres
"""

RETURN = r"""
state:
  description: What was found before any change, C(present) or C(missing).
  returned: success
  type: str
  sample: missing
msg:
  description: What was found or done.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.process import CommandRunner
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import (
    PgBackRest, parse_info, stanza_state)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            stanza=dict(type="str", required=True),
            system_identifier=dict(type="str"),
            repositories=dict(type="list", elements="int", default=[1]),
        ),
        supports_check_mode=True,
    )
    tool = PgBackRest({"stanza": module.params["stanza"]})
    runner = CommandRunner(module)
    try:
        _rc, out, _err = runner.run(tool.info_argv())
        state, message = stanza_state(parse_info(out), module.params["stanza"], module.params["repositories"],
                                      module.params["system_identifier"])
        if state == "present":
            module.exit_json(changed=False, state=state, msg=message)
        if not module.check_mode:
            runner.run(tool.stanza_create_argv())
            message = "created: " + message
        module.exit_json(changed=True, state=state, msg=message)
    except ToolError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
