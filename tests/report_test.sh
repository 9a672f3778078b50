#!/usr/bin/env bash
# `vertebra report` on a short simulated search (a controller and two simulated workers, some
# proposals rejected by a MACs limit): the page is written, self-contained, has every section,
# names the best trial with its AP and the reason of a rejection, marks the results simulated,
# is the same when rendered twice, and leaves the database untouched. Plus --help and the error
# for a missing database.
# Usage: report_test.sh PATH/TO/vertebra
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vertebra=$(realpath "$1")
tmp=$(mktemp -d)
trap 'stop_search -9; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

run 0 report --help
check "help names --db" grep -q -- "--db" out
check "help names -o" grep -q -- "-o,--out" out

run 2 report --db no_such.db -o missing.html
check "missing database is one line" test "$(wc -l <err)" -eq 1
check "missing database is named" grep -q "no_such.db" err
check "no page for a missing database" test ! -e missing.html

# max_macs sits inside the range of sampled proxy costs (about 185-215 M at 128 px, median near
# 205 M), so that some of the first, uniformly sampled proposals are rejected whatever the timing
# of the workers (without predictor-guided proposals, which pass over-limit candidates by).
cat >config.json <<'EOF'
{
  "name": "report-test",
  "seed": 5,
  "algorithm": {"kind": "evolution", "population": 8, "tournament": 3, "queue": 4},
  "budget": {"trials": 20, "parallel": 2},
  "rungs": {"steps": [200, 600], "eta": 3},
  "objective": {"kind": "ap", "max_macs": 207000000},
  "search": {"guided_candidates": 0},
  "lease": {"lease_seconds": 3, "heartbeat_seconds": 0.2, "max_attempts": 3},
  "simulation": {"seconds": 0.02, "noise": 0.01}
}
EOF
start_controller 127.0.0.1:0 --exit-when-done
wait_port 10
for i in 1 2; do start_worker "$i" --quiet; done
if ! wait_exit "$controller_pid" 25; then
  echo "FAIL: the search did not finish in 25 s; controller log:"
  tail -5 controller.log
  exit 1
fi

# The database file itself (a reader in WAL mode may create the -wal and -shm files beside it).
db_sum=$(sha256sum <search.db)
run 0 report --db search.db -o report.html
check "report written" test -s report.html
check "database untouched" test "$(sha256sum <search.db)" = "$db_sum"
run 0 report --db search.db -o again.html
check "same page twice" cmp -s report.html again.html

for id in best-ap reward pareto architectures timeline failures; do
  check "section $id" grep -q "<h2 id=\"$id\">" report.html
done
check "header names the experiment" grep -q "report-test" report.html
check "header names the algorithm" grep -q "<th>algorithm</th><td>evolution</td>" report.html
check "marked simulated" grep -q "SIMULATED" report.html
check "drawings present" grep -q "class=\"arch\"" report.html
check "the predictor across rungs is measured" grep -q "<th>held-out tau</th>" report.html
check "no scripts" bash -c "! grep -qi '<script' report.html"
check "nothing fetched" bash -c "! grep -Eq '(src|href)=\"[^#]|url\\([^#]|@import' report.html"
links=$(grep -Eo 'https?://[^"<> )]*' report.html | grep -v '^http://www.w3.org/2000/svg$')
check "no URL but the SVG namespace" test -z "$links"

"$vertebra" status --db search.db --json --trials >status.json || { echo "FAIL: status"; exit 1; }
# The best as the search ranks it (highest rung first, then AP, then lower id), and a rejection.
python3 - >expected.txt <<'EOF'
import json
trials = json.load(open("status.json"))["trials"]
ranked = sorted((t for t in trials if t["results"]),
                key=lambda t: (-max(r["rung"] for r in t["results"]),
                               -max(t["results"], key=lambda r: r["rung"])["ap"][0], t["id"]))
best = ranked[0]
top = max(best["results"], key=lambda r: r["rung"])
print(f"trial <b>{best['id']}</b>, AP <b>{top['ap'][0]:.4f}</b>")
rejected = [t for t in trials if t["state"] == "rejected"]
print(rejected[0]["failure"] if rejected else "NO REJECTED TRIAL")
EOF
check "best trial and AP in the header" grep -qF "$(sed -n 1p expected.txt)" report.html
check "a proposal was rejected" test "$(sed -n 2p expected.txt)" != "NO REJECTED TRIAL"
check "the rejection's reason is listed" grep -qF "$(sed -n 2p expected.txt)" report.html

summary "report test"
