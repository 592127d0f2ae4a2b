# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster discovery from `pg_lsclusters --no-header` and the choice of the one cluster to back up."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.core.postgres import choose_cluster, parse_lsclusters

# pg_lsclusters pads its columns with spaces; a standby shows "online,recovery"; a cluster whose
# log goes to syslog or stderr shows no log file column at all.
LSCLUSTERS = """\
13  main    5433 down   postgres /var/lib/postgresql/13/main    /var/log/postgresql/postgresql-13-main.log
15  main    5432 online postgres /var/lib/postgresql/15/main    /var/log/postgresql/postgresql-15-main.log
15  reports 5434 online,recovery postgres /srv/pg/15/reports  /var/log/postgresql/postgresql-15-reports.log
16  main    5435 down   postgres /var/lib/postgresql/16/main
"""


def by_id(clusters):
    return dict(("%s/%s" % (c["version"], c["name"]), c) for c in clusters)


class TestParseLsclusters:
    def test_every_cluster_is_found(self):
        assert list(by_id(parse_lsclusters(LSCLUSTERS))) == ["13/main", "15/main", "15/reports", "16/main"]

    def test_online_cluster(self):
        cluster = by_id(parse_lsclusters(LSCLUSTERS))["15/main"]
        assert cluster == {
            "version": "15",
            "major": 15,
            "name": "main",
            "port": 5432,
            "running": True,
            "owner": "postgres",
            "data_directory": "/var/lib/postgresql/15/main",
            "config_dir": "/etc/postgresql/15/main",
            "config_file": "/etc/postgresql/15/main/postgresql.conf",
            "conf_d": "/etc/postgresql/15/main/conf.d",
            "socket_dir": "/var/run/postgresql",
            "service": "postgresql@15-main",
            "log_file": "/var/log/postgresql/postgresql-15-main.log",
        }

    def test_down_cluster(self):
        cluster = by_id(parse_lsclusters(LSCLUSTERS))["13/main"]
        assert cluster["running"] is False and cluster["port"] == 5433

    def test_standby_is_running(self):
        cluster = by_id(parse_lsclusters(LSCLUSTERS))["15/reports"]
        assert cluster["running"] is True
        assert cluster["data_directory"] == "/srv/pg/15/reports"
        assert cluster["service"] == "postgresql@15-reports"

    def test_cluster_without_log_column(self):
        assert by_id(parse_lsclusters(LSCLUSTERS))["16/main"]["data_directory"] == "/var/lib/postgresql/16/main"

    def test_old_style_version(self):
        [cluster] = parse_lsclusters("9.6 main 5432 online postgres /var/lib/postgresql/9.6/main "
                                     "/var/log/postgresql/postgresql-9.6-main.log\n")
        assert (cluster["version"], cluster["major"]) == ("9.6", 9)
        assert cluster["config_dir"] == "/etc/postgresql/9.6/main"

    @pytest.mark.parametrize("text", [
        "",
        "\n\n",
        "Ver Cluster Port Status Owner    Data directory              Log file\n",  # a header, if --no-header is lost
        "Warning: No existing cluster is suitable as a default target.\n",
    ])
    def test_nothing_that_is_not_a_cluster_line(self, text):
        assert parse_lsclusters(text) == []


class TestChooseCluster:
    def setup_method(self):
        self.clusters = parse_lsclusters(LSCLUSTERS)

    def test_version_and_name(self):
        cluster, error = choose_cluster(self.clusters, "15", "main")
        assert error is None and cluster["port"] == 5432

    def test_version_as_a_number(self):
        cluster, error = choose_cluster(self.clusters, 13)
        assert error is None and cluster["version"] == "13"

    def test_only_cluster_of_that_name(self):
        cluster, error = choose_cluster(self.clusters, name="reports")
        assert error is None and cluster["version"] == "15"

    def test_a_down_cluster_can_be_chosen(self):
        cluster, error = choose_cluster(self.clusters, "16")
        assert error is None and cluster["running"] is False

    def test_none_on_the_host(self):
        cluster, error = choose_cluster([])
        assert cluster is None
        assert "no PostgreSQL cluster */main" in error and "clusters: none" in error
        assert "pg_backup_cluster.version" in error and "pg_backup_cluster.name" in error

    def test_no_such_cluster_lists_the_ones_there(self):
        cluster, error = choose_cluster(self.clusters, "14", "main")
        assert cluster is None
        assert "14/main" in error and "13/main, 15/main, 15/reports, 16/main" in error

    def test_ambiguous_name(self):
        cluster, error = choose_cluster(self.clusters)
        assert cluster is None
        assert error.startswith("several clusters are named main")
        assert "pg_backup_cluster.version" in error
