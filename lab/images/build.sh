#!/usr/bin/env bash
# Builds the lab's systemd base images with debootstrap and `docker import`, one per Debian release:
#   pgops-lab/debian:<release>-<recipe hash>, tagged pgops-lab/debian:<release> for Molecule.
# An image is rebuilt only when its recipe (this script, packages.txt, the release) changes.
# Usage: lab/images/build.sh [bookworm trixie bullseye]
source "$(dirname "$0")/../lib.sh"

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
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  mount -t proc proc "$rootfs/proc"
  mount --bind /dev "$rootfs/dev"
  trap 'umount "$rootfs/proc" "$rootfs/dev" 2>/dev/null || true' RETURN
  log "$release: installing $(packages_for "$release" | wc -l) packages"
  # shellcheck disable=SC2046
  chroot "$rootfs" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $(packages_for "$release" | tr '\n' ' ')" >>"$rootfs.log" 2>&1 \
    || die "package install on $release failed; see $rootfs.log"
  chroot "$rootfs" apt-get clean
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  configure_for_containers "$rootfs"
}

# What a systemd container needs: no hardware units, a fresh machine id and SSH host keys per container.
configure_for_containers() {
  local rootfs=$1 unit
  : >"$rootfs/etc/machine-id"
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  cat >"$rootfs/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys for this container
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf /etc/systemd/system/ssh-host-keys.service "$rootfs/etc/systemd/system/multi-user.target.wants/"
  for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
      systemd-modules-load.service systemd-remount-fs.service getty.target console-getty.service \
      sys-kernel-debug.mount sys-kernel-tracing.mount systemd-firstboot.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
}

build_image() {
  local release=$1 hash tag rootfs
  hash=$(sha256_of "$LAB_DIR/images/build.sh" "$LAB_DIR/images/packages.txt" <(echo "$release $MIRROR"))
  tag="pgops-lab/debian:$release-$hash"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$release: $tag cached"
  else
    rootfs="$PGOPS_CACHE/images/$release-rootfs"
    as_root rm -rf "$rootfs" && mkdir -p "$rootfs"
    build_rootfs "$release" "$rootfs"
    log "$release: importing $tag"
    tar -C "$rootfs" -c . | docker import -c 'CMD ["/sbin/init"]' - "$tag" >/dev/null
    as_root rm -rf "$rootfs" "$rootfs.log"
  fi
  docker tag "$tag" "pgops-lab/debian:$release"
  # older recipes of this release are dead weight
  docker images --format '{{.Repository}}:{{.Tag}}' "pgops-lab/debian" \
    | grep "^pgops-lab/debian:$release-" | grep -v "^$tag\$" | xargs -r docker rmi >/dev/null || true
}

apt_install debootstrap debian-archive-keyring
ensure_docker
for release in "${RELEASES[@]}"; do build_image "$release"; done
docker images pgops-lab/debian --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}'
