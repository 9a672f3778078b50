#!/usr/bin/env bash
# The GPU check: build Vertebra against the CUDA LibTorch of a GPU machine and measure it there.
#
# For a machine that has PyTorch with CUDA (python3 -c 'import torch') and a C++ compiler, CMake
# and Ninja, but none of Debian's packages: the build dependencies come as Debian 12 .deb files
# (extracted into a private prefix, never into /), LibTorch from the Python package.
#
#   bench/gpu_check.sh --debs DIR [--fashion DIR] [--out DIR] [--stages LIST] [--study-minutes M] [--jobs N]
#
# Stages, each logged and timed, each allowed to fail without stopping the next:
#   env     GPU, driver, torch, CUDA, C++ ABI, compiler
#   build   the vertebra binary (no tests) against torch.utils.cmake_prefix_path
#   step    `vertebra bench step` against bench/step.py (PyTorch eager, same model and step), side by
#           side and alternating: SpineNet-49 at the proxy scaling (128 px, batch 16) and at full
#           width (512 px, batch 16, 256-wide head, 80 classes), fp32 and bf16 autocast
#   train   `vertebra train` of SpineNet-49 at the proxy scaling on the synthetic set, wsd schedule,
#           600 steps, on the GPU: held-out AP and wall time
#   resume  a GPU run stopped at step 60 and resumed from its checkpoint (optimizer state, EMA, RNG)
#   search  `vertebra launch` of a small real search with 2 GPU workers (bounded in time)
#   study   bench/fidelity_study.py with --device cuda until --study-minutes (0: skip)
# --stages picks some (default: env,deps,build,step,train,resume,search,study); the build folder is
# build-cuda/ in the repository, so a second call on the same machine rebuilds nothing.
#
# What it writes under --out: log.txt (everything), figures.jsonl (one JSON object per
# measurement), fidelity-gpu.csv and study.txt when the study ran.
#
# Make the .deb folder on a Debian 12 machine (see the list in DEB_PACKAGES below):
#   mkdir -p .gpu-debs && (cd .gpu-debs && apt-get download $(bench/gpu_check.sh --packages))
set -uo pipefail

DEB_PACKAGES="libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc32 protobuf-compiler libgrpc++-dev
libgrpc++1.51 libgrpc-dev libgrpc29 protobuf-compiler-grpc libabsl-dev libabsl20220623 libc-ares-dev
libc-ares2 libre2-dev libre2-9 libssl-dev libssl3 zlib1g-dev zlib1g nlohmann-json3-dev libcli11-dev
libsqlite3-dev libsqlite3-0 libturbojpeg0-dev libturbojpeg0 libpng-dev libpng16-16 pkgconf pkgconf-bin libpkgconf3"

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

debs="" fashion="" out="gpu-check-out" study_minutes=0 jobs=8 stages="env,deps,build,step,train,resume,search,study"
while [ $# -gt 0 ]; do
  case "$1" in
    --debs) debs="$2"; shift 2 ;;
    --fashion) fashion="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --study-minutes) study_minutes="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --stages) stages="$2"; shift 2 ;;
    --packages) echo $DEB_PACKAGES; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$debs" ] || [ ! -d "$debs" ]; then
  echo "gpu_check.sh: --debs DIR: a folder of Debian 12 .deb files is required (see --help)" >&2
  exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/log.txt"
figures="$out/figures.jsonl"
: >"$log"
: >"$figures"
prefix=/tmp/vertebra-deps
build="$repo/build-cuda"
work=/tmp/vertebra-gpu-check
mkdir -p "$work"
# The binary with the extracted libraries on its path (only its own: Python keeps the system's).
libpath="$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu"
bin="$work/vertebra"
printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' "$libpath" "$build/vertebra" >"$bin"
chmod +x "$bin"
t0=$(date +%s)

say() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$log"; }
# stage NAME COMMAND...: run, log, time; never stop the script.
stage() {
  local name="$1"; shift
  say "=== $name"
  local start=$(date +%s)
  "$@" >>"$log" 2>&1
  local rc=$?
  say "=== $name: rc $rc in $(( $(date +%s) - start ))s"
  printf '{"stage": "%s", "rc": %d, "seconds": %d}\n' "$name" "$rc" "$(( $(date +%s) - start ))" >>"$figures"
  return $rc
}
# figure KIND COMMAND...: the command prints one JSON object (its whole stdout); it is stored with KIND.
figure() {
  local kind="$1"; shift
  local json
  json=$("$@" 2>>"$log" | python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read())))' 2>>"$log")
  if [ -n "$json" ]; then
    echo "{\"kind\": \"$kind\", \"result\": $json}" >>"$figures"
    echo "$kind: $json" >>"$log"
  else
    echo "{\"kind\": \"$kind\", \"error\": \"no result (see log.txt)\"}" >>"$figures"
    echo "$kind: no result" >>"$log"
  fi
}

env_stage() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11_abi", torch.compiled_with_cxx11_abi(), "gpu", torch.cuda.get_device_name(0)); sys.exit(0 if torch.compiled_with_cxx11_abi() else 1)'
  c++ --version | head -1
  cmake --version | head -1
  ninja --version
  nproc
  . /etc/os-release && echo "$PRETTY_NAME"
}

