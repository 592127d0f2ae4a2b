#!/usr/bin/env bash
# Runs every check of the collection and ends with one line "N passed, N failed".
#   tests/run.sh                 every step
#   tests/run.sh unit molecule:pgbackrest   only these steps
# Steps: sanity (both sanity-<core> below), lint, unit, molecule:<scenario> for every scenario under
# molecule/ (but demo), demo.
# The container steps run PGOPS_TEST_JOBS (default 2) at a time, each logging to .cache/test-logs/.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
source lab/lib.sh
set +e

# The ansible-core releases sanity must pass on, as core:python (each on a Python it supports): the
# oldest that requirements.txt allows, and the newest.
SANITY_RELEASES=(2.19:3.11 2.21:3.13)

scenarios() {
  for f in molecule/*/molecule.yml; do
    s=$(basename "$(dirname "$f")")
    [ "$s" = demo ] || echo "molecule:$s"
  done
}

# A Python of this version: on PATH, else pyenv's (whose shims exist for versions it does not enable)
python_of() {
  local p
  for p in "$(command -v "python$1")" "$(pyenv root 2>/dev/null)"/versions/"$1".*/bin/python; do
    [ -x "$p" ] && "$p" -c '' 2>/dev/null && { echo "$p"; return 0; }
  done
  log "no Python $1 found (on PATH or under pyenv)"; return 1
}

step_sanity() {  # ansible-core minor version, e.g. 2.21
  # ansible-test wants the collection under ansible_collections/<ns>/<name> and its own venv: its pinned
  # linters must not replace what molecule and ansible-lint run on.
  # outside the repo: inside it, ansible-test would ask the repo's git, which ignores .cache/
  local core=$1 py="" release version next venv
  local root="$PGOPS_CACHE/sanity-$core/ansible_collections/pgops/backup"
  for release in "${SANITY_RELEASES[@]}"; do [ "${release%:*}" = "$core" ] && py=${release#*:}; done
  [ -n "$py" ] || { log "ansible-core $core is not in SANITY_RELEASES"; return 1; }
  # beside the lab's images, not in the checkout: CI's fresh clone would build both again (3 to 4 minutes of CPU
  # taken from the scenarios)
  venv=$PGOPS_CACHE/venv-sanity-$core-py$py
  next="${core%.*}.$(( ${core#*.} + 1 ))"
  # without it, ansible-test skips its shellcheck test and still passes
  command -v shellcheck >/dev/null || apt_install shellcheck || return 1
  [ -e "$venv/.installed" ] || {
    rm -rf "$venv" && "$(python_of "$py")" -m venv "$venv" && \
      "$venv/bin/pip" install -q "ansible-core>=$core,<$next" && touch "$venv/.installed"
  } || return 1
  version=$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)')
  # ansible-test bootstraps pip with get-pip for its pinned pip (24.2 in 2.19, 25.2 in 2.21), which
  # these machines cannot download
  mkdir -p ~/.ansible/test/cache
  for pip in 24_2 25_2; do cp "$REPO/../shared/offline/get_pip.py" ~/.ansible/test/cache/get_pip_$pip.py; done
  rm -rf "$root" && mkdir -p "$root"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$root/"
  # ansible-test lists its targets with git: give the copy an index of exactly these files
  (cd "$root" && git init -q && git add -A) || return 1
  log "ansible-test sanity with ansible-core $version on Python $py"
  (cd "$root" && "$venv/bin/ansible-test" sanity --local --requirements --python "$py")
}

step_lint() { ansible-lint --profile production --offline; }

step_unit() { python -m pytest -q tests/unit; }

# unbuffered: molecule's own lines reach the log sooner (its idempotence and verify lines still come late)
step_molecule() { PYTHONUNBUFFERED=1 molecule test -s "$1"; }

# The README's main command, end to end, then its clean-up.
step_demo() {
  local rc
  bash lab/demo.sh up; rc=$?
  bash lab/demo.sh down || rc=1
  return $rc
}

if [ "${1:-}" = "--lab-only" ]; then ensure_lab; exit $?; fi

asked=("$@")
[ ${#asked[@]} -gt 0 ] || { mapfile -t found < <(scenarios); asked=(sanity lint unit "${found[@]}" demo); }
steps=()  # "sanity" is one step per release, each reported on its own
for s in "${asked[@]}"; do
  if [ "$s" = sanity ]; then
    for release in "${SANITY_RELEASES[@]}"; do steps+=("sanity-${release%:*}"); done
  else steps+=("$s"); fi
done
started=$(date +%s)
logs=$REPO/.cache/test-logs
mkdir -p "$logs"
# The lab (cached after the first run) builds while the controller's virtualenv installs and the quick steps run: on
# a fresh machine that is most of it (the lab needs no virtualenv; their apt installs take turns on one lock)
lab_pid=""
for s in "${steps[@]}"; do
  case "$s" in molecule:*|demo) ensure_lab >"$logs/lab.log" 2>&1 & lab_pid=$!; break ;; esac
done
ensure_ready || die "could not install the Python dependencies"

passed=0 failed=0 report=()
record() {  # step, exit status, seconds
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); report+=("PASS $1 (${3}s)")
  else failed=$((failed + 1)); report+=("FAIL $1 (${3}s, exit $2)"); fi
}

run_step() {
  case "$1" in
    molecule:*) step_molecule "${1#molecule:}" ;;
    sanity-*) step_sanity "${1#sanity-}" ;;
    lint|unit|demo) "step_$1" ;;
    *) log "unknown step $1"; false ;;
  esac
}

