"""restore.yml on a server that still runs destroys nothing it cannot get back: a target seconds old, in WAL not yet
archived, is restored exactly, and what pg_wal held that the archive lacked is kept aside; with archiving broken
the restore is refused before PostgreSQL stops; --check is a plan and changes nothing; hosts are never restored
implicitly, and the play's group is a variable. Runs after test_restore_targets.py (file order)."""
import json
import re
import subprocess
import threading
import time

import pytest

from labtest import ansible_playbook, host, psql, switch_and_archive

NAME, SERVICE, DATA = "rst-trixie", "postgresql@17-main", "/var/lib/postgresql/17/main"
WALDUMP = "/usr/lib/postgresql/17/bin/pg_waldump"


def sql(name, statement):
    """psql through docker exec: fast enough for a writer that commits a row at a time."""
    done = subprocess.run(["docker", "exec", name, "su", "postgres", "-c",
                           "psql -XAt -v ON_ERROR_STOP=1 -d shop -c \"%s\"" % statement],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout.strip()


class Writer(threading.Thread):
    """Commits rows into tail_ledger until PostgreSQL goes away; records each acknowledged row (id, xid). mark()
    takes a time after every acknowledged commit and before the next one."""

    def __init__(self, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.rows, self.marks = [], []
        self.want_mark = threading.Event()
        self.marked = threading.Event()

    def run(self):
        while True:
            try:
                if self.want_mark.is_set():
                    self.marks.append((sql(self.name_, "SELECT clock_timestamp()"), self.rows[-1][0]))
                    self.want_mark.clear()
                    self.marked.set()
                    time.sleep(1.0)
                # psql prints the returned row, then the command tag
                row_id, xid = sql(self.name_, "INSERT INTO tail_ledger DEFAULT VALUES "
                                              "RETURNING id, txid_current()").splitlines()[0].split("|")
            except (RuntimeError, subprocess.TimeoutExpired):
                return  # PostgreSQL went away: the play stopped it
            self.rows.append((int(row_id), int(xid)))

    def mark(self):
        self.marked.clear()
        self.want_mark.set()
        assert self.marked.wait(30)
        return self.marks[-1]


def postmaster(name):
    return host(name).check_output("systemctl show -p MainPID --value postgresql@%s-main"
                                   % ("17" if name == "rst-trixie" else "15"))


@pytest.fixture(scope="module")
def tail_restore(restore_run):
    """A writer on rst-trixie; a target taken mid-stream, its segment not yet archived; restore.yml to it while the
    writer goes on committing until the play stops PostgreSQL."""
    sql(NAME, "DROP TABLE IF EXISTS tail_ledger; CREATE TABLE tail_ledger (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    writer = Writer(NAME)
    writer.start()
    time.sleep(3)
    target, last_before = writer.mark()
    time.sleep(2)
    unarchived = psql(NAME, "SELECT pg_walfile_name(pg_current_wal_lsn()) > coalesce(last_archived_wal, '') "
                            "FROM pg_stat_archiver")
    result = ansible_playbook("../../playbooks/restore.yml", "--limit", NAME, "-e",
                              json.dumps({"restore_target_time": target}), timeout=900)
    writer.join(60)
    kept = host(NAME).check_output("ls -d %s.wal-kept-* 2>/dev/null || true", DATA).split()
    return {"result": result, "target": target, "last_before": last_before, "rows": writer.rows,
            "unarchived": unarchived, "kept": kept}


def test_a_target_in_wal_not_yet_archived_is_restored_exactly(tail_restore):
    output = tail_restore["result"].stdout + tail_restore["result"].stderr
    assert tail_restore["unarchived"] == "t", "the target's segment was archived before the restore: no proof"
    assert tail_restore["result"].returncode == 0, output[-5000:]
    assert "What the running server wrote is archived" in output
    acknowledged = [row_id for row_id, dummy in tail_restore["rows"] if row_id <= tail_restore["last_before"]]
    restored = [int(i) for i in psql(NAME, "SELECT id FROM tail_ledger ORDER BY id", db="shop").split()]
    print("target %s: %d rows acknowledged before it, %d restored; %d acknowledged in all"
          % (tail_restore["target"], len(acknowledged), len(restored), len(tail_restore["rows"])))
    assert restored == acknowledged and len(tail_restore["rows"]) > len(acknowledged)


def test_wal_the_archive_lacked_is_kept_aside_from_the_archives_end_to_the_shutdown(tail_restore):
    kept = tail_restore["kept"]
    assert len(kept) == 1 and re.search(r"\.wal-kept-\d{8}T\d{6}Z$", kept[0]), kept
    assert "WAL the archive lacked was copied to %s" % kept[0] in tail_restore["result"].stdout
    files = sorted(f for f in host(NAME).check_output("ls %s", kept[0]).split() if re.match(r"^[0-9A-F]{24}$", f))
    assert files and host(NAME).check_output("stat -c %%a:%%U %s", kept[0]) == "700:postgres"
    # nothing between the archive and the kept WAL is lost: the kept segments start right after the archive's last
    # one, and they reach the server's shutdown checkpoint, the last record it wrote before the play restored over it
    archive_end = re.findall(r"the archive ends at ([0-9A-F]{24})", tail_restore["result"].stdout)
    assert archive_end, tail_restore["result"].stdout[-3000:]

    def number(segment):
        return int(segment[8:16], 16) * 0x100 + int(segment[16:24], 16)
    assert files[0][:8] >= archive_end[-1][:8] and number(files[0]) == number(archive_end[-1]) + 1, (archive_end, files)
    # each file on its own: pg_wal also holds recycled segments, which pg_waldump rejects
    dumps = [host(NAME).run("sudo -u postgres %s -p %s %s %s", WALDUMP, kept[0], name, name) for name in files]
    records = "".join(done.stdout for done in dumps)
    print("archive ends at %s; kept %s; %d commit records in them; pg_waldump said: %s"
          % (archive_end[-1], files, records.count("COMMIT"), [done.stderr.strip()[:160] for done in dumps]))
    assert "CHECKPOINT_SHUTDOWN" in records, records[-3000:]


def test_with_archiving_broken_the_restore_is_refused_before_postgresql_stops(tail_restore):
    psql(NAME, "ALTER SYSTEM SET archive_command = '/bin/false'")
    psql(NAME, "SELECT pg_reload_conf()")
    try:
        sql(NAME, "INSERT INTO tail_ledger DEFAULT VALUES")
        count, pid = psql(NAME, "SELECT count(*) FROM tail_ledger", db="shop"), postmaster(NAME)
        target = psql(NAME, "SELECT (clock_timestamp() - interval '1 second')::text")
        result = ansible_playbook("../../playbooks/restore.yml", "--limit", NAME, "-e",
                                  json.dumps({"restore_target_time": target, "restore_archive_timeout": 10}))
        output = result.stdout + result.stderr
        assert result.returncode != 0 and "the archive did not receive WAL segment" in output, output[-4000:]
        assert "nothing was stopped or changed" in output and "TASK [PostgreSQL is stopped]" not in output
        assert postmaster(NAME) == pid and psql(NAME, "SELECT count(*) FROM tail_ledger", db="shop") == count
    finally:
        psql(NAME, "ALTER SYSTEM RESET archive_command")
        psql(NAME, "SELECT pg_reload_conf()")
    # and archiving resumes: the backlog the refusal left (its WAL switches) reaches the repository host first.
    # The refusal's switch left the current segment empty, so switch_and_archive waits for the refused one (the
    # open segment's name, which a no-op switch returns, would wait for a checkpoint to fill it: checkpoint_timeout)
    segment, archived = switch_and_archive(NAME, timeout=120)
    assert archived, "%s was not archived: %s" % (segment, archiver_report(NAME))


def archiver_report(name):
    """Why archiving has not caught up: the archiver's state, what waits, and the logs' last lines."""
    return "\n".join([
        psql(name, "SELECT row_to_json(a) FROM pg_stat_archiver a"),
        psql(name, "SELECT count(*) FILTER (WHERE name LIKE '%.ready') || ' ready' FROM pg_ls_archive_statusdir()"),
        host(name).run("tail -n 15 /var/log/postgresql/postgresql-17-main.log").stdout,
        host(name).run("tail -n 15 /var/log/pgbackrest/main-archive-push-async.log /var/log/pgbackrest/"
                       "main-archive-push.log").stdout])


def newest_label(name):
    info = json.loads(host(name).check_output("sudo -u postgres pgbackrest --stanza=main --output=json info"))
    return sorted(info[0]["backup"], key=lambda b: b["timestamp"]["stop"])[-1]["label"]


def test_check_mode_prints_the_plan_on_the_named_host_of_a_group_and_changes_nothing(restore_run):
    name = "rst-bookworm"
    before = (postmaster(name), host(name).check_output("sha256sum %s/postgresql.auto.conf" % "/var/lib/postgresql/15/main"))
    target = psql(name, "SELECT (clock_timestamp() - interval '5 seconds')::text")
    result = ansible_playbook("../../playbooks/restore.yml", "--check", "-e", json.dumps(
        {"restore_group": "pgbackrest_hosts", "restore_hosts": name, "restore_target_time": target}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    plan = [line for line in output.splitlines() if "would be restored from backup" in line]
    print(plan)
    assert plan and "%s would be restored from backup %s (WAL from 0000" % (name, newest_label(name)) in plan[0]
    assert "stopping at the last commit before %s" % target in output
    # the group's other host meets the first task, which names the hosts, and nothing else
    other = re.findall(r"^rst-trixie\s+: ok=(\d+)\s+changed=(\d+)", output, re.M)
    assert other and int(other[0][0]) <= 2 and other[0][1] == "0", other
    assert "rst-trixie would be restored" not in output and "[rst-walg]" not in output
    assert "TASK [Data directory is restored" not in output
    assert (postmaster(name), host(name).check_output("sha256sum /var/lib/postgresql/15/main/postgresql.auto.conf")) == before


def test_without_named_hosts_nothing_is_restored(restore_run):
    before = [postmaster(name) for name in ("rst-bookworm", "rst-trixie")]
    result = ansible_playbook("../../playbooks/restore.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "name the host(s) to restore" in output, output[-3000:]
    assert "TASK [PostgreSQL is stopped]" not in output and "What the running server wrote is archived" not in output
    assert [postmaster(name) for name in ("rst-bookworm", "rst-trixie")] == before
