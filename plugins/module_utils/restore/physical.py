# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a physical restore decides and does around the tool: the state of the data directory, the marker that
makes a repeated restore a no-op, the backup a target starts from, the recovery settings, and a free port
for a scratch cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import socket

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.files import write_atomically
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import normalize_target, target_key
from ansible_collections.pgops.backup.plugins.module_utils.core.wal import last_segment
from ansible_collections.pgops.backup.plugins.module_utils.drivers.selection import backup_for_target

MARKER_SUFFIX = ".pgops-restore.json"
MARKER_VERSION = 1
SOCKET_DIR = "/var/run/postgresql"


def data_directory_state(path):
    """'missing', 'empty', 'stopped' or 'running'.

    running: postmaster.pid names a live process (a pid reused by another process counts as running too:
    a restore waits rather than overwrite a live cluster). ValueError when the path is not a directory.
    """
    if not os.path.lexists(path):
        return "missing"
    if not os.path.isdir(path):
        raise ValueError("data_directory: %s exists and is not a directory" % path)
    if not os.listdir(path):
        return "empty"
    pid = _postmaster_pid(os.path.join(path, "postmaster.pid"))
    if pid is not None and _alive(pid):
        return "running"
    return "stopped"


def _postmaster_pid(pid_file):
    try:
        with open(pid_file) as handle:
            first = handle.readline().strip()
    except (IOError, OSError):
        return None
    if not first.isdigit() or int(first) <= 0:
        return None  # 0 or a negative pid would signal a process group
    return int(first)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.EPERM:  # alive, owned by another user
            return True
        if exc.errno == errno.ESRCH:
            return False
        raise
    return True


def marker_path(data_directory):
    """'<parent>/.<basename>.pgops-restore.json': next to the data directory, never in it, since a delta restore
    removes every file the backup does not hold."""
    path = os.path.normpath(str(data_directory))
    parent, base = os.path.split(path)
    return os.path.join(parent, "." + base + MARKER_SUFFIX)


def read_marker(data_directory):
    """The record of the last restore into ``data_directory``; None when there is none or it is not a JSON object."""
    try:
        with open(marker_path(data_directory)) as handle:
            record = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_marker(data_directory, record):
    """Write the record whole or not at all, readable by its owner only."""
    path = marker_path(data_directory)
    write_atomically(path, json.dumps(record, sort_keys=True, indent=2) + "\n", mode=0o600)
    return path


def clear_marker(data_directory):
    """Forget an earlier restore before a new one starts, so a failed restore never looks like a done one."""
    try:
        os.remove(marker_path(data_directory))
    except OSError:
        pass


def restore_record(tool, stanza, backup_label, target):
    """What the marker stores about a restore; a module may add fields (when, by whom) before writing it."""
    return {
        "version": MARKER_VERSION,
        "tool": tool,
        "stanza": stanza,
        "backup": backup_label,
        "target": normalize_target(target),
    }


def same_restore(marker, record):
    """Whether the marker records the restore that ``record`` asks for: same tool, stanza, backup and target."""
    if not isinstance(marker, dict) or not isinstance(record, dict):
        return False
    for key in ("tool", "stanza", "backup"):
        if marker.get(key) != record.get(key):
            return False
    return target_key(marker.get("target")) == target_key(record.get("target"))


