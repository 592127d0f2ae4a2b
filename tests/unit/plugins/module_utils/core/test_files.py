# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one atomic writer and the host library's install in one run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core import files
from ansible_collections.pgops.backup.plugins.module_utils.core.files import install_tree, write_atomically


@pytest.fixture
def owners(monkeypatch):
    """chown recorded, not done (the tests run as any user); a path counts as root's once chowned to 0:0."""
    chowned = set()
    monkeypatch.setattr(files.os, "chown", lambda path, uid, gid: chowned.add(path) if (uid, gid) == (0, 0) else None)
    monkeypatch.setattr(files, "_is_root_owned", lambda path, wanted: path in chowned and mode(path) == wanted)
    return chowned


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_a_new_tree_gets_every_file_and_directory_root_owned(tmp_path, owners):
    root = str(tmp_path / "lib" / "module_utils")
    written, made, removed = install_tree(root, {"core/errors.py": "E\n", "policy.py": "P\n"})
    assert written == [root + "/core/errors.py", root + "/policy.py"]
    assert made == [root, root + "/core"] and removed == []
    assert open(root + "/core/errors.py").read() == "E\n" and mode(root + "/policy.py") == 0o644
    assert mode(root) == 0o755 and mode(root + "/core") == 0o755
    assert set(written + made) <= owners


def test_an_installed_tree_is_left_alone_but_what_is_given_is_rewritten_and_leftovers_go(tmp_path, owners):
    root = str(tmp_path / "module_utils")
    install_tree(root, {"core/errors.py": "E\n", "tools/x.py": "X\n"})
    os.chmod(root + "/tools", 0o777)
    written, made, removed = install_tree(root, {"core/errors.py": "E2\n"}, directories=["tools"],
                                          remove=[root + "/tools", root + "/gone.py"])
    assert written == [root + "/core/errors.py"] and open(root + "/core/errors.py").read() == "E2\n"
    assert made == [root + "/tools"]              # its mode was loose; then it is removed as an earlier layout's
    assert removed == [root + "/tools"] and not os.path.exists(root + "/tools")
    assert install_tree(root, {}) == ([], [], [])


def test_check_mode_reports_and_touches_nothing(tmp_path, owners):
    root = str(tmp_path / "module_utils")
    (tmp_path / "old.py").write_text("old")
    written, made, removed = install_tree(root, {"policy.py": "P\n"}, remove=[str(tmp_path / "old.py")],
                                          check_mode=True)
    assert written == [root + "/policy.py"] and made == [root] and removed == [str(tmp_path / "old.py")]
    assert not os.path.exists(root) and (tmp_path / "old.py").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "status.json"
    target.write_text("old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_atomically(str(target), "new")
    assert target.read_text() == "old" and os.listdir(str(tmp_path)) == ["status.json"]
