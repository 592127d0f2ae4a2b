# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs backup tools: argv only (never a shell), secrets in the environment, output redacted."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.tools.base import ToolError

REDACTED = "********"


def redact(text, secrets):
    # longest first: a secret that contains another must not be left half visible
    for secret in sorted(secrets or (), key=lambda s: len(s or ""), reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def error_line(stdout, stderr):
    """The line that says why a tool failed: its last ERROR line, else the last line it printed."""
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line]
    return (errors or lines or ["no output"])[-1]


class CommandRunner(object):
    def __init__(self, module, secrets=None, environ=None):
        self.module = module
        self.secrets = list(secrets or [])
        self.environ = dict(environ or {})
        for secret in self.secrets:
            if secret:
                module.no_log_values.add(secret)

    def run(self, argv, check=True):
        rc, out, err = self.module.run_command(argv, environ_update=self.environ)
        out, err = redact(out, self.secrets), redact(err, self.secrets)
        if check and rc != 0:
            raise ToolError("%s failed (exit %d): %s" % (argv[0], rc, error_line(out, err)), rc=rc, stderr=err)
        return rc, out, err
