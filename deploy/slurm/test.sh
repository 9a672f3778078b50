#!/usr/bin/env bash
# deploy/slurm end to end on a one-node Slurm cluster brought up on localhost (Debian's slurm-wlm
# and munge, no systemd, no cgroups; the recipe of shared/reference/slurm-podman-k8s.md), with
# simulated CPU workers:
#   1. search.sbatch runs a small search to the end while two of its three worker steps are
#      cancelled mid-run, one with `scancel JOB.STEP`, one with `scancel --signal=TERM JOB.STEP`:
#      every trial is accounted for (done + failed == budget, nothing leased or pending, state
#      finished, no rung counted twice), every report a worker saw acknowledged is in the
#      database, the TERMed worker stopped cleanly, and the token file is 0600.
#   2. search.sbatch is cancelled as a whole mid-run while add-workers.sbatch adds a worker; a
#      resubmission on the same database resumes it and finishes it: nothing lost, no trial run
#      twice at a rung, and the added worker followed the restarted controller.
#   3. search.sbatch requeued mid-run (`scontrol requeue`): the same job starts again, resumes the
#      database and finishes it (skip with VERTEBRA_TEST_REQUEUE=0).
# About a minute on a 2-core VM; see deploy/slurm/README.md. It is part of the test suite (ctest
# `slurm`), which skips it (exit 77) when not root, when Slurm is not installed, or when another
# Slurm holds the ports.
# Usage (as root, Debian 12):
#   deploy/slurm/test.sh [--no-install] [PATH/TO/vertebra]      (default: build/vertebra)
#   --no-install: skip (77) instead of installing slurm-wlm and munge when they are missing.
# Needs TCP ports 6817 and 6818 free (no other Slurm on the machine). Stops every daemon it
# started, by PID, and removes its scratch folder.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
install=1
case "${1:-}" in
  -h | --help) sed -n '2,/^# started/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  --no-install) install=0 && shift ;;
