#!/usr/bin/env bash
# Robust ResNet20 (issue 19, paper section 4.5): train it, measure clean and PGD-20 accuracy, and
# audit it beside the standard (embedded) ResNet20 with the same settings. Resumable: every step
# skips what is done.
#
#   experiments/robust-resnet20/run.sh [OVERINTERP] [DATA] [RUNS]
set -euo pipefail
OVERINTERP=${1:-overinterp}
DATA=${2:-../shared/data}
RUNS=${3:-/work/runs}
HERE=$(cd "$(dirname "$0")" && pwd)
CIFAR="$DATA/cifar-10-batches-bin"

# 1. Fine-tune the embedded model adversarially: FGSM with a random start (PGD-1, step 1.25 eps,
#    Wong et al. 2020), 10 epochs, one-cycle learning rate 0.05, 1 thread (about 11-16 min per
#    epoch on the 2-core development machine beside other jobs).
train=(train --arch resnet20 --data "$CIFAR" --out "$RUNS/robust-r20" --initialize default --adversarial pgd
  --eps 8/255 --step 10/255 --steps 1 --preset fast --epochs 10 --lr 0.05 --warmup-epochs 1 --threads 1)
if [ -f "$RUNS/robust-r20/checkpoint.safetensors" ] || [ -f "$RUNS/robust-r20/model.safetensors" ]; then train+=(--resume); fi
[ -f "$RUNS/robust-r20/model.safetensors" ] && [ "$(wc -l < "$RUNS/robust-r20/log.jsonl")" -ge 10 ] ||
  "$OVERINTERP" "${train[@]}" | tee -a "$HERE/train.log"
cp "$RUNS/robust-r20/model.safetensors" "$RUNS/robust-r20/log.jsonl" "$RUNS/robust-r20/config.json" "$HERE/"

# 2. Clean and PGD-20 accuracy (eps 8/255, step 2/255, random start) on the 5,000 held-out
#    training images (clean pixels, never trained on), both models.
for m in default "$HERE/model.safetensors"; do
  name=$([ "$m" = default ] && echo standard || echo robust)
  [ -s "$HERE/pgd20-$name.json" ] ||
    "$OVERINTERP" eval --model "$m" --data "$CIFAR" --split holdout --attack pgd --steps 20 --json --threads 2 \
      > "$HERE/pgd20-$name.json"
done

# 3. Audits with the same settings: a seeded sample of 500 held-out images (the sample of
#    experiments/audit-r20-hybrid-500), gradient BackSelect k = 8, score logprob.
for m in default "$HERE/model.safetensors"; do
  name=$([ "$m" = default ] && echo standard || echo robust)
  "$OVERINTERP" audit --model "$m" --data "$CIFAR" --split holdout --sample 500 --seed 1 --method gradient --k 8 \
    --out "$HERE/audit-$name-gradient" --threads 2
done
