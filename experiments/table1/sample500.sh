#!/usr/bin/env bash
# Table 1 reproduction, step 3: how the BackSelect method changes the answer. The same 500
# held-out training images (the seed-1 sample of those the embedded ResNet20 predicts with
# confidence >= 0.5) were backward-selected twice by the project's audits: with the hybrid method
# (experiments/audit-r20-hybrid-500, whose SIS match exact selection) and with the gradient method
# (experiments/robust-resnet20/audit-standard-gradient, the method of the dataset-scale run). Their
# 5% subsets, 5% random subsets of the same images, and the models of step 2 evaluated on them.
# Run it once the hybrid audit is complete; models of step 2 that do not exist yet are left out.
#
#   experiments/table1/sample500.sh [OVERINTERP] [RUNS]    (MODELS: train.sh's, default models/ here)
set -euo pipefail
OVERINTERP=${1:-overinterp}
RUNS=${2:-/work/runs/table1}
HERE=$(cd "$(dirname "$0")" && pwd)
MODELS=${MODELS:-$HERE/models}
ROOT=$(cd "$HERE/../.." && pwd)
# Relative arguments are taken from the caller's directory (a bare OVERINTERP is looked up on
# PATH); the script then works from the repository root, so that the committed subsets.json name
# their runs without this machine's prefix.
case $OVERINTERP in /*) ;; */*) OVERINTERP=$PWD/$OVERINTERP ;; esac
case $RUNS in /*) ;; *) RUNS=$PWD/$RUNS ;; esac
case $MODELS in /*) ;; *) MODELS=$PWD/$MODELS ;; esac
cd "$ROOT"
OUT=experiments/table1/sample500
HYBRID=experiments/audit-r20-hybrid-500/run
GRADIENT=experiments/robust-resnet20/audit-standard-gradient/run
mkdir -p "$OUT"

subsets() {
  local out=$1
  shift
  [ -f "$out/subsets.json" ] || "$OVERINTERP" subsets --no-images --out "$out" "$@"
}
subsets "$OUT/backselect-hybrid" --run "$HYBRID" --fraction 0.05 --kind backselect
subsets "$OUT/backselect-gradient" --run "$GRADIENT" --fraction 0.05 --kind backselect
subsets "$OUT/random" --run "$GRADIENT" --fraction 0.05 --kind random --seed 0
# The full images of the sample (every pixel kept): large, so kept outside the repository.
subsets "$RUNS/sample500-full" --run "$GRADIENT" --fraction 1 --kind backselect

models=(--model "full=default")
for m in r20-full-seed1:full r20-backselect:"5% BS (gradient)" r20-backselect-seed1:"5% BS (gradient)" r20-random:"5% random"; do
  file="$MODELS/${m%%:*}/model.safetensors"
  if [ -f "$file" ]; then models+=(--model "${m#*:}=$file"); fi
done
"$OVERINTERP" table1 "${models[@]}" --data "full@sample of 500=$RUNS/sample500-full" \
  --data "5% BS (hybrid)@sample of 500=$OUT/backselect-hybrid" \
  --data "5% BS (gradient)@sample of 500=$OUT/backselect-gradient" \
  --data "5% random@sample of 500=$OUT/random" --out "$OUT/table"
