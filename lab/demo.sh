#!/usr/bin/env bash
# The main job against a local lab: `lab/demo.sh up` builds what is missing, starts a database host
# (with sample data), a repository host and MinIO, runs playbooks/site.yml with lab/demo/inventory.yml,
# takes a backup into both repositories and restores it. `lab/demo.sh down` removes the lab.
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR" || exit 1

case "${1:-up}" in
  up)
    ensure_ready || die "could not install the Python dependencies"
    ensure_lab || die "could not build the lab"
    { molecule create -s demo && molecule prepare -s demo --force; } || die "the demo lab did not come up"
    log "running playbooks/site.yml against the demo lab"
    ansible-playbook -i lab/demo/inventory.yml playbooks/site.yml || die "site.yml failed"
    ansible-playbook -i lab/demo/inventory.yml lab/demo/show.yml || die "backup or restore check failed"
    log "demo lab is up: docker exec -it demo-db bash; remove it with: make demo-clean"
    ;;
  down)
    ensure_ready || die "could not install the Python dependencies"
    set -a; [ -f "$PGOPS_CACHE/tools/paths.env" ] && source "$PGOPS_CACHE/tools/paths.env"; set +a
    molecule destroy -s demo
    ;;
  *) die "usage: lab/demo.sh up|down" ;;
esac
