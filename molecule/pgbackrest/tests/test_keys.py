"""An encryption key in use is never replaced. With the controller's secrets directory gone (another operator's
clone, a CI runner), a converge changes no key on any host, takes every host's key back into the directory, and an
old backup of the encrypted S3 repository still restores (check mode writes nothing there); a different key on the controller or in the policy is
refused before anything changes, naming the repository, the host and where the other key is."""
import os
import re
import stat

import pytest

from labtest import (
    ansible_playbook, assert_fails_first, assert_only_the_controller_changed, host, module, secrets_dir,
    secrets_moved_away)

CONF = "/etc/pgbackrest/pgbackrest.conf"
# (host that holds the repositories, its repository user, the database host whose directory keeps its keys)
RUNNERS = [("pg-bookworm", "postgres", "pg-bookworm"), ("backup-trixie", "pgbackrest", "pg-trixie")]
HOSTS = ("pg-bookworm", "pg-trixie", "backup-trixie")


def cipher_passes():
    """Every host's repoN-cipher-pass options, as root reads pgbackrest.conf."""
    found = {}
    for name in HOSTS:
        text = host(name).check_output("cat %s", CONF)
        found[name] = dict(re.findall(r"^(repo\d+-cipher-pass)=(.*)$", text, re.M))
    return found


def controller_key(db):
    return os.path.join(secrets_dir(), db, "main-offsite.passphrase")


@pytest.fixture(scope="module")
def old_backups():
    """A full backup in the encrypted S3 repository (repo2) of each backup host, taken before the secrets go."""
    labels = {}
    for name, user, _db in RUNNERS:
        result = module(name, "pg_backup", {"type": "full", "repository": 2}, become_user=user)
        assert result.get("failed") is not True, result.get("msg")
        labels[name] = result["backup"]["label"]
    return labels


def test_a_converge_without_the_controllers_secrets_changes_no_key_and_takes_them_back(old_backups):
    before = cipher_passes()
    assert set(before["pg-bookworm"]) == {"repo2-cipher-pass"} and set(before["backup-trixie"]) == {"repo2-cipher-pass"}
    assert before["pg-trixie"] == {}, "the database host of a repository host holds no key"
    assert before["pg-bookworm"] != before["backup-trixie"], "generated keys are per host"
    with secrets_moved_away() as moved:
        # check mode predicts what the converge takes back, and writes nothing on the controller
        predicted = ansible_playbook("converge.yml", "--check", timeout=1800)
        assert predicted.returncode == 0, predicted.stdout + predicted.stderr
        assert not os.path.exists(secrets_dir()), "check mode wrote on the controller"
        for name, _user, db in RUNNERS:
            assert "%s: taken back from %s:%s (repo2-cipher-pass)" % (controller_key(db), name, CONF) \
                in predicted.stdout, predicted.stdout
        result = ansible_playbook("converge.yml", timeout=1800)
        assert result.returncode == 0, result.stdout + result.stderr
        assert_only_the_controller_changed(result.stdout)
        assert cipher_passes() == before
        for name, _user, db in RUNNERS:
            path = controller_key(db)
            with open(path) as handle:
                assert handle.read() == before[name]["repo2-cipher-pass"] + "\n"
            with open(os.path.join(moved, db, "main-offsite.passphrase")) as handle:
                assert handle.read() == before[name]["repo2-cipher-pass"] + "\n"
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(secrets_dir()).st_mode) == 0o700


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_an_old_backup_of_the_encrypted_repository_still_restores(old_backups, name, user, _db):
    result = module(name, "pg_restore_check", {
        "backup": old_backups[name], "repository": 2,
        "row_counts": [{"database": "shop", "table": "orders", "equals": 20000}]}, become_user=user)
    assert result.get("failed") is not True, result.get("msg")
    assert result["passed"] is True and result["backup"] == old_backups[name]


def host_state():
    h = host("pg-bookworm")
    return (h.check_output("sha256sum %s" % CONF), h.check_output("crontab -l -u postgres"),
            h.check_output("sudo -u postgres psql -XAtc 'SELECT pg_postmaster_start_time()'"))


def test_another_key_on_the_controller_is_refused_first_naming_the_repository_host_and_file():
    path = controller_key("pg-bookworm")
    with open(path) as handle:
        original = handle.read()
    other = "another-key-of-sixty-four-characters-0123456789abcdefghijklmnopq"
    with open(path, "w") as handle:
        handle.write(other + "\n")
    try:
        output = assert_fails_first(
            "converge.yml", "pg-bookworm", {},
            "repository 'offsite' (repo2) of stanza main is encrypted with the key in pg-bookworm:%s "
            "(repo2-cipher-pass), and %s holds another" % (CONF, path), host_state)
    finally:
        with open(path, "w") as handle:
            handle.write(original)
    assert original.strip() not in output and other not in output


def test_another_passphrase_in_the_policy_is_refused_first_naming_the_variable():
    # the lab's repositories (molecule.yml) but for the passphrase
    repositories = [
        {"name": "local", "type": "posix", "path": "/var/lib/pgbackrest", "retention": {"full": 2, "diff": 3}},
        {"name": "offsite", "type": "s3", "bucket": "pgops-pgbackrest", "endpoint": "minio:9000",
         "region": "us-east-1", "uri_style": "path", "prefix": "/{{ inventory_hostname }}",
         "access_key": "{{ lab_minio.lab_minio_access_key }}", "secret_key": "{{ lab_minio.lab_minio_secret_key }}",
         "ca_file": "/usr/local/share/ca-certificates/pgops-lab.crt", "retention": {"full": 14, "type": "time"},
         "cipher_passphrase": "a-passphrase-from-the-vault-0123456789"}]
    output = assert_fails_first(
        "converge.yml", "pg-bookworm", {"pg_backup_repositories": repositories},
        "pg_backup_repositories[1].cipher_passphrase holds another", host_state)
    assert "repository 'offsite' (repo2) of stanza main" in output and "pg-bookworm:%s" % CONF in output
    assert "a-passphrase-from-the-vault" not in output
