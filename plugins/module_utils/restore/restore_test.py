# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore test (extensions/molecule/restore_test): a user's policy read by a throwaway host that restores the
newest backup from the user's repositories and checks it, and the report of what it proved.

That host only reads: it holds the repositories it can reach itself (S3; a posix repository is a directory on its
database or repository host) and their keys, which come from the user, never generated (a new key would read
nothing), and nothing that archives, backs up, expires or is scheduled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.keys import controller_files
from ansible_collections.pgops.backup.plugins.module_utils.policy import repositories_needing_passphrase

# what the report tells of the restore, as pg_restore_check returns it
RECOVERY_KEYS = ("replay_end_lsn", "replay_end_time", "archive_end_segment", "rpo_seconds")


def readable_policy(policy, repository=None):
    """The policy with only the repositories a throwaway host reads itself (S3), each keeping its index (repoN);
    PolicyError names the variable when there is none to read, or ``repository`` (pg_backup_drill_repository) is
    not one of them."""
    if policy["tool"] != "pgbackrest":
        raise PolicyError("pg_backup_tool", "the restore test reads pgBackRest repositories; %s is not supported "
                          "yet: run the restore drill (pgops.backup.restore_drill) on the host instead" % policy["tool"])
    readable = [r for r in policy["repositories"] if r["type"] == "s3"]
    if not readable:
        raise PolicyError("pg_backup_repositories", "the restore test reads S3 repositories from its own container; "
                          "this policy has only posix ones (%s), directories on a host: run the restore drill there "
                          "instead" % ", ".join(r["name"] for r in policy["repositories"]))
    if repository is not None and int(repository) not in [r["index"] for r in readable]:
        raise PolicyError("pg_backup_drill_repository", "repository %s is not one the restore test reads; the S3 "
                          "repositories of the policy are %s" % (repository, ", ".join(
                              "%d (%s)" % (r["index"], r["name"]) for r in readable)))
    return dict(policy, repositories=readable)


def with_controller_keys(policy, secrets_dir, host):
    """The policy with the passphrase of each encrypted repository that has no cipher_passphrase, read from the
    controller's copy in secrets_dir (as the roles keep it for ``host``: see README, "Encryption keys");
    PolicyError names the repository and the files looked for when there is no copy. Nothing is generated."""
    needed = repositories_needing_passphrase(policy)
    files = dict((entry["name"], entry["files"]) for entry in controller_files(policy, secrets_dir, host))
    repositories = []
    for repo in policy["repositories"]:
        repo = dict(repo)
        if repo["name"] in needed:
            found = [path for path in files[repo["name"]] if os.path.isfile(path)]
            if not found:
                raise PolicyError("pg_backup_repositories[%d].cipher_passphrase" % (repo["index"] - 1),
                                  "repository %r is encrypted and the restore test has no key for it: set its "
                                  "cipher_passphrase, or give the directory that holds %s (PGOPS_RESTORE_TEST_SECRETS_DIR)"
                                  % (repo["name"], " or ".join(files[repo["name"]])))
            with open(found[0]) as handle:
                repo["cipher_passphrase"] = handle.read().strip()
            if not repo["cipher_passphrase"]:
                raise PolicyError("pg_backup_repositories[%d].cipher_passphrase" % (repo["index"] - 1),
                                  "%s is empty" % found[0])
        repositories.append(repo)
    return dict(policy, repositories=repositories)


def report(result, host, policy):
    """What the restore test proved, from pg_restore_check's result: the report as data (for a CI's artifacts) with
    'lines', the text it prints. A failed restore or check fails the report (passed false) and says which."""
    recovery = result.get("recovery") or {}
    checks = [{"name": c.get("name"), "passed": bool(c.get("passed")), "value": c.get("value"),
               "detail": c.get("detail")} for c in result.get("checks") or []]
    data = {"passed": bool(result.get("passed")), "host": host, "tool": policy["tool"], "stanza": policy["stanza"],
            "repositories": [r["name"] for r in policy["repositories"]], "backup": result.get("backup"),
            "target": (result.get("target") or {}).get("type"), "rto_seconds": result.get("rto_seconds"),
            "checked_seconds": result.get("checked_seconds"), "checks": checks,
            "error": None if result.get("passed") else result.get("msg")}
    data.update((key, recovery.get(key)) for key in RECOVERY_KEYS)
    lines = ["restore test %s: %s's %s stanza %s from %s" % (
        "PASSED" if data["passed"] else "FAILED", host, data["tool"], data["stanza"], ", ".join(data["repositories"]))]
    lines.append("backup restored: %s (target %s)" % (data["backup"] or "none", data["target"]))
    if data["rto_seconds"] is not None:
        checked = "" if data["checked_seconds"] is None else ", %.1f s to a checked one" % data["checked_seconds"]
        lines.append("RTO: %.1f s to a usable cluster%s" % (data["rto_seconds"], checked))
    if data["replay_end_lsn"]:
        lines.append("replay ended at LSN %s, last commit %s; the archive ends at %s" % (
            data["replay_end_lsn"], data["replay_end_time"] or "none", data["archive_end_segment"]))
    for check in checks:
        lines.append("check %s: %s%s" % ("passed" if check["passed"] else "FAILED", check["name"],
                                         " (%s)" % check["detail"] if check["detail"] else ""))
    if data["error"]:
        lines.append("error: %s" % data["error"])
    data["lines"] = lines
    return data
