#!/usr/bin/env bash
# Table 1 reproduction, step 1: Batched Gradient BackSelect (k = 8, score logprob) of the embedded
# ResNet20 over the 5,000 held-out training images, the 1,120 lossless test images and the 45,000
# training images, in that order. Resumable: run it again to continue. One thread, niced, so that
# the machine stays usable. The run folders are large (about 10 KB per image) and live outside the
# repository (RUNS, default /work/runs/table1); the pixel subsets derived from them are committed.
#
#   experiments/table1/backselect.sh [OVERINTERP] [RUNS] [DATA]
set -euo pipefail
OVERINTERP=${1:-overinterp}
RUNS=${2:-/work/runs/table1}
DATA=${3:-../shared/data}
mkdir -p "$RUNS"
common=(--method gradient --k 8 --score logprob --group 32 --all --threads 1)
run() {
  local out=$1; shift
  if [ -f "$out/manifest.json" ]; then set -- "$@" --resume; fi
  nice -n 19 "$OVERINTERP" backselect "${common[@]}" --out "$out" "$@"
}
run "$RUNS/gradient-k8-holdout" --data "$DATA/cifar-10-batches-bin" --split holdout
run "$RUNS/gradient-k8-test-lossless" --data "$DATA/cifar-10-test-lossless-subset"
run "$RUNS/gradient-k8-train" --data "$DATA/cifar-10-batches-bin" --split train
