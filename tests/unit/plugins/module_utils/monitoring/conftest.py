# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest


@pytest.fixture
def zone():
    """Sets the process's time zone (TZ, a POSIX rule: no tzdata needed) for one test, and restores it after."""
    saved = os.environ.get("TZ")

    def set_zone(rule):
        os.environ["TZ"] = rule
        time.tzset()

    yield set_zone
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()
