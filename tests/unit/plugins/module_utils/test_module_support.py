# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the restore modules do after the tool fetched a backup, and how restore checks name tables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import apply_restore_plan
from ansible_collections.pgops.backup.plugins.module_utils.restore.scratch import quote_table


def test_restore_plan_runs_the_tool_then_appends_settings_and_signal(tmp_path):
    calls = []
    data = tmp_path / "data"
    data.mkdir()
    (data / "postgresql.auto.conf").write_text("work_mem = '8MB'\n")
    plan = {"argv": ["wal-g", "backup-fetch", str(data), "LATEST"],
            "auto_conf": {"recovery_target_name": "before 'upgrade'", "archive_mode": "off"},
            "recovery_signal": True}
    apply_restore_plan(plan, str(data), calls.append)
    assert calls == [plan["argv"]]
    text = (data / "postgresql.auto.conf").read_text()
    assert text.startswith("work_mem = '8MB'\n")
    assert "archive_mode = 'off'\n" in text
    assert "recovery_target_name = 'before ''upgrade'''\n" in text
    assert (data / "recovery.signal").exists()


def test_the_recovery_target_of_an_earlier_restore_in_the_backup_is_commented_out(tmp_path):
    # a backup of a server that was restored to a time: left in place, that time would stop a restore to latest
    data = tmp_path / "data"
    data.mkdir()
    (data / "postgresql.auto.conf").write_text(
        "work_mem = '8MB'\n# recovery settings written by pgops.backup\narchive_mode = 'off'\n"
        "recovery_target_action = 'pause'\nrecovery_target_time = '2026-12-02 08:00:00+00'\n"
        "restore_command = '/usr/local/bin/wal-g wal-fetch %f %p'\n  recovery_target_inclusive=off\n")
    plan = {"argv": ["wal-g", "backup-fetch", str(data), "LATEST"],
            "auto_conf": {"restore_command": "wal-g wal-fetch %f %p", "archive_mode": "off"},
            "recovery_signal": False, "standby_signal": True}
    apply_restore_plan(plan, str(data), [].append)
    lines = (data / "postgresql.auto.conf").read_text().splitlines()
    assert lines[:3] == ["work_mem = '8MB'", "# recovery settings written by pgops.backup", "archive_mode = 'off'"]
    assert lines[3:6] == ["# removed by pgops.backup restore # recovery_target_action = 'pause'",
                          "# removed by pgops.backup restore # recovery_target_time = '2026-12-02 08:00:00+00'",
                          "restore_command = '/usr/local/bin/wal-g wal-fetch %f %p'"]
    assert lines[6] == "# removed by pgops.backup restore #   recovery_target_inclusive=off"
    assert lines[-2:] == ["archive_mode = 'off'", "restore_command = 'wal-g wal-fetch %f %p'"]
    assert (data / "standby.signal").exists() and oct((data / "postgresql.auto.conf").stat().st_mode)[-3:] == "600"


def test_restore_plan_of_pgbackrest_leaves_the_directory_to_the_tool(tmp_path):
    calls = []
    apply_restore_plan({"argv": ["pgbackrest", "restore"], "auto_conf": {}, "recovery_signal": False},
                       str(tmp_path), calls.append)
    assert calls == [["pgbackrest", "restore"]]
    assert list(tmp_path.iterdir()) == []


def test_a_failing_fetch_writes_nothing(tmp_path):
    def run(argv):
        raise RuntimeError("fetch failed")

    with pytest.raises(RuntimeError):
        apply_restore_plan({"argv": ["x"], "auto_conf": {"a": "b"}, "recovery_signal": True}, str(tmp_path), run)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,quoted", [("orders", '"orders"'), ("shop.orders", '"shop"."orders"'),
                                         ("Mixed_Case$1", '"Mixed_Case$1"')])
def test_table_names_are_quoted_as_identifiers(name, quoted):
    assert quote_table(name) == quoted


@pytest.mark.parametrize("name", ["", "orders; DROP TABLE x", "a.b.c", "1orders", 'x"y', None])
def test_anything_but_a_table_name_is_refused(name):
    with pytest.raises(ValueError):
        quote_table(name)
