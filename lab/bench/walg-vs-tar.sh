#!/usr/bin/env bash
# Prints how long wal-g backup-push and backup-fetch take against `tar -cf` of the same data directory,
# on one host of a converged walg lab (molecule converge -s walg). A benchmark, not a test.
# Usage: lab/bench/walg-vs-tar.sh [HOST] [PGBENCH_SCALE]
set -euo pipefail
HOST=${1:-walg-bullseye}
SCALE=${2:-30}

docker exec -i "$HOST" bash -s "$SCALE" <<'BENCH'
set -euo pipefail
scale=$1
as_pg() { sudo -u postgres "$@"; }
seconds() { local t0; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; python3 -c "print($(date +%s.%N) - $t0)"; }
data=$(as_pg psql -XAtc 'SHOW data_directory')
as_pg dropdb --if-exists bench && as_pg createdb bench
as_pg /usr/lib/postgresql/*/bin/pgbench -q -i -s "$scale" bench >/dev/null 2>&1
as_pg psql -XAtc 'CHECKPOINT' >/dev/null
size=$(du -sm "$data" | cut -f1)
rm -rf /var/tmp/bench.tar /var/tmp/bench-fetch
tar_s=$(seconds tar -cf /var/tmp/bench.tar -C "$data" .)
push_s=$(seconds as_pg /usr/local/bin/wal-g backup-push --full "$data")
fetch_s=$(seconds as_pg /usr/local/bin/wal-g backup-fetch /var/tmp/bench-fetch LATEST)
fetched=$(du -sm /var/tmp/bench-fetch | cut -f1)
rm -rf /var/tmp/bench.tar /var/tmp/bench-fetch
as_pg dropdb bench
printf 'host %s, data directory %s MB (pgbench scale %s), %s cores\n' "$(hostname)" "$size" "$scale" "$(nproc)"
printf '%-28s %8.2f s\n' "tar -cf (local disk)" "$tar_s" "wal-g backup-push --full" "$push_s" \
  "wal-g backup-fetch LATEST" "$fetch_s"
printf 'backup-fetch restored %s MB\n' "$fetched"
BENCH
