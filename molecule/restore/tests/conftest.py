import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))

import pytest  # noqa: E402

from labtest import ansible_playbook  # noqa: E402


@pytest.fixture(scope="session")
def restore_run():
    """Every lost server restored to each target, once (restore_targets.yml); the tests judge what it left."""
    result = ansible_playbook("restore_targets.yml", timeout=1800)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result
