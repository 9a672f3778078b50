#!/usr/bin/env bash
# The final validation under SIGKILL: a tiny real search with a control and a final stage, where
# the controller and the workers are killed while final runs are leased and then restarted. At
# the end every final run asked for exists exactly once and is done, with a seed the search never
# used, and `top --json` has the verdict. About a minute on 2 cores.
# Usage: kill_final_test.sh PATH/TO/vertebra
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
vertebra=$(realpath "$1")
tmp=$(mktemp -d)
trap 'stop_search -9; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

cat >config.json <<'JSON'
{
  "name": "kill-final",
  "seed": 4,
  "algorithm": {"kind": "random"},
  "budget": {"trials": 3, "parallel": 2},
  "proxy": {"data": "synthetic", "held_out": 16, "size": 64, "scaling": "proxy", "batch": 4, "threads": 1},
  "rungs": {"steps": [8]},
  "lease": {"lease_seconds": 3, "heartbeat_seconds": 0.5, "max_attempts": 10},
  "controls": ["spinenet-49"],
  "final": {"top_k": 2, "seeds": 3, "steps": 40}
}
JSON

start_real_worker() {  # start_real_worker I: a real worker in wI, appending to wI.log.
  "$vertebra" worker --controller "127.0.0.1:$port" --work-dir "w$1" >>"w$1.log" 2>&1 &
  worker_pids[$1]=$!
}
final_leased() {  # Whether a final run is leased now.
  "$vertebra" status --db search.db --json --trials 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if any(t["role"] == "final" and t["state"] == "leased" for t in j["trials"]) else 1)'
}

rm -f port
start_controller 127.0.0.1:0 --exit-when-done
wait_port 10
start_real_worker 0
start_real_worker 1

check "a final run is leased" wait_for final_leased 120
kill -9 "$controller_pid" "${worker_pids[0]}" 2>/dev/null
wait "$controller_pid" 2>/dev/null
sleep 0.3
start_controller "127.0.0.1:$port" --exit-when-done
start_real_worker 0
check "a final run is leased after the restart" wait_for final_leased 60
kill -9 "${worker_pids[1]}" 2>/dev/null
start_real_worker 1
check "the controller finishes" wait_exit "$controller_pid" 240
for i in 0 1; do wait_exit "${worker_pids[$i]}" 20; done

"$vertebra" status --db search.db --json --trials >status.json
python3 - status.json <<'PY' || failures=$((failures + 1))
import json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "finished", j["state"]
trials = j["trials"]
finals = [t for t in trials if t["role"] == "final"]
keys = [(t["final_of"], t["final_seed"]) for t in finals]
assert len(keys) == len(set(keys)), "a final run made twice: %s" % keys
assert len(finals) == 9, "expected 3 subjects x 3 seeds, got %d" % len(finals)
assert all(t["state"] == "done" for t in finals), [(t["id"], t["state"]) for t in finals]
search_seeds = {t["seed"] for t in trials if t["role"] != "final"}
assert not search_seeds & {t["seed"] for t in finals}, "a final run reused a seed of the search"
controls = [t for t in trials if t["role"] == "control"]
assert len(controls) == 1 and controls[0]["state"] == "done"
print("kill final: %d final runs, each once" % len(finals))
PY
# Each role counted apart: the search's 3 trials against its budget, the control, the 9 final runs.
python3 - status.json <<'PY' || failures=$((failures + 1))
import json, sys
j = json.load(open(sys.argv[1]))
assert (j["done"], j["budget"]) == (3, 3), (j["done"], j["budget"])
assert j["controls"]["done"] == 1, j["controls"]
assert (j["final"]["done"], j["final"]["expected"]) == (9, 9), j["final"]
PY
"$vertebra" status --db search.db >status.txt
check "status counts the search's trials, the control and the final runs apart" \
  grep -q "^trials: 3 done, 0 leased" status.txt
check "status says the control's count" grep -q "^controls: 1 of 1 done" status.txt
check "status says the final runs' count" grep -q "^final runs: 9 of 9 done" status.txt
"$vertebra" top --db search.db --json >top.json
check "top --json has the verdict of 2 finalists against 1 control" python3 -c '
import json, sys
f = json.load(open("top.json"))["final"]
sys.exit(0 if len(f["finalists"]) == 2 and len(f["controls"]) == 1 and len(f["comparisons"]) == 2 else 1)'
summary "kill final test"
