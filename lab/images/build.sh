#!/usr/bin/env bash
# Builds the lab's systemd base images with debootstrap and `docker import`, one per Debian release:
#   pgops-lab/debian:<release>-<recipe hash>, tagged pgops-lab/debian:<release> for Molecule.
# An image is rebuilt only when its recipe changes: packages.txt, container-setup.sh, the release, the mirror.
# Usage: lab/images/build.sh [bookworm trixie bullseye]
source "$(dirname "$0")/../lib.sh"
source "$LAB_DIR/images/container-setup.sh"

MIRROR=${PGOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(bookworm trixie bullseye)

packages_for() {
  local release=$1
  grep -v '^\s*#' "$LAB_DIR/images/packages.txt" | awk -v r="@$release" 'NF==1 || $2==r {print $1}'
}

build_rootfs() {
  local release=$1 rootfs=$2
  log "$release: debootstrap (about a minute)"
  as_root debootstrap --variant=minbase "$release" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
    || die "debootstrap $release failed; see $rootfs.log"
  # No service may start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' | as_root tee "$rootfs/usr/sbin/policy-rc.d" >/dev/null
  as_root chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  as_root mount -t proc proc "$rootfs/proc"
  as_root mount --bind /dev "$rootfs/dev"
  # on any exit, die included: a rootfs deleted with /dev still bound in it would delete the host's /dev
  trap 'unmount_rootfs "$rootfs"' EXIT
  log "$release: installing $(packages_for "$release" | wc -l) packages"
  # shellcheck disable=SC2046
  as_root chroot "$rootfs" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $(packages_for "$release" | tr '\n' ' ')" >>"$rootfs.log" 2>&1 \
    || die "package install on $release failed; see $rootfs.log"
  as_root chroot "$rootfs" apt-get clean
  unmount_rootfs "$rootfs"
  trap - EXIT
  as_root rm -f "$rootfs/usr/sbin/policy-rc.d"
  configure_for_containers "$rootfs"
}

unmount_rootfs() {
  as_root umount "$1/proc" 2>/dev/null || true
  as_root umount "$1/dev" 2>/dev/null || true
}

build_image() {
  local release=$1 hash tag rootfs
  hash=$(sha256_of "$LAB_DIR/images/packages.txt" "$LAB_DIR/images/container-setup.sh" <(echo "$release $MIRROR"))
  tag="pgops-lab/debian:$release-$hash"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$release: $tag cached"
  else
    rootfs="$PGOPS_CACHE/images/$release-rootfs"
    unmount_rootfs "$rootfs"
    as_root rm -rf --one-file-system "$rootfs" && mkdir -p "$rootfs"
    build_rootfs "$release" "$rootfs"
    log "$release: importing $tag"
    tar -C "$rootfs" -c . | docker import -c 'CMD ["/sbin/init"]' - "$tag" >/dev/null
    as_root rm -rf --one-file-system "$rootfs" "$rootfs.log"
  fi
  docker tag "$tag" "pgops-lab/debian:$release"
  # older recipes of this release are dead weight
  docker images --format '{{.Repository}}:{{.Tag}}' "pgops-lab/debian" \
    | grep "^pgops-lab/debian:$release-" | grep -v "^$tag\$" | xargs -r docker rmi >/dev/null || true
}

apt_install debootstrap debian-archive-keyring
ensure_docker
# side by side: each waits mostly on the mirror and the disk (a fresh machine built them one by one in 13 minutes)
pids=()
for release in "${RELEASES[@]}"; do ( build_image "$release" ) & pids+=($!); done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
[ "$rc" -eq 0 ] || die "an image did not build (its log is named above)"
docker images pgops-lab/debian --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}'
