"""A WAL segment missing from every repository after the newest backup: playbooks/restore.yml and the drill fail
loudly naming it, the cluster stays un-promoted and the stanza's archive unchanged; with the segment back, the
same restore goes on and every acknowledged commit is there. Runs last (file order): it loses rst-bookworm's
cluster once more and leaves it restored."""
import json

import pytest

from labtest import ansible_playbook, host, psql, run_as, scheduled_job, wait_for

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


@pytest.fixture(scope="module")
def gap(restore_run):
    """Three batches of rows, each in a segment of its own, all archived; the middle segment removed from both
    repositories; the server lost; then restore.yml to latest and the drill, each against that archive."""
    psql(NAME, "CREATE TABLE gap_ledger (id serial PRIMARY KEY, batch int NOT NULL)", db="shop")
    segments = []
    for batch in (1, 2, 3):
        psql(NAME, "INSERT INTO gap_ledger (batch) SELECT %d FROM generate_series(1, %d)" % (batch, BATCH), db="shop")
        segments.append(psql(NAME, "SELECT pg_walfile_name(pg_current_wal_lsn())"))
        psql(NAME, "SELECT pg_switch_wal()")
    assert wait_for(lambda: archived(segments[-1]), timeout=90), "%s was not archived" % segments[-1]
    missing = segments[1]
    host(NAME).check_output("rm -rf %s && install -d -m 0700 %s", STASH, STASH)
    local = host(NAME).check_output("find %s -name '%s-*'", ARCHIVE, missing)
    assert local and len(local.split()) == 1, local
    host(NAME).check_output("mv %s %s/ && echo %s > %s/local.path", local, STASH, local, STASH)
    s3("out", S3_ARCHIVE, missing, STASH + "/s3.object")
    before = archive_state()
    host(NAME).check_output("systemctl stop %s && rm -rf %s", SERVICE, DATA)
    try:
        restored = restore_latest()
        after_restore = (cluster_state(), archive_state())
        drill = run_as(NAME, "postgres", scheduled_job(NAME, "postgres", "drill:main"))
        drill_result = json.loads(host(NAME).file("/var/lib/pgops-backup/drills/latest.json").content_string)
        after_drill = archive_state()
    finally:
        host(NAME).check_output("mv %s/%s %s", STASH, local.rsplit("/", 1)[1], local)
        s3("in", stash=STASH + "/s3.object")
    return {"segments": segments, "missing": missing, "before": before, "restored": restored,
            "after_restore": after_restore, "drill": drill, "drill_result": drill_result, "after_drill": after_drill}


def test_restore_with_a_gap_fails_naming_the_missing_segment(gap):
    output = gap["restored"].stdout + gap["restored"].stderr
    assert gap["restored"].returncode != 0, output[-4000:]
    failure = [line for line in output.splitlines() if "replay has not moved" in line]
    assert failure, output[-4000:]
    print("restore.yml with %s missing: %s" % (gap["missing"], failure[-1][:1500]))
    assert "segment %s is missing" % gap["missing"] in failure[-1]
    assert "the archive ends at segment " in failure[-1] and "PostgreSQL said: " in failure[-1]
    assert "promoted on timeline" not in output


def test_restore_with_a_gap_leaves_the_cluster_unpromoted_and_the_archive_unchanged(gap):
    state, archive = gap["after_restore"]
    print("after the failed restore: %s" % state)
    assert state["service"] != "active" and state["control"] == "shut down in recovery" and state["standby_signal"]
    assert archive == gap["before"]


def test_drill_with_a_gap_fails_loudly_and_records_where_replay_ended(gap):
    result, drill = gap["drill_result"], gap["drill"]
    assert drill.rc != 0 and "restore drill FAILED" in drill.stderr, drill.stdout + drill.stderr
    assert result["passed"] is False and "segment %s is missing" % gap["missing"] in result["error"], result
    assert result["replay_end_lsn"] and result["archive_end_segment"] >= gap["segments"][-1], result
    print("drill with %s missing: replay ended at %s, archive ends at %s: %s"
          % (gap["missing"], result["replay_end_lsn"], result["archive_end_segment"], result["error"][:600]))
    assert gap["after_drill"] == gap["before"]


def test_with_the_segment_back_the_same_restore_completes_with_every_commit(gap):
    result = restore_latest()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "promoted on timeline" in output
    counts = psql(NAME, "SELECT string_agg(batch || ':' || n, ',' ORDER BY batch) FROM "
                        "(SELECT batch, count(*) AS n FROM gap_ledger GROUP BY batch) b", db="shop")
    assert counts == "1:%d,2:%d,3:%d" % (BATCH, BATCH, BATCH)
