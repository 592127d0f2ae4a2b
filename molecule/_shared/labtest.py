"""Helpers the scenarios' testinfra tests share: hosts by inventory name, SQL, S3 and the job schedule."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import time

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = os.environ["MOLECULE_SCENARIO_DIRECTORY"]


def host(name):
    """A lab host by inventory name, reached with docker exec (Molecule names each container after its host): the
    same root shell the ansible backend gives, without an Ansible run per command, which cost the CI budget."""
    return testinfra.get_host("docker://%s" % name)


def psql(name, sql, db="postgres"):
    """Runs SQL as postgres on a host and returns the unaligned output."""
    return host(name).check_output("sudo -u postgres psql -XAt -v ON_ERROR_STOP=1 -d %s -c %s", db, sql)


def lsn(text):
    """An LSN 'X/Y' as the number PostgreSQL compares ('0/A000028' is after '0/9FFFFD8')."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def lab_secrets():
    """Every secret the lab hands the roles: MinIO's keys and the keys kept on the controller."""
    secrets = []
    with open(os.path.join(os.environ["PGOPS_CACHE"], "pki", "minio-credentials.yml")) as f:
        secrets += [line.split(": ", 1)[1].strip() for line in f if ": " in line]
    for parent, _dirs, names in os.walk(secrets_dir()):
        for name in names:
            with open(os.path.join(parent, name)) as f:
                secrets.append(f.read().split()[0])
    return [s for s in secrets if len(s) >= 8]


def assert_no_secret_in(text, where):
    """None of the lab's secrets in text; there are secrets to look for, or the scan would prove nothing."""
    secrets = lab_secrets()
    assert len(secrets) >= 2, "the lab's secrets were not found: %d" % len(secrets)  # MinIO's two at least
    told = [s[:3] + "..." for s in secrets if s in text]
    assert not told, "%d secret(s) in %s: %s" % (len(told), where, told)


@contextlib.contextmanager
def process_lists(*names, interval=0.2):
    """Every host's `ps -eo args` sampled over and over while the block runs (a backup, an archive push, a
    restore); yields the list the samples go into, as (host, text)."""
    samples, stop = [], threading.Event()

    def sample(name):
        while not stop.is_set():
            done = subprocess.run(["docker", "exec", name, "ps", "-eo", "args"], capture_output=True, text=True,
                                  check=False)
            samples.append((name, done.stdout))
            stop.wait(interval)

    threads = [threading.Thread(target=sample, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    try:
        yield samples
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def assert_sampled_without_secrets(samples, *seen):
    """The process lists held a line matching each pattern of seen (so they were taken while it ran) and no
    secret."""
    text = "\n".join(listing for dummy, listing in samples)
    for pattern in seen:
        assert re.search(pattern, text, re.M), "no sample caught %r (%d samples)" % (pattern, len(samples))
    assert_no_secret_in(text, "the process list (%d samples)" % len(samples))


def secrets_dir():
    """pg_backup_secrets_dir of the scenarios: the default, beside the inventory; a directory per host."""
    return os.path.join(os.path.dirname(INVENTORY), ".pgops-secrets")


@contextlib.contextmanager
def secrets_moved_away():
    """The controller's secrets directory moved aside for the block, as on another operator's clone; yields where
    it went, and removes that when the block passes (when it fails, the lab's directory is put back)."""
    moved = secrets_dir() + ".moved-away"
    shutil.rmtree(moved, ignore_errors=True)
    os.rename(secrets_dir(), moved)
    try:
        yield moved
    except BaseException:
        shutil.rmtree(secrets_dir(), ignore_errors=True)
        os.rename(moved, secrets_dir())
        raise
    shutil.rmtree(moved)


def assert_only_the_controller_changed(output):
    """A playbook's output in which every change was on the controller (a task delegated to localhost)."""
    changed = re.findall(r"^changed: \[([^\]]+)\]", output, re.M)
    assert changed and all(target.endswith(" -> localhost") for target in changed), changed


def scheduled_job(name, user, job_name):
    """The command of a cron entry the roles installed, exactly as cron would run it."""
    crontab = host(name).check_output("crontab -l -u %s", user)
    match = re.search(r"^#Ansible: pgops\.backup %s\n(?:\S+\s+){5}(.+)$" % re.escape(job_name), crontab, re.M)
    assert match, "no scheduled job %s for %s on %s:\n%s" % (job_name, user, name, crontab)
    return match.group(1)


def run_as(name, user, command):
    return host(name).run("sudo -u %s sh -c %s", user, command)


_S3_SCRIPT = r"""
import json, sys, boto3
lab = json.load(open('/root/.pgops-lab-s3.json'))
s3 = boto3.client('s3', endpoint_url=lab['endpoint'], region_name='us-east-1',
                  aws_access_key_id=lab['access_key'], aws_secret_access_key=lab['secret_key'],
                  verify='/etc/ssl/certs/ca-certificates.crt')
bucket, prefix, needle = sys.argv[1], sys.argv[2], sys.argv[3].encode()
keys, found = [], []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
    for obj in page.get('Contents', []):
        keys.append(obj['Key'])
        if needle and needle in s3.get_object(Bucket=bucket, Key=obj['Key'])['Body'].read():
            found.append(obj['Key'])
print(json.dumps({'keys': keys, 'found': found}))
"""


def s3_objects(name, bucket, prefix, needle=""):
    """Object keys under a prefix, listed from a lab host over TLS, and those whose bytes hold needle."""
    out = host(name).check_output("python3 -c %s %s %s %s", _S3_SCRIPT, bucket, prefix, needle)
    return json.loads(out)


def wait_for(predicate, timeout, interval=2):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(interval)


def ansible_playbook(playbook, *args, timeout=1200):
    """Runs a playbook of the scenario against the scenario's inventory, as the user would."""
    return subprocess.run(["ansible-playbook", "-i", INVENTORY, os.path.join(SCENARIO_DIR, playbook)] + list(args),
                          capture_output=True, text=True, timeout=timeout, check=False)


def module(name, module_name, args, become_user="postgres", check=False):
    """One of the collection's modules run on a lab host, as `ansible -m` runs it; its result dict."""
    argv = ["ansible", name, "-i", INVENTORY, "-m", "pgops.backup." + module_name, "-a", json.dumps(args),
            "--become", "--become-user", become_user]
    if check:
        argv.append("--check")
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible: %s %s" % (done.stdout[-2000:], done.stderr[-2000:]))
    return report["plays"][0]["tasks"][0]["hosts"][name]


def assert_check_mode_changes_nothing(name, watched_file):
    """site.yml in check mode on a converged lab: it runs, predicts no change, and changes nothing."""
    before = host(name).check_output("sha256sum %s" % watched_file)
    result = ansible_playbook("../../playbooks/site.yml", "--check")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)
    assert recap and all(changed == "0" for dummy, changed in recap), recap
    assert host(name).check_output("sha256sum %s" % watched_file) == before


def assert_fails_first(playbook, limit, extra, expected, host_state):
    """The playbook with bad extra variables fails, its output holds ``expected`` (the variable's name), no task
    changed anything, and host_state() is the same after. Returns the playbook's output."""
    before = host_state()
    result = ansible_playbook(playbook, "--limit", limit, "-e", json.dumps(extra))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert expected in output, output
    assert "changed=0" in output, output
    assert host_state() == before
    return output
