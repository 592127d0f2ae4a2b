# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore test: which repositories its throwaway host reads, the keys it takes from the controller (never
generated), and the report of what it proved."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.policy import normalize_policy
from ansible_collections.pgops.backup.plugins.module_utils.restore.restore_test import (
    readable_policy, report, with_controller_keys)

S3 = {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio:9000", "uri_style": "path",
      "prefix": "/db1", "access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t-example"}


def policy(*repositories, **settings):
    return normalize_policy(repositories=list(repositories) or None, **settings)


class TestReadablePolicy:
    def test_keeps_the_s3_repositories_with_their_index(self):
        readable = readable_policy(policy({"name": "local", "type": "posix"}, S3))
        assert [(r["index"], r["name"]) for r in readable["repositories"]] == [(2, "offsite")]

    def test_a_policy_with_only_directories_on_a_host_is_refused_naming_the_variable(self):
        with pytest.raises(PolicyError, match=r"^pg_backup_repositories: .*S3.* only posix ones \(local\)"):
            readable_policy(policy({"name": "local", "type": "posix"}))

    def test_a_repository_index_it_does_not_read_is_refused(self):
        with pytest.raises(PolicyError, match=r"^pg_backup_drill_repository: repository 1 .* are 2 \(offsite\)"):
            readable_policy(policy({"name": "local", "type": "posix"}, S3), repository=1)
        assert readable_policy(policy({"name": "local", "type": "posix"}, S3), repository=2)

    def test_walg_is_refused_naming_the_tool(self):
        with pytest.raises(PolicyError, match="^pg_backup_tool: .*walg is not supported"):
            readable_policy(policy(S3, tool="walg"))


class TestControllerKeys:
    def test_the_database_hosts_key_is_read_from_its_directory(self, tmp_path):
        (tmp_path / "db1").mkdir()
        (tmp_path / "db1" / "main-offsite.passphrase").write_text("the-key-db1-uses\n")
        keyed = with_controller_keys(readable_policy(policy(S3)), str(tmp_path), "db1")
        assert keyed["repositories"][0]["cipher_passphrase"] == "the-key-db1-uses"

    def test_the_shared_file_of_the_earlier_layout_is_read_too(self, tmp_path):
        (tmp_path / "main-offsite.passphrase").write_text("shared-key\n")
        keyed = with_controller_keys(readable_policy(policy(S3)), str(tmp_path), "db1")
        assert keyed["repositories"][0]["cipher_passphrase"] == "shared-key"

    def test_the_policys_own_passphrase_wins_and_nothing_is_read(self, tmp_path):
        keyed = with_controller_keys(readable_policy(policy(dict(S3, cipher_passphrase="from-the-vault-0123456789"))),
                                     str(tmp_path), "db1")
        assert keyed["repositories"][0]["cipher_passphrase"] == "from-the-vault-0123456789"

    def test_an_unencrypted_repository_needs_no_key(self, tmp_path):
        keyed = with_controller_keys(readable_policy(policy(dict(S3, encrypt=False))), str(tmp_path), "db1")
        assert keyed["repositories"][0]["cipher_passphrase"] is None

    def test_no_key_anywhere_is_refused_and_none_is_made(self, tmp_path):
        with pytest.raises(PolicyError) as raised:
            with_controller_keys(readable_policy(policy(S3)), str(tmp_path), "db1")
        message = str(raised.value)
        assert message.startswith("pg_backup_repositories[0].cipher_passphrase: repository 'offsite' is encrypted")
        assert str(tmp_path / "db1" / "main-offsite.passphrase") in message and "PGOPS_RESTORE_TEST_SECRETS_DIR" in message
        assert list(tmp_path.iterdir()) == []


PASSED = {"passed": True, "backup": "20261126-010203F", "target": {"type": "latest", "value": None},
          "rto_seconds": 12.34, "checked_seconds": 14.5,
          "recovery": {"replay_end_lsn": "0/9000110", "replay_end_time": "2026-11-26T10:00:00.000000Z",
                       "archive_end_segment": "000000010000000000000009", "rpo_seconds": 6.0, "promoted": True},
          "checks": [{"name": "amcheck shop", "passed": True, "detail": "2 btree indexes checked"},
                     {"name": "orders total", "passed": True, "value": "20000", "detail": "got '20000', expected '20000'"}]}


class TestReport:
    def test_a_passed_restore_names_the_backup_the_rto_where_replay_ended_and_each_check(self):
        data = report(PASSED, "db1", readable_policy(policy(S3)))
        assert data["passed"] is True and data["error"] is None
        assert (data["backup"], data["rto_seconds"], data["checked_seconds"]) == ("20261126-010203F", 12.34, 14.5)
        assert (data["replay_end_lsn"], data["archive_end_segment"]) == ("0/9000110", "000000010000000000000009")
        assert data["lines"] == [
            "restore test PASSED: db1's pgbackrest stanza main from offsite",
            "backup restored: 20261126-010203F (target latest)",
            "RTO: 12.3 s to a usable cluster, 14.5 s to a checked one",
            "replay ended at LSN 0/9000110, last commit 2026-11-26T10:00:00.000000Z; the archive ends at "
            "000000010000000000000009",
            "check passed: amcheck shop (2 btree indexes checked)",
            "check passed: orders total (got '20000', expected '20000')"]

    def test_a_failed_check_fails_the_report_and_is_named(self):
        failed = dict(PASSED, passed=False, msg="checks failed: orders total", checks=[
            {"name": "orders total", "passed": False, "value": "20000", "detail": "got '20000', expected '1'"}])
        data = report(failed, "db1", readable_policy(policy(S3)))
        assert data["passed"] is False and data["error"] == "checks failed: orders total"
        assert "check FAILED: orders total (got '20000', expected '1')" in data["lines"]
        assert data["lines"][0].startswith("restore test FAILED")

    def test_a_restore_that_failed_says_why_without_figures_it_does_not_have(self):
        data = report({"passed": False, "target": {"type": "latest"}, "msg": "pgbackrest failed (exit 82)"}, "db1",
                      readable_policy(policy(S3)))
        assert data["lines"] == ["restore test FAILED: db1's pgbackrest stanza main from offsite",
                                 "backup restored: none (target latest)", "error: pgbackrest failed (exit 82)"]
        assert data["rto_seconds"] is None and data["checks"] == []

    def test_the_report_holds_no_secret(self):
        keyed = dict(readable_policy(policy(dict(S3, cipher_passphrase="passphrase-example-0123456789"))))
        text = repr(report(PASSED, "db1", keyed))
        assert not [s for s in ("AKIAEXAMPLE", "s3cr3t-example", "passphrase-example-0123456789") if s in text]
