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
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy, repository_choice
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
# what the result says of one restore before (or without) it
NOT_DRILLED = {"passed": False, "backup_label": None, "rto_seconds": None, "checks": [], "error": None,
               "replay_end_lsn": None, "replay_end_time": None, "archive_end_segment": None, "rpo_seconds": None}


def normalize_drill(tool, stanza, schedule, target="latest", repository=None, keep=12, alert_command="",
                    amcheck=True, row_counts=None, sql=None, timeout="1h", stall_timeout="60s", scratch_directory=None,
                    result_dir=RESULT_DIR, repositories=None):
    """The drill's configuration from the pg_backup_drill_* variables (without the prefix); PolicyError names
    the variable that is wrong. repositories: the policy's (each with 'index' and 'name'; only those two are kept),
    which repository takes its index or name and 'all' each in turn. Returns the configuration the drill script
    reads, plus 'cron' (the schedule's cron fields, None when the drill is not scheduled)."""
    minimal_policy(tool, stanza)
    if target not in DRILL_TARGETS:
        raise PolicyError("pg_backup_drill_target", "%r is not one of %s: a drill restores the newest backup"
                          % (target, ", ".join(DRILL_TARGETS)))
    known = [{"index": int(repo["index"]), "name": str(repo["name"])} for repo in repositories or []]
    if repositories is not None:
        repository = repository_choice(known, repository, "pg_backup_drill_repository", every=True)
    elif repository is not None and (isinstance(repository, bool) or not str(repository).isdigit()
                                     or not 1 <= int(repository) <= 256):
        # without the policy's repositories only an index can be checked
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
        "repository": repository if repository in (None, "all") else int(repository), "repositories": known,
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


def drill_once(config, host, repository, clock=time.time):
    """Restore from repository (an index; None: the tool takes the first that has the backup) and check once:
    what the drill's JSON says of one restore (passed, backup_label, rto_seconds, checks, error, where replay
    ended)."""
    drilled = dict(NOT_DRILLED, checks=[])
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
        options = dict(config, backup=None, repository=repository)
        outcome = restore_and_check(tool, run, scratch, normalize_target({"type": config["target"]}), options,
                                    clock=clock)
        drilled.update(passed=outcome["passed"], backup_label=outcome.get("backup"),
                       rto_seconds=outcome.get("rto_seconds"), checks=outcome.get("checks", []),
                       recovered=outcome.get("recovered"))
        drilled.update((key, value) for key, value in (outcome.get("recovery") or {}).items() if key in RECOVERY_KEYS)
        if not outcome["passed"]:
            drilled["error"] = outcome.get("msg")
    except Exception as exc:  # whatever broke, the drill records it and fails loudly
        drilled["error"] = str(exc) or exc.__class__.__name__
    return drilled


def repository_label(repository, name):
    return "repository %d (%s)" % (repository, name)


def run_drill(config, host, clock=time.time, hostname=None):
    """Restore and check once, or once from each repository in turn (repository 'all'); the result as the drill's
    JSON (see README, "Restore drills"). With 'all', 'repositories' holds each restore's result, each named; the
    drill passes when every one passed, its error names each repository that failed, and the other fields are
    those of the first that failed (else of the last)."""
    started = clock()
    result = {"version": RESULT_VERSION, "passed": False, "started": iso(started), "finished": None,
              "host": hostname or socket.getfqdn(), "tool": config["tool"], "stanza": config["stanza"],
              "target": config["target"], "repository": config.get("repository")}
    if result["repository"] != "all":
        result.update(drill_once(config, host, result["repository"], clock))
    else:
        drilled = [dict(drill_once(config, host, repo["index"], clock), repository=repo["index"], name=repo["name"])
                   for repo in config.get("repositories") or []]
        failed = [each for each in drilled if not each["passed"]]
        shown = failed[0] if failed else drilled[-1] if drilled else NOT_DRILLED
        result.update((key, value) for key, value in shown.items() if key not in ("repository", "name"))
        errors = ["%s, backup %s: %s" % (repository_label(each["repository"], each["name"]), each["backup_label"] or "none",
                                         each["error"] or _failed_checks(each)) for each in failed]
        result.update(repositories=drilled, passed=bool(drilled) and not failed,
                      error=("; ".join(errors) or None) if drilled else "no repository to drill: the configuration lists none")
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


def _failed_checks(drilled):
    return "; ".join("%s (%s)" % (c["name"], c.get("detail", "")) for c in drilled["checks"] if not c["passed"])


def _from(result):
    """' from repository N' when the drill read one repository it was given, else ''."""
    repository = result.get("repository")
    return "" if repository in (None, "all") else " from repository %s" % repository


def _detail(result):
    """What was restored, and the error or the failed checks."""
    if result.get("repository") == "all":
        return "%s stanza %s, every repository to %s: %s" % (result["tool"], result["stanza"], result["target"],
                                                             result["error"] or _failed_checks(result))
    return "%s stanza %s, backup %s%s to %s: %s" % (result["tool"], result["stanza"], result["backup_label"] or "none",
                                                    _from(result), result["target"],
                                                    result["error"] or _failed_checks(result))


def _passed(drilled, restored_to=""):
    return ("backup %s%s, replayed to %s (last commit %s, archive ends at %s), usable after %.1f s, %d checks passed"
            % (drilled["backup_label"], restored_to, drilled.get("replay_end_lsn"),
               drilled.get("replay_end_time") or "none", drilled.get("archive_end_segment"), drilled["rto_seconds"],
               len(drilled["checks"])))


def summary(result):
    """One line: what was restored, how long it took, and every check (or the error)."""
    if result["passed"] and result.get("repository") == "all":
        return "restore drill passed on %s: %s stanza %s to %s from every repository: %s" % (
            result["host"], result["tool"], result["stanza"], result["target"], "; ".join(
                "%s: %s" % (repository_label(each["repository"], each["name"]), _passed(each))
                for each in result["repositories"]))
    if result["passed"]:
        return "restore drill passed on %s: %s stanza %s, %s" % (
            result["host"], result["tool"], result["stanza"], _passed(result, "%s to %s" % (_from(result), result["target"])))
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
