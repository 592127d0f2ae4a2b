# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proving where recovery ended before promoting, with the server faked: a sequence of replay states."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.restore import recovery

END = "000000010000000000000009"
LATEST = {"type": "latest", "value": None}
XID = {"type": "xid", "value": "1234"}
LOG = """\
2026-11-26 10:00:00.000 UTC [10] LOG:  starting PostgreSQL 15.8 (Debian 15.8-0+deb12u1)
2026-11-26 10:00:01.000 UTC [11] LOG:  entering standby mode
2026-11-26 10:00:01.100 UTC [11] LOG:  restored log file "000000010000000000000003" from archive
2026-11-26 10:00:01.200 UTC [11] LOG:  restored log file "000000010000000000000004" from archive
2026-11-26 10:00:01.300 UTC [11] LOG:  consistent recovery state reached at 0/4000100
INFO: unable to find 000000010000000000000005 in the archive
"""


def state(lsn, recovering=True, paused=False, at="2026-11-26T10:00:00.000000Z", epoch=1764151200.0):
    return {"recovering": recovering, "lsn": lsn, "at": at, "epoch": epoch, "segment_size": "16MB",
            "version": 150008, "timeline": 1, "paused": paused}


class FakeServer(object):
    """States in order, one per probe (the last one repeats); records what was asked of it."""

    def __init__(self, states, alive=True):
        self.states = list(states)
        self.alive = alive
        self.sql = []
        self.stopped = False
        self.now = 0.0

    def probe(self):
        """The next state (the last one repeats)."""
        current = self.states[0] if len(self.states) == 1 else self.states.pop(0)
        if isinstance(current, Exception):
            raise current
        self.current = dict(current)
        return self.current

    def session(self, action):
        server = self

        def query(conn, sql, params=None):
            server.sql.append(sql)
            if sql.startswith("SELECT pg_promote") or sql.startswith("SELECT pg_wal_replay_resume"):
                server.states = [dict(server.current, recovering=False, paused=False, timeline=2)]
                return [{}]
            if "paused" in sql:  # the same moment as the state just read
                return [{"paused": server.current["paused"]}]
            if "pg_walfile_name" in sql:
                return [{"f": "%08X0000000000000009" % server.current["timeline"]}]
            return [dict(server.probe())]

        return action(None, query)

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def stop(self):
        self.stopped, self.alive = True, False


def prove(server, target=None, end=END, log=LOG, stall=60, timeout=600):
    return recovery.prove_and_promote(server.session, lambda: server.alive, server.stop, lambda: log, target or LATEST, end,
                                      timeout, stall=stall, clock=server.clock, sleep=server.sleep)


def test_replay_into_the_last_segment_is_proven_then_promoted():
    server = FakeServer([state("0/5000000"), state("0/8000000"), state("0/9000110")])
    result = prove(server)
    assert result == {"replay_end_lsn": "0/9000110", "replay_end_time": "2026-11-26T10:00:00.000000Z",
                      "replay_end_epoch": 1764151200.0, "archive_end_segment": END, "promoted": True,
                      "timeline": 2}
    assert "SELECT pg_promote(true, 60)" in server.sql and not server.stopped
    # the new timeline is made durable before the restore reports it
    assert server.sql.index("CHECKPOINT") > server.sql.index("SELECT pg_promote(true, 60)")


