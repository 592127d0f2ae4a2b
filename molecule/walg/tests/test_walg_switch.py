"""Switching a host from wal-g to pgBackRest and back converges cleanly: one tool's settings and jobs."""
import json
import re

from labtest import ansible_playbook, assert_no_secret_in, host, psql, wait_for

HOST = "walg-bookworm"
PGBACKREST = {"pg_backup_tool": "pgbackrest",
              "pg_backup_repositories": [{"name": "local", "type": "posix", "retention": {"full": 2}}],
              "pg_backup_schedule": {"full": "30 1 * * 0", "diff": "", "incr": "", "expire": ""}}


def site(*extra):
    result = ansible_playbook("../../playbooks/site.yml", "--limit", HOST, *extra)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


def jobs():
    return host(HOST).run("crontab -l -u postgres").stdout


def archives_a_segment():
    segment = psql(HOST, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(HOST, "INSERT INTO wal_probe VALUES (now()); SELECT pg_switch_wal()")
    return wait_for(lambda: psql(HOST, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver"
                                 % segment) == "t", timeout=90)


def failed_archive_attempts():
    return int(psql(HOST, "SELECT failed_count FROM pg_stat_archiver"))


def test_switch_to_pgbackrest_and_back():
    started = psql(HOST, "SELECT pg_postmaster_start_time()")
    failures = failed_archive_attempts()
    site("-e", json.dumps(PGBACKREST))
    assert psql(HOST, "SHOW archive_command") == "pgbackrest --stanza=main archive-push %p"
    assert "pgbackrest --stanza=main --repo=1 --type=full backup" in jobs() and "wal-g" not in jobs()
    assert archives_a_segment()

    site()
    assert psql(HOST, "SHOW archive_command") == "/usr/local/bin/wal-g wal-push %p"
    assert "pgbackrest" not in jobs()
    assert archives_a_segment()
    # a tool switch is a reload, never a restart
    assert psql(HOST, "SELECT pg_postmaster_start_time()") == started
    # archiving was switched only once the new tool was ready: not one failed attempt
    assert failed_archive_attempts() == failures
    # and the switched-back host is converged: a second run changes nothing, and tells no secret at -vvv
    # (module arguments and results, the connection's commands)
    told = site("-vvv")
    assert re.search(r"%s\s+: ok=\d+\s+changed=0 " % HOST, told), told[-3000:]
    assert_no_secret_in(told, "site.yml -vvv's output")
