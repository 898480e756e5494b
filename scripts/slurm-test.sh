#!/usr/bin/env bash
# The Slurm scale-out on a real single-node Slurm: starts munged, slurmctld and slurmd for this
# host with a throwaway configuration, submits a 4-task array of a small backselect plus its merge
# job through `overinterp slurm --submit`, requeues one task while it runs, waits, checks that the
# merged run is byte-identical to a single process's, prints both wall times, and stops the
# daemons. Where the Slurm tools are missing or the daemons cannot start, it says so and exits 0
# (skipped); a wrong result exits 1.
#
#   scripts/slurm-test.sh [OVERINTERP]     (default .build/debug/overinterp; Debian: apt-get install slurm-wlm munge)
set -uo pipefail
OVERINTERP=$(realpath "${1:-.build/debug/overinterp}")
skip() { echo "slurm test skipped: $*"; exit 0; }
for tool in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$tool" >/dev/null 2>&1 || skip "no $tool (Debian: apt-get install slurm-wlm munge)"
done
[ -x "$OVERINTERP" ] || { echo "no overinterp binary at $OVERINTERP (build it first)"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root to start slurmd"

WORK=$(mktemp -d /tmp/overinterp-slurm-XXXXXX)
export SLURM_CONF=$WORK/slurm.conf
HOST=$(hostname -s)
started_munge=0
cleanup() {
  [ -f "$WORK/slurmd.pid" ] && kill "$(cat "$WORK/slurmd.pid")" 2>/dev/null
  [ -f "$WORK/slurmctld.pid" ] && kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null
  [ "$started_munge" = 1 ] && pkill -x munged 2>/dev/null
  sleep 1
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$SLURM_CONF" <<EOF
ClusterName=overinterp-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$HOST CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$WORK/state" "$WORK/spool"

if ! munge -n >/dev/null 2>&1; then
  mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
  [ -f /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null
  chmod 400 /etc/munge/munge.key
  (su -s /bin/sh munge -c /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force 2>/dev/null) && started_munge=1
  sleep 1
  munge -n >/dev/null 2>&1 || skip "munged does not start here"
fi
slurmctld -f "$SLURM_CONF" >/dev/null 2>&1 || skip "slurmctld does not start here ($(tail -1 "$WORK/slurmctld.log" 2>/dev/null))"
slurmd -f "$SLURM_CONF" >/dev/null 2>&1 || skip "slurmd does not start here ($(tail -1 "$WORK/slurmd.log" 2>/dev/null))"
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T 2>/dev/null | grep -q idle || skip "the node does not come up ($(tail -1 "$WORK/slurmd.log" 2>/dev/null))"

# A small BackSelect: 8 embedded sample images, Batched Gradient BackSelect with k = 2 (512
# gradient passes per image, a few seconds each), lockstep groups of 2: four groups.
args=(backselect --indices '0..<8' --group 2 --method gradient --k 2)
start=$(date +%s.%N)
"$OVERINTERP" "${args[@]}" --threads 1 --out "$WORK/single" >/dev/null 2>&1 || { echo "single-process run failed"; exit 1; }
single_s=$(echo "$(date +%s.%N) - $start" | bc)

cd "$WORK"
start=$(date +%s.%N)
out=$("$OVERINTERP" slurm --tasks 4 --cpus-per-task 1 --logs "$WORK/logs" --script "$WORK/job" --overinterp "$OVERINTERP" \
  --submit -- "${args[@]}" --out "$WORK/array") || { echo "submission failed: $out"; exit 1; }
array_id=$(echo "$out" | sed -n 's/.*array job \([0-9]*\) and merge job \([0-9]*\).*/\1/p')
merge_id=$(echo "$out" | sed -n 's/.*array job \([0-9]*\) and merge job \([0-9]*\).*/\2/p')
[ -n "$array_id" ] && [ -n "$merge_id" ] || { echo "no job ids in: $out"; exit 1; }
# Requeue task 1 once it runs (as a preemption would): it starts again and resumes its shard.
for _ in $(seq 120); do
  state=$(squeue -h -j "${array_id}_1" -o %T 2>/dev/null)
  [ "$state" = RUNNING ] && break
  sleep 0.5
done
sleep 1
scontrol requeue "${array_id}_1" 2>/dev/null && echo "requeued task ${array_id}_1 while $state"
for _ in $(seq 600); do
  squeue -h -j "$array_id,$merge_id" 2>/dev/null | grep -q . || break
  sleep 1
done
array_s=$(echo "$(date +%s.%N) - $start" | bc)
if squeue -h -j "$array_id,$merge_id" 2>/dev/null | grep -q .; then
  scancel "$array_id" "$merge_id" 2>/dev/null
  skip "the jobs did not finish within 10 minutes here ($(squeue -h -j "$array_id,$merge_id" -o '%i %T %r' 2>/dev/null | head -3 | tr '\n' ';'))"
fi
# Slurm took the jobs but ran none of them (e.g. a container that cannot start job steps): an
# environment this test cannot use, not a wrong result.
if ! ls -d "$WORK"/array-shards/task-* >/dev/null 2>&1; then
  skip "Slurm ran no task here ($(tail -n 2 "$WORK"/logs/* 2>/dev/null | tr '\n' ' ')$(tail -1 "$WORK/slurmd.log" 2>/dev/null))"
fi
status=0
for f in "$WORK"/single/shard-*.npz; do
  cmp -s "$f" "$WORK/array/$(basename "$f")" || { echo "differs: $(basename "$f")"; status=1; }
done
n=$(ls "$WORK"/array/shard-*.npz 2>/dev/null | wc -l)
[ "$n" = 4 ] || { echo "merged run has $n of 4 shards"; status=1; }
if [ $status = 0 ]; then
  echo "slurm test passed: 4-task array + merge on one node ($(nproc) CPUs), merged run byte-identical to one process;"
  printf 'wall time %.1f s for the array (submission to merge, with one task requeued) against %.1f s for one process\n' "$array_s" "$single_s"
else
  echo "slurm test FAILED; logs:"; tail -n 5 "$WORK"/logs/* 2>/dev/null
fi
exit $status
