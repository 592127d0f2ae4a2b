# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dumps role's variables, validated once: which databases pg_dump takes and how, base backups, retention
and the offsite bucket. ``normalize_settings`` returns the settings file the job script reads (no secret in it)
or raises PolicyError naming the variable; nothing here touches a host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.core.checks import NAME_RE, check_text, check_texts
from ansible_collections.pgops.backup.plugins.module_utils.core.cron import parse_cron
from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets, pg_basebackup, pg_dump
from ansible_collections.pgops.backup.plugins.module_utils.policy import URI_STYLES, parse_endpoint

CREDENTIALS_FILE = "/etc/pgops-backup/offsite-credentials.json"
# S3 takes parts of 5 MiB to 5 GiB (the last may be smaller)
MIN_PART_MB = 5
MAX_PART_MB = 5120
DEFAULT_PART_MB = 64
# globals.sql is pg_dumpall's: no dump may take its name
GLOBALS_NAME = "globals"
DUMP_KEYS = ("database", "name", "format", "jobs", "tables", "schemas", "content")
OFFSITE_KEYS = ("bucket", "endpoint", "region", "uri_style", "prefix", "access_key", "secret_key", "ca_file",
                "part_size_mb")


def _positive(value, variable):
    if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
        raise PolicyError(variable, "expected a whole number of 1 or more, got %r" % (value,))
    return int(value)


def _names(value, variable):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value):
        raise PolicyError(variable, "expected a list of names, got %r" % (value,))
    return [check_text(item, "%s[%d]" % (variable, index)).strip() for index, item in enumerate(value)]


def _checked(check, value, major, variable):
    try:
        return check(check_text(value, variable), major, variable)
    except ValueError as exc:
        raise PolicyError(variable, str(exc).split(": ", 1)[1])


def normalize_dump(raw, index, default_jobs):
    variable = "dumps_logical[%d]" % index
    if not isinstance(raw, dict):
        raise PolicyError(variable, "expected a dictionary with database and format, got %r" % (raw,))
    unknown = sorted(set(raw) - set(DUMP_KEYS))
    if unknown:
        raise PolicyError(variable, "unknown key(s) %s; use %s" % (", ".join(unknown), ", ".join(DUMP_KEYS)))
    database = raw.get("database")
    if not isinstance(database, str) or not database:
        raise PolicyError(variable + ".database", "every dump names its database")
    check_text(database, variable + ".database")
    name = check_text(raw.get("name"), variable + ".name") or database
    if not NAME_RE.match(name) or name == GLOBALS_NAME:
        raise PolicyError(variable + ".name", "%r cannot name a file in the backup: letters, digits, '.', '_' and "
                          "'-' only (and not 'globals'); set name for a database called so" % (name,))
    fmt = raw.get("format") or "custom"
    if fmt not in pg_dump.FORMATS:
        raise PolicyError(variable + ".format", "%r is not one of %s" % (fmt, ", ".join(pg_dump.FORMATS)))
    content = raw.get("content") or "all"
    if content not in pg_dump.CONTENTS:
        raise PolicyError(variable + ".content", "%r is not one of %s" % (content, ", ".join(pg_dump.CONTENTS)))
    jobs = _positive(raw.get("jobs", default_jobs if fmt == "directory" else 1), variable + ".jobs")
    if jobs > 1 and fmt != "directory":
        raise PolicyError(variable + ".jobs", "pg_dump runs parallel jobs for the directory format only")
    return {"database": database, "name": name, "format": fmt, "content": content,
            "jobs": jobs if fmt == "directory" else 1,
            "tables": _names(raw.get("tables"), variable + ".tables"),
            "schemas": _names(raw.get("schemas"), variable + ".schemas")}


