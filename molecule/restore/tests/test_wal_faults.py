"""A WAL segment missing from every repository after the newest backup, one with a flipped byte (rst-bookworm), and
the repository stopped during recovery (rst-walg): playbooks/restore.yml (and the drill) fail loudly naming the
segment or the error, the cluster stays un-promoted and the archive unchanged; repaired, the same restore goes on and
every acknowledged commit is there. Runs last (file order): it loses the servers again and leaves them restored."""
import json
import subprocess
import threading
import time

import pytest

from labtest import ansible_playbook, host, psql, run_as, s3_objects, scheduled_job, wait_for

NAME = "rst-bookworm"
SERVICE = "postgresql@15-main"
DATA = "/var/lib/postgresql/15/main"
ARCHIVE = "/var/lib/pgbackrest/archive/main"
BUCKET, S3_ARCHIVE = "pgops-pgbackrest", "rst-bookworm/archive/main/"
STASH = "/var/tmp/lab-gap"
BATCH = 100

# moves an object out of the bucket into a file and back, with the lab's S3 credentials
_S3_MOVE = r"""
import json, sys, boto3
lab = json.load(open('/root/.pgops-lab-s3.json'))
s3 = boto3.client('s3', endpoint_url=lab['endpoint'], region_name='us-east-1', aws_access_key_id=lab['access_key'],
                  aws_secret_access_key=lab['secret_key'], verify='/etc/ssl/certs/ca-certificates.crt')
direction, bucket, prefix, segment, stash = sys.argv[1:6]
if direction == 'list':
    keys = [o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix)
            for o in p.get('Contents', [])]
    print(json.dumps(sorted(keys)))
elif direction == 'out':
    keys = [o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get('Contents', [])
            if o['Key'].rsplit('/', 1)[-1].startswith(segment + '-')]
    assert len(keys) == 1, keys
    open(stash, 'wb').write(s3.get_object(Bucket=bucket, Key=keys[0])['Body'].read())
    open(stash + '.key', 'w').write(keys[0])
    s3.delete_object(Bucket=bucket, Key=keys[0])
elif direction == 'flip':
    keys = [o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get('Contents', [])
            if o['Key'].rsplit('/', 1)[-1].startswith(segment + '-')]
    assert len(keys) == 1, keys
    body = bytearray(s3.get_object(Bucket=bucket, Key=keys[0])['Body'].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=keys[0], Body=bytes(body))
else:
    s3.put_object(Bucket=bucket, Key=open(stash + '.key').read(), Body=open(stash, 'rb').read())
"""


def s3(direction, prefix="", segment="", stash=""):
    return host(NAME).check_output("python3 -c %s %s %s %s %s %s", _S3_MOVE, direction, BUCKET, prefix or "-",
                                   segment or "-", stash or "-")


def archive_state():
    """Every file of the stanza's archive in both repositories: what a failed restore must not change."""
    return {"repo1": host(NAME).check_output("find %s -type f -printf '%%P %%s\\n' | sort", ARCHIVE),
            "repo2": json.loads(s3("list", S3_ARCHIVE))}


