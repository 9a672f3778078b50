#!/usr/bin/env bash
# Offline check of deploy/k8s: installs what check.py needs from Debian (python3-kubernetes,
# python3-yaml) and runs it with the system Python. kubectl: check.py uses a kubectl on PATH when
# its kustomize is v4 or later (kubectl >= 1.21). Debian 12's only kubectl is kubernetes-client
# 1.20.2, whose kustomize v2.0.3 cannot read these kustomizations (folders in `resources`,
# `patches`, `labels`, components), so it is not installed; without a recent kubectl, check.py
# renders with its own minimal renderer (documented in check.py).
# Usage: deploy/k8s/check.sh [check.py options]   (as root, or with the packages already there)
# VERTEBRA_NO_INSTALL=1: exit 77 (skipped) instead of installing missing packages.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
need=()
/usr/bin/python3 -c 'import kubernetes' 2>/dev/null || need+=(python3-kubernetes)
/usr/bin/python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if [ ${#need[@]} -gt 0 ]; then
  if [ "${VERTEBRA_NO_INSTALL:-0}" = 1 ]; then  # The test suite: skip instead of installing.
    echo "check.sh: skipped: ${need[*]} not installed (make test-deps installs them)"
    exit 77
  fi
  echo "check.sh: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
    { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
exec /usr/bin/python3 "$here/check.py" "$@"
