#!/usr/bin/env bash
# Builds the lab's MinIO and wal-g from the Go module proxy at pinned versions and caches the binaries
# by version under $PGOPS_CACHE/tools. Prints nothing but log lines; a second run reuses the cache.
source "$(dirname "$0")/../lib.sh"
source "$LAB_DIR/tools/versions.env"

TOOLS_DIR="$PGOPS_CACHE/tools"
export GOPATH=${GOPATH:-$PGOPS_CACHE/go} GOFLAGS=-mod=mod GOTOOLCHAIN=local
# The pinned modules need Go 1.21 or later (Debian 12's golang-go is 1.19): install one from go.dev's
# instructions or your distribution's backports, and put it on PATH.
command -v go >/dev/null 2>&1 || die "Go 1.21 or later is needed to build MinIO and wal-g; none is on PATH"
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[ "${go_minor:-0}" -ge 21 ] || die "Go 1.21 or later is needed to build MinIO and wal-g; $(go env GOVERSION) is on PATH"

build_minio() {
  local out="$TOOLS_DIR/minio-$MINIO_VERSION"
  [ -x "$out/minio" ] && { log "minio $MINIO_VERSION cached"; return 0; }
  log "building minio $MINIO_VERSION (about 3 minutes)"
  mkdir -p "$out.tmp"
  CGO_ENABLED=0 GOBIN="$out.tmp" go install "github.com/minio/minio@$MINIO_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# wal-g is built from our own module (lab/tools/walg): go.sum pins every download. Besides the binary,
# a release-shaped tarball with its .sha256, as upstream publishes them, for the role's download path.
WALG_ASSET=wal-g-pg-ubuntu-20.04-amd64
build_walg() {
  local sum out
  sum=$(sha256_of "$LAB_DIR/tools/walg/go.mod" "$LAB_DIR/tools/walg/go.sum" "$LAB_DIR/tools/build.sh")
  out="$TOOLS_DIR/walg-$WALG_VERSION-$sum"
  WALG_DIR=$out
  [ -x "$out/wal-g" ] && [ -s "$out/release/$WALG_ASSET.tar.gz.sha256" ] && { log "wal-g $WALG_VERSION cached"; return 0; }
  apt_install libsodium-dev pkg-config gcc
  log "building wal-g $WALG_VERSION (about a minute)"
  mkdir -p "$out.tmp"
  (cd "$LAB_DIR/tools/walg" && GONOSUMDB=github.com/wal-g/wal-g GOFLAGS=-mod=readonly CGO_ENABLED=1 \
    go build -tags 'libsodium netgo osusergo' \
      -ldflags "-s -w -linkmode external -extldflags -static -X github.com/wal-g/wal-g/cmd/pg.walgVersion=$WALG_VERSION" \
      -o "$out.tmp/wal-g" github.com/wal-g/wal-g/main/pg)
  mkdir -p "$out.tmp/release/pack"
  cp "$out.tmp/wal-g" "$out.tmp/release/pack/$WALG_ASSET"
  tar -C "$out.tmp/release/pack" -czf "$out.tmp/release/$WALG_ASSET.tar.gz" "$WALG_ASSET"
  rm -rf "$out.tmp/release/pack"
  (cd "$out.tmp/release" && sha256sum "$WALG_ASSET.tar.gz" >"$WALG_ASSET.tar.gz.sha256")
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# Paths the other scripts read: one line per tool.
write_paths() {
  local walg=$WALG_DIR
  cat > "$TOOLS_DIR/paths.env" <<PATHS
PGOPS_MINIO_BINARY=$TOOLS_DIR/minio-$MINIO_VERSION/minio
PGOPS_LAB_WALG_BINARY=$walg/wal-g
PGOPS_LAB_WALG_VERSION=$WALG_VERSION
PGOPS_LAB_WALG_RELEASE_DIR=$walg/release
PATHS
}

mkdir -p "$TOOLS_DIR"
build_walg
build_minio
# keep only the current builds: old versions are dead weight of 150 MB each
find "$TOOLS_DIR" -mindepth 1 -maxdepth 1 -type d \
  ! -name "minio-$MINIO_VERSION" ! -name "$(basename "$WALG_DIR")" -exec rm -rf {} +
write_paths
log "tools ready: $TOOLS_DIR/paths.env"
