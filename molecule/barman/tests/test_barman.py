"""Barman from the policy: each database host streamed to its Barman server (3.4 on Debian 12, 3.13 on 13), full
backups as cron runs them, retention as the policy keeps it, and the connection password nowhere but .pgpass."""
import json

import pytest

from labtest import assert_no_secret_in, host, process_lists, assert_sampled_without_secrets, psql, run_as, scheduled_job, wait_for

PAIRS = [("bm-db-bookworm", "bm-bookworm", "3.4."), ("bm-db-trixie", "bm-trixie", "3.13.")]


def barman(server, command):
    return json.loads(host(server).check_output("sudo -u barman barman -f json %s", command))


def done_backups(server):
    return [b["backup_id"] for b in barman(server, "list-backups main")["main"] if b["status"] == "DONE"]


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_each_server_runs_the_barman_of_its_debian_release(db, server, version):
    assert host(server).check_output("barman --version").startswith(version)


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_every_check_barman_makes_passes(db, server, version):
    failed = {name: found["hint"] for name, found in barman(server, "check main")["main"].items()
              if isinstance(found, dict) and found.get("status") != "OK"}
    assert not failed, failed


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_receive_wal_streams_from_its_slot_over_tls(db, server, version):
    slot = psql(db, "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman_main'")
    assert slot == "t"
    streamer = psql(db, "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
                        "WHERE r.application_name = 'barman_receive_wal'")
    assert streamer == "t"


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_only_the_barman_server_may_connect_as_barmans_roles(db, server, version):
    rules = psql(db, "SELECT type, database[1], user_name[1], address, auth_method FROM pg_hba_file_rules "
                     "WHERE user_name[1] IN ('barman', 'streaming_barman') ORDER BY line_number").splitlines()
    address = host(db).check_output("getent ahostsv4 %s", server).split()[0]
    assert rules == ["hostssl|postgres|barman|%s|scram-sha-256" % address,
                     "hostssl|{replication}|streaming_barman|%s|scram-sha-256" % address] or rules == [
        "hostssl|postgres|barman|%s|scram-sha-256" % address, "hostssl|replication|streaming_barman|%s|scram-sha-256"
        % address], rules
    assert psql(db, "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'barman'") == "f"


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_a_full_backup_run_as_cron_runs_it_is_done_and_listed(db, server, version):
    before = done_backups(server)
    psql(db, "CREATE TABLE IF NOT EXISTS barman_probe (at timestamptz); INSERT INTO barman_probe VALUES (now())")
    with process_lists(db, server) as samples:
        result = run_as(server, "barman", scheduled_job(server, "barman", "main-local-full"))
    assert result.rc == 0, result.stdout + result.stderr
    after = done_backups(server)
    assert len(after) == len(before) + 1, (before, after)
    assert_sampled_without_secrets(samples, server)
    log = host(server).file("/var/log/pgops-backup/main-local-full.log").content_string
    assert_no_secret_in(log, "the backup job's log")


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_retention_keeps_the_two_newest_backups_the_policy_asks_for(db, server, version):
    job = scheduled_job(server, "barman", "main-local-full")
    while len(done_backups(server)) < 3:
        assert run_as(server, "barman", job).rc == 0
    newest = done_backups(server)[:2]
    # every barman cron applies retention_policy (REDUNDANCY 2)
    host(server).check_output("sudo -u barman barman -q cron")
    assert wait_for(lambda: done_backups(server) == newest, timeout=60), done_backups(server)


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_the_password_is_in_pgpass_only(db, server, version):
    pgpass = host(server).file("/var/lib/barman/.pgpass")
    assert (pgpass.mode, pgpass.user) == (0o600, "barman")
    for where in ("/etc/barman.d/main.conf", "/var/log/barman/barman.log"):
        assert_no_secret_in(host(server).check_output("cat %s", where), where)
    assert_no_secret_in(host(server).check_output("crontab -l -u barman"), "barman's crontab")
