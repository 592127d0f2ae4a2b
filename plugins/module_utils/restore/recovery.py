# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proving where recovery ended before anything promotes.

A restore never lets PostgreSQL promote by itself: to latest it recovers in standby mode (at the end of the
archive it waits for more WAL instead of promoting), to an exact target it pauses there. PostgreSQL takes a
restore_command that fails for a missing, corrupt or unreachable segment for the end of the archive, so only a
comparison says whether replay got there: replay must reach the last segment the repositories hold (latest) or
pause at the target. Then it is promoted explicitly; otherwise it is stopped, un-promoted, and the failure names
the first segment not replayed and PostgreSQL's own words."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.pgops.backup.plugins.module_utils.core.wal import (
    last_segment, next_segment, parse_lsn, reached, segment_name, segment_of, segment_size)

# replay that has not moved for this long, short of where it must end, has stopped
STALL_SECONDS = 60
# replay inside the last segment is done once it has not moved for this long
SETTLE_SECONDS = 3
# watch()'s target while a promotion completes: the end of recovery itself
PROMOTED = "promoted"
_RESTORED_RE = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_RECORD_ERROR_RE = re.compile(r"(invalid|incorrect|unexpected|missing|could not).* (at|in log segment) ")
_START_RE = re.compile(r"LOG:\s+starting PostgreSQL")
_SEVERE_RE = re.compile(r"\b(FATAL|PANIC):")
_FETCH_ERROR_RE = re.compile(r"ERROR|unable to find|cannot|No such file|does not exist|not found")
_WAITING_RE = re.compile(r"waiting for WAL to become available")
_REDO_DONE_RE = re.compile(r"redo done at ([0-9A-F]+/[0-9A-F]+)")
_LAST_COMMIT_RE = re.compile(r"last completed transaction was at log time (.+)$")

STATE_SQL = (
    "SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS lsn, "
    "to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at, "
    "extract(epoch FROM pg_last_xact_replay_timestamp())::float8 AS epoch, "
    "current_setting('wal_segment_size') AS segment_size, current_setting('server_version_num')::int AS version, "
    "(SELECT timeline_id FROM pg_control_checkpoint()) AS timeline")


class RecoveryFailed(RuntimeError):
    """Recovery did not end where it must; ``state`` holds what was measured (replay end, archive end)."""

    def __init__(self, msg, state=None):
        RuntimeError.__init__(self, msg)
        self.state = dict(state or {})


def recovery_state(conn, query):
    """The replay position of a running cluster: recovering, lsn, at (UTC ISO), epoch, segment_size, paused."""
    state = query(conn, STATE_SQL)[0]
    state["paused"] = False
    if not state["recovering"]:  # promoted: the checkpoint may not have caught up, the current WAL file has
        state["timeline"] = int(query(conn, "SELECT pg_walfile_name(pg_current_wal_lsn()) AS f")[0]["f"][:8], 16)
    else:
        pause_sql = ("SELECT pg_get_wal_replay_pause_state() = 'paused' AS paused" if state["version"] >= 140000
                     else "SELECT pg_is_wal_replay_paused() AS paused")
        state["paused"] = bool(query(conn, pause_sql)[0]["paused"])
    return state


def archive_end(tool, run, repository=None):
    """The last segment the stanza's repositories hold (pgBackRest info's archive max, wal-g's wal-show); with a
    repository index, that repository's own: a restore from one repository replays its archive only."""
    repositories = tool.inventory(run)["repositories"]
    return last_segment([repo for repo in repositories if repository is None or repo["index"] == int(repository)])


def this_start(log_text):
    """The server log's lines since PostgreSQL last started."""
    lines = (log_text or "").splitlines()
    starts = [index for index, line in enumerate(lines) if _START_RE.search(line)]
    return lines[starts[-1]:] if starts else lines


def postgres_says(lines, segment=None):
    """PostgreSQL's own reason: its last FATAL or PANIC line, else its last complaint about a record, else the
    restore command's last error about ``segment``, else PostgreSQL waiting for WAL, else the last error any
    program logged; None when the log says nothing of the kind."""
    def last(predicate):
        matching = [line.strip() for line in lines if predicate(line)]
        return matching[-1] if matching else None

    return (last(_SEVERE_RE.search)
            or last(lambda line: "LOG:" in line and _RECORD_ERROR_RE.search(line))
            or (segment and last(lambda line: segment in line and _FETCH_ERROR_RE.search(line)
                                 and not _RESTORED_RE.search(line)))
            or last(_WAITING_RE.search)
            or last(lambda line: "ERROR" in line))


