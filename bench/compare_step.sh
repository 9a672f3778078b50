#!/usr/bin/env bash
# C++ (`vertebra bench step`) vs Python (bench/step.py, same network, same step) on the proxy
# settings, interleaved (C++, Python, C++, Python, ... ROUNDS each per configuration) so that
# machine noise hits both. Both get the same allocator setting (the C++ binary calls
# mallopt(M_MMAP_THRESHOLD / M_TRIM_THRESHOLD, 1 << 30) at start; both also get the equivalent
# MALLOC_* environment) and OPENBLAS_NUM_THREADS equal to the thread count.
#
# Prints a table of median images/s per configuration and the C++/Python ratio.
#
# Environment knobs (defaults in brackets): VERTEBRA [build/vertebra], PYTHON [/usr/bin/python3],
# ROUNDS [3], SIZES ["128 256"], THREADS ["1 2"], LAYOUTS ["nchw cl"], STEPS_128 [15],
# STEPS_256 [8] (other sizes: STEPS [8]), WARMUP [3], KEEP [unset: delete the raw JSON lines].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERTEBRA="${VERTEBRA:-$ROOT/build/vertebra}"
PYTHON="${PYTHON:-/usr/bin/python3}"
ROUNDS="${ROUNDS:-3}"
SIZES="${SIZES:-128 256}"
THREADS="${THREADS:-1 2}"
LAYOUTS="${LAYOUTS:-nchw cl}"
WARMUP="${WARMUP:-3}"
ARCH=(spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --head-width 64 --batch 8)
ALLOC_ENV=(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824)

[[ -x "$VERTEBRA" ]] || { echo "compare_step.sh: no vertebra binary at $VERTEBRA" >&2; exit 1; }

RAW="$(mktemp -t compare_step.XXXXXX.jsonl)"
if [[ -z "${KEEP:-}" ]]; then trap 'rm -f "$RAW"' EXIT; fi

blas="$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: //p')"
echo "BLAS (libblas.so.3 alternative): ${blas:-unknown}"
echo "torch: $("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null), vertebra: $VERTEBRA"
echo "cores: $(nproc); load before: $(uptime | sed 's/.*load average: //')"
echo "settings: ${ARCH[*]}; rounds $ROUNDS; warmup $WARMUP"
start_s=$SECONDS

steps_for() {
  case "$1" in
    128) echo "${STEPS_128:-15}" ;;
    256) echo "${STEPS_256:-8}" ;;
    *) echo "${STEPS:-8}" ;;
  esac
}

# run IMPL CONFIG SIZE THREADS LAYOUT: one benchmark process; appends a tagged JSON line to $RAW.
run() {
  local impl="$1" config="$2" size="$3" threads="$4" layout="$5"
  local args=("${ARCH[@]}" --size "$size" --threads "$threads" --steps "$(steps_for "$size")" --warmup "$WARMUP" --json)
  [[ "$layout" == cl ]] && args+=(--channels-last)
  local out
  if [[ "$impl" == cpp ]]; then
    out="$(env "${ALLOC_ENV[@]}" OPENBLAS_NUM_THREADS="$threads" "$VERTEBRA" bench step "${args[@]}")"
  else
    out="$(env "${ALLOC_ENV[@]}" OPENBLAS_NUM_THREADS="$threads" "$PYTHON" "$ROOT/bench/step.py" "${args[@]}" \
             --vertebra "$VERTEBRA" 2>/dev/null)"
  fi
  printf '{"impl":"%s","config":"%s","result":%s}\n' "$impl" "$config" "$out" >>"$RAW"
  printf '  %-22s %-6s %7.1f images/s\n' "$config" "$impl" \
    "$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_s"])' "$out")"
}

for size in $SIZES; do
  for threads in $THREADS; do
    for layout in $LAYOUTS; do
      config="${size}px ${threads}t ${layout}"
      echo "$config (load $(cut -d' ' -f1-3 /proc/loadavg))"
      for ((r = 1; r <= ROUNDS; r++)); do
        run cpp "$config" "$size" "$threads" "$layout"
        run py "$config" "$size" "$threads" "$layout"
      done
    done
  done
done

echo "load after: $(uptime | sed 's/.*load average: //'); took $((SECONDS - start_s)) s"
echo
"$PYTHON" - "$RAW" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows.setdefault(d["config"], {}).setdefault(d["impl"], []).append(d["result"])
print(f"{'config':<16} {'C++ img/s':>10} {'Py img/s':>10} {'C++/Py':>7}   {'C++ range':>13} {'Py range':>13}  loss check")
for config, impls in rows.items():
    c = [r["images_per_s"] for r in impls.get("cpp", [])]
    p = [r["images_per_s"] for r in impls.get("py", [])]
    if not c or not p:
        continue
    mc, mp = statistics.median(c), statistics.median(p)
    # Same seed, same weights and data: first losses must agree (float summation order aside).
    fc = impls["cpp"][0]["first_loss"]; fp = impls["py"][0]["first_loss"]
    same = "same" if abs(fc - fp) <= 1e-4 * max(1.0, abs(fc)) else f"DIFFER {fc:.5f} vs {fp:.5f}"
    print(f"{config:<16} {mc:>10.1f} {mp:>10.1f} {mc / mp:>7.2f}   {min(c):>5.1f}-{max(c):<7.1f} {min(p):>5.1f}-{max(p):<7.1f}  {same}")
EOF