def archived(segment):
    return psql(NAME, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver" % segment) == "t"


def cluster_state():
    active = host(NAME).run("systemctl is-active %s", SERVICE).stdout.strip()
    control = host(NAME).check_output("/usr/lib/postgresql/15/bin/pg_controldata %s", DATA)
    state = [line.split(":", 1)[1].strip() for line in control.splitlines() if line.startswith("Database cluster state")]
    return {"service": active, "control": state[0], "standby_signal": host(NAME).file(DATA + "/standby.signal").exists}


def restore_latest():
    return ansible_playbook("../../playbooks/restore.yml", "--limit", NAME, "-e", "restore_stall_timeout=20",
                            timeout=900)


FLIP = ("python3 -c 'import os, sys; p = sys.argv[1]; n = os.path.getsize(p) // 2; f = open(p, \"r+b\"); "
        "f.seek(n); b = f.read(1)[0]; f.seek(n); f.write(bytes([b ^ 0xFF]))' %s")


def remove(segment):
    """The segment out of both repositories; returns what puts it back."""
    local = host(NAME).check_output("find %s -name '%s-*'", ARCHIVE, segment)
    assert local and len(local.split()) == 1, local
    host(NAME).check_output("rm -rf %s && install -d -m 0700 %s && mv %s %s/local", STASH, STASH, local, STASH)
    s3("out", S3_ARCHIVE, segment, STASH + "/s3.object")

    def put_back():
        host(NAME).check_output("mv %s/local %s", STASH, local)
        s3("in", stash=STASH + "/s3.object")
    return put_back


def flip(segment):
    """One byte in the middle of the segment's file flipped in both repositories; returns what flips it back."""
    local = host(NAME).check_output("find %s -name '%s-*'", ARCHIVE, segment)
    assert local and len(local.split()) == 1, local

    def flip_both():
        host(NAME).check_output(FLIP % local)
        s3("flip", S3_ARCHIVE, segment)
    flip_both()
    return flip_both


def broken_archive(table, damage):
    """Three batches of rows into table, each in a segment of its own, all archived; damage(the middle segment)
    applied to both repositories; the server lost; then restore.yml to latest and the drill, each against that
    archive; then the damage repaired."""
    psql(NAME, "CREATE TABLE %s (id serial PRIMARY KEY, batch int NOT NULL)" % table, db="shop")
    segments = []
    for batch in (1, 2, 3):
        psql(NAME, "INSERT INTO %s (batch) SELECT %d FROM generate_series(1, %d)" % (table, batch, BATCH), db="shop")
        segments.append(psql(NAME, "SELECT pg_walfile_name(pg_current_wal_lsn())"))
        psql(NAME, "SELECT pg_switch_wal()")
    assert wait_for(lambda: archived(segments[-1]), timeout=90), "%s was not archived" % segments[-1]
    host(NAME).check_output("systemctl stop %s && rm -rf %s", SERVICE, DATA)
    repair = damage(segments[1])
    before = archive_state()
    try:
        restored = restore_latest()
        after_restore = (cluster_state(), archive_state())
        drill = run_as(NAME, "postgres", scheduled_job(NAME, "postgres", "drill:main"))
        drill_result = json.loads(host(NAME).file("/var/lib/pgops-backup/drills/latest.json").content_string)
        after_drill = archive_state()
    finally:
        repair()
    return {"table": table, "segments": segments, "missing": segments[1], "before": before, "restored": restored,
            "after_restore": after_restore, "drill": drill, "drill_result": drill_result, "after_drill": after_drill}


@pytest.fixture(scope="module")
def gap(restore_run):
    return broken_archive("gap_ledger", remove)


@pytest.fixture(scope="module")
def corrupt(restore_run):
    return broken_archive("flip_ledger", flip)


def failure_line(case):
    """restore.yml's failure message, after checking that the play failed and promoted nothing."""
    output = case["restored"].stdout + case["restored"].stderr
    assert case["restored"].returncode != 0, output[-4000:]
    assert "promoted on timeline" not in output
    failure = [line for line in output.splitlines() if "the archive ends at segment" in line]
    assert failure and "PostgreSQL said: " in failure[-1], output[-4000:]
    return failure[-1]


def assert_unpromoted_and_archive_unchanged(case):
    state, archive = case["after_restore"]
    print("after the failed restore: %s" % state)
    assert state["service"] != "active" and state["control"] == "shut down in recovery" and state["standby_signal"]
    assert archive == case["before"]


def test_restore_with_a_gap_fails_naming_the_missing_segment(gap):
    failure = failure_line(gap)
    print("restore.yml with %s missing: %s" % (gap["missing"], failure[:1500]))
    assert "replay has not moved" in failure and "segment %s is missing" % gap["missing"] in failure


def test_restore_with_a_gap_leaves_the_cluster_unpromoted_and_the_archive_unchanged(gap):
    assert_unpromoted_and_archive_unchanged(gap)


def test_drill_with_a_gap_fails_loudly_and_records_where_replay_ended(gap):
    result, drill = gap["drill_result"], gap["drill"]
    assert drill.rc != 0 and "restore drill FAILED" in drill.stderr, drill.stdout + drill.stderr
    assert result["passed"] is False and "segment %s is missing" % gap["missing"] in result["error"], result
    assert result["replay_end_lsn"] and result["archive_end_segment"] >= gap["segments"][-1], result
    print("drill with %s missing: replay ended at %s, archive ends at %s: %s"
          % (gap["missing"], result["replay_end_lsn"], result["archive_end_segment"], result["error"][:600]))
    assert gap["after_drill"] == gap["before"]


def assert_restores_every_commit_once_repaired(table):
    result = restore_latest()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "promoted on timeline" in output
    print([line.strip() for line in output.splitlines() if "replay ended at" in line][-1:])
    counts = psql(NAME, "SELECT string_agg(batch || ':' || n, ',' ORDER BY batch) FROM "
                        "(SELECT batch, count(*) AS n FROM %s GROUP BY batch) b" % table, db="shop")
    assert counts == "1:%d,2:%d,3:%d" % (BATCH, BATCH, BATCH)


def test_with_the_segment_back_the_same_restore_completes_with_every_commit(gap):
    assert_restores_every_commit_once_repaired(gap["table"])


def test_restore_with_a_flipped_byte_fails_naming_the_segment_unpromoted_archive_unchanged(corrupt):
    failure = failure_line(corrupt)
    print("restore.yml with a byte of %s flipped: %s" % (corrupt["missing"], failure[:1500]))
    # PostgreSQL rejects a record of the segment, or pgBackRest cannot decompress or decrypt it
    assert "segment %s is unreadable" % corrupt["missing"] in failure or (
        "segment %s is missing" % corrupt["missing"] in failure and "ERROR" in failure), failure
    assert_unpromoted_and_archive_unchanged(corrupt)


def test_drill_with_a_flipped_byte_fails_loudly(corrupt):
    result, drill = corrupt["drill_result"], corrupt["drill"]
    assert drill.rc != 0 and "restore drill FAILED" in drill.stderr, drill.stdout + drill.stderr
    assert result["passed"] is False and corrupt["missing"] in result["error"], result
    print("drill with a byte of %s flipped: %s" % (corrupt["missing"], result["error"][:600]))
    assert corrupt["after_drill"] == corrupt["before"]


def test_with_the_byte_flipped_back_the_same_restore_completes_with_every_commit(corrupt):
    assert_restores_every_commit_once_repaired(corrupt["table"])


WALG, WALG_SERVICE, WALG_DATA = "rst-walg", "postgresql@13-main", "/var/lib/postgresql/13/main"


def docker(name, command):
    return subprocess.run(["docker", "exec", name, "sh", "-c", command], capture_output=True, text=True, check=False)


DRILL_SCRATCH = "/var/tmp/pgops-restore-drill"


def stop_minio_when_restored(done, signal_test="test -f %s/standby.signal" % WALG_DATA):
    """MinIO stopped as soon as the restored data directory has its standby.signal, before PostgreSQL starts."""
    deadline = time.time() + 600
    while time.time() < deadline and not done.is_set():
        if docker(WALG, signal_test).returncode == 0:
            docker("rst-minio", "systemctl stop minio")
            return
        time.sleep(0.3)


@pytest.fixture(scope="module")
def unreachable(restore_run):
    """rst-walg (wal-g, S3 only) lost and restored to latest by restore.yml, MinIO stopped once the backup is fetched;
    then MinIO back and the same restore again."""
    psql(WALG, "CREATE TABLE IF NOT EXISTS unreachable_ledger (id serial PRIMARY KEY)", db="shop")
    psql(WALG, "INSERT INTO unreachable_ledger SELECT FROM generate_series(1, %d)" % BATCH, db="shop")
    segment = psql(WALG, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    psql(WALG, "SELECT pg_switch_wal()")
    assert wait_for(lambda: psql(WALG, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver"
                                 % segment) == "t", timeout=90)
    # listed once PostgreSQL is stopped: a shutdown with archiving on switches the segment it wrote into and
    # archives it before the postmaster exits
    host(WALG).check_output("systemctl stop %s", WALG_SERVICE)
    wal_before = sorted(s3_objects(WALG, "pgops-walg", "rst-walg/wal_005/")["keys"])
    host(WALG).check_output("rm -rf %s", WALG_DATA)
    done = threading.Event()
    watcher = threading.Thread(target=stop_minio_when_restored, args=(done,))
    watcher.start()
    try:
        failed = ansible_playbook("../../playbooks/restore.yml", "--limit", WALG, "-e", "restore_stall_timeout=20",
                                  timeout=900)
        control = host(WALG).check_output("/usr/lib/postgresql/13/bin/pg_controldata %s", WALG_DATA)
        state = {"service": host(WALG).run("systemctl is-active %s", WALG_SERVICE).stdout.strip(),
                 "control": [line.split(":", 1)[1].strip() for line in control.splitlines()
                             if line.startswith("Database cluster state")][0],
                 "standby_signal": host(WALG).file(WALG_DATA + "/standby.signal").exists}
    finally:
        done.set()
        watcher.join()
        docker("rst-minio", "systemctl start minio")
    assert wait_for(lambda: run_as(WALG, "postgres", "wal-g backup-list").rc == 0, timeout=60)
    wal_after = sorted(s3_objects(WALG, "pgops-walg", "rst-walg/wal_005/")["keys"])
    again = ansible_playbook("../../playbooks/restore.yml", "--limit", WALG, timeout=900)
    # the drill, MinIO stopped once its scratch cluster is restored (before it starts replaying)
    done = threading.Event()
    watcher = threading.Thread(target=stop_minio_when_restored, args=(
        done, "find %s -maxdepth 2 -name standby.signal | grep -q ." % DRILL_SCRATCH))
    watcher.start()
    try:
        drill = run_as(WALG, "postgres", scheduled_job(WALG, "postgres", "drill:main"))
    finally:
        done.set()
        watcher.join()
        docker("rst-minio", "systemctl start minio")
    drill_result = json.loads(host(WALG).file("/var/lib/pgops-backup/drills/latest.json").content_string)
    assert wait_for(lambda: run_as(WALG, "postgres", "wal-g backup-list").rc == 0, timeout=60)
    wal_after_drill = sorted(s3_objects(WALG, "pgops-walg", "rst-walg/wal_005/")["keys"])
    timeline = int(psql(WALG, "SELECT timeline_id FROM pg_control_checkpoint()"))
    return {"failed": failed, "state": state, "wal_before": wal_before, "wal_after": wal_after, "again": again,
            "drill": drill, "drill_result": drill_result, "wal_after_drill": wal_after_drill,
            "timeline": timeline}


def test_repository_unreachable_during_recovery_fails_unpromoted_and_archives_nothing(unreachable):
    output = unreachable["failed"].stdout + unreachable["failed"].stderr
    assert unreachable["failed"].returncode != 0, output[-4000:]
    assert "promoted on timeline" not in output
    failure = [line for line in output.splitlines() if "PostgreSQL said: " in line]
    assert failure, output[-4000:]
    print("restore.yml with MinIO stopped during recovery: %s" % failure[-1][:1500])
    assert "recovery has restored no WAL" in failure[-1] or "replay has not moved" in failure[-1], failure[-1]
    print("after: %s" % unreachable["state"])
    assert unreachable["state"]["service"] != "active" and unreachable["state"]["standby_signal"]
    assert unreachable["state"]["control"] in ("shut down in recovery", "in archive recovery")
    # nothing was archived from the failed restore; the daily expire job (45 3 * * *) may have pruned the oldest WAL
    # meanwhile, which is retention's business, not the restore's
    added = sorted(set(unreachable["wal_after"]) - set(unreachable["wal_before"]))
    assert not added, added


def test_with_the_repository_back_the_same_restore_completes(unreachable):
    output = unreachable["again"].stdout + unreachable["again"].stderr
    assert unreachable["again"].returncode == 0, output[-4000:]
    assert "promoted on timeline" in output
    assert psql(WALG, "SELECT count(*) FROM unreachable_ledger", db="shop") == str(BATCH)


def test_drill_with_the_repository_unreachable_during_recovery_fails_loudly_and_archives_nothing(unreachable):
    drill, result = unreachable["drill"], unreachable["drill_result"]
    assert drill.rc != 0 and "restore drill FAILED" in drill.stderr, drill.stdout + drill.stderr
    assert result["passed"] is False, result
    print("drill with MinIO stopped during recovery: %s" % (result["error"] or "")[:800])
    assert "recovery has restored no WAL" in result["error"] or "replay has not moved" in result["error"], result
    # a scratch cluster that promoted would have archived the next timeline's history file; production is on its own
    newer = [key for key in unreachable["wal_after_drill"] if ".history" in key
             if int(key.rsplit("/", 1)[-1][:8], 16) > unreachable["timeline"]]
    assert not newer, newer