def first_unreplayed(lines, state):
    """(segment, how) of the first segment recovery could not replay: the one after the last segment it restored
    from the archive ('missing'), or that segment itself when PostgreSQL rejected a record in it after restoring
    it ('unreadable'). Without the log, the segment after the replay position on the checkpoint's timeline."""
    size = segment_size(state.get("segment_size") or "16MB")
    restored = None
    rejected = False
    for line in lines:
        match = _RESTORED_RE.search(line)
        if match:
            restored, rejected = match.group(1), False
        elif restored and _RECORD_ERROR_RE.search(line) and "LOG:" in line:
            rejected = True
    if restored:
        return (restored, "unreadable") if rejected else (next_segment(restored, size), "missing")
    if not state.get("lsn"):
        return None, "missing"
    position = parse_lsn(state["lsn"])
    return segment_name(state.get("timeline") or 1, segment_of(max(position - 1, 0), size) + 1, size), "missing"


def ended_per_log(lines, state):
    """A server that ended recovery by itself (a FATAL at the end of the archive) logged where: its 'redo done at'
    and last transaction's time replace the last position read over a connection."""
    redo = [m.group(1) for m in (_REDO_DONE_RE.search(line) for line in lines) if m]
    if not redo:
        return state
    state = dict(state, lsn=redo[-1], epoch=None)
    commits = [m.group(1).strip() for m in (_LAST_COMMIT_RE.search(line) for line in lines) if m]
    state["at"] = commits[-1] if commits else None
    return state


def measured(state, end):
    """What a restore reports: where replay ended and where the archive ends."""
    return {"replay_end_lsn": state.get("lsn"), "replay_end_time": state.get("at"),
            "replay_end_epoch": state.get("epoch"), "archive_end_segment": end}


def last_restored(lines):
    """The last segment PostgreSQL logged as restored from the archive: how far recovery got before it accepts
    connections."""
    names = [m.group(1) for m in (_RESTORED_RE.search(line) for line in lines) if m]
    return names[-1] if names else None


def restored_mark(log_text):
    """watch()'s progress mark: the last segment restored since the start ('' for none yet); None without a log."""
    if not log_text:
        return None
    return last_restored(this_start(log_text)) or ""


def watch(probe, alive, target, end, timeout, stall=STALL_SECONDS, settle=SETTLE_SECONDS, clock=time.time,
          sleep=time.sleep, progress=None):
    """Wait until replay has ended where it must: inside or past segment ``end`` (latest), or paused at an exact
    target. Returns the last state; RecoveryFailed when replay stops short, the server dies, or time runs out.

    probe(): recovery_state() of a fresh connection, raising while the server does not accept connections;
    alive(): whether the postmaster runs; progress(): while it accepts none (before a consistent state), a mark
    of how far recovery got (last_restored()): a mark that stays for ``stall`` seconds is replay stopped too.
    """
    deadline = clock() + timeout
    last, moved, state = None, clock(), {}
    mark = None
    latest = target["type"] == "latest"
    if latest and not end:
        raise RecoveryFailed("the end of the archive is unknown (no repository reports its archive), so nothing "
                             "can prove that replay reached it: check the repositories with the tool's info")
    while True:
        now = clock()
        try:
            state = probe()
        except ImportError:  # no psycopg2: waiting would not help
            raise
        except Exception as exc:  # not accepting connections yet, or gone
            if not alive():
                raise RecoveryFailed("PostgreSQL stopped during recovery", state)
            current = progress() if progress is not None and not state else None
            if current is not None:  # without a log that names restored segments, only the timeout counts
                if current != mark:
                    mark, moved = current, now
                elif now - moved >= stall:
                    raise RecoveryFailed("recovery has restored no WAL for %d s and does not accept connections yet "
                                         "(it has not reached a consistent state)" % stall, state)
            if now > deadline:
                raise RecoveryFailed("PostgreSQL did not accept connections within %d s: %s" % (timeout, exc), state)
            sleep(1)
            continue
        if not state["recovering"]:
            return state
        if state["lsn"] != last:
            last, moved = state["lsn"], now
        if target["type"] not in ("latest", PROMOTED) and state["paused"]:
            return state
        size = segment_size(state["segment_size"])
        if latest and state["lsn"] and reached(state["lsn"], end, size) and now - moved >= settle:
            return state
        if now - moved >= stall:
            raise RecoveryFailed("replay has not moved for %d s" % stall, state)
        if now > deadline:
            raise RecoveryFailed("recovery did not end within %d s" % timeout, state)
        sleep(1)


