# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two errors every layer raises: a wrong variable (PolicyError) and a tool that failed (ToolError)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PolicyError(ValueError):
    """A policy variable is wrong; ``variable`` names it the way the user wrote it."""

    def __init__(self, variable, message):
        self.variable = variable
        super(PolicyError, self).__init__("%s: %s" % (variable, message))


class ToolError(Exception):
    """A tool failed; ``message`` is the tool's own error line, ready for fail_json."""

    def __init__(self, message, rc=None, stderr=""):
        self.rc = rc
        self.stderr = stderr
        super(ToolError, self).__init__(message)
