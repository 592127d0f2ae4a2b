# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring check on the host: observe, judge with health's checks, write status and metrics, alert.

Run every minute as postgres by the monitoring role's systemd timer through a thin script
(/usr/local/bin/pgops-backup-monitor). Everything it knows comes from a JSON configuration without secrets
(the monitoring role writes it); what it remembers between runs is in its state directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from ansible_collections.pgops.backup.plugins.module_utils import health
from ansible_collections.pgops.backup.plugins.module_utils.files import write_atomically
from ansible_collections.pgops.backup.plugins.module_utils.policy import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.runner import error_line, redact
from ansible_collections.pgops.backup.plugins.module_utils.tools.base import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.tools.drivers import driver_for

DEFAULT_CONFIG = "/etc/pgops-backup/monitor.json"
COMMAND_TIMEOUT = 300
# listing the repositories must not hold up the next minute's archiving check when the store hangs
INVENTORY_TIMEOUT = 30
ALERT_TIMEOUT = 60
SETTINGS_SQL = ("SELECT name, setting, unit FROM pg_settings WHERE name IN "
                "('archive_mode', 'archive_command', 'archive_timeout', 'max_wal_size', 'data_directory')")
_UNIT_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1 << 20, "16MB": 16 << 20, "GB": 1 << 30}
# option names whose values are secrets in pgbackrest.conf and .walg.json
_SECRET_WORDS = ("key", "pass", "secret", "token")


def say_out(text, stream=None):
    """A line for the journal (stdout), or for stderr."""
    (stream or sys.stdout).write(text + "\n")


def secret_values(paths):
    """The secret values in the tools' configuration files, to redact from anything the monitor says."""
    secrets = []
    for path in paths or []:
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError):
            continue
        if path.endswith(".json"):
            try:
                items = json.loads(text).items()
            except (ValueError, AttributeError):
                items = []
        else:
            items = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
        secrets += [str(v).strip() for k, v in items
                    if any(w in str(k).lower() for w in _SECRET_WORDS) and len(str(v).strip()) >= 4]
    return secrets


def run_command(argv, timeout=COMMAND_TIMEOUT):
    """(rc, stdout, stderr) of argv; rc 124 on a timeout, 127 when the program is missing."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              universal_newlines=True, check=False)
        return done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        return 124, "", "%s timed out after %ds" % (argv[0], timeout)
    except OSError as exc:
        return 127, "", "%s: %s" % (argv[0], exc)


def settings_of(rows):
    """pg_settings rows as {name: value}, sizes in bytes and times in seconds."""
    settings = {}
    for row in rows:
        value, unit = row["setting"], row.get("unit")
        if unit in _UNIT_BYTES:
            value = int(value) * _UNIT_BYTES[unit]
        elif unit == "s":
            value = int(value)
        elif unit == "min":
            value = int(value) * 60
        settings[row["name"]] = value
    return settings


def missing_program(archive_command, path=None):
    """The program archive_command runs when it does not exist (or is not executable), else None."""
    try:
        words = shlex.split(archive_command or "")
    except ValueError:
        return None
    if not words:
        return None
    program = words[0]
    if "/" in program:
        return None if os.access(program, os.X_OK) else program
    found = shutil.which(program, path=path or os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin")
    return None if found else program


def ready_files(data_directory):
    """(count, oldest mtime or None) of the .ready files in pg_wal/archive_status."""
    count, oldest = 0, None
    for entry in os.scandir(os.path.join(data_directory, "pg_wal", "archive_status")):
        if entry.name.endswith(".ready"):
            count += 1
            mtime = entry.stat().st_mtime
            oldest = mtime if oldest is None else min(oldest, mtime)
    return count, oldest


def pg_wal_usage(data_directory):
    """(bytes in pg_wal, bytes free on its filesystem for an unprivileged user)."""
    path = os.path.join(data_directory, "pg_wal")
    size = sum(e.stat().st_size for e in os.scandir(path) if e.is_file(follow_symlinks=False))
    stat = os.statvfs(path)
    return size, stat.f_bavail * stat.f_frsize


def local_backups(root, kind):
    """The newest complete logical or base backup under root/kind, from its manifest.json, as a list of one (or
    none). Labels are UTC times, so the newest is the last name; an in-progress one is named .partial-LABEL."""
    try:
        labels = sorted((n for n in os.listdir(os.path.join(root, kind)) if not n.startswith(".")), reverse=True)
    except OSError:
        return []
    for label in labels:
        try:
            with open(os.path.join(root, kind, label, "manifest.json")) as handle:
                backup = health.manifest_backup(json.load(handle))
        except (IOError, OSError, ValueError):
            continue
        if backup is not None:
            return [backup]
    return []


def read_json(path):
    """A JSON file's content; None when it does not exist, {'unreadable': message} when it is not JSON."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError):
        return None
    except ValueError as exc:
        return {"unreadable": str(exc)}