def normalize_offsite(raw, default_prefix):
    """The bucket settings without the keys, and the keys apart: (settings, credentials); (None, None) when off."""
    if not raw:
        return None, None
    variable = "dumps_offsite"
    if not isinstance(raw, dict):
        raise PolicyError(variable, "expected a dictionary with bucket, endpoint and keys, got %r" % (raw,))
    unknown = sorted(set(raw) - set(OFFSITE_KEYS))
    if unknown:
        raise PolicyError(variable, "unknown key(s) %s; use %s" % (", ".join(unknown), ", ".join(OFFSITE_KEYS)))
    # every text reaches the settings file, the credentials file or boto3
    text = check_texts(raw, variable, but=("part_size_mb",))
    for key in ("bucket", "access_key", "secret_key"):
        if not text.get(key):
            raise PolicyError("%s.%s" % (variable, key), "the offsite copy needs %s" % key.replace("_", " "))
    endpoint = text.get("endpoint") or "s3.amazonaws.com"
    host, port = parse_endpoint(endpoint, variable + ".endpoint")
    uri_style = raw.get("uri_style") or "host"
    if uri_style not in URI_STYLES:
        raise PolicyError(variable + ".uri_style", "%r is not one of %s" % (uri_style, ", ".join(URI_STYLES)))
    part = _positive(raw.get("part_size_mb", DEFAULT_PART_MB), variable + ".part_size_mb")
    if not MIN_PART_MB <= part <= MAX_PART_MB:
        raise PolicyError(variable + ".part_size_mb", "S3 takes parts of %d to %d MiB, not %d"
                          % (MIN_PART_MB, MAX_PART_MB, part))
    prefix = str(text.get("prefix") or default_prefix).strip("/")
    settings = {"bucket": text["bucket"], "endpoint": "https://%s%s" % (host, ":%d" % port if port else ""),
                "region": text.get("region") or "us-east-1", "uri_style": uri_style, "prefix": prefix,
                "ca_file": text.get("ca_file") or None, "part_size": part * 1024 * 1024,
                "credentials_file": CREDENTIALS_FILE}
    return settings, {"access_key": text["access_key"], "secret_key": text["secret_key"]}


def normalize_settings(cluster, local_dir="/var/backups/pgops", logical_schedule="", base_schedule="",
                       logical_dumps=None, logical_globals=True, logical_compression=None, logical_jobs=2,
                       logical_retention=None, base_compression=None, base_retention=None, offsite=None,
                       offsite_prefix="pgops"):
    """{'settings': the job script's settings file, 'credentials': the offsite keys or None}.

    cluster: pg_cluster_info's (major, port, socket_dir). logical_dumps None or []: every database that takes
    connections, in the custom format.
    """
    major = int(cluster["major"])
    if not (check_text(local_dir, "pg_backup_local_dir") or "").startswith("/"):
        raise PolicyError("pg_backup_local_dir", "expected an absolute path, got %r" % (local_dir,))
    parse_cron(logical_schedule, "pg_backup_logical_schedule")
    parse_cron(base_schedule, "pg_backup_base_schedule")
    jobs = _positive(logical_jobs, "dumps_logical_jobs")
    if logical_dumps is not None and not isinstance(logical_dumps, list):
        raise PolicyError("dumps_logical", "expected a list of dumps, got %r" % (logical_dumps,))
    dumps = [normalize_dump(raw, index, jobs) for index, raw in enumerate(logical_dumps or [])]
    names = [d["name"] for d in dumps]
    for name in names:
        if names.count(name) > 1:
            raise PolicyError("dumps_logical", "two dumps are named %r; give one of them another name" % name)
    if logical_compression is None:
        logical_compression = pg_dump.default_compression(major)
    if base_compression is None:
        base_compression = pg_basebackup.default_compression(major)
    offsite_settings, credentials = normalize_offsite(offsite, offsite_prefix)
    settings = {
        "version": 1,
        "local_dir": local_dir.rstrip("/") or "/",
        "cluster": {"major": major, "port": int(cluster["port"]), "socket_dir": cluster["socket_dir"]},
        "logical": {
            "dumps": dumps or None,
            "globals": bool(logical_globals),
            "jobs": jobs,
            "compression": _checked(pg_dump.check_compression, logical_compression, major,
                                    "dumps_logical_compression"),
            "retention": backup_sets.normalize_retention(logical_retention or {"count": 7},
                                                         "dumps_logical_retention"),
        },
        "base": {
            "compression": _checked(pg_basebackup.check_compression, base_compression, major,
                                    "dumps_base_compression"),
            "retention": backup_sets.normalize_retention(base_retention or {"count": 2}, "dumps_base_retention"),
        },
        "offsite": offsite_settings,
    }
    return {"settings": settings, "credentials": credentials}
