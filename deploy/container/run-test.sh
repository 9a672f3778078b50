#!/usr/bin/env bash
# shellcheck disable=SC2015  # `A && pass ... || fail ...`: pass only echoes, so fail runs only when A fails
# The CPU image end to end with podman, as anyone reruns it (as root, on Debian 12 with podman):
#   1. the base image (base.sh; skipped when it exists) and the image (Containerfile), each timed;
#   2. the image alone: `--help`, every library resolved (ldd inside), `arch list`, and two real
#      LibTorch training steps with a read-only root filesystem, as deploy/k8s runs it;
#   3. a simulated search over a podman network with fixed addresses: one controller container
#      (database on a mounted folder, --exit-when-done) and two worker containers, all with
#      read-only root filesystems and a per-run token (0600) mounted into all three; the
#      controller's health check must pass;
#   4. after the controller has exited, the database (read with the image's `status`): state
#      finished, every trial done/failed/rejected, done + failed == budget, no rung counted twice,
#      every report a worker saw acknowledged stored, and both worker containers did trials.
# Prints the timings and PASS or FAIL; removes its containers and network on exit (the images
# stay unless --clean).
#
#   sudo deploy/container/run-test.sh [--clean] [--keep] [--no-cache] [--jobs N]
#     --clean     also remove the images (vertebra and its base) and the build's compiler cache
#                 at the end, so that the next run builds from nothing
#     --keep      keep the run folder (database, logs, status.json); kept anyway on failure
#     --no-cache  build the image without podman's layer cache (the compiler cache still helps)
#     --jobs N    ninja jobs in the image build (default: cores + 2)
#
# Environment: IMAGE (NAME:TAG, default localhost/vertebra:latest; the build stage is tagged
# NAME-build:latest), BASE_IMAGE (default: docker.io's
# debian:bookworm when VERTEBRA_BASE=docker, else localhost/vertebra-base:bookworm from base.sh),
# SUBNET (default 10.89.77.0/24: the test network; pick another if it is taken),
# CONTAINERS_CONF / VERTEBRA_CONTAINERS_CONF (see containers.conf: the VM workarounds are used
# unless you set either). Measured timings are in README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# A failure after the run folder exists keeps it (cleanup below), with its logs.
die() { echo "run-test.sh: $*" >&2; failures=$((${failures:-0} + 1)); exit 1; }
usage() {
  awk 'NR > 1 && /^# shellcheck/ { next } NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit "${1:-0}"
}

clean=0 keep=0 build_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage 0 ;;
    --clean) clean=1 ;;
    --keep) keep=1 ;;
    --no-cache) build_args+=(--no-cache) ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a number"; build_args+=(--build-arg "JOBS=$2"); shift ;;
    *) echo "run-test.sh: unknown argument $1" >&2; usage 2 ;;
  esac
  shift
done

image=${IMAGE:-localhost/vertebra:latest}
if [ "${VERTEBRA_BASE:-local}" = docker ]; then
  base_image=${BASE_IMAGE:-docker.io/library/debian:bookworm}
else
  base_image=${BASE_IMAGE:-localhost/vertebra-base:bookworm}
fi
subnet=${SUBNET:-10.89.77.0/24}
prefix=${subnet%.*}  # the test uses PREFIX.10 (controller), .11 and .12 (workers)
[[ "$subnet" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.0/24$ ]] || die "SUBNET must be an IPv4 /24 like 10.89.77.0/24"

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 (base.sh needs debootstrap; the test uses rootful podman networks)"
command -v podman >/dev/null || die "podman is missing: apt-get install podman runc"
command -v python3 >/dev/null || die "python3 is missing (it checks the database's JSON)"
if [ -z "${CONTAINERS_CONF:-}" ] && [ -n "${VERTEBRA_CONTAINERS_CONF-$here/containers.conf}" ]; then
  export CONTAINERS_CONF=${VERTEBRA_CONTAINERS_CONF-$here/containers.conf}
fi
if [ -n "${CONTAINERS_CONF:-}" ]; then
  [ -r "$CONTAINERS_CONF" ] || die "CONTAINERS_CONF=$CONTAINERS_CONF is not readable"
  if grep -Eq '^\s*runtime\s*=\s*"runc"' "$CONTAINERS_CONF" && ! command -v runc >/dev/null; then
    die "$CONTAINERS_CONF selects runc, which is missing: apt-get install runc"
  fi
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "PASS: $*"; }

