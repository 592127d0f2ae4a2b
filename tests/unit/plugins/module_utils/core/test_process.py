# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running tools: argv only, secrets registered with no_log and redacted from everything returned."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.process import (
    CommandRunner, REDACTED, error_line, redact)

SECRET_KEY = "s3cr3t/EXAMPLE+key"
PASSPHRASE = "generated-passphrase-0123456789abcdef"


class FakeModule(object):
    """The part of AnsibleModule that CommandRunner uses; answers every command with one result."""

    def __init__(self, rc=0, out="", err=""):
        self.result = (rc, out, err)
        self.no_log_values = set()
        self.calls = []

    def run_command(self, args, environ_update=None, **kwargs):
        self.calls.append({"args": args, "environ_update": environ_update, "kwargs": kwargs})
        return self.result


class TestRedact:
    def test_every_occurrence_of_every_secret(self):
        text = "key=%s pass=%s again %s" % (SECRET_KEY, PASSPHRASE, SECRET_KEY)
        assert redact(text, [SECRET_KEY, PASSPHRASE]) == "key=%s pass=%s again %s" % ((REDACTED,) * 3)

    @pytest.mark.parametrize("secrets", [None, [], ["", None]])
    def test_nothing_to_hide(self, secrets):
        assert redact("plain output", secrets) == "plain output"

    def test_secret_containing_another_is_hidden_whole(self):
        # whichever order they come in, no tail of the longer secret stays visible
        for secrets in (["abc123", "abc123-and-more"], ["abc123-and-more", "abc123"]):
            assert redact("x abc123-and-more y", secrets) == "x %s y" % REDACTED


class TestErrorLine:
    def test_last_error_line(self):
        err = ("P00   INFO: archive-push command begin 2.54.2\n"
               "P00  ERROR: [104]: archive-push command encountered error(s):\n"
               "            repo2: [HostConnectError] unable to connect to 'minio.lab.internal:9000'\n"
               "P00  ERROR: [082]: WAL segment 000000010000000000000009 was not archived before the 60000ms timeout\n"
               "P00   INFO: archive-push command end: aborted with exception [082]\n")
        assert error_line("", err) == ("P00  ERROR: [082]: WAL segment 000000010000000000000009 was not archived "
                                       "before the 60000ms timeout")

    def test_error_on_stdout(self):
        out = "P00   INFO: stanza-create command begin\nP00  ERROR: [055]: unable to load info file\n"
        assert error_line(out, "") == "P00  ERROR: [055]: unable to load info file"

    def test_last_line_when_no_error_line(self):
        assert error_line("first\n", "second\n  last one  \n\n") == "first"
        assert error_line("", "line one\n  last one  \n\n") == "last one"

    def test_no_output(self):
        assert error_line("", "") == "no output"
        assert error_line("  \n", "\n") == "no output"


class TestCommandRunner:
    def test_secrets_are_registered_with_no_log(self):
        module = FakeModule()
        CommandRunner(module, secrets=[SECRET_KEY, "", None, PASSPHRASE])
        assert module.no_log_values == {SECRET_KEY, PASSPHRASE}

    def test_runs_argv_with_environment(self):
        module = FakeModule(0, "done\n", "")
        runner = CommandRunner(module, environ={"PGBACKREST_REPO2_CIPHER_PASS": PASSPHRASE})
        assert runner.run(["pgbackrest", "--stanza=main", "check"]) == (0, "done\n", "")
        [call] = module.calls
        assert call["args"] == ["pgbackrest", "--stanza=main", "check"]
        assert call["environ_update"] == {"PGBACKREST_REPO2_CIPHER_PASS": PASSPHRASE}

    def test_output_is_redacted(self):
        module = FakeModule(0, "key %s\n" % SECRET_KEY, "pass %s\n" % PASSPHRASE)
        _rc, out, err = CommandRunner(module, secrets=[SECRET_KEY, PASSPHRASE]).run(["tool"])
        assert SECRET_KEY not in out and PASSPHRASE not in err
        assert out == "key %s\n" % REDACTED

    def test_failure_raises_with_the_tools_error_line(self):
        err = ("P00   INFO: check command begin 2.54.2: --repo2-s3-key-secret=%s\n"
               "P00  ERROR: [039]: S3 request failed with 403: Forbidden (secret %s)\n") % (SECRET_KEY, SECRET_KEY)
        module = FakeModule(39, "", err)
        with pytest.raises(ToolError) as info:
            CommandRunner(module, secrets=[SECRET_KEY]).run(["pgbackrest", "--stanza=main", "check"])
        exc = info.value
        assert str(exc) == ("pgbackrest failed (exit 39): P00  ERROR: [039]: S3 request failed with 403: Forbidden "
                            "(secret %s)" % REDACTED)
        assert exc.rc == 39
        assert SECRET_KEY not in exc.stderr and SECRET_KEY not in str(exc)

    def test_failure_message_does_not_repeat_the_arguments(self):
        module = FakeModule(1, "", "ERROR: bad\n")
        with pytest.raises(ToolError) as info:
            CommandRunner(module).run(["pgbackrest", "--repo1-s3-key-secret=%s" % SECRET_KEY, "check"])
        assert SECRET_KEY not in str(info.value)

    def test_unchecked_failure_is_returned(self):
        module = FakeModule(2, "", "ERROR: missing %s\n" % PASSPHRASE)
        rc, _out, err = CommandRunner(module, secrets=[PASSPHRASE]).run(["tool"], check=False)
        assert rc == 2 and err == "ERROR: missing %s\n" % REDACTED
