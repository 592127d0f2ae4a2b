# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layout is the architecture: every import of the collection's own code runs one way,
core <- policy <- drivers <- {restore, dumps, monitoring, retention} <- module_support <- modules, filters,
host entry; the domains never import each other; and the host copy of the library is exactly what the scheduled
scripts import."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PACKAGE = "ansible_collections.pgops.backup.plugins."
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")
HOST_ENTRY = os.path.join(ROOT, "roles", "_common", "files", "pgops_backup_host.py")
# layer of each part of plugins/: a file may import only from a lower layer, or from its own package
LAYERS = {"module_utils.core": 0, "module_utils.policy": 1, "module_utils.drivers": 2, "module_utils.restore": 3,
          "module_utils.dumps": 3, "module_utils.monitoring": 3, "module_utils.retention": 3,
          "module_utils.module_support": 4, "plugin_utils": 4, "modules": 5, "filter": 5, "doc_fragments": 5,
          "host_entry": 5}
# what the scheduled scripts run (roles/_common/files/pgops_backup_host.py) and so the hosts hold
ENTRY_MODULES = ("module_utils.monitoring.monitor", "module_utils.restore.drill", "module_utils.dumps.job",
                 "module_utils.retention.expire", "module_utils.drivers.barman_gate")


def part_of(module):
    """'module_utils.drivers' for 'module_utils.drivers.walg', 'modules' for 'modules.pg_backup'."""
    for part in sorted(LAYERS, key=len, reverse=True):
        if module == part or module.startswith(part + "."):
            return part
    raise AssertionError("%s is in no layer of LAYERS: add it" % module)


def python_files():
    for folder in ("module_utils", "plugin_utils", "modules", "filter", "doc_fragments"):
        for parent, dirs, files in os.walk(os.path.join(ROOT, "plugins", folder)):
            for name in sorted(files):
                if name.endswith(".py") and name != "__init__.py":
                    path = os.path.join(parent, name)
                    yield os.path.relpath(path, os.path.join(ROOT, "plugins"))[:-3].replace(os.sep, "."), path
    yield "host_entry", HOST_ENTRY


def own_imports(path):
    """The collection modules a file imports, relative to plugins/ ('module_utils.core.errors')."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            base = node.module[len(PACKAGE):]
            for alias in node.names:
                candidate = base + "." + alias.name
                is_module = os.path.exists(os.path.join(ROOT, "plugins", *candidate.split(".")) + ".py")
                found.add(candidate if is_module else base)
        elif isinstance(node, ast.Import):
            found.update(a.name[len(PACKAGE):] for a in node.names if a.name.startswith(PACKAGE))
    return found


FILES = dict(python_files())


@pytest.mark.parametrize("module", sorted(FILES))
def test_imports_run_one_way(module):
    mine = part_of(module)
    for imported in own_imports(FILES[module]):
        theirs = part_of(imported)
        if theirs == mine:
            continue
        assert LAYERS[theirs] < LAYERS[mine], (
            "%s (%s, layer %d) imports %s (%s, layer %d): imports run core <- policy <- drivers <- "
            "restore, dumps, monitoring, retention <- module_support <- modules, filters"
            % (module, mine, LAYERS[mine], imported, theirs, LAYERS[theirs]))


def closure(modules):
    seen, todo = set(), list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += own_imports(os.path.join(ROOT, "plugins", *module.split(".")) + ".py")
    return seen


def test_the_host_library_is_exactly_what_the_scheduled_scripts_import():
    entry = own_imports(HOST_ENTRY)
    assert entry == set(ENTRY_MODULES)
    needed = sorted("/".join(m.split(".")[1:]) + ".py" for m in closure(ENTRY_MODULES))
    with open(os.path.join(ROOT, "roles", "_common", "vars", "main.yml")) as handle:
        listed = re.findall(r"^\s+- (\S+\.py)$", handle.read(), re.M)
    assert listed == needed, "roles/_common/vars/main.yml _common_runtime_files must list exactly %s" % needed


def test_the_job_wrapper_finds_the_error_line_by_the_runners_rule():
    from ansible_collections.pgops.backup.plugins.module_utils.core.process import ERROR_PATTERNS
    with open(os.path.join(ROOT, "roles", "_common", "templates", "pgops-backup-job.sh.j2")) as handle:
        wrapper = handle.read()
    for pattern in ERROR_PATTERNS:
        assert "grep -E '%s'" % pattern in wrapper


@pytest.mark.parametrize("module", sorted(FILES))
def test_every_name_taken_from_a_collection_module_exists_there(module):
    """``backup_sets.write_json_atomically`` after that function moved fails here, not on a host."""
    import importlib

    with open(FILES[module]) as handle:
        tree = ast.parse(handle.read(), FILES[module])
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            for alias in node.names:
                candidate = node.module + "." + alias.name
                if os.path.exists(os.path.join(ROOT, "plugins", *candidate[len(PACKAGE):].split(".")) + ".py"):
                    imported[alias.asname or alias.name] = importlib.import_module(candidate)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
            assert hasattr(imported[node.value.id], node.attr), "%s:%d: %s has no %s" % (
                FILES[module], node.lineno, imported[node.value.id].__name__, node.attr)
