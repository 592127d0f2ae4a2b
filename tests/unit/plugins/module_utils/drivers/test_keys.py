# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which key each encrypted repository uses: a key in use on a host is never replaced."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.drivers.keys import controller_files, plan
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import PgBackRest, render_config
from ansible_collections.pgops.backup.plugins.module_utils.drivers.walg import WalG
from ansible_collections.pgops.backup.plugins.module_utils.policy import normalize_policy, with_passphrases

SECRETS_DIR = "/inventory/.pgops-secrets"
CONF = "/etc/pgbackrest/pgbackrest.conf"
WALG_JSON = "/var/lib/postgresql/.walg.json"
PG = {"path": "/var/lib/postgresql/15/main", "port": 5432, "socket_path": "/var/run/postgresql"}
CLUSTER = {"data_directory": "/var/lib/postgresql/15/main", "port": 5432, "socket_dir": "/var/run/postgresql"}
IN_USE = "key-in-use-on-the-host-0123456789abcdef"
OTHER = "another-key-0123456789abcdefghijklmnop"
NEW = "newly-generated-key-0123456789abcdefghij"
OWN = SECRETS_DIR + "/db1/main-offsite.passphrase"
SHARED = SECRETS_DIR + "/main-offsite.passphrase"
KEYS = (IN_USE, OTHER, NEW)


def s3(**overrides):
    repo = {"name": "offsite", "type": "s3", "bucket": "pg-backups", "endpoint": "minio:9000", "prefix": "/db1",
            "access_key": "AKEXAMPLE", "secret_key": "SKEXAMPLE"}
    repo.update(overrides)
    return repo


def policy(*repositories, **settings):
    return normalize_policy(repositories=list(repositories) or [{"name": "local", "type": "posix"}, s3()], **settings)


def conf(key=IN_USE, role="standalone", repositories=None):
    """A host's pgbackrest.conf as the role writes it, its repositories encrypted with ``key``."""
    plain = policy(*(repositories or [{"name": "local", "type": "posix"}, s3()]))
    names = [r["name"] for r in plain["repositories"] if r["encrypt"]]
    return render_config(PgBackRest(with_passphrases(plain, dict.fromkeys(names, key))).config_sections(
        role, PG, 2, repository_host="backup1", pg_host="db1"), "Managed by pgops.backup")


def decided(the_policy=None, configs=(), controller=None, **kwargs):
    the_policy = the_policy or policy()
    new_keys = dict((r["name"], NEW) for r in the_policy["repositories"])
    result = plan(the_policy, list(configs), controller or {}, new_keys, kwargs.pop("host", "db1"), SECRETS_DIR,
                  **kwargs)
    for message in result["refusals"]:
        for key in KEYS:
            assert key not in message
    return result


class TestControllerFiles:
    def test_each_encrypted_repository_has_a_file_of_its_host_then_the_older_shared_one(self):
        assert controller_files(policy(), SECRETS_DIR, "db1") == [
            {"name": "offsite", "length": 64, "files": [OWN, SHARED]}]

    def test_wal_g_s_key(self):
        assert controller_files(policy(s3(), tool="walg"), SECRETS_DIR, "db1") == [
            {"name": "offsite", "length": 32, "files": [SECRETS_DIR + "/db1/main-walg.libsodium-key",
                                                        SECRETS_DIR + "/main-walg.libsodium-key"]}]


