#!/usr/bin/env bash
# How much work a controller restart throws away: a simulated search with WORKERS workers whose
# controller is killed with SIGKILL KILLS times (INTERVAL seconds after it serves, restarted DOWN
# seconds later on the same database and port; its own start-up adds to the outage); no worker is
# ever killed. At the end it counts, from the
# workers' logs, the trainings each (trial, rung) got: every one beyond the first is a retraining
# that only the restarts caused. Prints one line:
#   kills K: T trainings of U (trial, rung) pairs, R retrained (F %), E leases expired
# Usage: bench/controller_kills.sh [PATH/TO/vertebra] [KILLS] [SEED]
# Environment: WORKERS (default 8), INTERVAL (default 2.5), DOWN (default 0.3), LEASE (seconds,
# default 3), HEARTBEAT (default 0.5), TRIAL_SECONDS (default 1.5), KEEP (set: keep the scratch
# folder and print its path). The controller and workers share tests/lib.sh's token.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib.sh"
vertebra=$(realpath "${1:-build/vertebra}")
kills=${2:-10}
RANDOM=${3:-11}
workers=${WORKERS:-8}
tmp=$(mktemp -d)
trap 'stop_search -9; [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

cat >config.json <<EOF
{
  "name": "controller-kills",
  "seed": 3,
  "algorithm": {"kind": "evolution", "population": 16, "tournament": 4, "queue": 8},
  "budget": {"trials": $((workers * 20)), "parallel": $workers},
  "rungs": {"steps": [500]},
  "lease": {"lease_seconds": ${LEASE:-3}, "heartbeat_seconds": ${HEARTBEAT:-0.5}, "max_attempts": 50},
  "simulation": {"seconds": ${TRIAL_SECONDS:-1.5}, "noise": 0.01}
}
EOF

start_controller 127.0.0.1:0 --exit-when-done
wait_port 10
for ((i = 0; i < workers; i++)); do start_worker "$i"; done

done_kills=0
while [ "$done_kills" -lt "$kills" ]; do
  sleep "${INTERVAL:-2.5}"
  kill -0 "$controller_pid" 2>/dev/null || break  # Finished early.
  kill -9 "$controller_pid" && done_kills=$((done_kills + 1))
  wait "$controller_pid" 2>/dev/null
  sleep "${DOWN:-0.3}"
  rm -f port
    start_controller "127.0.0.1:$port" --exit-when-done
  wait_port 30  # INTERVAL counts from when it serves again.
done
for ((i = 0; i < workers; i++)); do wait_exit "${worker_pids[$i]}" 120; done
wait "$controller_pid" 2>/dev/null

python3 - "$done_kills" search.db w*.log <<'EOF'
import collections, re, sqlite3, sys
kills, db, logs = sys.argv[1], sys.argv[2], sys.argv[3:]
started = collections.Counter()
for log in logs:
    for trial, rung in re.findall(r"trial (\d+): lease \d+, rung (\d+)", open(log).read()):
        started[(int(trial), int(rung))] += 1
trainings = sum(started.values())
retrained = trainings - len(started)
expired = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
    "SELECT COUNT(*) FROM events WHERE kind = 'expired'").fetchone()[0]
print(f"kills {kills}: {trainings} trainings of {len(started)} (trial, rung) pairs, {retrained} retrained "
      f"({100.0 * retrained / max(1, len(started)):.1f} %), {expired} leases expired")
EOF
