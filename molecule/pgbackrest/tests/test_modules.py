"""The collection's modules against real pgBackRest repositories: standalone (Debian 12) and repository host (13)."""
import pytest

from labtest import assert_sampled_without_secrets, host, module, process_lists, psql, started_cluster

# (host that holds the repositories, its repository user, the database host)
RUNNERS = [("pg-bookworm", "postgres", "pg-bookworm"), ("backup-trixie", "pgbackrest", "pg-trixie")]


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_pg_backup_takes_a_backup_and_reports_it(name, user, db):
    # the backup, and the archive push it waits for, with both ends' process lists sampled all along
    with process_lists(name, db) as samples:
        result = module(name, "pg_backup", {"type": "full", "repository": 1}, become_user=user)
    assert_sampled_without_secrets(samples, r"^\S*pgbackrest .*\bbackup\b")
    assert result["changed"] is True, result
    backup = result["backup"]
    assert backup["label"].endswith("F") and backup["type"] == "full"
    assert backup["start"] <= backup["stop"] and backup["duration"] == backup["stop"] - backup["start"]
    assert backup["size"] > 0 and backup["lsn_start"] and backup["wal_start"]


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_pg_backup_with_max_age_takes_none_when_one_is_fresh(name, user, db):
    args = {"type": "full", "repository": 2, "max_age": "1h"}
    first = module(name, "pg_backup", args, become_user=user)
    second = module(name, "pg_backup", args, become_user=user)
    assert second["changed"] is False, second
    assert second["backup"]["label"] == first["backup"]["label"]
    count = len(module(name, "pg_backup_info", {"archiver": False}, become_user=user)["repositories"][1]["backups"])
    predicted = module(name, "pg_backup", {"type": "incr", "repository": 2}, become_user=user, check=True)
    assert predicted["changed"] is True and "would be taken" in predicted["msg"]
    after = module(name, "pg_backup_info", {"archiver": False}, become_user=user)["repositories"][1]["backups"]
    assert len(after) == count


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_pg_backup_failure_carries_the_tools_error_line(name, user, db):
    result = module(name, "pg_backup", {"stanza": "no-such-stanza"}, become_user=user)
    assert result.get("failed") is True
    assert "ERROR: [" in result["msg"] and "pgbackrest failed" in result["msg"]


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_pg_backup_info_reports_both_repositories(name, user, db):
    result = module(name, "pg_backup_info", {"archiver": name == db}, become_user=user)
    assert result["changed"] is False
    assert [r["index"] for r in result["repositories"]] == [1, 2]
    assert [r["name"] for r in result["repositories"]] == ["repo1", "repo2"]
    for repo in result["repositories"]:
        assert repo["backups"] and repo["archive"]["min"] and repo["archive"]["max"]
    if name == db:
        archiver = result["archiver"]
        assert archiver["last_archived_wal"] and archiver["failing"] is False
        assert archiver["last_archived_age_seconds"] >= 0


