#!/usr/bin/env bash
# Runs every check of the collection and ends with one line "N passed, N failed".
#   tests/run.sh                 every step
#   tests/run.sh unit molecule:pgbackrest   only these steps
# Steps: sanity, lint, unit, molecule:<scenario> for every scenario under molecule/ (but demo), demo.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
source lab/lib.sh
set +e

SANITY_VENV=$REPO/.cache/venv-sanity

scenarios() {
  for f in molecule/*/molecule.yml; do
    s=$(basename "$(dirname "$f")")
    [ "$s" = demo ] || echo "molecule:$s"
  done
}

step_sanity() {
  # ansible-test wants the collection under ansible_collections/<ns>/<name> and its own venv: its pinned
  # linters must not replace what molecule and ansible-lint run on.
  # outside the repo: inside it, ansible-test would ask the repo's git, which ignores .cache/
  local core version root="$PGOPS_CACHE/sanity/ansible_collections/pgops/backup"
  [ -x "$SANITY_VENV/bin/ansible-test" ] || {
    python3 -m venv "$SANITY_VENV" && "$SANITY_VENV/bin/pip" install -q "$(grep '^ansible-core' requirements.txt)"
  } || return 1
  core=$("$SANITY_VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)')
  mkdir -p ~/.ansible/test/cache
  for version in 24_2 25_2; do cp "$REPO/../shared/offline/get_pip.py" ~/.ansible/test/cache/get_pip_$version.py; done
  rm -rf "$root" && mkdir -p "$root"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$root/"
  # ansible-test lists its targets with git: give the copy an index of exactly these files
  (cd "$root" && git init -q && git add -A) || return 1
  log "ansible-test sanity with ansible-core $core"
  (cd "$root" && "$SANITY_VENV/bin/ansible-test" sanity --local --requirements \
      --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
}

step_lint() { ansible-lint --profile production --offline; }

step_unit() { python -m pytest -q tests/unit; }

step_molecule() { molecule test -s "$1"; }

# The README's main command, end to end, then its clean-up.
step_demo() {
  local rc
  bash lab/demo.sh up; rc=$?
  bash lab/demo.sh down || rc=1
  return $rc
}

if [ "${1:-}" = "--lab-only" ]; then ensure_lab; exit $?; fi

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(sanity lint unit $(scenarios) demo)
started=$(date +%s)
ensure_ready || die "could not install the Python dependencies"
for s in "${steps[@]}"; do
  case "$s" in molecule:*|demo) ensure_lab || die "could not build the lab"; break ;; esac
done

passed=0 failed=0 report=()
for s in "${steps[@]}"; do
  log "=== $s"
  t0=$(date +%s)
  case "$s" in
    molecule:*) step_molecule "${s#molecule:}" ;;
    sanity|lint|unit|demo) "step_$s" ;;
    *) log "unknown step $s"; false ;;
  esac
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); report+=("PASS $s (${secs}s)")
  else failed=$((failed + 1)); report+=("FAIL $s (${secs}s, exit $rc)"); fi
done

printf '\n'
printf '%s\n' "${report[@]}"
printf 'total wall time: %ss\n' "$(( $(date +%s) - started ))"
printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
