# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host entry point of the scripts that cron and systemd run without Ansible: the monitoring check, the
restore drill, the logical and base backup jobs, wal-g's time retention and the gate a Barman server puts before
its database host's SSH key. The runtime task installs it beside
the collection's module_utils (/usr/local/lib/pgops-backup); /usr/local/bin/pgops-backup-monitor,
pgops-restore-drill, pgops-backup-dumps and pgops-backup-expire run it as
``python3 pgops_backup_host.py monitor|drill|dumps|expire ARGS``.

It gives the module_utils the one thing a module would: a host whose run_command runs argv (never a shell)
and returns (rc, stdout, stderr), shaped like AnsibleModule's, so core/process.py's CommandRunner serves
modules and scripts alike. It lives outside plugins/ because module_utils run programs only through that.
"""

from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

LIBRARY = os.path.dirname(os.path.abspath(__file__))


class LocalHost(object):
    def __init__(self):
        self.no_log_values = set()

    def run_command(self, argv, environ_update=None, data=None, timeout=None):
        """(rc, stdout, stderr) of argv; data goes to its stdin (else /dev/null). rc 124 when it outlasts
        timeout (seconds), 127 when the program cannot be run."""
        environ = dict(os.environ)
        environ.update(environ_update or {})
        try:
            done = subprocess.run(argv, input=data, stdin=None if data is not None else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ, timeout=timeout,
                                  # a tool that prints bytes that are no UTF-8 still has its error told
                                  encoding="utf-8", errors="replace", check=False)
        except subprocess.TimeoutExpired:
            return 124, "", "%s timed out after %ss" % (argv[0], timeout)
        except OSError as exc:
            return 127, "", "%s: %s" % (argv[0], exc)
        return done.returncode, done.stdout, done.stderr

    def print_out(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def print_error(self, line):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def main(argv):
    if LIBRARY not in sys.path:
        sys.path.insert(0, LIBRARY)
    command, args = (argv[0], argv[1:]) if argv else (None, [])
    host = LocalHost()
    if command == "monitor":
        from ansible_collections.pgops.backup.plugins.module_utils.monitoring import monitor
        return monitor.main(args, host)
    if command == "drill":
        from ansible_collections.pgops.backup.plugins.module_utils.restore import drill
        return drill.main(args, host)
    if command == "dumps":
        from ansible_collections.pgops.backup.plugins.module_utils.dumps import job
        return job.main(args, host)
    if command == "expire":
        from ansible_collections.pgops.backup.plugins.module_utils.retention import expire
        return expire.main(args, host)
    if command == "barman-gate":
        from ansible_collections.pgops.backup.plugins.module_utils.drivers import barman_gate
        return barman_gate.main(args, host)
    host.print_error("usage: pgops_backup_host.py monitor|drill|dumps|expire|barman-gate ARGS")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
