#!/usr/bin/env bash
# The 50-image verdict of issue 34: the fast method (its defaults, or the options given after the
# script's arguments) on the images of the exact references, judged by `overinterp fidelity` on the
# 20 lossless test images and the 30 held-out training images as one set.
#
#   experiments/fast-selection/verdict.sh BIN OUT [backselect options, e.g. --screen-top 16]
#   SEED35=1 experiments/fast-selection/verdict.sh BIN OUT [options]
#   SEED35=1 SEED36=1 experiments/fast-selection/verdict.sh BIN OUT [options]
#   SEED35=1 SEED36=1 SEED37=1 experiments/fast-selection/verdict.sh BIN OUT [options]
#   SEED35=1 SEED36=1 SEED37=1 SEED38=1 experiments/fast-selection/verdict.sh BIN OUT [options]
#
# With SEED35=1 it also runs the fast method on the second held-out sample
# (experiments/reference-exact-holdout30-seed35, the finished images of its shards until they are
# merged) and judges it alone and all 80 images as one set. Do that only for variants registered
# in docs/studies/fast-selection.md before the run: it is the untouched sample of the next verdict.
#
# BIN: the overinterp binary; OUT: a folder for the fast runs (two run folders). Needs the finished
# reference run experiments/reference-exact-holdout30/run (the audit merges its shards when the
# last one finishes; rerun the audit command of experiments/README.md to merge them), and
# ../shared/data.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$1
OUT=$2
shift 2
DATA=${DATA:-$ROOT/../shared/data}
cd "$ROOT"
ref30=experiments/reference-exact-holdout30/run
# Until the shards are merged, each shard folder is a reference for the images it has finished
# (fidelity matches images by position and counts those finished in both runs).
if [ -f "$ref30/manifest.json" ]; then
  refs30=("$ref30")
else
  refs30=(experiments/reference-exact-holdout30/shards/shard-*-of-2)
  echo "note: $ref30 is not merged yet; judging the held-out images finished in the shards" >&2
fi
positions=$(python3 -c "import json; print(','.join(map(str, json.load(open('${refs30[0]}/manifest.json'))['positions'])))")
"$BIN" backselect --model default --data "$DATA/cifar-10-test-lossless-subset" --confident 0.99 --correct-only \
  --max-images 20 --method fast --group 10 --out "$OUT/lossless20" --resume "$@"
"$BIN" backselect --model default --data "$DATA/cifar-10-batches-bin" --split holdout --indices "$positions" \
  --method fast --group 10 --out "$OUT/holdout30" --resume "$@"
echo "== the 20 lossless test images (development set for the early phase)"
"$BIN" fidelity experiments/saturation-logprob "$OUT/lossless20" || true
pairs30=()
for r in "${refs30[@]}"; do pairs30+=("$r" "$OUT/holdout30"); done
echo "== the 30 held-out images (untouched)"
"$BIN" fidelity "${pairs30[@]}" || true
echo "== all 50"
# The later held-out samples, each for variants registered in docs/studies/fast-selection.md
# before its run only: seed 35 (session 18), 36 (session 20; exact with --fold-batch-norm),
# 37 (session 21; 29 images: position 3290 is in the seed-36 sample too) and 38 (registered in
# session 22, not started then). Each is judged alone, then with every image before it; the pairs
# (reference, run) are appended to `all` (the shards' folders until the run is merged).
all=("${pairs30[@]}")
judge_sample() {
  local seed=$1 name=$2 ref=experiments/reference-exact-holdout30-seed$1/run refs r positions
  if [ -f "$ref/manifest.json" ]; then
    refs=("$ref")
  else
    refs=(experiments/reference-exact-holdout30-seed$seed/shards/shard-*-of-2)
    echo "note: $ref is not merged yet; judging the images finished in the shards" >&2
  fi
  # Images of an earlier sample (development data by then) are left out: fidelity judges the
  # images finished in both runs.
  positions=$(python3 -c "
import glob, json
mine = json.load(open('experiments/reference-exact-holdout30-seed$seed/selection.json'))['positions']
earlier = set()
for f in glob.glob('experiments/reference-exact-holdout30*/selection.json'):
    name = f.split('/')[1]
    if (int(name.split('seed')[1]) if 'seed' in name else 34) < $seed:
        earlier |= set(json.load(open(f))['positions'])
print(','.join(str(p) for p in mine if p not in earlier))")
  shift 2
  "$BIN" backselect --model default --data "$DATA/cifar-10-batches-bin" --split holdout --indices "$positions" \
    --method fast --group 10 --out "$OUT/holdout30-seed$seed" --resume "$@"
  local pairs=()
  for r in "${refs[@]}"; do pairs+=("$r" "$OUT/holdout30-seed$seed"); done
  echo "== the seed-$seed held-out images (the $name untouched sample)"
  "$BIN" fidelity "${pairs[@]}" || true
  all+=("${pairs[@]}")
}
for sample in "35 second 80" "36 third 110" "37 fourth 139" "38 fifth references"; do
  read -r seed name total <<<"$sample"
  flag=SEED$seed
  if [ "${!flag:-0}" != 1 ]; then break; fi
  "$BIN" fidelity experiments/saturation-logprob "$OUT/lossless20" "${all[@]}" || true
  judge_sample "$seed" "$name" "$@"
  echo "== all $total"
done
exec "$BIN" fidelity experiments/saturation-logprob "$OUT/lossless20" "${all[@]}"
