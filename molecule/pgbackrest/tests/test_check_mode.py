"""Check mode is honoured: on the converged lab, site.yml --check predicts no change and makes none."""
from labtest import assert_check_mode_changes_nothing


def test_site_in_check_mode_predicts_no_change():
    assert_check_mode_changes_nothing("pg-bookworm", "/etc/pgbackrest/pgbackrest.conf")
