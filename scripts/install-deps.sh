#!/usr/bin/env bash
# Installs every build and test dependency of Vertebra from Debian 12's archive.
# Idempotent: packages already present are left as they are. Needs root (or sudo) and apt.
#   scripts/install-deps.sh          what the build and the unit tests need
#   scripts/install-deps.sh --tests  also what the tests beyond the unit tests need: Chromium for
#                                    the dashboard's browser test, and, as root only (those tests
#                                    run as root and skip otherwise), the deployment tests' (a
#                                    one-node Slurm, the Kubernetes API models, iproute2 for
#                                    network namespaces)
#   scripts/install-deps.sh --fuzz   also libFuzzer and the sanitizer runtimes for clang-14
#                                    (`make sanitize`, `make fuzz`)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-14
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  nlohmann-json3-dev libcli11-dev libssl-dev openssl libsqlite3-dev libgtest-dev libgmock-dev libcpp-httplib-dev
  libtorch-dev libopenblas0-pthread python3-torch python3-grpcio python3-protobuf
  libturbojpeg0-dev libpng-dev zlib1g-dev
  dataset-fashion-mnist
)
if [ "${1:-}" = --tests ]; then
  packages=(chromium)
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: not root: the deployment tests (slurm, partition) will be skipped;" \
      "sudo scripts/install-deps.sh --tests installs what they need"
  else
    packages+=(slurm-wlm slurmctld slurmd slurm-client munge python3-kubernetes python3-yaml iproute2)
  fi
elif [ "${1:-}" = --fuzz ]; then
  packages=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
