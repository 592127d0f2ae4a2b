# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""archive-push-queue-max: off by default, a size in pgBackRest's sense, only where archive-push runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers.pgbackrest import PgBackRest, queue_max_bytes
from ansible_collections.pgops.backup.plugins.module_utils.policy import normalize_policy

PG = {"path": "/var/lib/postgresql/15/main", "port": 5432, "socket_path": "/var/run/postgresql"}


def global_section(role="standalone", **kwargs):
    tool = PgBackRest(normalize_policy(repositories=[{"name": "local", "type": "posix"}]))
    extra = {"repository_host": "backup1"} if role == "pg" else ({"pg_host": "db1"} if role == "repository" else {})
    extra.update(kwargs)
    return dict(dict(tool.config_sections(role, PG, 2, **extra))["global"])


@pytest.mark.parametrize("value, size", [
    (None, None), ("", None), (1073741824, 1073741824), ("1GB", 1 << 30), ("1GiB", 1 << 30), ("512mb", 512 << 20),
    ("16MB", 16 << 20), ("2T", 2 << 40)])
def test_sizes(value, size):
    assert queue_max_bytes(value) == size


@pytest.mark.parametrize("value", ["lots", "1.5GB", "0", "-1GB", True, "1MB"])
def test_bad_sizes_name_the_variable(value):
    with pytest.raises(ToolError) as err:
        queue_max_bytes(value)
    assert "pgbackrest_archive_push_queue_max" in str(err.value)


def test_off_by_default():
    assert "archive-push-queue-max" not in global_section()


@pytest.mark.parametrize("role", ["standalone", "pg"])
def test_rendered_where_archive_push_runs(role):
    assert global_section(role, archive_push_queue_max="4GB")["archive-push-queue-max"] == str(4 << 30)


def test_not_on_the_repository_host():
    assert "archive-push-queue-max" not in global_section("repository", archive_push_queue_max="4GB")
