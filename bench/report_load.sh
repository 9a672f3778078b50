#!/usr/bin/env bash
# How long a browser takes to open the report of a long search: renders `vertebra bench report`'s
# generated history of N trials, then, RUNS times each and alternately for the report and an empty
# page:
#  1. wall time of headless Chromium starting, loading the page, taking a screenshot of the window
#     and exiting (the empty page's time is the browser's own start-up; the difference is what the
#     report costs, painting and PNG-encoding the screenshot included: most of it for a tall window);
#  2. inside the browser, the milliseconds from navigation start to the load event with layout
#     forced (a copy of the page with a one-line script added; the report itself has none).
# Usage: bench/report_load.sh [PATH/TO/vertebra] [TRIALS] [RUNS]
# Environment: CHROMIUM (default /usr/bin/chromium), WINDOW (default 1400,2600; 1400,900 is a
# laptop screen).
set -euo pipefail
vertebra=$(realpath "${1:-build/vertebra}")
trials=${2:-10000}
runs=${3:-5}
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "report_load: no browser at $chromium (set CHROMIUM)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$vertebra" bench report --trials "$trials" -o "$tmp/report.html"
printf '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>empty</title></head><body></body></html>\n' \
  >"$tmp/empty.html"

flags=(--headless --disable-gpu --no-first-run --hide-scrollbars "--window-size=${WINDOW:-1400,2600}"
       "--user-data-dir=$tmp/profile")
[ "$(id -u)" -eq 0 ] && flags+=(--no-sandbox)  # Chromium refuses to run as root with its sandbox.

load() {  # load PAGE: seconds to start, load PAGE, screenshot it and exit
  local start end
  start=$(date +%s.%N)
  "$chromium" "${flags[@]}" "--screenshot=$tmp/shot.png" "file://$tmp/$1" >/dev/null 2>&1
  end=$(date +%s.%N)
  [ -s "$tmp/shot.png" ] || { echo "report_load: no screenshot of $1" >&2; exit 1; }
  rm -f "$tmp/shot.png"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

timer='<script>addEventListener("load",function(){document.body.offsetHeight;'
timer+='document.title="ms="+performance.now().toFixed(0)})</script></body>'
for page in report empty; do sed "s#</body>#$timer#" "$tmp/$page.html" >"$tmp/timed-$page.html"; done
in_page() {  # in_page PAGE: milliseconds from navigation to the load event, layout done
  "$chromium" "${flags[@]}" --dump-dom "file://$tmp/timed-$1" 2>/dev/null | grep -o '<title>ms=[0-9]*' | cut -d= -f2
}

load empty.html >/dev/null  # Warm the disk cache and the profile once.
report_times=() empty_times=() report_ms=() empty_ms=()
for _ in $(seq "$runs"); do
  empty_times+=("$(load empty.html)")
  report_times+=("$(load report.html)")
  empty_ms+=("$(in_page empty.html)")
  report_ms+=("$(in_page report.html)")
done

python3 - "$(stat -c %s "$tmp/report.html")" "$runs" "${report_times[@]}" "${empty_times[@]}" "${report_ms[@]}" \
  "${empty_ms[@]}" "${WINDOW:-1400,2600}" <<'EOF'
import statistics, sys
size, n = int(sys.argv[1]), int(sys.argv[2])
series = [[float(x) for x in sys.argv[3 + i * n:3 + (i + 1) * n]] for i in range(4)]
report, empty, report_ms, empty_ms = series
r, e = statistics.median(report), statistics.median(empty)
print(f"report {size / 1024:.0f} KB; headless Chromium, window {sys.argv[-1]}, median of {n}:")
print(f"  start + load + screenshot + exit: report {r:.2f} s, empty page {e:.2f} s; difference {r - e:+.2f} s, "
      f"ratio {r / e:.2f}")
print("    report:", " ".join(f"{x:.2f}" for x in report), "| empty:", " ".join(f"{x:.2f}" for x in empty))
rm, em = statistics.median(report_ms), statistics.median(empty_ms)
print(f"  in the page, navigation to load event with layout: report {rm:.0f} ms, empty page {em:.0f} ms")
print("    report:", " ".join(f"{x:.0f}" for x in report_ms), "| empty:", " ".join(f"{x:.0f}" for x in empty_ms))
EOF
