"""A lost server restored to every recovery target: every row acknowledged before an exact target is back and
none after it, amcheck passes, recovery stopped where asked on the expected timeline; latest loses at most what
was written after the last archived segment."""
import re

import pytest

from ledger import (DB_HOSTS, EXACT_TARGETS, acknowledged, dumped_rows, epoch, history_reason, ledger, lsn_value,
                    restored, segment_end)

REASONS = {
    "time": lambda mark: r"^(before|after) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "xid": lambda mark: r"^after transaction %s$" % mark["value"],
    "lsn": lambda mark: r"^after LSN [0-9A-F]+/[0-9A-F]+$",
    "name": lambda mark: r'^at restore point "%s"$' % mark["value"],
}


@pytest.mark.parametrize("name", DB_HOSTS)
def test_backups_were_taken_while_the_writer_committed(name):
    record = ledger(name)
    assert record["errors"] == [] and record["lost_rc"] == 0, record["errors"]
    assert record["backups"] and all(b["rc"] == 0 for b in record["backups"]), record["backups"]
    for backup in record["backups"]:
        during = [row for row in record["rows"] if backup["started"] < epoch(row["at"]) < backup["finished"]]
        assert during, "no commit acknowledged during %s" % backup["job"]


@pytest.mark.parametrize("target", EXACT_TARGETS)
@pytest.mark.parametrize("name", DB_HOSTS)
def test_exact_target_restores_every_row_before_it_and_none_after(restore_run, name, target):
    record, facts = ledger(name), restored(name, target)
    mark = record["marks"][target]
    expected = acknowledged(record, up_to=mark["after_id"])
    assert len(expected) > 100 and len(record["rows"]) > len(expected)
    # pg_dump of the restored ledger: exactly the rows acknowledged before the target, with their times
    assert dumped_rows(facts["dump"]) == expected
    assert (facts["state"]["rows"], facts["state"]["max_id"]) == (len(expected), mark["after_id"])


@pytest.mark.parametrize("target", EXACT_TARGETS + ["immediate", "latest"])
@pytest.mark.parametrize("name", DB_HOSTS)
def test_restored_ledger_passes_amcheck(restore_run, name, target):
    checked = restored(name, target)["amcheck"]
    assert sorted(row["index"] for row in checked) == ["ledger_at", "ledger_pkey"]
    assert all(row["checked"] for row in checked)


@pytest.mark.parametrize("target", EXACT_TARGETS + ["immediate"])
@pytest.mark.parametrize("name", DB_HOSTS)
def test_recovery_stopped_at_the_target_and_promoted_to_a_new_timeline(restore_run, name, target):
    facts, timeline = restored(name, target), ledger(name)["timeline"]
    # recovery stopped on the writer's timeline and the promotion started the next one
    assert facts["state"]["timeline"] == timeline + 1
    parent, reason = history_reason(facts["history"])
    assert parent == timeline
    expected = r"^reached consistency$" if target == "immediate" else REASONS[target](ledger(name)["marks"][target])
    assert re.match(expected, reason), reason


@pytest.mark.parametrize("name", DB_HOSTS)
def test_immediate_holds_what_the_newest_backup_holds(restore_run, name):
    record, rows = ledger(name), dumped_rows(restored(name, "immediate")["dump"])
    newest = record["backups"][-1]
    # a prefix of what was acknowledged: nothing lost in the middle, nothing invented
    assert rows == acknowledged(record, up_to=len(rows))
    assert all(row_id <= len(rows) for row_id, at in acknowledged(record) if epoch(at) < newest["started"])
    assert all(epoch(at) <= newest["finished"] for dummy, at in rows)


@pytest.mark.parametrize("name", DB_HOSTS)
def test_latest_loses_at_most_what_was_not_archived(restore_run, name):
    record, facts = ledger(name), restored(name, "latest")
    rows = dumped_rows(facts["dump"])
    assert rows == acknowledged(record, up_to=len(rows))
    archived_end = segment_end(record["last_archived_wal"], record["wal_segment_size"])
    must_have = [row["id"] for row in record["rows"] if lsn_value(row["lsn"]) <= archived_end]
    assert must_have and len(rows) >= max(must_have)
    lost = record["rows"][len(rows):]
    seconds = epoch(lost[-1]["at"]) - epoch(record["rows"][len(rows) - 1]["at"]) if lost else 0.0
    print("%s: latest restored %d of %d acknowledged rows; lost %d rows, %.1f s of commits (after %s)"
          % (name, len(rows), len(record["rows"]), len(lost), seconds, record["last_archived_wal"]))
    # the disaster recovery playbook promoted it as the primary on a new timeline
    assert facts["state"]["timeline"] == record["timeline"] + 1
    assert history_reason(facts["history"]) == (record["timeline"], "no recovery target specified")


@pytest.mark.parametrize("target", EXACT_TARGETS + ["immediate", "latest"])
@pytest.mark.parametrize("name", DB_HOSTS)
def test_every_restore_reports_where_replay_ended_and_the_end_of_the_archive(restore_run, name, target):
    record, facts = ledger(name), restored(name, target)
    recovery, rows = facts["recovery"], dumped_rows(facts["dump"])
    # the archive the restores read is the one the writer left: it ends at (or, pushed ahead by pgBackRest's
    # asynchronous archiving, just after) the last segment PostgreSQL counted archived
    assert recovery["archive_end_segment"][:8] == record["last_archived_wal"][:8], recovery
    assert recovery["archive_end_segment"] >= record["last_archived_wal"][:24], recovery
    assert recovery["promoted"] is True and recovery["timeline"] == record["timeline"] + 1
    replay_end = lsn_value(recovery["replay_end_lsn"])
    if target == "latest":
        # replay read into the archive's last segment before it was promoted
        size = segment_end("000000010000000000000000", record["wal_segment_size"])
        segment_start = segment_end(record["last_archived_wal"], record["wal_segment_size"]) - size
        assert replay_end > segment_start
    # the last commit replayed is the last restored row's (its time a little after the row's clock_timestamp())
    if rows and recovery["replay_end_time"]:
        last_at = epoch(rows[-1][1])
        assert last_at <= epoch(recovery["replay_end_time"]) < last_at + 5, (rows[-1], recovery)
    print("%s %s: replay ended at %s (last commit %s), archive ends at %s"
          % (name, target, recovery["replay_end_lsn"], recovery["replay_end_time"], recovery["archive_end_segment"]))
