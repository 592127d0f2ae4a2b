#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_restore
short_description: Restore a physical backup into a data directory, or a logical backup into a database
description:
  - Restores a backup into O(data_directory) and sets the recovery target; PostgreSQL reaches it on start.
    PostgreSQL never promotes by itself - to V(latest) it recovers in standby mode (it waits at the end of the
    archive), at an exact target it pauses (O(target_action)). Then M(pgops.backup.pg_recovery) proves where
    replay ended (the end of the archive, or the target) and promotes it, or stops it and fails.
  - With O(tool=logical), restores a dump of a logical backup (pgops.backup.dumps) into O(database) instead -
    globals first, then pg_restore with O(jobs) parallel jobs, only O(tables) when given; it creates a missing
    database and refuses one that holds relations unless O(overwrite) is set; it checks the dump's files against
    the backup's manifest first. A data-only dump (C(content) V(data)) goes into a database that has its tables
    (restore a schema dump first) and refuses tables that hold rows unless O(overwrite) is set; it restores in
    one job, in the dump's order (referenced tables first, so foreign keys hold).
  - Refuses a data directory that holds a running cluster, and a non-empty one unless O(delta) is set
    (pgBackRest's delta restore). In check mode a running cluster is no refusal, so a playbook can check
    the backup and the target before it stops the cluster.
  - Refuses, before anything changes, a time target after the end of the archive (later than now), and a
    time or LSN target before the oldest backup.
  - A cluster that is not meant to become the primary (O(primary=false)) gets C(archive_mode=off), so it
    cannot write into the production archive.
  - Before restoring over an existing data directory (O(delta)), copies what its pg_wal holds that the archive
    lacks (segments after the archive's end, or still marked C(.ready)) to C(<data_directory>.wal-kept-<UTC time>)
    beside it; those files are the only copy of commits the archive never received.
  - In check mode, returns the plan - the backup it would start from and its first WAL segment, the end of the
    archive, and where recovery would stop.
  - Idempotent - it records what it restored beside the data directory, and the same backup and target
    asked again of that directory, before PostgreSQL was started on it, change nothing.
version_added: "0.1.0"
author: pgops.backup developers (@pgops)
extends_documentation_fragment:
  - pgops.backup.tool
options:
  data_directory:
    description:
      - Where to restore. Its parent must be writable by the user the module runs as.
      - Required for every tool but V(logical).
    type: path
  backup:
    description: Label of the backup to restore; the newest one when not given.
    type: str
  database:
    description: V(logical) only, and required there - the database to restore into (created when missing).
    type: str
  dump:
    description:
      - V(logical) only - name of the dump in the backup (its manifest's C(databases[].name)); needed when the
        backup holds more than one custom or directory dump.
    type: str
  tables:
    description: V(logical) only - restore these tables alone (V(schema.table) or V(table)).
    type: list
    elements: str
    default: []
  jobs:
    description: V(logical) only - parallel jobs of pg_restore.
    type: int
    default: 2
  globals:
    description: V(logical) only - restore the backup's roles and tablespaces (globals.sql, with psql) first; roles that
      exist already are left as they are.
    type: bool
    default: true
  overwrite:
    description: V(logical) only - restore into a database that holds relations, dropping the dump's objects first
      (pg_restore --clean --if-exists); for a data-only dump, empty the tables it fills first (TRUNCATE).
    type: bool
    default: false
  local_dir:
    description: V(logical) only - root of the logical backups; the dumps role's pg_backup_local_dir when not given.
    type: path
  target:
    description: Where recovery stops.
    type: dict
    default: {type: latest}
    suboptions:
      type:
        description:
          - V(latest) replays all archived WAL; V(time), V(lsn), V(xid) and V(name) (a restore point)
            stop at O(target.value); V(immediate) stops as soon as the backup is consistent.
        type: str
        choices: [latest, time, lsn, xid, name, immediate]
        default: latest
      value:
        description: The time (V(2026-11-26 10:15:00+00)), LSN (V(0/3000060)), xid or restore point name.
        type: str
  target_action:
    description:
      - What PostgreSQL does at the target (not used with V(latest), which always recovers in standby mode).
      - V(pause) lets M(pgops.backup.pg_recovery) prove the target was reached before it promotes; with V(promote),
        PostgreSQL promotes by itself (it refuses to when the archive ends before the target).
    type: str
    choices: [promote, pause, shutdown]
    default: pause
  delta:
    description: Restore into a non-empty directory, changing only what differs (pgBackRest only).
    type: bool
    default: false
  primary:
    description: The restored cluster becomes the primary, so its archive_mode stays as the backup had it.
    type: bool
    default: false
  repository:
    description:
      - pgBackRest repository index to restore from (the offsite copy after a site loss); pgBackRest picks the first
        that has the backup when not given.
      - Both the backup and the WAL come from that repository alone, and C(archive_end_segment) is the end of its
        archive.
    type: int
  archived_through:
    description:
      - Where the archive ends, as M(pgops.backup.pg_wal_switch) returns it (C(archived_through)) after archiving what a
        running server wrote. A time, LSN or xid target after it is refused before anything changes, where without
        it only a time after now is.
    type: dict
attributes:
  check_mode:
    description: Reports whether a restore would happen, and restores nothing.
    support: full
  diff_mode:
    description: Returns no diff.
    support: none
"""

EXAMPLES = r"""
- name: The newest logical backup's dump of shop is restored into a new database, 4 jobs in parallel
  pgops.backup.pg_restore:
    tool: logical
    dump: shop
    database: shop_restored
    jobs: 4
  become: true
  become_user: postgres

- name: PostgreSQL is stopped
  ansible.builtin.systemd_service:
    name: postgresql@15-main
    state: stopped

- name: The lost server is restored to a point in time
  pgops.backup.pg_restore:
    data_directory: /var/lib/postgresql/15/main
    target:
      type: time
      value: "2026-11-26 10:15:00+00"
    primary: true
    delta: true
  become: true
  become_user: postgres
"""

RETURN = r"""
restored:
  description: What was restored (also when it had been restored before).
  returned: success
  type: dict
  sample: {tool: pgbackrest, stanza: main, backup: latest, target: {type: time, value: "2026-11-26 10:15:00+00"}}
backup:
  description: Label of the backup the restore starts from - the one given, or the one the module chose (a time or
    LSN target, wal-g); null when pgBackRest picks its newest itself.
  returned: when a physical backup was restored, and in check mode
  type: str
archive_end_segment:
  description: The last WAL segment the repositories held once the backup was restored, for pgops.backup.pg_recovery's
    O(pgops.backup.pg_recovery#module:archive_end).
  returned: when a physical backup was restored
  type: str
  sample: "000000010000000000000009"
wal_kept:
  description: Where the WAL files the archive lacked were copied (C(directory), null when none needed keeping)
    and their names (C(files)).
  returned: when a physical backup was restored
  type: dict
  sample: {directory: /var/lib/postgresql/15/main.wal-kept-20261202T031500Z, files: ["00000001000000000000000A"]}
plan:
  description: What a restore would do - C(backup) and its first WAL segment C(wal_start), C(archive_end_segment),
    and C(stop) (where recovery would end, in words).
  returned: in check mode, for a physical backup
  type: dict
  sample: {backup: 20261202-031000F, wal_start: "000000010000000000000004", archive_end_segment:
           "000000010000000000000009", stop: "at the end of the archive, 000000010000000000000009"}
msg:
  description: What was done.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.core.targets import check_reachable, normalize_target
from ansible_collections.pgops.backup.plugins.module_utils.module_support import (
    local_cluster, target_argument_spec, tool_argument_spec, tool_for)
from ansible_collections.pgops.backup.plugins.module_utils.restore.logical import logical_argument_spec, restore_logical
from ansible_collections.pgops.backup.plugins.module_utils.restore.preflight import (
    check_within_archive, keep_unarchived_wal)
from ansible_collections.pgops.backup.plugins.module_utils.restore.recovery import archive_end
from ansible_collections.pgops.backup.plugins.module_utils.restore.physical import (
    apply_restore_plan, clear_marker, data_directory_state, read_marker, restore_record, same_restore,
    restore_summary, starting_backup, write_marker)


def end_of_archive(tool, run, repository):
    """The end replay must reach, read before anything is fetched: the repository may fail during recovery. None
    when it cannot be read now (pg_recovery reads it again, and fails if it still cannot)."""
    try:
        return archive_end(tool, run, repository)
    except ToolError:
        return None


def main():
    argument_spec = tool_argument_spec()
    argument_spec.update(
        data_directory=dict(type="path"),
        backup=dict(type="str"),
        target=dict(type="dict", default={"type": "latest"}, options=target_argument_spec()),
        target_action=dict(type="str", default="pause", choices=["promote", "pause", "shutdown"]),
        delta=dict(type="bool", default=False),
        primary=dict(type="bool", default=False),
        repository=dict(type="int"),
        archived_through=dict(type="dict"),
    )
    argument_spec.update(logical_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[("tool", "logical", ["database"]), ("tool", "pgbackrest", ["data_directory"]),
                                        ("tool", "walg", ["data_directory"]), ("tool", "barman", ["data_directory"])])
    params = module.params
    if params["tool"] == "logical":
        restore_logical(module, local_cluster(module), tool_for(module)[2])
    if params["tool"] == "base":
        module.fail_json(msg="tool: a base backup is restored by unpacking it (see the README); pg_restore restores "
                             "pgbackrest, walg, barman and logical backups")
    data_directory = params["data_directory"].rstrip("/")
    try:
        target = check_reachable(normalize_target(params["target"]))
        if params["archived_through"]:
            check_within_archive(target, params["archived_through"])
    except (KeyError, TypeError):
        module.fail_json(msg="archived_through: expected pg_wal_switch's archived_through (segment, lsn, time, "
                             "next_xid), got %r" % (params["archived_through"],))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    record = restore_record(params["tool"], params["stanza"], params["backup"] or "latest", target)

    state = data_directory_state(data_directory)
    # check mode goes on to the backup and target checks: a playbook checks those before it stops the cluster
    if state == "running" and not module.check_mode:
        module.fail_json(msg="%s holds a running cluster: stop it first; pg_restore never touches a running "
                             "cluster" % data_directory)
    # The record beside the directory counts only while the directory still holds that restore, never started
    # since (PostgreSQL removes recovery.signal and standby.signal when it promotes): an emptied, replaced or
    # since-used directory is restored again.
    untouched = any(os.path.exists(os.path.join(data_directory, signal))
                    for signal in ("recovery.signal", "standby.signal"))
    if state == "stopped" and untouched and same_restore(read_marker(data_directory), record):
        module.exit_json(changed=False, restored=record,
                         msg="%s already holds this restore; nothing to do" % data_directory)
    if state in ("stopped", "running") and not params["delta"]:
        module.fail_json(msg="%s is not empty: set delta=true to restore over it (pgBackRest changes only what "
                             "differs), or empty it yourself if its contents are expendable" % data_directory)

    tool, dummy, run = tool_for(module)
    try:
        backup = params["backup"]
        # a time or LSN target starts from the newest backup before it (wal-g and Barman are told which)
        choose = backup is None and (params["tool"] in ("walg", "barman") or target["type"] in ("time", "lsn"))
        # read once for both the choice and check mode's plan
        inventory = tool.inventory(run) if choose or module.check_mode else None
        if choose:
            backup = starting_backup(tool, run, target, params["repository"], inventory)
        plan = tool.restore_plan(data_directory, backup=backup, target=target,
                                 target_action=params["target_action"], delta=params["delta"],
                                 primary=params["primary"], repository=params["repository"])
        if module.check_mode:
            summary = restore_summary(inventory, target, backup, params["repository"])
            module.exit_json(changed=True, restored=record, backup=backup, plan=summary,
                             msg="%s would be restored%s from backup %s (WAL from %s); recovery would replay to %s and "
                                 "stop %s" % (data_directory, " once its cluster is stopped" if state == "running" else "",
                                              summary["backup"], summary["wal_start"] or "?",
                                              summary["archive_end_segment"] or "?", summary["stop"]))
        clear_marker(data_directory)
        if state == "missing":  # a lost server's: pgBackRest restores only into a directory that exists
            os.makedirs(data_directory, 0o700)
        end = end_of_archive(tool, run, params["repository"])
        # a delta restore replaces pg_wal: what the archive never received is copied aside first
        try:
            kept = keep_unarchived_wal(data_directory, end) if state == "stopped" else {"directory": None, "files": []}
        except OSError as exc:
            module.fail_json(msg="the WAL in %s/pg_wal that the archive lacks could not be copied aside (%s); nothing "
                                 "was restored" % (data_directory, exc))
        apply_restore_plan(plan, data_directory, run)
    except (ToolError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    write_marker(data_directory, record)
    module.exit_json(changed=True, restored=record, backup=backup, archive_end_segment=end, wal_kept=kept,
                     msg="%s restored%s; start PostgreSQL, then pgops.backup.pg_recovery proves where recovery ended "
                         "and promotes" % (data_directory, "; WAL the archive lacked was copied to %s" % kept["directory"]
                                           if kept["directory"] else ""))


if __name__ == "__main__":
    main()
