# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters of the key step: slurp's results in, the plan out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.filter.keys import (
    FilterModule, encryption_key_files, encryption_key_plan)
from ansible_collections.pgops.backup.plugins.filter.policy import backup_policy

IN_USE = "key-in-use-on-the-host-0123456789abcdef"
CONF = "/etc/pgbackrest/pgbackrest.conf"
POLICY = backup_policy({"repositories": [{"name": "offsite", "type": "s3", "bucket": "b", "endpoint": "minio:9000",
                                          "access_key": "a", "secret_key": "s"}]})
TEXT = ("[global]\nrepo1-type=s3\nrepo1-path=/pgbackrest\nrepo1-s3-bucket=b\nrepo1-s3-endpoint=minio\n"
        "repo1-storage-port=9000\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=%s\n" % IN_USE)


def slurped(host, path, content):
    """One result of the slurp loop over [{'host', 'path'}]."""
    return {"item": {"host": host, "path": path}, "content": base64.b64encode(content).decode("ascii"),
            "encoding": "base64", "source": path, "changed": False}


def test_filters_are_registered():
    assert sorted(FilterModule().filters()) == ["encryption_key_files", "encryption_key_plan"]


def test_files_of_the_host():
    assert encryption_key_files(POLICY, "/inv/.pgops-secrets", "db1")[0]["files"][0] == \
        "/inv/.pgops-secrets/db1/main-offsite.passphrase"


def test_the_plan_reads_slurp_s_results_and_leaves_out_the_files_not_found():
    results = [slurped("db1", CONF, TEXT.encode("utf-8")),
               {"item": {"host": "backup1", "path": CONF}, "skipped": True, "changed": False}]
    plan = encryption_key_plan(POLICY, results, None, {"offsite": "n" * 64}, "db1", "/inv/.pgops-secrets")
    assert plan["keys"] == {"offsite": IN_USE} and plan["refusals"] == []
    assert plan["record"][0]["source"] == "taken back from db1:%s (repo1-cipher-pass)" % CONF


def test_a_file_that_is_no_text_is_refused_not_ignored():
    with pytest.raises(AnsibleFilterError, match="db1:%s is not text" % CONF):
        encryption_key_plan(POLICY, [slurped("db1", CONF, b"\xff\xfe")], {}, {"offsite": "n" * 64}, "db1", "/s")
