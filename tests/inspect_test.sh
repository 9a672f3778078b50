#!/usr/bin/env bash
# `status`, `top`, `show` and `export` as a user meets them: a short simulated search (a controller
# with a token and two simulated workers), then every command from the database and from the
# running controller, which must agree, and the Python client (python/vertebra/client.py) with
# them; refusals exit 2 with one line that names what was wrong.
# Usage: inspect_test.sh PATH/TO/vertebra
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vertebra=$(realpath "$1")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
trap 'stop_search ${tls_pid:-}; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

cat >config.json <<'EOF'
{
  "name": "inspect-test",
  "seed": 11,
  "algorithm": {"kind": "evolution", "population": 8, "tournament": 3, "queue": 4},
  "budget": {"trials": 20, "parallel": 2},
  "rungs": {"steps": [100, 400], "eta": 2},
  "lease": {"lease_seconds": 5, "heartbeat_seconds": 0.02, "max_attempts": 3},
  "simulation": {"seconds": 0.4}
}
EOF
echo "inspect-test-token" >token
echo "not-the-token" >wrong_token

# The search. The controller stays up after the end so that it can be asked. A simulated trial
# lasts 0.1 s at rung 0 and 0.4 s at rung 1, long enough for its heartbeats to carry a training
# curve even on a loaded machine.
start_controller 127.0.0.1:0 --token-file token
wait_port 10
ctl=(--controller "127.0.0.1:$port" --token-file token)
for i in 1 2; do start_worker "$i" --token-file token --quiet; done
check "the search finished" \
  wait_for "'$vertebra' status --db search.db --json 2>/dev/null | grep -q '\"state\":\"finished\"'" 30
for p in "${worker_pids[@]}"; do wait_exit "$p" 5; done

# status: the same from the database and from the controller.
run 0 status --db search.db
cp out status_db.txt
check "status names the experiment" grep -q "experiment 'inspect-test' (evolution, simulated): finished" status_db.txt
check "status has a best trial" grep -q "^best: trial" status_db.txt
check "status shows the predictor across rungs" grep -q "^predictor rung 0 -> 1: [0-9]* pairs" status_db.txt
run 0 status "${ctl[@]}"
check "status --controller agrees with --db" cmp -s out status_db.txt
run 0 status --db search.db --json --trials
cp out status.json
run 0 status "${ctl[@]}" --json --trials
check "status --json --controller agrees with --db" cmp -s out status.json
check "status --json has the predictor's fit" python3 -c "
import json
p = json.load(open('status.json'))['predictor']
assert len(p) == 1 and p[0]['rung'] == 0 and p[0]['top_rung'] == 1 and p[0]['pairs'] >= 1, p
assert set(p[0]) == {'rung', 'top_rung', 'pairs', 'lambda', 'held_out_r2', 'held_out_tau', 'rung_ap_tau'}, p
"

# top: ranked as show ranks; the same from both sources.
run 0 top --db search.db -n 1 --json
best_top=$(python3 -c "import json; print(json.load(open('out'))['trials'][0]['id'])")
check "top --json has no verdict without a final stage" python3 -c "import json, sys; sys.exit(json.load(open('out'))['final'] is not None)"
run 0 top --db search.db -n 5
cp out top_db.txt
run 0 top "${ctl[@]}" -n 5
check "top --controller agrees with --db" cmp -s out top_db.txt

# show: every section; best is top's first; the JSON parses; the controller says the same.
run 0 show best --db search.db
cp out show_db.txt
check "show best names top -n 1's trial" grep -q "^trial $best_top of experiment 'inspect-test'" show_db.txt
for section in spec drawing cost results "training curve" worker timings lineage; do
  check "show has a '$section' section" grep -q "^== $section ==$" show_db.txt
done
check "show says the cost is at the proxy scaling" grep -q "at the proxy scaling" show_db.txt
check "show has the training curve" grep -q "^rung 1: [0-9]* points, loss" show_db.txt
check "show has the 12 COCO numbers" grep -q "^rung  steps   AP      AP50 .* ARl" show_db.txt
check "show says the results are simulated" grep -q "simulated" show_db.txt
run 0 show best "${ctl[@]}"
check "show --controller agrees with --db" cmp -s out show_db.txt
run 0 show "$best_top" --db search.db --json
cp out show.json
check "show --json parses and is the same trial" python3 -c "
import json, sys
d = json.load(open('show.json'))
keys = {'trial', 'experiment', 'spec', 'hash', 'drawing', 'cost', 'results', 'curve', 'worker', 'timings', 'lineage'}
sys.exit(d['trial'] != $best_top or not keys <= set(d) or len(d['results'][-1]['ap']) != 12 or not d['curve'])"
run 0 show "$best_top" "${ctl[@]}" --json
check "show --json --controller agrees with --db" cmp -s out show.json

