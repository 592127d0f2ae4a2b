"""Restores that cannot be done fail clearly, before anything on the host changes."""
import time

import pytest

from labtest import ansible_playbook, host, module, psql, wait_for
from ledger import ledger

SERVICES = {"rst-bookworm": "postgresql@15-main", "rst-trixie": "postgresql@17-main"}
DATA = {"rst-bookworm": "/var/lib/postgresql/15/main", "rst-trixie": "/var/lib/postgresql/17/main"}


def cluster_state(name):
    """The running postmaster, its data directory's contents and the ledger: what a refusal must not change."""
    pid = host(name).check_output("systemctl show -p MainPID --value %s", SERVICES[name])
    # pg_restore's record of what it restored, beside the data directory: rewritten by any restore
    parent, base = DATA[name].rsplit("/", 1)
    marker = host(name).run("sha256sum %s/.%s.pgops-restore.json", parent, base).stdout
    return pid, marker, psql(name, "SELECT count(*) FROM ledger", db="shop")


def utc(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(seconds))


def archiver_caught_up(name):
    """What the freshly promoted server wrote since is archived: restore.yml's own switch then waits only for the
    one segment it closes."""
    ready = "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"
    return wait_for(lambda: psql(name, ready) == "0", timeout=300, interval=3)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_time_after_the_end_of_the_archive_is_refused_before_anything_changes(restore_run, name):
    assert archiver_caught_up(name), "the archiver of %s has segments waiting after 300 s: %s" % (
        name, psql(name, "SELECT * FROM pg_stat_archiver"))
    before = cluster_state(name)
    result = ansible_playbook("../../playbooks/restore.yml", "--limit", name,
                              "-e", "restore_target_time='%s'" % utc(time.time() + 86400))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is after the end of the archive" in output, output[-3000:]
    assert "TASK [PostgreSQL is stopped]" not in output
    assert cluster_state(name) == before


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_target_before_the_oldest_backup_is_refused_before_anything_changes(restore_run, name):
    before = cluster_state(name)
    result = ansible_playbook("../../playbooks/restore.yml", "--limit", name,
                              "-e", "restore_target_time='%s'" % ledger(name)["marks"]["before_backups"]["value"])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no successful backup before the target" in output, output[-3000:]
    assert "TASK [PostgreSQL is stopped]" not in output
    assert cluster_state(name) == before


def test_walg_target_before_the_oldest_backup_is_refused_before_anything_changes(restore_run):
    target = {"type": "time", "value": ledger("rst-walg")["marks"]["before_backups"]["value"]}
    result = module("rst-walg", "pg_restore", {"tool": "walg", "data_directory": "/var/tmp/lab-refused",
                                               "target": target})
    assert result.get("failed") and "no successful backup before the target" in result["msg"], result
    assert not host("rst-walg").file("/var/tmp/lab-refused").exists


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_restore_onto_a_running_cluster_is_refused(restore_run, name):
    before = cluster_state(name)
    result = module(name, "pg_restore", {"data_directory": DATA[name], "delta": True, "primary": True})
    assert result.get("failed") and "holds a running cluster" in result["msg"], result
    assert cluster_state(name) == before
