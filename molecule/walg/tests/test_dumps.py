"""Logical and base backups (the dumps role, which site.yml applies beside the backup tool) on the scenario's
Debian 12 and 13 hosts: what a scheduled run writes, its manifest, restores (parallel, one table, 15 to 17), a base
backup that verifies and starts, retention, the offsite copy in MinIO, failures and secrets. These hosts' wal-g
archives WAL but takes no base backup (1.1.3 of PostgreSQL 15 and 17), so the dumps are their backups here."""
import json
import re
import subprocess

import pytest

from labtest import host, lab_secrets, module, psql, run_as, scheduled_job

HOSTS = {"walg-bookworm": 15, "walg-trixie": 17}
ROOT = "/var/backups/pgops"
BUCKET = "pgops-logical"
KEEP = {"logical": 2, "base": 1}
RUNS = {"logical": 3, "base": 2}
DUMPS = {"shop": "directory", "shop-custom": "custom", "shop-orders": "plain", "shop-schema": "custom",
         "shop-data": "custom", "shop-crm": "custom"}
ROWS = "SELECT count(*) || ':' || md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o"
# every table of shop's second schema (converge.yml), row by row
CRM_ROWS = ("SELECT (SELECT count(*) || ':' || md5(string_agg(c::text, ',' ORDER BY id)) FROM crm.customers c) || ' ' || "
            "(SELECT count(*) || ':' || md5(string_agg(c::text, ',' ORDER BY id)) FROM crm.contacts c)")
SEQUENCES = ("SELECT string_agg(last_value::text, ',' ORDER BY seq) FROM (SELECT 'orders_id_seq' AS seq, last_value "
             "FROM orders_id_seq UNION ALL SELECT 'crm.contacts_id_seq', last_value FROM crm.contacts_id_seq) s")
# pg_restore --list: "ID; TABLEOID OID KIND SCHEMA TAG OWNER", the kind in capitals ("TABLE DATA"), the schema "-"
# for a schema's own entry
TOC_ENTRY = re.compile(r"^\d+; \d+ \d+ ((?:[A-Z]+ )*[A-Z]+) (\S+) (.+) \S+$")
# the schemas a database's own relations are in
RELATION_SCHEMAS = ("SELECT string_agg(DISTINCT n.nspname, ',') FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg_toast%'")


def labels(name, kind):
    out = host(name).check_output("ls -1 %s/%s", ROOT, kind)
    return sorted(line for line in out.split() if not line.startswith("."))


def manifest(name, kind, label):
    return json.loads(host(name).check_output("cat %s/%s/%s/manifest.json", ROOT, kind, label))


@pytest.fixture(scope="module")
def runs():
    """Every kind's scheduled job, run exactly as cron runs it, more often than retention keeps."""
    for name in HOSTS:
        for kind, count in RUNS.items():
            job = scheduled_job(name, "postgres", "%s:main" % kind)
            for dummy in range(count):
                result = run_as(name, "postgres", job)
                assert result.rc == 0, "%s %s: %s %s" % (name, kind, result.stdout, result.stderr)
    return dict((name, dict((kind, labels(name, kind)[-1]) for kind in RUNS)) for name in HOSTS)


@pytest.mark.parametrize("name", HOSTS)
def test_both_kinds_are_scheduled_for_postgres_through_the_wrapper(name):
    for kind in ("logical", "base"):
        job = scheduled_job(name, "postgres", "%s:main" % kind)
        assert job == ("/usr/local/bin/pgops-backup-job %s-main -- /usr/local/bin/pgops-backup-dumps backup %s "
                       "--settings /etc/pgops-backup/dumps.json" % (kind, kind))


