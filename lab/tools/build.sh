#!/usr/bin/env bash
# Builds the lab's MinIO and wal-g from the Go module proxy at pinned versions and caches the binaries
# by version under $PGOPS_CACHE/tools. Prints nothing but log lines; a second run reuses the cache.
source "$(dirname "$0")/../lib.sh"
source "$LAB_DIR/tools/versions.env"

TOOLS_DIR="$PGOPS_CACHE/tools"
export GOPATH=${GOPATH:-$PGOPS_CACHE/go} GOFLAGS=-mod=mod GOTOOLCHAIN=local
command -v go >/dev/null 2>&1 || apt_install golang-go

build_minio() {
  local out="$TOOLS_DIR/minio-$MINIO_VERSION"
  [ -x "$out/minio" ] && { log "minio $MINIO_VERSION cached"; return 0; }
  log "building minio $MINIO_VERSION (about 3 minutes)"
  mkdir -p "$out.tmp"
  CGO_ENABLED=0 GOBIN="$out.tmp" go install "github.com/minio/minio@$MINIO_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# wal-g is built from our own module (lab/tools/walg): go.sum pins every download.
build_walg() {
  local sum out
  sum=$(sha256_of "$LAB_DIR/tools/walg/go.mod" "$LAB_DIR/tools/walg/go.sum")
  out="$TOOLS_DIR/walg-$WALG_VERSION-$sum"
  [ -x "$out/wal-g" ] && { log "wal-g $WALG_VERSION cached"; return 0; }
  apt_install libsodium-dev pkg-config gcc
  log "building wal-g $WALG_VERSION (about a minute)"
  mkdir -p "$out.tmp"
  (cd "$LAB_DIR/tools/walg" && GONOSUMDB=github.com/wal-g/wal-g GOFLAGS=-mod=readonly CGO_ENABLED=1 \
    go build -tags 'libsodium netgo osusergo' -ldflags '-s -w -linkmode external -extldflags "-static"' \
      -o "$out.tmp/wal-g" github.com/wal-g/wal-g/main/pg)
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Paths the other scripts read: one line per tool.
write_paths() {
  local walg
  walg=$(ls -d "$TOOLS_DIR"/walg-"$WALG_VERSION"-* | head -n1)
  cat > "$TOOLS_DIR/paths.env" <<PATHS
PGOPS_MINIO_BINARY=$TOOLS_DIR/minio-$MINIO_VERSION/minio
PGOPS_LAB_WALG_BINARY=$walg/wal-g
PGOPS_LAB_WALG_VERSION=$WALG_VERSION
PATHS
}

mkdir -p "$TOOLS_DIR"
build_walg
build_minio
# keep only the current builds: old versions are dead weight of 150 MB each
find "$TOOLS_DIR" -mindepth 1 -maxdepth 1 -type d \
  ! -name "minio-$MINIO_VERSION" ! -name "walg-$WALG_VERSION-*" -exec rm -rf {} +
write_paths
log "tools ready: $TOOLS_DIR/paths.env"