class TestKeyInUse:
    def test_a_missing_controller_copy_is_taken_back_from_the_host(self):
        result = decided(configs=[{"host": "db1", "path": CONF, "text": conf()}])
        assert result["refusals"] == [] and result["keys"] == {"offsite": IN_USE}
        assert result["record"] == [{"path": OWN, "key": IN_USE,
                                     "source": "taken back from db1:%s (repo2-cipher-pass)" % CONF}]

    def test_the_same_key_on_both_sides_changes_nothing(self):
        result = decided(configs=[{"host": "db1", "path": CONF, "text": conf()}], controller={OWN: IN_USE + "\n"})
        assert result == {"keys": {"offsite": IN_USE}, "record": [], "refusals": []}

    def test_another_controller_key_is_refused_naming_the_repository_the_host_and_the_file(self):
        result = decided(configs=[{"host": "db1", "path": CONF, "text": conf()}], controller={OWN: OTHER})
        [message] = result["refusals"]
        assert message.startswith("repository 'offsite' (repo2) of stanza main is encrypted with the key in "
                                  "db1:%s (repo2-cipher-pass), and %s holds another" % (CONF, OWN))
        assert "Put the host's key into %s" % OWN in message
        assert result["keys"] == {} and result["record"] == []

    def test_another_passphrase_in_the_policy_is_refused_naming_the_variable(self):
        result = decided(policy({"name": "local", "type": "posix"}, s3(cipher_passphrase=OTHER)),
                         configs=[{"host": "db1", "path": CONF, "text": conf()}])
        [message] = result["refusals"]
        assert "pg_backup_repositories[1].cipher_passphrase holds another" in message
        assert "db1:%s (repo2-cipher-pass)" % CONF in message

    def test_the_policy_s_own_passphrase_when_it_is_the_one_in_use(self):
        result = decided(policy({"name": "local", "type": "posix"}, s3(cipher_passphrase=IN_USE)),
                         configs=[{"host": "db1", "path": CONF, "text": conf()}])
        assert result == {"keys": {"offsite": IN_USE}, "record": [], "refusals": []}

    def test_the_older_shared_file_counts_as_the_controller_s_copy(self):
        result = decided(configs=[{"host": "db1", "path": CONF, "text": conf()}], controller={SHARED: IN_USE})
        assert result["keys"] == {"offsite": IN_USE} and [r["path"] for r in result["record"]] == [OWN]
        refused = decided(configs=[{"host": "db1", "path": CONF, "text": conf()}], controller={SHARED: OTHER})
        assert "%s holds another" % SHARED in refused["refusals"][0]

    def test_a_reordered_or_renamed_repository_keeps_its_key(self):
        moved = policy(s3(name="remote"), {"name": "local", "type": "posix"})
        result = decided(moved, configs=[{"host": "db1", "path": CONF, "text": conf()}])
        assert result["keys"] == {"remote": IN_USE} and result["refusals"] == []

    def test_a_key_for_another_location_is_not_this_repository_s_and_stays_on_the_controller(self):
        result = decided(policy(s3(prefix="/db1-new")), configs=[{"host": "db1", "path": CONF, "text": conf()}])
        assert result["keys"] == {"offsite": NEW} and result["refusals"] == []
        generated, retired = result["record"]
        assert generated["path"] == OWN and generated["key"] == NEW
        assert retired["key"] == IN_USE and retired["path"].startswith(SECRETS_DIR + "/db1/main-retired-")
        assert retired["path"].endswith(".passphrase")
        assert retired["source"] == ("kept from db1:%s (repo2-cipher-pass): the key of s3 minio 9000 pg-backups /db1, "
                                     "a repository no longer in the policy" % CONF)

    def test_a_retired_key_the_controller_already_holds_is_not_copied_again(self):
        configs = [{"host": "db1", "path": CONF, "text": conf()}]
        assert decided(policy(s3(prefix="/db1-new")), configs=configs, controller={OWN: IN_USE})["record"] == []
        retired = decided(policy(s3(prefix="/db1-new")), configs=configs)["record"][1]["path"]
        assert decided(policy(s3(prefix="/db1-new")), configs=configs)["record"][1]["path"] == retired

    def test_turning_encryption_off_for_a_repository_in_use_is_refused(self):
        result = decided(policy(s3(encrypt=False)), configs=[{"host": "db1", "path": CONF, "text": conf()}])
        [message] = result["refusals"]
        assert "repository 'offsite' (repo1)" in message and "encrypt: false (pg_backup_repositories[0].encrypt)" \
            in message


class TestRepositoryHost:
    CONFIGS = [{"host": "db1", "path": CONF, "text": conf(role="pg")}]

    def test_the_repository_host_s_key_is_kept(self):
        configs = self.CONFIGS + [{"host": "backup1", "path": CONF, "text": conf(role="repository")}]
        result = decided(configs=configs, storing_host="backup1")
        assert result["keys"] == {"offsite": IN_USE}
        assert result["record"][0]["source"] == "taken back from backup1:%s (repo2-cipher-pass)" % CONF

    def test_hosts_of_one_stanza_that_disagree_are_refused_naming_each_key_s_place(self):
        configs = [{"host": "db1", "path": CONF, "text": conf(key=OTHER)},
                   {"host": "backup1", "path": "/etc/pgbackrest/other.conf", "text": conf(role="repository")}]
        result = decided(configs=configs, storing_host="backup1")
        [message] = result["refusals"]
        assert message.startswith(
            "repository 'offsite' (repo2) of stanza main is encrypted with different keys in db1:%s "
            "(repo2-cipher-pass) and backup1:/etc/pgbackrest/other.conf (repo2-cipher-pass)" % CONF)
        assert result["keys"] == {}

    def test_a_disk_repository_on_the_database_host_is_not_the_repository_host_s(self):
        local = {"name": "local", "type": "posix", "encrypt": True}
        configs = [{"host": "db1", "path": CONF, "text": conf(repositories=[local])}]
        result = decided(policy(local), configs=configs, storing_host="backup1")
        assert result["keys"] == {"local": NEW}
        # its backups are still on the database host's disk: the key is kept on the controller
        assert [r["key"] for r in result["record"]] == [NEW, IN_USE]
        assert decided(policy(local), configs=configs)["keys"] == {"local": IN_USE}


