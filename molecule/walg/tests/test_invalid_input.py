"""Bad wal-g input fails at the start, names the variable, and changes nothing on the host."""
import json

import pytest

from labtest import ansible_playbook, assert_fails_first, host

HOST = "walg-bookworm"
S3 = {"name": "offsite", "type": "s3", "endpoint": "minio:9000", "uri_style": "path",
      "access_key": "AKEXAMPLE", "secret_key": "SKEXAMPLE"}
CASES = {
    "download without a checksum": ({"walg_install_from": "url", "walg_release_sha256": ""}, "walg_release_sha256"),
    "unknown compression method": ({"pg_backup_compression": "snappy"}, "pg_backup_compression"),
    "key of the wrong length": ({"walg_libsodium_key": "00" * 31}, "walg_libsodium_key"),
    "missing bucket": ({"pg_backup_repositories": [S3]}, "pg_backup_repositories[0].bucket"),
    "unknown tool name": ({"pg_backup_tool": "bacula"}, "pg_backup_tool"),
    # what wal-g cannot hold, refused with what to change
    "two repositories for wal-g": ({"pg_backup_repositories": [dict(S3, bucket="pgops-walg"), {"name": "local",
                                                                                               "type": "posix"}]},
                                   "keep one for wal-g, or keep pg_backup_tool: pgbackrest"),
    "a repository host for wal-g": ({"pg_backup_repository_host": "walg-trixie"},
                                    "unset pg_backup_repository_host for walg"),
}
WATCHED = "/var/lib/postgresql/.walg.json /etc/postgresql/15/main/conf.d/90-pgops-archiving.conf /usr/local/bin/wal-g"


def host_state():
    h = host(HOST)
    return (h.check_output("sha256sum %s" % WATCHED), h.run("crontab -l -u postgres").stdout,
            h.check_output("ls -l /opt/wal-g"),
            h.check_output("sudo -u postgres psql -XAtc 'SELECT pg_postmaster_start_time()'"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_input_fails_first_and_names_the_variable(case):
    extra, variable = CASES[case]
    assert_fails_first("apply_roles.yml", HOST, extra, variable, host_state)


def test_checksum_mismatch_installs_nothing():
    before = host_state()
    result = ansible_playbook("apply_roles.yml", "--limit", HOST, "-e", json.dumps(
        {"walg_version": "v9.9.9", "walg_release_sha256": "0" * 64}))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "did not match" in output and "0" * 64 in output, output
    assert not host(HOST).file("/opt/wal-g/v9.9.9").exists
    assert not host(HOST).file("/var/tmp/wal-g-v9.9.9.tar.gz").exists
    assert host_state() == before