def scan_drops(log_dir, stanza, previous):
    """New drops in pgBackRest's archive-push logs since the last run: (drops, offsets to keep)."""
    offsets, drops = {}, []
    for path in sorted(glob.glob(os.path.join(log_dir, "%s-archive-push*.log" % stanza))):
        try:
            stat = os.stat(path)
            seen = (previous or {}).get(path) or {}
            start = seen.get("offset", 0) if seen.get("inode") == stat.st_ino and seen.get("offset", 0) <= stat.st_size else 0
            with open(path, "rb") as handle:
                handle.seek(start)
                text = handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            continue
        drops += health.parse_drops(text)
        offsets[path] = {"inode": stat.st_ino, "offset": start + len(text.encode("utf-8"))}
    return drops, offsets


class Monitor(object):
    """One run of the check. ``connect`` and ``run`` are replaceable for tests."""

    def __init__(self, config, now=None, connect=None, run=run_command):
        self.config = config
        self.settings = health.monitor_settings(config.get("settings"))
        self.now = int(now if now is not None else time.time())
        self.connect = connect
        self.run = run
        self.secrets = secret_values(config.get("secret_files"))
        self.state_dir = config["state_dir"]
        self.state = read_json(os.path.join(self.state_dir, "state.json")) or {}
        if "unreadable" in self.state:
            self.state = {}

    def say(self, text):
        return redact(text, self.secrets)

    def enabled(self, check):
        return check in self.settings["checks"]

    def _tool_driver(self):
        repositories = [{"index": r["index"], "name": r["name"]} for r in self.config.get("repositories") or []]
        return driver_for({"tool": self.config["tool"], "stanza": self.config["stanza"], "compression": None,
                           "repositories": repositories})

    def _tool_run(self, argv):
        rc, out, err = self.run(argv, timeout=INVENTORY_TIMEOUT)
        if rc != 0:
            raise ToolError("%s failed (exit %d): %s" % (argv[0], rc, self.say(error_line(out, err))), rc=rc)
        return out

    def observe_cluster(self):
        """pg_stat_archiver and the settings, or raise with the reason the cluster cannot be read."""
        from ansible_collections.pgops.backup.plugins.module_utils import postgres

        cluster = self.config["cluster"]
        conn = (self.connect or postgres.connect)(cluster["socket_dir"], cluster["port"])
        try:
            row = postgres.archiver_row(conn)
            settings = settings_of(postgres.query(conn, SETTINGS_SQL))
        finally:
            conn.close()
        return row, settings

    def archiving_and_backlog(self, results):
        row, settings = self.observe_cluster()
        data_directory = settings.get("data_directory") or self.config["cluster"]["data_directory"]
        ready, oldest = ready_files(data_directory)
        missing = None
        if settings.get("archive_mode") == "off":
            missing = "(archive_mode is off)"
        elif not (settings.get("archive_command") or "").strip():
            missing = "(archive_command is empty)"
        else:
            missing = missing_program(settings.get("archive_command"))
        if self.enabled("archiving"):
            res, keep = health.check_archiving(row, self.now, settings.get("archive_timeout") or 0,
                                               self.config["rpo_seconds"], self.state.get("archiver"), ready,
                                               oldest, missing)
            self.state["archiver"] = keep
            results.append(res)
        if self.enabled("backlog"):
            size, free = pg_wal_usage(data_directory)
            results.append(health.check_backlog(ready, size, settings.get("max_wal_size") or (1 << 30), free,
                                                self.settings))

    def inventory(self):
        """The tool's inventory, read again once inventory_interval has passed (reading it lists the
        repository, which is slow and costs requests on object storage), or at once after it failed."""
        cached = self.state.get("inventory") or {}
        if cached.get("at") is not None and not cached.get("error") and \
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
                allowed = health.allowed_age(repo.get("schedule"), kind, margin)
                if allowed is None:
                    continue
                found = reported.get(repo["index"])
                status = error or (found["status"] if found else "not reported by %s" % self.config["tool"])
                results.append(health.check_freshness(repo["name"], kind, found["backups"] if found else [],
                                                      allowed, self.now, status=status))
        local = self.config.get("local_backups") or {}
        for kind in ("logical", "base"):
            schedule = (local.get("schedules") or {}).get(kind)
            allowed = health.allowed_age({kind: schedule}, kind, margin)
            if allowed is not None:
                backups = local_backups(local["root"], kind)
                results.append(health.check_freshness("local", kind, backups, allowed, self.now))

    def tool_check(self):
        last = self.state.get("tool_check")
        if last and self.now - last.get("ran_at", 0) < self.settings["tool_check_interval_seconds"]:
            return last
        if self.config["tool"] == "pgbackrest":
            argv = ["pgbackrest", "--stanza=%s" % self.config["stanza"], "check"]
        else:
            argv = ["/usr/local/bin/wal-g", "wal-verify", "integrity", "timeline"]
        rc, out, err = self.run(argv)
        ok = rc == 0 and "FAILURE" not in out + err
        message = "passed" if ok else "%s (exit %d)" % (self.say(error_line(out, err)), rc)
        last = {"ran_at": self.now, "ok": ok, "message": message}
        self.state["tool_check"] = last
        return last

    def wal_dropped(self, results, repositories):
        drops, offsets = scan_drops(self.config.get("pgbackrest_log_dir") or "/var/log/pgbackrest",
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
        results.append(health.check_wal_dropped(total, last_drop, last_segment, max(stops) if stops else None))

    def evaluate_cluster(self):
        """The quick checks, from PostgreSQL and the local disk: (results, whether the cluster could be read)."""
        results, up = [], True
        if self.enabled("archiving") or self.enabled("backlog"):
            try:
                self.archiving_and_backlog(results)
            except Exception as exc:  # the cluster is down or refuses: that is the finding
                up = False
                results.append(health.result("archiving", "wal", health.FAILING, "cannot read the cluster: %s"
                                             % self.say(str(exc).strip())))
        if self.enabled("drill"):
            results.append(health.check_drill(read_json(self.config["drill_file"])))
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
            results.append(health.check_tool(self.config["tool"], self.tool_check()))
        if self.enabled("wal_dropped") and self.config["tool"] == "pgbackrest":
            self.wal_dropped(results, repositories)
        return results

    def notify(self, results):
        alerts, notifications = health.advance_alerts(self.state.get("alerts"), results, self.now,
                                                      self.settings["alert_repeat_seconds"])
        for notification in notifications:
            if not self.alert(notification):
                alerts = health.undelivered(alerts, notification)
        self.state["alerts"] = alerts

    def alert(self, notification):
        """Run the alert command with the message on stdin and in PGOPS_ALERT_*; True when it succeeded."""
        command = self.settings["alert_command"]
        text = self.say(health.alert_text(notification, self.config["host"], self.config["cluster"]["name"],
                                          self.now))
        say_out(text)
        if not command:
            return True
        res = notification["result"]
        env = dict(os.environ, PGOPS_ALERT_EVENT=notification["event"], PGOPS_ALERT_CHECK=res["check"],
                   PGOPS_ALERT_SUBJECT=res["subject"], PGOPS_ALERT_HOST=self.config["host"],
                   PGOPS_ALERT_CLUSTER=self.config["cluster"]["name"], PGOPS_ALERT_MESSAGE=text,
                   PGOPS_ALERT_SINCE=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(notification["since"])))
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        try:
            done = subprocess.run(argv, input=text + "\n", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=ALERT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            say_out("alert command failed: %s" % self.say(str(exc)), sys.stderr)
            return False
        if done.returncode != 0:
            say_out("alert command failed (exit %d): %s" % (done.returncode, self.say(error_line(done.stdout, done.stderr))),
                    sys.stderr)
            return False
        return True

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
        failing = [r for r in results if r["status"] == health.FAILING]
        status = {"host": self.config["host"], "cluster": cluster, "stanza": self.config["stanza"],
                  "tool": self.config["tool"], "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now)),
                  "ok": not failing, "up": up, "failing": [r["check"] + ":" + r["subject"] for r in failing],
                  "results": json.loads(self.say(json.dumps(results)))}
        labels = {"cluster": cluster, "stanza": self.config["stanza"], "tool": self.config["tool"]}
        metrics = health.render_metrics(results, labels, up, self.now, time.time() - started)
        write_atomically(self.config["status_file"], json.dumps(status, indent=1, sort_keys=True) + "\n")
        if self.config.get("metrics_file"):
            write_atomically(self.config["metrics_file"], metrics)
        write_atomically(os.path.join(self.state_dir, "state.json"), json.dumps(self.state) + "\n", mode=0o600)
        return status


def main(argv=None):
    """pgops-backup-monitor [CONFIG]: one run; exits 0 when every check passes, 1 when one fails, 2 on a
    configuration error."""
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else DEFAULT_CONFIG
    try:
        with open(path) as handle:
            config = json.load(handle)
        monitor = Monitor(config)
    except (IOError, OSError, ValueError, KeyError, PolicyError) as exc:
        say_out("pgops-backup-monitor: %s: %s" % (path, exc), sys.stderr)
        return 2
    with open(os.path.join(monitor.state_dir, "lock"), "a") as lock:
        # a run that outlasts the interval (a slow tool check) is not overtaken by the next one
        fcntl.flock(lock, fcntl.LOCK_EX)
        monitor.state = read_json(os.path.join(monitor.state_dir, "state.json")) or {}
        if "unreadable" in monitor.state:
            monitor.state = {}
        status = monitor.once()
    say_out("%s: %s" % ("ok" if status["ok"] else "FAILING", ", ".join(status["failing"]) or "every check passes"))
    return 0 if status["ok"] else 1
