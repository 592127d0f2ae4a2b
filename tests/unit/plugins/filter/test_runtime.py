# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the library on a host lacks, from one find of it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.runtime import runtime_plan, runtime_sources

LIB = "/usr/local/lib/pgops-backup/ansible_collections/pgops/backup/plugins/module_utils"
FILES = ["core/errors.py", "core/wal.py", "policy.py"]


@pytest.fixture
def source(tmp_path):
    (tmp_path / "core").mkdir()
    for relative in FILES:
        (tmp_path / relative).write_text("# %s\n" % relative)
    return tmp_path


def entry(path, content=None, mode="0644", uid=0, isdir=False):
    found = {"path": path, "mode": mode, "uid": uid, "gid": 0, "isdir": isdir, "isreg": not isdir}
    if content is not None:
        found["checksum"] = hashlib.sha1(content.encode()).hexdigest()
    return found


def converged():
    return ([entry(LIB, mode="0755", isdir=True), entry(LIB + "/core", mode="0755", isdir=True)]
            + [entry("%s/%s" % (LIB, f), "# %s\n" % f) for f in FILES])


def test_a_converged_host_needs_nothing(source):
    assert runtime_plan(converged(), str(source), LIB, FILES) == {"files": [], "directories": [], "leftovers": []}


def test_a_fresh_host_needs_everything(source):
    assert runtime_plan([], str(source), LIB, FILES) == {"files": FILES, "directories": ["", "core"], "leftovers": []}


def test_a_changed_file_a_wrong_mode_a_wrong_owner_and_a_loose_directory(source):
    found = converged()
    found[2]["checksum"] = "0" * 40               # core/errors.py: other content
    found[3]["mode"] = "0666"                     # core/wal.py
    found[4]["uid"] = 108                         # policy.py
    found[1]["mode"] = "0777"                     # core/
    assert runtime_plan(found, str(source), LIB, FILES) == {"files": FILES, "directories": ["core"], "leftovers": []}


def test_what_an_earlier_layout_left_is_removed(source):
    found = converged() + [entry(LIB + "/local_host.py", "old"), entry(LIB + "/tools", mode="0755", isdir=True),
                           entry(LIB + "/core/__pycache__", mode="0755", isdir=True)]
    plan = runtime_plan(found, str(source), LIB, FILES, legacy=[LIB + "/tools", "/usr/local/lib/pgops-backup/x.py"])
    assert plan["leftovers"] == [LIB + "/local_host.py", LIB + "/tools"] and plan["files"] == []


def test_a_controller_file_that_cannot_be_read(source):
    with pytest.raises(AnsibleFilterError):
        runtime_plan([], str(source), LIB, FILES + ["gone.py"])


def test_the_files_a_host_lacks_are_read_for_one_module_run(source):
    assert runtime_sources(["core/wal.py", "policy.py"], str(source)) == {"core/wal.py": "# core/wal.py\n",
                                                                          "policy.py": "# policy.py\n"}
    assert runtime_sources([], str(source)) == {}
    with pytest.raises(AnsibleFilterError, match="gone.py"):
        runtime_sources(["gone.py"], str(source))
