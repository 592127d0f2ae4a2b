# Managed by pgops.backup (monitoring role): starts the monitoring check, which is the collection's
# module_utils/monitor.py installed under /usr/local/lib/pgops-backup. Run by /usr/local/bin/pgops-backup-monitor.
import sys

sys.path.insert(0, "/usr/local/lib/pgops-backup")

from ansible_collections.pgops.backup.plugins.module_utils.monitor import main  # noqa: E402 pylint: disable=wrong-import-position

sys.exit(main())
