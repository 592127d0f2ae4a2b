# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore_test role's filters: the policy its throwaway host reads and that host's pgbackrest.conf."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.restore_test import (
    FilterModule, restore_test_pgbackrest_conf, restore_test_policy)
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import parse_config
from ansible_collections.pgops.backup.plugins.module_utils.policy import normalize_policy

POLICY = normalize_policy(repositories=[
    {"name": "local", "type": "posix"},
    {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio:9000", "uri_style": "path",
     "prefix": "/db1", "access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t-example"}])


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == ["restore_test_pgbackrest_conf", "restore_test_policy",
                                                "restore_test_report"]


def test_the_config_reads_the_s3_repository_with_the_key_the_controller_keeps(tmp_path):
    (tmp_path / "db1").mkdir()
    (tmp_path / "db1" / "main-offsite.passphrase").write_text("the-key-db1-uses\n")
    text = restore_test_pgbackrest_conf(restore_test_policy(POLICY, str(tmp_path), "db1"), 2)
    assert text.startswith("# Managed by pgops.backup: the restore test's pgBackRest.")
    config = parse_config(text)
    assert config["global"]["repo2-path"] == "/db1" and config["global"]["repo2-cipher-pass"] == "the-key-db1-uses"
    assert "repo1-type" not in config["global"] and "repo1-path" not in config["global"]


def test_a_missing_key_fails_naming_the_repository():
    with pytest.raises(AnsibleFilterError, match=r"^pgops.backup restore test: pg_backup_repositories\[1\]"
                                                 r".cipher_passphrase: repository 'offsite' is encrypted"):
        restore_test_policy(POLICY, "/nonexistent", "db1")
