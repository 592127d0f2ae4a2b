"""Switching tools is one variable: pg_backup_tool alone moves a host between wal-g and pgBackRest, for a policy of
one s3 repository (walg-bookworm's own) and of one posix repository (wal-g's file storage, on walg-bullseye,
backed up and restored there), and each switch converges cleanly: one tool's settings and jobs."""
import json
import re

from labtest import ansible_playbook, assert_no_secret_in, host, module, psql, wait_for

HOST = "walg-bookworm"
# the one posix repository both tools hold by the same words
POSIX_HOST = "walg-bullseye"
POSIX = {"pg_backup_repositories": [{"name": "local", "type": "posix", "path": "/var/lib/pgops-switch",
                                     "retention": {"full": 2}}]}


def site(name, *extra):
    result = ansible_playbook("../../playbooks/site.yml", "--limit", name, *extra)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


def jobs(name):
    return host(name).run("crontab -l -u postgres").stdout


def archives_a_segment(name):
    segment = psql(name, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(name, "CREATE TABLE IF NOT EXISTS wal_probe (at timestamptz); INSERT INTO wal_probe VALUES (now()); "
               "SELECT pg_switch_wal()")
    return wait_for(lambda: psql(name, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver"
                                 % segment) == "t", timeout=90)


def failed_archive_attempts(name):
    return int(psql(name, "SELECT failed_count FROM pg_stat_archiver"))


def test_switch_between_the_tools_by_pg_backup_tool_alone():
    """walg-bookworm, with a posix policy, then with its own s3 one: each time only pg_backup_tool changes."""
    started = psql(HOST, "SELECT pg_postmaster_start_time()")
    failures = failed_archive_attempts(HOST)
    site(HOST, "-e", json.dumps(POSIX))
    settings = json.loads(host(HOST).check_output("cat /var/lib/postgresql/.walg.json"))
    assert settings["WALG_FILE_PREFIX"] == "/var/lib/pgops-switch" and "WALG_S3_PREFIX" not in settings

    # the archiver takes the reloaded archive_command at its next loop: a segment closed just before went to the
    # s3 repository, the next ones go to the file storage
    def file_storage_receives_wal():
        return archives_a_segment(HOST) and host(HOST).run("ls /var/lib/pgops-switch/wal_005/ | grep -q .").rc == 0

    assert wait_for(file_storage_receives_wal, timeout=60, interval=1)

    site(HOST, "-e", json.dumps(dict(POSIX, pg_backup_tool="pgbackrest")))
    assert psql(HOST, "SHOW archive_command") == "pgbackrest --stanza=main archive-push %p"
    assert archives_a_segment(HOST)
    assert host(HOST).file("/var/lib/pgops-switch/archive/main/archive.info").exists

    site(HOST, "-e", json.dumps({"pg_backup_tool": "pgbackrest"}))
    assert psql(HOST, "SHOW archive_command") == "pgbackrest --stanza=main archive-push %p"
    assert "wal-g" not in jobs(HOST)  # (this host's schedule has no backup job: wal-g 1.1.3 takes none of 15)
    assert archives_a_segment(HOST)
    # into the policy's one s3 repository, which pgBackRest now holds too
    info = host(HOST).run("sudo -u postgres pgbackrest --stanza=main --output=json info")
    assert info.rc == 0 and json.loads(info.stdout)[0]["archive"][0]["max"], info.stdout + info.stderr

    site(HOST)
    assert psql(HOST, "SHOW archive_command") == "/usr/local/bin/wal-g wal-push %p"
    assert "pgbackrest" not in jobs(HOST)
    assert archives_a_segment(HOST)
    # a tool switch is a reload, never a restart
    assert psql(HOST, "SELECT pg_postmaster_start_time()") == started
    # archiving was switched only once the new tool was ready: not one failed attempt
    assert failed_archive_attempts(HOST) == failures
    # and the switched-back host is converged: a second run changes nothing, and tells no secret at -vvv
    # (module arguments and results, the connection's commands)
    told = site(HOST, "-vvv")
    assert re.search(r"%s\s+: ok=\d+\s+changed=0 " % HOST, told), told[-3000:]
    assert_no_secret_in(told, "site.yml -vvv's output")


def test_wal_g_backs_up_into_a_posix_repository_and_restores_from_it():
    """walg-bullseye (wal-g 1.1.3 takes base backups of PostgreSQL 13) on wal-g's file storage."""
    h = host(POSIX_HOST)
    try:
        site(POSIX_HOST, "-e", json.dumps(POSIX))
        directory = h.file("/var/lib/pgops-switch")
        assert directory.user == "postgres" and directory.mode == 0o700
        taken = module(POSIX_HOST, "pg_backup", {"tool": "walg", "type": "full"})
        assert taken["changed"] is True and taken["backup"]["label"].startswith("base_"), taken
        assert h.file("/var/lib/pgops-switch/basebackups_005/%s_backup_stop_sentinel.json"
                      % taken["backup"]["label"]).exists
        checked = module(POSIX_HOST, "pg_restore_check", {"tool": "walg", "row_counts": [
            {"database": "shop", "table": "orders", "equals": 20000}]})
        assert checked.get("failed") is not True and checked["passed"], checked.get("msg")
        assert checked["backup"] == taken["backup"]["label"]
    finally:
        site(POSIX_HOST)
    assert psql(POSIX_HOST, "SHOW archive_command") == "/usr/local/bin/wal-g wal-push %p"
    assert archives_a_segment(POSIX_HOST)
