"""The restore test a user runs on their own backups (extensions/molecule/restore_test), run exactly as the README
tells a user: an infra repository in a temporary directory links the scenario the collection ships, holds the
policy in group_vars/postgresql/ (the lab's MinIO endpoint and CA path, the credentials in a vault file beside it),
the key the roles kept in .pgops-secrets/, and the checks in a file of its own; `molecule test -s restore_test` then
restores mon-trixie's newest pgBackRest backup from the lab's MinIO into a throwaway container of the same Debian
(PostgreSQL 17) on the lab's network, and destroys it. Proven: the run passes and reports that very backup, the RTO,
where replay ended and each check (a row count equal to the source's, and an SQL assertion that finds a row
committed just before); a wrong assertion fails the run and is named; no secret is printed; the container is gone
after each run; and the repository is exactly as it was (every object and its ETag), but for the WAL the production
server archived itself meanwhile."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import yaml

from labtest import assert_no_secret_in, newest_backup, psql, s3_objects, secrets_dir, switch_and_archive

SOURCE = "mon-trixie"
IMAGE = "pgops-lab/debian:trixie"
NETWORK = "pgops-monitoring"
# no scenario's container has this name
CONTAINER = "restore-test-monitoring"
BUCKET = "pgops-pgbackrest"
CA = "/usr/local/share/ca-certificates/pgops-lab.crt"


def shipped_scenario():
    """extensions/molecule/restore_test of the installed collection, as a user's collections path holds it."""
    for path in os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep):
        scenario = os.path.join(path, "ansible_collections", "pgops", "backup", "extensions", "molecule", "restore_test")
        if os.path.isdir(scenario):
            return scenario
    raise AssertionError("pgops.backup is not on ANSIBLE_COLLECTIONS_PATH: %s" % os.environ["ANSIBLE_COLLECTIONS_PATH"])


def write_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)
    os.chmod(path, 0o600)


def repository_objects():
    """Every object of mon-trixie's prefix with its ETag."""
    return s3_objects(SOURCE, BUCKET, "%s/" % SOURCE)["etags"]


def container_exists():
    done = subprocess.run(["docker", "ps", "-aq", "--filter", "name=^%s$" % CONTAINER], capture_output=True, text=True,
                          check=True)
    return bool(done.stdout.strip())


@pytest.fixture(scope="module")
def infra():
    """The user's infra repository: the shipped scenario linked in, their policy, vault, key and CA, and a canary row
    committed (and archived) on the backed-up host just before; yields (directory, canary, the source's rows)."""
    repo = tempfile.mkdtemp(prefix="pgops-user-infra-")
    os.makedirs(os.path.join(repo, "molecule"))
    os.symlink(shipped_scenario(), os.path.join(repo, "molecule", "restore_test"))
    with open(os.path.join(os.environ["PGOPS_CACHE"], "pki", "minio-credentials.yml")) as handle:
        minio = yaml.safe_load(handle)
    write_yaml(os.path.join(repo, "group_vars", "postgresql", "main.yml"), {
        "pg_backup_rpo": "2m",
        "pg_backup_repositories": [{
            "name": "offsite", "type": "s3", "bucket": BUCKET, "endpoint": "minio:9000", "region": "us-east-1",
            "uri_style": "path", "prefix": "/{{ inventory_hostname }}", "access_key": "{{ vault_s3_access_key }}",
            "secret_key": "{{ vault_s3_secret_key }}", "ca_file": CA, "retention": {"full": 2}}],
    })
    write_yaml(os.path.join(repo, "group_vars", "postgresql", "vault.yml"), {
        "vault_s3_access_key": minio["lab_minio_access_key"], "vault_s3_secret_key": minio["lab_minio_secret_key"]})
    # the key the roles kept for the host, beside the inventory
    shutil.copytree(os.path.join(secrets_dir(), SOURCE), os.path.join(repo, ".pgops-secrets", SOURCE))
    shutil.copy(os.path.join(os.environ["PGOPS_CACHE"], "pki", "ca.crt"), os.path.join(repo, "minio-ca.crt"))

    canary = "restore-test-%d" % time.time()
    psql(SOURCE, "INSERT INTO orders (customer, amount) VALUES ('%s', 1)" % canary, db="shop")
    assert switch_and_archive(SOURCE)[1]
    rows = int(psql(SOURCE, "SELECT count(*) FROM orders", db="shop"))
    write_yaml(os.path.join(repo, "restore-test.yml"), {
        "pg_backup_drill_row_counts": [{"database": "shop", "table": "orders", "equals": rows}],
        "pg_backup_drill_sql": [{"name": "the order committed before the test", "database": "shop",
                                 "query": "SELECT count(*) FROM orders WHERE customer = '%s'" % canary,
                                 "expected": "1"}],
    })
    yield repo, canary, rows
    shutil.rmtree(repo, ignore_errors=True)