esac
vertebra=$(realpath "${1:-$repo/build/vertebra}")
t0=$(date +%s.%N)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
skip() { echo "slurm test: skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "run as root (it starts munged, slurmctld and slurmd)"
[ -x "$vertebra" ] || { echo "test.sh: no vertebra binary at $vertebra"; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
   ! command -v munged >/dev/null; then
  [ "$install" = 1 ] || skip "slurm-wlm and munge are not installed (make test-deps installs them)"
  echo "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client munge >/dev/null || exit 1
fi
if ss -ltn 2>/dev/null | grep -Eq ':(6817|6818)\b'; then
  skip "ports 6817/6818 are taken (another Slurm?)"
fi

S=$(mktemp -d /tmp/vertebra-slurm.XXXXXX)
chmod 755 "$S"
node=$(hostname -s)
export SLURM_CONF=$S/etc/slurm.conf
mkdir -p "$S/etc" "$S/state" "$S/spool/$node" "$S/run" "$S/log" "$S/shared"
cpus=$(nproc)
cat >"$SLURM_CONF" <<EOF
# One node on localhost, no cgroups, no systemd, no slurmdbd (shared/reference/slurm-podman-k8s.md).
ClusterName=vertebra-ci
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$S/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/%n
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MinJobAge=600
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF

pids=()  # daemons this script started, stopped in reverse order
down() {
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[$i]}
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  [ "${KEEP:-0}" = 1 ] && echo "kept $S" || rm -rf "$S"
}
trap down EXIT

if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --force && chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  install -d -o munge -g munge -m 0755 /run/munge
  setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F >"$S/log/munged.out" 2>&1 </dev/null &
  pids+=($!)
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
fi
setsid /usr/sbin/slurmctld -D -f "$SLURM_CONF" >"$S/log/slurmctld.out" 2>&1 </dev/null &
pids+=($!)
setsid /usr/sbin/slurmd -D -f "$SLURM_CONF" >"$S/log/slurmd.out" 2>&1 </dev/null &
pids+=($!)
for _ in $(seq 300); do [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ] && break; sleep 0.1; done
[ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ] || { echo "FAIL: slurm did not come up"; tail "$S"/log/*; exit 1; }
t_up=$(date +%s.%N)
echo "slurm up in $(echo "$t_up - $t0" | bc) s"

# A small simulated search: 30 trials, rungs of 500 and 1,500 steps (a top-rung trial takes 0.6 s),
# leases short enough that a lost one comes back quickly.
cat >"$S/shared/experiment.json" <<'EOF'
{
  "name": "slurm-test",
  "seed": 5,
  "algorithm": {"kind": "evolution", "population": 8, "tournament": 3, "queue": 4},
  "budget": {"trials": 30, "parallel": 3},
  "rungs": {"steps": [500, 1500], "eta": 3},
  "lease": {"lease_seconds": 2, "heartbeat_seconds": 0.3, "max_attempts": 5},
  "simulation": {"seconds": 0.6, "noise": 0.01, "low_rung_bias": 0.3}
}
EOF
export VERTEBRA=$vertebra VERTEBRA_CONFIG=$S/shared/experiment.json VERTEBRA_GPUS=0 VERTEBRA_WORKERS_PER_NODE=3 \
  VERTEBRA_SIMULATE=1 VERTEBRA_GIVE_UP=20

# submit SCRIPT DB [SBATCH ARGS...]: prints the job id.
submit() {
  VERTEBRA_DB=$2 sbatch --parsable --nodes=1 --ntasks=1 --overcommit --time=00:05:00 \
    --output="$S/job-%j.out" "${@:3}" "$1"
}
job_state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# wait_job JOB SECONDS: waits until JOB has left PENDING/RUNNING/COMPLETING; prints its state.
wait_job() {
  local st
  for _ in $(seq $(($2 * 10))); do
    st=$(job_state "$1")
    case "$st" in PENDING | RUNNING | COMPLETING | REQUEUED | "") sleep 0.1 ;; *) echo "$st"; return ;; esac
  done
  echo "TIMEOUT($st)"
}
done_count() { "$vertebra" status --db "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])' 2>/dev/null || echo 0; }
# check_db NAME DB LOGS...: every trial accounted for, nothing twice, every acknowledged report stored.
check_db() {
  local name=$1 db=$2
  shift 2
  "$vertebra" status --db "$db" --json --trials >"$S/status.json" 2>"$S/status.err" || { fail "$name: status: $(cat "$S/status.err")"; return; }
  python3 "$repo/tests/account.py" --name "$name" "$S/status.json" "$@" || failures=$((failures + 1))
}
logs_of() { echo "$S/shared/$1/logs/"*/worker-*.log; }

# 1. A search to the end, with two of its worker steps cancelled mid-run: one with a plain
#    `scancel JOB.STEP` (Slurm kills it: its trial comes back when the lease expires), one with
#    `scancel --signal=TERM JOB.STEP` (the worker gives its lease back and exits).
t=$(date +%s.%N)
mkdir -p "$S/shared/run1"
job=$(submit "$here/search.sbatch" "$S/shared/run1/search.db") || fail "sbatch run 1"
for _ in $(seq 300); do [ "$(done_count "$S/shared/run1/search.db")" -ge 6 ] && break; sleep 0.1; done
mapfile -t steps < <(squeue -h -s -j "$job" -o '%i %j' | awk '$2 ~ /^vertebra-worker-/ {print $1 " " $2}')
if [ "${#steps[@]}" -ge 2 ]; then
  read -r hard _ <<<"${steps[0]}"
  read -r soft soft_name <<<"${steps[1]}"
  scancel "$hard" && scancel --signal=TERM "$soft" &&
    echo "run 1: cancelled step $hard, sent TERM to step $soft, after $(done_count "$S/shared/run1/search.db") trials done"
else
  fail "run 1: fewer than two worker steps to cancel: ${steps[*]}"
fi
st=$(wait_job "$job" 60)
[ "$st" = COMPLETED ] || { fail "run 1: job $job ended $st"; cat "$S/job-$job.out"; }
check_db "run 1 (to the end, worker steps cancelled)" "$S/shared/run1/search.db" $(logs_of run1)
[ "$(stat -c %a "$S/shared/run1/search.db.token")" = 600 ] || fail "run 1: the token file is not 0600"
[ -e "$S/shared/run1/search.db.finished" ] || fail "run 1: no search.db.finished"
[ ! -e "$S/shared/run1/search.db.address" ] || fail "run 1: search.db.address left behind"
soft_log=$S/shared/run1/logs/$job/worker-${soft_name#vertebra-worker-}.log
grep -q '; stopped$' "$soft_log" 2>/dev/null || fail "run 1: the TERMed worker did not stop cleanly: $(tail -n 2 "$soft_log")"
echo "run 1: TERMed worker: $(grep -o 'released lease [0-9]*' "$soft_log" | head -1 || true);" \
  "$(echo "$(date +%s.%N) - $t" | bc) s"

# 2. The search job cancelled mid-run while add-workers.sbatch adds a worker, then resubmitted.
t=$(date +%s.%N)
mkdir -p "$S/shared/run2"
db2=$S/shared/run2/search.db
# A longer search (60 trials), so that the cut comes well before its end although the added
# worker's job takes a few seconds to start.
sed 's/"trials": 30/"trials": 60/' "$VERTEBRA_CONFIG" >"$S/shared/experiment-60.json"
export VERTEBRA_CONFIG=$S/shared/experiment-60.json
job=$(submit "$here/search.sbatch" "$db2") || fail "sbatch run 2"
for _ in $(seq 300); do [ -s "$db2.address" ] && break; sleep 0.1; done
extra=$(VERTEBRA_WORKERS_PER_NODE=1 submit "$here/add-workers.sbatch" "$db2") || fail "sbatch add-workers"
# The cut comes once the added worker has joined and the search is under way.
for _ in $(seq 300); do
  grep -qs 'registered as' "$S/shared/run2/logs/$extra/"worker-*.log && [ "$(done_count "$db2")" -ge 8 ] && break
  sleep 0.1
done
before=$(done_count "$db2")
scancel "$job"
st=$(wait_job "$job" 30)
[ "$st" = CANCELLED ] || fail "run 2: the cancelled job ended $st"
job2=$(submit "$here/search.sbatch" "$db2") || fail "sbatch run 2 resubmission"
st=$(wait_job "$job2" 60)
[ "$st" = COMPLETED ] || { fail "run 2: the resubmitted job $job2 ended $st"; cat "$S/job-$job2.out"; }
st=$(wait_job "$extra" 30)
[ "$st" = COMPLETED ] || { fail "run 2: add-workers job $extra ended $st"; cat "$S/job-$extra.out"; }
echo "run 2: cancelled at $before done; resumed by job $job2"
check_db "run 2 (cancelled, resubmitted, added worker)" "$db2" $(logs_of run2)
added=$(cat "$S/shared/run2/logs/$extra/"worker-*.log 2>/dev/null | grep -c 'reported trial')
[ "$added" -gt 0 ] || fail "run 2: the added worker reported nothing"
grep -q 'the controller changed' "$S/shared/run2/logs/$extra/"worker-*.log ||
  fail "run 2: the added worker did not follow the restarted controller"
echo "run 2: the added worker reported $added times; $(echo "$(date +%s.%N) - $t" | bc) s"
export VERTEBRA_CONFIG=$S/shared/experiment.json

# 3. `scontrol requeue` mid-run: the same job starts again and resumes the same database.
if [ "${VERTEBRA_TEST_REQUEUE:-1}" = 1 ]; then
  t=$(date +%s.%N)
  mkdir -p "$S/shared/run3"
  db3=$S/shared/run3/search.db
  job=$(submit "$here/search.sbatch" "$db3") || fail "sbatch run 3"
  for _ in $(seq 300); do [ "$(done_count "$db3")" -ge 8 ] && break; sleep 0.1; done
  before=$(done_count "$db3")
  scontrol requeue "$job" || fail "run 3: scontrol requeue $job"
  # Slurm holds a requeued job back (BeginTime about 2 minutes ahead); let it start at once.
  for _ in $(seq 300); do [ "$(job_state "$job")" = PENDING ] && break; sleep 0.1; done
  scontrol update JobId="$job" StartTime=now || fail "run 3: cannot move the requeued job's start"
  st=$(wait_job "$job" 90)
  [ "$st" = COMPLETED ] || { fail "run 3: the requeued job $job ended $st"; cat "$S/job-$job.out"; }
  restarts=$(scontrol show job -o "$job" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
  [ "${restarts:-0}" -ge 1 ] || fail "run 3: job $job was not restarted (Restarts=$restarts)"
  check_db "run 3 (requeued)" "$db3" $(logs_of run3)
  echo "run 3: requeued at $before done, restarts $restarts; $(echo "$(date +%s.%N) - $t" | bc) s"
fi

echo "slurm test: $failures failed; wall time $(echo "$(date +%s.%N) - $t0" | bc) s"
[ "$failures" -eq 0 ]
