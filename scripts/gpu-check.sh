#!/usr/bin/env bash
# The one-call GPU check (issue 36): the same commands on the CPU and on --device, compared, and
# the time of a full exact BackSelect per image on each. Meant for a lent GPU machine (about 3-6
# minutes there); with --device cpu it is a smoke test of the script itself (both sides on the CPU).
#
#   scripts/gpu-check.sh [--device cuda|cuda:N|cpu] [--bin PATH] [--out DIR] [--full-exact-cpu]
#
# --bin: the overinterp binary (default .build/release/overinterp). On a GPU machine without Swift,
# carry a release binary built here against the same torch version with --static-swift-stdlib
# (docs/development.md) and point LD_LIBRARY_PATH at that machine's torch/lib.
# --full-exact-cpu: also time a full exact BackSelect of one image on the CPU (minutes; with
# --device cpu it is the only full exact run).
# Needs python3 (no packages) for the comparisons. Exit status 1 when a comparison fails.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
BIN=.build/release/overinterp
OUT=${OUT:-/tmp/overinterp-gpu-check}
FULL_CPU=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --full-exact-cpu) FULL_CPU=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
COMPARE="python3 scripts/gpu_check_compare.py"
rm -rf "$OUT"
mkdir -p "$OUT"
status=0
check() { "$@" || status=1; }
seconds() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['seconds_per_image'])" "$1/timings.jsonl"; }

echo "== $("$BIN" --version); device $DEVICE; $(nproc) CPU cores"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== eval of the embedded model on the embedded sample (100 images)"
"$BIN" eval --json --device cpu > "$OUT/eval-cpu.json"
"$BIN" eval --json --device "$DEVICE" > "$OUT/eval-device.json"
check $COMPARE eval "$OUT/eval-cpu.json" "$OUT/eval-device.json"

# Exact BackSelect over 2x2 patches (256 features, 32,896 forward passes per image) of 4 images,
# score prob (the reference), then the gradient and the fast method over pixels.
run() { # name, side (cpu or device), options...
  local name=$1 side=$2
  shift 2
  local dev=cpu
  [ "$side" = cpu ] || dev=$DEVICE
  "$BIN" backselect --indices 0,1,2,3 --group 4 --device "$dev" --out "$OUT/$name-$side" "$@" > "$OUT/$name-$side.log" 2>&1
}
for spec in "exact-patch2:--method exact --score prob --features patch2" "gradient:--method gradient" "fast:--method fast"; do
  name=${spec%%:*}
  opts=${spec#*:}
  echo "== $name ($opts), 4 images"
  # shellcheck disable=SC2086
  run "$name" cpu $opts
  # shellcheck disable=SC2086
  run "$name" device $opts
  check $COMPARE run "$OUT/$name-cpu" "$OUT/$name-device"
  echo "      seconds per image: cpu $(seconds "$OUT/$name-cpu"), $DEVICE $(seconds "$OUT/$name-device")"
done

if [ "$DEVICE" != cpu ]; then
echo "== full exact BackSelect (pixels, 524,800 forward passes) of 1 image"
"$BIN" backselect --indices 0 --method exact --device "$DEVICE" --out "$OUT/exact-full-$DEVICE" > "$OUT/exact-full.log" 2>&1
echo "      $DEVICE: $(seconds "$OUT/exact-full-$DEVICE") s per image"
fi
if [ "$FULL_CPU" = 1 ]; then
  "$BIN" backselect --indices 0 --method exact --device cpu --out "$OUT/exact-full-cpu" > "$OUT/exact-full-cpu.log" 2>&1
  echo "      cpu: $(seconds "$OUT/exact-full-cpu") s per image"
  [ "$DEVICE" = cpu ] || check $COMPARE run "$OUT/exact-full-cpu" "$OUT/exact-full-$DEVICE"
fi
echo "== gpu-check: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
