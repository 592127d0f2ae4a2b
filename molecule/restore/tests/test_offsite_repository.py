"""After a site loss the offsite copy is the one restored from: each lost server restored from its S3 repository
(repo2) alone - with the local repository (repo1) moved away for the duration, so nothing else can serve it - by
pgops.backup.pg_restore (repository: 2) on Debian 12 and by restore.yml (restore_repository: offsite) on Debian 13,
whose repository host fetches it; each to an exact target of the writer's ledger, holding exactly the rows
acknowledged before it. The restore drill with pg_backup_drill_repository 2 drills the offsite copy on both backup
hosts, and with all it drills every repository in turn and fails naming the one that cannot be restored.
Runs after test_drill.py (file order); leaves both servers restored and promoted, archiving to both repositories, and
the drills configured as before."""
import contextlib
import json
import re
import threading

import pytest

from labtest import ansible_playbook, host, module, psql, run_as, scheduled_job, switch_and_archive
from ledger import acknowledged, dumped_rows, ledger

SERVERS = {"rst-bookworm": ("postgresql@15-main", "/var/lib/postgresql/15/main", "/var/log/postgresql/postgresql-15-main.log"),
           "rst-trixie": ("postgresql@17-main", "/var/lib/postgresql/17/main", "/var/log/postgresql/postgresql-17-main.log")}
# where each database host's local repository (repo1) is: its own disk, or its repository host's
LOCAL = {"rst-bookworm": "rst-bookworm", "rst-trixie": "rst-backup"}
# the backup hosts, each with the user its drill runs as
DRILLS = {"rst-bookworm": "postgres", "rst-backup": "pgbackrest"}
REPO1, AWAY = "/var/lib/pgbackrest", "/var/lib/pgbackrest-away"
LOGS = "/var/log/pgbackrest"
DRILL_CONFIG, RESULTS = "/etc/pgops-backup/drill-main.json", "/var/lib/pgops-backup/drills"


@contextlib.contextmanager
def local_repository_away(*names):
    """repo1 unreadable on these hosts for the block: its archive and backups moved aside (pgBackRest then finds no
    stanza there), and put back after, also when the block fails."""
    moved = []
    try:
        for name in names:
            host(name).check_output("test ! -e %s && mkdir -m 0700 %s && mv %s/archive %s/backup %s/", AWAY, AWAY, REPO1,
                                    REPO1, AWAY)
            moved.append(name)
        yield
    finally:
        # an archive-push process started before the block keeps the archive.info it read and pushes on into
        # repo1's paths, making them again: what it pushed joins the moved archive (whose files win) before it
        # goes back, so repo1 has no gap
        for name in moved:
            host(name).check_output(
                "for part in archive backup; do if [ -e %s/$part ]; then rsync -a --ignore-existing %s/$part/ %s/$part/ "
                "&& rm -rf %s/$part; fi; done && mv %s/archive %s/backup %s/ && rmdir %s",
                REPO1, REPO1, AWAY, REPO1, AWAY, AWAY, REPO1, AWAY)


def archiving_caught_up(*names):
    """Each running server's newest WAL in its repositories again, once repo1 is back: a row written, its segment
    switched and archived (pgBackRest pushes it to every repository or acknowledges none). The drills restore to
    latest and the later tests restore with restore.yml, which read the archive these servers write."""
    for name in names:
        psql(name, "CREATE TABLE IF NOT EXISTS offsite_probe (at timestamptz); INSERT INTO offsite_probe VALUES (now())",
             db="shop")
        segment, caught_up = switch_and_archive(name, timeout=180, interval=3)
        assert caught_up, "%s did not archive %s after repo1 came back: pg_stat_archiver %s; archive-push's log: %s" % (
            name, segment, psql(name, "SELECT row_to_json(a) FROM pg_stat_archiver a"),
            host(name).run("tail -n 40 %s/main-archive-push-async.log", LOGS).stdout)


def log_sizes(names):
    """Where each host's pgBackRest logs end now, so that only what a restore adds is read."""
    sizes = {}
    for name in names:
        listing = host(name).check_output("find %s -name 'main-*.log' -printf '%%p %%s\\n'", LOGS)
        sizes[name] = dict((path, int(size)) for path, size in (line.split() for line in listing.splitlines()))
    return sizes


def logged_since(name, sizes, command):
    """What the host's pgBackRest logs of a command (restore, archive-get: its synchronous and asynchronous logs) gained
    since sizes were taken."""
    text = ""
    for path in host(name).check_output("ls %s/main-%s*.log 2>/dev/null || true", LOGS, command).split():
        text += host(name).check_output("tail -c +%s %s", str(sizes.get(name, {}).get(path, 0) + 1), path) + "\n"
    return text


