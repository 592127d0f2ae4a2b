"""The restore scenario's workload: on every database host at once, a writer commits rows into a ledger while
the backups run; the controller records every commit it saw acknowledged, marks the recovery targets (a time,
an xid, an LSN, a restore point), and then the server is lost (killed, its data directory and WAL removed).

    writer.py SPEC.json OUT_DIR    writes OUT_DIR/ledger-<host>.json for each host of the spec

SPEC: [{"host", "port", "service", "data_directory", "backup_host", "backup_user", "jobs": [job name, ...],
"crontab": the backup user's crontab, where each job's command is found}].
Hosts are reached with `docker exec` (Molecule names each container after its host).
"""
import json
import queue
import re
import subprocess
import sys
import threading
import time

# Runs inside the container as postgres: one autocommit session; a row counts once execute() has returned,
# that is once PostgreSQL acknowledged the commit. Commands arrive on stdin between two inserts.
IN_CONTAINER = r"""
import json, select, sys, time
import psycopg2

def emit(**event):
    print(json.dumps(event), flush=True)

conn = psycopg2.connect(dbname="shop", user="postgres", port=int(sys.argv[1]))
conn.autocommit = True
cur = conn.cursor()
cur.execute("SET TimeZone = 'UTC'")
cur.execute("CREATE TABLE IF NOT EXISTS ledger (id serial PRIMARY KEY, "
            "at timestamptz NOT NULL DEFAULT clock_timestamp(), note text NOT NULL)")
cur.execute("CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at)")
emit(event="ready")
last = None
while True:
    if select.select([sys.stdin], [], [], 0)[0]:
        command = sys.stdin.readline().strip()
        if command in ("", "stop"):
            break
        if command == "time":
            # after the last acknowledged commit, before the next row: the pause keeps the next commit clear of it
            cur.execute("SELECT clock_timestamp()::text")
            emit(event="mark", type="time", value=cur.fetchone()[0], after_id=last and last["id"])
            time.sleep(1.0)
        elif command == "xid":
            emit(event="mark", type="xid", value=last["xid"], after_id=last["id"])
        elif command == "lsn":
            cur.execute("SELECT pg_current_wal_insert_lsn()::text")
            emit(event="mark", type="lsn", value=cur.fetchone()[0], after_id=last["id"])
        elif command == "switch":
            cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
            emit(event="mark", type="switch", value=cur.fetchone()[0], after_id=last["id"])
        elif command == "name":
            cur.execute("SELECT pg_create_restore_point('pgops-restore-test')::text")
            emit(event="mark", type="name", value="pgops-restore-test", lsn=cur.fetchone()[0], after_id=last["id"])
        continue
    cur.execute("INSERT INTO ledger (note) VALUES ('acknowledged') RETURNING id, at::text, txid_current()::text")
    row_id, at, xid = cur.fetchone()
    # an upper bound of the commit record's end: WAL inserted after the commit returned
    cur.execute("SELECT pg_current_wal_insert_lsn()::text")
    last = {"id": row_id, "at": at, "xid": xid, "lsn": cur.fetchone()[0]}
    emit(event="row", **last)
    time.sleep(0.02)
emit(event="stopped")
"""


def docker_exec(host, *argv, **kwargs):
    return subprocess.run(["docker", "exec", host] + list(argv), capture_output=True, text=True, check=False, **kwargs)


