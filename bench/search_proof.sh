#!/usr/bin/env bash
# The controller's proof on the surrogate objective (worker/agent/surrogate_fit.json, fitted on
# the fidelity study): every policy side by side, 300 trials per search, under one rung (1,800
# steps) and under successive halving (450 then 1,800), 50 seeds each.
#
#   tune    seeds 1-50: the RL learning rate (PPO and REINFORCE at 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
#   report  seeds 1001-1050, at the defaults: PPO, evolution with and without priors,
#           predictor-guided proposals and random search; REINFORCE at its tuned rate
#
# Each part writes OUT/NAME.txt (the table `vertebra bench search` prints) and OUT/NAME.runs.csv
# (one row per search); the report parts also draw docs/search-proof-*.svg.
# A part whose files exist is not run again, so the script resumes where it stopped. Parts run
# JOBS at a time (default 2).
#
#   bash bench/search_proof.sh [tune|report|all]
set -euo pipefail
cd "$(dirname "$0")/.."
VERTEBRA=${VERTEBRA:-build/vertebra}
OUT=${OUT:-bench/results/proof}
SEEDS=${SEEDS:-50}
JOBS=${JOBS:-2}
mkdir -p "$OUT"

part() {  # NAME ARGS...: one `bench search` run, kept only when it finishes
  local name=$1
  shift
  if [[ -s $OUT/$name.runs.csv ]]; then
    echo "$name: done before"
    return
  fi
  echo "$(date +%H:%M:%S) $name: bench search $*"
  nice -n 10 "$VERTEBRA" bench search --config experiments/simulated.json --objective surrogate \
    --seeds "$SEEDS" --runs-csv "$OUT/$name.runs.csv.part" "$@" > "$OUT/$name.txt.part"
  mv "$OUT/$name.txt.part" "$OUT/$name.txt"
  mv "$OUT/$name.runs.csv.part" "$OUT/$name.runs.csv"
  echo "$(date +%H:%M:%S) $name: done"
}

run_parts() {  # "NAME ARGS..." lines, JOBS at a time
  local line
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    while (($(jobs -rp | wc -l) >= JOBS)); do wait -n; done
    # shellcheck disable=SC2086
    part $line &
  done
  wait
}

tune() {
  run_parts <<PARTS
tune-ppo --first-seed 1 --rungs 450,1800 --algorithms ppo random --learning-rates 0.001 0.003 0.01
tune-reinforce --first-seed 1 --rungs 450,1800 --algorithms reinforce random --learning-rates 0.001 0.003 0.01
tune-fast --first-seed 1 --rungs 450,1800 --algorithms ppo reinforce random --learning-rates 0.03 0.1
PARTS
}

report() {
  # RL at the default learning rate with the algorithm the tuning chose (PPO); REINFORCE at its own
  # best rate beside random search; predictor-guided proposals drawn by mutation (drawing them
  # from the RL policy costs 4x the CPU and was left out).
  local algorithms="ppo evolution evolution+seeds evolution+guided random"
  run_parts <<PARTS
report-halving --first-seed 1001 --rungs 450,1800 --algorithms $algorithms --svg docs/search-proof-halving.svg
report-one-rung --first-seed 1001 --rungs 1800 --algorithms $algorithms --svg docs/search-proof-one-rung.svg
report-reinforce --first-seed 1001 --rungs 450,1800 1800 --algorithms reinforce random --learning-rates 0.01
PARTS
}

case ${1:-all} in
  tune) tune ;;
  report) report ;;
  all) tune && report ;;
  *) echo "usage: bash bench/search_proof.sh [tune|report|all]" >&2; exit 2 ;;
esac
