#!/usr/bin/env bash
# C++ (`vertebra bench step`) vs Python (bench/step.py, same network, same step) on the proxy
# settings, in each precision mode: fp32 NCHW, fp32 channels-last, bf16 channels-last. Everything
# is interleaved in one run: each round runs every configuration (thread count x mode), C++ then
# Python, so that machine noise hits all of them alike and the ratios are side by side. Both get
# the same allocator setting (the C++ binary calls mallopt(M_MMAP_THRESHOLD / M_TRIM_THRESHOLD,
# 1 << 30) at start; both also get the equivalent MALLOC_* environment) and OPENBLAS_NUM_THREADS
# equal to the thread count.
#
# Prints, per configuration, the median images/s of each and the C++/Python ratio; then, per
# thread count, the ratios between the modes (bf16 over fp32 channels-last, channels-last over
# NCHW) for each implementation, and the C++ step's share of the machine's GEMM peak in its
# precision (`vertebra bench step` probes fp32 and bf16 matrix products after its steps).
#
# bf16 needs a CPU with AVX512_BF16 or AMX; elsewhere `vertebra bench step --bf16` falls back to
# fp32 (and says so), and the bf16 rows say "fp32 (no bf16)".
#
# Environment knobs (defaults in brackets): VERTEBRA [build/vertebra], PYTHON [/usr/bin/python3],
# ROUNDS [3], SIZES ["128"], THREADS ["1 2"], MODES ["fp32-nchw fp32-cl bf16-cl"], STEPS_128 [15],
# STEPS_256 [8] (other sizes: STEPS [8]), WARMUP [3], KEEP [unset: delete the raw JSON lines;
# set: keep them and print their path].
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERTEBRA="${VERTEBRA:-$ROOT/build/vertebra}"
PYTHON="${PYTHON:-/usr/bin/python3}"
ROUNDS="${ROUNDS:-3}"
SIZES="${SIZES:-128}"
THREADS="${THREADS:-1 2}"
MODES="${MODES:-fp32-nchw fp32-cl bf16-cl}"
WARMUP="${WARMUP:-3}"
ARCH=(spinenet-49 --filter-scale 0.25 --alpha 0.25 --endpoint-filters 64 --head-width 64 --batch 8)
ALLOC_ENV=(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824)

[[ -x "$VERTEBRA" ]] || { echo "compare_step.sh: no vertebra binary at $VERTEBRA" >&2; exit 1; }
for mode in $MODES; do
  case "$mode" in
    fp32-nchw | fp32-cl | bf16-nchw | bf16-cl) ;;
    *) echo "compare_step.sh: MODES: unknown mode '$mode' (fp32-nchw, fp32-cl, bf16-nchw, bf16-cl)" >&2; exit 2 ;;
  esac
done

RAW="$(mktemp -t compare_step.XXXXXX.jsonl)"
if [[ -z "${KEEP:-}" ]]; then trap 'rm -f "$RAW"' EXIT; else echo "raw lines: $RAW"; fi

blas="$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: //p')"
echo "BLAS (libblas.so.3 alternative): ${blas:-unknown}"
echo "torch: $("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null), vertebra: $VERTEBRA"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); native bf16:" \
  "$(grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && echo yes || echo no)"
echo "cores: $(nproc); load before: $(uptime | sed 's/.*load average: //')"
echo "settings: ${ARCH[*]}; rounds $ROUNDS; warmup $WARMUP; modes $MODES"
start_s=$SECONDS

steps_for() {
  case "$1" in
    128) echo "${STEPS_128:-15}" ;;
    256) echo "${STEPS_256:-8}" ;;
    *) echo "${STEPS:-8}" ;;
  esac
}

# run IMPL SIZE THREADS MODE: one benchmark process; appends a tagged JSON line to $RAW.
run() {
  local impl="$1" size="$2" threads="$3" mode="$4"
  local config="${size}px ${threads}t ${mode}"
  local args=("${ARCH[@]}" --size "$size" --threads "$threads" --steps "$(steps_for "$size")" --warmup "$WARMUP" --json)
  [[ "$mode" == *-cl ]] && args+=(--channels-last)
  [[ "$mode" == bf16-* ]] && args+=(--bf16)
  local out
  if [[ "$impl" == cpp ]]; then
    out="$(env "${ALLOC_ENV[@]}" OPENBLAS_NUM_THREADS="$threads" "$VERTEBRA" bench step "${args[@]}")"
  else
    out="$(env "${ALLOC_ENV[@]}" OPENBLAS_NUM_THREADS="$threads" "$PYTHON" "$ROOT/bench/step.py" "${args[@]}" \
             --vertebra "$VERTEBRA" 2>/dev/null)"
  fi
  printf '{"impl":"%s","size":%s,"threads":%s,"mode":"%s","config":"%s","result":%s}\n' \
    "$impl" "$size" "$threads" "$mode" "$config" "$out" >>"$RAW"
  printf '  %-22s %-4s %7.1f images/s\n' "$config" "$impl" \
    "$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_s"])' "$out")"
}