def backups_of(name, user, repository):
    info = json.loads(run_as(name, user, "pgbackrest --stanza=main --repo=%d --output=json info" % repository).stdout)
    return [backup["label"] for backup in info[0]["backup"]]


def logs_since(names, sizes):
    """{host: {command: text}}: what each host's restore and archive-get logs gained since sizes were taken, read
    before the next step's restores add to them."""
    return dict((name, dict((command, logged_since(name, sizes, command)) for command in ("restore", "archive-get")))
                for name in names)


def assert_read_from_repo2_only(logs, label, wal_logged=True):
    """A host's pgBackRest logs (logs_since): the backup restored from repo2 and every WAL segment found in repo2
    (where archive-get logs them: wal_logged). Returns the segments found."""
    restore_log, wal_log = logs["restore"], logs["archive-get"]
    assert re.search(r"repo2: restore backup set %s" % re.escape(label), restore_log), restore_log[-3000:]
    assert "repo1: restore" not in restore_log, restore_log[-3000:]
    found = re.findall(r"found (\w+) in the (repo\d+)", wal_log)
    assert set(repo for dummy, repo in found) <= {"repo2"}, wal_log[-3000:]
    assert found or not wal_logged, wal_log[-3000:]
    return found


def at_once(calls):
    """{key: call()} with every call run at the same time; a call that raised gives its exception."""
    results = {}

    def run(key, call):
        try:
            results[key] = call()
        except Exception as exc:  # reported by the test that reads it
            results[key] = exc

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def lose(name):
    service, data, dummy = SERVERS[name]
    host(name).check_output("systemctl stop %s && rm -rf %s", service, data)


def restore_with_the_module(name, target):
    """pg_restore from repository 2, PostgreSQL started, pg_recovery proving the target and promoting."""
    service, data, log_file = SERVERS[name]
    restored = module(name, "pg_restore", {"data_directory": data, "target": target, "repository": 2, "primary": True})
    if restored.get("failed"):
        return {"restored": restored}
    host(name).check_output("systemctl start %s", service)
    recovered = module(name, "pg_recovery", {"data_directory": data, "log_file": log_file, "target": target,
                                             "archive_end": restored["archive_end_segment"], "repository": 2})
    return {"restored": restored, "recovered": recovered}


def ledger_dump(name):
    return host(name).run("sudo -u postgres env PGTZ=UTC pg_dump --data-only --table=ledger shop").stdout


def restore_command(name):
    auto_conf = host(name).file(SERVERS[name][1] + "/postgresql.auto.conf").content_string
    return [line for line in auto_conf.splitlines() if line.startswith("restore_command")]


@pytest.fixture(scope="module")
def offsite_restores(restore_run):
    """Both servers lost; with repo1 away, rst-bookworm restored by the modules to the writer's xid mark and rst-trixie
    by restore.yml to its time mark, both from repo2, at once; then repo1 back."""
    marks = {"rst-bookworm": ledger("rst-bookworm")["marks"]["xid"], "rst-trixie": ledger("rst-trixie")["marks"]["time"]}
    offsite = {name: backups_of(LOCAL[name], "postgres" if name == LOCAL[name] else "pgbackrest", 2) for name in SERVERS}
    for name in SERVERS:
        lose(name)
    sizes = log_sizes(SERVERS)
    with local_repository_away(*sorted(set(LOCAL.values()))):
        runs = at_once({
            "rst-bookworm": lambda: restore_with_the_module(
                "rst-bookworm", {"type": "xid", "value": marks["rst-bookworm"]["value"]}),
            "rst-trixie": lambda: ansible_playbook("../../playbooks/restore.yml", "--limit", "rst-trixie", "-e", json.dumps(
                {"restore_repository": "offsite", "restore_target_time": marks["rst-trixie"]["value"]}), timeout=900)})
    # a server whose restore failed is judged by its test, not here
    archiving_caught_up(*[name for name in SERVERS if host(name).run("systemctl is-active --quiet %s",
                                                                     SERVERS[name][0]).rc == 0])
    return {"marks": marks, "offsite": offsite, "logs": logs_since(SERVERS, sizes), "runs": runs,
            "dumps": dict((name, ledger_dump(name)) for name in SERVERS),
            "restore_commands": dict((name, restore_command(name)) for name in SERVERS)}


