"""Bad policy input fails at the start of the roles, names the variable, and changes nothing on the host."""
import json

import pytest

from labtest import ansible_playbook, host

S3 = {"name": "offsite", "type": "s3", "bucket": "b", "endpoint": "minio:9000", "access_key": "AKEXAMPLE",
      "secret_key": "SKEXAMPLE"}
CASES = {
    "s3 repository without a bucket": (
        {"pg_backup_repositories": [{k: v for k, v in S3.items() if k != "bucket"}]},
        "pg_backup_repositories[0].bucket"),
    "unknown repository type": (
        {"pg_backup_repositories": [{"name": "tape", "type": "tape"}]}, "pg_backup_repositories[0].type"),
    "retention 0": (
        {"pg_backup_repositories": [{"name": "local", "type": "posix", "retention": {"full": 0}}]},
        "pg_backup_repositories[0].retention.full"),
    "malformed schedule": ({"pg_backup_schedule": {"full": "0 25 * * 0"}}, "pg_backup_schedule.full"),
    "RPO that is not a duration": ({"pg_backup_rpo": "five minutes"}, "pg_backup_rpo"),
    "unknown tool": ({"pg_backup_tool": "bacula"}, "pg_backup_tool"),
}
# Everything the roles write on a database host: none of it may change.
WATCHED = "/etc/pgbackrest/pgbackrest.conf /etc/postgresql/15/main/conf.d/90-pgops-archiving.conf"


def host_state():
    h = host("pg-bookworm")
    return (h.check_output("sha256sum %s" % WATCHED), h.check_output("crontab -l -u postgres"),
            h.check_output("sudo -u postgres psql -XAtc 'SELECT pg_postmaster_start_time()'"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_input_fails_first_and_names_the_variable(case):
    extra, variable = CASES[case]
    before = host_state()
    result = ansible_playbook("apply_roles.yml", "--limit", "pg-bookworm", "-e", json.dumps(extra))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert variable in output, output
    # the failure is in the policy step, before any task that changes the host
    assert "changed=0" in output, output
    assert host_state() == before
