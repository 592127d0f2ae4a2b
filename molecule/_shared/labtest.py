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


def run_as(name, user, command, env=None):
    """A shell command line run as user, with env's variables added to the environment when given."""
    words = ["%s=%s" % item for item in sorted((env or {}).items())]
    return host(name).run("sudo -u %s env" + " %s" * len(words) + " sh -c %s", user, *(words + [command]))


_S3_SCRIPT = r"""
import json, sys, boto3
lab = json.load(open('/root/.pgops-lab-s3.json'))
s3 = boto3.client('s3', endpoint_url=lab['endpoint'], region_name='us-east-1',
                  aws_access_key_id=lab['access_key'], aws_secret_access_key=lab['secret_key'],
                  verify='/etc/ssl/certs/ca-certificates.crt')
bucket, prefix, needle = sys.argv[1], sys.argv[2], sys.argv[3].encode()
keys, found, etags = [], [], {}
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
    for obj in page.get('Contents', []):
        keys.append(obj['Key'])
        etags[obj['Key']] = obj['ETag']
        if needle and needle in s3.get_object(Bucket=bucket, Key=obj['Key'])['Body'].read():
            found.append(obj['Key'])
print(json.dumps({'keys': keys, 'found': found, 'etags': etags}))
"""


def s3_objects(name, bucket, prefix, needle=""):
    """Object keys under a prefix, listed from a lab host over TLS, with each one's ETag (its content's digest:
    'etags'), and those whose bytes hold needle."""
    out = host(name).check_output("python3 -c %s %s %s %s", _S3_SCRIPT, bucket, prefix, needle)
    return json.loads(out)


def newest_backup(name, stanza="main", user="postgres"):
    """The newest backup pgBackRest lists on a host (its entry of `info --output=json`: label, timestamp, ...)."""
    info = json.loads(host(name).check_output("sudo -u %s pgbackrest --stanza=%s --output=json info", user, stanza))
    return max(info[0]["backup"], key=lambda backup: backup["timestamp"]["stop"])


def wait_for(predicate, timeout, interval=2):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(interval)


def previous_segment(segment):
    """The WAL segment before one (16 MB segments: 256 to a log id), on the same timeline."""
    timeline, log, seg = segment[:8], int(segment[8:16], 16), int(segment[16:24], 16)
    log, seg = (log, seg - 1) if seg else (log - 1, 0xFF)
    return "%s%08X%08X" % (timeline, log, seg)


def switch_and_archive(name, timeout=120, interval=2):
    """The server's current WAL segment closed (pg_switch_wal) and waited for in pg_stat_archiver: (the segment,
    whether it was archived within timeout seconds). The segment waited for is the one before the insert position
    after the switch: the one the switch closed, or, when the switch had nothing to close (an empty segment: a
    no-op whose result names the open segment), the one an earlier switch closed."""
    psql(name, "SELECT pg_switch_wal()")
    segment = previous_segment(psql(name, "SELECT pg_walfile_name(pg_current_wal_insert_lsn())"))
    archived = wait_for(lambda: psql(name, "SELECT coalesce(last_archived_wal, '') >= '%s' FROM pg_stat_archiver"
                                     % segment) == "t", timeout, interval)
    return segment, archived


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


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def faked_clock(start, command="pgbackrest"):
    """The environment in which libfaketime starts the clock of every `command` process (and no other: not the job
    wrapper, not PostgreSQL) at epoch second `start`, running on from there."""
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_ONLY_CMDS": command, "FAKETIME_FMT": "%s",
            "FAKETIME": "@%d" % start, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