for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
  for size in $SIZES; do
    for threads in $THREADS; do
      for mode in $MODES; do
        run cpp "$size" "$threads" "$mode"
        run py "$size" "$threads" "$mode"
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
    rows.setdefault((d["size"], d["threads"], d["mode"]), {}).setdefault(d["impl"], []).append(d["result"])

def median(runs, key):
    return statistics.median(r[key] for r in runs)

print(f"{'config':<20} {'C++ img/s':>10} {'Py img/s':>9} {'C++/Py':>7}   {'C++ range':>13} {'Py range':>13}"
      f"  {'C++ GFLOP/s':>11} {'of peak':>7}  loss check")
for (size, threads, mode), impls in rows.items():
    c, p = impls.get("cpp", []), impls.get("py", [])
    if not c or not p:
        continue
    mc, mp = median(c, "images_per_s"), median(p, "images_per_s")
    # Same seed, same weights and data: first losses must agree (float summation order aside;
    # bf16 rounds every conv, so its tolerance is wider).
    fc, fp = c[0]["first_loss"], p[0]["first_loss"]
    tol = (1e-2 if mode.startswith("bf16") else 1e-4) * max(1.0, abs(fc))
    same = "same" if abs(fc - fp) <= tol else f"DIFFER {fc:.5f} vs {fp:.5f}"
    ran = c[0].get("precision", "fp32")
    if mode.startswith("bf16") and ran != "bf16":
        same += ", fp32 (no bf16)"
    fractions = [r["fraction_of_peak"] for r in c if r.get("fraction_of_peak")]
    frac = f"{100 * statistics.median(fractions):6.1f}%" if fractions else f"{'-':>7}"
    ic, ip = [r["images_per_s"] for r in c], [r["images_per_s"] for r in p]
    print(f"{size}px {threads}t {mode:<12} {mc:>10.1f} {mp:>9.1f} {mc / mp:>7.2f}   "
          f"{min(ic):>5.1f}-{max(ic):<7.1f} {min(ip):>5.1f}-{max(ip):<7.1f}  "
          f"{median(c, 'achieved_flops') / 1e9:>11.2f} {frac}  {same}")

# Ratios between modes, round by round (the runs of one round are minutes apart at most), then the
# median over rounds.
print()
print(f"{'ratio between modes':<36} {'C++':>6} {'Python':>7}")
pairs = [("bf16-cl", "fp32-cl"), ("fp32-cl", "fp32-nchw"), ("bf16-cl", "fp32-nchw")]
sizes_threads = sorted({(s, t) for (s, t, _) in rows})
for size, threads in sizes_threads:
    for a, b in pairs:
        if (size, threads, a) not in rows or (size, threads, b) not in rows:
            continue
        out = []
        for impl in ("cpp", "py"):
            ra, rb = rows[(size, threads, a)].get(impl, []), rows[(size, threads, b)].get(impl, [])
            n = min(len(ra), len(rb))
            ratios = [ra[i]["images_per_s"] / rb[i]["images_per_s"] for i in range(n)]
            out.append(f"{statistics.median(ratios):.2f}" if ratios else "-")
        print(f"{size}px {threads}t {a + ' / ' + b:<28} {out[0]:>6} {out[1]:>7}")

peaks = [r["result"] for r in map(json.loads, open(sys.argv[1])) if r["impl"] == "cpp"]
for threads in sorted({r["threads"] for r in peaks}):
    f32 = [r["peak_fp32_flops"] for r in peaks if r["threads"] == threads and r.get("peak_fp32_flops")]
    b16 = [r["peak_bf16_flops"] for r in peaks if r["threads"] == threads and r.get("peak_bf16_flops")]
    if not f32:
        continue
    line = f"GEMM peak at {threads} thread(s), median of {len(f32)} probes: fp32 {statistics.median(f32) / 1e9:.1f} GFLOP/s"
    if b16:
        line += f", bf16 {statistics.median(b16) / 1e9:.1f} GFLOP/s"
    print(line)
EOF
