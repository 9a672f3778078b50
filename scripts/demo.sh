#!/usr/bin/env bash
# The main job, for now: the architecture tools on the SpineNet family and the search space, a
# short proxy training on the built-in data, and a simulated search with a controller and two
# workers. Writes its pictures and runs to demo-out/.
set -euo pipefail
vertebra=${1:-build/vertebra}
out=demo-out
mkdir -p "$out"

say() { printf '\n== %s\n' "$*"; }

say "The reference family (exact backbone parameters, multiply-adds at 640)"
"$vertebra" arch list

say "SpineNet-49 with the paper's RetinaNet head (4 x 256, 91 classes, 9 anchors) at 640"
"$vertebra" arch stats spinenet-49 --size 640 --head retinanet

say "SpineNet-49, drawn for the terminal (and as $out/spinenet-49.svg)"
"$vertebra" arch draw spinenet-49 -o "$out/spinenet-49.svg" --text

say "The search space"
"$vertebra" arch space

say "Three architectures sampled uniformly from it, priced at the proxy setting (512 px, scale 0.25, alpha 0.25)"
"$vertebra" arch sample --seed 2020 --count 3 > "$out/samples.jsonl"
i=0
while IFS= read -r line; do
  printf '%s\n' "$line" > "$out/sample-$i.json"
  "$vertebra" arch stats "$out/sample-$i.json" --size 512 --filter-scale 0.25 --alpha 0.25 \
    --endpoint-filters 64 --head retinanet --head-width 64 --classes 3 | sed -n '1p;/backbone/p;/total/p'
  "$vertebra" arch draw "$out/sample-$i.json" -o "$out/sample-$i.svg" > /dev/null 2>&1
  i=$((i + 1))
done < "$out/samples.jsonl"

if "$vertebra" data --help > /dev/null 2>&1; then
  say "The built-in synthetic detection set, written as a COCO folder ($out/synthetic)"
  "$vertebra" data synth --out "$out/synthetic" --images 64 --size 128 --seed 1
fi

say "Pricing speed (decode + validate + resolve + cost + hash)"
"$vertebra" bench arch --count 20000

if "$vertebra" train --help > /dev/null 2>&1; then
  say "A short proxy training of SpineNet-49 on the built-in data (200 steps, about a minute on 2 cores)"
  rm -rf "$out/train-s49"
  "$vertebra" train --arch spinenet-49 --steps 200 --threads 2 --out "$out/train-s49"
fi

say "A simulated search: a controller and two simulated workers on $out/search.db"
rm -f "$out/search.db" "$out/search.db-wal" "$out/search.db-shm" "$out/port"
"$vertebra" controller --config experiments/simulated.json --db "$out/search.db" --listen 127.0.0.1:0 \
  --port-file "$out/port" --exit-when-done &
controller=$!
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
for i in 1 2; do
  "$vertebra" worker --controller "127.0.0.1:$(cat "$out/port")" --simulate --quiet --work-dir "$out/worker-$i" &
done
wait
"$vertebra" status --db "$out/search.db"
"$vertebra" top --db "$out/search.db" -n 5

printf '\nPictures are in %s/.\n' "$out"