def test_pg_restore_from_repository_2_holds_every_row_acknowledged_before_the_target(offsite_restores):
    name = "rst-bookworm"
    run = offsite_restores["runs"][name]
    assert not isinstance(run, Exception), run
    assert not run["restored"].get("failed"), run["restored"]
    assert run["recovered"].get("promoted") is True, run["recovered"]
    mark = offsite_restores["marks"][name]
    expected = acknowledged(ledger(name), up_to=mark["after_id"])
    assert len(expected) > 100 and dumped_rows(offsite_restores["dumps"][name]) == expected
    # the offsite full backup, the one backup repo2 holds, and every segment from repo2 (repo1 was away)
    found = assert_read_from_repo2_only(offsite_restores["logs"][name], offsite_restores["offsite"][name][-1])
    print("%s: xid %s restored from repo2 (%d segments found there), %d rows"
          % (name, mark["value"], len(found), len(expected)))
    # pgBackRest keeps the restored cluster's restore_command to that repository
    assert [line for line in offsite_restores["restore_commands"][name] if "--repo=2" in line], \
        offsite_restores["restore_commands"][name]


def test_restore_yml_restores_a_lost_server_from_the_offsite_repository_to_a_time(offsite_restores):
    name = "rst-trixie"
    run = offsite_restores["runs"][name]
    assert not isinstance(run, Exception), run
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    mark = offsite_restores["marks"][name]
    assert re.search(r"restored to time %s from repository 2: replay ended at .*promoted on timeline"
                     % re.escape(mark["value"]), output), output[-3000:]
    expected = acknowledged(ledger(name), up_to=mark["after_id"])
    assert len(expected) > 100 and dumped_rows(offsite_restores["dumps"][name]) == expected
    # through the repository host: the database host's pgBackRest logs what it fetched and where from
    assert_read_from_repo2_only(offsite_restores["logs"][name], offsite_restores["offsite"][name][-1])
    assert psql(name, "SELECT pg_is_in_recovery()") == "f"


def test_restore_yml_refuses_a_repository_the_policy_lacks_before_anything_changes():
    result = ansible_playbook("../../playbooks/restore.yml", "--limit", "rst-trixie", "-e", "restore_repository=dr")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "restore_repository: 'dr' is not a repository of the policy: give the index or the name of one of " \
           "1 (local), 2 (offsite)" in output, output[-3000:]
    assert "changed=0" in output and "What the running server wrote is archived" not in output


def drill(name):
    return run_as(name, DRILLS[name], scheduled_job(name, DRILLS[name], "drill:main"))


def drills_at_once(names):
    """Each host's drill at once, as cron runs it; what each exited with, its job log's last two lines (the drill's own
    line, then the wrapper's), and its latest.json."""
    runs = at_once(dict((name, lambda n=name: drill(n)) for name in names))
    logs = dict((name, host(name).file("/var/log/pgops-backup/drill-main.log").content_string.splitlines()[-2:])
                for name in names)
    return runs, logs, dict((name, json.loads(host(name).file(RESULTS + "/latest.json").content_string)) for name in names)


def drill_configured(repository):
    result = ansible_playbook("drill_repository.yml", "-e", "pg_backup_drill_repository=%s" % repository)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return dict((name, json.loads(host(name).file(DRILL_CONFIG).content_string)) for name in DRILLS)


@pytest.fixture(scope="module")
def offsite_drills(restore_run):
    """The drill applied with pg_backup_drill_repository 2 and run as cron runs it on both backup hosts at once, repo1
    away; then with all, rst-bookworm's repo1 away; then each host's drill configuration as it was."""
    saved = dict((name, host(name).file(DRILL_CONFIG).content_string) for name in DRILLS)
    labels = dict((name, {1: backups_of(name, user, 1)[-1], 2: backups_of(name, user, 2)[-1]})
                  for name, user in DRILLS.items())
    try:
        configured = drill_configured(2)
        sizes = log_sizes(DRILLS)
        with local_repository_away(*DRILLS):
            runs, logs, results = drills_at_once(DRILLS)
        archiving_caught_up(*SERVERS)
        offsite = {"configured": configured, "pgbackrest_logs": logs_since(DRILLS, sizes), "runs": runs, "logs": logs,
                   "results": results}
        configured = drill_configured("all")
        sizes = log_sizes(DRILLS)
        alerts = host("rst-bookworm").file("/var/tmp/lab-alerts.log").content_string.count("\n")
        with local_repository_away("rst-bookworm"):
            runs, logs, results = drills_at_once(DRILLS)
        archiving_caught_up(*SERVERS)
        every = {"configured": configured, "pgbackrest_logs": logs_since(DRILLS, sizes), "runs": runs, "logs": logs,
                 "results": results,
                 "alerts": host("rst-bookworm").file("/var/tmp/lab-alerts.log").content_string.splitlines()[alerts:]}
    finally:
        for name, text in saved.items():
            host(name).check_output("printf '%%s' %s > %s", text, DRILL_CONFIG)
    restored = dict((name, host(name).file(DRILL_CONFIG).content_string) for name in DRILLS)
    return {"labels": labels, "offsite": offsite, "every": every, "saved": saved, "restored": restored}


