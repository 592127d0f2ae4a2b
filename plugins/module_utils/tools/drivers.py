# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Picks the driver for a policy's tool."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgops.backup.plugins.module_utils.tools.pgbackrest import PgBackRest

DRIVERS = {PgBackRest.name: PgBackRest}


def driver_for(policy):
    try:
        return DRIVERS[policy["tool"]](policy)
    except KeyError:
        raise ValueError("no driver for tool %r; known: %s" % (policy["tool"], ", ".join(sorted(DRIVERS))))
