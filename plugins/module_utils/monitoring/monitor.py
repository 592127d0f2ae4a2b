# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring check on the host (the timer's entry): observe, judge with the checks, write status and
metrics, alert.

Run every minute as postgres by the monitoring role's systemd timer through a thin script
(/usr/local/bin/pgops-backup-monitor, which runs the host entry point pgops_backup_host.py). Everything it knows comes from a JSON configuration without secrets
(the monitoring role writes it); what it remembers between runs is in its state directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import json
import os
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.alerts import alert_environment, send_alert
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError, ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.files import write_atomically
from ansible_collections.pgops.backup.plugins.module_utils.core.process import CommandRunner, error_line
from ansible_collections.pgops.backup.plugins.module_utils.drivers.registry import driver_for
from ansible_collections.pgops.backup.plugins.module_utils.monitoring import alerts, checks, metrics, observe
from ansible_collections.pgops.backup.plugins.module_utils.monitoring.settings import monitor_settings

DEFAULT_CONFIG = "/etc/pgops-backup/monitor.json"
COMMAND_TIMEOUT = 300
# listing the repositories must not hold up the next minute's archiving check when the store hangs
INVENTORY_TIMEOUT = 30


class Monitor(object):
    """One run of the check. host: what runs commands and prints (the host entry point's LocalHost);
    ``connect`` is replaceable for tests."""

    def __init__(self, config, host, now=None, connect=None):
        self.config = config
        self.host = host
        self.settings = monitor_settings(config.get("settings"))
        self.now = int(now if now is not None else time.time())
        self.connect = connect
        self.runner = CommandRunner(host, secrets=observe.secret_values(config.get("secret_files")))
        self.state_dir = config["state_dir"]
        self.state = observe.read_json(os.path.join(self.state_dir, "state.json")) or {}
        if "unreadable" in self.state:
            self.state = {}

    def say(self, text):
        return self.runner.say(text)

    def enabled(self, check):
        return check in self.settings["checks"]

    def _tool_driver(self):
        repositories = [{"index": r["index"], "name": r["name"]} for r in self.config.get("repositories") or []]
        return driver_for({"tool": self.config["tool"], "stanza": self.config["stanza"], "compression": None,
                           "repositories": repositories})

    def _tool_run(self, argv):
        return self.runner.run(argv, timeout=INVENTORY_TIMEOUT)[1]

    def observe_cluster(self):
        """pg_stat_archiver and the settings, or raise with the reason the cluster cannot be read."""
        from ansible_collections.pgops.backup.plugins.module_utils.core import postgres

        cluster = self.config["cluster"]
        conn = (self.connect or postgres.connect)(cluster["socket_dir"], cluster["port"])
        try:
            row = postgres.archiver_row(conn)
            settings = observe.settings_of(postgres.query(conn, observe.SETTINGS_SQL))
        finally:
            conn.close()
        return row, settings

    def archiving_and_backlog(self, results):
        row, settings = self.observe_cluster()
        data_directory = settings.get("data_directory") or self.config["cluster"]["data_directory"]
        ready, oldest = observe.ready_files(data_directory)
        missing = None
        if settings.get("archive_mode") == "off":
            missing = "(archive_mode is off)"
        elif not (settings.get("archive_command") or "").strip():
            missing = "(archive_command is empty)"
        else:
            missing = observe.missing_program(settings.get("archive_command"))
        if self.enabled("archiving"):
            res, keep = checks.check_archiving(row, self.now, settings.get("archive_timeout") or 0,
                                               self.config["rpo_seconds"], self.state.get("archiver"), ready,
                                               oldest, missing)
            self.state["archiver"] = keep
            results.append(res)
        if self.enabled("backlog"):
            size, free = observe.pg_wal_usage(data_directory)
            results.append(checks.check_backlog(ready, size, settings.get("max_wal_size") or (1 << 30), free,
                                                self.settings))

    def inventory(self):
        """The tool's inventory, read again once inventory_interval has passed (reading it lists the
        repository, which is slow and costs requests on object storage), or at once after it failed or a
        repository was not ok (no backup yet, unreadable): a first backup is seen at the next run."""
        cached = self.state.get("inventory") or {}
        if cached.get("at") is not None and not cached.get("error") and \
                all(r.get("status") == "ok" for r in cached.get("repositories") or []) and \
                self.now - cached["at"] < self.settings["inventory_interval_seconds"]:
            return cached.get("repositories"), cached.get("error")
        try:
            repositories, error = self._tool_driver().inventory(self._tool_run)["repositories"], None
        except (ToolError, ValueError) as exc:
            repositories, error = None, self.say(str(exc))
        self.state["inventory"] = {"at": self.now, "repositories": repositories, "error": error}
        return repositories, error

    def freshness(self, results, repositories, error):
        margin = self.settings["backup_margin_seconds"]
        reported = dict((r["index"], r) for r in repositories or [])
        for repo in self.config.get("repositories") or []:
            for kind in ("full", "diff", "incr"):
                allowed = checks.allowed_age(repo.get("schedule"), kind, margin)
                if allowed is None:
                    continue
                found = reported.get(repo["index"])
                status = error or (found["status"] if found else "not reported by %s" % self.config["tool"])
                results.append(checks.check_freshness(repo["name"], kind, found["backups"] if found else [],
                                                      allowed, self.now, status=status))
        local = self.config.get("local_backups") or {}
        for kind in ("logical", "base"):
            schedule = (local.get("schedules") or {}).get(kind)
            allowed = checks.allowed_age({kind: schedule}, kind, margin)
            if allowed is not None:
                backups = observe.local_backups(local["root"], kind)
                results.append(checks.check_freshness("local", kind, backups, allowed, self.now))

    def tool_check(self):
        last = self.state.get("tool_check")
        if last and self.now - last.get("ran_at", 0) < self.settings["tool_check_interval_seconds"]:
            return last
        rc, out, err = self.runner.run(self._tool_driver().check_argv(), check=False, timeout=COMMAND_TIMEOUT)
        ok = rc == 0 and "FAILURE" not in out + err
        message = "passed" if ok else "%s (exit %d)" % (error_line(out, err), rc)
        last = {"ran_at": self.now, "ok": ok, "message": message}
        self.state["tool_check"] = last
        return last

    def wal_dropped(self, results, repositories):
        drops, offsets = observe.scan_drops(self.config.get("pgbackrest_log_dir") or "/var/log/pgbackrest",
                                            self.config["stanza"], (self.state.get("drops") or {}).get("offsets"))
        kept = self.state.get("drops") or {}
        total = int(kept.get("total", 0)) + len(drops)
        last_drop, last_segment = kept.get("last_drop"), kept.get("last_segment")
        if drops:
            last_drop, last_segment = max(drops)
        self.state["drops"] = {"offsets": offsets, "total": total, "last_drop": last_drop,
                               "last_segment": last_segment}
        stops = [b["stop"] for r in repositories or [] for b in r.get("backups") or []
                 if not b.get("error") and b.get("stop") is not None]
        results.append(checks.check_wal_dropped(total, last_drop, last_segment, max(stops) if stops else None))

    def evaluate_cluster(self):
        """The quick checks, from PostgreSQL and the local disk: (results, whether the cluster could be read)."""
        results, up = [], True
        if self.enabled("archiving") or self.enabled("backlog"):
            try:
                self.archiving_and_backlog(results)
            except Exception as exc:  # the cluster is down or refuses: that is the finding
                up = False
                results.append(checks.result("archiving", "wal", checks.FAILING, "cannot read the cluster: %s"
                                             % self.say(str(exc).strip())))
        if self.enabled("drill"):
            results.append(checks.check_drill(observe.read_json(self.config["drill_file"])))
        return results, up

    def evaluate_repositories(self):
        """The checks that ask the backup tool, which can take long when its repository does not answer."""
        results = []
        repositories, error = None, None
        if self.enabled("freshness") or self.enabled("wal_dropped"):
            repositories, error = self.inventory()
        if self.enabled("freshness"):
            self.freshness(results, repositories, error)
        if self.enabled("tool"):
            results.append(checks.check_tool(self.config["tool"], self.tool_check()))
        if self.enabled("wal_dropped") and self.config["tool"] == "pgbackrest":
            self.wal_dropped(results, repositories)
        return results

    def notify(self, results):
        state, notifications = alerts.advance_alerts(self.state.get("alerts"), results, self.now,
                                                     self.settings["alert_repeat_seconds"])
        for notification in notifications:
            if not self.alert(notification):
                state = alerts.undelivered(state, notification)
        self.state["alerts"] = state

    def alert(self, notification):
        """Run the alert command with the message on stdin and in PGOPS_ALERT_*; True when it succeeded."""
        command = self.settings["alert_command"]
        res = notification["result"]
        cluster = self.config["cluster"]["name"]
        text = self.say(alerts.alert_text(notification, self.config["host"], cluster, self.now))
        self.host.print_out(text)
        if not command:
            return True
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        environment = alert_environment(notification["event"], res["check"], res["subject"], self.config["host"],
                                        cluster, self.config["stanza"], notification["since"], text)
        failure = send_alert(self.runner, argv, text, environment)
        if failure:
            self.host.print_error(failure)
        return failure is None

    def once(self):
        """One run: evaluate, alert on changes, write status, metrics and state. Returns the status."""
        started = time.time()
        # the cluster's checks alert before the repositories are asked: a hanging store cannot delay them
        results, up = self.evaluate_cluster()
        self.notify(results)
        more = self.evaluate_repositories()
        self.notify(more)
        results += more
        cluster = self.config["cluster"]["name"]
        failing = [r for r in results if r["status"] == checks.FAILING]
        status = {"host": self.config["host"], "cluster": cluster, "stanza": self.config["stanza"],
                  "tool": self.config["tool"], "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now)),
                  "ok": not failing, "up": up, "failing": [r["check"] + ":" + r["subject"] for r in failing],
                  "results": json.loads(self.say(json.dumps(results)))}
        labels = {"cluster": cluster, "stanza": self.config["stanza"], "tool": self.config["tool"]}
        text = metrics.render_metrics(results, labels, up, self.now, time.time() - started)
        write_atomically(self.config["status_file"], json.dumps(status, indent=1, sort_keys=True) + "\n")
        if self.config.get("metrics_file"):
            write_atomically(self.config["metrics_file"], text)
        write_atomically(os.path.join(self.state_dir, "state.json"), json.dumps(self.state) + "\n", mode=0o600)
        return status


def main(argv, host):
    """pgops-backup-monitor [CONFIG]: one run; exits 0 when every check passes, 1 when one fails, 2 on a
    configuration error."""
    path = argv[0] if argv else DEFAULT_CONFIG
    try:
        with open(path) as handle:
            config = json.load(handle)
        monitor = Monitor(config, host)
    except (IOError, OSError, ValueError, KeyError, PolicyError) as exc:
        host.print_error("pgops-backup-monitor: %s: %s" % (path, exc))
        return 2
    with open(os.path.join(monitor.state_dir, "lock"), "a") as lock:
        # a run that outlasts the interval (a slow tool check) is not overtaken by the next one
        fcntl.flock(lock, fcntl.LOCK_EX)
        monitor.state = observe.read_json(os.path.join(monitor.state_dir, "state.json")) or {}
        if "unreadable" in monitor.state:
            monitor.state = {}
        status = monitor.once()
    host.print_out("%s: %s" % ("ok" if status["ok"] else "FAILING", ", ".join(status["failing"]) or "every check passes"))
    return 0 if status["ok"] else 1
