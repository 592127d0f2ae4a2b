# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one backup policy: validated once, then translated by each tool's driver.

Users write ``pg_backup_*`` variables; ``normalize_policy`` turns them into one dictionary with every
default filled in, or raises ``PolicyError`` naming the variable that is wrong. Nothing here touches a
host, so the roles call it (through the ``backup_policy`` filter) before anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import (
    NAME_RE, check_text, check_texts, parse_duration)
from ansible_collections.pgops.backup.plugins.module_utils.core.cron import parse_cron
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError

TOOLS = ("pgbackrest", "walg", "barman")
REPOSITORY_TYPES = ("posix", "s3")
# the keys a repository takes: those of every type, then those of its own type
REPOSITORY_KEYS = ("name", "type", "retention", "schedule", "encrypt", "cipher_passphrase")
REPOSITORY_TYPE_KEYS = {
    "posix": ("path",),
    "s3": ("bucket", "endpoint", "region", "uri_style", "prefix", "access_key", "secret_key", "verify_tls", "ca_file"),
}
WAL_LEVELS = ("replica", "logical")
RETENTION_TYPES = ("count", "time")
COMPRESSIONS = ("zstd", "lz4", "gzip", "bzip2", "brotli", "lzma", "none")
# what wal-g can compress with (brotli only when its binary was built with it; the walg driver checks)
WALG_COMPRESSIONS = ("lz4", "zstd", "lzma", "brotli")
URI_STYLES = ("host", "path")
SCHEDULED_JOBS = ("full", "diff", "incr", "expire")
DEFAULT_SCHEDULE = {"full": "30 1 * * 0", "diff": "30 1 * * 1-6", "incr": "", "expire": "45 3 * * *"}
# a posix repository's directory when the policy names none (wal-g's file storage: WALG_FILE_PREFIX)
DEFAULT_POSIX_PATH = {"pgbackrest": "/var/lib/pgbackrest", "walg": "/var/lib/walg", "barman": "/var/lib/barman"}
# what Barman can compress WAL with (zstd, lz4 and lzma, as xz, only from Barman 3.12 on: the barman driver checks
# the installed version)
BARMAN_COMPRESSIONS = ("gzip", "bzip2", "zstd", "lz4", "lzma", "none")
# archive_timeout below a minute fills the archive with mostly empty 16 MB segments.
MIN_RPO_SECONDS = 60


def parse_endpoint(endpoint, variable):
    """('minio', 9000) from 'minio:9000' or 'https://minio:9000'; port None when not given."""
    text = (check_text(endpoint, variable) or "").strip()
    if text.startswith("http://"):
        raise PolicyError(variable, "S3 endpoints are reached over TLS only; drop http:// from %r" % text)
    text = text[len("https://"):] if text.startswith("https://") else text
    text = text.rstrip("/")
    match = re.match(r"^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$", text)
    if not match:
        raise PolicyError(variable, "%r is not a host name with an optional :port" % (endpoint,))
    port = int(match.group(2)) if match.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise PolicyError(variable, "port %d is out of range" % port)
    return match.group(1), port