@pytest.mark.parametrize("name", HOSTS)
def test_a_run_writes_each_declared_format_globals_and_config(name, runs):
    h, major = host(name), HOSTS[name]
    label = runs[name]["logical"]
    m = manifest(name, "logical", label)
    assert m["kind"] == "logical" and m["status"] == "complete" and m["label"] == label
    assert m["server_version"].split(".")[0] == str(major)
    assert m["duration_seconds"] > 0 and m["started"] <= m["finished"]
    assert dict((d["name"], d["format"]) for d in m["databases"]) == DUMPS
    assert m["compression"] == ("gzip:1" if major == 15 else "zstd:1")
    base = "%s/logical/%s" % (ROOT, label)
    assert h.file(base).mode == 0o700 and h.file(base).user == "postgres"
    # custom: pg_restore reads its header; directory: a toc and data files; compression as declared
    restore = "sudo -u postgres /usr/lib/postgresql/%s/bin/pg_restore" % major
    header = h.check_output("%s -l %s/shop-custom.dump" % (restore, base))
    assert ("Compression: 1\n" if major == 15 else "Compression: zstd") in header  # 15 prints the gzip level
    assert h.file(base + "/shop.dir/toc.dat").exists
    toc = h.check_output("%s -l %s/shop.dir" % (restore, base))
    assert "TABLE DATA public orders" in toc
    # plain: SQL of the one table asked for, compressed fast
    plain = "%s/shop-orders.sql.%s" % (base, "gz" if major == 15 else "zst")
    sql = h.check_output("%s < %s" % ("zcat" if major == 15 else "zstd -dc", plain))
    assert "COPY public.orders" in sql and "CREATE TABLE public.orders" in sql
    # schema only: definitions, no data; data only: rows, no definitions
    schema = h.check_output("%s -f - %s/shop-schema.dump" % (restore, base))
    assert "CREATE TABLE public.orders" in schema and "COPY public.orders" not in schema
    data = h.check_output("%s -f - %s/shop-data.dump" % (restore, base))
    assert "COPY public.orders" in data and "COPY crm.contacts" in data and "CREATE TABLE" not in data
    assert dict((d["name"], (d["content"], d["schemas"])) for d in m["databases"])["shop-crm"] == ("all", ["crm"])
    assert "CREATE ROLE postgres" in h.file(base + "/globals.sql").content_string
    # every drop-in of conf.d: the lab's and the archiving role's
    drop_ins = h.check_output("ls -1 /etc/postgresql/%d/main/conf.d" % major).split()
    assert "50-lab.conf" in drop_ins and "90-pgops-archiving.conf" in drop_ins, drop_ins
    assert set(m["config_files"]) == set(["config/postgresql.conf", "config/pg_hba.conf", "config/pg_ident.conf"] +
                                         ["config/conf.d/" + f for f in drop_ins])
    assert "work_mem = '8MB'" in h.file(base + "/config/conf.d/50-lab.conf").content_string


@pytest.mark.parametrize("name", HOSTS)
@pytest.mark.parametrize("kind", ["logical", "base"])
def test_manifest_checksums_match_the_files(name, kind, runs):
    label = runs[name][kind]
    m = manifest(name, kind, label)
    sums = host(name).check_output("cd %s/%s/%s && find . -type f ! -name manifest.json | sort | xargs sha256sum",
                                   ROOT, kind, label)
    on_disk = dict((path[2:], digest) for digest, path in (line.split() for line in sums.splitlines()))
    assert on_disk == dict((f["path"], f["sha256"]) for f in m["files"])


def test_directory_dump_restores_with_parallel_jobs_and_equal_contents(runs):
    name, target = "walg-trixie", "shop_restored"
    args = {"tool": "logical", "dump": "shop", "database": target, "jobs": 4}
    predicted = module(name, "pg_restore", args, check=True)
    assert predicted.get("changed") is True, predicted
    assert psql(name, "SELECT count(*) FROM pg_database WHERE datname = '%s'" % target) == "0"
    result = module(name, "pg_restore", args)
    assert result.get("changed") is True and result["restored"]["backup"] == runs[name]["logical"], result
    assert psql(name, ROWS, db=target) == psql(name, ROWS, db="shop")
    assert psql(name, "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'", db=target) == "2"
    again = module(name, "pg_restore", args)
    assert again.get("changed") is False and not again.get("failed"), again
    # a database that holds relations is not overwritten unless told
    refused = module(name, "pg_restore", dict(args, dump="shop-custom"))
    assert refused.get("failed") and "is not empty" in refused["msg"], refused
    assert psql(name, ROWS, db=target) == psql(name, ROWS, db="shop")