class Writer(object):
    def __init__(self, spec):
        self.spec = spec
        self.rows, self.marks, self.errors = [], {}, []
        self.ready, self.stopped = threading.Event(), threading.Event()
        self.mark_events = queue.Queue()
        self.process = subprocess.Popen(
            ["docker", "exec", "-i", spec["host"], "runuser", "-u", "postgres", "--", "python3", "-u", "-c",
             IN_CONTAINER, str(spec["port"])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            event = json.loads(line)
            if event["event"] == "row":
                self.rows.append({k: event[k] for k in ("id", "at", "xid", "lsn")})
            elif event["event"] == "mark":
                self.mark_events.put(event)
            elif event["event"] == "ready":
                self.ready.set()
        self.stopped.set()

    def mark(self, kind, key=None):
        self.process.stdin.write(kind + "\n")
        self.process.stdin.flush()
        try:
            self.marks[key or kind] = self.mark_events.get(timeout=30)
        except queue.Empty:
            raise RuntimeError("%s: no %s mark from the writer" % (self.spec["host"], kind))
        return self.marks[key or kind]

    def stop(self):
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        self.stopped.wait(30)
        self.process.wait(30)
        if self.process.returncode != 0:
            self.errors.append("writer exited %s: %s" % (self.process.returncode, self.process.stderr.read()[-2000:]))


def last_archived(spec):
    done = docker_exec(spec["host"], "runuser", "-u", "postgres", "--", "psql", "-XAt", "-p", str(spec["port"]), "-c",
                       "SELECT last_archived_wal FROM pg_stat_archiver")
    return done.stdout.strip()


def workload(spec, out_dir):
    host = spec["host"]
    record = {"host": host, "backups": [], "errors": []}
    writer = Writer(spec)
    if not writer.ready.wait(60):
        raise RuntimeError("%s: the writer did not start: %s" % (host, writer.process.stderr.read()))
    time.sleep(2)
    writer.mark("time", "before_backups")
    # the backups, as cron runs them, while the writer commits
    for name in spec["jobs"]:
        match = re.search(r"^#Ansible: pgops\.backup %s\n(?:\S+\s+){5}(.+)$" % re.escape(name), spec["crontab"], re.M)
        if not match:
            raise RuntimeError("%s: no scheduled job %s in:\n%s" % (host, name, spec["crontab"]))
        job = match.group(1)
        started = time.time()
        done = docker_exec(spec["backup_host"], "runuser", "-u", spec["backup_user"], "--", "sh", "-c", job)
        record["backups"].append({"job": job, "started": started, "finished": time.time(), "rc": done.returncode,
                                  "output": (done.stdout + done.stderr)[-2000:]})
    time.sleep(1)
    for kind in ("time", "xid", "lsn", "name"):
        writer.mark(kind)
        time.sleep(1.5)
    # the targets' WAL reaches the archive (as archive_timeout would ship it); what comes after may be lost
    switched = writer.mark("switch")["value"]
    deadline = time.time() + 60
    while time.time() < deadline and (last_archived(spec) or "")[:24] < switched:
        time.sleep(0.5)
    time.sleep(3)
    writer.stop()
    record["last_archived_wal"] = last_archived(spec)
    record["timeline"] = int(switched[:8], 16)
    record["wal_segment_size"] = docker_exec(host, "runuser", "-u", "postgres", "--", "psql", "-XAt", "-p",
                                             str(spec["port"]), "-c", "SHOW wal_segment_size").stdout.strip()
    # the server is lost: every process killed at once, then its data directory and WAL gone
    lost = docker_exec(host, "sh", "-c", "systemctl kill --signal=KILL %(service)s; systemctl stop %(service)s; "
                                         "rm -rf \"$(readlink -f %(data)s/pg_wal)\" %(data)s"
                       % {"service": spec["service"], "data": spec["data_directory"]})
    record.update(rows=writer.rows, marks=writer.marks, lost_at=time.time(), errors=writer.errors,
                  lost_rc=lost.returncode)
    with open("%s/ledger-%s.json" % (out_dir, host), "w") as handle:
        json.dump(record, handle, indent=1)
    print("%s: %d rows acknowledged, backups %s, last archived %s"
          % (host, len(writer.rows), [b["rc"] for b in record["backups"]], record["last_archived_wal"]))


def main():
    with open(sys.argv[1]) as handle:
        specs = json.load(handle)
    failures = []

    def run(spec):
        try:
            workload(spec, sys.argv[2])
        except Exception as exc:
            failures.append("%s: %s" % (spec["host"], exc))

    threads = [threading.Thread(target=run, args=(spec,)) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit("writer failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
