# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logical and base backups on disk: dated directories, written aside and renamed when complete, each with
a manifest.json; and the retention that decides which of them go.

Layout: ``<root>/<kind>/<label>/`` (kind ``logical`` or ``base``, label the UTC start ``YYYYmmddTHHMMSSZ``)
holding ``manifest.json``; a backup being written is ``<root>/<kind>/.partial-<label>/``. The one reader of
their manifests, for the modules, the job script and the monitor alike.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import parse_duration
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.core.files import write_atomically

KINDS = ("logical", "base")
MANIFEST = "manifest.json"
PARTIAL_PREFIX = ".partial-"
LOCK_FILE = ".lock"
LABEL_FORMAT = "%Y%m%dT%H%M%SZ"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
LABEL_RE = re.compile(r"^\d{8}T\d{6}Z$")
_CHUNK = 1024 * 1024


def label_for(epoch):
    return time.strftime(LABEL_FORMAT, time.gmtime(epoch))


def iso(epoch):
    return time.strftime(ISO_FORMAT, time.gmtime(epoch))


def label_epoch(label):
    return calendar.timegm(time.strptime(label, LABEL_FORMAT))


def kind_dir(root, kind):
    if kind not in KINDS:
        raise ValueError("kind: %r is not one of %s" % (kind, ", ".join(KINDS)))
    return os.path.join(root, kind)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(directory):
    """Every file below directory (but the manifest) as {'path' (relative, '/'-separated), 'size', 'sha256'}."""
    entries = []
    for parent, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, directory).replace(os.sep, "/")
            if relative in (MANIFEST, LOCK_FILE):
                continue
            entries.append({"path": relative, "size": os.path.getsize(path), "sha256": sha256_of(path)})
    return entries


def mismatched_files(directory, manifest):
    """Paths of the manifest whose file is missing or whose size or sha256 differs; [] when all match."""
    wrong = []
    for entry in manifest.get("files", []):
        path = os.path.join(directory, entry["path"])
        if not os.path.isfile(path) or os.path.getsize(path) != entry["size"] or sha256_of(path) != entry["sha256"]:
            wrong.append(entry["path"])
    return wrong


def read_manifest(directory):
    """The manifest of a backup directory, or None when it has none or it is not readable JSON."""
    try:
        with open(os.path.join(directory, MANIFEST)) as handle:
            manifest = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