def _bindable(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except (socket.error, OSError):
        return False
    finally:
        sock.close()
    return True


def free_port(start=5499, end=5599, socket_dir=SOCKET_DIR, extra_socket_dirs=()):
    """The first port from start to end (both included) that no cluster uses: no .s.PGSQL.<port> socket in
    socket_dir or extra_socket_dirs, and bindable on 127.0.0.1 (the test socket is closed again)."""
    dirs = [d for d in [socket_dir] + list(extra_socket_dirs or ()) if d]
    for port in range(int(start), int(end) + 1):
        if any(os.path.lexists(os.path.join(d, ".s.PGSQL.%d" % port)) for d in dirs):
            continue
        if _bindable(port):
            return port
    raise ValueError("no free port from %d to %d: each has a PostgreSQL socket in %s or is in use"
                     % (int(start), int(end), " or ".join(dirs) or "no socket directory"))


# A backup of a server restored earlier to a target carries that target in postgresql.auto.conf: left there, it
# would stop this restore too (a restore to latest would end at the old time). pgBackRest's own restore comments
# out the same settings; the rest are overridden by the ones appended after them (PostgreSQL takes the last).
_OLD_RECOVERY_TARGET = re.compile(r"^[\t ]*recovery_target(_action|_inclusive|_lsn|_name|_time|_timeline|_xid)?[\t ]*=")


def apply_restore_plan(plan, data_directory, run):
    """Fetch the backup, then comment out the recovery targets the backup's postgresql.auto.conf carries and append
    the recovery settings the tool does not write itself."""
    run(plan["argv"])
    if plan["auto_conf"]:
        path = os.path.join(data_directory, "postgresql.auto.conf")
        kept = read_text(path) if os.path.exists(path) else ""
        lines = [("# removed by pgops.backup restore # " + line) if _OLD_RECOVERY_TARGET.match(line) else line
                 for line in kept.splitlines()]
        lines += ["# recovery settings written by pgops.backup"]
        lines += ["%s = '%s'" % (key, str(value).replace("'", "''")) for key, value in sorted(plan["auto_conf"].items())]
        write_atomically(path, "\n".join(lines) + "\n", mode=0o600)
    for signal in ("recovery", "standby"):
        if plan.get(signal + "_signal"):
            open(os.path.join(data_directory, signal + ".signal"), "a").close()


def starting_backup(tool, run, target, repository=None, inventory=None):
    """Label of the backup a restore to target starts from (wal-g's backup-fetch cannot choose it itself).
    inventory: the tool's inventory when the caller has read it already."""
    inventory = inventory or tool.inventory(run)
    backups = [b for repo in inventory["repositories"] for b in repo["backups"]]
    chosen = backup_for_target(backups, target, repository)
    if chosen is None:
        # a repository that cannot be read says why (pgBackRest info's status), rather than seeming empty
        unreadable = [repo["status"] for repo in inventory["repositories"]
                      if repo["index"] == repository and repo["status"] != "ok"]
        raise ToolError("no successful backup %s%s: %s"
                        % ("before the target" if target["type"] in ("time", "lsn") else "to restore",
                           "" if repository is None else " in repository %s" % repository,
                           "it reports %s" % unreadable[0] if unreadable
                           else "the target is before the oldest backup, or there is none"))
    return chosen["label"]


def restore_summary(inventory, target, backup=None, repository=None):
    """The plan of a restore, for check mode: {'backup', 'wal_start', 'archive_end_segment', 'stop'} - the backup it
    starts from (the one asked for, or the one pgBackRest would choose), its first WAL segment, the newest segment
    the repositories hold (that repository's, when one is given: a restore from it replays its archive only), and
    where recovery ends, in words. inventory: the tool's inventory()."""
    repositories = [repo for repo in inventory["repositories"] if repository is None or repo["index"] == repository]
    backups = [b for repo in repositories for b in repo["backups"]]
    chosen = None
    if backup:
        chosen = next((b for b in backups if b["label"] == backup), None)
    else:
        chosen = backup_for_target(backups, target, repository)
    if chosen is None:
        where = "the repositories" if repository is None else "repository %d" % repository
        raise ToolError("no backup %s in %s" % (backup or "to start from", where))
    end = last_segment(repositories)
    stops = {
        "latest": "at the end of the archive, %s" % end,
        "immediate": "as soon as the backup is consistent",
        "time": "at the last commit before %s" % target.get("value"),
        "lsn": "at LSN %s" % target.get("value"),
        "xid": "after transaction %s" % target.get("value"),
        "name": "at restore point '%s'" % target.get("value"),
    }
    return {"backup": chosen["label"], "wal_start": chosen.get("wal_start"), "archive_end_segment": end,
            "stop": stops[target["type"]]}


def pg_ctl(data_directory):
    """pg_ctl of the data directory's major version (its PG_VERSION), on Debian's layout."""
    with open(os.path.join(data_directory, "PG_VERSION")) as handle:
        return "/usr/lib/postgresql/%s/bin/pg_ctl" % handle.read().strip()


def read_text(path):
    """A file's text, or '' when it cannot be read (a server log that is not there yet)."""
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError, TypeError):
        return ""