@pytest.mark.parametrize("name", sorted(DRILLS))
def test_drill_of_repository_2_restores_the_offsite_copy_and_passes_every_check(offsite_drills, name):
    offsite, labels = offsite_drills["offsite"], offsite_drills["labels"][name]
    assert offsite["configured"][name]["repository"] == 2
    run, result = offsite["runs"][name], offsite["results"][name]
    assert not isinstance(run, Exception), run
    assert run.rc == 0, run.stdout + run.stderr
    assert result["passed"] is True and result["error"] is None and result["repository"] == 2, result
    # the offsite copy's newest backup, not the local one's
    assert result["backup_label"] == labels[2] != labels[1]
    checks = dict((check["name"], check) for check in result["checks"])
    assert checks["rows shop.orders"]["value"] == 20000 and checks["ledger restored"]["passed"]
    assert "btree indexes checked" in checks["amcheck shop"]["detail"]
    assert all(check["passed"] for check in result["checks"])
    log = offsite["logs"][name]
    assert log[-1].endswith(" drill-main: ok") and "backup %s from repository 2 to latest" % labels[2] in log[0], log
    # Known gap (stop 28's note): the repository host's drill leaves no archive-get log under /var/log/pgbackrest, so
    # there only the restore log is read; repo1 was moved away meanwhile, so the WAL it replayed came from repo2
    found = assert_read_from_repo2_only(offsite["pgbackrest_logs"][name], labels[2], wal_logged=name != "rst-backup")
    print("%s: drill of repository 2 passed, backup %s, %d segments from repo2, usable after %.1f s"
          % (name, labels[2], len(found), result["rto_seconds"]))


def test_drill_of_every_repository_restores_each_in_turn_and_records_each(offsite_drills):
    name = "rst-backup"
    every, labels = offsite_drills["every"], offsite_drills["labels"][name]
    assert every["configured"][name]["repository"] == "all"
    run, result = every["runs"][name], every["results"][name]
    assert not isinstance(run, Exception), run
    assert run.rc == 0, run.stdout + run.stderr
    assert result["passed"] is True and result["repository"] == "all" and result["error"] is None, result
    assert [(each["repository"], each["name"], each["passed"], each["backup_label"])
            for each in result["repositories"]] == [(1, "local", True, labels[1]), (2, "offsite", True, labels[2])]
    assert all(check["passed"] for each in result["repositories"] for check in each["checks"])
    restore_log = every["pgbackrest_logs"][name]["restore"]
    assert re.findall(r"(repo\d): restore backup set ([\w-]+)", restore_log) == [("repo1", labels[1]), ("repo2", labels[2])]
    assert "from every repository: repository 1 (local): backup %s" % labels[1] in every["logs"][name][0]


def test_drill_of_every_repository_fails_naming_the_one_that_cannot_be_restored(offsite_drills):
    name = "rst-bookworm"
    every, labels = offsite_drills["every"], offsite_drills["labels"][name]
    run, result = every["runs"][name], every["results"][name]
    assert not isinstance(run, Exception), run
    assert run.rc != 0 and "restore drill FAILED" in run.stderr, run.stdout + run.stderr
    assert result["passed"] is False and result["error"].startswith("repository 1 (local), backup none: "), result
    print("drill of every repository with repo1 away: %s" % result["error"])
    # the other repository was drilled all the same, and passed
    assert [(each["repository"], each["passed"]) for each in result["repositories"]] == [(1, False), (2, True)]
    assert result["repositories"][1]["backup_label"] == labels[2]
    assert len(every["alerts"]) == 1 and "every repository to latest: repository 1 (local)" in every["alerts"][0], \
        every["alerts"]


def test_drill_configuration_is_as_it_was(offsite_drills):
    assert offsite_drills["restored"] == offsite_drills["saved"]
    assert all(json.loads(text)["repository"] is None for text in offsite_drills["saved"].values())
