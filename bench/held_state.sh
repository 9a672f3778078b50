#!/usr/bin/env bash
# Steps trained twice because a promotion went to a worker without the trial's checkpoint: one
# small simulated search in the demo's shape (16 trials, rungs of 200 and 600 steps, eta 3, two
# workers, a 600-step trial TRIAL_SECONDS long), run three ways side by side:
#   nowait   each worker in its own work folder, lease.promotion_wait_seconds 0: a promotion goes
#            to whichever worker asks first (its holder only when the holder asks first);
#   wait     each worker in its own work folder, the default wait (capped at the held steps' time);
#   shared   both workers in one work folder: both hold every checkpoint.
# Prints one line per way: the steps trained, those trained more than once, and the wall time.
# Usage: bench/held_state.sh [PATH/TO/vertebra] [SEED]
# Environment: TRIAL_SECONDS (default 6), KEEP (set: keep the scratch folder and print its path).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib.sh"
vertebra=$(realpath "${1:-build/vertebra}")
seed=${2:-1}
tmp=$(mktemp -d)
trap 'stop_search -9; [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT

# run NAME WAIT SHARED: one search in $tmp/NAME; prints its line.
run() {
  mkdir -p "$tmp/$1" && cd "$tmp/$1" || exit 1
  local wait=""
  [ "$2" != default ] && wait=", \"promotion_wait_seconds\": $2"
  cat >config.json <<EOF
{
  "name": "held-state",
  "seed": $seed,
  "algorithm": {"kind": "random", "queue": 2},
  "budget": {"trials": 16, "parallel": 2},
  "rungs": {"steps": [200, 600], "eta": 3},
  "lease": {"lease_seconds": 10, "heartbeat_seconds": 0.5, "max_attempts": 3$wait},
  "simulation": {"seconds": ${TRIAL_SECONDS:-6}, "noise": 0.01}
}
EOF
  local start=$SECONDS
  start_controller 127.0.0.1:0 --exit-when-done
  wait_port 20
  for i in 0 1; do
    if [ "$3" = shared ]; then
      "$vertebra" worker --controller "127.0.0.1:$port" --simulate --work-dir shared >>"w$i.log" 2>&1 &
      worker_pids[$i]=$!
    else
      start_worker "$i"
    fi
  done
  wait "$controller_pid"
  local seconds=$((SECONDS - start))
  stop_search
  "$vertebra" status --db search.db --json | python3 -c "
import json, sys
s = json.load(sys.stdin)['steps']
print('%-7s %5d steps trained, %4d more than once (%4.1f %%), %3d s' % ('$1', s['trained'], s['repeated'],
      100.0 * s['repeated'] / max(1, s['trained']), $seconds))"
}

run nowait 0 own
run wait default own
run shared 0 shared
