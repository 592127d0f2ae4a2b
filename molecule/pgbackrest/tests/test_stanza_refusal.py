"""A stanza that belongs to another cluster is never recreated or overwritten.

Runs last (file order): it replaces pg-bookworm's cluster with a new one, as a rebuilt server would be.
"""
import json

from labtest import ansible_playbook, host, run_as


def stanza_info():
    result = run_as("pg-bookworm", "postgres", "pgbackrest --stanza=main --output=json info")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)[0]


def test_rebuilt_cluster_is_refused_and_the_repository_kept():
    before = stanza_info()
    old_system_id = before["db"][-1]["system-id"]
    h = host("pg-bookworm")
    h.check_output("pg_dropcluster --stop 15 main && pg_createcluster 15 main --start >/dev/null")
    new_system_id = h.check_output(
        "sudo -u postgres psql -XAtc 'SELECT system_identifier FROM pg_control_system()'")
    assert str(new_system_id) != str(old_system_id)

    result = ansible_playbook("../../playbooks/site.yml", "--limit", "pg-bookworm")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "belongs to system id %s" % old_system_id in output, output
    assert "this cluster is %s" % new_system_id in output
    after = stanza_info()
    assert after["db"] == before["db"]
    assert [b["label"] for b in after["backup"]] == [b["label"] for b in before["backup"]]
