# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lists the collection's module_utils that Ansible ships in each module's payload (AnsiballZ).

Each module runs once against localhost with its remote files kept; the zip inside the kept AnsiballZ file
is read. Usage: python tests/tools/module_payloads.py [--json]. Needs ansible-core and this collection on
ANSIBLE_COLLECTIONS_PATH (lab/lib.sh sets both up).
"""

from __future__ import absolute_import, division, print_function

import base64
import glob
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "ansible_collections/pgops/backup/plugins/module_utils/"


def modules():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                  if not p.endswith("__init__.py"))


def payload(module):
    """The module_utils files (relative to module_utils) in the module's AnsiballZ zip."""
    tmp = tempfile.mkdtemp(prefix="payload-")
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=tmp, ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    subprocess.run(["ansible", "localhost", "-c", "local", "-m", "pgops.backup." + module],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    files = glob.glob(os.path.join(tmp, "*", "AnsiballZ_%s.py" % module))
    if not files:
        raise SystemExit("no AnsiballZ file kept for %s under %s" % (module, tmp))
    with open(files[0]) as handle:
        text = handle.read()
    # ansible-core 2.19 and later: zip_data='...'; older: ZIPDATA = """..."""
    data = re.search(r"(?:zip_data=|ZIPDATA = )[rb]*(?:'|\"\"\")([A-Za-z0-9+/=\s]+)", text).group(1)
    names = zipfile.ZipFile(io.BytesIO(base64.b64decode("".join(data.split())))).namelist()
    subprocess.run(["rm", "-rf", tmp], check=False)
    return sorted(n[len(PREFIX):] for n in names if n.startswith(PREFIX) and n.endswith(".py")
                  and not n.endswith("__init__.py"))


def main(argv):
    result = dict((module, payload(module)) for module in modules())
    if "--json" in argv:
        json.dump(result, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    total = len([p for p in glob.glob(os.path.join(ROOT, "plugins", "module_utils", "**", "*.py"), recursive=True)
                 if not p.endswith("__init__.py")])
    for module, files in result.items():
        print("%-20s %2d of %d module_utils: %s" % (module, len(files), total, " ".join(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
