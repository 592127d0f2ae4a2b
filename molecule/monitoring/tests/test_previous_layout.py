# -*- coding: utf-8 -*-
"""The database hosts were set up by the flat module_utils layout before the converge (prepare.yml imports
../_shared/previous_layout.yml): its library copy and entry scripts. The converge must leave exactly the new
library and entry point, and the scheduled jobs must work through it: the monitor on its timer (test_monitoring)
and the restore drill here, run as cron runs it."""

import json
import os

import pytest
import yaml

from labtest import host, run_as

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")
LIBRARY = "/usr/local/lib/pgops-backup"
MODULE_UTILS = "ansible_collections/pgops/backup/plugins/module_utils/"
with open(os.path.join(ROOT, "roles", "_common", "vars", "main.yml")) as handle:
    RUNTIME_FILES = yaml.safe_load(handle)["_common_runtime_files"]


@pytest.mark.parametrize("name", ["mon-bookworm", "mon-trixie"])
def test_the_flat_layout_is_replaced_by_exactly_the_new_library(name):
    h = host(name)
    # the flat layout was on the host before the converge
    assert h.file("/var/tmp/plugins/module_utils/monitor.py").exists
    found = sorted(h.check_output("cd %s && find . -name '*.py' -type f" % LIBRARY).split())
    assert found == sorted(["./pgops_backup_host.py"] + ["./" + MODULE_UTILS + f for f in RUNTIME_FILES])
    assert not h.file(LIBRARY + "/" + MODULE_UTILS + "tools").exists
    for script, command in (("/usr/local/bin/pgops-backup-monitor", "monitor"),
                            ("/usr/local/bin/pgops-restore-drill", "drill")):
        assert "pgops_backup_host.py %s " % command in h.file(script).content_string


def test_the_scheduled_drill_runs_through_the_new_entry_point():
    h = host("mon-bookworm")
    config = json.loads(h.file("/etc/pgops-backup/drill-main.json").content_string)
    # its own result directory: the monitoring tests write latest.json by hand
    config["result_dir"] = "/var/tmp/layout-drill"
    h.check_output("install -d -o postgres -g postgres /var/tmp/layout-drill && cat > /var/tmp/layout-drill.json "
                   "<<'EOF'\n%s\nEOF" % json.dumps(config))
    done = run_as("mon-bookworm", "postgres", "/usr/local/bin/pgops-restore-drill --config /var/tmp/layout-drill.json")
    assert done.rc == 0 and "restore drill passed" in done.stdout, done.stdout + done.stderr
    result = json.loads(h.file("/var/tmp/layout-drill/latest.json").content_string)
    assert result["passed"] is True and result["backup_label"] and result["rto_seconds"] > 0
