# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dated backup directories: labels, the partial directory renamed when complete, manifests, retention."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets

NOW = 1795677600  # 2026-11-26 07:20:00 UTC
DAY = 86400


def labels_days_ago(*days):
    return [backup_sets.label_for(NOW - d * DAY) for d in days]


class TestLabels:
    def test_label_is_utc_and_round_trips(self):
        assert backup_sets.label_for(NOW) == "20261126T072000Z"
        assert backup_sets.label_epoch("20261126T072000Z") == NOW
        assert backup_sets.iso(NOW) == "2026-11-26T07:20:00Z"


class TestBackupSet:
    def test_partial_until_finished_then_complete_with_manifest(self, tmp_path):
        root = str(tmp_path)
        os.makedirs(os.path.join(root, "logical"))
        backup = backup_sets.BackupSet(root, "logical", NOW)
        partial = backup.create()
        assert os.path.basename(partial) == ".partial-20261126T072000Z"
        os.makedirs(os.path.join(partial, "shop.dir"))
        with open(os.path.join(partial, "shop.dir", "toc.dat"), "wb") as handle:
            handle.write(b"toc")
        assert backup_sets.list_backups(root, "logical") == []  # a partial one is never listed
        manifest = backup.finish(NOW + 2.5, "15.10", {"databases": []})
        assert not os.path.exists(partial)
        listed = backup_sets.list_backups(root, "logical")
        assert [b["label"] for b in listed] == ["20261126T072000Z"]
        assert manifest["files"] == [{"path": "shop.dir/toc.dat", "size": 3,
                                      "sha256": hashlib.sha256(b"toc").hexdigest()}]
        assert manifest["status"] == "complete" and manifest["duration_seconds"] == 2.5
        assert manifest["started"] == "2026-11-26T07:20:00Z" and manifest["server_version"] == "15.10"
        with open(os.path.join(root, "logical", "20261126T072000Z", "manifest.json")) as handle:
            assert json.load(handle) == manifest
        assert backup_sets.mismatched_files(listed[0]["path"], manifest) == []

    def test_a_changed_file_no_longer_matches_its_manifest(self, tmp_path):
        root = str(tmp_path)
        os.makedirs(os.path.join(root, "base"))
        backup = backup_sets.BackupSet(root, "base", NOW)
        with open(os.path.join(backup.create(), "base.tar"), "w") as handle:
            handle.write("data")
        manifest = backup.finish(NOW + 1, "17.2")
        with open(os.path.join(backup.final, "base.tar"), "w") as handle:
            handle.write("date")
        assert backup_sets.mismatched_files(backup.final, manifest) == ["base.tar"]

    def test_discard_leaves_nothing(self, tmp_path):
        root = str(tmp_path)
        os.makedirs(os.path.join(root, "logical"))
        backup = backup_sets.BackupSet(root, "logical", NOW)
        backup.create()
        backup.discard()
        assert os.listdir(os.path.join(root, "logical")) == []

    def test_an_existing_label_is_refused(self, tmp_path):
        root = str(tmp_path)
        os.makedirs(os.path.join(root, "logical", "20261126T072000Z"))
        with pytest.raises(ValueError, match="exists already"):
            backup_sets.BackupSet(root, "logical", NOW).create()

    def test_unknown_kind(self, tmp_path):
        with pytest.raises(ValueError, match="kind"):
            backup_sets.BackupSet(str(tmp_path), "tar", NOW)

    def test_a_directory_without_a_complete_manifest_is_not_a_backup(self, tmp_path):
        root = str(tmp_path)
        for name, manifest in (("20261125T010000Z", None), ("20261125T020000Z", {"status": "running"}),
                               ("not-a-label", {"status": "complete"})):
            os.makedirs(os.path.join(root, "logical", name))
            if manifest:
                with open(os.path.join(root, "logical", name, "manifest.json"), "w") as handle:
                    json.dump(manifest, handle)
        assert backup_sets.list_backups(root, "logical") == []


