#!/usr/bin/env bash
# A simulated search with 8 workers where workers and the controller are killed with SIGKILL at
# random moments (seeded) and restarted: at the end every trial is accounted for exactly once and
# every report a worker saw acknowledged is in the database.
# Usage: kill_test.sh PATH/TO/vertebra [SEED]
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
account=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../account.py")
vertebra=$(realpath "$1")
RANDOM=${2:-7}
tmp=$(mktemp -d)
trap 'stop_search -9; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

cat >config.json <<'EOF'
{
  "name": "kill-test",
  "seed": 3,
  "algorithm": {"kind": "evolution", "population": 16, "tournament": 4, "queue": 8},
  "budget": {"trials": 120, "parallel": 8},
  "rungs": {"steps": [500, 1500], "eta": 3},
  "lease": {"lease_seconds": 1.5, "heartbeat_seconds": 0.2, "max_attempts": 20},
  "simulation": {"seconds": 0.4, "noise": 0.01, "low_rung_bias": 0.3}
}
EOF

rm -f port
start_controller 127.0.0.1:0 --exit-when-done
wait_port 5
for i in 0 1 2 3 4 5 6 7; do start_worker "$i"; done

worker_kills=0
controller_kills=0
for _ in $(seq 400); do
  sleep "0.$((RANDOM % 6 + 2))"
  if ! kill -0 "$controller_pid" 2>/dev/null; then
    # Finished (--exit-when-done) or killed below and not yet back.
    if grep -q '"state":"finished"' <("$vertebra" status --db search.db --json 2>/dev/null); then break; fi
    start_controller "127.0.0.1:$port" --exit-when-done
    continue
  fi
  r=$((RANDOM % 10))
  if [ "$r" -lt 5 ]; then
    i=$((RANDOM % 8))
    kill -9 "${worker_pids[$i]}" 2>/dev/null && worker_kills=$((worker_kills + 1))
    start_worker "$i"
  elif [ "$r" -lt 7 ] && [ "$controller_kills" -lt 6 ]; then
    kill -9 "$controller_pid" 2>/dev/null && controller_kills=$((controller_kills + 1))
    wait "$controller_pid" 2>/dev/null
    sleep 0.3
    start_controller "127.0.0.1:$port" --exit-when-done
  fi
done
# Let the workers finish and exit on their own.
for i in 0 1 2 3 4 5 6 7; do
  wait_exit "${worker_pids[$i]}" 10
done
kill -9 "${worker_pids[@]}" 2>/dev/null
wait "$controller_pid" 2>/dev/null

"$vertebra" status --db search.db --json --trials >status.json || { echo "FAIL: status"; exit 1; }
echo "kill test: $worker_kills worker kills, $controller_kills controller kills"
python3 "$account" --name "kill test" status.json w*.log
