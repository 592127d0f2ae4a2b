"""Bad dumps settings fail before any change, naming the variable (every other case: tests/unit test_dumps.py)."""
import pytest

from labtest import assert_fails_first, host

NAME = "walg-bookworm"
CASES = {
    "zstd with pg_dump 15": ({"dumps_logical_compression": "zstd:1"}, "dumps_logical_compression"),
    "offsite without a bucket": ({"dumps_offsite": {"endpoint": "minio:9000", "access_key": "AKEXAMPLE",
                                                    "secret_key": "SKEXAMPLE"}}, "dumps_offsite.bucket"),
}


def host_state():
    h = host(NAME)
    return h.check_output("sha256sum /etc/pgops-backup/*.json"), h.check_output("crontab -l -u postgres")


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_settings_fail_first_and_name_the_variable(case):
    extra, variable = CASES[case]
    output = assert_fails_first("apply_dumps.yml", NAME, extra, variable, host_state)
    assert "SKEXAMPLE" not in output
