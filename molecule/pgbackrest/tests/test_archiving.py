"""The archiving role reloads for settings that allow it and restarts only for those that need it."""
import json

from labtest import ansible_playbook, host, psql

HOST = "pg-bookworm"


def started_at():
    return psql(HOST, "SELECT pg_postmaster_start_time()")


def converge(**extra):
    result = ansible_playbook("apply_roles.yml", "--limit", HOST, "-e", json.dumps(extra) if extra else "{}")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_drop_in_holds_the_policy_settings():
    assert psql(HOST, "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'") == "60"  # RPO 2m
    assert psql(HOST, "SHOW archive_mode") == "on"
    assert psql(HOST, "SHOW archive_command") == "pgbackrest --stanza=main archive-push %p"
    assert psql(HOST, "SELECT sourcefile FROM pg_settings WHERE name = 'archive_command'").endswith(
        "/conf.d/90-pgops-archiving.conf")


def test_rpo_change_reloads_without_restart():
    before = started_at()
    converge(pg_backup_rpo="10m")
    assert psql(HOST, "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'") == "300"
    assert started_at() == before


def test_wal_level_raised_restarts_once_and_is_never_lowered_by_the_role():
    before = started_at()
    output = converge(pg_backup_wal_level="logical")
    assert psql(HOST, "SHOW wal_level") == "logical"
    assert started_at() != before
    assert "PostgreSQL is restarted for wal_level" in output
    # back to the scenario's replica: refused before any change, since logical slots may depend on it
    raised = started_at()
    result = ansible_playbook("apply_roles.yml", "--limit", HOST)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "pg_backup_wal_level: the cluster runs wal_level=logical" in output, output
    assert psql(HOST, "SHOW wal_level") == "logical" and started_at() == raised
    # the user lowers it by hand (slots dropped); then the role converges with nothing to do
    host(HOST).check_output("sed -i \"s/^wal_level = 'logical'/wal_level = 'replica'/\" "
                            "/etc/postgresql/15/main/conf.d/90-pgops-archiving.conf && systemctl restart postgresql@15-main")
    assert "changed=0" in converge()
    assert psql(HOST, "SHOW wal_level") == "replica"
    assert psql(HOST, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
