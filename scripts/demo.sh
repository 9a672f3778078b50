#!/usr/bin/env bash
# The main job: a glance at the SpineNet family and the search space, then a real search on the
# built-in data (experiments/demo.json: 16 proxy trials with successive halving, two controls and
# a small final validation, a controller and two workers, about 15 minutes on 2 cores) that ends
# with the verdict, the top architectures and demo-out/search/report.html. Run again, it resumes an
# interrupted search or reports a finished one.
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

say "A search on the built-in data: a controller and two workers (Ctrl-C stops it; run again to resume)"
"$vertebra" launch --config experiments/demo.json --workers 2 --dir "$out/search"

printf '\nPictures are in %s/; the search, its logs and report.html in %s/search/.\n' "$out" "$out"
cat <<'EOF2'

The demo is a tour of the whole system sized for 15 minutes on 2 cores, not a search whose verdict
means something: its first rung (200 steps) sits in the focal-loss plateau, and its final stage
(2 seeds of 300 steps) is far too small to tell architectures apart. The experiment that carries
the full validation (Fashion-MNIST canvases, the fidelity study's rungs, 3 finalists x 3 seeds;
2 h 13 min on 2 cores, its verdict in the README):
  build/vertebra launch --config experiments/fashion.json --workers 2
EOF2
