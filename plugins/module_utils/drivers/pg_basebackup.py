# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_basebackup driver: a tar-format base backup with its WAL streamed, a fast checkpoint, compressed on the
server where it can be (PostgreSQL 15 and later), with a backup manifest that pg_verifybackup checks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgops.backup.plugins.module_utils.drivers.local import LocalBackupTool, binary
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pg_dump import connection_args

# server-side compression (--compress=server-...) needs PostgreSQL 15 on both ends
SERVER_COMPRESSION_SINCE_MAJOR = 15
DATA_DIRECTORY = "pgdata"
MANIFEST = "backup_manifest"
_COMPRESSION_RE = re.compile(r"^(none|gzip|server-gzip|server-lz4|server-zstd)(?::(\d{1,2}))?$")


def default_compression(major):
    """zstd level 1 on the server (fast, and the network carries compressed data); client gzip:1 before 15."""
    return "server-zstd:1" if int(major) >= SERVER_COMPRESSION_SINCE_MAJOR else "gzip:1"


def check_compression(value, major, variable):
    text = str(value).strip().lower()
    match = _COMPRESSION_RE.match(text)
    if not match:
        raise ValueError("%s: %r is not a compression; use server-zstd[:level], server-lz4[:level], server-gzip, "
                         "gzip[:level] or none" % (variable, value))
    if text.startswith("server-") and int(major) < SERVER_COMPRESSION_SINCE_MAJOR:
        raise ValueError("%s: server-side compression needs PostgreSQL %d, the cluster runs %s; use gzip:1"
                         % (variable, SERVER_COMPRESSION_SINCE_MAJOR, major))
    return text


def compression_args(compression, major):
    if compression == "none":
        return []
    if int(major) >= SERVER_COMPRESSION_SINCE_MAJOR:
        return ["--compress=" + compression]
    method, dummy, level = compression.partition(":")
    return ["--gzip", "--compress=" + (level or "1")]


class BaseBackup(LocalBackupTool):
    name = "base"
    binary = "pg_basebackup"

    def basebackup_argv(self, directory, compression, label):
        major = self.cluster["major"]
        return ([binary(major, "pg_basebackup")] + connection_args(self.cluster)
                + ["--pgdata=" + directory, "--format=tar", "--wal-method=stream", "--checkpoint=fast",
                   "--label=" + label] + compression_args(compression, major))

    def verify_argv(self, manifest, extracted):
        """pg_verifybackup of an extracted tar backup (tar format itself only PostgreSQL 18 reads)."""
        return [binary(self.cluster["major"], "pg_verifybackup"), "--manifest-path=" + manifest, extracted]
