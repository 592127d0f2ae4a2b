# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one command runner: argv only (never a shell), secrets in the environment or on stdin, every output
redacted, and one rule for the line that says why a program failed.

It runs through ``host.run_command(argv, environ_update=..., data=..., timeout=...)``: an AnsibleModule's in
modules, the host entry script's LocalHost in the scripts that cron and systemd run without Ansible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError

REDACTED = "********"
# The tools' own level words first (pgBackRest, wal-g and PostgreSQL print ERROR, FATAL, PANIC; the
# collection's scripts FAILED), then any line that says error or fatal (pg_dump's "pg_dump: error: ...").
# The job wrapper (roles/_common/templates/pgops-backup-job.sh.j2) greps with the same two patterns.
ERROR_PATTERNS = ("ERROR|FATAL|PANIC|FAILED", "[Ee][Rr][Rr][Oo][Rr]|[Ff][Aa][Tt][Aa][Ll]")
_ERROR_RES = tuple(re.compile(pattern) for pattern in ERROR_PATTERNS)


def redact(text, secrets):
    # longest first: a secret that contains another must not be left half visible
    for secret in sorted(secrets or (), key=lambda s: len(s or ""), reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def error_line(stdout, stderr):
    """The line that says why a program failed: its last line that matches the first of ERROR_PATTERNS that
    any line matches, else the last line it printed."""
    lines = [line.strip() for line in ((stderr or "") + "\n" + (stdout or "")).splitlines() if line.strip()]
    for pattern in _ERROR_RES:
        matching = [line for line in lines if pattern.search(line)]
        if matching:
            return matching[-1]
    return (lines or ["no output"])[-1]


class CommandRunner(object):
    """Runs programs on the host with the secrets it knows registered (no_log) and redacted."""

    def __init__(self, host, secrets=None, environ=None):
        self.host = host
        self.secrets = [s for s in (secrets or []) if s]
        self.environ = dict(environ or {})
        for secret in self.secrets:
            host.no_log_values.add(secret)

    def say(self, text):
        """text with every known secret redacted, for a message or a log line."""
        return redact(text, self.secrets)

    def run(self, argv, check=True, data=None, timeout=None, what=None, environ=None):
        """(rc, stdout, stderr), redacted. With check, a non-zero exit raises ToolError naming ``what`` (the
        program by default) and its error line. data goes to stdin; environ is added to the runner's own;
        timeout (seconds) where the host has one (the host scripts' LocalHost)."""
        options = {"environ_update": dict(self.environ, **(environ or {}))}
        if data is not None:
            options["data"] = data
        if timeout is not None:
            options["timeout"] = timeout
        rc, out, err = self.host.run_command(list(argv), **options)
        out, err = self.say(out or ""), self.say(err or "")
        if check and rc != 0:
            raise ToolError("%s failed (exit %d): %s" % (what or argv[0], rc, error_line(out, err)), rc=rc, stderr=err)
        return rc, out, err

    def stdout(self, argv):
        """stdout of argv, raising ToolError when it fails: the ``run`` that drivers take."""
        return self.run(argv)[1]
