"""What the writer recorded (the truth) and what a restored cluster holds, for the restore tests."""
import datetime
import json
import os
import re

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
DB_HOSTS = ["rst-bookworm", "rst-trixie", "rst-walg"]
EXACT_TARGETS = ["time", "xid", "lsn", "name"]


def ledger(name):
    """The writer's record of a host: every acknowledged row (id, at, xid, lsn), the marks, the backups."""
    with open(os.path.join(EPHEMERAL, "ledger-%s.json" % name)) as handle:
        return json.load(handle)


def restored(name, target):
    """What the restore to target left: state, amcheck, timeline history, the ledger's pg_dump."""
    with open(os.path.join(EPHEMERAL, "restored", "%s-%s.json" % (name, target))) as handle:
        return json.load(handle)


def dumped_rows(dump):
    """(id, at) of every row in a plain pg_dump of the ledger."""
    match = re.search(r"^COPY public\.ledger \(id, at, note\) FROM stdin;\n(.*?)^\\\.$", dump, re.M | re.S)
    assert match, "no ledger data in the dump:\n%s" % dump[-2000:]
    rows = [line.split("\t") for line in match.group(1).splitlines() if line]
    return sorted((int(row_id), at) for row_id, at, dummy in rows)


def acknowledged(record, up_to=None):
    return [(row["id"], row["at"]) for row in record["rows"] if up_to is None or row["id"] <= up_to]


def epoch(at):
    """Seconds since the epoch of PostgreSQL's timestamptz text ('2026-11-26 10:15:00.123+00')."""
    text = at + ":00" if re.search(r"[+-]\d\d$", at) else at
    return datetime.datetime.fromisoformat(text).timestamp()


def lsn_value(lsn):
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def segment_end(segment, segment_size):
    """The LSN where a WAL segment ends: 000000010000000000000007, or a backup history file of it
    (000000010000000000000007.00000028.backup), archived after the segment."""
    size = int(segment_size.rstrip("MB")) * 1024 * 1024 if segment_size.endswith("MB") else int(segment_size)
    log, seg = int(segment[8:16], 16), int(segment[16:24], 16)
    return (log * (0x100000000 // size) + seg + 1) * size


def history_reason(history):
    """(parent timeline, reason) of the last switch in a timeline history file."""
    parent, dummy, reason = history.strip().splitlines()[-1].split("\t")
    return int(parent), reason