class KindLock(object):
    """One run per kind at a time: an exclusive flock on <root>/<kind>/.lock. While a run holds it, every
    partial directory but its own was left by a run that died, so it may go."""

    def __init__(self, directory):
        self.path = os.path.join(directory, LOCK_FILE)
        self.handle = None

    def acquire(self):
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            self.handle.close()
            self.handle = None
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True

    def release(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class BackupSet(object):
    """One backup being written: create() makes its partial directory, finish() writes the manifest and
    renames it to its label, discard() removes it after a failure."""

    def __init__(self, root, kind, started):
        self.kind = kind
        self.directory = kind_dir(root, kind)
        self.started = started
        self.label = label_for(started)
        self.partial = os.path.join(self.directory, PARTIAL_PREFIX + self.label)
        self.final = os.path.join(self.directory, self.label)

    def create(self):
        if os.path.lexists(self.final) or os.path.lexists(self.partial):
            raise ValueError("a %s backup labelled %s exists already" % (self.kind, self.label))
        os.mkdir(self.partial, 0o700)
        return self.partial

    def finish(self, finished, server_version, extra=None):
        manifest = {
            "kind": self.kind,
            "label": self.label,
            "status": "complete",
            "started": iso(self.started),
            "finished": iso(finished),
            "duration_seconds": round(finished - self.started, 3),
            "server_version": server_version,
            "files": file_entries(self.partial),
        }
        manifest.update(extra or {})
        write_atomically(os.path.join(self.partial, MANIFEST), json.dumps(manifest, sort_keys=True, indent=2) + "\n",
                         mode=0o600)
        os.rename(self.partial, self.final)
        return manifest

    def discard(self):
        shutil.rmtree(self.partial, ignore_errors=True)


def start_epoch(directory, kind):
    """A start time whose label is free (labels have whole seconds: a second run within one waits)."""
    while True:
        now = time.time()
        label = label_for(now)
        if not any(os.path.lexists(os.path.join(directory, name)) for name in (label, PARTIAL_PREFIX + label)):
            return now
        time.sleep(1.0 - (now % 1.0) + 0.01)


def list_backups(root, kind):
    """Complete backups of a kind, oldest first: {'label', 'path', 'manifest'}; partial ones are left out."""
    directory = kind_dir(root, kind)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    backups = []
    for name in sorted(names):
        path = os.path.join(directory, name)
        if not LABEL_RE.match(name) or not os.path.isdir(path):
            continue
        manifest = read_manifest(path)
        if manifest and manifest.get("status") == "complete":
            backups.append({"label": name, "path": path, "manifest": manifest})
    return backups


def newest_backup(root, kind):
    """The newest complete backup of a kind (as list_backups lists it), or None. Read from the newest label
    back: labels are UTC times, so with thousands of backups one manifest is read, not all."""
    directory = kind_dir(root, kind)
    try:
        names = sorted((n for n in os.listdir(directory) if LABEL_RE.match(n)), reverse=True)
    except OSError:
        return None
    for name in names:
        path = os.path.join(directory, name)
        manifest = read_manifest(path) if os.path.isdir(path) else None
        if manifest and manifest.get("status") == "complete":
            return {"label": name, "path": path, "manifest": manifest}
    return None


def stale_partials(root, kind, keep=None):
    """Partial directories of a kind but ``keep``; only call this while holding the kind's lock."""
    directory = kind_dir(root, kind)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [os.path.join(directory, name) for name in sorted(names)
            if name.startswith(PARTIAL_PREFIX) and os.path.join(directory, name) != keep]


def normalize_retention(raw, variable):
    """{'count': N or None, 'max_age': seconds or None} from {'count': N} and/or {'max_age': '14d'}."""

    if not isinstance(raw, dict):
        raise PolicyError(variable, "expected a dictionary such as {count: 7} or {max_age: 14d}, got %r" % (raw,))
    unknown = sorted(set(raw) - set(("count", "max_age")))
    if unknown:
        raise PolicyError(variable, "unknown key(s) %s; use count and/or max_age" % ", ".join(unknown))
    count, max_age = raw.get("count"), raw.get("max_age")
    if count is None and max_age is None:
        raise PolicyError(variable, "give count (the newest N to keep) or max_age (keep those younger), or both")
    if count is not None and (isinstance(count, bool) or not str(count).isdigit() or int(count) < 1):
        raise PolicyError(variable + ".count", "expected a whole number of 1 or more, got %r" % (count,))
    return {"count": int(count) if count is not None else None,
            "max_age": parse_duration(max_age, variable + ".max_age") if max_age is not None else None}


def expired_labels(labels, retention, now):
    """Labels (of complete backups) that retention removes: those beyond the newest ``count`` and older than
    ``max_age``; with both, a backup stays when either keeps it. The newest always stays, so the only good
    backup is never removed."""
    ordered = sorted(labels)
    if not ordered:
        return []
    keep = set([ordered[-1]])
    if retention.get("count"):
        keep.update(ordered[-retention["count"]:])
    if retention.get("max_age"):
        keep.update(label for label in ordered if now - label_epoch(label) < retention["max_age"])
    elif not retention.get("count"):
        return []
    return [label for label in ordered if label not in keep]


def apply_retention(root, kind, retention, now):
    """Remove the complete local backups that retention lets go; returns their labels."""
    removed = []
    backups = dict((b["label"], b["path"]) for b in list_backups(root, kind))
    for label in expired_labels(list(backups), retention, now):
        # renamed out of sight first, so a half-removed backup never looks like a complete one
        doomed = os.path.join(kind_dir(root, kind), PARTIAL_PREFIX + label + ".expired")
        os.rename(backups[label], doomed)
        shutil.rmtree(doomed)
        removed.append(label)
    return removed


def inventory_entry(backup, repository=1):
    """A backup as BackupTool.inventory lists it (see tools/base.py)."""
    manifest = backup["manifest"]
    start, stop = label_epoch(backup["label"]), None
    try:
        stop = calendar.timegm(time.strptime(manifest["finished"], ISO_FORMAT))
    except (KeyError, ValueError, TypeError):
        stop = start
    size = sum(entry.get("size", 0) for entry in manifest.get("files", []))
    # type full: each is a whole backup, so pg_backup's max_age counts it for any request
    return {"label": backup["label"], "type": "full", "prior": None, "kind": manifest.get("kind"), "start": start,
            "stop": stop, "duration": stop - start, "size": size, "repository_size": size, "lsn_start": None,
            "lsn_stop": None, "wal_start": None, "wal_stop": None, "error": False, "repository": repository,
            "path": backup["path"], "server_version": manifest.get("server_version")}
