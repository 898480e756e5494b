#!/usr/bin/env bash
# Table 1 reproduction, step 2 (run once step 1, backselect.sh, is complete): the 5% BS and 5%
# random subsets of the 45,000 training images (joined from backselect.sh's shards), a ResNet20
# trained on each (no augmentation, the fast preset), a ResNet20 trained on full images (seed 1:
# the replicate for transfer), a second one on the BS subsets (seed 1), and the table.
# Resumable: every step skips what is done, and training continues from its last finished epoch.
# The joined subsets go to RUNS (rebuilt in seconds from the committed shards); the trained
# models go to MODELS (default models/ here, so that a checkpoint committed at the end of a
# session survives a lost machine); the tables are committed.
#
#   experiments/table1/train.sh [OVERINTERP] [RUNS] [DATA] [THREADS] [SHARDS]
set -euo pipefail
OVERINTERP=${1:-overinterp}
RUNS=${2:-/work/runs/table1}
DATA=${3:-../shared/data}
THREADS=${4:-2}
SHARDS=${5:-40}
HERE=$(cd "$(dirname "$0")" && pwd)
MODELS=${MODELS:-$HERE/models}
CIFAR="$DATA/cifar-10-batches-bin"
mkdir -p "$RUNS" "$MODELS"

# train OUT FLAGS...: a fast-preset ResNet20, resumed when OUT holds a checkpoint; its console
# output in train-NAME.log here.
train() {
  local out=$1 name
  name=$(basename "$out")
  shift
  local args=(train --arch resnet20 --preset fast --threads "$THREADS" --out "$out" "$@")
  # A finished run keeps only model.safetensors; --resume on it trains nothing.
  if [ -f "$out/checkpoint.safetensors" ] || [ -f "$out/model.safetensors" ]; then args+=(--resume); fi
  nice -n 10 "$OVERINTERP" "${args[@]}" 2>&1 | tee -a "$HERE/train-$name.log"
}
shard() { echo "$HERE/$1-train-shards/$(printf '%03d' "$2")-of-$SHARDS"; }
# Whether every shard of both kinds is committed.
shards_done() {
  local kind i
  for kind in backselect random; do
    for ((i = 0; i < SHARDS; i++)); do
      [ -f "$(shard $kind $i)/subsets.json" ] || return 1
    done
  done
}
# The replicate for transfer: full images, augmentation, like the embedded model but seed 1. It
# needs no subsets, so it trains first while step 1 is unfinished, and last otherwise (the
# subset-trained models are the table's main rows).
replicate() { train "$MODELS/r20-full-seed1" --data "$CIFAR" --seed 1; }
if ! shards_done; then replicate; fi

# join KIND: the KIND (backselect, random) subsets of the training images, one folder from the
# SHARDS shard folders; refuses to go on until every shard is done.
join() {
  local kind=$1 i folders=()
  [ -f "$RUNS/$kind-train/subsets.json" ] && return
  for ((i = 0; i < SHARDS; i++)); do
    if [ ! -f "$(shard "$kind" $i)/subsets.json" ]; then
      echo "train.sh: $(shard "$kind" $i) is missing: run backselect.sh until all $SHARDS shards are done" >&2
      exit 1
    fi
    folders+=("$(shard "$kind" $i)")
  done
  "$OVERINTERP" merge "${folders[@]}" --out "$RUNS/$kind-train"
}
join backselect
join random

# Trained and validated on subsets (validation: the same kind of subsets of the held-out images).
train "$MODELS/r20-backselect" --data "$RUNS/backselect-train" --validation "$HERE/backselect-holdout" \
  --test "$HERE/backselect-test-lossless" --no-augment
train "$MODELS/r20-random" --data "$RUNS/random-train" --validation "$HERE/random-holdout" \
  --test "$HERE/random-test-lossless" --no-augment
replicate
# A second model on the 5% BS subsets (seed 1), for the spread of the table's main row.
train "$MODELS/r20-backselect-seed1" --data "$RUNS/backselect-train" --validation "$HERE/backselect-holdout" \
  --test "$HERE/backselect-test-lossless" --no-augment --seed 1

# Table 1 in the paper's layout on each benchmark (held-out training images; lossless test images),
# and the transfer of the embedded model's subsets to the replicate (also as its own group). The
# table's CSV has one row per model and dataset.
for bench in holdout test-lossless; do
  if [ $bench = holdout ]; then full=(--data "full@held-out=$CIFAR" --split holdout); label=held-out
  else full=(--data "full@lossless test=$DATA/cifar-10-test-lossless-subset"); label="lossless test"; fi
  "$OVERINTERP" table1 --threads "$THREADS" \
    --model "full=default" --model "full=$MODELS/r20-full-seed1/model.safetensors" \
    --model "transfer: full, seed 1=$MODELS/r20-full-seed1/model.safetensors" \
    --model "5% BS (gradient)=$MODELS/r20-backselect/model.safetensors" \
    --model "5% BS (gradient)=$MODELS/r20-backselect-seed1/model.safetensors" \
    --model "5% random=$MODELS/r20-random/model.safetensors" \
    "${full[@]}" --data "5% BS (gradient)@$label=$HERE/backselect-$bench" \
    --data "5% random@$label=$HERE/random-$bench" --out "$HERE/table-$bench"
done
# Step 3 with the trained models: the 500-image sample's hybrid and gradient subsets.
MODELS=$MODELS "$HERE/sample500.sh" "$OVERINTERP" "$RUNS"
