# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Makes ``ansible_collections.pgops.backup`` importable for a plain ``pytest tests/unit``.

The repository root is the collection root, but Python can import it under the collection's
namespace only from a directory laid out as ansible_collections/pgops/backup. That layout is made
once under .cache/unit (git-ignored) as a relative symlink to the root and put first on sys.path.
``ansible_collections`` is a namespace package, so the community collections that the ``ansible``
package installs in site-packages stay importable next to it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMPORT_BASE = os.path.join(ROOT, ".cache", "unit")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def _link_collection():
    namespace = os.path.join(IMPORT_BASE, "ansible_collections", "pgops")
    link = os.path.join(namespace, "backup")
    if os.path.realpath(link) == os.path.realpath(ROOT):
        return
    if os.path.islink(link):  # left over from a checkout that has moved
        os.unlink(link)
    elif os.path.exists(link):
        raise RuntimeError("%s is in the way of the collection symlink; remove it" % link)
    if not os.path.isdir(namespace):
        os.makedirs(namespace)
    try:
        os.symlink(os.path.relpath(ROOT, namespace), link)
    except OSError as exc:  # another test process made it first
        if exc.errno != errno.EEXIST:
            raise


def _check_import():
    from ansible_collections.pgops.backup.plugins.module_utils import policy

    where = os.path.realpath(policy.__file__)
    if not where.startswith(os.path.realpath(ROOT) + os.sep):
        raise ImportError("ansible_collections.pgops.backup resolves to %s, not to this checkout (%s); "
                          "another copy of the collection is on sys.path" % (where, ROOT))


_link_collection()
if IMPORT_BASE in sys.path:
    sys.path.remove(IMPORT_BASE)
sys.path.insert(0, IMPORT_BASE)
_check_import()
# the host entry point of the scheduled scripts (roles/_common/files/pgops_backup_host.py), importable as on hosts
HOST_ENTRY_DIR = os.path.join(ROOT, "roles", "_common", "files")
if HOST_ENTRY_DIR not in sys.path:
    sys.path.insert(1, HOST_ENTRY_DIR)


@pytest.fixture
def fixture_text():
    """The text of a file under tests/unit/fixtures, by its path there."""

    def read(relative):
        with open(os.path.join(FIXTURES, relative)) as handle:
            return handle.read()

    return read