# The quick steps run one after the other beside the rest (they keep one core busy, the container steps leave
# room); the container steps (each on its own network, with its own container names) run PGOPS_TEST_JOBS at a
# time, each into its own log, printed whole when it ends. The longest start first, so that they end close
# together.
# Two at a time: three kept both cores busy but stretched the restore scenario, the longest, to 2428 s (1383 s
# beside one other), and its timing-bound faults failed. The restore scenario runs beside pgbackrest and then the
# monitoring scenario (which waits on timers more than it computes); walg follows the restore scenario.
LONGEST_FIRST=(molecule:restore molecule:pgbackrest molecule:monitoring molecule:walg)
pooled=() jobs_max=${PGOPS_TEST_JOBS:-2}
for s in "${LONGEST_FIRST[@]}"; do
  [[ " ${steps[*]} " == *" $s "* ]] && pooled+=("$s")
done
quick=()  # the steps without containers: one after the other, beside the lab's build and the container steps
for s in "${steps[@]}"; do
  case "$s" in
    molecule:*|demo) [[ " ${pooled[*]} " == *" $s "* ]] || pooled+=("$s") ;;
    *) quick+=("$s") ;;
  esac
done
run_quick_steps() {  # each into its own log; "step status seconds" lines into quick.status
  local s t0
  for s in "${quick[@]}"; do
    t0=$(date +%s)
    run_step "$s" >"$logs/$s.log" 2>&1
    echo "$s $? $(( $(date +%s) - t0 ))" >>"$logs/quick.status"
  done
}
rm -f "$logs/quick.status"
quick_pid=""
if [ ${#quick[@]} -gt 0 ]; then
  log "started ${quick[*]}, one after the other (logs: .cache/test-logs/<step>.log)"
  run_quick_steps & quick_pid=$!
fi

if [ -n "$lab_pid" ]; then
  lab_t0=$(date +%s)
  wait "$lab_pid"; rc=$?
  log "=== lab (built beside the quick steps; the container steps waited $(( $(date +%s) - lab_t0 ))s for it)"
  cat "$logs/lab.log"
  [ "$rc" -eq 0 ] || { [ -z "$quick_pid" ] || kill "$quick_pid"; die "could not build the lab"; }
  lab_env
fi

# Molecule's "Executing" and "Executed" lines get the time of day, so that phase_times can say where each
# scenario's minutes went (the CI budget).
# (bash, not awk: Debian's awk, mawk, reads a pipe in blocks, so it stamped a phase's lines when the block filled,
# minutes late: the verify's minutes showed as idempotence's)
stamp_phases() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      INFO*"] Execut"*) printf '%(%H:%M:%S)T %s\n' -1 "$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
}
phase_times() {  # step: "create 31s, prepare 140s, ..." from its stamped log
  awk '
    function secs(t,  p) { split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    / Executing$/ { match($0, /> [a-z_]+\]/); phase = substr($0, RSTART + 2, RLENGTH - 3); start[phase] = secs($1) }
    / Executed: / && !/Missing|disabled|Skipped/ { match($0, /> [a-z_]+\]/); phase = substr($0, RSTART + 2, RLENGTH - 3)
                    if (phase in start) { d = (secs($1) - start[phase] + 86400) % 86400
                                          out = out (out ? ", " : "") phase " " d "s"; delete start[phase] } }
    END { print out }' "$logs/${1//:/-}.log"
}
declare -A pid_step=() step_t0=()
finish() {  # pid, exit status: print the step's log and record it
  local pid=$1 rc=$2 s
  s=${pid_step[$pid]}
  log "=== $s"
  cat "$logs/${s//:/-}.log"
  record "$s" "$rc" $(( $(date +%s) - step_t0[$s] ))
  unset "pid_step[$pid]"
}
for s in "${pooled[@]}"; do
  while [ "${#pid_step[@]}" -ge "$jobs_max" ]; do
    wait -n -p done_pid "${!pid_step[@]}"; rc=$?
    finish "$done_pid" "$rc"
  done
  log "started $s (log: .cache/test-logs/${s//:/-}.log)"
  step_t0[$s]=$(date +%s)
  ( run_step "$s" 2>&1 | stamp_phases ) >"$logs/${s//:/-}.log" &
  pid_step[$!]=$s
done
while [ "${#pid_step[@]}" -gt 0 ]; do
  wait -n -p done_pid "${!pid_step[@]}"; rc=$?
  finish "$done_pid" "$rc"
done

if [ -n "$quick_pid" ]; then
  wait "$quick_pid"
  while read -r s rc secs; do
    log "=== $s"
    cat "$logs/$s.log"
    record "$s" "$rc" "$secs"
  done <"$logs/quick.status"
fi

# A failed pooled step's log was printed when it ended, maybe long before the end of the output: its last
# lines come again here, next to the summary, so that a truncated CI log still shows why.
for s in "${quick[@]}" "${pooled[@]}"; do
  if [[ " ${report[*]} " == *"FAIL $s "* ]]; then
    printf '\n=== why %s failed (whole log above): its error lines, then its last lines\n' "$s"
    grep -n -E 'fatal:|FAILED!|ERROR|^FAILED |^E  ' "$logs/${s//:/-}.log" | head -n 40
    tail -n 20 "$logs/${s//:/-}.log"
  fi
done
printf '\n'
printf '%s\n' "${report[@]}"
for s in "${pooled[@]}"; do
  # molecule prints its idempotence and verify lines late: the verify suite's own time is pytest's
  case "$s" in molecule:*) printf '  %s phases, as molecule logged them: %s; verify tests %s\n' "$s" \
    "$(phase_times "$s")" "$(grep -oE '[0-9]+ (passed|failed).* in [0-9.]+s' "$logs/${s//:/-}.log" | tail -1)" ;; esac
done
printf 'total wall time: %ss\n' "$(( $(date +%s) - started ))"
printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
