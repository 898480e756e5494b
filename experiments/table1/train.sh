#!/usr/bin/env bash
# Table 1 reproduction, step 2 (run once step 1, backselect.sh, is complete): the 5% BS and 5%
# random subsets of the 45,000 training images, a ResNet20 trained on each (no augmentation, the
# fast preset), a second ResNet20 trained on full images (seed 1: the replicate for transfer), and
# the table. Resumable: every step skips what is done, and training continues from its last
# finished epoch. Trained models go to RUNS; the subsets and the tables are committed.
#
#   experiments/table1/train.sh [OVERINTERP] [RUNS] [DATA] [THREADS]
set -euo pipefail
OVERINTERP=${1:-overinterp}
RUNS=${2:-/work/runs/table1}
DATA=${3:-../shared/data}
THREADS=${4:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
CIFAR="$DATA/cifar-10-batches-bin"

# Subsets of the training images: the last 5% of each gradient removal order, and 5% at random.
[ -f "$HERE/backselect-train/subsets.json" ] ||
  "$OVERINTERP" subsets --run "$RUNS/gradient-k8-train" --fraction 0.05 --kind backselect --no-images \
    --out "$HERE/backselect-train"
[ -f "$HERE/random-train/subsets.json" ] ||
  "$OVERINTERP" subsets --run "$RUNS/gradient-k8-train" --fraction 0.05 --kind random --seed 0 --no-images \
    --out "$HERE/random-train"

# train OUT FLAGS...: a fast-preset ResNet20, resumed when OUT holds a checkpoint; the log beside
# the subsets.
train() {
  local out=$1 name
  name=$(basename "$out")
  shift
  local args=(train --arch resnet20 --preset fast --threads "$THREADS" --out "$out" "$@")
  if [ -f "$out/checkpoint.safetensors" ]; then args+=(--resume); fi
  nice -n 10 "$OVERINTERP" "${args[@]}" 2>&1 | tee -a "$HERE/train-$name.log"
}
# Trained and validated on subsets (validation: the same kind of subsets of the held-out images).
train "$RUNS/r20-backselect" --data "$HERE/backselect-train" --validation "$HERE/backselect-holdout" \
  --test "$HERE/backselect-test-lossless" --no-augment
train "$RUNS/r20-random" --data "$HERE/random-train" --validation "$HERE/random-holdout" \
  --test "$HERE/random-test-lossless" --no-augment
# The replicate for transfer: full images, augmentation, like the embedded model but seed 1.
train "$RUNS/r20-full-seed1" --data "$CIFAR" --seed 1
for m in r20-backselect r20-random r20-full-seed1; do
  cp "$RUNS/$m/log.jsonl" "$HERE/log-$m.jsonl"
  cp "$RUNS/$m/config.json" "$HERE/config-$m.json"
done

# Table 1 in the paper's layout on each benchmark (held-out training images; lossless test images),
# and the transfer of the embedded model's subsets to the replicate (also as its own group). The
# table's CSV has one row per model and dataset.
for bench in holdout test-lossless; do
  if [ $bench = holdout ]; then full=(--data "full@held-out=$CIFAR" --split holdout); label=held-out
  else full=(--data "full@lossless test=$DATA/cifar-10-test-lossless-subset"); label="lossless test"; fi
  "$OVERINTERP" table1 --threads "$THREADS" \
    --model "full=default" --model "full=$RUNS/r20-full-seed1/model.safetensors" \
    --model "transfer: full, seed 1=$RUNS/r20-full-seed1/model.safetensors" \
    --model "5% BS (gradient)=$RUNS/r20-backselect/model.safetensors" \
    --model "5% random=$RUNS/r20-random/model.safetensors" \
    "${full[@]}" --data "5% BS (gradient)@$label=$HERE/backselect-$bench" \
    --data "5% random@$label=$HERE/random-$bench" --out "$HERE/table-$bench"
done
