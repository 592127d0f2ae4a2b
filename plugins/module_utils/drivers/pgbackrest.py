# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest driver: the policy as pgbackrest.conf, its command lines, and its info output parsed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import (
    check_backup_label, check_data_directory, check_target_action, normalize_target, recovery_time)
from ansible_collections.pgops.backup.plugins.module_utils.drivers.base import BackupTool

COMPRESS_TYPES = {"zstd": "zst", "lz4": "lz4", "gzip": "gz", "bzip2": "bz2", "none": "none"}
BACKUP_TYPES = ("full", "diff", "incr")
# The roles a host plays: standalone holds its repositories; with a repository host, "pg" is the
# database host and "repository" the host that stores backups and runs them.
HOST_ROLES = ("standalone", "pg", "repository")
SPOOL_PATH = "/var/spool/pgbackrest"
LOG_PATH = "/var/log/pgbackrest"
# info's status codes (pgBackRest's own numbering)
STATUS_OK = 0
STATUS_MISSING_STANZA_PATH = 1
STATUS_NO_BACKUP = 2
STATUS_MISSING_STANZA_DATA = 3
QUEUE_MAX_VARIABLE = "pgbackrest_archive_push_queue_max"
_SIZE_RE = re.compile(r"^(\d+)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
# pgBackRest's own defaults for what locates a repository, when pgbackrest.conf leaves them out
DEFAULT_REPO_PATH = "/var/lib/pgbackrest"
DEFAULT_STORAGE_PORT = 443
CIPHER_TYPE = "aes-256-cbc"
_REPO_OPTION_RE = re.compile(r"^repo(\d+)-(.+)$")


def queue_max_bytes(value):
    """archive-push-queue-max in bytes from 1073741824, '1GB', '1GiB' or '512MB' (powers of 1024, as pgBackRest
    reads sizes); None (off) for None or ''. ToolError names the variable."""
    if value is None or str(value).strip() == "":
        return None
    match = _SIZE_RE.match(str(value).strip()) if not isinstance(value, bool) else None
    if not match or int(match.group(1)) == 0:
        raise ToolError("%s: expected a size such as 4GB or 1073741824 (bytes), got %r" % (QUEUE_MAX_VARIABLE, value))
    size = int(match.group(1)) * 1024 ** " kmgtp".index((match.group(2) or " ").lower())
    if size < 16 << 20:
        raise ToolError("%s: %r is less than one WAL segment (16MB)" % (QUEUE_MAX_VARIABLE, value))
    return size


def _yn(value):
    return "y" if value else "n"


def _repository_index(repository):
    """The index of a repository given as its index or as a dictionary that holds one ({'index': 2})."""
    index = repository.get("index") if isinstance(repository, dict) else repository
    if isinstance(index, bool):
        index = None
    try:
        index = int(index)
    except (TypeError, ValueError):
        index = 0
    if index < 1:
        raise ValueError("repository: expected a repository index of 1 or more, got %r" % (repository,))
    return index


class PgBackRest(BackupTool):
    name = "pgbackrest"
    binary = "pgbackrest"
    backup_types = BACKUP_TYPES

    def _base(self):
        return [self.binary, "--stanza=%s" % self.policy["stanza"]]

    def archive_command(self):
        return "%s --stanza=%s archive-push %%p" % (self.binary, self.policy["stanza"])

    def restore_command(self):
        return '%s --stanza=%s archive-get %%f "%%p"' % (self.binary, self.policy["stanza"])

    def backup_argv(self, repository, backup_type):
        if backup_type not in BACKUP_TYPES:
            raise ValueError("pgBackRest backup types are %s, not %r" % (", ".join(BACKUP_TYPES), backup_type))
        return self._base() + ["--repo=%d" % _repository_index(repository), "--type=%s" % backup_type, "backup"]

    def expire_argv(self, repository):
        return self._base() + ["--repo=%d" % repository["index"], "expire"]

    def info_argv(self, repository=None):
        return self._base() + (["--repo=%d" % repository] if repository else []) + ["--output=json", "info"]

    def _info(self, run, repository=None):
        """({repository index: parse_info's repository}, {index: archive range}) of one `info` call."""
        text = run(self.info_argv(repository))
        found = [s for s in parse_info(text) if s["name"] == self.policy["stanza"]]
        return (dict((r["key"], r) for r in (found[0]["repositories"] if found else [])),
                archive_ranges(text, self.policy["stanza"]))

    def inventory(self, run):
        """One `info` call: the stanza's repositories (those info reports and those the policy names), each
        named from the policy or 'repo<N>', with its backups and the archive range of its newest database.

        A repository after the first that info reports in error is read again on its own (--repo): on a database
        host behind a repository host, pgBackRest's info takes every repository's cipher settings before it has
        asked the repository host for any but the first's, so an encrypted second repository reads as
        undecryptable ("key/value found outside of section ... Salted__") unless read alone."""
        reported, ranges = self._info(run)
        for index in sorted(reported)[1:]:
            if reported[index]["status_code"] != STATUS_OK:
                alone, alone_ranges = self._info(run, index)
                if index in alone:
                    reported[index] = alone[index]
                    ranges.update((key, value) for key, value in alone_ranges.items() if key == index)
        names = dict((r["index"], r.get("name")) for r in self.policy.get("repositories") or [])
        repositories = []
        for index in sorted(set(reported) | set(names)):
            repo = reported.get(index)
            backups = [dict(backup, repository=index) for backup in (repo["backups"] if repo else [])]
            for backup in backups:
                backup["start"], backup["stop"] = int(backup["start"]), int(backup["stop"])
                backup["duration"] = backup["stop"] - backup["start"]
            backups.sort(key=lambda b: (b["start"], b["stop"]))
            repositories.append({
                "index": index,
                "name": names.get(index) or "repo%d" % index,
                "status": repo["status"] if repo else "not reported by pgbackrest info",
                "backups": backups,
                "archive": ranges.get(index, {"min": None, "max": None}),
            })
        return {"repositories": repositories}

    def restore_plan(self, data_directory, backup=None, target=None, target_action="pause", delta=False,
                     primary=False, repository=None):
        """pgBackRest writes the recovery settings itself: nothing to append, no signal file to create.

        latest recovers in standby mode (standby.signal, no primary_conninfo): at the end of the archive PostgreSQL
        waits for more WAL instead of promoting, so a missing segment cannot pass for the end of the archive."""
        data_directory = check_data_directory(data_directory)
        target = normalize_target(target)
        check_target_action(target_action)
        argv = self._base() + ["--reset-pg1-host", "--pg1-path=%s" % data_directory]
        if target["type"] == "latest":
            argv.append("--type=standby")
        else:
            argv.append("--type=%s" % target["type"])
            if target["value"] is not None:
                value = recovery_time(target["value"]) if target["type"] == "time" else target["value"]
                argv.append("--target=%s" % value)
            argv.append("--target-action=%s" % target_action)
        if backup:
            argv.append("--set=%s" % check_backup_label(backup))
        if repository is not None:
            argv.append("--repo=%d" % _repository_index(repository))
        if delta:
            argv.append("--delta")
        if not primary:
            argv.append("--archive-mode=off")
        return {"argv": argv + ["restore"], "auto_conf": {}, "recovery_signal": False, "standby_signal": False}

    def stanza_create_argv(self):
        return self._base() + ["stanza-create"]

    def check_argv(self):
        return self._base() + ["check"]

    def config_sections(self, host_role, pg, process_max, repository_host=None, pg_host=None,
                        repository_host_user="pgbackrest", archive_push_queue_max=None):
        """pgbackrest.conf as an ordered list of (section, [(option, value), ...]).

        pg: the cluster, {'path', 'port', 'socket_path'}. The database host of a repository-host pair
        knows only how to reach the repository host; the repository host holds every repository.
        archive_push_queue_max: see queue_max_bytes; when the spool holds more WAL than this, archive-push drops
        it (PostgreSQL keeps running, point-in-time recovery has a gap until the next backup).
        """
        if host_role not in HOST_ROLES:
            raise ValueError("host_role must be one of %s" % ", ".join(HOST_ROLES))
        compress = COMPRESS_TYPES.get(self.policy["compression"] or "zstd")
        if compress is None:
            raise ToolError("pgBackRest cannot compress with %s; use one of %s"
                            % (self.policy["compression"], ", ".join(sorted(COMPRESS_TYPES))))
        glob = [("log-path", LOG_PATH), ("log-level-file", "detail"), ("log-level-console", "info")]
        if host_role == "pg":
            for repo in self.policy["repositories"]:
                glob += [("repo%d-host" % repo["index"], repository_host),
                         ("repo%d-host-user" % repo["index"], repository_host_user)]
        else:
            glob += self._repository_options()
            glob += [("process-max", str(max(1, int(process_max)))), ("start-fast", "y")]
        # every role compresses: archive-push compresses WAL on the database host itself
        glob += [("compress-type", compress), ("compress-level", "3" if compress == "zst" else None)]
        if host_role != "repository":
            glob += [("archive-async", "y"), ("spool-path", SPOOL_PATH)]
            queue_max = queue_max_bytes(archive_push_queue_max)
            if queue_max is not None:
                glob.append(("archive-push-queue-max", str(queue_max)))
        glob = [(k, v) for k, v in glob if v is not None]
        sections = [("global", glob)]
        if host_role != "repository":
            sections += [("global:archive-push", [("process-max", str(max(1, min(4, int(process_max)))))]),
                         ("global:archive-get", [("process-max", str(max(1, min(4, int(process_max)))))])]
        stanza = [("pg1-path", pg["path"]), ("pg1-port", str(pg["port"]))]
        if host_role == "repository":
            stanza += [("pg1-host", pg_host), ("pg1-host-user", "postgres")]
        elif pg.get("socket_path"):
            stanza.append(("pg1-socket-path", pg["socket_path"]))
        sections.append((self.policy["stanza"], stanza))
        return sections

    def read_only_sections(self, process_max):
        """pgbackrest.conf of a host that only reads the policy's repositories and restores from them (the restore
        test's throwaway container): how to reach and decrypt each repository, and nothing else. No retention, so
        an expire run there by mistake deletes nothing; no database, so nothing is backed up or archived from it
        (a restore names its data directory itself, --pg1-path, and the restored cluster's restore_command too)."""
        glob = [("log-path", LOG_PATH), ("log-level-file", "detail"), ("log-level-console", "info")]
        glob += self._repository_options(retention=False)
        glob += [("process-max", str(max(1, int(process_max)))), ("archive-async", "y"), ("spool-path", SPOOL_PATH)]
        return [("global", [(k, v) for k, v in glob if v is not None]),
                ("global:archive-get", [("process-max", str(max(1, min(4, int(process_max)))))])]

    def _repository_options(self, retention=True):
        options = []
        for repo in self.policy["repositories"]:
            p = "repo%d-" % repo["index"]
            if repo["type"] == "posix":
                options += [(p + "type", "posix"), (p + "path", repo["path"])]
            else:
                options += [
                    (p + "type", "s3"),
                    (p + "path", repo["prefix"]),
                    (p + "s3-bucket", repo["bucket"]),
                    (p + "s3-endpoint", repo["endpoint_host"]),
                    (p + "storage-port", str(repo["endpoint_port"]) if repo["endpoint_port"] else None),
                    (p + "s3-region", repo["region"]),
                    (p + "s3-uri-style", repo["uri_style"]),
                    (p + "s3-key", repo["access_key"]),
                    (p + "s3-key-secret", repo["secret_key"]),
                    (p + "storage-verify-tls", _yn(repo["verify_tls"])),
                    (p + "storage-ca-file", repo["ca_file"]),
                ]
            if retention:
                kept = repo["retention"]
                options += [(p + "retention-full-type", kept["type"]),
                            (p + "retention-full", str(kept["full"])),
                            (p + "retention-diff", str(kept["diff"]) if kept["diff"] else None)]
            if repo["encrypt"]:
                if not repo["cipher_passphrase"]:
                    # never an empty or 'None' key: pgBackRest would encrypt the repository with it
                    raise ToolError("repository %r is encrypted but has no passphrase (the key step of the role "
                                    "did not run)" % repo["name"])
                options += [(p + "cipher-type", CIPHER_TYPE), (p + "cipher-pass", repo["cipher_passphrase"])]
        return options


def render_config(sections, header):
    """The text of an INI file from config_sections()."""
    lines = ["# " + line for line in header.splitlines()]
    for name, options in sections:
        lines += ["", "[%s]" % name] + ["%s=%s" % (key, value) for key, value in options]
    return "\n".join(lines) + "\n"


def parse_config(text):
    """pgbackrest.conf as {section: {option: value}}, read as pgBackRest reads it: a line starting with '#' is a
    comment, spaces around '=' do not count, and an option given twice keeps its last value."""
    sections, current = {}, None
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None:
            option, value = line.split("=", 1)
            current[option.strip()] = value.strip()
    return sections


def _normal_path(path):
    return "/" + str(path or "").strip().strip("/")


def repository_location(repository, host):
    """Where a repository of the policy keeps its files: a path on the host that holds it (``host``), or a
    prefix in a bucket at an endpoint, wherever it is reached from."""
    if repository["type"] == "posix":
        return ("posix", host, _normal_path(repository["path"]))
    return ("s3", repository["endpoint_host"].lower(), int(repository["endpoint_port"] or DEFAULT_STORAGE_PORT),
            repository["bucket"], _normal_path(repository["prefix"]))


def _configured_location(options, host):
    kind = options.get("type", "posix")
    path = _normal_path(options.get("path", DEFAULT_REPO_PATH))
    if kind == "s3":
        endpoint, dummy, port = options.get("s3-endpoint", "").partition(":")
        port = options.get("storage-port") or port or DEFAULT_STORAGE_PORT
        try:
            port = int(port)
        except ValueError:
            pass
        return ("s3", endpoint.lower(), port, options.get("s3-bucket"), path)
    # a repository reached through repoN-host is on that host
    return (kind, options.get("host", host), path)


def keys_in_use(text, stanza, host):
    """The passphrases a host's pgbackrest.conf (its text) encrypts repositories with, each with the
    repository's location (see repository_location): [{'index', 'option', 'key', 'location'}]. The stanza's
    section overrides [global], as in pgBackRest."""
    config = parse_config(text)
    options = dict(config.get("global", {}))
    options.update(config.get(stanza, {}))
    repositories = {}
    for option, value in options.items():
        match = _REPO_OPTION_RE.match(option)
        if match:
            repositories.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [{"index": index, "option": "repo%d-cipher-pass" % index, "key": repo["cipher-pass"],
             "location": _configured_location(repo, host)}
            for index, repo in sorted(repositories.items()) if repo.get("cipher-pass")]


def parse_info(text):
    """`pgbackrest info --output=json` as a list of stanzas, each with its repositories and backups."""
    try:
        # strict=False: through a repository host, pgBackRest can put a raw control character in a string
        data = json.loads(text, strict=False)
    except ValueError as exc:
        raise ToolError("pgbackrest info did not return JSON: %s" % exc)
    stanzas = []
    for entry in data:
        repos = {}
        for repo in entry.get("repo", []):
            repos[repo["key"]] = {
                "key": repo["key"],
                "status_code": repo["status"]["code"],
                "status": repo["status"]["message"],
                "backups": [],
            }
        for backup in entry.get("backup", []):
            key = backup.get("database", {}).get("repo-key", 1)
            repos.setdefault(key, {"key": key, "status_code": STATUS_OK, "status": "ok", "backups": []})
            repos[key]["backups"].append({
                "label": backup["label"],
                "type": backup["type"],
                "prior": backup.get("prior"),
                "start": backup["timestamp"]["start"],
                "stop": backup["timestamp"]["stop"],
                "size": backup.get("info", {}).get("size"),
                "repository_size": backup.get("info", {}).get("repository", {}).get("size"),
                "lsn_start": backup.get("lsn", {}).get("start"),
                "lsn_stop": backup.get("lsn", {}).get("stop"),
                "wal_start": backup.get("archive", {}).get("start"),
                "wal_stop": backup.get("archive", {}).get("stop"),
                "error": bool(backup.get("error", False)),
            })
        system_ids = [db.get("system-id") for db in entry.get("db", [])]
        stanzas.append({
            "name": entry["name"],
            "status_code": entry["status"]["code"],
            "status": entry["status"]["message"],
            "system_id": system_ids[-1] if system_ids else None,
            "repositories": [repos[k] for k in sorted(repos)],
            "archive": [{"id": a.get("id"), "min": a.get("min"), "max": a.get("max")}
                        for a in entry.get("archive", [])],
        })
    return stanzas


def archive_ranges(text, stanza):
    """{repository index: {'min', 'max'}}: each repository's WAL archive range for its newest database (the
    archive of the cluster a stanza-upgrade moved on from is left out)."""
    try:
        # strict=False: through a repository host, pgBackRest can put a raw control character in a string
        data = json.loads(text, strict=False)
    except ValueError as exc:
        raise ToolError("pgbackrest info did not return JSON: %s" % exc)
    newest = {}
    for entry in data:
        if entry.get("name") != stanza:
            continue
        for archive in entry.get("archive", []):
            database = archive.get("database") or {}
            key, db_id = database.get("repo-key", 1), database.get("id", 0)
            if key not in newest or db_id >= newest[key][0]:
                newest[key] = (db_id, {"min": archive.get("min"), "max": archive.get("max")})
    return dict((key, value[1]) for key, value in newest.items())


def stanza_state(stanzas, stanza_name, expected_repos, system_id=None):
    """Decide what stanza-create must do: ('present'|'missing', message).

    Raises ToolError when the stanza belongs to another cluster: recreating it would orphan the
    backups that are there, so the user has to decide.
    """
    found = [s for s in stanzas if s["name"] == stanza_name]
    if not found:
        return "missing", "stanza %s is not in any repository" % stanza_name
    stanza = found[0]
    if system_id is not None and stanza["system_id"] is not None and str(stanza["system_id"]) != str(system_id):
        raise ToolError(
            "stanza '%s' belongs to system id %s, but this cluster is %s: it holds another cluster's backups. "
            "Point pg_backup_stanza or the repository at a new location, or run stanza-upgrade if this "
            "cluster was upgraded from that one; the role will not overwrite it." % (stanza_name, stanza["system_id"], system_id))
    unreadable = [r for r in stanza["repositories"]
                  if r["status_code"] not in (STATUS_OK, STATUS_NO_BACKUP, STATUS_MISSING_STANZA_PATH,
                                              STATUS_MISSING_STANZA_DATA)]
    if unreadable:
        raise ToolError("pgbackrest info could not read stanza %s in %s" % (stanza_name, "; ".join(
            "repository %s: %s" % (r["key"], r["status"]) for r in unreadable)))
    missing = [r["key"] for r in stanza["repositories"]
               if r["status_code"] in (STATUS_MISSING_STANZA_PATH, STATUS_MISSING_STANZA_DATA)]
    known = set(r["key"] for r in stanza["repositories"])
    missing += [k for k in expected_repos if k not in known]
    if missing:
        return "missing", "stanza %s is missing in repositories %s" % (stanza_name, ", ".join(str(k) for k in sorted(set(missing))))
    return "present", "stanza %s exists in every repository" % stanza_name
