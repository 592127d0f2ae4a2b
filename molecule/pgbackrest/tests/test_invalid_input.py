"""Bad policy input fails at the start of the roles, names the variable, and changes nothing on the host."""
import pytest

from labtest import assert_fails_first, host

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
    # a typo is not ignored in favour of the default retention
    "misspelt repository key": (
        {"pg_backup_repositories": [{"name": "local", "type": "posix", "retension": {"full": 7}}]},
        "pg_backup_repositories[0]: unknown key(s) retension"),
    # the newline would start a second repo1-path= line in pgbackrest.conf
    "newline in a repository path": (
        {"pg_backup_repositories": [{"name": "local", "type": "posix", "path": "/var/lib/pgbackrest\nrepo1-path=/tmp"}]},
        "pg_backup_repositories[0].path: holds a newline"),
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
    # the failure is in the policy step, before any task that changes the host
    assert_fails_first("apply_roles.yml", "pg-bookworm", extra, variable, host_state)
