# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""wal-g driver: the policy as ~postgres/.walg.json, its command lines, its backup list and version parsed.

wal-g reads its settings from $HOME/.walg.json, so archive_command, restore_command and the scheduled
jobs carry no setting and no secret. It stores in exactly one object storage repository (the policy
refuses more than one, and posix ones).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import json
import re
from numbers import Integral

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import (
    check_backup_label, check_data_directory, check_target_action, normalize_target, recovery_target_settings)
from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import epoch_seconds, to_epoch
from ansible_collections.pgops.backup.plugins.module_utils.drivers.base import BackupTool
from ansible_collections.pgops.backup.plugins.module_utils.policy import WALG_COMPRESSIONS

# absolute: cron's PATH (/usr/bin:/bin) lacks /usr/local/bin
BINARY = "/usr/local/bin/wal-g"
# the time retention job (module_utils/retention/expire.py through the host entry point), which the walg role installs
EXPIRE_JOB = "/usr/local/bin/pgops-backup-expire"
DAY_SECONDS = 24 * 3600
# where wal-g reads its settings (postgres's home), and the ones that are secrets
CONFIG_FILE = "~/.walg.json"
SECRET_SETTINGS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "WALG_LIBSODIUM_KEY")
# what a module offers: a full backup, or a delta on the last one
BACKUP_TYPES = ("full", "delta")
# what backup_argv takes: the schedules' diff and incr mean a delta too
ACCEPTED_BACKUP_TYPES = ("full", "delta", "diff", "incr")
DEFAULT_COMPRESSION = "lz4"
# Upload and download of tar parts and WAL are network bound, not CPU bound: two streams per core,
# at least one, at most 16 (wal-g's own default upload concurrency), so a small host is not flooded
# and a large one does not open more connections than an object store serves one client well.
MAX_CONCURRENCY = 16
# PostgreSQL 15 removed pg_start_backup/pg_stop_backup; wal-g calls pg_backup_start/stop from 2.0.1 on.
PG_BACKUP_START_MAJOR = 15
PG_BACKUP_START_WALG = (2, 0, 1)
LIBSODIUM_KEY_BYTES = 32
KEY_VARIABLE = "walg_libsodium_key"

_HEX_KEY_RE = re.compile(r"^[0-9A-Fa-f]{64}$")
_BASE64_KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+.~][0-9A-Za-z.+~-]*)?$")
_DELTA_MARK = "_D_"
REPOSITORY_NAME = "walg"
LATEST = "LATEST"


