# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL positions and segment names: where an LSN lies, which segment comes next, and whether replay reached
the end of an archive. Pure functions: the restore paths judge recovery with them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
_LSN_RE = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_SEGMENT_RE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})")
_SIZE_RE = re.compile(r"^(\d+)\s*(kB|MB|GB)?$")
_SIZE_UNITS = {None: 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}


def parse_lsn(text):
    """The byte position of '0/3000060'; ValueError for anything else."""
    match = _LSN_RE.match(str(text or "").strip())
    if not match:
        raise ValueError("%r is not an LSN (such as 0/3000060)" % (text,))
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16)


def format_lsn(position):
    return "%X/%X" % (position >> 32, position & 0xFFFFFFFF)


def segment_size(text):
    """Bytes of SHOW wal_segment_size ('16MB', '1GB', or a number of bytes)."""
    match = _SIZE_RE.match(str(text or "").strip())
    if not match:
        raise ValueError("%r is not a WAL segment size (such as 16MB)" % (text,))
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def segment_name(timeline, number, size=DEFAULT_SEGMENT_SIZE):
    """The file name of segment ``number`` (counted from the start of WAL) on ``timeline``."""
    per_log = 0x100000000 // size
    return "%08X%08X%08X" % (timeline, number // per_log, number % per_log)


def parse_segment(name, size=DEFAULT_SEGMENT_SIZE):
    """(timeline, segment number) of a segment name, or of a name that starts with one (a backup history file,
    pgBackRest's '<segment>-<checksum>.zst'); ValueError otherwise."""
    match = _SEGMENT_RE.match(str(name or ""))
    if not match:
        raise ValueError("%r is not a WAL segment name" % (name,))
    return int(match.group(1), 16), int(match.group(2), 16) * (0x100000000 // size) + int(match.group(3), 16)


def segment_of(position, size=DEFAULT_SEGMENT_SIZE):
    """The number of the segment that holds the byte at ``position``."""
    return position // size


def last_segment(repositories):
    """The newest segment any repository holds (the names sort by timeline, then position): the end of the archive
    that recovery to latest must reach. None when no repository reports its archive."""
    ends = [repo["archive"]["max"] for repo in repositories or [] if (repo.get("archive") or {}).get("max")]
    return max(ends) if ends else None


def reached(replay_lsn, archive_end, size=DEFAULT_SEGMENT_SIZE):
    """Whether replay ending at ``replay_lsn`` (the end of the last record replayed) read into or past the
    segment ``archive_end``: the segment of its last replayed byte is that segment or a later one."""
    position = parse_lsn(replay_lsn)
    return position > 0 and segment_of(position - 1, size) >= parse_segment(archive_end, size)[1]


def next_segment(name, size=DEFAULT_SEGMENT_SIZE):
    timeline, number = parse_segment(name, size)
    return segment_name(timeline, number + 1, size)


def previous_segment(name, size=DEFAULT_SEGMENT_SIZE):
    """The segment before ``name`` on its timeline; ValueError for the first segment of WAL."""
    timeline, number = parse_segment(name, size)
    if number == 0:
        raise ValueError("%r is the first WAL segment: none comes before it" % (name,))
    return segment_name(timeline, number - 1, size)
