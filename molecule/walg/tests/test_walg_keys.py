"""wal-g's libsodium key in use is never replaced: with the controller's secrets directory gone, a converge changes
nothing on any host, takes every host's key back, and the oldest backup still restores; another key on the
controller is refused first. Runs after test_walg.py (file order), whose backups it restores."""
import json
import os
import stat

from labtest import (
    ansible_playbook, assert_fails_first, assert_only_the_controller_changed, host, module, secrets_dir,
    secrets_moved_away)
from test_walg import ALL, FULL_CYCLE, backups

WALG_JSON = "/var/lib/postgresql/.walg.json"
KEY_SETTINGS = ("WALG_LIBSODIUM_KEY", "WALG_LIBSODIUM_KEY_TRANSFORM")


def keys_in_use():
    """Every host's key settings, as root reads .walg.json."""
    found = {}
    for name in ALL:
        settings = json.loads(host(name).check_output("cat %s", WALG_JSON))
        found[name] = dict((k, settings.get(k)) for k in KEY_SETTINGS)
    return found


def controller_key(name):
    return os.path.join(secrets_dir(), name, "main-walg.libsodium-key")


def test_a_converge_without_the_controllers_secrets_changes_no_key_and_the_oldest_backup_restores():
    before = keys_in_use()
    assert all(len(k["WALG_LIBSODIUM_KEY"]) == 32 for k in before.values())
    assert len(set(k["WALG_LIBSODIUM_KEY"] for k in before.values())) == len(ALL), "generated keys are per host"
    oldest = dict((name, backups(name)[0]["backup_name"]) for name in FULL_CYCLE)
    with secrets_moved_away():
        result = ansible_playbook("converge.yml", timeout=1800)
        assert result.returncode == 0, result.stdout + result.stderr
        assert_only_the_controller_changed(result.stdout)
        assert keys_in_use() == before
        for name in ALL:
            with open(controller_key(name)) as handle:
                assert handle.read() == before[name]["WALG_LIBSODIUM_KEY"] + "\n"
            assert stat.S_IMODE(os.stat(controller_key(name)).st_mode) == 0o600
    for name in FULL_CYCLE:
        result = module(name, "pg_restore_check", {"tool": "walg", "backup": oldest[name], "row_counts": [
            {"database": "shop", "table": "orders", "equals": 20000}]})
        assert result.get("failed") is not True, result.get("msg")
        assert result["passed"] is True and result["backup"] == oldest[name]


def test_another_key_on_the_controller_is_refused_first_naming_the_host_and_file():
    name = "walg-bookworm"
    path = controller_key(name)
    with open(path) as handle:
        original = handle.read()
    with open(path, "w") as handle:
        handle.write("another-key-of-32-characters-xyz\n")

    def host_state():
        return (host(name).check_output("sha256sum %s" % WALG_JSON), host(name).run("crontab -l -u postgres").stdout)

    try:
        output = assert_fails_first(
            "converge.yml", name, {},
            "wal-g repository 'offsite' of stanza main is encrypted with the key in %s:%s (WALG_LIBSODIUM_KEY), "
            "and %s holds another" % (name, WALG_JSON, path), host_state)
    finally:
        with open(path, "w") as handle:
            handle.write(original)
    assert original.strip() not in output and "another-key-of-32-characters-xyz" not in output