def molecule_test(repo, variables):
    """`molecule test -s restore_test` from the user's repository, with what their CI job sets, and nothing of the
    lab's own Molecule run (its MOLECULE_* and ANSIBLE_* settings) but where the collection is installed."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(("MOLECULE_", "ANSIBLE_")))
    env.update(ANSIBLE_COLLECTIONS_PATH=os.environ["ANSIBLE_COLLECTIONS_PATH"], ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", PY_COLORS="0", PGOPS_RESTORE_TEST_HOST=SOURCE, PGOPS_RESTORE_TEST_VARS=variables,
               PGOPS_RESTORE_TEST_CA="minio-ca.crt", PGOPS_RESTORE_TEST_IMAGE=IMAGE,
               PGOPS_RESTORE_TEST_NETWORK=NETWORK, PGOPS_RESTORE_TEST_CONTAINER=CONTAINER,
               # Molecule's working files in the temporary repository, removed with it
               MOLECULE_EPHEMERAL_DIRECTORY=os.path.join(repo, ".molecule"))
    report = os.path.join(repo, "restore-test-report.json")
    if os.path.exists(report):
        os.unlink(report)
    try:
        done = subprocess.run(["molecule", "test", "-s", "restore_test"], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
    finally:
        left = container_exists()
        if left:  # gone for the next run, whatever happened
            subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True, check=False)
    output = done.stdout + done.stderr
    assert not left, "molecule test left the container %s behind: %s" % (CONTAINER, output[-4000:])
    assert_no_secret_in(output, "the restore test's output")
    assert os.path.exists(report), "no report was written: %s" % output[-4000:]
    with open(report) as handle:
        return done.returncode, output, json.load(handle)


def archived_by_the_server(key, last_archived):
    """A segment of the production server's timeline 1 that it archived itself (no later than pg_stat_archiver
    says), as archive-push names it: .../0000000100000000/<segment>-<sha1>.<ext>."""
    match = re.search(r"/archive/main/[^/]+/0000000100000000/(00000001[0-9A-F]{16})-[0-9a-f]{40}(\.\w+)?$", key)
    return bool(match) and match.group(1) <= last_archived


def test_a_user_restores_the_newest_backup_from_their_bucket_with_their_checks(infra):
    repo, canary, rows = infra
    label = newest_backup(SOURCE)["label"]
    before = repository_objects()
    rc, output, report = molecule_test(repo, "group_vars/postgresql:restore-test.yml")
    assert rc == 0, output[-6000:]
    assert "restore test PASSED: %s's pgbackrest stanza main from offsite" % SOURCE in output, output[-4000:]
    assert "backup restored: %s (target latest)" % label in output
    assert report["passed"] is True and report["backup"] == label and report["error"] is None
    assert 0 < report["rto_seconds"] <= report["checked_seconds"] < 900
    assert re.search(r"RTO: [\d.]+ s to a usable cluster, [\d.]+ s to a checked one", output)
    assert re.match(r"^[0-9A-F]+/[0-9A-F]+$", report["replay_end_lsn"]) and report["replay_end_time"]
    assert "replay ended at LSN %s" % report["replay_end_lsn"] in output
    checks = dict((c["name"], c) for c in report["checks"])
    assert checks["rows shop.orders"]["passed"] and checks["rows shop.orders"]["value"] == rows
    assert checks["the order committed before the test"]["passed"] and \
        checks["the order committed before the test"]["value"] == "1"
    assert checks["amcheck shop"]["passed"]
    assert "check passed: the order committed before the test" in output

    last_archived = psql(SOURCE, "SELECT last_archived_wal FROM pg_stat_archiver")
    after = repository_objects()
    assert not [k for k in before if after.get(k) != before[k]], "objects changed or removed"
    added = sorted(set(after) - set(before))
    assert not [k for k in added if not archived_by_the_server(k, last_archived)], added


def test_a_wrong_assertion_fails_the_run_and_is_named(infra):
    repo, canary, rows = infra
    write_yaml(os.path.join(repo, "wrong.yml"), {"pg_backup_drill_sql": [
        {"name": "the order is there twice", "database": "shop",
         "query": "SELECT count(*) FROM orders WHERE customer = '%s'" % canary, "expected": "2"}]})
    before = repository_objects()
    rc, output, report = molecule_test(repo, "group_vars/postgresql:restore-test.yml:wrong.yml")
    assert rc != 0, output[-4000:]
    assert "check FAILED: the order is there twice (got '1', expected '2')" in output, output[-6000:]
    assert "restore test of %s FAILED: checks failed: the order is there twice" % SOURCE in output
    assert report["passed"] is False and report["backup"] == newest_backup(SOURCE)["label"]
    last_archived = psql(SOURCE, "SELECT last_archived_wal FROM pg_stat_archiver")
    after = repository_objects()
    assert not [k for k in before if after.get(k) != before[k]]
    assert not [k for k in set(after) - set(before) if not archived_by_the_server(k, last_archived)]
