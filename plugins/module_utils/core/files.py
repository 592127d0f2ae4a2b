# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files that other programs read while they change: written whole or not at all."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile


def write_atomically(path, text, mode=0o644):
    """Write a file whole or not at all: a reader (node_exporter, monitoring, a person) never sees half of it."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def parent_directories(paths):
    """The directories relative paths are in, their parents too, and "" (the root they are relative to)."""
    needed = set([""])
    for relative in paths:
        parent = os.path.dirname(relative)
        while parent:
            needed.add(parent)
            parent = os.path.dirname(parent)
    return needed


def install_tree(root, files, directories=(), remove=(), check_mode=False):
    """Make a tree under root hold files ({path relative to root: text}), each written whole, mode 0644, root's,
    with their directories (and the relative ``directories``) 0755 and root's (root's parents made as needed); the
    absolute paths of ``remove`` are deleted, a directory with what it holds. In check mode nothing is touched.
    Returns (written, directories made or fixed, removed)."""
    needed = parent_directories(files) | set(directory.strip("/") for directory in directories)
    fixed = []
    for relative in sorted(needed):
        path = os.path.join(root, relative) if relative else root
        if os.path.isdir(path) and _is_root_owned(path, 0o755):
            continue
        fixed.append(path)
        if not check_mode:
            if not os.path.isdir(path):
                os.makedirs(path)
            os.chown(path, 0, 0)
            os.chmod(path, 0o755)
    written = sorted(files)
    if not check_mode:
        for relative in written:
            path = os.path.join(root, relative)
            write_atomically(path, files[relative], 0o644)
            os.chown(path, 0, 0)
    removed = [path for path in remove if os.path.lexists(path)]
    if not check_mode:
        for path in removed:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    return ([os.path.join(root, relative) for relative in written], fixed, removed)


def _is_root_owned(path, mode):
    status = os.stat(path)
    return status.st_uid == 0 and status.st_gid == 0 and (status.st_mode & 0o7777) == mode
