#!/usr/bin/env bash
# Restarts the long runs of the open reproductions on a development machine. A new session may
# get a fresh machine that keeps only what is committed, so each session starts with this script:
# it builds the release binary when there is none, copies it aside (BIN, default /work/bgbin: a
# rebuild during the session does not disturb the runs), and starts, in the background and
# niced, every run that is not finished, each resuming from what is committed:
#
#   - the 500-image hybrid audit (experiments/audit-r20-hybrid-500; nice 5, both threads: the
#     critical path of the audit reproduction and of Table 1's step 3);
#   - Table 1 step 1, gradient BackSelect of the training images by shards (backselect.sh;
#     nice 19, so that it takes what the audit leaves; two shards at once when the audit is done);
#   - with --train, Table 1 step 2 (train.sh; nice 10): the replicate, which needs no subsets,
#     while shards are missing; the subset-trained models once all are committed.
#
# Logs go to RUNS (default /work/runs). Commit what the runs write (audit shards, shard subsets,
# training checkpoints under table1/models) before the session ends.
#
#   experiments/resume.sh [--train]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-/work/bgbin}
RUNS=${RUNS:-/work/runs}
DATA=${DATA:-$ROOT/../shared/data}
DATA=$(cd "$DATA" && pwd)
cd "$ROOT"
if [ ! -x "$BIN/overinterp" ]; then
  [ -x .build/release/overinterp ] || swift build -c release
  mkdir -p "$BIN"
  cp -r .build/release/overinterp .build/release/overinterp_overinterp.resources "$BIN/"
fi
mkdir -p "$RUNS"
running() { pgrep -f "$1" > /dev/null; }

# The audit writes report.html at its top level only once all images are done.
audit=experiments/audit-r20-hybrid-500
if [ ! -f "$audit/report.html" ] && ! running "out $audit"; then
  nohup nice -n 5 "$BIN/overinterp" audit --data "$DATA/cifar-10-batches-bin" --split holdout --sample 500 \
    --seed 1 --method hybrid --k 8 --group 4 --out "$audit" --threads 2 >> "$RUNS/audit500.log" 2>&1 &
  echo "audit: started (log $RUNS/audit500.log)"
fi
if ! running table1/backselect.sh; then
  # Both cores once the audit is done.
  jobs=1
  if [ -f "$audit/report.html" ]; then jobs=2; fi
  JOBS=$jobs nohup experiments/table1/backselect.sh "$BIN/overinterp" "$RUNS/table1" "$DATA" >> "$RUNS/table1-bs.log" 2>&1 &
  echo "table1 step 1: started (log $RUNS/table1-bs.log)"
fi
if [ "${1:-}" = --train ] && ! running table1/train.sh; then
  nohup experiments/table1/train.sh "$BIN/overinterp" "$RUNS/table1" "$DATA" 2 >> "$RUNS/table1-train.log" 2>&1 &
  echo "table1 step 2: started (log $RUNS/table1-train.log)"
fi
