# Helpers shared by the shell tests; source it, do not run it.
# The sourcing script sets `vertebra` (the CLI under test) and `tmp` (its scratch folder, which
# its own EXIT trap removes). check and run count into `passed` and `failures`; summary reports
# them. The controller and worker helpers run in the current folder (the scripts cd to $tmp) and
# keep their pids in `controller_pid` and `worker_pids`, which stop_search ends.

# Every controller and client started here shares one random bearer token through the environment
# (a controller without one would make DB.token; one that runs unauthenticated needs --no-auth).
VERTEBRA_TOKEN=${VERTEBRA_TOKEN:-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')}
export VERTEBRA_TOKEN

failures=0
passed=0
controller_pid=""
worker_pids=()

check() {  # check NAME CONDITION...: counts CONDITION's success; prints "FAIL: NAME" otherwise.
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    failures=$((failures + 1))
  fi
}

# run EXPECTED_EXIT ARGS...: runs the CLI, keeps stdout/stderr in $tmp/out, $tmp/err.
run() {
  local expected=$1
  shift
  "$vertebra" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -ne "$expected" ]; then
    echo "FAIL: 'vertebra $*' exited $rc, expected $expected; stderr: $(head -c 400 "$tmp/err")"
    failures=$((failures + 1))
    return 1
  fi
  passed=$((passed + 1))
}

# wait_for CONDITION SECONDS: waits up to SECONDS (whole) for the shell condition CONDITION,
# checked every 0.1 s; fails when it never held.
wait_for() {
  local _try
  for _try in $(seq $(($2 * 10))); do
    eval "$1" && return 0
    sleep 0.1
  done
  return 1
}

# wait_exit PID SECONDS: waits up to SECONDS for the process PID to end; fails when it is still up.
wait_exit() {
  wait_for "! kill -0 $1 2>/dev/null" "$2"
}

# summary NAME: prints "NAME: N passed, M failed"; succeeds when nothing failed.
summary() {
  echo "$1: $passed passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# start_controller LISTEN ARGS...: starts `vertebra controller` in the background on config.json
# and search.db, listening on LISTEN and writing its port to the file `port`; ARGS are added.
# Its output is appended to controller.log; its pid is in controller_pid.
start_controller() {
  "$vertebra" controller --config config.json --db search.db --listen "$1" --port-file port "${@:2}" \
    >>controller.log 2>&1 &
  controller_pid=$!
}

# wait_port SECONDS: waits up to SECONDS for the controller's port file, then sets `port` from it.
wait_port() {
  wait_for "[ -s port ]" "$1"
  port=$(cat port)
}

# start_worker I ARGS...: starts a simulated `vertebra worker` of the controller at `port` in the
# background, working in wI and appending to wI.log; ARGS are added. Its pid is worker_pids[I].
start_worker() {
  "$vertebra" worker --controller "127.0.0.1:$port" --simulate --work-dir "w$1" "${@:2}" >>"w$1.log" 2>&1 &
  worker_pids[$1]=$!
}

# stop_search [-SIGNAL]: sends SIGNAL (default TERM) to the workers and the controller started
# above and waits for every background job; for the scripts' EXIT traps.
stop_search() {
  kill "$@" "${worker_pids[@]}" "$controller_pid" 2>/dev/null
  wait 2>/dev/null
}
