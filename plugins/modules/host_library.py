#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_library
short_description: Install files of the collection's library on a host in one run
description:
  - Writes each file given whole (a reader never sees half of it), mode 0644 and owned by root, makes or fixes the
    directories they are in (0755, root's), and removes paths an earlier layout left.
  - The M(pgops.backup._common) role's runtime step uses it, so that installing the library the scheduled scripts
    import (monitoring, drills, dumps, retention) costs one module run on a new host, not one per file. What to write
    comes from the C(pgops.backup.runtime_plan) and C(pgops.backup.runtime_sources) filters.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
options:
  root:
    description: The directory the files' paths are relative to; made with its parents when missing.
    type: path
    required: true
  files:
    description: File contents by path relative to O(root).
    type: dict
    default: {}
  directories:
    description: Directories, relative to O(root), that must be 0755 and root's even when no file is written there.
    type: list
    elements: str
    default: []
  remove:
    description: Absolute paths to remove (a directory with what it holds) where they exist.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    description: Changes nothing; reports what would be written, made and removed.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
"""

EXAMPLES = r"""
- name: Library is installed
  pgops.backup.host_library:
    root: /usr/local/lib/pgops-backup/ansible_collections/pgops/backup/plugins/module_utils
    files: "{{ plan.files | pgops.backup.runtime_sources(role_path ~ '/../../plugins/module_utils') }}"
    directories: "{{ plan.directories }}"
    remove: "{{ plan.leftovers }}"
"""

RETURN = r"""
written:
  description: The files written (or that would be).
  returned: always
  type: list
  elements: str
directories:
  description: The directories made or given back mode 0755 and root's.
  returned: always
  type: list
  elements: str
removed:
  description: The paths removed.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.files import install_tree


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            # the library's source: kept out of the result's invocation (hundreds of kilobytes), not a secret
            files=dict(type="dict", default={}, no_log=True),
            directories=dict(type="list", elements="str", default=[]),
            remove=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        written, directories, removed = install_tree(params["root"], params["files"], params["directories"],
                                                     params["remove"], module.check_mode)
    except (IOError, OSError) as exc:
        module.fail_json(msg="the library could not be installed under %s: %s" % (params["root"], exc))
    module.exit_json(changed=bool(written or directories or removed), written=written, directories=directories,
                     removed=removed)


if __name__ == "__main__":
    main()