def test_a_gap_stops_the_cluster_unpromoted_and_names_the_missing_segment():
    server = FakeServer([state("0/4000100"), state("0/4FFFF28")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, stall=30)
    message = str(failed.value)
    assert server.stopped and not any("promote" in sql or "resume" in sql for sql in server.sql)
    assert "replay has not moved for 30 s" in message and "replay ended at LSN 0/4FFFF28" in message
    assert "the archive ends at segment %s" % END in message
    assert "segment 000000010000000000000005 is missing" in message
    assert "PostgreSQL said: INFO: unable to find 000000010000000000000005 in the archive" in message
    assert "stopped without promoting" in message
    assert failed.value.state["replay_end_lsn"] == "0/4FFFF28" and failed.value.state["archive_end_segment"] == END


def test_a_rejected_record_names_the_segment_it_is_in_as_unreadable():
    log = LOG.replace("INFO: unable to find 000000010000000000000005 in the archive\n",
                      "2026-11-26 10:00:02.000 UTC [11] LOG:  incorrect resource manager data checksum in record "
                      "at 0/4A000D8\n")
    server = FakeServer([state("0/4A00060")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, log=log)
    assert "segment 000000010000000000000004 is unreadable" in str(failed.value)
    assert "PostgreSQL said: 2026-11-26 10:00:02.000 UTC [11] LOG:  incorrect resource manager" in str(failed.value)


def test_a_server_that_dies_fails_in_its_own_words():
    log = LOG + "2026-11-26 10:00:03.000 UTC [11] FATAL:  could not read from archive: PANIC in pgbackrest\n"
    server = FakeServer([RuntimeError("connection refused")], alive=False)
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, target=XID, log=log)
    message = str(failed.value)
    assert message.startswith("PostgreSQL stopped during recovery")
    assert failed.value.state["replay_end_lsn"] is None
    assert "the target xid 1234 was not reached" in message
    assert message.count("FATAL:  could not read from archive") == 1


def test_only_the_log_since_the_last_start_counts():
    old = "2026-11-25 09:00:00.000 UTC [9] FATAL:  an old failure\n"
    lines = recovery.this_start(old + LOG)
    assert lines[0].endswith("starting PostgreSQL 15.8 (Debian 15.8-0+deb12u1)")
    assert recovery.postgres_says(lines, "000000010000000000000005") == \
        "INFO: unable to find 000000010000000000000005 in the archive"


def test_the_words_about_the_segment_win_over_the_next_timeline_probe_and_the_wait():
    # as PostgreSQL 15 logs a gap with restore_command = 'cp ...' (captured with the local harness)
    lines = recovery.this_start(LOG.replace("INFO: unable to find 000000010000000000000005 in the archive\n", "") + (
        "cp: cannot stat '/archive/000000010000000000000005': No such file or directory\n"
        "cp: cannot stat '/archive/00000002.history': No such file or directory\n"
        "2026-11-26 10:00:02.000 UTC [11] LOG:  waiting for WAL to become available at 0/5000018\n"))
    assert recovery.postgres_says(lines, "000000010000000000000005") == \
        "cp: cannot stat '/archive/000000010000000000000005': No such file or directory"
    assert recovery.postgres_says(lines, "000000010000000000000006") == \
        "2026-11-26 10:00:02.000 UTC [11] LOG:  waiting for WAL to become available at 0/5000018"


def test_an_exact_target_is_proven_by_the_pause_there_and_resumed():
    server = FakeServer([state("0/5000000"), state("0/6000028", paused=True)])
    result = prove(server, target=XID)
    assert result["replay_end_lsn"] == "0/6000028" and result["promoted"] is True
    assert "SELECT pg_wal_replay_resume()" in server.sql and "SELECT pg_promote(true, 60)" not in server.sql


def test_postgresql_13_reads_the_pause_with_pg_is_wal_replay_paused():
    server = FakeServer([dict(state("0/6000028", paused=True), version=130016)])
    prove(server, target=XID)
    assert "SELECT pg_is_wal_replay_paused() AS paused" in server.sql


def test_an_unknown_archive_end_proves_nothing():
    server = FakeServer([state("0/9000110")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, end=None)
    assert "the end of the archive is unknown" in str(failed.value) and server.stopped


def test_a_cluster_that_promoted_itself_short_of_the_archive_end_fails():
    server = FakeServer([state("0/4FFFF28", recovering=False)])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server)
    assert str(failed.value).startswith("PostgreSQL promoted by itself before the end of the archive")


def test_without_the_log_the_segment_after_the_replay_position_is_named():
    assert recovery.first_unreplayed([], state("0/4FFFF28")) == ("000000010000000000000005", "missing")
    assert recovery.first_unreplayed([], state("0/5000000")) == ("000000010000000000000005", "missing")


def test_time_running_out_fails():
    server = FakeServer([RuntimeError("the database system is starting up")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, timeout=5)
    assert str(failed.value).startswith("PostgreSQL did not accept connections within 5 s")


def test_a_server_that_ended_recovery_by_itself_is_measured_from_its_log():
    # PostgreSQL 15's own lines when the archive ends before a time target (captured with the local harness)
    log = LOG + (
        "2026-11-26 10:00:03.333 UTC [11] LOG:  redo done at 0/3025FF0 system usage: CPU: user: 0.00 s\n"
        "2026-11-26 10:00:03.333 UTC [11] LOG:  last completed transaction was at log time "
        "2026-11-26 09:59:40.870701+00\n"
        "2026-11-26 10:00:03.333 UTC [11] FATAL:  recovery ended before configured recovery target was reached\n")
    server = FakeServer([state("0/2000100"), RuntimeError("connection refused")])
    server_alive = iter([True, False])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        recovery.prove_and_promote(server.session, lambda: next(server_alive, False), server.stop, lambda: log,
                                   {"type": "time", "value": "2026-11-26 10:00:00+00"}, END, 600, clock=server.clock,
                                   sleep=server.sleep)
    assert failed.value.state["replay_end_lsn"] == "0/3025FF0"
    assert failed.value.state["replay_end_time"] == "2026-11-26 09:59:40.870701+00"
    assert "FATAL:  recovery ended before configured recovery target was reached" in str(failed.value)


def test_replay_that_stops_before_a_consistent_state_fails_once_no_wal_is_restored_for_the_stall_time():
    server = FakeServer([RuntimeError("the database system is starting up")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, stall=30)
    assert str(failed.value).startswith("recovery has restored no WAL for 30 s and does not accept connections")
    assert "segment 000000010000000000000005 is missing" in str(failed.value) and server.stopped
    assert server.now < 40


def test_a_segment_restored_again_and_again_is_no_progress():
    lines = recovery.this_start(LOG + '2026-11-26 10:00:09.000 UTC [11] LOG:  restored log file '
                                      '"000000010000000000000004" from archive\n')
    assert recovery.last_restored(lines) == "000000010000000000000004"


def test_no_wal_restored_at_all_counts_as_stalled_where_the_log_is_read_but_not_without_a_log():
    assert recovery.restored_mark("2026-11-26 10:00:00.000 UTC [10] LOG:  starting PostgreSQL 15.8\n") == ""
    assert recovery.restored_mark("") is None
    server = FakeServer([RuntimeError("the database system is starting up")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, stall=30, log="2026-11-26 10:00:00.000 UTC [10] LOG:  starting PostgreSQL 15.8\n"
                                    "ERROR: [039]: HTTP request failed with 503 (Service Unavailable)\n")
    assert str(failed.value).startswith("recovery has restored no WAL for 30 s") and server.now < 40
    assert "PostgreSQL said: ERROR: [039]: HTTP request failed with 503" in str(failed.value)
    server = FakeServer([RuntimeError("the database system is starting up")])
    with pytest.raises(recovery.RecoveryFailed) as failed:
        prove(server, stall=30, log="", timeout=100)
    assert str(failed.value).startswith("PostgreSQL did not accept connections within 100 s")
