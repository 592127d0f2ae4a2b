# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter of the _common role's runtime step: what the collection's library on a host lacks, judged from one find
of the host's copy, so that a converged host costs one module run instead of one per file, and the files it lacks are read here for one
module run that writes them all (pgops.backup.host_library)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.core.files import parent_directories

FILE_MODE, DIRECTORY_MODE = "0644", "0755"


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _owned_as(entry, mode):
    return entry.get("uid") == 0 and entry.get("gid") == 0 and str(entry.get("mode")) == mode


def runtime_plan(found, source_dir, library, files, legacy=()):
    """{'files', 'directories', 'leftovers'}: the library's files (paths relative to plugins/module_utils) that are
    missing on the host or differ from the controller's (content, mode 0644 or owner root), the directories they
    need that are missing or not 0755 root, and what else the host holds: *.py files no longer in the library,
    and the ``legacy`` paths an earlier layout used, where present.

    found: ansible.builtin.find's files of the host's runtime root (file_type any, get_checksum); source_dir: the
    controller's plugins/module_utils; library: the library's directory on the host."""
    try:
        on_host = dict((entry["path"].rstrip("/"), entry) for entry in found or [])
    except (KeyError, TypeError, AttributeError):
        raise AnsibleFilterError("runtime_plan: expected ansible.builtin.find's files, got %r" % (found,))
    library = library.rstrip("/")
    stale = []
    for relative in files:
        entry = on_host.get("%s/%s" % (library, relative))
        try:
            wanted = _sha1(os.path.join(source_dir, relative))
        except (IOError, OSError) as exc:
            raise AnsibleFilterError("runtime_plan: the controller's %s cannot be read: %s" % (relative, exc))
        if entry is None or not entry.get("isreg", True) or entry.get("checksum") != wanted \
                or not _owned_as(entry, FILE_MODE):
            stale.append(relative)
    directories = []
    for relative in sorted(parent_directories(files)):
        entry = on_host.get(("%s/%s" % (library, relative)).rstrip("/"))
        if entry is None or not entry.get("isdir") or not _owned_as(entry, DIRECTORY_MODE):
            directories.append(relative)
    expected = set("%s/%s" % (library, relative) for relative in files)
    leftovers = sorted(path for path, entry in on_host.items()
                       if path.startswith(library + "/") and path.endswith(".py") and entry.get("isreg", True)
                       and path not in expected)
    leftovers += [path for path in legacy if path in on_host]
    return {"files": stale, "directories": directories, "leftovers": leftovers}


def runtime_sources(files, source_dir):
    """{path: text} of the given library files (paths relative to the controller's plugins/module_utils), for
    pgops.backup.host_library to write in one module run."""
    sources = {}
    for relative in files or []:
        try:
            with open(os.path.join(source_dir, relative)) as handle:
                sources[relative] = handle.read()
        except (IOError, OSError) as exc:
            raise AnsibleFilterError("runtime_sources: the controller's %s cannot be read: %s" % (relative, exc))
    return sources


class FilterModule(object):
    def filters(self):
        return {"runtime_plan": runtime_plan, "runtime_sources": runtime_sources}