# top --pareto: no listed trial dominates another, and every other trial at that rung is
# dominated by a listed one.
run 0 top --db search.db --pareto --json
cp out pareto.json
check "pareto front is sound and complete" python3 -c "
import json, sys
front = json.load(open('pareto.json'))
trials = json.load(open('status.json'))['trials']
def top(t):
    return max((r for r in t['results'] if r['ap']), key=lambda r: r['rung'], default=None)
rung = max(top(t)['rung'] for t in trials if top(t))
at = [t for t in trials if top(t) and top(t)['rung'] == rung and t['reused_from'] == 0]
def point(t):
    return (top(t)['ap'][0], t['macs'])
def dominates(a, b):
    (pa, ma), (pb, mb) = point(a), point(b)
    return pa >= pb and ma <= mb and (pa > pb or ma < mb)
listed = front['trials']
ids = {t['id'] for t in listed}
bad = [(a['id'], b['id']) for a in listed for b in listed if dominates(a, b)]
missing = [t['id'] for t in at if t['id'] not in ids and not any(dominates(f, t) for f in listed)]
wrong_rung = [t['id'] for t in listed if top(t)['rung'] != rung]
ok = front['rung'] == rung and listed and not bad and not missing and not wrong_rung
if not ok: print('front', sorted(ids), 'dominating pairs', bad, 'missing', missing, 'wrong rung', wrong_rung)
sys.exit(0 if ok else 1)"
run 0 top "${ctl[@]}" --pareto --json
check "top --pareto --controller agrees with --db" cmp -s out pareto.json
run 0 top --db search.db --pareto
check "top --pareto says which rung" grep -q "the highest rung reached" out

# The Python client (python/vertebra/client.py, its stubs generated by the build) against the same
# controller: status, trials, top, the front and a curve equal the CLI's; refusals say why.
run 0 top --db search.db -n 100000 --json
cp out top.json
check "the Python client answers as the CLI" env PYTHONPATH="$repo/python" /usr/bin/python3 \
  "$repo/tests/client_check.py" "127.0.0.1:$port" token wrong_token .
# With TLS, as the CLI's --tls-ca: a second controller (no workers) serving a certificate for 127.0.0.1.
mkdir tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout tls/key.pem -out tls/cert.pem \
  -days 2 -subj /CN=controller -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
(cd tls && exec "$vertebra" controller --config ../config.json --db tls.db --listen 127.0.0.1:0 --port-file port \
  --tls-cert cert.pem --tls-key key.pem >controller.log 2>&1) &
tls_pid=$!
check "the TLS controller is up" wait_for "[ -s tls/port ]" 10
client_status() {  # client_status ARGS...: the experiment's name through the client, by Client(ARGS).
  PYTHONPATH="$repo/python" /usr/bin/python3 -c "
from vertebra.client import Client, ClientError
try:
    print(Client('127.0.0.1:$(cat tls/port)', $1, timeout=5).status().experiment)
except ClientError as e:
    print(e)"
}
check "the client verifies the controller with tls_ca" test "$(client_status "tls_ca='tls/cert.pem'")" = inspect-test
check "without tls_ca it cannot talk to a TLS controller" grep -q unavailable <(client_status "token=None")
kill "$tls_pid" 2>/dev/null
wait "$tls_pid" 2>/dev/null

# Refusals: a wrong or missing token, a trial that does not exist, a trial that is not a number,
# no source or two.
run 2 status --controller "127.0.0.1:$port" --token-file wrong_token
check "a wrong token is refused, naming the file" grep -q "token-file wrong_token was refused" err
VERTEBRA_TOKEN= run 2 show best --controller "127.0.0.1:$port"
check "a missing token is refused" grep -q "wants a bearer token" err
run 2 show 99999 --db search.db
check "show 99999 names the trial" grep -q "99999" err
check "show 99999 is one line" test "$(wc -l <err)" -eq 1
run 2 show 99999 "${ctl[@]}"
check "show 99999 --controller names the trial" grep -q "99999" err
run 2 show abc --db search.db
check "show abc says what is expected" grep -q 'trial "abc": expected "best" or a trial id' err
run 2 show best
check "no source is named" grep -q "\-\-db FILE or \-\-controller HOST:PORT" err
run 2 status --db search.db --controller "127.0.0.1:$port"
run 2 status --db no_such.db
check "a missing database is named" grep -q "no_such.db" err

# export: every file; the spec is loadable; results come with the experiment's configuration.
run 0 export --db search.db --trial best --out exported
for f in spec.json cost.json resolved.json drawing.svg model_garden.json model_garden.py results.json; do
  check "export wrote $f" test -s "exported/$f"