deps_stage() {
  rm -rf "$prefix" && mkdir -p "$prefix"
  for f in "$debs"/*.deb; do dpkg -x "$f" "$prefix" || return 1; done
  # Debian's -dev links may be absolute (libz.so -> /lib/...): point them into the prefix.
  find "$prefix" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link")
    if [ -e "$prefix$target" ]; then ln -sfn "$prefix$target" "$link"; fi
  done
  ls "$prefix/usr/bin"
}

build_stage() (
  local torch_prefix
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') || return 1
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
  # protoc and grpc_cpp_plugin run during the build.
  export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The extracted .pc files say prefix=/usr: pkgconf prepends the sysroot to their paths.
  export PKG_CONFIG_LIBDIR="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$prefix"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVERTEBRA_BUILD_TESTS=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" \
    -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc" -DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf" \
    -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" || return 1
  cmake --build "$build" -j "$(nproc)" --target vertebra || return 1
  "$bin" --version
)

proxy_flags="--filter-scale 0.25 --alpha 0.25 --endpoint-filters 64"

step_stage() {
  local round variant
  for round in 1 2; do
    for variant in "" "--bf16"; do
      figure "step cpp proxy${variant:+ bf16} r$round" \
        "$bin" bench step spinenet-49 $proxy_flags --size 128 --batch 16 --device cuda --channels-last \
        $variant --steps 40 --warmup 10 --json
      figure "step python proxy${variant:+ bf16} r$round" \
        python3 "$repo/bench/step.py" spinenet-49 $proxy_flags --size 128 --batch 16 --device cuda \
        --channels-last $variant --steps 40 --warmup 10 --vertebra "$bin" --json
      figure "step cpp full512${variant:+ bf16} r$round" \
        "$bin" bench step spinenet-49 --size 512 --batch 16 --head-width 256 --classes 80 --device cuda \
        --channels-last $variant --steps 20 --warmup 5 --json
      figure "step python full512${variant:+ bf16} r$round" \
        python3 "$repo/bench/step.py" spinenet-49 --size 512 --batch 16 --head-width 256 --classes 80 \
        --device cuda --channels-last $variant --steps 20 --warmup 5 --vertebra "$bin" --json
    done
  done
}

train_stage() {
  rm -rf "$work/train"
  figure "train spinenet-49 proxy synthetic wsd 600 cuda" \
    "$bin" train --arch spinenet-49 --scaling proxy --data synthetic --steps 600 --schedule wsd \
    --device cuda --loader-threads 4 --seed 1 --out "$work/train" --quiet --json
}

resume_stage() {
  rm -rf "$work/resume"
  local flags=(--arch spinenet-49 --scaling proxy --data synthetic --steps 120 --schedule wsd --readings 60 --ema 0.99
               --device cuda --loader-threads 4 --seed 1 --out "$work/resume" --quiet)
  "$bin" train "${flags[@]}" --stop-after 60
  echo "stopped with rc $?"
  figure "train resumed at 60 of 120 cuda" "$bin" train "${flags[@]}" --resume --json
}

search_stage() {
  rm -rf "$work/search"
  mkdir -p "$work/search"
  cat >"$work/search/gpu.json" <<'EOF'
{
  "name": "gpu-check",
  "seed": 1,
  "algorithm": {"kind": "reinforce", "update_every": 2},
  "budget": {"trials": 6, "parallel": 2},
  "proxy": {"data": "synthetic", "size": 128, "scaling": "proxy", "batch": 16, "learning_rate": 0.002,
            "threads": 2, "eval_every": 200, "schedule": "wsd", "cooldown_fraction": 0.15},
  "rungs": {"steps": [200, 600], "eta": 3},
  "lease": {"lease_seconds": 120, "heartbeat_seconds": 5, "max_attempts": 3}
}
EOF
  timeout 150 "$bin" launch --config "$work/search/gpu.json" --workers 2 --device cuda --dir "$work/search/run"
  local rc=$?
  "$bin" top --db "$work/search/run/search.db" --json >"$work/search/top.json" 2>>"$log" &&
    echo "{\"kind\": \"search top\", \"launch_rc\": $rc, \"result\": $(cat "$work/search/top.json")}" >>"$figures"
  return $rc
}

study_stage() {
  local data_args=()
  if [ -n "$fashion" ]; then data_args=(--data "fashion=fashion-mnist:dir=$fashion"); fi
  python3 "$repo/bench/fidelity_study.py" --vertebra "$bin" --device cuda --jobs "$jobs" --loader-threads 2 \
    --csv "$out/fidelity-gpu.csv" --runs "$work/fidelity" --datasets "$( [ -n "$fashion" ] && echo fashion,shapes || echo shapes )" \
    "${data_args[@]}" --deadline-minutes "$study_minutes" >"$out/study.txt" 2>&1
  local rc=$?
  python3 "$repo/bench/fidelity_study.py" --csv "$out/fidelity-gpu.csv" --report >>"$out/study.txt" 2>&1
  return $rc
}

wanted() { case ",$stages," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if wanted env; then stage env env_stage; fi
if wanted deps; then stage deps deps_stage; fi
if wanted build && ! stage build build_stage; then
  say "no binary: the other stages are skipped"
  exit 1
fi
if wanted step; then stage step step_stage; fi
if wanted train; then stage train train_stage; fi
if wanted resume; then stage resume resume_stage; fi
if wanted search; then stage search search_stage; fi
if wanted study && [ "$study_minutes" != 0 ]; then stage study study_stage; fi
say "done"