def test_a_single_table_restores_alone(runs):
    name, target = "walg-bookworm", "orders_only"
    result = module(name, "pg_restore", {"tool": "logical", "dump": "shop-custom", "database": target,
                                         "tables": ["public.orders"]})
    assert result.get("changed") is True, result
    assert psql(name, "SELECT string_agg(relname, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                      "AND relkind = 'r'", db=target) == "orders"
    assert psql(name, ROWS, db=target) == psql(name, ROWS, db="shop")


def test_a_data_only_dump_fills_a_database_restored_from_the_schema_dump(runs):
    """The data-only dump needs its tables: into a new database it is refused (nothing created), after the schema
    dump it brings back every row and sequence; again, nothing to do; an older backup's into tables that hold rows
    is refused unless overwrite empties them first."""
    name, target = "walg-bookworm", "shop_from_parts"
    data = {"tool": "logical", "dump": "shop-data", "database": target}
    refused = module(name, "pg_restore", data)
    assert refused.get("failed") and "restore the schema first" in refused["msg"], refused
    assert "public.orders" in refused["msg"] and "crm.contacts" in refused["msg"]
    assert psql(name, "SELECT count(*) FROM pg_database WHERE datname = '%s'" % target) == "0"
    schema = module(name, "pg_restore", dict(data, dump="shop-schema"))
    assert schema.get("changed") is True, schema
    assert psql(name, "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM crm.contacts)", db=target) == "0"

    filled = module(name, "pg_restore", data)
    assert filled.get("changed") is True and filled["restored"]["backup"] == runs[name]["logical"], filled
    assert psql(name, ROWS, db=target) == psql(name, ROWS, db="shop")
    assert psql(name, CRM_ROWS, db=target) == psql(name, CRM_ROWS, db="shop")
    assert psql(name, SEQUENCES, db=target) == psql(name, SEQUENCES, db="shop")
    assert module(name, "pg_restore", data).get("changed") is False

    older = dict(data, backup=labels(name, "logical")[0])
    assert older["backup"] != runs[name]["logical"]
    held = module(name, "pg_restore", older)
    assert held.get("failed") and "hold rows already" in held["msg"] and "overwrite" in held["msg"], held
    replaced = module(name, "pg_restore", dict(older, overwrite=True))
    assert replaced.get("changed") is True, replaced
    assert psql(name, ROWS, db=target) == psql(name, ROWS, db="shop")
    assert psql(name, CRM_ROWS, db=target) == psql(name, CRM_ROWS, db="shop")


def test_a_dump_limited_to_schemas_holds_only_them_and_restores_alone(runs):
    name, target = "walg-trixie", "crm_only"
    path = "%s/logical/%s/shop-crm.dump" % (ROOT, runs[name]["logical"])
    toc = host(name).check_output("sudo -u postgres /usr/lib/postgresql/17/bin/pg_restore --list %s", path)
    lines = [line for line in toc.splitlines() if line and not line.startswith(";")]
    assert lines and all(TOC_ENTRY.match(line) for line in lines), toc
    entries = [TOC_ENTRY.match(line).groups() for line in lines]
    # the schema itself, and every object in it: tables, their rows, sequence, keys
    assert [tag for kind, schema, tag in entries if kind == "SCHEMA"] == ["crm"], toc
    assert set(schema for kind, schema, tag in entries if kind != "SCHEMA") == {"crm"}, toc
    assert sorted(tag for kind, schema, tag in entries if kind == "TABLE DATA") == ["contacts", "customers"], toc
    assert "FK CONSTRAINT" in [kind for kind, schema, tag in entries], toc
    result = module(name, "pg_restore", {"tool": "logical", "dump": "shop-crm", "database": target})
    assert result.get("changed") is True, result
    assert psql(name, RELATION_SCHEMAS, db=target) == "crm"
    assert psql(name, CRM_ROWS, db=target) == psql(name, CRM_ROWS, db="shop")


def test_a_dump_taken_on_15_restores_into_17(runs):
    label = runs["walg-bookworm"]["logical"]
    host("walg-trixie").check_output("install -d -o postgres -m 0700 /var/tmp/from15 /var/tmp/from15/logical")
    copy = subprocess.run("docker exec walg-bookworm tar -C %s/logical -cf - %s | "
                          "docker exec -i walg-trixie tar -C /var/tmp/from15/logical -xf -" % (ROOT, label),
                          shell=True, capture_output=True, text=True, check=False)
    assert copy.returncode == 0, copy.stderr
    host("walg-trixie").check_output("chown -R postgres: /var/tmp/from15")
    args = {"tool": "logical", "dump": "shop", "database": "shop_from_15", "local_dir": "/var/tmp/from15", "jobs": 2}
    result = module("walg-trixie", "pg_restore", args)
    assert result.get("changed") is True, result
    assert psql("walg-trixie", "SELECT split_part(version(), ' ', 2)").startswith("17.")
    assert psql("walg-trixie", ROWS, db="shop_from_15") == psql("walg-bookworm", ROWS, db="shop")


@pytest.mark.parametrize("name", HOSTS)
def test_base_backup_verifies_and_starts_as_a_cluster(name, runs):
    h, major = host(name), HOSTS[name]
    label = runs[name]["base"]
    m = manifest(name, "base", label)
    assert m["verified"] is True and m["compression"] == "server-zstd:1"
    assert set(f["path"] for f in m["files"]) >= set(["pgdata/base.tar.zst", "pgdata/pg_wal.tar",
                                                      "pgdata/backup_manifest", "config/postgresql.conf"])
    src, scratch = "%s/base/%s" % (ROOT, label), "/var/tmp/basecheck"
    script = """set -e
rm -rf {d} && mkdir -m 0700 {d} {d}/sock && cd {d}
tar --zstd -xf {src}/pgdata/base.tar.zst -C {d} 2>/dev/null || tar -xf {src}/pgdata/base.tar.zst -C {d}
tar -xf {src}/pgdata/pg_wal.tar -C {d}/pg_wal
/usr/lib/postgresql/{v}/bin/pg_verifybackup --manifest-path={src}/pgdata/backup_manifest {d}
cp -r {src}/config/. {d}/
grep -vE '^(data_directory|hba_file|ident_file|external_pid_file|port|unix_socket_directories)' {src}/config/postgresql.conf > {d}/postgresql.conf
printf "port = 5499\\nunix_socket_directories = '{d}/sock'\\narchive_mode = off\\n" >> {d}/postgresql.conf
/usr/lib/postgresql/{v}/bin/pg_ctl -D {d} -l {d}/start.log -w -t 60 start >/dev/null
""".format(d=scratch, src=src, v=major)
    try:
        started = run_as(name, "postgres", script)
        assert started.rc == 0, started.stdout + started.stderr + h.run("cat %s/start.log", scratch).stdout
        assert "backup successfully verified" in started.stdout
        rows = run_as(name, "postgres", "psql -XAt -h %s/sock -p 5499 -d shop -c \"%s\"" % (scratch, ROWS))
        assert rows.rc == 0, rows.stderr
        assert rows.stdout.strip() == psql(name, ROWS, db="shop")
        assert run_as(name, "postgres", "psql -XAt -h %s/sock -p 5499 -c 'SHOW work_mem'" % scratch).stdout.strip() \
            == "8MB"
    finally:
        run_as(name, "postgres", "/usr/lib/postgresql/%d/bin/pg_ctl -D %s -m immediate stop; rm -rf %s"
               % (major, scratch, scratch))


_S3_SHA256 = r"""
import hashlib, json, sys, boto3
lab = json.load(open('/root/.pgops-lab-s3.json'))
s3 = boto3.client('s3', endpoint_url=lab['endpoint'], region_name='us-east-1',
                  aws_access_key_id=lab['access_key'], aws_secret_access_key=lab['secret_key'],
                  verify='/etc/ssl/certs/ca-certificates.crt')
found = {}
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2]):
    for obj in page.get('Contents', []):
        found[obj['Key']] = hashlib.sha256(s3.get_object(Bucket=sys.argv[1], Key=obj['Key'])['Body'].read()).hexdigest()
print(json.dumps(found))
"""


def offsite(name, prefix):
    return json.loads(host(name).check_output("python3 -c %s %s %s", _S3_SHA256, BUCKET, prefix))


@pytest.mark.parametrize("name", HOSTS)
@pytest.mark.parametrize("kind", ["logical", "base"])
def test_retention_keeps_exactly_the_declared_number_here_and_offsite(name, kind, runs):
    kept = labels(name, kind)
    assert len(kept) == KEEP[kind], kept
    assert kept[-1] == runs[name][kind]
    stored = offsite(name, "%s/%s/" % (name, kind))
    assert sorted(set(key.split("/")[2] for key in stored)) == kept


@pytest.mark.parametrize("name", HOSTS)
@pytest.mark.parametrize("kind", ["logical", "base"])
def test_offsite_copies_match_the_local_checksums(name, kind, runs):
    label = runs[name][kind]
    m = manifest(name, kind, label)
    prefix = "%s/%s/%s/" % (name, kind, label)
    stored = offsite(name, prefix)
    expected = dict((prefix + f["path"], f["sha256"]) for f in m["files"])
    expected[prefix + "manifest.json"] = host(name).check_output(
        "sha256sum %s/%s/%s/manifest.json", ROOT, kind, label).split()[0]
    assert stored == expected


@pytest.mark.parametrize("name", HOSTS)
def test_no_secret_in_cron_logs_settings_or_backups_and_keys_are_postgres_only(name, runs):
    h = host(name)
    keys = h.file("/etc/pgops-backup/offsite-credentials.json")
    assert keys.user == "postgres" and keys.mode == 0o600
    settings = h.file("/etc/pgops-backup/dumps.json")
    assert settings.user == "root" and settings.group == "postgres" and settings.mode == 0o640
    visible = h.check_output("crontab -l -u postgres; cat /var/log/pgops-backup/*.log /etc/pgops-backup/dumps.json "
                             "%s/*/*/manifest.json", ROOT)
    for secret in lab_secrets():
        assert secret not in visible


def test_a_failed_run_exits_non_zero_with_the_reason_and_leaves_no_backup(runs):
    name = "walg-bookworm"
    h = host(name)
    settings = json.loads(h.file("/etc/pgops-backup/dumps.json").content_string)
    settings["logical"]["dumps"] = [dict(settings["logical"]["dumps"][0], database="no_such_db", name="gone")]
    settings["offsite"] = None
    h.check_output("echo %s > /tmp/broken.json && chown postgres /tmp/broken.json", json.dumps(settings))
    before = labels(name, "logical")
    result = run_as(name, "postgres", "/usr/local/bin/pgops-backup-job broken -- /usr/local/bin/pgops-backup-dumps "
                                      "backup logical --settings /tmp/broken.json")
    assert result.rc == 1
    assert 'database "no_such_db" does not exist' in result.stderr
    log = h.file("/var/log/pgops-backup/broken.log").content_string
    assert "broken: FAILED (exit 1): ERROR: logical backup failed: pg_dump of no_such_db" in log
    assert labels(name, "logical") == before
    assert not [entry for entry in h.check_output("ls -A %s/logical", ROOT).split() if entry.startswith(".partial")]


def test_a_run_never_touches_a_backup_being_written_and_clears_a_dead_ones(runs):
    name = "walg-bookworm"
    h = host(name)
    dead = "%s/logical/.partial-20260101T000000Z" % ROOT
    h.check_output("install -d -o postgres -m 0700 %s", dead)
    # while another run holds the kind's lock, a run refuses and the partial backup stays
    busy = run_as(name, "postgres", "flock %s/logical/.lock /usr/local/bin/pgops-backup-dumps backup logical" % ROOT)
    assert busy.rc == 1 and "another logical backup is running" in busy.stderr
    assert h.file(dead).is_directory
    # the next run that holds the lock knows the partial one is dead
    done = run_as(name, "postgres", "/usr/local/bin/pgops-backup-dumps backup logical")
    assert done.rc == 0, done.stderr
    assert "removed %s" % dead in done.stdout
    assert not h.file(dead).exists
    assert len(labels(name, "logical")) == KEEP["logical"]


@pytest.mark.parametrize("name", HOSTS)
def test_pg_backup_and_pg_backup_info_handle_both_kinds(name, runs):
    for kind in ("logical", "base"):
        fresh = module(name, "pg_backup", {"tool": kind, "max_age": "1h"})
        assert fresh.get("changed") is False and fresh["backup"]["label"] == labels(name, kind)[-1], fresh
        info = module(name, "pg_backup_info", {"tool": kind, "archiver": False})
        assert [b["label"] for b in info["repositories"][0]["backups"]] == labels(name, kind)
    taken = module(name, "pg_backup", {"tool": "base"})
    assert taken.get("changed") is True and taken["backup"]["kind"] == "base", taken
    assert taken["backup"]["label"] == labels(name, "base")[-1]
