#!/usr/bin/env bash
# Prints the monitoring check's own run time and peak memory with a 10,000-file repository listing, on a
# converged monitoring lab (molecule converge -s monitoring). A benchmark, not a test.
#   repository: 10,000 more WAL objects in mon-bookworm's S3 archive (read by pgbackrest info)
#   local:      10,000 logical-backup manifests on mon-trixie (read from the newest label back)
# Each is measured with a fresh listing (the inventory and tool-check caches dropped) and with the cached one.
# Usage: lab/bench/monitor-check.sh [COUNT]   (the objects and manifests it adds are removed at the end)
set -euo pipefail
COUNT=${1:-10000}

# The check run twice in the host's own Python, as the timer runs it (postgres, the installed library).
MEASURE=$(cat <<'PY'
import json, resource, sys, time
sys.path.insert(0, "/usr/local/lib/pgops-backup")
from ansible_collections.pgops.backup.plugins.module_utils.monitoring import monitor
from pgops_backup_host import LocalHost
state_path = "/var/lib/pgops-backup/monitor/state.json"
for label, fresh in (("fresh listing", True), ("cached listing", False)):
    if fresh:
        with open(state_path) as f:
            state = json.load(f)
        state.pop("inventory", None)
        state.pop("tool_check", None)
        with open(state_path, "w") as f:
            json.dump(state, f)
    started = time.time()
    rc = monitor.main(["/etc/pgops-backup/monitor.json"], LocalHost())
    print("  %-15s %6.2f s  exit %d  check's peak RSS %5.1f MB  tools' peak RSS %5.1f MB" % (
        label, time.time() - started, rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0))
PY
)

OBJECTS=$(cat <<'PY'
import json, sys, boto3, concurrent.futures as cf
count, action = int(sys.argv[1]), sys.argv[2]
lab = json.load(open("/root/.pgops-lab-s3.json"))
s3 = boto3.client("s3", endpoint_url=lab["endpoint"], region_name="us-east-1", aws_access_key_id=lab["access_key"],
                  aws_secret_access_key=lab["secret_key"], verify="/etc/ssl/certs/ca-certificates.crt")
prefix = "mon-bookworm/archive/main/15-1/"
# segments of a timeline no cluster here uses: pgbackrest info lists them, nothing restores them
keys = ["%s%s/%s-%s.zst" % (prefix, n[:16], n, "0" * 40)
        for n in ("000000FF%08X%08X" % (log, seg) for log in range(0x10, 0x10 + count // 250 + 1)
                  for seg in range(250))][:count]
with cf.ThreadPoolExecutor(32) as pool:
    if action == "add":
        list(pool.map(lambda k: s3.put_object(Bucket="pgops-pgbackrest", Key=k, Body=b"x"), keys))
    else:
        list(pool.map(lambda k: s3.delete_object(Bucket="pgops-pgbackrest", Key=k), keys))
PY
)

MANIFESTS=$(cat <<'PY'
import json, os, sys, time
count, root = int(sys.argv[1]), "/var/backups/pgops/logical"
now = time.time()
for i in range(count):
    finished = now - 86400 * 3 - i * 60
    label = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(finished - 60))
    path = os.path.join(root, label)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump({"kind": "logical", "label": label, "status": "complete",
                   "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished - 60)),
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
                   "duration_seconds": 60.0, "server_version": "17", "files": []}, f)
PY
)

echo "monitoring check with $COUNT files to list, $(nproc) cores"
echo "mon-bookworm, $COUNT more WAL objects in its S3 archive:"
docker exec mon-bookworm python3 -c "$OBJECTS" "$COUNT" add
docker exec mon-bookworm runuser -u postgres -- python3 -c "$MEASURE" | grep -v '^[a-z_]*:' || true
docker exec mon-bookworm python3 -c "$OBJECTS" "$COUNT" remove

echo "mon-trixie, $COUNT logical-backup manifests:"
docker exec mon-trixie sh -c "rm -rf /var/backups/pgops/logical.bench && mv /var/backups/pgops/logical /var/backups/pgops/logical.bench 2>/dev/null; install -d -o postgres -g postgres /var/backups/pgops/logical"
docker exec mon-trixie runuser -u postgres -- python3 -c "$MANIFESTS" "$COUNT"
docker exec mon-trixie runuser -u postgres -- python3 -c "$MEASURE" | grep -v '^[a-z_]*:' || true
docker exec mon-trixie sh -c "rm -rf /var/backups/pgops/logical && { mv /var/backups/pgops/logical.bench /var/backups/pgops/logical 2>/dev/null || true; }"
