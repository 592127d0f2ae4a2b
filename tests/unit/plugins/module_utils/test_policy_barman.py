# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policy with pg_backup_tool barman: what Barman 3.4 and 3.13 cannot hold is refused, naming the variable."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy, normalize_policy

FULL_ONLY = {"full": "30 1 * * *", "diff": "", "incr": "", "expire": ""}


def local(**overrides):
    repo = {"name": "local", "type": "posix", "path": "/var/lib/barman", "retention": {"full": 2}}
    repo.update(overrides)
    return repo


def offsite(**overrides):
    repo = {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio:9000", "encrypt": False,
            "access_key": "AKIAEXAMPLEACCESS", "secret_key": "s3cr3t/EXAMPLE+key"}
    repo.update(overrides)
    return repo


def barman(**overrides):
    settings = {"tool": "barman", "repositories": [local()], "schedule": FULL_ONLY, "repository_host": "barman1"}
    settings.update(overrides)
    return settings


def refused(variable, **settings):
    with pytest.raises(PolicyError) as info:
        normalize_policy(**barman(**settings))
    assert info.value.variable == variable, str(info.value)
    return str(info.value)


def test_a_posix_catalog_behind_a_barman_server_is_accepted():
    policy = normalize_policy(**barman(compression="gzip"))
    assert policy["tool"] == "barman" and policy["repository_host"] == "barman1"
    assert [repo["type"] for repo in policy["repositories"]] == ["posix"]


def test_an_s3_copy_is_refused_until_the_role_deploys_barman_cloud():
    message = refused("pg_backup_repositories[1]", repositories=[local(), offsite()])
    assert "not deployed by this collection yet" in message


def test_barman_without_a_barman_server_is_refused():
    assert "Barman server" in refused("pg_backup_repository_host", repository_host=None)


def test_a_posix_repository_without_a_path_lives_in_barmans_home():
    policy = normalize_policy(**barman(repositories=[{"name": "local", "type": "posix"}]))
    assert policy["repositories"][0]["path"] == "/var/lib/barman"


@pytest.mark.parametrize("repositories", [[offsite()], [local(), local(name="second", path="/srv/barman")],
                                          [local(), offsite(), offsite(name="third", bucket="other")]])
def test_anything_but_one_catalog_and_at_most_one_copy_is_refused(repositories):
    assert "one catalog per server" in refused("pg_backup_repositories", repositories=repositories)


def test_an_encrypted_repository_is_refused_naming_barmans_first_release_that_encrypts():
    message = refused("pg_backup_repositories[0].encrypt", repositories=[local(encrypt=True)])
    assert "GPG encryption arrives in Barman 3.14" in message and "set encrypt: false" in message


def test_an_s3_copy_left_encrypted_by_default_is_refused_saying_so():
    copy = offsite()
    del copy["encrypt"]
    message = refused("pg_backup_repositories[1].encrypt", repositories=[local(), copy])
    assert "encrypted by default" in message


def test_tls_verification_turned_off_is_refused():
    message = refused("pg_backup_repositories[1].verify_tls", repositories=[local(), offsite(verify_tls=False)])
    assert "always verifies TLS" in message


@pytest.mark.parametrize("kind", ["diff", "incr"])
def test_an_incremental_schedule_is_refused_naming_where_it_was_set(kind):
    schedule = dict(FULL_ONLY, **{kind: "30 1 * * 1-6"})
    assert "full backups only" in refused("pg_backup_schedule.%s" % kind, schedule=schedule)
    repository = local(schedule={kind: "0 2 * * *"})
    refused("pg_backup_repositories[0].schedule.%s" % kind, repositories=[repository])


def test_the_collections_default_schedule_with_its_daily_differential_is_refused():
    # users switching from pgBackRest must turn diff off: Barman would otherwise take no backup on those days
    refused("pg_backup_schedule.diff", schedule=None)


def test_a_differential_retention_is_refused():
    refused("pg_backup_repositories[0].retention.diff", repositories=[local(retention={"full": 2, "diff": 3})])


def test_brotli_is_refused_naming_what_barman_compresses_with():
    message = refused("pg_backup_compression", compression="brotli")
    assert "gzip, bzip2, zstd, lz4, lzma, none" in message


def test_the_modules_minimal_policy_names_barmans_catalog():
    assert minimal_policy("barman")["repositories"] == [{"index": 1, "name": "barman"}]
