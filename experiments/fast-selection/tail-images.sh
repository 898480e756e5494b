#!/usr/bin/env bash
# Session 20: the six seed-35 held-out images whose fast SIS at τ = 0.99 were 2-5x exact's
# (development data now), run with one fast variant and compared image by image with the exact
# references: SIS sizes at τ = 0.5 / 0.9 / 0.99 (exact/variant) and the log probability left at
# 512 ... 32 remaining pixels (exact / variant).
#
#   experiments/fast-selection/tail-images.sh BIN OUT [backselect options]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$1
OUT=$2
shift 2
DATA=${DATA:-$ROOT/../shared/data}
REF=$ROOT/experiments/reference-exact-holdout30-seed35/run
"$BIN" backselect --model default --data "$DATA/cifar-10-batches-bin" --split holdout \
  --indices 3081,4479,2802,3017,4593,1739 --method fast --group 6 --out "$OUT" --resume "$@" >&2
python3 "$ROOT/experiments/fold-exact/compare_orders.py" "$REF" "$OUT"
python3 "$ROOT/experiments/fast-selection/trajectory.py" "$REF" "$OUT"
grep -o '"forward_passes_per_image": [0-9]*' "$OUT/timings.jsonl"