def failure_message(problem, target, state, end, lines):
    """One message: what stopped, where replay ended and the archive ends, the segment, PostgreSQL's words."""
    segment, how = first_unreplayed(lines, state) if target["type"] == "latest" and end else (None, None)
    words = postgres_says(lines, segment)
    parts = [problem]
    if state.get("lsn"):
        commit = " (last commit %s)" % state["at"] if state.get("at") else ""
        parts.append("replay ended at LSN %s%s" % (state["lsn"], commit))
    if target["type"] == "latest" and end:
        parts.append("the archive ends at segment %s" % end)
        if segment and how == "missing":
            parts.append("segment %s is missing (from every repository, or the repository became unreachable)"
                         % segment)
        elif segment:
            parts.append("segment %s is unreadable: PostgreSQL rejected a record in it (corrupt or cut short)"
                         % segment)
    else:
        parts.append("the target %s %s was not reached" % (target["type"], target.get("value") or ""))
    parts.append("PostgreSQL said: %s" % (words or "nothing in its log"))
    return "; ".join(parts) + (". The cluster was stopped without promoting, and nothing was archived from it: "
                               "put the segment back into the repository (or bring the repository back) and start "
                               "it again, or restore to a target before the gap")


def promote(conn, query, state):
    """End recovery: resume at a paused target (recovery then ends), else pg_promote()."""
    if state.get("paused"):
        query(conn, "SELECT pg_wal_replay_resume()")
    else:
        query(conn, "SELECT pg_promote(true, 60)")


def prove_and_promote(session, alive, stop, read_log, target, end, timeout, stall=STALL_SECONDS, clock=time.time,
                      sleep=time.sleep):
    """watch(), then promote and wait until the cluster is the primary; on any failure stop it un-promoted.

    session: a context-free ``session(action)`` that opens a connection, runs ``action(conn, query)`` and closes
    it; stop(): stops the cluster; read_log(): the server log's text. Returns measured() plus 'promoted' and
    'timeline'; RecoveryFailed carries measured() too."""
    def probe():
        return session(recovery_state)

    state = {}
    try:
        state = watch(probe, alive, target, end, timeout, stall=stall, clock=clock, sleep=sleep,
                      progress=lambda: restored_mark(read_log()))
        result = measured(state, end)
        if not state["recovering"]:
            if target["type"] == "latest" and state.get("lsn") and end and not reached(
                    state["lsn"], end, segment_size(state["segment_size"])):
                raise RecoveryFailed("PostgreSQL promoted by itself before the end of the archive", state)
            result.update(promoted=False, timeline=state.get("timeline"))
            return result
        session(lambda conn, query: promote(conn, query, state))
        after = watch(probe, alive, {"type": PROMOTED}, end, timeout, stall=timeout, clock=clock, sleep=sleep)
        # the end-of-recovery checkpoint runs in the background: wait for one, so the new timeline is durable
        # and pg_control (pg_control_checkpoint()) names it when this returns
        session(lambda conn, query: query(conn, "CHECKPOINT"))
        result.update(promoted=True, timeline=after.get("timeline"))
        return result
    except RecoveryFailed as exc:
        state = exc.state or state
        failure = exc
    except Exception as exc:  # psycopg2 errors and the like: the cluster is stopped all the same
        failure = RecoveryFailed("recovery could not be checked: %s" % exc, state)
    lines = this_start(read_log())  # before the stop, whose own lines (an immediate shutdown's FATAL) are not the reason
    stop()
    state = ended_per_log(lines, state)
    message = failure_message(str(failure), target, state, end, lines)
    raise RecoveryFailed(message, measured(state, end))
