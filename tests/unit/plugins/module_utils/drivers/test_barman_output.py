# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Barman's JSON output read alike for 3.4 (bookworm) and 3.13 (trixie), from the lab's own Barman's output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman_output import (
    backup_labels, checks, inventory_backup, newest_archived_segment, receive_wal_lag, server_section)

RELEASES = ("bookworm", "trixie")
# each release's two captured backups, oldest first
LABELS = {"bookworm": ["20261203T154621", "20261203T154622"], "trixie": ["20261203T154813", "20261203T155226"]}


def captured(fixture_text, command, release):
    return fixture_text("barman/%s-%s.captured.json" % (command, release))


@pytest.mark.parametrize("release", RELEASES)
def test_the_done_backups_are_listed_oldest_first(fixture_text, release):
    assert backup_labels(captured(fixture_text, "list-backups", release), "main") == LABELS[release]


def test_backups_not_done_are_left_out_of_the_list():
    text = json.dumps({"main": [
        {"backup_id": "20261203T160000", "status": "WAITING_FOR_WALS"},
        {"backup_id": "20261203T150000", "status": "DONE", "end_time_timestamp": "1796313000"},
        {"backup_id": "20261203T140000", "status": "FAILED"}]})
    assert backup_labels(text, "main") == ["20261203T150000"]


# the oldest backup of each: 3.4 names its size disk_usage and has no cluster size; 3.13 has both
OLDEST = {
    "bookworm": {"label": "20261203T154621", "start": 1796312781, "stop": 1796312782, "wal_stop": "000000010000000000000003",
                 "size": 30674375, "repository_size": 30674375},
    "trixie": {"label": "20261203T154813", "start": 1796312893, "stop": 1796312897, "wal_stop": "000000010000000000000004",
               "size": 31586408, "repository_size": 31263971},
}


@pytest.mark.parametrize("release", RELEASES)
def test_a_backup_reads_the_same_for_both_versions(fixture_text, release):
    backup = inventory_backup(captured(fixture_text, "show-backup-oldest", release), "main", repository=1)
    expected = dict(OLDEST[release], type="full", prior=None, lsn_start="0/3000028", lsn_stop="0/4000000",
                    wal_start="000000010000000000000003", error=False, repository=1)
    expected["duration"] = expected["stop"] - expected["start"]
    assert backup == expected


def test_an_incremental_backup_names_its_parent_and_a_failed_one_is_an_error():
    text = json.dumps({"main": {"backup_id": "B2", "backup_type": "incremental", "status": "FAILED",
                                "base_backup_information": {}, "catalog_information": {"parent_backup_id": "B1"}}})
    backup = inventory_backup(text, "main")
    assert (backup["type"], backup["prior"], backup["error"], backup["start"]) == ("incr", "B1", True, None)


@pytest.mark.parametrize("fixture, segment", [("sync-info-timelines-bookworm", "00000002000000000000000E"),
                                              ("sync-info-trixie", "00000001000000000000000B")])
def test_the_archive_ends_at_the_newest_segment_of_the_newest_timeline(fixture_text, fixture, segment):
    # bookworm's was captured after two restores: timeline 2 has one segment, timeline 3 only its history file
    assert newest_archived_segment(fixture_text("barman/%s.captured.json" % fixture)) == segment


def test_sync_info_without_its_catalog_is_an_error():
    with pytest.raises(ToolError):
        newest_archived_segment('{"_ERROR": ["Unknown server main"]}')


@pytest.mark.parametrize("release", RELEASES)
def test_every_check_passes_with_receive_wal_streaming(fixture_text, release):
    found = checks(captured(fixture_text, "check", release), "main")
    assert found and all(c["ok"] for c in found), [c for c in found if not c["ok"]]
    names = set(c["name"] for c in found)
    assert {"postgresql", "postgresql_streaming", "replication_slot", "receive_wal_running", "backup_maximum_age",
            "minimum_redundancy_requirements"} <= names
    # Barman reports the WAL archive only while it has never received a segment
    assert "wal_archive" not in names


@pytest.mark.parametrize("release", RELEASES)
def test_receive_wal_stopped_fails_its_check_and_the_slots(fixture_text, release):
    failing = dict((c["name"], c["hint"]) for c in checks(captured(fixture_text, "check-receive-wal-stopped", release), "main")
                   if not c["ok"])
    assert failing == {"receive_wal_running": "See the Barman log file for more details",
                       "replication_slot": "slot 'barman_main' not active: is 'receive-wal' running?"}


@pytest.mark.parametrize("release", RELEASES)
def test_a_server_never_streamed_lacks_its_slot_and_its_wal(fixture_text, release):
    failing = dict((c["name"], c["hint"]) for c in checks(captured(fixture_text, "check-no-wal", release), "main")
                   if not c["ok"])
    assert "doesn't exist" in failing["replication_slot"] and "receive-wal --create-slot main" in failing["replication_slot"]
    assert "wal_archive" in failing and "receive_wal_running" in failing


@pytest.mark.parametrize("release, flushed", [("bookworm", 22968), ("trixie", 96)])
def test_receive_wal_lag_is_the_bytes_behind_the_server(fixture_text, release, flushed):
    lag = receive_wal_lag(captured(fixture_text, "replication-status", release), "main")
    assert lag == {"flushed_bytes": flushed, "written_bytes": 0, "sent_bytes": 0}


@pytest.mark.parametrize("release", RELEASES)
def test_no_receive_wal_attached_is_none(fixture_text, release):
    assert receive_wal_lag(captured(fixture_text, "replication-status-none", release), "main") is None


@pytest.mark.parametrize("text, message", [
    ("Traceback (most recent call last)", "barman check did not print JSON"),
    (json.dumps({"_ERROR": ["Unknown server 'other'"]}), "barman check: Unknown server 'other'"),
    (json.dumps({"main": {}}), "barman check does not know server other (it lists main)"),
])
def test_output_that_is_not_the_servers_names_the_command(text, message):
    with pytest.raises(ToolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        server_section(text, "other", "check")