tag=vertebra-test-$$
net=$tag
ctl=$tag-controller
workers=("$tag-worker-1" "$tag-worker-2")
run=$(mktemp -d /var/tmp/vertebra-container-test.XXXXXX)
chmod 755 "$run"
created_net=0
cleanup() {
  local c
  # -v: also the anonymous volume the image's VOLUME gives every container that mounts nothing there.
  for c in "$ctl" "${workers[@]}"; do podman rm -f -v -t 2 "$c" >/dev/null 2>&1 || true; done
  [ "$created_net" = 1 ] && { podman network rm -f "$net" >/dev/null 2>&1 || true; }
  if [ "$clean" = 1 ]; then
    podman rmi -f "$image" "${image%:*}-build:latest" >/dev/null 2>&1 || true
    [[ "$base_image" == localhost/* ]] && { podman rmi -f "$base_image" >/dev/null 2>&1 || true; }
    # The untagged layers of this build (both stages carry the label), not other projects' images.
    podman image prune -f --filter label=vertebra.image >/dev/null 2>&1 || true
    # The compiler cache of the build's cache mount (buildah keeps it under $TMPDIR or /var/tmp).
    rm -rf "${TMPDIR:-/var/tmp}/buildah-cache/vertebra-ccache"
  fi
  if [ "$keep" = 1 ] || [ "$failures" -gt 0 ]; then
    echo "run folder kept: $run"
  else
    rm -rf "$run"
  fi
}
trap cleanup EXIT
trap 'echo "run-test.sh: interrupted" >&2; exit 130' INT TERM

t0=$(now)
# 1. Images.
t=$(now)
if [[ "$base_image" == localhost/* ]]; then
  "$here/base.sh" --image "$base_image" || die "base.sh failed"
fi
t_base=$(since "$t")
t=$(now)
echo "building $image from $base_image"
# The build stage first, under a tag of its own: it is the next build's layer cache, and older
# build stages, untagged once the tag moves on, can be pruned (about 0.2 GB each: /build).
build_image=${image%:*}-build:latest
if ! { nice -n 10 podman build -f "$here/Containerfile" --build-arg "BASE=$base_image" ${build_args[@]+"${build_args[@]}"} \
    --target build -t "$build_image" "$repo" >"$run/build.log" 2>&1 &&
  nice -n 10 podman build -f "$here/Containerfile" --build-arg "BASE=$base_image" ${build_args[@]+"${build_args[@]}"} \
    -t "$image" "$repo" >"$run/build-image.log" 2>&1; }; then
  tail -40 "$run/build.log" "$run/build-image.log" 2>/dev/null
  die "the image build failed; the logs are $run/build.log and $run/build-image.log"
fi
t_build=$(since "$t")
# Earlier builds' layers that no tag needs any more (both stages carry the label); nothing else.
podman image prune -f --filter label=vertebra.image >/dev/null 2>&1 || true
# Warm or cold: how many steps came from the layer cache (the build stage from the first build,
# the runtime stage from the second; the source layer is usually new).
cached=$(( $(grep -c -- '--> Using cache' "$run/build.log" || true) +
  $(sed -n '/^\[2\/2\] STEP/,$p' "$run/build-image.log" | grep -c -- '--> Using cache' || true) ))
steps=$(( $(grep -E '^(\[[0-9]+/[0-9]+\] )?STEP [0-9]+/[0-9]+: ' "$run/build.log" | grep -vc ': FROM ' || true) +
  $(grep -E '^\[2/2\] STEP [0-9]+/[0-9]+: ' "$run/build-image.log" | grep -vc ': FROM ' || true) ))
kind=$([ "$cached" -gt 0 ] && echo warm || echo cold)
ccache_line=$(grep -E '^\s*Hits:' "$run/build.log" | head -1 | tr -s ' ' || true)
echo "image $image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'),"\
  "built in $t_build s ($kind: $cached of $steps steps from the layer cache${ccache_line:+; ccache:$ccache_line})"

# 2. The image alone.
t=$(now)
podman run --rm "$image" --help >"$run/help.txt" 2>&1 && grep -q 'Subcommands:' "$run/help.txt" &&
  pass "podman run IMAGE --help" || fail "podman run IMAGE --help: $(head -3 "$run/help.txt")"
if podman run --rm --entrypoint ldd "$image" /usr/local/bin/vertebra >"$run/ldd.txt" 2>&1; then
  missing=$(grep -c 'not found' "$run/ldd.txt" || true)
  [ "$missing" = 0 ] && pass "ldd in the image: $(wc -l <"$run/ldd.txt") libraries, none missing" ||
    fail "ldd in the image: $missing not found: $(grep 'not found' "$run/ldd.txt" | head -5 | tr -s ' \t' ' ')"
else
  fail "ldd in the image failed: $(head -3 "$run/ldd.txt")"
fi
[ "$(podman run --rm --entrypoint id "$image" -u)" = 10001 ] && pass "runs as uid 10001" || fail "the image does not run as 10001"
podman run --rm "$image" arch list >"$run/arch.txt" 2>&1 && grep -q spinenet-49 "$run/arch.txt" &&
  pass "vertebra arch list" || fail "vertebra arch list: $(head -3 "$run/arch.txt")"
# Two real training steps (LibTorch, BLAS, the data pipeline) with the root filesystem read-only;
# podman mounts a tmpfs on /tmp.
if podman run --rm --read-only "$image" train --arch spinenet-49 --steps 2 --batch 2 --size 64 \
  --val synthetic:images=8 --out /tmp/train >"$run/train.txt" 2>&1 && grep -q 'completed 2 steps' "$run/train.txt"; then
  pass "vertebra train (2 steps, read-only root): $(grep 'completed' "$run/train.txt" | cut -c1-60)"
else
  fail "vertebra train in the image: $(tail -3 "$run/train.txt")"
fi
t_smoke=$(since "$t")

# 3. The search: controller and two workers on their own network.
t=$(now)
mkdir -p "$run/etc" "$run/db" "$run/work-1" "$run/work-2" "$run/logs"
# 40 trials at two rungs, 4 leases at a time, 0.2 s per top-rung trial: well under a minute. The
# RL policy (reinforce), as experiments/simulated.json, so the controller runs LibTorch too.
cat >"$run/etc/experiment.json" <<'EOF'
{
  "name": "container-test",
  "seed": 7,
  "algorithm": {"kind": "reinforce", "population": 8, "tournament": 3, "queue": 4},
  "budget": {"trials": 40, "parallel": 4},
  "proxy": {"data": "synthetic", "size": 128, "scaling": "proxy", "batch": 16},
  "rungs": {"steps": [500, 1500], "eta": 3},
  "lease": {"lease_seconds": 5, "heartbeat_seconds": 1, "max_attempts": 3},
  "simulation": {"seconds": 0.2, "noise": 0.01, "low_rung_bias": 0.5, "low_rung_noise": 0.02}
}
EOF
# A new token for this run, readable only by the containers' user (10001): never in an argument
# or the environment.
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$run/etc/token")
chown -R 10001:10001 "$run/etc" "$run/db" "$run/work-1" "$run/work-2"
chmod 0750 "$run/etc"
[ "$(stat -c %a "$run/etc/token")" = 600 ] && pass "token file is 0600" || fail "token file mode $(stat -c %a "$run/etc/token")"

podman network create --subnet "$subnet" "$net" >/dev/null || die "podman network create --subnet $subnet failed (taken? set SUBNET)"
created_net=1
# The health check asks the controller for the experiment's status with the token (a real,
# authenticated RPC); --health-interval disable: no systemd timer (this VM has no systemd), the
# test runs it with `podman healthcheck run`.
podman run -d --name "$ctl" --network "$net" --ip "$prefix.10" --read-only \
  -v "$run/db:/var/lib/vertebra" -v "$run/etc:/etc/vertebra:ro" \
  --health-cmd 'vertebra status --controller 127.0.0.1:50051 --token-file /etc/vertebra/token --json' \
  --health-interval disable \
  "$image" controller --config /etc/vertebra/experiment.json --db /var/lib/vertebra/search.db \
  --listen 0.0.0.0:50051 --token-file /etc/vertebra/token --port-file /var/lib/vertebra/search.db.port \
  --exit-when-done >/dev/null || die "the controller container did not start"
healthy=0
for _ in $(seq 150); do
  if podman healthcheck run "$ctl" >/dev/null 2>&1; then healthy=1; break; fi
  [ "$(podman inspect --format '{{.State.Running}}' "$ctl")" = true ] || break
  sleep 0.2
done
[ "$healthy" = 1 ] && pass "controller healthy (podman healthcheck run) after $(since "$t") s" ||
  fail "the controller never became healthy: $(podman logs "$ctl" 2>&1 | tail -5)"
for i in 1 2; do
  podman run -d --name "${workers[$((i - 1))]}" --network "$net" --ip "$prefix.1$i" --hostname "worker-$i" --read-only \
    -v "$run/work-$i:/work" -v "$run/etc/token:/etc/vertebra/token:ro" \
    "$image" worker --controller "$prefix.10:50051" --token-file /etc/vertebra/token --device cpu \
    --work-dir /work --simulate --give-up 30 >/dev/null || fail "worker $i did not start"
done
# Wait for the controller to finish the search. Workers exit as soon as they hear "finished",
# and the controller lingers two heartbeat intervals (at least 2 s) to tell the others; when
# every worker is gone and the controller still runs 30 s later, stop waiting (a crashed worker
# would otherwise look like a 300 s hang).
running() { [ "$(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
ctl_rc=timeout
orphaned=0
for _ in $(seq 1500); do
  if ! running "$ctl"; then ctl_rc=$(podman inspect --format '{{.State.ExitCode}}' "$ctl"); break; fi
  if ! running "${workers[0]}" && ! running "${workers[1]}"; then
    orphaned=$((orphaned + 1))
    if [ "$orphaned" -gt 150 ]; then
      fail "both workers exited and the controller still runs 30 s later"
      podman stop -t 10 "$ctl" >/dev/null 2>&1 || true
      ctl_rc=stopped
      break
    fi
  fi
  sleep 0.2
done
[ "$ctl_rc" = timeout ] && fail "the controller did not exit within 300 s"
t_run=$(since "$t")
[ "$ctl_rc" = 0 ] && pass "controller exited 0 after $t_run s" || fail "controller exit status $ctl_rc"
# The workers see the finished experiment (or the stopped controller) and exit.
worker_rc=()
for w in "${workers[@]}"; do
  for _ in $(seq 300); do running "$w" || break; sleep 0.2; done
  running "$w" && podman stop -t 10 "$w" >/dev/null 2>&1
  worker_rc+=("$(podman inspect --format '{{.State.ExitCode}}' "$w")")
done
podman logs "$ctl" >"$run/logs/controller.log" 2>&1 || true
for i in 1 2; do podman logs "${workers[$((i - 1))]}" >"$run/logs/worker-$i.log" 2>&1 || true; done
for i in 1 2; do
  line=$(tail -1 "$run/logs/worker-$i.log")
  [ "${worker_rc[$((i - 1))]}" = 0 ] && pass "worker-$i exited 0: $line" ||
    fail "worker-$i exit status ${worker_rc[$((i - 1))]}: $line"
done

# 4. The database, read with the image's binary (as the containers' user).
if podman run --rm -v "$run/db:/var/lib/vertebra" "$image" status --db /var/lib/vertebra/search.db --json --trials \
  >"$run/status.json" 2>"$run/status.err"; then
  python3 "$repo/tests/account.py" --name database --each-worker "$run/status.json" \
    "$run/logs/worker-1.log" "$run/logs/worker-2.log" &&
    pass "every trial accounted for, no rung counted twice, both worker containers did trials" ||
    failures=$((failures + 1))
else
  fail "vertebra status --db in the image: $(head -3 "$run/status.err")"
fi

echo
echo "timings: base image $t_base s (0 when it existed), image build $t_build s ($kind)," \
  "image checks $t_smoke s, search $t_run s, total $(since "$t0") s"
if [ "$failures" -eq 0 ]; then
  echo "PASS: run-test.sh"
else
  echo "FAIL: run-test.sh ($failures failures; logs in $run/logs)"
  exit 1
fi