def archive_timeout_for(rpo_seconds):
    """Force a WAL switch at half the RPO, so a finished segment has the other half to reach the archive."""
    return max(MIN_RPO_SECONDS // 2, rpo_seconds // 2)


def _positive_int(value, variable):
    if isinstance(value, bool) or not isinstance(value, int) and not str(value).isdigit():
        raise PolicyError(variable, "expected a whole number of 1 or more, got %r" % (value,))
    if int(value) < 1:
        raise PolicyError(variable, "must be 1 or more, got %r; 0 would keep no backup at all" % (value,))
    return int(value)


def _mapping(raw, variable):
    if raw is not None and not isinstance(raw, dict):
        raise PolicyError(variable, "expected a dictionary, got %r" % (raw,))
    return dict(raw or {})


def _normalize_retention(raw, variable):
    raw = _mapping(raw, variable)
    unknown = set(raw) - {"full", "type", "diff"}
    if unknown:
        raise PolicyError(variable, "unknown key(s) %s; use full, type and diff" % ", ".join(sorted(unknown)))
    kind = raw.get("type", "count")
    if kind not in RETENTION_TYPES:
        raise PolicyError(variable + ".type", "expected one of %s, got %r" % (", ".join(RETENTION_TYPES), kind))
    retention = {"full": _positive_int(raw.get("full", 2), variable + ".full"), "type": kind, "diff": None}
    if raw.get("diff") is not None:
        retention["diff"] = _positive_int(raw["diff"], variable + ".diff")
    return retention


def _normalize_schedule(raw, variable, base=None):
    raw = _mapping(raw, variable)
    unknown = set(raw) - set(SCHEDULED_JOBS)
    if unknown:
        raise PolicyError(variable, "unknown job(s) %s; use %s" % (", ".join(sorted(unknown)), ", ".join(SCHEDULED_JOBS)))
    schedule = dict(base if base is not None else DEFAULT_SCHEDULE)
    schedule.update(raw)
    for job in SCHEDULED_JOBS:
        parse_cron(schedule[job], "%s.%s" % (variable, job))
        schedule[job] = str(schedule[job] or "").strip()
    return schedule


def _check_repository_keys(raw, repo_type, variable):
    """Refuse a key this type of repository does not take: a typo (retension) would otherwise leave the
    default in force without a word, and another type's key (a bucket on posix) would be ignored."""
    known = REPOSITORY_KEYS + REPOSITORY_TYPE_KEYS[repo_type]
    unknown = sorted(set(raw) - set(known))
    if not unknown:
        return
    problems = []
    typos = [key for key in unknown if not any(key in keys for keys in REPOSITORY_TYPE_KEYS.values())]
    if typos:
        problems.append("unknown key(s) %s" % ", ".join(typos))
    for other in REPOSITORY_TYPES:
        foreign = [key for key in unknown if key in REPOSITORY_TYPE_KEYS[other]]
        if foreign:
            problems.append("%s: for %s repositories only" % (", ".join(foreign), other))
    raise PolicyError(variable, "%s; %s repositories take %s" % ("; ".join(problems), repo_type, ", ".join(known)))


def _normalize_repository(raw, index, tool, global_schedule):
    variable = "pg_backup_repositories[%d]" % index
    if not isinstance(raw, dict):
        raise PolicyError(variable, "expected a dictionary with at least a type, got %r" % (raw,))
    repo_type = raw.get("type")
    if repo_type not in REPOSITORY_TYPES:
        raise PolicyError(variable + ".type", "unknown repository type %r; use one of %s"
                          % (repo_type, ", ".join(REPOSITORY_TYPES)))
    _check_repository_keys(raw, repo_type, variable)
    # every text below reaches pgbackrest.conf, .walg.json, a cron line or a command
    text = check_texts(raw, variable, but=("retention", "schedule", "encrypt", "verify_tls"))
    name = text.get("name") or "repo%d" % (index + 1)
    if not NAME_RE.match(name):
        raise PolicyError(variable + ".name", "%r may hold letters, digits, '.', '_' and '-' only" % name)
    repo = {
        "index": index + 1,
        "name": name,
        "type": repo_type,
        "retention": _normalize_retention(raw.get("retention"), variable + ".retention"),
        "schedule": _normalize_schedule(raw.get("schedule"), variable + ".schedule", global_schedule),
        "encrypt": bool(raw.get("encrypt", repo_type == "s3")),
        "cipher_passphrase": text.get("cipher_passphrase") or None,
    }
    if repo["cipher_passphrase"] is not None and len(repo["cipher_passphrase"]) < 20:
        raise PolicyError(variable + ".cipher_passphrase", "is shorter than 20 characters; "
                          "leave it unset to have one generated and kept on the controller")
    if repo_type == "posix":
        path = text.get("path") or DEFAULT_POSIX_PATH[tool]
        if not path.startswith("/"):
            raise PolicyError(variable + ".path", "must be an absolute path, got %r" % path)
        repo["path"] = path.rstrip("/") or "/"
        return repo
    if not text.get("bucket"):
        raise PolicyError(variable + ".bucket", "an s3 repository needs a bucket")
    region = text.get("region") or "us-east-1"
    host, port = parse_endpoint(text.get("endpoint") or "s3.%s.amazonaws.com" % region, variable + ".endpoint")
    uri_style = raw.get("uri_style", "host")
    if uri_style not in URI_STYLES:
        raise PolicyError(variable + ".uri_style", "expected host or path, got %r" % (uri_style,))
    for key in ("access_key", "secret_key"):
        if not text.get(key):
            raise PolicyError(variable + "." + key, "an s3 repository needs access_key and secret_key")
    prefix = "/" + (text.get("prefix") or tool).strip("/")
    repo.update({
        "bucket": text["bucket"],
        "endpoint_host": host,
        "endpoint_port": port,
        "region": region,
        "prefix": prefix,
        "uri_style": uri_style,
        "verify_tls": bool(raw.get("verify_tls", True)),
        "ca_file": text.get("ca_file") or None,
        "access_key": text["access_key"],
        "secret_key": text["secret_key"],
    })
    return repo


def normalize_policy(tool="pgbackrest", stanza="main", rpo="5m", wal_level="replica", repositories=None,
                     schedule=None, compression=None, repository_host=None):
    """Validate the user's policy and return it with every default filled in."""
    if tool not in TOOLS:
        raise PolicyError("pg_backup_tool", "unknown tool %r; use one of %s" % (tool, ", ".join(TOOLS)))
    if not NAME_RE.match(check_text(stanza, "pg_backup_stanza") or ""):
        raise PolicyError("pg_backup_stanza", "%r may hold letters, digits, '.', '_' and '-' only" % (stanza,))
    rpo_seconds = parse_duration(rpo, "pg_backup_rpo")
    if rpo_seconds < MIN_RPO_SECONDS:
        raise PolicyError("pg_backup_rpo", "an RPO under %d seconds needs streaming replication "
                          "(pg_receivewal), not WAL archiving" % MIN_RPO_SECONDS)
    if wal_level not in WAL_LEVELS:
        raise PolicyError("pg_backup_wal_level", "expected replica or logical, got %r" % (wal_level,))
    if check_text(compression, "pg_backup_compression") is not None and compression not in COMPRESSIONS:
        raise PolicyError("pg_backup_compression", "unknown compression %r; use one of %s"
                          % (compression, ", ".join(COMPRESSIONS)))
    if tool == "walg" and compression is not None and compression not in WALG_COMPRESSIONS:
        raise PolicyError("pg_backup_compression", "wal-g cannot compress with %s; use one of %s"
                          % (compression, ", ".join(WALG_COMPRESSIONS)))
    global_schedule = _normalize_schedule(schedule, "pg_backup_schedule")
    if repositories is None:
        repositories = [{"name": "local", "type": "posix"}]
    if not isinstance(repositories, list) or not repositories:
        raise PolicyError("pg_backup_repositories", "expected a list with at least one repository")
    repos = [_normalize_repository(raw, i, tool, global_schedule) for i, raw in enumerate(repositories)]
    locations = [(r["type"], r.get("path")) if r["type"] == "posix"
                 else (r["type"], r["endpoint_host"], r["bucket"], r["prefix"]) for r in repos]
    for index, location in enumerate(locations):
        if location in locations[:index]:
            raise PolicyError("pg_backup_repositories[%d]" % index, "stores in the same place as pg_backup_repositories[%d]; "
                              "each repository needs its own path (or bucket and prefix), or retention of one "
                              "would prune the other's backups" % (locations.index(location)))
    names = [r["name"] for r in repos]
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        raise PolicyError("pg_backup_repositories", "repository names must be unique: %s" % ", ".join(duplicates))
    if tool == "walg" and len(repos) > 1:
        raise PolicyError("pg_backup_repositories", "wal-g stores backups in one repository (s3 or posix), got %d "
                          "(%s): keep one for wal-g, or keep pg_backup_tool: pgbackrest, which holds them all"
                          % (len(repos), ", ".join(names)))
    if tool == "walg" and not repos[0].get("verify_tls", True):
        raise PolicyError("pg_backup_repositories[0].verify_tls", "this collection never turns TLS verification "
                          "off for wal-g; give the repository's CA with ca_file instead")
    if check_text(repository_host, "pg_backup_repository_host") and tool == "walg":
        raise PolicyError("pg_backup_repository_host", "wal-g has no repository host: unset "
                          "pg_backup_repository_host for walg, or use pg_backup_tool: pgbackrest or barman")
    if tool == "barman" and not check_text(repository_host, "pg_backup_repository_host"):
        raise PolicyError("pg_backup_repository_host", "Barman runs on a Barman server that pulls backups and WAL "
                          "from this host; set pg_backup_repository_host to that server's inventory name")
    if tool == "barman":
        _check_barman(repos, global_schedule, compression)
    return {
        "tool": tool,
        "stanza": str(stanza),
        "rpo_seconds": rpo_seconds,
        "archive_timeout": archive_timeout_for(rpo_seconds),
        "wal_level": wal_level,
        "compression": compression,
        "schedule": global_schedule,
        "repositories": repos,
        "repository_host": repository_host or None,
    }


def _check_barman(repos, global_schedule, compression):
    """What Barman 3.4 and 3.13 cannot hold, refused by name before anything changes (docs/design/barman.md,
    section 8), so that no part of the policy is silently ignored."""
    if compression is not None and compression not in BARMAN_COMPRESSIONS:
        raise PolicyError("pg_backup_compression", "Barman cannot compress with %s; use one of %s"
                          % (compression, ", ".join(BARMAN_COMPRESSIONS)))
    kinds = [repo["type"] for repo in repos]
    if kinds.count("posix") != 1 or kinds.count("s3") > 1:
        raise PolicyError("pg_backup_repositories", "Barman keeps one catalog per server: one posix repository (on "
                          "the Barman server) and at most one s3 repository (its barman-cloud copy), got %s"
                          % ", ".join("%s (%s)" % (repo["name"], repo["type"]) for repo in repos))
    for kind in ("diff", "incr"):
        if global_schedule[kind]:
            raise PolicyError("pg_backup_schedule.%s" % kind, _BARMAN_FULL_ONLY % kind)
    for position, repo in enumerate(repos):
        variable = "pg_backup_repositories[%d]" % position
        if repo["encrypt"]:
            raise PolicyError(variable + ".encrypt", "Barman 3.4 and 3.13 cannot encrypt backups with a key of their "
                              "own (GPG encryption arrives in Barman 3.14); set encrypt: false%s"
                              % (" (s3 repositories are encrypted by default)" if repo["type"] == "s3" else ""))
        if repo["retention"]["diff"] is not None:
            raise PolicyError(variable + ".retention.diff", "Barman takes full backups only here, so there is no "
                              "differential retention; remove diff")
        for kind in ("diff", "incr"):
            if repo["schedule"][kind]:
                raise PolicyError("%s.schedule.%s" % (variable, kind), _BARMAN_FULL_ONLY % kind)
        if repo["type"] == "s3" and not repo["verify_tls"]:
            raise PolicyError(variable + ".verify_tls", "Barman's S3 client always verifies TLS; give the "
                              "repository's CA with ca_file instead of verify_tls: false")
    if "s3" in kinds:
        # refused rather than ignored until the role deploys barman-cloud (issue 17): a copy the user declared
        # and never got is worse than none
        raise PolicyError("pg_backup_repositories[%d]" % kinds.index("s3"), "the barman-cloud copy of a Barman "
                          "catalog to S3 is not deployed by this collection yet; remove the s3 repository, or use "
                          "pg_backup_tool: pgbackrest or walg for an S3 repository")


_BARMAN_FULL_ONLY = ("Barman 3.4 has no incremental backups and 3.13's need PostgreSQL 17 with summarize_wal, so "
                     "this collection schedules full backups only with Barman; set %s: \"\"")


def repositories_needing_passphrase(policy):
    """Names of encrypted repositories whose passphrase the controller must supply (pgBackRest's cipher;
    wal-g encrypts with its own libsodium key, walg_libsodium_key)."""
    if policy["tool"] != "pgbackrest":
        return []
    return [r["name"] for r in policy["repositories"] if r["encrypt"] and not r["cipher_passphrase"]]


def with_passphrases(policy, passphrases):
    """The policy with generated passphrases filled into the repositories that lack one."""
    result = dict(policy)
    result["repositories"] = []
    for repo in policy["repositories"]:
        repo = dict(repo)
        if repo["name"] in repositories_needing_passphrase(policy):
            if not (passphrases or {}).get(repo["name"]):
                raise PolicyError("pg_backup_repositories", "repository %r is encrypted but has no passphrase"
                                  % repo["name"])
            repo["cipher_passphrase"] = passphrases[repo["name"]]
        result["repositories"].append(repo)
    return result


def minimal_policy(tool, stanza="main"):
    """The least policy a driver needs to list, take and restore backups, for modules that run without the
    roles' policy: the tool's own configuration file (pgbackrest.conf, .walg.json) holds the rest.

    wal-g and Barman get their one repository (index 1, named 'walg' or 'barman': Barman's own catalog) so that
    inventory can name it; pgBackRest gets none, and its inventory names each repository 'repo<N>' as info reports
    them.
    """
    if tool not in TOOLS:
        raise PolicyError("tool", "unknown tool %r; use one of %s" % (tool, ", ".join(TOOLS)))
    if not NAME_RE.match(str(stanza or "")):
        raise PolicyError("stanza", "%r may hold letters, digits, '.', '_' and '-' only" % (stanza,))
    repositories = [{"index": 1, "name": tool}] if tool in ("walg", "barman") else []
    return {"tool": tool, "stanza": str(stanza), "compression": None, "repositories": repositories}


def repository_choice(repositories, value, variable, every=False):
    """The repository a restore or a drill reads, from the user's setting: None when it is not set (the tool takes
    the first repository that has the backup), else the index of one of ``repositories`` (the policy's, each with
    'index' and 'name'), given as its index (2) or its name ('offsite'); with ``every``, also 'all' (each in
    turn). PolicyError names ``variable`` and the policy's repositories."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    known = ", ".join("%d (%s)" % (repo["index"], repo["name"]) for repo in repositories) or "none"
    text = str(value).strip()
    if every and text == "all":
        return "all"
    found = [repo["index"] for repo in repositories if not isinstance(value, bool)
             and ((text.isdigit() and repo["index"] == int(text)) or repo["name"] == text)]
    if found:
        return found[0]
    raise PolicyError(variable, "%r is not a repository of the policy: give the index or the name of one of %s%s"
                      % (value, known, ", or all (each in turn)" if every else ""))
