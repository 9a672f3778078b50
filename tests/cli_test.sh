#!/usr/bin/env bash
# The `vertebra arch` and `vertebra bench` commands as a user meets them: outputs, exit codes,
# one-line errors that name the file and field, --help everywhere.
# Usage: cli_test.sh PATH/TO/vertebra TEST_DATA_DIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vertebra=$1
data=$2
tmp=$(mktemp -d)
extra_help=""
trap 'rm -rf "$tmp"' EXIT

# The exact totals of spinenet.md §5.6, as printed by the CLI.
for pair in spinenet-49s:9089215 spinenet-49:21831488 spinenet-96:36262976 spinenet-143:60247616 spinenet-190:126587664; do
  name=${pair%%:*}
  want=${pair##*:}
  run 0 arch stats "$name" --json
  check "$name backbone_params" grep -q "\"backbone_params\":$want," "$tmp/out"
done
run 0 arch stats spinenet-49 --size 640 --head retinanet --head-width 256 --head-convs 4 --classes 91 --json
for key in backbone_params head_params total_params backbone_macs total_macs hash; do
  check "stats --json has $key" grep -q "\"$key\":" "$tmp/out"
done
run 0 arch stats spinenet-49 --head retinanet
check "stats text has a total row" grep -q "total" "$tmp/out"

# A bad file: exit 2, one line on stderr naming the file, block and field.
run 2 arch validate "$data/bad_parents.json"
check "bad parents is one line" test "$(wc -l <"$tmp/err")" -eq 1
check "bad parents names file and field" grep -q "bad_parents.json: blocks\[3\].parents: 7 is not an earlier feature" "$tmp/err"
run 2 arch stats "$data/typo.json"
check "typo names the key" grep -q "typo.json: blocks\[1\].parnets: unknown key" "$tmp/err"
run 2 arch stats "$data/no_such_file.json"
check "missing file is named" grep -q "no_such_file.json" "$tmp/err"
run 2 arch stats spinenet-49 --size 0
run 2 arch stats spinenet-49 --filter-scale 0.001
check "scaling override is validated" grep -q "scaling.filter_scale" "$tmp/err"
run 2 arch bogus-command

# The edges of the controller: an overflowing number, a name that would leave the runs folder, a
# port file nobody could read, an empty token file, an impossible port. Exit 2, one named line.
printf '{"name": "x", "lease": {"lease_seconds": 1e400}}' >"$tmp/overflow.json"
run 2 controller --config "$tmp/overflow.json" --db "$tmp/edges.db" --listen 127.0.0.1:0
check "overflow names the field" grep -q "overflow.json: not valid JSON: lease.lease_seconds: number overflow" "$tmp/err"
printf '{"name": "../../x", "simulation": {"seconds": 0}}' >"$tmp/escape.json"
run 2 controller --config "$tmp/escape.json" --db "$tmp/edges.db" --listen 127.0.0.1:0
check "an escaping name is refused" grep -q "escape.json: name: must be" "$tmp/err"
printf '{"name": "edges", "simulation": {"seconds": 0}}' >"$tmp/edges.json"
run 2 controller --config "$tmp/edges.json" --db "$tmp/edges.db" --listen 127.0.0.1:0 --port-file "$tmp/no/such/dir/port"
check "an unwritable port file is named" grep -q "port-file $tmp/no/such/dir/port" "$tmp/err"
printf ' \n' >"$tmp/empty-token"
run 2 controller --config "$tmp/edges.json" --db "$tmp/edges2.db" --listen 127.0.0.1:0 --token-file "$tmp/empty-token"
check "an empty token file is refused" grep -q "the token file is empty" "$tmp/err"
run 2 controller --config "$tmp/edges.json" --db "$tmp/edges3.db" --listen 127.0.0.1:99999
check "an impossible port is refused" grep -q "port must be 0..65535" "$tmp/err"
# Loopback is not trust: a controller given no token makes DB.token (0600) and wants it; a restart
# keeps it; a token file others can read is refused; --no-auth is loopback only and excludes a token.
saved_token=$VERTEBRA_TOKEN
unset VERTEBRA_TOKEN
"$vertebra" controller --config "$tmp/edges.json" --db "$tmp/auth.db" --listen 127.0.0.1:0 \
  --port-file "$tmp/auth.port" >"$tmp/auth.log" 2>&1 &
pid=$!
wait_for "[ -s '$tmp/auth.port' ]" 20
ctl=(--controller "127.0.0.1:$(cat "$tmp/auth.port")")
check "the controller made its token file" test "$(stat -c %a "$tmp/auth.db.token" 2>/dev/null)" = 600
check "the controller says where its token is" grep -q "token: $tmp/auth.db.token" "$tmp/auth.log"
run 2 status "${ctl[@]}"
check "no token on loopback is refused" grep -qi "token" "$tmp/err"
run 0 status "${ctl[@]}" --token-file "$tmp/auth.db.token"
kill "$pid"
wait "$pid"
cp "$tmp/auth.db.token" "$tmp/auth.first"
rm -f "$tmp/auth.port"
"$vertebra" controller --config "$tmp/edges.json" --db "$tmp/auth.db" --listen 127.0.0.1:0 \
  --port-file "$tmp/auth.port" >"$tmp/auth.log" 2>&1 &
pid=$!
wait_for "[ -s '$tmp/auth.port' ]" 20
check "a restart keeps the token" cmp -s "$tmp/auth.db.token" "$tmp/auth.first"
kill "$pid"
wait "$pid"
chmod 644 "$tmp/auth.db.token"
run 2 controller --config "$tmp/edges.json" --db "$tmp/auth.db" --listen 127.0.0.1:0
check "a token file others can read is refused" grep -q "auth.db.token: a token file must be this user's" "$tmp/err"
run 2 controller --config "$tmp/edges.json" --db "$tmp/auth2.db" --listen 127.0.0.1:0 --no-auth \
  --token-file "$tmp/auth.first"
check "--no-auth excludes a token" grep -q "choose one" "$tmp/err"
run 2 controller --config "$tmp/edges.json" --db "$tmp/auth3.db" --listen 0.0.0.0:0 --no-auth
check "--no-auth is loopback only" grep -q "a bearer token is required beyond loopback" "$tmp/err"
export VERTEBRA_TOKEN=$saved_token
run 0 controller --help
check "controller --help documents --no-auth" grep -q -- "--no-auth" "$tmp/out"
run 0 launch --help
check "launch --help documents --no-auth" grep -q -- "--no-auth" "$tmp/out"

# A port another program holds: our one line, and no gRPC log line before it.
python3 -c "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)" >"$tmp/held" &
holder=$!
wait_for "[ -s '$tmp/held' ]" 10
run 2 controller --config "$tmp/edges.json" --db "$tmp/edges4.db" --listen "127.0.0.1:$(cat "$tmp/held")"
kill "$holder" 2>/dev/null
check "a held port is one clean line" test "$(wc -l <"$tmp/err")" -eq 1
check "a held port is named" grep -q "cannot bind" "$tmp/err"

# A valid file: its hash; blocks reaching no output are a warning, not an error.
run 0 arch validate "$data/small.json"
check "validate prints the hash" grep -qE "small.json: ok: 'small', 7 blocks, hash [0-9a-f]{64}" "$tmp/out"

# Drawings: an SVG written atomically, and text for the terminal.
run 0 arch draw spinenet-49 -o "$tmp/s49.svg"
check "svg written" grep -q "<svg" "$tmp/s49.svg"
check "no temporary file left" test "$(ls "$tmp" | grep -c tmp)" -eq 0
run 0 arch draw "$data/small.json" --text
check "text drawing has level rows" grep -q "^L7" "$tmp/out"

# Sampling is deterministic; every sample is a valid spec; encode/decode round trip.
run 0 arch sample --seed 7 --count 5
cp "$tmp/out" "$tmp/a.jsonl"
run 0 arch sample --seed 7 --count 5
check "same seed, same samples" cmp -s "$tmp/out" "$tmp/a.jsonl"
check "five samples" test "$(wc -l <"$tmp/a.jsonl")" -eq 5
head -n 1 "$tmp/a.jsonl" >"$tmp/first.json"
run 0 arch validate "$tmp/first.json"
run 0 arch encode spinenet-49
cp "$tmp/out" "$tmp/d.json"
run 0 arch decode "$tmp/d.json"
cp "$tmp/out" "$tmp/decoded.json"
run 0 arch stats "$tmp/decoded.json" --json
check "decode(encode(spinenet-49)) has its parameters" grep -q '"backbone_params":21831488,' "$tmp/out"
run 2 arch decode "[1, 2, 3]"
run 2 arch encode "$data/small.json"
check "encode names why" grep -q "small.json" "$tmp/err"
run 0 arch space
check "space prints a total" grep -q "total" "$tmp/out"
run 0 arch list
check "list names the family" grep -q "scale-decreased-49" "$tmp/out"
run 0 bench arch --count 200 --json
check "bench prints us_per_arch" grep -q '"us_per_arch":' "$tmp/out"

# The resolved graph as JSON, for tools in other languages.
run 0 arch resolve spinenet-49 --size 100
check "resolve prints endpoints" grep -q '"endpoints":' "$tmp/out"

# With LibTorch: the built module's parameters equal the cost model's, and the step benchmark runs.
if "$vertebra" bench --help | grep -q "step"; then
  run 0 arch stats spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --size 128 \
    --head retinanet --head-width 64 --classes 3 --built --json
  check "built_params equals total_params" python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(d['built_params'] != d['total_params'])"
  run 0 bench step spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --size 64 --batch 2 \
    --steps 2 --warmup 1 --json
  for key in images_per_s ms_per_step peak_rss_mb; do
    check "bench step prints $key" grep -q "\"$key\":" "$tmp/out"
  done
  run 2 bench step spinenet-49 --device tpu
  check "bad device is named" grep -q "device 'tpu'" "$tmp/err"
  run 0 bench step spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --size 64 --batch 2 \
    --steps 1 --warmup 0 --precision auto --probe-seconds 0.05 --json
  check "bench step reports its FLOP/s against the probe's peak" python3 -c "import json,sys; d=json.load(open('$tmp/out')); p=d['peak_bf16_flops' if d['bf16'] else 'peak_fp32_flops']; a=d['achieved_flops']; sys.exit(not (a > 0 and p > 0 and abs(d['fraction_of_peak'] * p - a) <= 1e-9 * a and abs(a - 6 * d['macs_per_image'] * d['images_per_s']) <= 1e-9 * a))"
  cp "$tmp/out" "$tmp/step.json"
  run 0 arch stats spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --size 64 --head retinanet \
    --head-width 64 --classes 3 --json
  check "bench step's multiply-adds are the cost model's" python3 -c "import json,sys; s=json.load(open('$tmp/step.json')); a=json.load(open('$tmp/out')); sys.exit(s['macs_per_image'] != a['total_macs'])"
  check "bench step says what it computed in" python3 -c "import json,sys; d=json.load(open('$tmp/step.json')); sys.exit(d['precision'] not in ('fp32', 'bf16') or d['precision_requested'] != 'auto')"
  run 2 bench step spinenet-49 --precision fp16
  check "a bad precision is named" grep -q "precision" "$tmp/err"
  run 0 data synth --out "$tmp/synth" --images 6 --size 64 --seed 3
  check "synth wrote instances.json" test -f "$tmp/synth/instances.json"
  check "synth wrote 6 images" test "$(ls "$tmp/synth/images" | wc -l)" -eq 6
  run 2 data synth --out "$tmp/synth2" --images 2 --spec "synthetic:bogus=1"
  check "bad synthetic key is named" grep -q "bogus" "$tmp/err"
  check "data synth --help names --kind" bash -c "'$vertebra' data synth --help | grep -q -- --kind"
  run 2 data synth --out "$tmp/synth2" --kind fashion-mnist --spec "synthetic:images=2"
  check "a spec of another kind is refused" grep -q "is not of --kind fashion-mnist" "$tmp/err"
  run 2 data synth --out "$tmp/synth2" --images 2 --spec "synthetic:images=3"
  check "a flag and the spec setting one option name both" grep -q -- "--images and --spec's key 'images' are both given" "$tmp/err"
  check "nothing is written when flag and spec collide" test ! -e "$tmp/synth2"
  run 2 data synth --out "$tmp/fm" --kind fashion-mnist --spec "fashion-mnist:tint=2"
  check "bad fashion-mnist key is named" grep -q "'tint'" "$tmp/err"
  run 2 data synth --out "$tmp/fm" --kind fashion-mnist --spec "fashion-mnist:dir=$tmp/nowhere"
  check "missing fashion-mnist files name the file and the package" \
    grep -q "nowhere/train-images-idx3-ubyte.gz: no such file.*apt-get install dataset-fashion-mnist" "$tmp/err"
  if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    # Canvases composed from Fashion-MNIST as a COCO folder `train --data coco:...` reads.
    run 0 data synth --kind fashion-mnist --out "$tmp/fm" --images 5 --seed 2
    check "fashion-mnist synth wrote 5 images" test "$(ls "$tmp/fm/images" | wc -l)" -eq 5
    check "fashion-mnist instances.json has the 10 classes" python3 -c "
import json, sys
d = json.load(open('$tmp/fm/instances.json'))
names = [c['name'] for c in d['categories']]
sys.exit(not (len(names) == 10 and names[0] == 'T-shirt/top' and names[9] == 'Ankle boot'
              and len(d['images']) == 5 and d['annotations']))"
  else
    echo "SKIP fashion-mnist data synth: dataset-fashion-mnist is not installed"
  fi
  extra_help="bench step"

  # Training: a tiny run writes its folder; Ctrl-C-free resume; refusals name the reason.
  tiny=(--arch spinenet-49 --held-out 4 --size 64 --batch 2 --quiet)
  synth="synthetic:images=16,size=64"
  run 0 train "${tiny[@]}" --data "$synth" --steps 3 --stop-after 2 --out "$tmp/run"
  check "stopped run says how to resume" grep -q "resume" "$tmp/out"
  run 0 train "${tiny[@]}" --data "$synth" --steps 3 --out "$tmp/run" --resume --json
  check "resumed run completes" python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(d['status'] != 'completed' or d['resumed_from'] != 2 or len(d['ap']) != 12)"
  check "result.json records the precision" python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(d['precision'] not in ('fp32', 'bf16') or d['precision_requested'] != 'auto')"
  for f in metrics.jsonl checkpoint.pt detections.json result.json; do
    check "train wrote $f" test -f "$tmp/run/$f"
  done
  check "no temporary file left in the run" test "$(ls "$tmp/run" | grep -c tmp)" -eq 0
  run 0 eval "$tmp/synth/instances.json" "$tmp/run/detections.json" --json
  run 2 train "${tiny[@]}" --data "$synth" --steps 3 --out "$tmp/run"
  check "an existing run is not overwritten" grep -q "pass --resume" "$tmp/err"
  run 2 train "${tiny[@]}" --data "$synth" --steps 4 --out "$tmp/run" --resume
  check "another run's checkpoint is refused" grep -q "steps was 3, now 4" "$tmp/err"
  run 2 train "${tiny[@]}" --steps 3 --out "$tmp/run2" --data imagenet
  check "bad data spec is named" grep -q "data 'imagenet'" "$tmp/err"
  run 2 train "${tiny[@]}" --data "$synth" --out "$tmp/run3"
  check "steps or epochs required" grep -q "steps" "$tmp/err"
  run 2 train --arch spinenet-49 --steps 3 --out "$tmp/run4" --data "coco:$tmp/synth/instances.json:$tmp/synth/images"
  check "coco needs a held-out split" grep -q "held-out" "$tmp/err"
  run 0 train --arch spinenet-49 --data "coco:$tmp/synth/instances.json:$tmp/synth/images" --held-out 2 \
    --size 64 --batch 2 --steps 2 --quiet --out "$tmp/coco_run"
  check "coco run evaluated 2 images" grep -q '"eval_images": 2' "$tmp/coco_run/result.json"
  cp -r "$tmp/synth" "$tmp/corrupt"
  echo "not a png" >"$tmp/corrupt/images/000001.png"
  run 0 train --arch spinenet-49 --data "coco:$tmp/corrupt/instances.json:$tmp/corrupt/images" --held-out 2 \
    --size 64 --batch 2 --steps 2 --quiet --out "$tmp/corrupt_run"
  check "a corrupt image is skipped and counted" python3 -c "import json,sys; d=json.load(open('$tmp/corrupt_run/result.json')); sys.exit(d['status'] != 'completed' or d['skipped_images'] < 1)"
  run 0 bench loader --size 64 --batch 2 --steps 2 --batches 3 --rounds 1 --json
  check "bench loader prints a ratio" grep -q '"ratio_to_step":' "$tmp/out"
  run 0 bench maxup --size 64 --batch 2 --steps 2 --rounds 1 --maxup 2 --json
  check "bench maxup prints a ratio" grep -q '"time_ratio_to_plain":' "$tmp/out"
  extra_help="$extra_help"
fi

# COCO evaluation: perfect detections give AP 1 (up to pycocotools' epsilon); bad files exit 2.
run 0 eval "$data/eval_gt.json" "$data/eval_dets.json" --json
check "eval prints the 12 keys" python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(len(d) != 12 or abs(d['AP'] - 1) > 1e-9)"
run 2 eval "$data/eval_gt.json" "$data/no_such_dets.json"
check "missing detections file is named" grep -q "no_such_dets.json" "$tmp/err"
run 2 eval "$data/small.json" "$data/eval_dets.json"

# --help on every command.
for cmd in "" "arch" "arch validate" "arch stats" "arch draw" "arch sample" "arch encode" "arch decode" \
           "arch space" "arch list" "arch resolve" "bench" "bench arch" "eval" ${extra_help:+"$extra_help"} ${extra_help:+"data synth"} \
           ${extra_help:+"train"} ${extra_help:+"bench loader"} ${extra_help:+"bench maxup"}; do
  # shellcheck disable=SC2086
  run 0 $cmd --help
  check "'$cmd --help' prints usage" grep -qi "usage" "$tmp/out"
done

summary cli
