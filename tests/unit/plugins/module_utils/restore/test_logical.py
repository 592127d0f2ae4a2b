# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A logical restore's decisions: which tables a data-only dump fills, and when it may go into a database."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.restore.logical import check_data_only, chosen_tables

TABLES = [("crm", "customers"), ("crm", "contacts"), ("public", "orders")]


def test_every_table_of_the_dump_unless_tables_are_asked():
    assert chosen_tables(TABLES, []) == TABLES
    assert chosen_tables(TABLES, ["crm.contacts", "orders"]) == [("crm", "contacts"), ("public", "orders")]
    assert chosen_tables(TABLES, ["public.contacts"]) == []


def test_a_data_only_dump_goes_into_existing_empty_tables():
    check_data_only("shop-data", "copy", [], [], False)


def test_a_data_only_dump_needs_its_schema_first():
    with pytest.raises(ValueError) as info:
        check_data_only("shop-data", "copy", [("crm", "contacts"), ("public", "orders")], [], True)
    assert str(info.value) == (
        "dump shop-data holds data only, and database copy lacks its table(s) crm.contacts, public.orders: restore "
        "the schema first (a dump with content schema or all), then this dump")


def test_tables_that_hold_rows_are_refused_unless_overwrite_empties_them():
    with pytest.raises(ValueError, match=r"table\(s\) public.orders of database copy hold rows already: set "
                                         r"overwrite=true to empty them first \(TRUNCATE\)"):
        check_data_only("shop-data", "copy", [], [("public", "orders")], False)
    check_data_only("shop-data", "copy", [], [("public", "orders")], True)
