#!/usr/bin/env bash
# Vertebra's controller against Optuna's ask/tell on SQLite, side by side in one run: lease +
# report (ask + tell) cycles per second and latency with 16, 64 and 256 concurrent workers, and
# the latency of asking for the next proposal with a long history. Installs python3-optuna
# (Debian) when it is missing. Prints both JSON objects and a table of ratios.
set -euo pipefail
vertebra=${VERTEBRA:-$(dirname "$0")/../build/vertebra}
if ! /usr/bin/python3 -c "import optuna" 2>/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get install -y -q python3-optuna >/dev/null
fi
seconds=${SECONDS_PER_POINT:-5}
ours=$("$vertebra" bench controller --workers 16 64 256 --history 10000 100000 --seconds "$seconds" --json)
peer=$(/usr/bin/python3 "$(dirname "$0")/controller_peer.py" --workers 16 64 256 --history 100 1000 \
  --seconds "$seconds")
echo "vertebra: $ours"
echo "optuna:   $peer"
python3 - "$ours" "$peer" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"\n| workers | Vertebra cycles/s | Optuna {peer['optuna']} cycles/s | ratio | Vertebra p50 / p99 ms | Optuna p50 / p99 ms |")
print("|---|---|---|---|---|---|")
for a, b in zip(ours["throughput"], peer["throughput"]):
    # A window too short for one peer cycle: estimate its rate from its latency instead.
    rate = b["cycles_per_s"] if b["cycles_per_s"] > 0 else b["workers"] / (b["p50_ms"] / 1000)
    mark = "" if b["cycles_per_s"] > 0 else " (from latency)"
    print(f"| {a['workers']} | {a['cycles_per_s']:.0f} | {rate:.1f}{mark} | {a['cycles_per_s'] / rate:.0f} "
          f"| {a['p50_ms']:.1f} / {a['p99_ms']:.1f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} |")
print("\n| history | next proposal p50 / p99 ms | restore at start-up |")
print("|---|---|---|")
for h in ours["history"]:
    print(f"| Vertebra, {h['history']} | {h['lease_p50_ms']:.2f} / {h['lease_p99_ms']:.2f} | {h['restore_s']:.2f} s |")
for h in peer["history"]:
    print(f"| Optuna, {h['history']} | {h['ask_p50_ms']:.2f} / {h['ask_p99_ms']:.2f} | (filled in {h['fill_s']:.0f} s) |")
PY
