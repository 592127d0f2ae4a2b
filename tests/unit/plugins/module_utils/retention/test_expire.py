# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wal-g's time retention job: the window's start, the driver's decision applied, what it says and exits with."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import to_epoch
from ansible_collections.pgops.backup.plugins.module_utils.retention import expire

WALG = "/usr/local/bin/wal-g"
LIST = [WALG, "backup-list", "--detail", "--json"]
# the captured fixture's second backup finished at 06:11:24.72; a day later
NOW = to_epoch("2026-11-27T06:11:30Z")


class FakeHost(object):
    def __init__(self, answers):
        self.no_log_values = set()
        self.answers = answers
        self.commands, self.out, self.err = [], [], []

    def run_command(self, argv, environ_update=None, data=None, timeout=None):
        self.commands.append(list(argv))
        return self.answers.get(argv[1], (0, "", ""))

    def print_out(self, line):
        self.out.append(line)

    def print_error(self, line):
        self.err.append(line)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def host_with_backups(fixture_text, **answers):
    answers.setdefault("backup-list", (0, fixture_text("walg/backup-list-detail.captured.json"), ""))
    return FakeHost(answers)


def test_the_window_starts_the_policys_days_before_now(fixture_text, home):
    host = host_with_backups(fixture_text)
    assert expire.main(["--days", "1"], host, now=NOW) == 0
    # the window starts 2026-11-26T06:11:30Z: base_...07 finished before it and is kept, base_...06 goes
    assert host.commands == [LIST, [WALG, "delete", "before", "base_000000010000000000000007", "--confirm"]]
    assert host.out == ["kept base_000000010000000000000007 (finished 2026-11-26T06:11:24Z), the newest full "
                        "backup finished before the window's start 2026-11-26T06:11:30Z, and what follows it; "
                        "deleted before it: base_000000010000000000000006"]


def test_an_explicit_window_start_keeps_what_a_restore_to_it_needs(fixture_text, home):
    host = host_with_backups(fixture_text)
    assert expire.main(["--days", "30", "--window-start", "2026-11-26 07:11:24+01:00"], host, now=NOW) == 0
    assert host.commands[1] == [WALG, "delete", "before", "base_000000010000000000000006", "--confirm"]
    assert host.out[0].endswith("deleted before it: no backup, only older WAL")


def test_nothing_runs_but_the_listing_while_every_backup_is_inside_the_window(fixture_text, home):
    host = host_with_backups(fixture_text)
    assert expire.main(["--days", "30"], host, now=NOW) == 0
    assert host.commands == [LIST]
    assert host.out == ["no full backup finished before the window's start 2026-10-28T06:11:30Z: nothing to "
                        "expire (2 backups kept)"]


@pytest.mark.parametrize("argv, message", [
    (["--days", "0"], "--days: expected 1 or more"),
    (["--days", "7", "--window-start", "2026-11-26 06:00:00"], "is not a time with its zone"),
    (["--days", "7", "--window-start", "yesterday"], "is not a time with its zone"),
    (["--days", "7", "--window-start", "2026-11-28T00:00:00Z"], "is in the future"),
])
def test_bad_usage_runs_nothing_and_exits_2(fixture_text, home, argv, message):
    host = host_with_backups(fixture_text)
    assert expire.main(argv, host, now=NOW) == 2
    assert host.commands == [] and len(host.err) == 1
    assert host.err[0].startswith("ERROR: ") and message in host.err[0]


def test_a_failing_wal_g_exits_1_with_its_error_line_and_no_secret(fixture_text, home):
    (home / ".walg.json").write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": "s3cr3t-EXAMPLE-key"}))
    host = host_with_backups(fixture_text, delete=(1, "", "INFO: Start delete\nERROR: access denied for s3cr3t-EXAMPLE-key\n"))
    assert expire.main(["--days", "1"], host, now=NOW) == 1
    assert host.err == ["ERROR: wal-g time retention failed: /usr/local/bin/wal-g failed (exit 1): ERROR: access "
                        "denied for ********"]
    assert "s3cr3t-EXAMPLE-key" in host.no_log_values


def test_a_failed_listing_deletes_nothing(home):
    host = FakeHost({"backup-list": (1, "", "ERROR: 2026/11/27 06:11:30 failed to list s3 folder\n")})
    assert expire.main(["--days", "1"], host, now=NOW) == 1
    assert host.commands == [LIST] and "failed to list s3 folder" in host.err[0]
