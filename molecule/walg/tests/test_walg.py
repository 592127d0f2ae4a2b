"""wal-g from the policy: install, configuration, archiving on 13, 15 and 17; the whole cycle where wal-g can."""
import json
import os

import pytest

from labtest import assert_no_secret_in, host, module, psql, run_as, s3_objects, scheduled_job, wait_for

BUCKET = "pgops-walg"
ALL = ["walg-bullseye", "walg-bookworm", "walg-trixie"]
SUPPLIED = bool(os.environ.get("PGOPS_WALG_BINARY"))
FULL_CYCLE = ["walg-bullseye"] + (["walg-bookworm", "walg-trixie"] if SUPPLIED else [])
LAB_VERSION = os.environ["PGOPS_LAB_WALG_VERSION"]
RETAIN_FULL = 2


def walg(name, args):
    result = run_as(name, "postgres", "/usr/local/bin/wal-g " + args)
    assert result.rc == 0, "wal-g %s on %s: %s" % (args, name, result.stderr)
    return result.stdout


def backups(name):
    out = walg(name, "backup-list --detail --json").strip()
    return json.loads(out) if out.startswith("[") else []


def restore_and_start(name, directory, port, args):
    """pg_restore with args into directory/data, that copy started beside the server on port (its socket in
    directory), and pg_recovery proving replay stopped at the target before it ends recovery. Returns pg_restore's
    result and a function that runs SQL in the copy's shop database; stop_restored removes the copy."""
    h = host(name)
    data = directory + "/data"
    h.check_output("rm -rf %s && install -d -o postgres -g postgres -m 0700 %s" % (directory, directory))
    restored = module(name, "pg_restore", dict(args, data_directory=data))
    assert restored.get("failed") is not True, restored.get("msg")
    h.check_output("printf '%%s\\n' \"port = %d\" \"listen_addresses = ''\" \"unix_socket_directories = '%s'\" "
                   ">> %s/postgresql.conf && echo 'local all all trust' > %s/pg_hba.conf && touch %s/pg_ident.conf "
                   "&& chown postgres: %s/postgresql.conf %s/pg_hba.conf %s/pg_ident.conf"
                   % ((port, directory) + (data,) * 6))
    major = psql(name, "SELECT current_setting('server_version_num')::int / 10000")
    h.check_output("sudo -u postgres /usr/lib/postgresql/%s/bin/pg_ctl -D %s -l %s/log -w start"
                   % (major, data, directory))
    # pg_restore has recovery pause at the target; pg_recovery proves it stopped there, then ends recovery
    recovery = dict((k, v) for k, v in args.items() if k in ("tool", "target"))
    recovered = module(name, "pg_recovery", dict(recovery, data_directory=data, port=port, socket_dir=directory,
                                                 log_file=directory + "/log",
                                                 archive_end=restored["archive_end_segment"]))
    assert recovered.get("failed") is not True, recovered.get("msg")

    def restored_sql(sql):
        return h.run("sudo -u postgres psql -XAt -h %s -p %s -d shop -c %s", directory, str(port), sql).stdout.strip()

    assert restored_sql("SELECT pg_is_in_recovery()") == "f"
    return restored, restored_sql


def stop_restored(name, directory):
    h = host(name)
    h.run("sudo -u postgres /usr/lib/postgresql/*/bin/pg_ctl -D %s/data -m immediate -w stop" % directory)
    h.run("rm -rf %s" % directory)


@pytest.mark.parametrize("name", ALL)
def test_installed_in_a_versioned_path_behind_a_stable_link(name):
    link = host(name).file("/usr/local/bin/wal-g")
    assert link.is_symlink
    target = link.linked_to
    assert target.startswith("/opt/wal-g/") and target.endswith("/wal-g")
    if name not in FULL_CYCLE or name == "walg-bullseye":
        assert target == "/opt/wal-g/%s/wal-g" % LAB_VERSION
        assert LAB_VERSION in host(name).check_output("/usr/local/bin/wal-g --version")


@pytest.mark.parametrize("name", ALL)
def test_configuration_is_private_and_follows_the_policy(name):
    config = host(name).file("/var/lib/postgresql/.walg.json")
    assert config.user == "postgres" and config.mode == 0o600
    settings = json.loads(config.content_string)
    assert settings["WALG_S3_PREFIX"] == "s3://%s/%s" % (BUCKET, name)
    assert settings["AWS_ENDPOINT"] == "https://minio:9000"
    assert settings["AWS_S3_FORCE_PATH_STYLE"] == "true"
    assert settings["WALG_S3_CA_CERT_FILE"] == "/usr/local/share/ca-certificates/pgops-lab.crt"
    assert settings["WALG_COMPRESSION_METHOD"] == "lz4"
    # 32 plain characters, no transform: read alike by wal-g 1.x (which ignores transforms) and 2.x
    assert len(settings["WALG_LIBSODIUM_KEY"]) == 32 and "WALG_LIBSODIUM_KEY_TRANSFORM" not in settings
    assert settings["WALG_PREVENT_WAL_OVERWRITE"] == "true"


