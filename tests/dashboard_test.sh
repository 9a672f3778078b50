#!/usr/bin/env bash
# `vertebra dashboard` as a user meets it: started before the search (an error page that retries),
# then in headless Chromium while a simulated search runs: the trial count grows between two
# loads, a screenshot is taken, a trial's page has its drawing and curve; bad paths give error
# pages; beyond loopback it needs the token; the database is left as it was.
# Usage: dashboard_test.sh PATH/TO/vertebra
# Environment: CHROMIUM (default /usr/bin/chromium); DASHBOARD_SCREENSHOT, a path to keep the
# screenshot at (docs/dashboard.png is made so). Skipped (77) without Chromium.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vertebra=$(realpath "$1")
# The tokens here are explicit: the search's own (ctl_token), and the far dashboard's.
unset VERTEBRA_TOKEN
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "dashboard_test: skipped (no browser at $chromium; scripts/install-deps.sh installs chromium)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'stop_search ${dash_pid:-} ${far_pid:-}; rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

cat >config.json <<'EOF'
{
  "name": "dashboard-test",
  "seed": 5,
  "algorithm": {"kind": "evolution", "population": 8, "tournament": 3, "queue": 4},
  "budget": {"trials": 400, "parallel": 2},
  "rungs": {"steps": [100, 400], "eta": 2},
  "lease": {"lease_seconds": 5, "heartbeat_seconds": 0.05, "max_attempts": 3},
  "simulation": {"seconds": 0.4}
}
EOF

browser=(--headless --disable-gpu --no-first-run --hide-scrollbars --window-size=1400,2000
         "--user-data-dir=$tmp/profile")
[ "$(id -u)" -eq 0 ] && browser+=(--no-sandbox)  # Chromium refuses to run as root with its sandbox.

# fetch URL [COOKIES]: prints the HTTP status; the body goes to $tmp/page. Follows redirects,
# keeping cookies.
fetch() {
  /usr/bin/python3 - "$1" <<'EOF'
import http.cookiejar, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
try:
    r = opener.open(sys.argv[1], timeout=20)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
open("page", "wb").write(body)
print(status)
EOF
}
# done_count FILE: the "N done" of the report's header in FILE (a page as the browser has it).
done_count() {
  grep -o '<th>trials</th><td>[0-9]* in all (budget [0-9]*): [0-9]* done' "$1" | grep -o '[0-9]* done' | cut -d' ' -f1
}

# Two dashboards, started together: on loopback, and beyond it with a token (checked at the end).
echo "dashboard-test-token" >token
echo "dashboard-test-search-token" >ctl_token
"$vertebra" dashboard --db search.db --listen 127.0.0.1:0 --port-file dport --refresh 1 --no-auth >dashboard.log 2>&1 &
dash_pid=$!
"$vertebra" dashboard --db search.db --listen 0.0.0.0:0 --port-file fport --token-file token >far.log 2>&1 &
far_pid=$!
check "the dashboard is up" wait_for "[ -s dport ]" 20

# Before the search: the database is missing, the page says so and the server stays up.
url="http://127.0.0.1:$(cat dport)"
check "a missing database gives an error page (503)" test "$(fetch "$url/")" = 503
check "the error page names the database" grep -q "search.db" page
check "a bad path gives an error page (404)" test "$(fetch "$url/no/such/page")" = 404
check "the 404 page says what there is" grep -q "/trials and /trial/ID" page
check "a bad trial id gives an error page (404)" test "$(fetch "$url/trial/abc")" = 404

start_controller 127.0.0.1:0 --token-file ctl_token
wait_port 20
for i in 1 2; do start_worker "$i" --quiet --token-file ctl_token; done
check "trials are done" wait_for "'$vertebra' status --db search.db --json 2>/dev/null | grep -q '\"done\":[1-9]'" 30

# Two loads in the browser, more than the refresh period apart: the count has grown.
"$chromium" "${browser[@]}" --dump-dom "$url/" >first.html 2>/dev/null
sleep 1.5
"$chromium" "${browser[@]}" --dump-dom "$url/" >second.html 2>/dev/null
first=$(done_count first.html)
second=$(done_count second.html)
check "the browser shows the report with a trial count" test -n "$first"
check "the trial count grows between two loads ($first, then $second)" test "${second:-0}" -gt "${first:-0}"
check "the page reloads itself" grep -q 'http-equiv="refresh" content="1"' second.html
"$chromium" "${browser[@]}" "--screenshot=$tmp/dashboard.png" "$url/" >/dev/null 2>&1
check "a screenshot was taken" test "$(head -c 4 dashboard.png | tail -c 3)" = PNG
[ -n "${DASHBOARD_SCREENSHOT:-}" ] && cp dashboard.png "$DASHBOARD_SCREENSHOT"
check "a trial's page has show's text" test "$(fetch "$url/trial/1")" = 200
for part in "<h1>Trial 1</h1>" "== spec ==" "<svg" "training curve"; do
  check "the trial page has '$part'" grep -q "$part" page
done
check "all trials are listed" test "$(fetch "$url/trials")" = 200
check "the list counts them" grep -q 'data-trials="[1-9]' page

# The search ends (stopped here); the dashboard, still serving, never writes the database.
kill "$controller_pid" "${worker_pids[@]}" 2>/dev/null
for p in "$controller_pid" "${worker_pids[@]}"; do wait "$p" 2>/dev/null; done
controller_pid="" worker_pids=()
sum=$(sha256sum search.db)
sleep 1.1
fetch "$url/" >/dev/null
fetch "$url/trial/2" >/dev/null
check "the dashboard left the database as it was" test "$(sha256sum search.db)" = "$sum"

# Loopback is not trust: without flags the dashboard takes the search's DB.token, as the controller
# does (made 0600 here, as it is missing: this search's controller was given --token-file).
"$vertebra" dashboard --db search.db --listen 127.0.0.1:0 --port-file lport >own.log 2>&1 &
own_pid=$!
check "a dashboard without flags is up" wait_for "[ -s lport ]" 20
check "it says where its token is" grep -q "token: search.db.token" own.log
check "it made the search's token file, mode 0600" test "$(stat -c %a search.db.token)" = 600
own="http://127.0.0.1:$(cat lport)"
check "on loopback, no token: 401" test "$(fetch "$own/")" = 401
check "on loopback, the search's token: the report" test "$(fetch "$own/?token=$(cat search.db.token)")" = 200
kill "$own_pid" 2>/dev/null
wait "$own_pid" 2>/dev/null
run 2 dashboard --db search.db --listen 0.0.0.0:0 --no-auth
check "--no-auth beyond loopback is refused" grep -q -- "--no-auth: only on loopback" err
check "the refusal is one line" test "$(wc -l <err)" -eq 1
check "the dashboard beyond loopback is up" wait_for "[ -s fport ]" 20
far="http://127.0.0.1:$(cat fport)"
check "no token: 401" test "$(fetch "$far/")" = 401
check "a wrong token: 401" test "$(fetch "$far/?token=nope")" = 401
check "the token once in the address: the report" test "$(fetch "$far/?token=dashboard-test-token")" = 200
check "the token is not in the page" bash -c "! grep -q dashboard-test-token page"

run 2 dashboard --db search.db --refresh 0
check "--refresh 0 is refused, naming the flag" grep -q "refresh" err
run 0 dashboard --help
check "'dashboard --help' prints usage" grep -qi "usage" out
summary dashboard