class TestNoKeyAnywhere:
    def test_a_new_key_is_generated_and_kept_in_the_host_s_directory(self):
        result = decided()
        assert result["keys"] == {"offsite": NEW}
        [record] = result["record"]
        assert record["path"] == OWN and record["key"] == NEW and record["source"].startswith("generated")

    def test_each_host_gets_its_own(self):
        assert decided(host="db2")["record"][0]["path"] == SECRETS_DIR + "/db2/main-offsite.passphrase"

    def test_the_controller_s_copy_serves_a_host_that_lost_its_configuration(self):
        assert decided(controller={OWN: IN_USE}) == {"keys": {"offsite": IN_USE}, "record": [], "refusals": []}

    def test_the_older_shared_file_serves_it_and_is_copied_for_the_host(self):
        result = decided(controller={SHARED: IN_USE})
        assert result["keys"] == {"offsite": IN_USE}
        assert result["record"] == [{"path": OWN, "key": IN_USE, "source": "copied from %s" % SHARED}]

    def test_the_policy_s_own_passphrase_is_not_copied_to_the_controller(self):
        result = decided(policy(s3(cipher_passphrase=OTHER)))
        assert result == {"keys": {"offsite": OTHER}, "record": [], "refusals": []}

    def test_an_unencrypted_repository_needs_none(self):
        assert decided(policy(s3(encrypt=False))) == {"keys": {}, "record": [], "refusals": []}


class TestWalG:
    RAW = bytes(range(32))
    HEX, BASE64 = RAW.hex(), base64.b64encode(bytes(range(32))).decode("ascii")
    FILES = [SECRETS_DIR + "/db1/main-walg.libsodium-key", SECRETS_DIR + "/main-walg.libsodium-key"]

    def walg_json(self, key):
        the_policy = policy(s3(), tool="walg")
        return json.dumps(WalG(the_policy, CLUSTER).config(the_policy["repositories"][0], 2, libsodium_key=key))

    def test_the_key_in_walg_json_is_kept_and_taken_back(self):
        result = decided(policy(s3(), tool="walg"), configs=[{"host": "db1", "path": WALG_JSON,
                                                              "text": self.walg_json(self.HEX)}])
        assert result["keys"] == {"offsite": self.HEX}
        assert result["record"] == [{"path": self.FILES[0], "key": self.HEX,
                                     "source": "taken back from db1:%s (WALG_LIBSODIUM_KEY)" % WALG_JSON}]

    def test_the_same_key_in_another_encoding_is_the_same_key(self):
        result = decided(policy(s3(), tool="walg"), explicit_key=self.BASE64,
                         configs=[{"host": "db1", "path": WALG_JSON, "text": self.walg_json(self.HEX)}])
        assert result == {"keys": {"offsite": self.BASE64}, "record": [], "refusals": []}

    def test_another_walg_libsodium_key_is_refused(self):
        result = decided(policy(s3(), tool="walg"), explicit_key="k" * 32,
                         configs=[{"host": "db1", "path": WALG_JSON, "text": self.walg_json(self.HEX)}])
        [message] = result["refusals"]
        assert message.startswith("wal-g repository 'offsite' of stanza main is encrypted with the key in "
                                  "db1:%s (WALG_LIBSODIUM_KEY), and walg_libsodium_key holds another" % WALG_JSON)
        assert self.HEX not in message

    def test_another_controller_key_is_refused(self):
        result = decided(policy(s3(), tool="walg"), controller={self.FILES[0]: "k" * 32},
                         configs=[{"host": "db1", "path": WALG_JSON, "text": self.walg_json(self.HEX)}])
        assert "%s holds another" % self.FILES[0] in result["refusals"][0]

    def test_a_malformed_walg_libsodium_key_is_refused_with_what_it_must_be(self):
        result = decided(policy(s3(), tool="walg"), explicit_key="00" * 31)
        assert result["refusals"][0].startswith("walg_libsodium_key: expected 32 bytes")

    def test_an_unreadable_walg_json_is_refused_naming_it(self):
        result = decided(policy(s3(), tool="walg"), configs=[{"host": "db1", "path": WALG_JSON, "text": "{oops"}])
        assert result["refusals"][0].startswith("db1:%s: not a JSON object" % WALG_JSON)

    def test_a_new_key_is_32_characters_for_every_wal_g(self):
        result = decided(policy(s3(), tool="walg"))
        assert result["keys"] == {"offsite": NEW} and result["record"][0]["path"] == self.FILES[0]


@pytest.mark.parametrize("tool", ["pgbackrest", "walg"])
def test_no_message_holds_a_key(tool):
    if tool == "pgbackrest":
        configs = [{"host": "db1", "path": CONF, "text": conf()}]
    else:
        configs = [{"host": "db1", "path": WALG_JSON, "text": TestWalG().walg_json(IN_USE[:32])}]
    result = decided(policy(s3(), tool=tool), configs=configs, controller={
        SHARED: OTHER, SECRETS_DIR + "/main-walg.libsodium-key": OTHER[:32]})
    assert result["refusals"] and all(IN_USE[:32] not in m and OTHER[:32] not in m for m in result["refusals"])