def test_a_database_host_behind_its_repository_host_reads_the_encrypted_s3_repository():
    # pgBackRest's info of both repositories cannot decrypt repo2 from here (it takes repo2's cipher settings
    # before it asked the repository host); the driver reads it alone
    result = module("pg-trixie", "pg_backup_info", {"archiver": True})
    assert result.get("failed") is not True, result.get("msg")
    repo1, repo2 = result["repositories"]
    assert (repo1["status"], repo2["status"]) == ("ok", "ok"), (repo1["status"], repo2["status"])
    assert repo2["backups"] and repo2["archive"]["max"]
    assert host("backup-trixie").file("/etc/pgbackrest/pgbackrest.conf").contains("repo2-cipher-type=aes-256-cbc")


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_pg_restore_check_proves_the_newest_backup(name, user, db):
    source_started = psql(db, "SELECT pg_postmaster_start_time()")
    labels = [b["label"] for r in module(name, "pg_backup_info", {"archiver": False}, become_user=user)["repositories"]
              for b in r["backups"]]
    result = module(name, "pg_restore_check", {
        "row_counts": [{"database": "shop", "table": "orders", "equals": 20000}],
        "sql": [{"database": "shop", "query": "SELECT count(DISTINCT customer) FROM orders", "expected": 500}],
    }, become_user=user)
    assert result.get("failed") is not True, result.get("msg")
    assert result["passed"] is True and result["rto_seconds"] > 0
    names = [c["name"] for c in result["checks"]]
    assert "amcheck shop" in names and "rows shop.orders" in names
    amcheck = [c for c in result["checks"] if c["name"] == "amcheck shop"][0]
    assert amcheck["passed"] and "btree indexes checked" in amcheck["detail"]
    assert not host(name).file("/var/tmp/pgops-restore-check").exists
    # the source cluster and the repository are as they were
    assert psql(db, "SELECT pg_postmaster_start_time()") == source_started
    after = [b["label"] for r in module(name, "pg_backup_info", {"archiver": False}, become_user=user)["repositories"]
             for b in r["backups"]]
    assert after == labels


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_pg_restore_check_fails_a_wrong_assertion_and_an_amcheck_it_cannot_run(name, user, db):
    h = host(name)
    # the scratch cluster's server without amcheck: its extension's control file out of the way for this run
    control = h.check_output("ls /usr/share/postgresql/*/extension/amcheck.control")
    h.check_output("mv %s %s.hidden" % (control, control))
    try:
        result = module(name, "pg_restore_check", {
            "sql": [{"database": "shop", "query": "SELECT count(*) FROM orders", "expected": 1}]}, become_user=user)
    finally:
        h.check_output("mv %s.hidden %s" % (control, control))
    assert result.get("failed") is True and result["passed"] is False
    checks = dict((c["name"], c) for c in result["checks"])
    assert checks["amcheck shop"]["passed"] is False, checks
    assert checks["amcheck shop"]["detail"].startswith("not checked: the amcheck extension is not available")
    assert checks["sql SELECT count(*) FROM orders"]["value"] == "20000"
    assert "amcheck shop" in result["msg"] and not h.file("/var/tmp/pgops-restore-check").exists


@pytest.mark.parametrize("tool", ["logical", "base"])
def test_pg_restore_check_refuses_a_backup_kind_it_cannot_prove(tool):
    result = module("pg-bookworm", "pg_restore_check", {"tool": tool})
    assert result.get("failed") is True and result["msg"].startswith("tool: pg_restore_check proves physical")
    assert "a %s backup is checked by restoring it" % tool in result["msg"]
    assert not host("pg-bookworm").file("/var/tmp/pgops-restore-check").exists


@pytest.mark.parametrize("db", ["pg-bookworm", "pg-trixie"])
def test_pg_restore_into_a_new_directory_is_idempotent_and_starts(db):
    h = host(db)
    target = "/var/lib/postgresql/restored/data"
    h.check_output("rm -rf /var/lib/postgresql/restored /var/lib/postgresql/restored/.data.pgops-restore.json && "
                   "install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/restored")
    args = {"data_directory": target, "target": {"type": "immediate"}}
    predicted = module(db, "pg_restore", args, check=True)
    assert predicted["changed"] is True and not h.file(target).exists
    first = module(db, "pg_restore", args)
    assert first["changed"] is True, first
    auto_conf = h.file(target + "/postgresql.auto.conf").content_string
    assert "archive_mode = 'off'" in auto_conf and "recovery_target = 'immediate'" in auto_conf
    again = module(db, "pg_restore", args)
    assert again["changed"] is False, again
    # the restored directory is a cluster: it starts and holds the data
    with started_cluster(db, target, 5498) as (sql, _socket_dir, _log):
        assert sql("SELECT count(*) FROM orders", "shop") == "20000"


@pytest.mark.parametrize("db", ["pg-bookworm"])
def test_pg_restore_refuses_a_running_cluster_and_a_non_empty_directory(db):
    live = psql(db, "SHOW data_directory")
    running = module(db, "pg_restore", {"data_directory": live, "delta": True})
    assert running.get("failed") is True and "running cluster" in running["msg"]
    h = host(db)
    h.check_output("install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/occupied && "
                   "sudo -u postgres touch /var/lib/postgresql/occupied/keep-me")
    occupied = module(db, "pg_restore", {"data_directory": "/var/lib/postgresql/occupied"})
    assert occupied.get("failed") is True and "delta=true" in occupied["msg"]
    assert h.file("/var/lib/postgresql/occupied/keep-me").exists
