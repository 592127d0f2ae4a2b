# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a database host may ask of its Barman server over SSH, and the Barman command line each request becomes.

The database host's postgres reaches barman@<Barman server> with a key whose forced command is the gate
(``pgops_backup_host.py barman-gate STANZA DB``): the request arrives as SSH_ORIGINAL_COMMAND, and only these
pass, each for the gate's own server, never a barman command line the database host wrote:

  list-backups | show-backup ID | check | sync-info     Barman's catalog, checks and archived WAL (JSON)
  get-wal NAME                                one WAL segment or history file on stdout (restore_command)
  recover ID DIRECTORY [standby]              the backup into DIRECTORY on the database host the gate names

Everything else is refused, so a database host cannot delete, expire or reconfigure its backups through Barman.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex
import syslog

from ansible_collections.pgops.backup.plugins.module_utils.drivers.barman import Barman
from ansible_collections.pgops.backup.plugins.module_utils.policy import minimal_policy

# Barman's backup ids (20261204T031500, or a name's id), its aliases, and WAL file names: segments, history
# files, .partial and .backup files (PostgreSQL asks for those during recovery)
_BACKUP_ID_RE = re.compile(r"^(?:\d{8}T\d{6}|latest|last|oldest|first)$")
_WAL_NAME_RE = re.compile(r"^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$")
# an absolute path of plain characters: no '..', no option, nothing a shell or rsync would read twice
_DIRECTORY_RE = re.compile(r"^(?:/[A-Za-z0-9._-]+)+/?$")


# the requests without arguments, and the driver's command line for each
_LISTINGS = {"list-backups": "list_backups_argv", "check": "check_argv", "sync-info": "wal_catalog_argv"}


class Refused(Exception):
    """A request the gate does not pass; its text says why, for the caller and the log."""


def request_words(original_command):
    """The request's words from SSH_ORIGINAL_COMMAND; Refused when it is empty or not one command."""
    try:
        words = shlex.split(original_command or "")
    except ValueError as exc:
        raise Refused("unreadable request: %s" % exc)
    if not words:
        raise Refused("no request (an interactive login is not offered)")
    return words


def _backup_id(value):
    if not _BACKUP_ID_RE.match(value):
        raise Refused("%r is not a Barman backup id" % value)
    return value


def _directory(value):
    if not _DIRECTORY_RE.match(value) or "/../" in value + "/" or "/./" in value + "/":
        raise Refused("%r is not an absolute directory of plain names" % value)
    return value.rstrip("/")


def gate_argv(barman, words, db_ssh):
    """The Barman command line for a request's words, built by the driver ``barman`` (the gate's own server, in
    local mode); db_ssh is where a recover writes to (postgres@<database host>). Refused otherwise."""
    verb, args = words[0], words[1:]
    if verb in _LISTINGS and not args:
        return getattr(barman, _LISTINGS[verb])()
    if verb == "show-backup" and len(args) == 1:
        return barman.show_backup_argv(_backup_id(args[0]))
    if verb == "get-wal" and len(args) == 1:
        if not _WAL_NAME_RE.match(args[0]):
            raise Refused("%r is not a WAL file name" % args[0])
        return barman.get_wal_argv(args[0])
    if verb == "recover" and len(args) in (2, 3) and args[2:] in ([], ["standby"]):
        return barman.recover_argv(_backup_id(args[0]), _directory(args[1]), standby=bool(args[2:]),
                                   remote_ssh=db_ssh)
    raise Refused("%r is not a request a database host may make (list-backups, show-backup ID, check, sync-info, "
                  "get-wal NAME, recover ID DIRECTORY [standby])" % " ".join(words)[:200])


def main(args, host, environ=None, execv=None):
    """``barman-gate STANZA DB``, as the forced command of the database host's key in ~barman/.ssh/authorized_keys:
    runs the request in SSH_ORIGINAL_COMMAND as Barman (exec: get-wal's bytes go straight to the caller), or
    refuses it, in the syslog and to the caller, exiting 1."""
    environ = os.environ if environ is None else environ
    if len(args) != 2:
        host.print_error("usage: barman-gate STANZA postgres@DATABASE_HOST")
        return 2
    stanza, db_ssh = args
    original = environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        argv = gate_argv(Barman(minimal_policy("barman", stanza)), request_words(original), db_ssh)
    except Refused as exc:
        syslog.openlog("pgops-barman-gate", 0, syslog.LOG_AUTH)
        syslog.syslog(syslog.LOG_WARNING, "refused for %s (server %s): %s" % (db_ssh, stanza, exc))
        host.print_error("pgops-barman-gate: refused: %s" % exc)
        return 1
    (execv or os.execv)(argv[0], argv)
    return 0
