#!/usr/bin/env bash
# Runs each libFuzzer target of a fuzz build (cmake -DVERTEBRA_FUZZ=ON, see `make fuzz`) for a
# bounded time, from its seed corpus in tests/fuzz/corpus/NAME (read only: new inputs go to a
# scratch corpus), and prints one line per target: executions, edges covered, corpus size. A
# crash, leak, sanitizer report or timeout stops that target, keeps the input in ARTIFACTS and
# makes the script exit 1 after the others have run.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]   (default: every *_fuzz binary there)
# Environment: ARTIFACTS (default: BUILD_DIR/fuzz-artifacts), KEEP_CORPUS (a folder: the scratch
# corpora are kept there, one folder per target).
set -uo pipefail
build=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
artifacts=${ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/tests/fuzz/*_fuzz; do [ -x "$f" ] && targets+=("$(basename "$f")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no *_fuzz targets in $build/tests/fuzz (build with -DVERTEBRA_FUZZ=ON)" >&2; exit 2; }

failed=0
for t in "${targets[@]}"; do
  name=${t%_fuzz}
  seeds=$root/tests/fuzz/corpus/$name
  work=$(mktemp -d)
  log=$work/log
  # -timeout: one input taking this long is a finding; -rss_limit_mb: so is this much memory.
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  units=$(find "$work" -maxdepth 1 -type f ! -name log | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "$t: ${runs:-?} runs in ${seconds} s, ${cov:-?} edges, corpus ${units} new inputs: ok"
  else
    echo "$t: FAILED (exit $rc) after ${runs:-?} runs; the input is in $artifacts; the end of its log:"
    tail -25 "$log"
    failed=1
  fi
  if [ -n "${KEEP_CORPUS:-}" ]; then
    mkdir -p "$KEEP_CORPUS/$name" && find "$work" -maxdepth 1 -type f ! -name log -exec cp {} "$KEEP_CORPUS/$name/" \;
  fi
  rm -rf "$work"
done
exit "$failed"
