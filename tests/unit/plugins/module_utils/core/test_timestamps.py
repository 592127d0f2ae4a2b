# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Timestamps as wal-g (RFC 3339, Go's nanoseconds) and PostgreSQL (timestamptz text) print them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.timestamps import (
    FixedOffset, UTC, as_datetime, epoch_seconds, parse_timestamp, to_epoch)

BASE = calendar.timegm((2026, 11, 26, 6, 11, 22, 0, 0, 0))


@pytest.mark.parametrize("text, seconds", [
    ("2026-11-26T06:11:22Z", BASE),
    ("2026-11-26T06:11:22.064029Z", BASE + 0.064029),
    ("2026-11-26T06:11:22.298z", BASE + 0.298),
    ("2026-11-26T06:11:22.123456789Z", BASE + 0.123456),  # nanoseconds cut to microseconds
    ("2026-11-26 06:11:22+00", BASE),
    ("2026-11-26 07:11:22.5+01", BASE + 0.5),
    ("2026-11-26T07:41:22+01:30", BASE),
    ("2026-11-26T01:11:22-0500", BASE),
    ("2026-11-26 06:11:22,25+00:00", BASE + 0.25),
])
def test_to_epoch(text, seconds):
    assert to_epoch(text) == pytest.approx(seconds, abs=1e-6)
    assert epoch_seconds(text) == int(seconds)


def test_naive_counts_as_utc():
    assert parse_timestamp("2026-11-26 06:11:22").tzinfo is None
    assert to_epoch("2026-11-26 06:11:22") == BASE


@pytest.mark.parametrize("text", ["", None, "soon", "2026-11-26", "2026-11-26 06:11", "2026-02-30 00:00:00Z",
                                  "2026-11-26 06:11:22+25", "2026-11-26 06:11:22 UTC"])
def test_not_a_timestamp(text):
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_epoch_seconds_cuts_toward_the_past():
    assert epoch_seconds(BASE + 0.999) == BASE
    assert epoch_seconds(None) is None and to_epoch(None) is None


def test_numbers_pass_through():
    assert to_epoch(12) == 12 and to_epoch(1.5) == 1.5


def test_aware_datetimes():
    when = datetime.datetime(2026, 11, 26, 8, 11, 22, 500000, tzinfo=FixedOffset(120))
    assert to_epoch(when) == BASE + 0.5
    assert when.isoformat() == "2026-11-26T08:11:22.500000+02:00"
    assert FixedOffset(-330).tzname(None) == "-05:30"


@pytest.mark.parametrize("value", [BASE, "2026-11-26 06:11:22+00", datetime.datetime(2026, 11, 26, 6, 11, 22),
                                   datetime.datetime(2026, 11, 26, 6, 11, 22, tzinfo=UTC)])
def test_as_datetime(value):
    result = as_datetime(value)
    assert result.tzinfo is not None and to_epoch(result) == BASE


@pytest.mark.parametrize("value", [None, ""])
def test_as_datetime_of_nothing(value):
    assert as_datetime(value) is None
