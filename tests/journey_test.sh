#!/usr/bin/env bash
# The user's journeys with real (tiny) proxy trials: `vertebra launch` a search, lose a worker to
# SIGKILL and the whole launch to Ctrl-C mid-search, run the same command to resume it and again
# on the finished database; inspect it; re-train the best trial. About a minute on 2 cores.
# Usage: journey_test.sh PATH/TO/vertebra
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vertebra=$1
tmp=$(mktemp -d)
trap 'pkill -KILL -f "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

json_field() {  # json_field FILE EXPRESSION: evaluates a Python expression on the JSON in FILE as j.
  python3 -c "import json, sys; j = json.load(open(sys.argv[1])); print($2)" "$1"
}
top_field() {  # top_field FILE EXPRESSION: as json_field, on the trials of `top --json` as j.
  python3 -c "import json, sys; j = json.load(open(sys.argv[1]))['trials']; print($2)" "$1"
}

cat > "$tmp/tiny.json" <<'EOF'
{
  "name": "tiny",
  "seed": 3,
  "algorithm": {"kind": "random"},
  "budget": {"trials": 5, "parallel": 2},
  "proxy": {"data": "synthetic", "held_out": 24, "size": 64, "scaling": "proxy", "batch": 4, "threads": 1,
            "eval_every": 10},
  "rungs": {"steps": [12, 36], "eta": 2},
  "lease": {"lease_seconds": 4, "heartbeat_seconds": 0.5, "max_attempts": 3}
}
EOF
run="$tmp/run"

# 1. A search; one worker is killed mid-trial (launch restarts it), then Ctrl-C stops it all.
"$vertebra" launch --config "$tmp/tiny.json" --workers 2 --dir "$run" > "$tmp/launch1.out" 2>&1 &
launch=$!
check "a trial is leased" wait_for "'$vertebra' status --db '$run/search.db' --json 2>/dev/null | grep -q '\"leased\": *[12]'" 60
pkill -KILL -f "worker --controller .* --work-dir $run/worker-1" 2>/dev/null
check "a trial is done" wait_for "'$vertebra' status --db '$run/search.db' --json 2>/dev/null | grep -q '\"done\": *[1-9]'" 90
kill -INT $launch
wait $launch
rc=$?
check "Ctrl-C ends launch with 130 (got $rc)" test "$rc" -eq 130
check "launch restarted the killed worker" grep -q "worker-1 exited" "$tmp/launch1.out"
check "launch says how to resume" grep -q "run the same command to resume" "$tmp/launch1.out"
check "no process of the search is left" bash -c "! pgrep -f 'vertebra (controller|worker) [-]-.*$tmp' > /dev/null"

# 2. The same command resumes and finishes the search.
"$vertebra" launch --config "$tmp/tiny.json" --workers 2 --dir "$run" > "$tmp/launch2.out" 2>&1
rc=$?
check "the resumed launch finishes (rc $rc)" test "$rc" -eq 0
check "it says it resumed" grep -q "Resuming the search" "$tmp/launch2.out"
check "it lists the top architectures" grep -q "Top architectures" "$tmp/launch2.out"
"$vertebra" status --db "$run/search.db" --json > "$tmp/status.json"
check "every trial is accounted for" test "$(json_field "$tmp/status.json" "j['state'] + ' ' + str(j['done'] + j['failed'])")" = "finished 5"
"$vertebra" top --db "$run/search.db" --json -n 10 > "$tmp/top.json"
check "results are real, not simulated" test "$(top_field "$tmp/top.json" "all(not r['simulated'] for t in j for r in t['results'])")" = True
check "a trial was promoted to 36 steps" test "$(top_field "$tmp/top.json" "max(r['steps'] for t in j for r in t['results'])")" = 36
# proxy.schedule "wsd" (the default): every rung is read after a cool-down of 15% of its steps.
cooldowns=$(top_field "$tmp/top.json" "sorted({(r['steps'], r['cooldown_steps']) for t in j for r in t['results']})")
check "every rung reports its cool-down (got $cooldowns)" test "$cooldowns" = "[(12, 2), (36, 5)]"
check "the best trial has a training curve from its heartbeats" \
  grep -Eq "^rung [01]: [1-9][0-9]* points" <("$vertebra" show best --db "$run/search.db")
check "the report was written" test -s "$run/report.html"

# 3. On the finished database launch runs nothing and says so.
before=$(md5sum < "$tmp/top.json")
"$vertebra" launch --config "$tmp/tiny.json" --workers 2 --dir "$run" > "$tmp/launch3.out" 2>&1
rc=$?
check "launch on a finished search exits 0 (rc $rc)" test "$rc" -eq 0
check "it says the search is finished" grep -q "is finished" "$tmp/launch3.out"
"$vertebra" top --db "$run/search.db" --json -n 10 > "$tmp/top2.json"
check "and changes nothing" test "$(md5sum < "$tmp/top2.json")" = "$before"

# 4. Re-training the best trial at another scaling, with its lineage and weights.
best=$(top_field "$tmp/top.json" "j[0]['id']")
"$vertebra" retrain --db "$run/search.db" --trial best --model 49s --size 64 --batch 2 --steps 3 --threads 1 \
  --data synthetic --val synthetic:seed=9 --quiet --out "$tmp/retrain" > "$tmp/retrain.out" 2>&1
rc=$?
check "retrain completes (rc $rc: $(tail -c 300 "$tmp/retrain.out"))" test "$rc" -eq 0
check "lineage names the best trial" test "$(json_field "$tmp/retrain/lineage.json" "j['trial']")" = "$best"
check "lineage keeps the experiment" test "$(json_field "$tmp/retrain/lineage.json" "j['configuration']['name']")" = tiny
check "the weights are written as safetensors" test -s "$tmp/retrain/model.safetensors"
check "the spec is the trial's" test "$(json_field "$tmp/retrain/lineage.json" "j['hash']")" = \
  "$(top_field "$tmp/top.json" "j[0]['hash']")"
other=$(top_field "$tmp/top.json" "j[1]['id']")
"$vertebra" retrain --db "$run/search.db" --trial "$other" --steps 3 --out "$tmp/retrain" --resume > "$tmp/out" 2>&1
rc=$?
check "resuming with another trial is refused (rc $rc)" test "$rc" -eq 2
check "naming the lineage file" grep -q "lineage.json" "$tmp/out"
"$vertebra" retrain --db "$run/search.db" --trial 999 --steps 3 --out "$tmp/r2" > "$tmp/out" 2>&1
rc=$?
check "an unknown trial is refused (rc $rc)" test "$rc" -eq 2
check "naming it" grep -q "999" "$tmp/out"
"$vertebra" retrain --db "$tmp/missing.db" --steps 3 --out "$tmp/r3" > "$tmp/out" 2>&1
check "a missing database is refused" test $? -eq 2

# 5. Bad input to launch.
printf '{"name": "x", "budget": {"trials": -1}}' > "$tmp/bad.json"
"$vertebra" launch --config "$tmp/bad.json" --dir "$tmp/bad" > "$tmp/out" 2>&1
rc=$?
check "a bad experiment file is refused (rc $rc)" test "$rc" -eq 2
check "naming the file and the field" grep -q "bad.json: budget.trials" "$tmp/out"
"$vertebra" launch --help > "$tmp/out" 2>&1
check "launch --help" grep -q -- "--workers" "$tmp/out"
"$vertebra" retrain --help > "$tmp/out" 2>&1
check "retrain --help" grep -q -- "--model" "$tmp/out"

summary journey
