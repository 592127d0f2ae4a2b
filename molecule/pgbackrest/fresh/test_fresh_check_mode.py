"""site.yml --check on a fresh database host: it runs to the end, predicts changes, and makes none. Run by the
pgbackrest scenario's prepare.yml, on its hosts before anything converges."""
import json
import re

from labtest import ansible_playbook, host

POLICY = {"pg_backup_repositories": [{"name": "local", "type": "posix", "retention": {"full": 2}}]}


def state(h):
    return (h.run("ls -la /etc/pgbackrest /etc/postgresql/15/main/conf.d").stdout,
            h.run("crontab -l -u postgres").stdout, h.run("ls /var/lib/pgbackrest").stdout,
            h.check_output("sudo -u postgres psql -XAtc 'SELECT pg_postmaster_start_time()'"),
            h.check_output("sudo -u postgres psql -XAtc 'SHOW archive_mode'"))


def test_check_mode_on_a_fresh_host_predicts_and_changes_nothing():
    h = host("pg-bookworm")
    before = state(h)
    result = ansible_playbook("../../playbooks/site.yml", "--check", "--limit", "pg-bookworm", "-e", json.dumps(POLICY))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    changed = re.search(r"^pg-bookworm\s+: ok=\d+\s+changed=(\d+)", output, re.M)
    assert changed and int(changed.group(1)) > 0, output
    # archive_mode goes off -> on: check mode predicts the restart (the task reports changed, runs nothing)
    assert re.search(r"TASK \[pgops\.backup\.archiving : PostgreSQL is restarted for[^\]]*\] \**\n"
                     r"changed: \[pg-bookworm\]", output), output
    assert state(h) == before