class TestLock:
    def test_second_holder_is_refused_until_released(self, tmp_path):
        first, second = backup_sets.KindLock(str(tmp_path)), backup_sets.KindLock(str(tmp_path))
        assert first.acquire()
        assert not second.acquire()
        first.release()
        assert second.acquire()
        second.release()

    def test_stale_partials_are_all_partials_but_ours(self, tmp_path):
        root = str(tmp_path)
        for name in (".partial-20261125T010000Z", ".partial-20261126T072000Z", "20261124T010000Z"):
            os.makedirs(os.path.join(root, "base", name))
        ours = os.path.join(root, "base", ".partial-20261126T072000Z")
        assert backup_sets.stale_partials(root, "base", keep=ours) == [
            os.path.join(root, "base", ".partial-20261125T010000Z")]


class TestRetention:
    def test_count_keeps_the_newest(self):
        labels = labels_days_ago(5, 1, 3, 2)
        assert backup_sets.expired_labels(labels, {"count": 2, "max_age": None}, NOW) == labels_days_ago(5, 3)

    def test_max_age_keeps_the_younger(self):
        labels = labels_days_ago(10, 6, 1)
        assert backup_sets.expired_labels(labels, {"count": None, "max_age": 7 * DAY}, NOW) == labels_days_ago(10)

    def test_both_keep_what_either_keeps(self):
        labels = labels_days_ago(10, 9, 8, 1)
        assert backup_sets.expired_labels(labels, {"count": 3, "max_age": 2 * DAY}, NOW) == labels_days_ago(10)

    def test_the_only_good_backup_stays_however_old(self):
        labels = labels_days_ago(30)
        assert backup_sets.expired_labels(labels, {"count": None, "max_age": DAY}, NOW) == []
        assert backup_sets.expired_labels(labels_days_ago(30, 20), {"count": None, "max_age": DAY}, NOW) == \
            labels_days_ago(30)

    def test_nothing_to_expire(self):
        assert backup_sets.expired_labels([], {"count": 1, "max_age": None}, NOW) == []

    def test_apply_removes_complete_backups_only_never_partial_ones(self, tmp_path):
        root = str(tmp_path)
        os.makedirs(os.path.join(root, "logical"))
        for days in (3, 2, 1):
            backup = backup_sets.BackupSet(root, "logical", NOW - days * DAY)
            backup.create()
            backup.finish(NOW - days * DAY + 10, "15.10")
        os.makedirs(os.path.join(root, "logical", ".partial-20261120T000000Z"))
        removed = backup_sets.apply_retention(root, "logical", {"count": 1, "max_age": None}, NOW)
        assert removed == labels_days_ago(3, 2)
        assert sorted(os.listdir(os.path.join(root, "logical"))) == [
            ".partial-20261120T000000Z", labels_days_ago(1)[0]]

    @pytest.mark.parametrize("raw, message", [
        ({}, "give count"),
        ({"count": 0}, "count: expected a whole number"),
        ({"count": "x"}, "count: expected a whole number"),
        ({"keep": 3}, "unknown key"),
        ({"max_age": "soon"}, "max_age: expected a duration"),
        ("7", "expected a dictionary"),
    ])
    def test_invalid_retention_names_the_variable(self, raw, message):
        with pytest.raises(PolicyError, match=message) as err:
            backup_sets.normalize_retention(raw, "dumps_logical_retention")
        assert str(err.value).startswith("dumps_logical_retention")

    def test_normalized_retention(self):
        assert backup_sets.normalize_retention({"count": "3", "max_age": "14d"}, "r") == {
            "count": 3, "max_age": 14 * DAY}


def test_inventory_entry_has_the_interface_fields():
    manifest = {"kind": "base", "finished": "2026-11-26T07:21:40Z", "server_version": "17.2",
                "files": [{"path": "a", "size": 10, "sha256": "x"}, {"path": "b", "size": 5, "sha256": "y"}]}
    entry = backup_sets.inventory_entry({"label": "20261126T072000Z", "path": "/p", "manifest": manifest})
    assert entry["type"] == "full" and entry["kind"] == "base" and entry["start"] == NOW and entry["stop"] == NOW + 100
    assert entry["duration"] == 100 and entry["size"] == 15 and entry["error"] is False
    assert entry["repository"] == 1 and entry["lsn_stop"] is None
