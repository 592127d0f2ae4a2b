"""Barman from the policy: each database host streamed to its Barman server (3.4 on Debian 12, 3.13 on 13), full
backups as cron runs them, retention as the policy keeps it, the modules on Barman's catalog, bad input refused
first, and the connection password nowhere but .pgpass."""
import json
import threading

import pytest

from labtest import (
    assert_fails_first, assert_no_secret_in, assert_sampled_without_secrets, host, module, process_lists, psql, run_as,
    scheduled_job, wait_for)

PAIRS = [("bm-db-bookworm", "bm-bookworm", "3.4."), ("bm-db-trixie", "bm-trixie", "3.13.")]
JOB = "main-local-full"


def barman(server, *words):
    """Barman's JSON for a command run as barman on its server (barman check exits 1 when a check fails: its
    document says which)."""
    done = host(server).run("sudo -u barman barman -f json" + " %s" * len(words), *words)
    assert done.stdout.startswith("{"), (words, done.rc, done.stdout, done.stderr)
    return json.loads(done.stdout)


def done_backups(server):
    """The DONE backups' ids, oldest first (list-backups lists newest first)."""
    return [b["backup_id"] for b in reversed(barman(server, "list-backups", "main")["main"]) if b["status"] == "DONE"]


def backup_as_cron_runs_it(db, server):
    """The scheduled job's own command line, run as barman, while the WAL it waits for is closed on the database
    host and moved into the catalog (what archive_timeout and the next `barman cron` minute do on their own, a
    minute or more later): the job's result."""
    job, result = scheduled_job(server, "barman", JOB), {}
    worker = threading.Thread(target=lambda: result.update(done=run_as(server, "barman", job)), daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(3)
        psql(db, "SELECT pg_switch_wal()")
        host(server).run("sudo -u barman barman -q cron")
    return result["done"]


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_each_server_runs_the_barman_of_its_debian_release(db, server, version):
    assert host(server).check_output("barman --version").startswith(version)


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_every_check_barman_makes_passes(db, server, version):
    failed = {name: found["hint"] for name, found in barman(server, "check", "main")["main"].items()
              if isinstance(found, dict) and found.get("status") != "OK"}
    assert not failed, failed


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_receive_wal_streams_from_its_slot_over_tls(db, server, version):
    assert psql(db, "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman_main'") == "t"
    streamer = psql(db, "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
                        "WHERE r.application_name = 'barman_receive_wal'")
    assert streamer == "t"


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_only_the_barman_server_may_connect_as_barmans_roles(db, server, version):
    rules = psql(db, "SELECT type, array_to_string(database, ','), array_to_string(user_name, ','), address, "
                     "auth_method FROM pg_hba_file_rules WHERE 'barman' = ANY(user_name) "
                     "OR 'streaming_barman' = ANY(user_name) ORDER BY line_number").splitlines()
    address = host(db).check_output("getent ahostsv4 %s", server).split()[0]
    assert rules == ["hostssl|postgres|barman|%s|scram-sha-256" % address,
                     "hostssl|replication|streaming_barman|%s|scram-sha-256" % address], rules
    assert psql(db, "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication FROM pg_roles "
                    "WHERE rolname = 'barman'") == "f"
    assert psql(db, "SELECT rolsuper OR NOT rolreplication FROM pg_roles WHERE rolname = 'streaming_barman'") == "f"


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_a_full_backup_run_as_cron_runs_it_is_done_listed_and_secret_free(db, server, version):
    before = done_backups(server)
    with process_lists(db, server) as samples:
        result = backup_as_cron_runs_it(db, server)
    assert result.rc == 0, result.stdout + result.stderr
    after = done_backups(server)
    assert [label for label in after if label not in before] == after[-1:], (before, after)
    # pg_basebackup ran on the Barman server while the samples were taken, and no secret was on any command line
    assert_sampled_without_secrets(samples, r"pg_basebackup .*streaming_barman")
    log = host(server).file("/var/log/pgops-backup/%s.log" % JOB).content_string
    assert log.rstrip().endswith("%s: ok" % JOB), log[-2000:]
    assert_no_secret_in(log, "the backup job's log")


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_retention_keeps_the_two_newest_backups_the_policy_asks_for(db, server, version):
    assert done_backups(server), "the backup test ran first and left one"
    taken = []
    for dummy in range(2):
        assert backup_as_cron_runs_it(db, server).rc == 0
        taken.append(done_backups(server)[-1])
    # every barman cron applies retention_policy (REDUNDANCY 2; the package's cron.d runs it each minute): of the
    # three or more backups, the two newest stay
    host(server).check_output("sudo -u barman barman -q cron")
    assert wait_for(lambda: done_backups(server) == taken, timeout=90), (done_backups(server), taken)


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_the_modules_read_and_take_barmans_backups(db, server, version):
    listed = done_backups(server)
    info = module(server, "pg_backup_info", {"tool": "barman"}, become_user="barman")
    assert not info.get("failed"), info
    (catalog,) = info["repositories"]
    assert [b["label"] for b in catalog["backups"]] == listed
    newest = catalog["backups"][-1]
    assert newest["type"] == "full" and not newest["error"] and newest["wal_start"] and newest["lsn_stop"]
    assert catalog["archive"]["max"] >= newest["wal_stop"]
    # a fresh backup makes another unnecessary; check mode without one takes none
    fresh = module(server, "pg_backup", {"tool": "barman", "max_age": "1d"}, become_user="barman")
    assert (fresh.get("failed"), fresh["changed"], fresh["backup"]["label"]) == (None, False, listed[-1]), fresh
    predicted = module(server, "pg_backup", {"tool": "barman"}, become_user="barman", check=True)
    assert predicted["changed"] and "would be taken" in predicted["msg"], predicted
    assert done_backups(server) == listed
    refused = module(server, "pg_backup", {"tool": "barman", "type": "diff"}, become_user="barman")
    assert refused.get("failed") and "barman takes full backups, not diff" in refused["msg"], refused


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_the_password_is_in_pgpass_only(db, server, version):
    pgpass = host(server).file("/var/lib/barman/.pgpass")
    assert (pgpass.mode, pgpass.user) == (0o600, "barman")
    assert pgpass.content_string.count(":") >= 8  # the two roles' lines, with their password
    for where in ("/etc/barman.d/main.conf", "/var/log/barman/barman.log"):
        assert_no_secret_in(host(server).check_output("cat %s", where), where)
    assert_no_secret_in(host(server).check_output("crontab -l -u barman"), "barman's crontab")


LOCAL = {"name": "local", "type": "posix", "path": "/var/lib/barman", "retention": {"full": 2}}
INVALID = {
    "encryption, which Barman 3.4 and 3.13 lack": (
        {"pg_backup_repositories": [dict(LOCAL, encrypt=True)]}, "pg_backup_repositories[0].encrypt"),
    "a differential schedule": (
        {"pg_backup_schedule": {"full": "30 1 * * *", "diff": "30 1 * * 1-6", "incr": "", "expire": ""}},
        "pg_backup_schedule.diff"),
    "an s3 copy, not deployed yet": (
        {"pg_backup_repositories": [LOCAL, {"name": "offsite", "type": "s3", "bucket": "pgops-barman", "encrypt": False,
                                            "endpoint": "minio:9000", "access_key": "AK", "secret_key": "SK"}]},
        "pg_backup_repositories[1]"),
    "a compression Barman lacks": ({"pg_backup_compression": "brotli"}, "pg_backup_compression"),
    "rsync backups, not deployed yet": ({"barman_backup_method": "rsync"}, "barman_backup_method"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_input_fails_first_and_names_the_variable(case):
    db, server, dummy = PAIRS[0]

    def state():
        return (host(server).check_output("sha256sum /etc/barman.d/main.conf /var/lib/barman/.pgpass"),
                host(server).run("crontab -l -u barman").stdout,
                host(db).check_output("sha256sum /etc/postgresql/15/main/pg_hba.conf"),
                psql(db, "SELECT pg_postmaster_start_time()"))

    extra, variable = INVALID[case]
    assert_fails_first("../../playbooks/site.yml", "%s,%s" % (db, server), extra, variable, state)


@pytest.mark.parametrize("db, server, version", PAIRS)
def test_the_database_host_reaches_barman_only_through_the_gate(db, server, version):
    """postgres on the database host lists and fetches through the gate; what would delete, expire or reconfigure
    backups, or run anything else, is refused there and logged, and changes nothing."""
    listed = done_backups(server)
    ask = "sudo -u postgres ssh -q -o BatchMode=yes pgops-barman-main %s"
    assert json.loads(host(db).check_output(ask, "list-backups"))["main"][0]["backup_id"] == listed[-1]
    for request in ("delete main oldest", "receive-wal --stop main", "cron", "keep main latest --target full",
                    "list-backups --help", "recover latest /tmp/elsewhere --remote-ssh-command=ssh\\ evil", "sh"):
        refused = host(db).run(ask, request)
        assert refused.rc == 1 and "pgops-barman-gate: refused" in refused.stderr, (request, refused.stderr)
    assert done_backups(server) == listed
    logged = host(server).check_output("journalctl -q -t pgops-barman-gate --since -10min --no-pager")
    assert logged.count("refused for postgres@%s (server main)" % db) >= 7, logged
