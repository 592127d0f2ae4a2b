# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pgops_backup_host import LocalHost  # pylint: disable=import-error


def test_run_command_returns_status_and_both_streams():
    assert LocalHost().run_command(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")


def test_output_that_is_no_utf8_is_told_not_raised():
    # pgbackrest info printing a file it could not decrypt: the monitor said only "'utf-8' codec can't decode"
    rc, out, err = LocalHost().run_command(["sh", "-c", r"printf 'ERROR: [029]: \252\373 bad\n' >&2; exit 29"])
    assert (rc, out) == (29, "") and err == "ERROR: [029]: \ufffd\ufffd bad\n"


def test_data_goes_to_stdin_and_environment_is_added():
    rc, out, err = LocalHost().run_command(["sh", "-c", 'cat; echo "$PGOPS_TEST"'], environ_update={"PGOPS_TEST": "set"},
                                           data="message\n")
    assert (rc, out) == (0, "message\nset\n")


def test_no_data_means_an_empty_stdin():
    assert LocalHost().run_command(["cat"]) == (0, "", "")


def test_argv_is_never_a_shell_line():
    rc, out, err = LocalHost().run_command(["echo", "$HOME;", "rm", "-rf", "/nothing"])
    assert out == "$HOME; rm -rf /nothing\n"


def test_a_timeout_ends_the_program_with_124():
    rc, out, err = LocalHost().run_command(["sleep", "5"], timeout=0.2)
    assert rc == 124 and "timed out" in err


def test_a_missing_program_is_127_not_an_exception():
    rc, out, err = LocalHost().run_command(["/nonexistent/program"])
    assert rc == 127 and "/nonexistent/program" in err


def test_expire_is_a_command_and_an_unknown_one_is_refused(capsys):
    from pgops_backup_host import main  # pylint: disable=import-error
    assert main(["expire", "--days", "0"]) == 2
    assert "--days: expected 1 or more" in capsys.readouterr().err
    assert main(["vacuum"]) == 2
    assert "monitor|drill|dumps|expire" in capsys.readouterr().err
