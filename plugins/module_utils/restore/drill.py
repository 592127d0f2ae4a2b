# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scheduled restore drill: restore the newest backup into a scratch cluster, check it as
pg_restore_check does, keep the result where monitoring reads it, and alert when it fails.

It runs on a host without Ansible (cron starts /usr/local/bin/pgops-restore-drill, which runs the host entry
point pgops_backup_host.py), so everything that touches the host goes through ``host``: the entry point's
LocalHost, shaped like AnsibleModule (run_command, no_log_values).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import socket
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import check_text, parse_duration
from ansible_collections.pgops.backup.plugins.module_utils.core.cron import parse_cron
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.core.alerts import alert_environment, alert_text, send_alert
from ansible_collections.pgops.backup.plugins.module_utils.core.files import write_atomically
from ansible_collections.pgops.backup.plugins.module_utils.core.process import CommandRunner
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import normalize_target
from ansible_collections.pgops.backup.plugins.module_utils.drivers.registry import driver_for
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import data_directory_state, free_port
from ansible_collections.pgops.backup.plugins.module_utils.restore.scratch import (
    ScratchCluster, quote_table, restore_and_check)

RESULT_VERSION = 1
RESULT_DIR = "/var/lib/pgops-backup/drills"
LATEST = "latest.json"
# a drill starts from a consistent backup: the newest one, replayed to its end or to all archived WAL
DRILL_TARGETS = ("latest", "immediate")
# where replay ended, the end of the archive, and the data a loss at the drill's start would have cost
RECOVERY_KEYS = ("replay_end_lsn", "replay_end_time", "archive_end_segment", "rpo_seconds")


def normalize_drill(tool, stanza, schedule, target="latest", repository=None, keep=12, alert_command="",
                    amcheck=True, row_counts=None, sql=None, timeout="1h", stall_timeout="60s", scratch_directory=None,
                    result_dir=RESULT_DIR):
    """The drill's configuration from the pg_backup_drill_* variables (without the prefix); PolicyError names
    the variable that is wrong. Returns the configuration the drill script reads, plus 'cron' (the schedule's
    cron fields, None when the drill is not scheduled)."""
    minimal_policy(tool, stanza)
    if target not in DRILL_TARGETS:
        raise PolicyError("pg_backup_drill_target", "%r is not one of %s: a drill restores the newest backup"
                          % (target, ", ".join(DRILL_TARGETS)))
    if repository is not None and (isinstance(repository, bool) or not str(repository).isdigit()
                                   or not 1 <= int(repository) <= 256):
        raise PolicyError("pg_backup_drill_repository", "expected a repository index from 1 to 256, got %r"
                          % (repository,))
    if isinstance(keep, bool) or not str(keep).isdigit() or int(keep) < 1:
        raise PolicyError("pg_backup_drill_keep", "expected a number of results to keep, 1 or more, got %r"
                          % (keep,))
    if not isinstance(alert_command, str):
        raise PolicyError("pg_backup_drill_alert_command", "expected a shell command, got %r" % (alert_command,))
    # the alert command is a shell script of its own file: it may span lines
    check_text(alert_command, "pg_backup_drill_alert_command", multiline=True)
    for index, check in enumerate(row_counts or []):
        variable = "pg_backup_drill_row_counts[%d]" % index
        if not isinstance(check, dict) or not check.get("database") or not check.get("table"):
            raise PolicyError(variable, "expected database, table and equals or min, got %r" % (check,))
        for key in ("database", "table"):
            check_text(check[key], "%s.%s" % (variable, key))
        try:
            quote_table(check["table"])
        except ValueError as exc:
            raise PolicyError(variable, str(exc))
        for bound in ("equals", "min"):
            if check.get(bound) is not None and not str(check[bound]).isdigit():
                raise PolicyError(variable, "%s: expected a number of rows, got %r" % (bound, check[bound]))
    for index, check in enumerate(sql or []):
        variable = "pg_backup_drill_sql[%d]" % index
        if not isinstance(check, dict) or not check.get("database") or not check.get("query") \
                or "expected" not in check:
            raise PolicyError(variable, "expected database, query and expected, got %r" % (check,))
        for key in ("database", "name"):
            check_text(check.get(key), "%s.%s" % (variable, key))
        # SQL may span lines
        check_text(check["query"], variable + ".query", multiline=True)
    for variable, path in (("pg_backup_drill_scratch_directory", scratch_directory),
                           ("pg_backup_drill_result_dir", result_dir)):
        if not (check_text(path, variable) or "").startswith("/") or os.path.normpath(str(path)) == "/":
            raise PolicyError(variable, "expected an absolute directory other than /, got %r" % (path,))
    return {
        "tool": tool, "stanza": stanza, "target": target,
        "repository": None if repository is None else int(repository),
        "keep": int(keep), "alert_command": alert_command, "amcheck": bool(amcheck),
        "row_counts": list(row_counts or []), "sql": list(sql or []),
        "timeout": parse_duration(timeout, "pg_backup_drill_timeout"),
        "stall_timeout": parse_duration(stall_timeout, "pg_backup_drill_stall_timeout"),
        "scratch_directory": os.path.normpath(scratch_directory), "result_dir": os.path.normpath(result_dir),
        "cron": parse_cron(schedule, "pg_backup_drill_schedule"),
    }


