# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The encryption key of each repository: a key already in use on a host is never replaced.

Before anything on a host changes, the role reads the keys its hosts use (the tool's configuration, read by the
tool's driver) and the controller's copies in pg_backup_secrets_dir, and ``plan`` decides for every repository:

- a key in use is kept, and taken back into the controller's secrets directory when the copy there is missing;
- another key there, or in the policy, is refused: naming the repository, the host and the controller's file;
- hosts of one stanza (a database host and its repository host) that disagree are refused, naming each key's place;
- a repository with no key anywhere gets a new one, kept on the controller in a directory of its database host.

A key is matched to a repository by where the repository stores (its path on a host, or its bucket and prefix),
not by its number or name, so a reordered or renamed repository keeps its key. No message holds a key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os

from ansible_collections.pgops.backup.plugins.module_utils.core.errors import ToolError
from ansible_collections.pgops.backup.plugins.module_utils.drivers import pgbackrest, walg

# length of a generated key: pgBackRest's passphrase; wal-g's 32 plain characters, read alike by every wal-g
GENERATED_LENGTH = {"pgbackrest": 64, "walg": 32}


def _controller_name(tool, stanza, repository):
    if tool == "walg":
        return "%s-walg.libsodium-key" % stanza
    return "%s-%s.passphrase" % (stanza, repository["name"])


def _retired_name(tool, stanza, location):
    """The controller file of a key in use for a location that is in no repository of the policy any more."""
    digest = hashlib.sha256(repr(tuple(location)).encode("utf-8")).hexdigest()[:12]
    return "%s-retired-%s.%s" % (stanza, digest, "libsodium-key" if tool == "walg" else "passphrase")


def controller_files(policy, secrets_dir, host):
    """Every encrypted repository with its controller files: first the one of this database host
    (``secrets_dir/host/...``), then the one shared by the stanza's hosts before keys were kept per host; and the
    length of a key generated for it. [{'name', 'files', 'length'}]"""
    if policy["tool"] not in GENERATED_LENGTH:
        return []
    result = []
    for repository in policy["repositories"]:
        if repository["encrypt"]:
            name = _controller_name(policy["tool"], policy["stanza"], repository)
            result.append({"name": repository["name"], "length": GENERATED_LENGTH[policy["tool"]],
                           "files": [os.path.join(secrets_dir, host, name), os.path.join(secrets_dir, name)]})
    return result


def _where(entry):
    return "%s:%s (%s)" % (entry["host"], entry["path"], entry["option"])


def _read(policy, configs):
    """The keys in use in the hosts' configurations, each with its host, file and comparable material;
    and the refusals for files that cannot be read."""
    found, refusals = [], []
    for config in configs:
        try:
            if policy["tool"] == "walg":
                entries = walg.keys_in_use(config["text"])
            else:
                entries = pgbackrest.keys_in_use(config["text"], policy["stanza"], config["host"])
        except ToolError as exc:
            refusals.append("%s:%s: %s." % (config["host"], config["path"], exc))
            continue
        for entry in entries:
            entry = dict(entry, host=config["host"], path=config["path"])
            entry.setdefault("material", entry["key"])
            found.append(entry)
    return found, refusals


def _repositories(policy, storing_host, explicit_key):
    """The policy's repositories as decide() takes them."""
    result = []
    for position, repository in enumerate(policy["repositories"]):
        variable = "pg_backup_repositories[%d]" % position
        if policy["tool"] == "walg":
            label = "wal-g repository %r of stanza %s" % (repository["name"], policy["stanza"])
            location = walg.repository_location(repository)
            key, key_variable = explicit_key or None, "walg_libsodium_key"
        else:
            label = "repository %r (repo%d) of stanza %s" % (repository["name"], repository["index"], policy["stanza"])
            location = pgbackrest.repository_location(repository, storing_host)
            key, key_variable = repository["cipher_passphrase"], variable + ".cipher_passphrase"
        result.append({"name": repository["name"], "label": label, "location": location,
                       "encrypt": repository["encrypt"], "key": key, "key_variable": key_variable,
                       "encrypt_variable": variable + ".encrypt"})
    return result


def plan(policy, configs, controller, new_keys, host, secrets_dir, storing_host=None, explicit_key=None):
    """Which key every encrypted repository of the policy uses, for database host ``host``.

    configs: the tool's configuration files found on the stanza's hosts, [{'host', 'path', 'text'}];
    controller: the text of each controller file (controller_files) that exists, {path: text};
    new_keys: a fresh key for each encrypted repository, {name: key}, used only where no key exists anywhere;
    storing_host: the host that holds posix repositories (a repository host), ``host`` when None;
    explicit_key: wal-g's walg_libsodium_key (pgBackRest's own are in the policy, cipher_passphrase).
    Returns {'keys': {name: key}, 'record': [{'path', 'key', 'source'}], 'refusals': [message]}.
    """
    if policy["tool"] == "walg" and explicit_key:
        try:
            walg.libsodium_key_transform(explicit_key)
        except ToolError as exc:
            return {"keys": {}, "record": [], "refusals": [str(exc)]}
    in_use, refusals = _read(policy, configs)
    files = dict((c["name"], c["files"]) for c in controller_files(policy, secrets_dir, host))
    material = walg.key_material if policy["tool"] == "walg" else (lambda key: key)

    def retired_file(location):
        return os.path.join(secrets_dir, host, _retired_name(policy["tool"], policy["stanza"], location))

    decided = decide(_repositories(policy, storing_host or host, explicit_key), in_use, files, controller,
                     new_keys, material, retired_file)
    decided["refusals"] = refusals + decided["refusals"]
    return decided


def decide(repositories, in_use, files, controller, new_keys, material, retired_file):
    """The pure decision of plan().

    repositories: [{'name', 'label', 'location', 'encrypt', 'key' (the policy's own, or None), 'key_variable',
    'encrypt_variable'}]; in_use: [{'host', 'path', 'option', 'location', 'key', 'material'}];
    files: {name: [the host's controller file, the older shared one]}; controller: {path: text};
    material: what a key encrypts with, for comparing a key from the policy or the controller with those in use;
    retired_file: the controller file for a key in use at a location no repository of the policy has any more (the
    tool's configuration will not hold it after this run, and its backups are still there).
    """
    keys, record, refusals = {}, [], []
    for repository in repositories:
        here = [entry for entry in in_use if repository["location"] is not None
                and tuple(entry["location"]) == tuple(repository["location"])]
        distinct = []
        for entry in here:
            if entry["material"] not in [e["material"] for e in distinct]:
                distinct.append(entry)
        if not repository["encrypt"]:
            if distinct:
                refusals.append(
                    "%s is encrypted with the key in %s, and the policy says encrypt: false (%s): its backups could "
                    "not be read without that key. Set %s to true, or point the repository at a new location."
                    % (repository["label"], _where(distinct[0]), repository["encrypt_variable"],
                       repository["encrypt_variable"]))
            continue
        if len(distinct) > 1:
            refusals.append(
                "%s is encrypted with different keys in %s; the role will not pick one. Keep in both the key the "
                "repository was created with (the one with which pgbackrest info or wal-g backup-list reads it)."
                % (repository["label"], " and ".join(_where(e) for e in distinct)))
            continue
        own, stored = files.get(repository["name"], [None]), None
        for path in own:
            if path in controller:
                stored = path
                break
        if repository["key"]:
            wanted, source = repository["key"], repository["key_variable"]
            remedy = "Set %s to the host's key (or leave it unset: the role then keeps the host's)" % source
        elif stored:
            wanted, source = controller[stored].strip(), stored
            remedy = "Put the host's key into %s (or remove that file: the role then takes the host's key back)" % source
        else:
            wanted = source = remedy = None
        if distinct:
            used = distinct[0]
            if wanted and material(wanted) != used["material"]:
                refusals.append(
                    "%s is encrypted with the key in %s, and %s holds another: with a changed key every backup and "
                    "WAL file in it would be unreadable, so the role keeps the host's. %s, or point the repository "
                    "at a new location to start it afresh with a new key."
                    % (repository["label"], _where(used), source, remedy))
                continue
            keys[repository["name"]] = repository["key"] or used["key"]
            if not repository["key"] and own[0] not in controller:
                record.append({"path": own[0], "key": used["key"], "source": "taken back from %s" % _where(used)})
        elif wanted:
            keys[repository["name"]] = wanted
            if not repository["key"] and stored != own[0]:
                record.append({"path": own[0], "key": wanted, "source": "copied from %s" % stored})
        elif new_keys.get(repository["name"]):
            keys[repository["name"]] = new_keys[repository["name"]]
            record.append({"path": own[0], "key": new_keys[repository["name"]],
                           "source": "generated: no host and no controller file holds a key for it"})
        else:
            refusals.append("%s has no key anywhere and none was generated for it." % repository["label"])
    kept = set(material(key) for key in keys.values()) | set(material(text.strip()) for text in controller.values())
    locations = set(tuple(r["location"]) for r in repositories if r["location"] is not None)
    for entry in in_use:
        if tuple(entry["location"]) in locations or entry["material"] in kept:
            continue
        kept.add(entry["material"])
        record.append({"path": retired_file(entry["location"]), "key": entry["key"],
                       "source": "kept from %s: the key of %s, a repository no longer in the policy"
                                 % (_where(entry), " ".join(str(part) for part in entry["location"]))})
    return {"keys": keys, "record": record, "refusals": refusals}
