"""pgBackRest as the policy declares it, on Debian 12 (standalone) and 13 (dedicated repository host)."""
import json
import uuid

import pytest

from labtest import host, lab_secrets, psql, run_as, s3_objects, scheduled_job, wait_for

BUCKET = "pgops-pgbackrest"
# (host that runs backups, its repository user, the database host it backs up)
RUNNERS = [("pg-bookworm", "postgres", "pg-bookworm"), ("backup-trixie", "pgbackrest", "pg-trixie")]
REPOSITORIES = ("local", "offsite")


def info(name, user):
    result = run_as(name, user, "pgbackrest --stanza=main --output=json info")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.fixture(scope="module")
def canary():
    """A row only the backups can hold: inserted before the backups the tests take."""
    value = "pgops-canary-" + uuid.uuid4().hex
    for _runner, _user, db in RUNNERS:
        psql(db, "CREATE TABLE IF NOT EXISTS canary (value text); INSERT INTO canary VALUES ('%s')" % value, db="shop")
    return value


@pytest.fixture(scope="module")
def full_backups(canary):
    """Each repository's scheduled full backup, run exactly as cron would run it."""
    for name, user, _db in RUNNERS:
        for repo in REPOSITORIES:
            command = scheduled_job(name, user, "main-%s-full" % repo)
            result = run_as(name, user, command)
            assert result.rc == 0, "%s on %s failed: %s" % (command, name, result.stderr)
    return canary


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_config_is_private_to_the_repository_user(name, user, _db):
    config = host(name).file("/etc/pgbackrest/pgbackrest.conf")
    assert config.user == user and config.group == user
    assert config.mode == 0o640
    text = config.content_string
    for expected in ("compress-type=zst", "repo2-type=s3", "repo2-storage-verify-tls=y",
                     "repo2-cipher-type=aes-256-cbc", "repo1-retention-full=2", "start-fast=y"):
        assert expected in text
    assert "compress-type=gz" not in text


def test_database_host_of_a_repository_host_holds_no_secret():
    text = host("pg-trixie").file("/etc/pgbackrest/pgbackrest.conf").content_string
    assert "repo1-host=backup-trixie" in text and "archive-async=y" in text
    for secret in lab_secrets():
        assert secret not in text
    assert "s3-key" not in text and "cipher-pass" not in text


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_stanza_exists_in_every_repository(name, user, _db):
    stanza = info(name, user)
    assert stanza["name"] == "main"
    # 0 ok, 2 no valid backup yet: the stanza is there either way
    assert sorted(r["key"] for r in stanza["repo"]) == [1, 2]
    assert all(r["status"]["code"] in (0, 2) for r in stanza["repo"]), stanza["repo"]


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_check_passes(name, user, _db):
    result = run_as(name, user, "pgbackrest --stanza=main check")
    assert result.rc == 0, result.stderr


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_schedule_is_weekly_full_daily_diff_per_repository(name, user, _db):
    crontab = host(name).check_output("crontab -l -u %s", user)
    for repo, index in (("local", 1), ("offsite", 2)):
        assert ("30 1 * * 0 /usr/local/bin/pgops-backup-job main-%s-full -- pgbackrest --stanza=main --repo=%d "
                "--type=full backup" % (repo, index)) in crontab
        assert "30 1 * * 1-6 /usr/local/bin/pgops-backup-job main-%s-diff" % repo in crontab
        assert "/usr/local/bin/pgops-backup-job main-%s-expire" % repo in crontab
    assert "-incr" not in crontab


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_full_backup_is_listed_in_local_and_s3_repository(full_backups, name, user, _db):
    stanza = info(name, user)
    fulls = {b["database"]["repo-key"] for b in stanza["backup"] if b["type"] == "full" and not b.get("error")}
    assert fulls == {1, 2}


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_switched_wal_segment_reaches_s3(name, user, db):
    segment = psql(db, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(db, "CREATE TABLE IF NOT EXISTS wal_probe (at timestamptz); INSERT INTO wal_probe VALUES (now());"
             " SELECT pg_switch_wal()")
    prefix = "%s/archive/main/" % db

    def archived():
        return [k for k in s3_objects(db, BUCKET, prefix)["keys"] if "/%s-" % segment in k]

    assert wait_for(archived, timeout=90), "segment %s never reached s3://%s/%s" % (segment, BUCKET, prefix)


@pytest.mark.parametrize("name,user,db", RUNNERS)
def test_canary_is_in_no_object_of_the_encrypted_s3_repository(full_backups, name, user, db):
    listing = s3_objects(db, BUCKET, db + "/", needle=full_backups)
    assert any("/backup/main/" in k for k in listing["keys"]), "no backup objects under %s/" % db
    assert listing["found"] == []


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_canary_is_in_the_unencrypted_local_repository(full_backups, name, user, _db):
    # The control for the test above: the canary is in the backup, so only encryption hides it in S3.
    found = host(name).run(
        "find /var/lib/pgbackrest/backup/main -name '*.zst' -exec zstd -qdc {} + | grep -c %s", full_backups)
    assert found.rc == 0 and int(found.stdout) >= 1


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_secrets_reach_no_cron_entry_and_no_log(full_backups, name, user, _db):
    h = host(name)
    crontab = h.check_output("crontab -l -u %s", user)
    logs = h.check_output("cat /var/log/pgbackrest/*.log /var/log/pgops-backup/*.log 2>/dev/null || true")
    assert "backup command end: completed successfully" in logs
    secrets = lab_secrets()
    assert len(secrets) >= 3
    for secret in secrets:
        assert secret not in crontab
        assert secret not in logs


@pytest.mark.parametrize("name,user,_db", RUNNERS)
def test_failed_job_exits_non_zero_and_logs_why(name, user, _db):
    result = run_as(name, user,
                    "/usr/local/bin/pgops-backup-job probe-failure -- pgbackrest --stanza=no-such-stanza --repo=1 "
                    "--type=full backup")
    assert result.rc != 0
    assert "probe-failure FAILED" in result.stderr
    last = host(name).check_output("tail -n 1 /var/log/pgops-backup/probe-failure.log")
    assert "FAILED (exit %d)" % result.rc in last
    assert "ERROR: [" in last
