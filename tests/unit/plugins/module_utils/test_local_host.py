# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.local_host import LocalHost


def test_run_command_returns_status_and_both_streams():
    assert LocalHost().run_command(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")


def test_data_goes_to_stdin_and_environment_is_added():
    rc, out, err = LocalHost().run_command(["sh", "-c", 'cat; echo "$PGOPS_TEST"'], environ_update={"PGOPS_TEST": "set"},
                                           data="message\n")
    assert (rc, out) == (0, "message\nset\n")


def test_no_data_means_an_empty_stdin():
    assert LocalHost().run_command(["cat"]) == (0, "", "")


def test_argv_is_never_a_shell_line():
    rc, out, err = LocalHost().run_command(["echo", "$HOME;", "rm", "-rf", "/nothing"])
    assert out == "$HOME; rm -rf /nothing\n"