_S3_RELAY_SCRIPT = r"""
import http.client, http.server, json, os, ssl, sys, urllib.parse
import botocore.auth, botocore.awsrequest, botocore.credentials
lab = json.load(open('/root/.pgops-lab-s3.json'))
credentials = botocore.credentials.Credentials(lab['access_key'], lab['secret_key'])
upstream = urllib.parse.urlsplit(lab['endpoint'])
trust = ssl.create_default_context(cafile='/etc/ssl/certs/ca-certificates.crt')
work = sys.argv[1]
RESIGNED = ('authorization', 'x-amz-date', 'x-amz-content-sha256', 'host', 'connection')
FRAMING = ('content-length', 'transfer-encoding', 'connection')


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def relay(self):
        body = self.rfile.read(int(self.headers.get('content-length') or 0))
        request = botocore.awsrequest.AWSRequest(method=self.command, url=lab['endpoint'] + self.path, data=body,
            headers=dict((k, v) for k, v in self.headers.items() if k.lower() not in RESIGNED))
        botocore.auth.S3SigV4Auth(credentials, 's3', 'us-east-1').add_auth(request)
        reply, data = self.forward(body, dict(request.headers.items()))
        self.send_response_only(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in FRAMING:
                self.send_header(key, value)
        self.send_header('content-length', reply.getheader('content-length') or '0' if self.command == 'HEAD'
                         else str(len(data)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
        with open(os.path.join(work, 'requests.log'), 'a') as log:
            log.write('%s %s %d\n' % (self.command, self.path, reply.status))

    def forward(self, body, headers):
        # one connection to MinIO per client connection, opened again when MinIO has closed it
        for attempt in (1, 2):
            if getattr(self, 'upstream', None) is None:
                self.upstream = http.client.HTTPSConnection(upstream.hostname, upstream.port, context=trust, timeout=60)
            try:
                self.upstream.request(self.command, self.path, body, headers)
                reply = self.upstream.getresponse()
                return reply, reply.read()
            except (http.client.HTTPException, ConnectionError):
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Relay)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(os.path.join(work, 'cert.pem'), os.path.join(work, 'key.pem'))
server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(os.path.join(work, 'port.new'), 'w') as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(work, 'port.new'), os.path.join(work, 'port'))
server.serve_forever()
"""


@contextlib.contextmanager
def s3_relay(name, repository):
    """A relay on a lab host, in front of MinIO, for a pgBackRest whose clock is moved (faked_clock): MinIO refuses a
    request signed more than 15 minutes from its own clock (RequestTimeTooSkewed), so the relay signs each request
    again, now, with the lab's keys, and passes it on otherwise unchanged. Yields (the environment that sends
    pgBackRest's repository `repository` through it, a function that returns the requests it relayed); the relay,
    its throwaway certificate (valid 30 days: the moved clock checks it too) and its key are gone when the block
    ends."""
    h = host(name)
    work = h.check_output("mktemp -d /tmp/pgops-s3-relay.XXXXXX")
    h.check_output("cd %s && chmod 0755 . && (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 30 "
                   "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem -out cert.pem "
                   "2>/dev/null) && chmod 0644 cert.pem", work)
    pid = h.check_output("nohup python3 -c %s %s </dev/null >%s/relay.log 2>&1 & echo $!", _S3_RELAY_SCRIPT, work, work)
    try:
        assert wait_for(lambda: h.file(work + "/port").exists, timeout=30), h.run("cat %s/relay.log", work).stdout
        env = {"PGBACKREST_REPO%d_STORAGE_HOST" % repository: "localhost",
               "PGBACKREST_REPO%d_STORAGE_PORT" % repository: h.check_output("cat %s/port", work),
               "PGBACKREST_REPO%d_STORAGE_CA_FILE" % repository: work + "/cert.pem"}

        def relayed():
            return h.run("cat %s/requests.log", work).stdout.splitlines()
        yield env, relayed
    finally:
        h.run("kill %s; rm -rf %s", pid, work)


@contextlib.contextmanager
def started_cluster(name, data_directory, port):
    """A restored data directory started as postgres on a spare port, with no TCP and its socket and server log in
    the directory's parent; yields (sql(query, db) that runs SQL on it, the socket directory, the log file). Stopped
    when the block ends."""
    h = host(name)
    parent = os.path.dirname(data_directory.rstrip("/"))
    h.check_output("printf '%%s\\n' \"port = %d\" \"listen_addresses = ''\" \"unix_socket_directories = '%s'\" "
                   ">> %s/postgresql.conf && echo 'local all all trust' > %s/pg_hba.conf && touch %s/pg_ident.conf && "
                   "chown postgres: %s/postgresql.conf %s/pg_hba.conf %s/pg_ident.conf"
                   % ((port, parent) + (data_directory,) * 6))
    pg_ctl = "/usr/lib/postgresql/%s/bin/pg_ctl" % psql(name, "SELECT current_setting('server_version_num')::int / 10000")
    h.check_output("sudo -u postgres %s -D %s -l %s/log -w start" % (pg_ctl, data_directory, parent))

    def sql(query, db="postgres"):
        return h.check_output("sudo -u postgres psql -XAt -v ON_ERROR_STOP=1 -h %s -p %s -d %s -c %s",
                              parent, str(port), db, query)
    try:
        yield sql, parent, parent + "/log"
    finally:
        h.run("sudo -u postgres %s -D %s -m immediate -w stop" % (pg_ctl, data_directory))
