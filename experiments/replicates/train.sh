#!/usr/bin/env bash
# Issue 35, section 4.6: three more ResNet20 replicates of the embedded model's recipe (the fast
# preset: 50 epochs, one-cycle, augmentation; the last 5,000 training images held out), seeds 2-4,
# beside the embedded model (seed 0, training/default-resnet20) and the seed-1 replicate
# (experiments/table1/models/r20-full-seed1). They need no subsets, so they can train before the
# fast method's audits. Resumable: each run continues from its last finished epoch (commit the
# folders at the end of a session: an unfinished run keeps checkpoint.safetensors, a finished one
# only model.safetensors, config.json and log.jsonl).
#
#   experiments/replicates/train.sh [OVERINTERP] [DATA] [THREADS]
set -euo pipefail
OVERINTERP=${1:-overinterp}
DATA=${2:-../shared/data}
THREADS=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
for seed in 2 3 4; do
  out="$HERE/r20-seed$seed"
  args=(train --arch resnet20 --preset fast --data "$DATA/cifar-10-batches-bin" --seed "$seed" --threads "$THREADS" --out "$out")
  if [ -f "$out/checkpoint.safetensors" ] || [ -f "$out/model.safetensors" ]; then args+=(--resume); fi
  nice -n 10 "$OVERINTERP" "${args[@]}" 2>&1 | tee -a "$HERE/train-seed$seed.log"
done
