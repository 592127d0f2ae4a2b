# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that hand the one backup policy to the roles' tasks and templates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import PolicyError, ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import barman, barman_output, pgbackrest, registry, walg
from ansible_collections.pgops.backup.plugins.module_utils.policy import (
    normalize_policy, repository_choice, with_passphrases)
from ansible_collections.pgops.backup.plugins.plugin_utils.jobs import cron_job


def _raise(exc):
    raise AnsibleFilterError("pgops.backup policy: %s" % exc)


def _failing_with_its_message(function):
    """A filter whose ToolError or ValueError fails the task with the error's own message."""
    def filtered(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ToolError, ValueError) as exc:
            _raise(exc)
    filtered.__name__, filtered.__doc__ = function.__name__, function.__doc__
    return filtered


def backup_policy(variables):
    """Validate the pg_backup_* variables (a dict without the prefix) and return the full policy."""
    try:
        return normalize_policy(**variables)
    except TypeError as exc:
        _raise("unknown policy setting (%s)" % exc)
    except PolicyError as exc:
        _raise(exc)


def policy_with_passphrases(policy, passphrases):
    try:
        return with_passphrases(policy, passphrases)
    except PolicyError as exc:
        _raise(exc)


def repository_index(policy, value, variable):
    """The index of the policy's repository that value names (its index or its name); None when value is not set
    (the tool takes the first that has the backup). The error names variable."""
    try:
        return repository_choice(policy["repositories"], value, variable)
    except PolicyError as exc:
        _raise(exc)


def archive_settings(policy):
    """The postgresql.conf settings for archiving with the policy's tool, as its driver has them."""
    return registry.driver_for(policy).archive_settings()


def pgbackrest_config(policy, host_role, pg, process_max, repository_host=None, pg_host=None,
                      archive_push_queue_max=None):
    try:
        return registry.driver_for(policy).config_sections(
            host_role, pg, process_max, repository_host=repository_host, pg_host=pg_host,
            archive_push_queue_max=archive_push_queue_max)
    except (ToolError, ValueError) as exc:
        _raise(exc)


def pgbackrest_queue_max(value):
    """archive-push-queue-max in bytes (None: off), checked before anything changes."""
    try:
        return pgbackrest.queue_max_bytes(value)
    except ToolError as exc:
        _raise(exc)


def backup_jobs(policy, cluster=None):
    """Scheduled jobs as ansible.builtin.cron arguments: one per repository and job kind that is on.

    cluster: pg_cluster_info's cluster; wal-g's backup commands name its data directory.
    """
    tool = registry.driver_for(policy, cluster)
    jobs = []
    for repo in policy["repositories"]:
        for kind, when in sorted(repo["schedule"].items()):
            if not when:
                continue
            try:
                argv = tool.expire_argv(repo) if kind == "expire" else tool.backup_argv(repo, kind)
                if argv is None:
                    # the tool applies it on its own (Barman's retention, in every barman cron run)
                    continue
                name = "%s-%s-%s" % (policy["stanza"], repo["name"], kind)
                jobs.append(cron_job(name, name, when, argv, "%s.schedule.%s" % (repo["name"], kind)))
            except (ToolError, ValueError) as exc:
                _raise(exc)
    return jobs


def tool_check_argv(policy):
    """The tool's own check, as its driver builds it (pgbackrest check, wal-g wal-verify)."""
    return registry.driver_for(policy).check_argv()


def walg_config(policy, cluster, cores, delta_max_steps=0, libsodium_key=None, brotli_available=False):
    """The settings of ~postgres/.walg.json for the policy's one repository."""
    if policy["tool"] != "walg":
        _raise("walg_config is for pg_backup_tool walg, not %s" % policy["tool"])
    try:
        return registry.driver_for(policy, cluster).config(
            policy["repositories"][0], cores, delta_max_steps=delta_max_steps, libsodium_key=libsodium_key,
            brotli_available=brotli_available)
    except (ToolError, ValueError) as exc:
        _raise(exc)


@_failing_with_its_message
def walg_backup_support(version_text, pg_major):
    """Whether the installed wal-g (its --version output) can take base backups of this PostgreSQL."""
    return walg.backup_support(version_text, pg_major)


def walg_version(version_text):
    """'x.y.z' from `wal-g --version`, or None when it names no release (a devel build)."""
    version = walg.version_tuple(version_text)
    return ".".join(str(part) for part in version) if version else None


def barman_server_settings(policy, db_host, cluster, version_text, backup_method, wal, connection, parallel_jobs):
    """The server's section of /etc/barman.d/<stanza>.conf, as [setting, value] pairs, for the installed Barman (its
    --version output); the error names the variable to fix."""
    try:
        repository = [repo for repo in policy["repositories"] if repo["type"] == "posix"][0]
        return [list(pair) for pair in registry.driver_for(policy, cluster).server_settings(
            repository, db_host, cluster, barman.version_tuple(version_text), backup_method=backup_method, wal=wal,
            connection=connection, parallel_jobs=parallel_jobs)]
    except (ToolError, ValueError) as exc:
        _raise(exc)


@_failing_with_its_message
def barman_argv(policy, action):
    """A Barman upkeep command line of the policy's server, as the driver builds it (cron, stop-receive-wal,
    show-server)."""
    return registry.driver_for(policy).maintenance_argv(action)


def barman_gate_host(policy):
    """The name a database host's postgres reaches its Barman server's gate by (its ~/.ssh/config Host entry), as
    the driver's requests use it."""
    return barman.gate_host(policy["stanza"])


@_failing_with_its_message
def barman_streaming_directory(show_server_output, server):
    """receive-wal's directory, from `barman -f json show-server SERVER`."""
    return barman_output.streaming_directory(show_server_output, server)


def barman_failed_checks(check_output, server, hints=False):
    """The names of the checks `barman -f json check SERVER` failed (with hints: 'name: hint'); every check
    counts as failed when the output is not Barman's JSON for the server."""
    try:
        found = barman_output.checks(check_output, server)
    except ToolError as exc:
        return ["barman check: %s" % exc] if hints else ["barman check"]
    return ["%s: %s" % (c["name"], c["hint"]) if hints else c["name"] for c in found if not c["ok"]]


class FilterModule(object):
    def filters(self):
        return {
            "backup_policy": backup_policy,
            "policy_with_passphrases": policy_with_passphrases,
            "repository_index": repository_index,
            "archive_settings": archive_settings,
            "pgbackrest_config": pgbackrest_config,
            "pgbackrest_queue_max": pgbackrest_queue_max,
            "backup_jobs": backup_jobs,
            "tool_check_argv": tool_check_argv,
            "barman_server_settings": barman_server_settings,
            "barman_failed_checks": barman_failed_checks,
            "barman_argv": barman_argv,
            "barman_gate_host": barman_gate_host,
            "barman_streaming_directory": barman_streaming_directory,
            "walg_config": walg_config,
            "walg_backup_support": walg_backup_support,
            "walg_version": walg_version,
        }
