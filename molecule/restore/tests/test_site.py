"""site.yml's optional plays: logical backups only where pg_backup_dumps is true."""
from labtest import host


def test_logical_backups_are_scheduled_only_where_the_policy_asks():
    assert "#Ansible: pgops.backup logical:main" in host("rst-bookworm").check_output("crontab -l -u postgres")
    assert "pgops.backup logical:" not in host("rst-trixie").run("crontab -l -u postgres").stdout
    assert not host("rst-trixie").file("/etc/pgops-backup/dumps.json").exists
