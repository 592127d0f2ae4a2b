# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host, for the collection's scripts that cron and systemd run without Ansible: what they need of it,
shaped like AnsibleModule (run_command, no_log_values), so module_utils serve modules and scripts alike."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys


class LocalHost(object):
    def __init__(self):
        self.no_log_values = set()

    def run_command(self, argv, environ_update=None, data=None):
        """(rc, stdout, stderr) of argv, never through a shell; data goes to its stdin."""
        environ = dict(os.environ)
        environ.update(environ_update or {})
        with open(os.devnull) as devnull:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else devnull,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ,
                                       universal_newlines=True)
            out, err = process.communicate(data)
        return process.returncode, out, err

    def print_out(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def print_error(self, line):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
