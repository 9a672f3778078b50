#!/usr/bin/env bash
# The training figures of the README, on the built-in data, into OUT (default /tmp/vertebra-figures):
#   1. SpineNet-49 and scale-decreased-49 at proxy scaling, 128 px, 2 threads, 2000 steps, the
#      held-out AP every 200 steps (the curve against training time);
#   2. AP with and without MaxUp (4 copies) at equal steps, 1 thread each, side by side;
#   3. the loader and MaxUp cost benchmarks.
# Runs whose result.json exists are kept. Takes about 40 minutes on 2 cores.
set -euo pipefail
vertebra=${VERTEBRA:-$(dirname "$0")/../build/vertebra}
out=${1:-/tmp/vertebra-figures}
mkdir -p "$out"

train() {  # train FOLDER ARGS...
  local folder=$out/$1
  shift
  if [ ! -f "$folder/result.json" ]; then
    local resume=()
    [ -f "$folder/checkpoint.pt" ] && resume=(--resume)
    "$vertebra" train --out "$folder" --quiet "${resume[@]}" "$@" >/dev/null
  fi
}

curve() {  # The held-out AP against training seconds, from metrics.jsonl.
  python3 - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1] + "/metrics.jsonl"):
    j = json.loads(line)
    if j.get("event") == "eval":
        print(f"  step {j['step']:5d}  {j['elapsed_s'] / 60:5.1f} min  AP {j['AP']:.3f}  AP50 {j['AP50']:.3f}")
EOF
}

for arch in spinenet-49 scale-decreased-49; do
  train "curve-$arch" --arch "$arch" --steps 2000 --eval-every 200 --threads 2
  echo "$arch, 2000 steps, 2 threads:"
  curve "$out/curve-$arch"
done

common=(--arch spinenet-49 --steps 400 --threads 1 --loader-threads 1 --jitter 0.75 1.33)
train maxup-1 "${common[@]}" --maxup 1 &
train maxup-4 "${common[@]}" --maxup 4
wait
for m in 1 4; do
  python3 -c "import json; d=json.load(open('$out/maxup-$m/result.json')); print('maxup $m: AP %.3f AP50 %.3f, %.0f s' % (d['ap']['AP'], d['ap']['AP50'], d['train_seconds']))"
done

"$vertebra" bench loader --rounds 3 --steps 20 --batches 200
"$vertebra" bench maxup --rounds 2 --steps 15
