# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL positions and segment names, and whether replay reached the end of an archive."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core import wal

MB16 = 16 * 1024 * 1024


def test_an_lsn_is_a_byte_position_and_back():
    assert wal.parse_lsn("0/3000060") == 0x3000060
    assert wal.parse_lsn("1/A") == (1 << 32) + 10
    assert wal.format_lsn((1 << 32) + 0x3000060) == "1/3000060"


@pytest.mark.parametrize("text", ["", "3000060", "0/", "x/1", None])
def test_anything_else_is_not_an_lsn(text):
    with pytest.raises(ValueError):
        wal.parse_lsn(text)


@pytest.mark.parametrize("text, size", [("16MB", MB16), ("1GB", 1 << 30), ("64MB", 64 << 20), ("16777216", MB16)])
def test_segment_sizes_as_postgresql_shows_them(text, size):
    assert wal.segment_size(text) == size


def test_segment_names_count_256_segments_of_16mb_per_log_file():
    assert wal.segment_name(1, 0x105) == "000000010000000100000005"
    assert wal.parse_segment("000000010000000100000005") == (1, 0x105)
    assert wal.parse_segment("000000020000000000000007-9f3c.zst") == (2, 7)
    assert wal.segment_name(3, 5, size=1 << 30) == "000000030000000100000001"


def test_the_segment_of_an_lsn_and_the_next_one():
    assert wal.segment_of(wal.parse_lsn("0/5000000")) == 5
    assert wal.segment_of(wal.parse_lsn("0/4FFFFFF")) == 4
    assert wal.next_segment("0000000100000000000000FF") == "000000010000000100000000"


def test_the_previous_segment_crosses_a_log_id_at_the_segment_size_and_not_before_the_first():
    assert wal.previous_segment("000000010000000100000000") == "0000000100000000000000FF"
    assert wal.previous_segment("000000030000000100000000", size=1 << 30) == "000000030000000000000003"
    with pytest.raises(ValueError):
        wal.previous_segment("000000010000000000000000")


def test_replay_reached_the_archive_end_when_its_last_byte_is_in_or_past_the_last_segment():
    assert wal.reached("0/9000110", "000000010000000000000009")
    assert wal.reached("0/A000060", "000000010000000000000009")
    assert wal.reached("0/A000000", "000000010000000000000009")  # every byte of segment 9 replayed
    assert not wal.reached("0/9000000", "000000010000000000000009")  # stopped at its first byte: none of it read
    assert not wal.reached("0/4FFFF28", "000000010000000000000009")
    # a later timeline's segment: the position counts, the timeline is the one recovery follows
    assert wal.reached("0/9000110", "000000020000000000000009")


def test_the_end_of_the_archive_is_the_newest_segment_of_any_repository():
    repositories = [{"archive": {"min": "000000010000000000000001", "max": "000000010000000000000009"}},
                    {"archive": {"min": None, "max": None}},
                    {"archive": {"min": "000000010000000000000003", "max": "00000002000000000000000A"}}, {}]
    assert wal.last_segment(repositories) == "00000002000000000000000A"
    assert wal.last_segment([{"archive": {"min": None, "max": None}}]) is None