done
run 0 arch validate exported/spec.json
check "results.json has every rung and the config" python3 -c "
import json, sys
r = json.load(open('exported/results.json'))
sys.exit(r['trial'] != $best_top or r['experiment'] != 'inspect-test' or len(r['results']) < 1
         or r['config']['rungs']['steps'] != [100, 400] or len(r['results'][0]['ap']) != 12)"
check "cost.json is at SpineNet-49's scaling" python3 -c "
import json, sys
c = json.load(open('exported/cost.json'))
sys.exit(c['scaling'] != '49' or c['input_size'] != 640 or c['scaling_values']['filter_scale'] != 1.0)"
check "drawing.svg is an SVG" grep -q "<svg" exported/drawing.svg
run 2 export --db search.db --trial best --out exported
check "a non-empty folder is refused" grep -q "not empty (pass --force" err
run 0 export --db search.db --trial best --out exported --force --scaling 96
check "--force rewrites at the new scaling" grep -q '"scaling": "96"' exported/cost.json
run 2 export --db search.db --trial 99999 --out ex2
check "export names a missing trial" grep -q "99999" err
check "nothing written for a missing trial" test ! -e ex2

# A SpineNet-49-equivalent spec (decoded from its decisions) gives the Model Garden's own table,
# and its cost is SpineNet-49's to the unit (spinenet.md §5.6).
run 0 arch encode spinenet-49
cp out s49.decisions
run 0 arch decode s49.decisions
cp out s49.json
run 0 export --arch s49.json --out s49
check "no results.json without a search" test ! -e s49/results.json
check "model_garden.json of spinenet-49 is SPINENET_BLOCK_SPECS" python3 -c "
import json, sys
want = [
    (2, 'bottleneck', (0, 1), False), (4, 'residual', (0, 1), False), (3, 'bottleneck', (2, 3), False),
    (4, 'bottleneck', (2, 4), False), (6, 'residual', (3, 5), False), (4, 'bottleneck', (3, 5), False),
    (5, 'residual', (6, 7), False), (7, 'residual', (6, 8), False), (5, 'bottleneck', (8, 9), False),
    (5, 'bottleneck', (8, 10), False), (4, 'bottleneck', (5, 10), True), (3, 'bottleneck', (4, 10), True),
    (5, 'bottleneck', (7, 12), True), (7, 'bottleneck', (5, 14), True), (6, 'bottleneck', (12, 14), True),
]
g = json.load(open('s49/model_garden.json'))
got = [(l, fn, tuple(io), out) for l, fn, io, out in g['block_specs']]
sys.exit(got != want or g['filter_size_scale'] != 1.0 or g['block_repeats'] != 1 or g['endpoints_num_filters'] != 256)"
check "model_garden.py has the same table" python3 -c "
import sys
ns = {}
exec(open('s49/model_garden.py').read(), ns)
sys.exit(ns['BLOCK_SPECS'][13] != (7, 'bottleneck', (5, 14), True) or ns['SCALING']['resample_alpha'] != 0.5)"
check "spinenet-49's backbone parameters" grep -q '"params": 21831488' s49/cost.json
run 0 arch resolve spinenet-49 --size 640
check "resolved.json is arch resolve's graph at the scaling and size" python3 -c "
import json, sys
sys.exit(json.load(open('out')) != json.load(open('s49/resolved.json')))"
run 0 arch export-blocks spinenet-49
check "arch export-blocks prints the same table" python3 -c "
import json, sys
sys.exit(json.load(open('out'))['block_specs'] != json.load(open('s49/model_garden.json'))['block_specs'])"

# Weights from a re-training folder: copied when there; refused when there are none.
mkdir -p retrain empty_retrain
printf 'not really weights' >retrain/model.safetensors
cp s49/spec.json retrain/spec.json
run 0 export --arch s49.json --out with_weights --weights retrain
check "weights copied" cmp -s retrain/model.safetensors with_weights/model.safetensors
run 2 export --arch s49.json --out no_weights --weights empty_retrain
check "no weights is named" grep -q "empty_retrain: no \*.safetensors" err
check "nothing written without weights" test ! -e no_weights
run 2 export --arch s49.json --out other_scale --weights retrain --scaling 96
check "weights of another scaling are refused" grep -q "is not the exported one" err

# --help everywhere.
for cmd in "status" "top" "show" "export" "arch export-blocks"; do
  # shellcheck disable=SC2086
  run 0 $cmd --help
  check "'$cmd --help' prints usage" grep -qi "usage" out
done

kill "$controller_pid" 2>/dev/null
wait "$controller_pid" 2>/dev/null
controller_pid=""
summary inspect
