"""A lost server comes back with playbooks/restore.yml: to latest on Debian 12, to a time on Debian 13
(whose backups live on its repository host). Runs before test_stanza_refusal.py (file order)."""
import json
import time

from labtest import (ansible_playbook, assert_no_secret_in, assert_sampled_without_secrets, host, process_lists, psql,
                     switch_and_archive)


def major(db):
    return psql(db, "SELECT current_setting('server_version_num')::int / 10000")


def archive_everything(db):
    segment, archived = switch_and_archive(db, timeout=90)
    assert archived, "WAL up to %s was not archived" % segment


def lose(db):
    version = major(db)
    host(db).check_output("systemctl stop postgresql@%s-main && rm -rf /var/lib/postgresql/%s/main" % (version, version))
    assert not host(db).file("/var/lib/postgresql/%s/main" % version).exists


def restore(db, *extra):
    result = ansible_playbook("../../playbooks/restore.yml", "--limit", db, *extra)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


def timeline(db):
    return int(psql(db, "SELECT timeline_id FROM pg_control_checkpoint()"))


def test_lost_server_is_restored_to_the_latest_archived_commit():
    db = "pg-bookworm"
    psql(db, "CREATE TABLE IF NOT EXISTS dr_ledger (id serial PRIMARY KEY, at timestamptz NOT NULL "
             "DEFAULT clock_timestamp()); INSERT INTO dr_ledger (at) SELECT clock_timestamp() "
             "FROM generate_series(1, 500)", db="shop")
    expected = psql(db, "SELECT count(*), max(id) FROM dr_ledger", db="shop")
    before = timeline(db)
    archive_everything(db)
    lose(db)
    output = restore(db)
    assert psql(db, "SELECT count(*), max(id) FROM dr_ledger", db="shop") == expected
    assert psql(db, "SELECT count(*) FROM orders", db="shop") == "20000"
    assert timeline(db) > before and "promoted on timeline" in output
    archive_everything(db)  # and it archives again, into the same stanza


def test_lost_server_is_restored_to_a_point_in_time():
    db = "pg-trixie"
    psql(db, "CREATE TABLE IF NOT EXISTS dr_ledger (id serial PRIMARY KEY, at timestamptz NOT NULL "
             "DEFAULT clock_timestamp()); INSERT INTO dr_ledger (at) SELECT clock_timestamp() "
             "FROM generate_series(1, 300)", db="shop")
    time.sleep(1.5)
    target = psql(db, "SELECT clock_timestamp()")
    kept = psql(db, "SELECT count(*) FROM dr_ledger WHERE at < '%s'" % target, db="shop")
    time.sleep(1.5)
    psql(db, "INSERT INTO dr_ledger (at) SELECT clock_timestamp() FROM generate_series(1, 300)", db="shop")
    archive_everything(db)
    lose(db)
    # at -vvv (module arguments and results), the process lists of both ends sampled all along: no secret
    with process_lists(db, "backup-trixie") as samples:
        told = restore(db, "-vvv", "-e", json.dumps({"restore_target_time": target}))
    assert_sampled_without_secrets(samples, r"^\S*pgbackrest .*\brestore\b")
    assert_no_secret_in(told, "restore.yml -vvv's output")
    assert psql(db, "SELECT count(*) FROM dr_ledger", db="shop") == kept
    assert psql(db, "SELECT count(*) FROM dr_ledger WHERE at >= '%s'" % target, db="shop") == "0"
    archive_everything(db)