def label_of(epoch):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def run_drill(config, host, clock=time.time, hostname=None):
    """Restore and check once; the result as the drill's JSON (see README, "Restore drills")."""
    started = clock()
    result = {"version": RESULT_VERSION, "passed": False, "started": iso(started), "finished": None,
              "host": hostname or socket.getfqdn(), "tool": config["tool"], "stanza": config["stanza"],
              "backup_label": None, "target": config["target"], "rto_seconds": None, "checks": [], "error": None,
              "replay_end_lsn": None, "replay_end_time": None, "archive_end_segment": None, "rpo_seconds": None}
    try:
        tool = driver_for(minimal_policy(config["tool"], config["stanza"]))
        runner = CommandRunner(host)

        run = runner.stdout

        scratch_directory = config["scratch_directory"]
        scratch = ScratchCluster(scratch_directory, free_port(extra_socket_dirs=[scratch_directory]),
                                 host.run_command)
        problem = scratch.foreign()
        if not problem and data_directory_state(scratch.data) == "running":
            problem = "%s holds a running cluster (another drill?): it is never touched" % scratch.data
        if problem:
            raise RuntimeError(problem)
        options = dict(config, backup=None)
        outcome = restore_and_check(tool, run, scratch, normalize_target({"type": config["target"]}), options,
                                    clock=clock)
        result.update(passed=outcome["passed"], backup_label=outcome.get("backup"),
                      rto_seconds=outcome.get("rto_seconds"), checks=outcome.get("checks", []),
                      recovered=outcome.get("recovered"))
        result.update((key, value) for key, value in (outcome.get("recovery") or {}).items() if key in RECOVERY_KEYS)
        if not outcome["passed"]:
            result["error"] = outcome.get("msg")
    except Exception as exc:  # whatever broke, the drill records it and fails loudly
        result["error"] = str(exc) or exc.__class__.__name__
    result["finished"] = iso(clock())
    return result


def write_result(result_dir, result, keep):
    """drill-<label>.json and latest.json, each replaced atomically; only the newest ``keep`` results stay.
    Returns the path of this run's result."""
    data = json.dumps(result, indent=2, sort_keys=True) + "\n"
    stamp = time.strptime(result["started"], "%Y-%m-%dT%H:%M:%SZ")
    path = os.path.join(result_dir, "drill-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", stamp))
    write_atomically(path, data)
    write_atomically(os.path.join(result_dir, LATEST), data)
    history = sorted(name for name in os.listdir(result_dir) if name.startswith("drill-") and name.endswith(".json"))
    for name in history[:-keep]:
        os.unlink(os.path.join(result_dir, name))
    return path


def _detail(result):
    """What was restored, and the error or the failed checks."""
    failed = ["%s (%s)" % (c["name"], c.get("detail", "")) for c in result["checks"] if not c["passed"]]
    return "%s stanza %s, backup %s to %s: %s" % (result["tool"], result["stanza"], result["backup_label"] or "none",
                                                  result["target"], result["error"] or "; ".join(failed))


def summary(result):
    """One line: what was restored, how long it took, and every check (or the error)."""
    if result["passed"]:
        return ("restore drill passed on %s: %s stanza %s, backup %s to %s, replayed to %s (last commit %s, archive "
                "ends at %s), usable after %.1f s, %d checks passed"
                % (result["host"], result["tool"], result["stanza"], result["backup_label"], result["target"],
                   result.get("replay_end_lsn"), result.get("replay_end_time") or "none",
                   result.get("archive_end_segment"), result["rto_seconds"], len(result["checks"])))
    return "restore drill FAILED on %s: %s" % (result["host"], _detail(result))


def alert(config, result, host, clock=time.time):
    """Run the user's alert command by the one alert contract (core/alerts.py): the message on its stdin and
    in PGOPS_ALERT_*, never in argv. None when it was delivered (or there is none), else why it failed."""
    command = config.get("alert_command_file")
    if not command:
        return None
    since = calendar.timegm(time.strptime(result["started"], "%Y-%m-%dT%H:%M:%SZ"))
    cluster = config.get("cluster") or result["stanza"]
    text = alert_text("failing", "restore_drill", result["stanza"], result["host"], cluster, since, _detail(result),
                      clock())
    environment = alert_environment("failing", "restore_drill", result["stanza"], result["host"], cluster,
                                    result["stanza"], since, text)
    return send_alert(CommandRunner(host), [command], text, environment)


def main(argv, host, clock=time.time):
    """pgops-restore-drill --config FILE: exit 0 when the drill passed, 1 when it failed, 2 on bad usage."""
    if len(argv) != 2 or argv[0] != "--config":
        host.print_error("usage: pgops-restore-drill --config /etc/pgops-backup/drill-STANZA.json")
        return 2
    try:
        with open(argv[1]) as handle:
            config = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        host.print_error("pgops-restore-drill: cannot read %s: %s" % (argv[1], exc))
        return 2
    result = run_drill(config, host, clock=clock)
    try:
        write_result(config["result_dir"], result, config["keep"])
    except (IOError, OSError) as exc:
        result["passed"] = False
        result["error"] = "%s; and the result could not be written: %s" % (result["error"] or "passed", exc)
    line = summary(result)
    if result["passed"]:
        host.print_out(line)
        return 0
    host.print_error(line)
    failure = alert(config, result, host, clock)
    if failure:
        host.print_error("pgops-restore-drill: %s" % failure)
    return 1
