# Shared helpers for the lab scripts. Source it; do not run it.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAB_DIR")
# Everything built (images aside) lives outside the repo, keyed by version or recipe hash.
PGOPS_CACHE=${PGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgops-backup}
export PGOPS_CACHE

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  # one apt at a time: the images and the tools build side by side, each installing what it needs
  as_root flock /var/lib/apt/pgops-lab.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null' apt_install "${missing[@]}"
}

# The Docker engine: Debian's docker.io, started in the background when no daemon answers.
ensure_docker() {
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  mkdir -p "$PGOPS_CACHE"
  as_root sh -c "nohup dockerd >'$PGOPS_CACHE/dockerd.log' 2>&1 &"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "dockerd did not answer within 60 s; see $PGOPS_CACHE/dockerd.log"
}

# Lab networks are internal: containers reach each other, never the outside.
ensure_network() {
  local name=$1
  docker network inspect "$name" >/dev/null 2>&1 || docker network create --internal "$name" >/dev/null
}

# The controller's Python environment: .venv with requirements.txt (see ensure_ready), this collection on the path.
VENV=$REPO_DIR/.venv
export PATH="$VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO_DIR/.cache/collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 ANSIBLE_NOCOLOR=1
# a module run is one `docker exec`, not five (temp dir, copy, chmod, run, clean-up): a converged demo's site.yml
# takes 62 s instead of 86
export ANSIBLE_PIPELINING=1

ensure_ready() {
  apt_install rsync git
  # Debian's python3 needs python3-venv for `python3 -m venv`; pyenv's and others' have it built in
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  # The virtualenv is kept beside the lab's images, one per requirements.txt and Python, and .venv links to it:
  # CI's fresh clone built it again before any scenario could start. A virtualenv cannot move (its
  # scripts name its path), so it is built where it stays, under a lock against a second checkout doing the same.
  local key cached
  key=$(cat "$REPO_DIR/requirements.txt" <(python3 -VV) | sha256sum | cut -c1-12)
  cached=$PGOPS_CACHE/venv-controller-$key
  mkdir -p "$PGOPS_CACHE"
  (
    flock 9
    if [ ! -e "$cached/.installed" ]; then
      log "installing the controller's Python dependencies into $cached (.venv links to it)"
      rm -rf "$cached" && python3 -m venv "$cached" && "$cached/bin/pip" install -q --upgrade pip && \
        "$cached/bin/pip" install -q -r "$REPO_DIR/requirements.txt" && touch "$cached/.installed"
    fi
  ) 9>"$cached.lock" || return 1
  if [ "$(readlink "$VENV" 2>/dev/null)" != "$cached" ]; then
    # a .venv of an earlier layout (a directory of its own) or a link to another requirements' virtualenv
    rm -rf "$VENV" && ln -s "$cached" "$VENV" || return 1
  fi
  mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/pgops"
  ln -sfn "$REPO_DIR" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/pgops/backup"
}

ensure_lab() {
  apt_install rsync git openssl
  bash "$LAB_DIR"/pki.sh || return 1
  # side by side on a fresh machine: the images wait on the mirror and the disk, the tools on the CPU (Go)
  local tools rc=0
  bash "$LAB_DIR"/tools/build.sh & tools=$!
  bash "$LAB_DIR"/images/build.sh || rc=1
  wait "$tools" || rc=1
  [ "$rc" -eq 0 ] && lab_env
}

# The lab's paths (the MinIO binary, wal-g's release) for Molecule, from the last ensure_lab
lab_env() { set -a; source "$PGOPS_CACHE/tools/paths.env"; set +a; }


sha256_of() { cat "$@" | sha256sum | cut -c1-12; }
