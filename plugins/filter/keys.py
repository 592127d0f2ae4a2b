# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the encryption key step (roles/_common/tasks/keys.yml): a key in use on a host is never replaced."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.drivers import keys


def encryption_key_files(policy, secrets_dir, host):
    """Each encrypted repository's controller files and the length of a key generated for it."""
    return keys.controller_files(policy, secrets_dir, host)


def _configs(slurped):
    """slurp's results of a loop over [{'host', 'path'}] as [{'host', 'path', 'text'}]; skipped items left out."""
    configs = []
    for result in slurped or []:
        if "content" not in result:
            continue
        try:
            text = base64.b64decode(result["content"]).decode("utf-8")
        except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
            raise AnsibleFilterError("pgops.backup keys: %s:%s is not text, so the key it holds cannot be read; "
                                     "the role does not replace a key it cannot read"
                                     % (result["item"]["host"], result["item"]["path"]))
        configs.append({"host": result["item"]["host"], "path": result["item"]["path"], "text": text})
    return configs


def encryption_key_plan(policy, slurped, controller, new_keys, host, secrets_dir, storing_host=None,
                        explicit_key=None):
    """Which key each encrypted repository uses (see module_utils/drivers/keys.py, plan): {'keys', 'record',
    'refusals'}; slurped: the slurp results of the tool's configuration files on the stanza's hosts."""
    return keys.plan(policy, _configs(slurped), controller or {}, new_keys or {}, host, secrets_dir,
                     storing_host=storing_host, explicit_key=explicit_key or None)


class FilterModule(object):
    def filters(self):
        return {
            "encryption_key_files": encryption_key_files,
            "encryption_key_plan": encryption_key_plan,
        }
