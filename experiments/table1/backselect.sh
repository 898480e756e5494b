#!/usr/bin/env bash
# Table 1 reproduction, step 1: Batched Gradient BackSelect (k = 8, score logprob) of the embedded
# ResNet20 over the 5,000 held-out training images, the 1,120 lossless test images and the 45,000
# training images, in that order. One thread, niced, so that the machine stays usable. The run
# folders are large (about 10 KB per image) and live outside the repository (RUNS, default
# /work/runs/table1); what is kept of them is their 5% subsets, which are committed.
#
# The training images run as SHARDS shards (--shard i/SHARDS; at 40, 35 or 36 groups of 32 images each), each
# in its own run folder; when a shard finishes, its 5% backward-selection and random subsets go to
# backselect-train-shards/III-of-SHARDS and random-train-shards/III-of-SHARDS (small: the kept pixel indices) and its run folder may go.
# A machine that is lost between sessions so loses at most the shard in progress; rerunning the
# script skips every benchmark and shard whose subsets are here, and resumes a run folder that
# survived. train.sh joins the shards' subsets (`overinterp merge`) once all are here.
#
# JOBS (default 1) shards run at once, one thread each: 2 on an otherwise idle 2-core machine.
#
#   [JOBS=2] experiments/table1/backselect.sh [OVERINTERP] [RUNS] [DATA] [SHARDS]
set -euo pipefail
OVERINTERP=${1:-overinterp}
RUNS=${2:-/work/runs/table1}
DATA=${3:-../shared/data}
SHARDS=${4:-40}
JOBS=${JOBS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$RUNS"
common=(--method gradient --k 8 --score logprob --group 32 --all --threads 1)
run() {
  local out=$1; shift
  if [ -f "$out/manifest.json" ]; then set -- "$@" --resume; fi
  nice -n 19 "$OVERINTERP" backselect "${common[@]}" --out "$out" "$@"
}
# subsets RUN NAME: the run's 5% backward-selection and random (seed 0) subsets, without images.
subsets() {
  local run=$1 name=$2
  [ -f "$HERE/backselect-$name/subsets.json" ] ||
    "$OVERINTERP" subsets --run "$run" --fraction 0.05 --kind backselect --no-images --out "$HERE/backselect-$name"
  [ -f "$HERE/random-$name/subsets.json" ] ||
    "$OVERINTERP" subsets --run "$run" --fraction 0.05 --kind random --seed 0 --no-images --out "$HERE/random-$name"
}
if [ ! -f "$HERE/random-holdout/subsets.json" ]; then
  run "$RUNS/gradient-k8-holdout" --data "$DATA/cifar-10-batches-bin" --split holdout
  subsets "$RUNS/gradient-k8-holdout" holdout
fi
if [ ! -f "$HERE/random-test-lossless/subsets.json" ]; then
  run "$RUNS/gradient-k8-test-lossless" --data "$DATA/cifar-10-test-lossless-subset"
  subsets "$RUNS/gradient-k8-test-lossless" test-lossless
fi
# shard I: BackSelect of training shard I, then its subsets.
shard() {
  local i=$1 name folder
  name=train-shards/$(printf '%03d' "$i")-of-$SHARDS
  folder="$RUNS/gradient-k8-train-$(printf '%03d' "$i")-of-$SHARDS"
  run "$folder" --data "$DATA/cifar-10-batches-bin" --split train --shard "$i/$SHARDS"
  mkdir -p "$HERE/backselect-train-shards" "$HERE/random-train-shards"
  subsets "$folder" "$name"
  echo "$(date -u +%FT%TZ) shard $i/$SHARDS done"
}
for ((i = 0; i < SHARDS; i++)); do
  [ -f "$HERE/random-train-shards/$(printf '%03d' "$i")-of-$SHARDS/subsets.json" ] && continue
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  shard "$i" &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done