@pytest.mark.parametrize("name", ALL)
def test_archiving_uses_wal_g(name):
    assert psql(name, "SHOW archive_command") == "/usr/local/bin/wal-g wal-push %p"
    assert psql(name, "SHOW restore_command") == "/usr/local/bin/wal-g wal-fetch %f %p"
    assert psql(name, "SHOW archive_mode") == "on"


@pytest.mark.parametrize("name", ALL)
def test_switched_segment_is_in_the_bucket_and_fetches_back(name):
    h = host(name)
    segment = psql(name, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(name, "CREATE TABLE IF NOT EXISTS wal_probe (at timestamptz); INSERT INTO wal_probe VALUES (now());"
               " SELECT pg_switch_wal()")
    # the segment as PostgreSQL wrote it, read at once: until it is archived and a checkpoint passes, PostgreSQL
    # can neither remove nor recycle it
    written = h.check_output("sha256sum /var/lib/postgresql/*/main/pg_wal/%s" % segment).split()[0]

    def archived():
        return [k for k in s3_objects(name, BUCKET, "%s/wal_005/" % name)["keys"] if segment in k]

    assert wait_for(archived, timeout=90), "segment %s never reached the bucket" % segment
    walg(name, "wal-fetch %s /tmp/fetched-%s" % (segment, segment))
    fetched = h.file("/tmp/fetched-%s" % segment)
    assert fetched.size == 16 * 1024 * 1024 and fetched.sha256sum == written


@pytest.mark.parametrize("name", ALL)
def test_no_secret_in_cron_entries_or_logs(name):
    h = host(name)
    crontab = h.run("crontab -l -u postgres").stdout
    logs = h.check_output("cat /var/log/pgops-backup/*.log 2>/dev/null; journalctl -u 'postgresql*' --no-pager; "
                          "cat /var/log/postgresql/*.log; true")
    # every host has its jobs (the drill at least: 12 and 13 schedule no backup with the lab's wal-g)
    assert "/usr/local/bin/pgops-backup-job" in crontab and logs.strip(), crontab
    assert_no_secret_in(crontab, "postgres's crontab")
    assert_no_secret_in(logs, "the jobs' and PostgreSQL's logs")


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_scheduled_backup_is_listed_and_verified(name):
    canary = "pgops-canary-%s" % os.urandom(8).hex()
    psql(name, "CREATE TABLE IF NOT EXISTS canary (value text); INSERT INTO canary VALUES ('%s')" % canary, db="shop")
    result = run_as(name, "postgres", scheduled_job(name, "postgres", "main-offsite-full"))
    assert result.rc == 0, result.stderr
    listed = backups(name)
    assert listed and listed[-1]["backup_name"].startswith("base_")
    assert listed[-1]["start_lsn"] < listed[-1]["finish_lsn"]
    verify = run_as(name, "postgres", "/usr/local/bin/wal-g wal-verify integrity timeline")
    assert verify.rc == 0, verify.stderr
    report = verify.stdout + verify.stderr
    assert "integrity check status: OK" in report and "timeline check status: OK" in report
    # encrypted: the canary, present in the cluster the backup was taken of, is in no object of the bucket
    listing = s3_objects(name, BUCKET, name + "/", needle=canary)
    assert any("basebackups_005" in k for k in listing["keys"])
    assert listing["found"] == []


@pytest.mark.parametrize("name", FULL_CYCLE)
def test_retention_job_leaves_exactly_the_declared_full_backups(name):
    job = scheduled_job(name, "postgres", "main-offsite-full")
    while len(backups(name)) < RETAIN_FULL + 2:
        assert run_as(name, "postgres", job).rc == 0
    expire = run_as(name, "postgres", scheduled_job(name, "postgres", "main-offsite-expire"))
    assert expire.rc == 0, expire.stderr
    assert len(backups(name)) == RETAIN_FULL


def test_base_backups_are_refused_with_a_too_old_wal_g_on_newer_postgresql():
    if SUPPLIED:
        pytest.skip("a newer wal-g was supplied: backups are scheduled on 15 and 17")
    from labtest import ansible_playbook
    result = ansible_playbook("apply_roles.yml", "--limit", "walg-bookworm",
                              "-e", json.dumps({"pg_backup_schedule": {"full": "30 1 * * 0"}}))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "cannot take base backups of PostgreSQL 15" in output and "2.0.1" in output, output
    assert "main-offsite-full" not in host("walg-bookworm").run("crontab -l -u postgres").stdout
