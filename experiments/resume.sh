#!/usr/bin/env bash
# Restarts the long runs of issue 35 (evidence at scale) on a 2-core development machine. A new
# session may get a fresh machine that keeps only what is committed, so each session starts with
# this script: it builds the release binary, copies it aside (BIN, default /work/bgbin: a rebuild
# during the session does not disturb the runs), and starts, niced, two
# lanes of one thread each; every step resumes from what is committed and a finished one is
# skipped:
#
#   lane 0: the seed-4 replicate's audit, the ensemble's shard 0/2, the 5,000 held-out images'
#           shard 0/2, the lossless test images' shard 0/2 (pooled defaults);
#   lane 1: the robust model's audit, then the other halves (shard 1/2) of the same three runs.
#
# When both lanes are done it merges the shards (the same audit command without --shard writes the
# report) and runs the analyses: Figure 6, the robust model beside the standard one and the 5x5
# transfer matrix (experiments/audit-replicates-holdout1000/run.sh analyses), then Table 1's first
# block and Figure 5 from the three full audits (compare-audits into experiments/audit-compare-fast).
# Logs go to RUNS (default /work/runs). Before the session ends, commit what the runs wrote: an
# unsharded audit's run/, a sharded one's shards/ (shards/shard-i-of-n until the merge copies them
# into run/; after it, shards/ duplicates run/ and can be left out).
#
#   experiments/resume.sh            # both lanes and the finals, in the background
#   experiments/resume.sh --finals   # only the merges and analyses (both lanes done)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-/work/bgbin}
RUNS=${RUNS:-/work/runs}
DATA=${DATA:-$ROOT/../shared/data}
DATA=$(cd "$DATA" && pwd)
cd "$ROOT"
mkdir -p "$RUNS"
OI="$BIN/overinterp"
REPLICATES=experiments/audit-replicates-holdout1000/run.sh
HOLDOUT=experiments/audit-r20-holdout-fast
LOSSLESS=experiments/audit-r20-lossless-fast-pooled

full_audit() { # OUT SHARD DATA-ARGS...: one shard (i/n) of an audit of every image, or the merge ("")
  local out=$1 shard=$2
  shift 2
  if [ -f "$out/report.html" ]; then return; fi
  local args=("$@" --min-confidence 0 --threads 1 --out "$out")
  if [ -n "$shard" ]; then args+=(--shard "$shard"); fi
  nice -n 10 "$OI" audit "${args[@]}"
}

# The two full audits, one shard (i/n) each or the merge (""): shard and merge share their flags,
# since the merge refuses shards whose settings differ.
# The held-out audit copies the 1,000 images the seed-0 replicate's audit (the same model, data and
# method) already selected (--reuse).
holdout() {
  full_audit "$HOLDOUT" "$1" --data "$DATA/cifar-10-batches-bin" --split holdout \
    --reuse experiments/audit-replicates-holdout1000/r20-seed0
}
lossless() { full_audit "$LOSSLESS" "$1" --data "$DATA/cifar-10-test-lossless-subset"; }

lane() { # I: steps of lane I (one thread)
  local i=$1
  if [ "$i" = 0 ]; then "$REPLICATES" "$OI" "$DATA" 1 r20-seed4; else "$REPLICATES" "$OI" "$DATA" 1 robust; fi
  SHARD=$i/2 "$REPLICATES" "$OI" "$DATA" 1 ensemble
  holdout "$i/2"
  lossless "$i/2"
}

finals() {
  "$REPLICATES" "$OI" "$DATA" 2 ensemble # merges the shards
  "$REPLICATES" "$OI" "$DATA" 2 analyses
  holdout ""
  lossless ""
  "$OI" compare-audits "held-out=$HOLDOUT" "lossless test=$LOSSLESS" \
    "CIFAR-10-C=experiments/audit-r20-cifar10c-fast" --out experiments/audit-compare-fast
}

# Two processes on one run folder would race: refuse while an audit runs (RESUME_ANYWAY=1 skips this).
if [ -z "${RESUME_ANYWAY:-}" ] && pgrep -f 'overinterp[^ ]* audit ' > /dev/null; then
  echo "an overinterp audit is running already (pgrep -af 'overinterp[^ ]* audit '): not starting another" >&2
  exit 1
fi
# The binary the runs use: this checkout's release build, copied aside (a rebuild during the session
# does not disturb the runs); replaced by rename, so a process still running keeps its own.
swift build -c release > "$RUNS/build.log" 2>&1 || { echo "release build failed: $RUNS/build.log" >&2; exit 1; }
mkdir -p "$BIN"
[ -d "$BIN/overinterp_overinterp.resources" ] || cp -r .build/release/overinterp_overinterp.resources "$BIN/"
cp .build/release/overinterp "$BIN/overinterp.new" && mv -f "$BIN/overinterp.new" "$BIN/overinterp"
case ${1:-} in
  --finals)
    finals
    ;;
  --queue) # what the plain call starts in the background: a lane's failed step does not stop it
    set +e
    lane 0 > "$RUNS/lane0.log" 2>&1 &
    lane 1 > "$RUNS/lane1.log" 2>&1 &
    wait
    finals > "$RUNS/finals.log" 2>&1
    ;;
  "")
    nohup "$0" --queue > /dev/null 2>&1 &
    echo "issue 35 runs: two lanes started (logs $RUNS/lane0.log, lane1.log, then finals.log)"
    ;;
  *)
    echo "experiments/resume.sh: unknown argument '$1' (expected none, or --finals)" >&2
    exit 2
    ;;
esac
