#!/usr/bin/env bash
# Three hosts on one machine, in network namespaces joined by a bridge in a fourth: the controller
# on 10.231.0.1, workers on 10.231.0.2 and 10.231.0.3, with a bearer token and TLS. Mid-search the
# first worker host is cut off (its link on the bridge goes down). Its lease must expire and its
# trial run on the other host; when the link comes back, its late report must be refused and
# recorded, and the search must end with every trial counted once. Nothing is created in the
# machine's own network namespace.
# Needs root and `ip netns`; exits 77 (skipped) without them.
# Usage: partition_test.sh PATH/TO/vertebra
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
account=$(realpath "$(dirname "${BASH_SOURCE[0]}")/account.py")
vertebra=$(realpath "$1")

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v openssl >/dev/null; then
  echo "partition_test: skipped (needs root, iproute2 and openssl)"
  exit 77
fi
ns=vtb$$
net=$ns-net ctl=$ns-ctl w1=$ns-w1 w2=$ns-w2
if ! ip netns add "$net" 2>/dev/null; then
  echo "partition_test: skipped (cannot create network namespaces here)"
  exit 77
fi
tmp=$(mktemp -d)
cleanup() {
  stop_search -9
  for n in "$ctl" "$w1" "$w2" "$net"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1

# The hosts: each namespace has lo and eth0, cabled to a port on the bridge br0 in $net.
ip -n "$net" link add br0 type bridge && ip -n "$net" link set br0 up && ip -n "$net" link set lo up ||
  { echo "FAIL: bridge"; exit 1; }
address=(10.231.0.1 10.231.0.2 10.231.0.3)
i=0
for host in "$ctl" "$w1" "$w2"; do
  port=p$i
  ip netns add "$host" &&
    ip -n "$host" link add eth0 type veth peer name "$port" netns "$net" &&
    ip -n "$host" addr add "${address[$i]}/24" dev eth0 &&
    ip -n "$host" link set lo up && ip -n "$host" link set eth0 up &&
    ip -n "$net" link set "$port" master br0 && ip -n "$net" link set "$port" up ||
    { echo "FAIL: host ${address[$i]}"; exit 1; }
  i=$((i + 1))
done

# TLS: a CA and a certificate for the controller's address; a token beyond loopback.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=vertebra-test-ca \
  2>/dev/null &&
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=controller 2>/dev/null &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -extfile <(echo "subjectAltName=IP:10.231.0.1") 2>/dev/null ||
  { echo "FAIL: certificates"; exit 1; }
(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >token)

cat >config.json <<'EOF'
{
  "name": "partition-test",
  "seed": 5,
  "algorithm": {"kind": "evolution", "population": 12, "tournament": 4, "queue": 4},
  "budget": {"trials": 30, "parallel": 4},
  "rungs": {"steps": [500, 1500], "eta": 3},
  "lease": {"lease_seconds": 2, "heartbeat_seconds": 0.3, "max_attempts": 5},
  "simulation": {"seconds": 3, "noise": 0.01, "low_rung_bias": 0.3}
}
EOF

ip netns exec "$ctl" "$vertebra" controller --config config.json --db search.db --listen 10.231.0.1:50051 \
  --token-file token --tls-cert server.pem --tls-key server.key --port-file port --exit-when-done \
  >controller.log 2>&1 &
controller_pid=$!
wait_for "[ -s port ]" 10 || { echo "FAIL: the controller did not start"; cat controller.log; exit 1; }
start_host_worker() {  # start_host_worker I NAMESPACE
  ip netns exec "$2" "$vertebra" worker --controller 10.231.0.1:50051 --tls-ca ca.pem --token-file token \
    --simulate --work-dir "w$1" >>"w$1.log" 2>&1 &
  worker_pids[$1]=$!
}
reaches() {  # reaches NAMESPACE: a TCP connection from NAMESPACE to the controller opens within 1 s
  ip netns exec "$1" timeout 1 bash -c 'exec 3<>/dev/tcp/10.231.0.1/50051' 2>/dev/null
}
check "the worker hosts reach the controller host" reaches "$w1"
start_host_worker 1 "$w1"
start_host_worker 2 "$w2"

# Cut host 1 off once it has reported two trials and is half-way into another.
wait_for "[ \$(grep -c '^.*reported trial' w1.log) -ge 2 ]" 60 || { echo "FAIL: host 1 reported nothing"; exit 1; }
wait_for "tail -n1 w1.log | grep -q ': lease '" 20
held=$(tail -n1 w1.log | sed -n 's/.*trial \([0-9]*\): lease \([0-9]*\),.*/\1 \2/p')
read -r cut_trial cut_lease <<<"$held"
[ -n "$cut_trial" ] || { echo "FAIL: host 1 holds no trial at the cut"; tail -n5 w1.log; exit 1; }
ip -n "$net" link set p1 down
echo "cut host 1 off while it held trial $cut_trial (lease $cut_lease)"
check "host 1 is unreachable during the cut" test "$(reaches "$w1" && echo yes)" != yes
check "host 2 is still reachable" reaches "$w2"
# The lease expires (2 s) and the trial is leased again; host 1 trains on and keeps its report.
wait_for "grep -q \"trial $cut_trial: heartbeat failed\" w1.log" 10
sleep 5
ip -n "$net" link set p1 up
echo "host 1 back"

wait_exit "$controller_pid" 120 || { echo "FAIL: the search did not finish"; exit 1; }
for i in 1 2; do
  wait_exit "${worker_pids[$i]}" 20
  wait "${worker_pids[$i]}"
  rc=$?
  check "worker host $i exits cleanly (rc $rc)" test "$rc" -eq 0
done
check "host 1 trained on while cut off" grep -q "trial $cut_trial: heartbeat failed .*; training on" w1.log

"$vertebra" status --db search.db --json --trials >status.json || { echo "FAIL: status"; exit 1; }
worker1=$(sed -n 's/.*registered as \(w-[0-9]*\).*/\1/p' w1.log | head -n1)
worker2=$(sed -n 's/.*registered as \(w-[0-9]*\).*/\1/p' w2.log | head -n1)
/usr/bin/python3 - search.db >events.txt <<'EOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for kind, trial, detail in db.execute("SELECT kind, trial, detail FROM events ORDER BY id"):
    print(kind, trial, detail, sep="\t")
EOF
python3 "$account" --exact --each-worker --name "partition test" status.json w1.log w2.log >account.txt
check "every trial is accounted for once, every result acknowledged, both hosts worked" test $? -eq 0
# The cut trial: host 1's lease expired, host 2 ran it, host 1's late messages were refused.
python3 - "$cut_trial" "$cut_lease" "$worker1" "$worker2" <<'EOF' >>account.txt
import json, sys
cut_trial, cut_lease, w1, w2 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cut = next(t for t in json.load(open("status.json"))["trials"] if t["id"] == cut_trial)
events = [line.rstrip("\n").split("\t", 2) for line in open("events.txt")]
held = f"lease {cut_lease} of {w1}"
failures = []
if not any(e[0] == "expired" and int(e[1]) == cut_trial and held in e[2] for e in events):
    failures.append(f"trial {cut_trial}: no expiry of {held}")
if any(r["lease"] == cut_lease for r in cut["results"]):
    failures.append(f"trial {cut_trial}: the cut-off host's result was taken")
if not any(r["worker"] == w2 for r in cut["results"]):
    failures.append(f"trial {cut_trial}: not rerun on {w2}: {cut['results']}")
if not any(e[0] == "refused" and int(e[1]) == cut_trial and held in e[2] for e in events):
    failures.append(f"trial {cut_trial}: no refused late message from {w1}")
print(f"trial {cut_trial} (cut with {held}): "
      + "; ".join(f"{e[0]}: {e[2]}" for e in events if e[1] == str(cut_trial) and e[0] != "policy"))
print(f"refused late messages: {sum(e[0] == 'refused' for e in events)}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
EOF
check "the cut trial ran elsewhere and host 1's late messages were refused" test $? -eq 0
cat account.txt
check "host 1 saw its late report refused" grep -q "report of trial $cut_trial refused: stale report" w1.log
check "host 1 worked again after the cut" \
  test "$(sed -n "/report of trial $cut_trial refused/,\$p" w1.log | grep -c 'reported trial')" -ge 1
check "the hosts' addresses exist only inside their namespaces" test "$(ip -o addr show | grep -c ' 10\.231\.0\.')" -eq 0
# A veth with one end here would show its peer's namespace as "link-netns NAME".
check "no link of the test ends in the machine's own namespace" test "$(ip -o link show | grep -c "link-netns $ns-")" -eq 0
[ "$failures" -eq 0 ] || { echo "--- w1.log"; tail -n 30 w1.log; echo "--- controller.log"; tail -n 20 controller.log; }
summary partition_test
