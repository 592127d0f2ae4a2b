"""Bad monitoring input fails at the start of the role, names the variable, and changes nothing on the host."""
import pytest

from labtest import assert_fails_first, host

CASES = {
    "alert interval that is not a duration": ({"monitoring_alert_repeat": "hourly"}, "monitoring_alert_repeat"),
    "threshold out of range": ({"monitoring_wal_fs_fraction": 1.5}, "monitoring_wal_fs_fraction"),
    "unknown check name": ({"monitoring_checks": ["archiving", "vibes"]}, "monitoring_checks"),
}
WATCHED = ("/etc/pgops-backup/monitor.json /etc/systemd/system/pgops-backup-monitor.timer "
           "/etc/pgops-backup/prometheus/pgops-backup-rules.yml")


def host_state():
    h = host("mon-bookworm")
    return h.check_output("sha256sum %s" % WATCHED), h.check_output("systemctl show -p ActiveState pgops-backup-monitor.timer")


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_input_fails_first_and_names_the_variable(case):
    extra, variable = CASES[case]
    assert_fails_first("apply_roles.yml", "mon-bookworm", extra, "pgops.backup monitoring: %s:" % variable, host_state)