def _lsn(value):
    """PostgreSQL's text form of an LSN ('0/7000028'); wal-g's JSON gives it as a 64-bit number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Integral):
        return "%X/%X" % (value >> 32, value & 0xFFFFFFFF)
    return str(value)


def libsodium_key_transform(key):
    """How wal-g must decode ``key`` into its 32 bytes: None (32 characters used as they are), 'hex' or
    'base64'; ToolError for anything else.

    32 plain characters are read alike by every wal-g; hex and base64 need WALG_LIBSODIUM_KEY_TRANSFORM,
    which wal-g before 2.0 ignores (it would use the first 32 characters). The error never quotes the key.
    """
    text = str(key or "").strip()
    if len(text) == LIBSODIUM_KEY_BYTES and not any(c.isspace() for c in text):
        return None
    if _HEX_KEY_RE.match(text):
        return "hex"
    if _BASE64_KEY_RE.match(text):
        try:
            if len(base64.b64decode(text.encode("ascii"))) == LIBSODIUM_KEY_BYTES:
                return "base64"
        except (TypeError, ValueError, binascii.Error):
            pass
    raise ToolError("%s: expected %d bytes: 32 plain characters (any wal-g), 64 hex characters (openssl rand "
                    "-hex 32) or base64, 44 characters ending in '=' (openssl rand -base64 32; both wal-g 2.0 or "
                    "later); got %d characters that are none of these" % (KEY_VARIABLE, LIBSODIUM_KEY_BYTES, len(text)))


def _endpoint(repository):
    endpoint = "https://%s" % repository["endpoint_host"]
    if repository["endpoint_port"]:
        endpoint += ":%d" % int(repository["endpoint_port"])
    return endpoint


def _s3_prefix(repository):
    return "s3://%s%s" % (repository["bucket"], repository["prefix"])


def repository_location(repository):
    """Where wal-g keeps a repository of the policy, as .walg.json holds it: its endpoint and WALG_S3_PREFIX, or
    the directory of WALG_FILE_PREFIX (a posix repository, wal-g's file storage)."""
    if repository["type"] == "posix":
        return ("file", "", repository["path"].rstrip("/"))
    return ("s3", _endpoint(repository).lower(), _s3_prefix(repository).rstrip("/"))


def _storage_settings(repository):
    """The settings of .walg.json that say where the backups go."""
    if repository["type"] == "posix":
        return {"WALG_FILE_PREFIX": repository["path"]}
    settings = {
        "WALG_S3_PREFIX": _s3_prefix(repository),
        "AWS_ENDPOINT": _endpoint(repository),
        "AWS_REGION": repository["region"],
        "AWS_S3_FORCE_PATH_STYLE": "true" if repository["uri_style"] == "path" else "false",
        "AWS_ACCESS_KEY_ID": repository["access_key"],
        "AWS_SECRET_ACCESS_KEY": repository["secret_key"],
    }
    return settings


def key_material(key, transform=None):
    """What wal-g encrypts with for a key as written: its 32 bytes (as 'bytes:<hex>'), decoded by ``transform``
    (hex, base64, none) or, when None, as the role would tell wal-g to decode it; 'text:<key>' when it decodes to
    no key. Two keys compare equal exactly when wal-g would encrypt alike with them."""
    text = str(key or "").strip()
    try:
        if transform is None:
            transform = libsodium_key_transform(text) or "none"
        if transform == "hex":
            raw = binascii.unhexlify(text)
        elif transform == "base64":
            raw = base64.b64decode(text.encode("ascii"))
        else:
            raw = text.encode("utf-8")
    except (ToolError, TypeError, ValueError, binascii.Error):
        return "text:" + text
    return "bytes:" + binascii.hexlify(raw).decode("ascii")


def keys_in_use(text):
    """The libsodium key a .walg.json (its text) encrypts with, and where it stores:
    [{'option', 'key', 'material', 'location'}], empty when it encrypts nothing. ToolError when the file is no
    JSON object: a key that cannot be read is not one to replace."""
    try:
        settings = json.loads(text)
    except ValueError:
        settings = None
    if not isinstance(settings, dict):
        raise ToolError("not a JSON object, so the key it holds cannot be read, and the role does not replace a key "
                        "it cannot read: fix the file (or move it away if nothing was ever encrypted with it)")
    key = str(settings.get("WALG_LIBSODIUM_KEY") or "").strip()
    if not key:
        return []
    if settings.get("WALG_FILE_PREFIX"):
        location = ("file", "", str(settings["WALG_FILE_PREFIX"]).rstrip("/"))
    else:
        location = ("s3", str(settings.get("AWS_ENDPOINT") or "").lower(),
                    str(settings.get("WALG_S3_PREFIX") or "").rstrip("/"))
    transform = str(settings.get("WALG_LIBSODIUM_KEY_TRANSFORM") or "none").lower()
    return [{"option": "WALG_LIBSODIUM_KEY", "key": key, "material": key_material(key, transform),
             "location": location}]


def concurrency_for(cores):
    """WALG_UPLOAD_CONCURRENCY / WALG_DOWNLOAD_CONCURRENCY for a host with ``cores`` CPUs."""
    try:
        cores = int(cores)
    except (TypeError, ValueError):
        cores = 1
    return max(1, min(cores * 2, MAX_CONCURRENCY))


class WalG(BackupTool):
    name = "walg"
    binary = BINARY
    backup_types = BACKUP_TYPES

    def _data_directory(self):
        if not self.cluster or not self.cluster.get("data_directory"):
            raise ValueError("wal-g needs the cluster (its data_directory) to take a backup or write its config")
        return self.cluster["data_directory"]

    def archive_command(self):
        return "%s wal-push %%p" % self.binary

    def restore_command(self):
        return "%s wal-fetch %%f %%p" % self.binary

    def backup_argv(self, repository, backup_type):
        """full: a full backup. delta (and the schedules' diff and incr): a delta on the last backup when
        WALG_DELTA_MAX_STEPS > 0 (and fewer than that many deltas follow the last full), otherwise wal-g takes a
        full one. The repository is not read: wal-g has one, in .walg.json."""
        if backup_type not in ACCEPTED_BACKUP_TYPES:
            raise ValueError("wal-g backup types are %s, not %r" % (", ".join(BACKUP_TYPES), backup_type))
        data_directory = self._data_directory()
        if backup_type == "full":
            return [self.binary, "backup-push", "--full", data_directory]
        return [self.binary, "backup-push", data_directory]

    def expire_argv(self, repository):
        """Retention: keep the last N full backups (count), or what a restore to any moment of the last N days
        needs (time): the job that keeps the newest full backup finished before the window's start, as
        pgBackRest does (time_retention). wal-g's own `delete before FIND_FULL <time>` keeps the first backup
        after the time instead, so the window's first hours could not be restored."""
        retention = repository["retention"]
        full = int(retention["full"])
        if retention["type"] == "count":
            return [self.binary, "delete", "retain", "FULL", str(full), "--confirm"]
        return [EXPIRE_JOB, "--days", str(full)]

    def delete_before_argv(self, label):
        """wal-g deletes every backup before ``label`` and the WAL before its start; it keeps label, what
        follows it, and permanent backups (wal-g 1.1 to 3.x alike). label must be a full backup."""
        return [self.binary, "delete", "before", check_backup_label(label), "--confirm"]

    def expire_by_time(self, run, window_start):
        """Time retention applied: the backups listed, time_retention's decision, and wal-g's delete before the
        backup it keeps (nothing runs when it keeps everything). run: ``run(argv) -> stdout``, raising ToolError.
        Returns time_retention's result."""
        plan = time_retention(parse_backup_list(run(self.backup_list_argv())), window_start)
        if plan["keep"]:
            run(self.delete_before_argv(plan["keep"]))
        return plan

    def backup_list_argv(self):
        return [self.binary, "backup-list", "--detail", "--json"]

    def check_argv(self):
        """The tool's own check of its archive: WAL integrity and the timeline history."""
        return [self.binary, "wal-verify", "integrity", "timeline"]

    def version_argv(self):
        return [self.binary, "--version"]

    def wal_show_argv(self):
        # --without-backups: the archive range is all inventory needs; backup lookups would read every sentinel
        return [self.binary, "wal-show", "--detailed-json", "--without-backups"]

    def _repository_name(self):
        repositories = self.policy.get("repositories") or []
        return (repositories[0].get("name") if repositories else None) or REPOSITORY_NAME

    def inventory(self, run):
        """The one repository (index 1): backup-list's backups, and the archive range from wal-show, which
        may fail or be empty without failing the inventory (min and max are None then)."""
        backups = [_inventory_backup(b) for b in parse_backup_list(run(self.backup_list_argv()))]
        backups.sort(key=lambda b: (b["start"] or 0, b["stop"] or 0))
        try:
            archive = parse_wal_show(run(self.wal_show_argv()))
        except ToolError:
            archive = {"min": None, "max": None}
        return {"repositories": [{"index": 1, "name": self._repository_name(), "status": "ok",
                                  "backups": backups, "archive": archive}]}

    def restore_plan(self, data_directory, backup=None, target=None, target_action="pause", delta=False,
                     primary=False, repository=None):
        """backup-fetch into an empty data directory, then recovery settings and the signal file from the module:
        standby.signal for latest (PostgreSQL then waits at the end of the archive instead of promoting),
        recovery.signal for an exact target.

        backup-fetch takes a name or LATEST only, so for a time or an LSN give the backup that precedes the
        target (decisions.backup_for_target) or recovery may start past it.
        """
        if delta:
            raise ValueError("wal-g restores into an empty directory only; delta restore is a pgBackRest feature")
        if repository is not None and repository not in (1, "1") and not (
                isinstance(repository, dict) and repository.get("index") == 1):
            raise ValueError("repository: wal-g stores backups in one repository (1), not %r" % (repository,))
        data_directory = check_data_directory(data_directory)
        target = normalize_target(target)
        check_target_action(target_action)
        label = check_backup_label(backup) if backup else LATEST
        settings = {"restore_command": self.restore_command()}
        settings.update(recovery_target_settings(target, target_action))
        if not primary:
            settings["archive_mode"] = "off"
        latest = target["type"] == "latest"
        return {"argv": [self.binary, "backup-fetch", data_directory, label], "auto_conf": settings,
                "recovery_signal": not latest, "standby_signal": latest}

    def config(self, repository, cores, compression=None, delta_max_steps=0, libsodium_key=None, ca_file=None,
               brotli_available=False):
        """The settings of ~postgres/.walg.json (wal-g reads $HOME/.walg.json), every value a string.

        ca_file: where the repository's CA is on the host, when not at the repository's own ca_file.
        """
        if repository.get("type") not in ("s3", "posix"):
            raise ToolError("wal-g stores backups in object storage or a directory; repository %r is %s"
                            % (repository.get("name"), repository.get("type")))
        variable = "pg_backup_repositories[%d]" % (repository["index"] - 1)
        if not repository.get("verify_tls", True):
            raise ToolError("%s.verify_tls: this collection never turns TLS verification off for wal-g; give the "
                            "CA that signed the endpoint's certificate in ca_file instead" % variable)
        compression = compression or self.policy.get("compression") or DEFAULT_COMPRESSION
        if compression not in WALG_COMPRESSIONS:
            raise ToolError("pg_backup_compression: wal-g cannot compress with %s; use one of %s"
                            % (compression, ", ".join(WALG_COMPRESSIONS)))
        if compression == "brotli" and not brotli_available:
            raise ToolError("pg_backup_compression: brotli needs a wal-g binary built with brotli (build tag "
                            "brotli), and this one is not; choose lz4, zstd or lzma, or install a wal-g built "
                            "with brotli")
        data_directory = self._data_directory()
        concurrency = str(concurrency_for(cores))
        settings = _storage_settings(repository)
        settings.update({
            "WALG_COMPRESSION_METHOD": compression,
            "WALG_UPLOAD_CONCURRENCY": concurrency,
            "WALG_DOWNLOAD_CONCURRENCY": concurrency,
            "PGHOST": str(self.cluster.get("socket_dir") or ""),
            "PGPORT": str(self.cluster.get("port") or ""),
            "PGDATA": data_directory,
            # a segment already in the archive is never replaced: another cluster's WAL cannot overwrite it
            "WALG_PREVENT_WAL_OVERWRITE": "true",
        })
        if repository["type"] == "s3" and (ca_file or repository.get("ca_file")):
            settings["WALG_S3_CA_CERT_FILE"] = ca_file or repository["ca_file"]
        if int(delta_max_steps or 0) > 0:
            settings["WALG_DELTA_MAX_STEPS"] = str(int(delta_max_steps))
        if repository["encrypt"]:
            if not libsodium_key:
                raise ToolError("%s: repository %r is encrypted (encrypt: true), and wal-g encrypts with a libsodium "
                                "key: give %d bytes as 64 hex characters (openssl rand -hex 32) or base64 "
                                "(openssl rand -base64 32), or set encrypt: false"
                                % (KEY_VARIABLE, repository["name"], LIBSODIUM_KEY_BYTES))
            transform = libsodium_key_transform(libsodium_key)
            if transform:
                settings["WALG_LIBSODIUM_KEY_TRANSFORM"] = transform
            settings["WALG_LIBSODIUM_KEY"] = str(libsodium_key).strip()
        return dict((key, value) for key, value in settings.items() if value != "")


def parse_backup_list(text):
    """`wal-g backup-list --detail --json` as a list of backups, oldest first as wal-g lists them.

    No backup at all: wal-g prints nothing on stdout (or 'No backups found' on its log); both give [].
    A delta's prior is the backup it was taken on, None when that one is no longer listed.
    """
    text = (text or "").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        if "No backups found" in text:
            return []
        raise ToolError("wal-g backup-list did not return JSON: %s" % exc)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ToolError("wal-g backup-list returned %s, not a list of backups" % type(data).__name__)
    # a delta's name ends in _D_ and the WAL file of the backup it was taken on (wal-g's own naming)
    by_wal = dict((_wal_order({"label": entry["backup_name"]}), entry["backup_name"]) for entry in data)
    backups = []
    for entry in data:
        name = entry["backup_name"]
        backups.append({
            "label": name,
            "type": "delta" if _DELTA_MARK in name else "full",
            "prior": by_wal.get(name.partition(_DELTA_MARK)[2]) if _DELTA_MARK in name else None,
            "time": entry.get("time"),
            "start": entry.get("start_time"),
            "stop": entry.get("finish_time"),
            "lsn_start": _lsn(entry.get("start_lsn")),
            "lsn_stop": _lsn(entry.get("finish_lsn")),
            "wal_start": entry.get("wal_file_name"),
            "size": entry.get("uncompressed_size"),
            "repository_size": entry.get("compressed_size"),
            "permanent": bool(entry.get("is_permanent", False)),
            "hostname": entry.get("hostname"),
            "pg_version": entry.get("pg_version"),
        })
    return backups


def _finished(backup):
    """When a parse_backup_list backup finished (epoch seconds): wal-g's finish_time, or for an older wal-g
    without it the sentinel's time, which it writes last."""
    return to_epoch(backup["stop"] or backup["time"])


def _wal_order(backup):
    """wal-g's own order of backups (timeline, then segment): the WAL file in its name, which sorts as text."""
    return backup["label"][len("base_"):len("base_") + 24]


def time_retention(backups, window_start):
    """What time retention deletes, decided as pgBackRest decides it: a restore to any moment from
    ``window_start`` (epoch seconds) on needs the newest full backup that finished before it, so that one is
    kept with everything after it, and every backup before it is deleted (its WAL with it). When no full
    backup finished before window_start, everything is kept.

    backups: parse_backup_list's. Returns {'keep': the label to delete before, or None; 'keep_finished':
    its finish (epoch seconds) or None; 'expired': the labels wal-g's delete before it removes, oldest first
    (what sorts before it in wal-g's order, except permanent backups); 'kept': the other labels}.
    """
    older = [b for b in backups if b["type"] == "full" and _finished(b) is not None and _finished(b) < window_start]
    if not older:
        return {"keep": None, "keep_finished": None, "expired": [], "kept": [b["label"] for b in backups]}
    keep = max(older, key=lambda b: (_finished(b), _wal_order(b)))
    doomed = [b for b in sorted(backups, key=_wal_order) if _wal_order(b) < _wal_order(keep) and not b["permanent"]]
    return {"keep": keep["label"], "keep_finished": _finished(keep), "expired": [b["label"] for b in doomed],
            "kept": [b["label"] for b in backups if b not in doomed]}


def secret_values(text):
    """The secrets in .walg.json's text (to redact from what the jobs print); [] when it is no JSON object."""
    try:
        settings = json.loads(text or "")
    except ValueError:
        return []
    if not isinstance(settings, dict):
        return []
    return [str(settings[name]) for name in SECRET_SETTINGS if settings.get(name)]


def _inventory_backup(backup):
    """A parse_backup_list backup in BackupTool.inventory()'s form. wal-g lists only backups that completed;
    without start_time and finish_time (older wal-g) the sentinel's time stands for both."""
    stop = epoch_seconds(backup["stop"] or backup["time"])
    start = epoch_seconds(backup["start"]) if backup["start"] else stop
    return {
        "label": backup["label"],
        "type": backup["type"],
        "prior": backup["prior"],
        "start": start,
        "stop": stop,
        "duration": stop - start if start is not None and stop is not None else None,
        "size": backup["size"],
        "repository_size": backup["repository_size"],
        "lsn_start": backup["lsn_start"],
        "lsn_stop": backup["lsn_stop"],
        "wal_start": backup["wal_start"],
        "wal_stop": None,
        "error": False,
        "repository": 1,
    }


def parse_wal_show(text):
    """{'min', 'max'} WAL segments in the archive from `wal-g wal-show --detailed-json`: a JSON list of timelines,
    each with start_segment and end_segment (its first and last segment; missing_segments lists the gaps).
    Nothing archived: [] or null, both give None and None. Segment names sort by timeline, then position."""
    text = (text or "").strip()
    data = None
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            lines = [line for line in text.splitlines() if line.strip().startswith("[")]
            try:
                data = json.loads(lines[-1]) if lines else None
            except ValueError:
                data = None
            if data is None:
                raise ToolError("wal-g wal-show did not return JSON")
    if not isinstance(data, list):
        return {"min": None, "max": None}
    starts = [t.get("start_segment") for t in data if isinstance(t, dict) and t.get("start_segment")]
    ends = [t.get("end_segment") for t in data if isinstance(t, dict) and t.get("end_segment")]
    return {"min": min(starts) if starts else None, "max": max(ends) if ends else None}


def version_tuple(text):
    """(1, 1, 3) from `wal-g --version` ('wal-g version v1.1.3-rc-with-build\\tdevel\\tdevel\\tPostgreSQL')
    or a bare 'v3.0.5'; None for a 'devel' build or anything else.

    Only the word after 'version' (or the first word) counts: the build date that follows looks like a
    version too (2022.05.20_10:45:57).
    """
    words = str(text or "").split()
    if not words:
        return None
    lowered = [w.lower() for w in words]
    if "version" in lowered:
        index = lowered.index("version") + 1
        candidate = words[index] if index < len(words) else ""
    else:
        candidate = words[0]
    match = _VERSION_RE.match(candidate)
    if not match:
        return None
    return tuple(int(part) for part in match.groups())


def _major(pg_major):
    try:
        return int(str(pg_major).partition(".")[0])
    except ValueError:
        raise ValueError("PostgreSQL major version %r is not a number" % (pg_major,))


def _dotted(version):
    return ".".join(str(part) for part in version)


def backup_support(version_text, pg_major):
    """Whether this wal-g can take base backups of this PostgreSQL major version.

    {'ok', 'found' ('x.y.z' or None), 'required' ('2.0.1' or None), 'msg'}. Archiving (wal-push,
    wal-fetch) works with any version; base backups of PostgreSQL 15 and later need wal-g 2.0.1+.
    """
    major = _major(pg_major)
    version = version_tuple(version_text)
    found = _dotted(version) if version else None
    if major < PG_BACKUP_START_MAJOR:
        return {"ok": True, "found": found, "required": None,
                "msg": "wal-g %s can take base backups of PostgreSQL %d" % (found or "(version unknown)", major)}
    required = _dotted(PG_BACKUP_START_WALG)
    remedy = ("install wal-g %s or later, or turn scheduled backups off (pg_backup_schedule full/diff/incr \"\")"
              % required)
    if version is None:
        shown = (str(version_text or "").strip().splitlines() or [""])[0][:80]
        return {"ok": False, "found": None, "required": required,
                "msg": "the wal-g version could not be read from %r; base backups of PostgreSQL %d need wal-g %s "
                       "or later (older ones call pg_start_backup, removed in 15): %s"
                       % (shown, major, required, remedy)}
    if version < PG_BACKUP_START_WALG:
        return {"ok": False, "found": found, "required": required,
                "msg": "wal-g %s cannot take base backups of PostgreSQL %d (it calls pg_start_backup, removed in "
                       "15): %s" % (found, major, remedy)}
    return {"ok": True, "found": found, "required": required,
            "msg": "wal-g %s can take base backups of PostgreSQL %d" % (found, major)}
