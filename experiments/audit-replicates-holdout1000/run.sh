#!/usr/bin/env bash
# Issue 35, sections 4.1, 4.5 and 4.6: five ResNet20 replicates, their ensemble (mean of logits)
# and the robust ResNet20, each audited with the fast method (defaults, float32) on the same
# seeded sample of 1,000 held-out training images (clean pixels; --min-confidence 0 selects every
# image, so the seed-0 sample is the same 1,000 positions for every model). Then Figure 6 with the
# paired ensemble-vs-member test (compare-audits) and the 5x5 transfer matrix (each replicate's 5%
# backward-selection subsets evaluated by every replicate, table1).
#
#   experiments/audit-replicates-holdout1000/run.sh [OVERINTERP] [DATA] [THREADS] [STEP]
#
# STEP: all (default), or one of r20-seed0 ... r20-seed4, ensemble, robust, analyses, to run one
# step (two steps can run at once on two cores, one thread each); analyses is transfer (needs the
# five member audits), robust-vs-standard (r20-seed0 and robust) and figure6 (members and ensemble),
# each of which also runs alone. SHARD=i/n in the environment
# runs one shard of an audit step (e.g. the ensemble's, SHARD=0/2 and SHARD=1/2 on two cores).
# Every audit is resumable: the same command continues where it stopped; a finished step is
# skipped.
set -euo pipefail
OVERINTERP=${1:-overinterp}
DATA=${2:-../shared/data}
THREADS=${3:-2}
STEP=${4:-all}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CIFAR="$DATA/cifar-10-batches-bin"

declare -A MODEL=(
  [r20-seed0]=default
  [r20-seed1]="$ROOT/experiments/table1/models/r20-full-seed1/model.safetensors"
  [r20-seed2]="$ROOT/experiments/replicates/r20-seed2/model.safetensors"
  [r20-seed3]="$ROOT/experiments/replicates/r20-seed3/model.safetensors"
  [r20-seed4]="$ROOT/experiments/replicates/r20-seed4/model.safetensors"
  [robust]="$ROOT/experiments/robust-resnet20/model.safetensors"
)
MEMBERS=(r20-seed0 r20-seed1 r20-seed2 r20-seed3 r20-seed4)
SAMPLE=(--data "$CIFAR" --split holdout --min-confidence 0 --sample 1000 --seed 0 --threads "$THREADS")

audit() { # NAME MODEL-ARGS...
  local name=$1
  shift
  if [ -f "$HERE/$name/report.html" ]; then return; fi
  local shard=() log="$HERE/$name.log"
  if [ -n "${SHARD:-}" ]; then
    shard=(--shard "$SHARD")
    log="$HERE/$name-shard${SHARD%/*}.log"
  fi
  nice -n 10 "$OVERINTERP" audit "$@" "${SAMPLE[@]}" "${shard[@]}" --out "$HERE/$name" 2>&1 | tee -a "$log"
}

trained() { # MODEL-NAME STEP: the model exists (or is the embedded one), else a message naming it
  [ "${MODEL[$1]}" = default ] || [ -f "${MODEL[$1]}" ] || { echo "$2: ${MODEL[$1]} is not trained yet" >&2; return 1; }
}

run_step() {
  case $1 in
    r20-seed* | robust)
      trained "$1" "$1" || return 1
      audit "$1" --model "${MODEL[$1]}"
      ;;
    ensemble)
      local args=()
      for m in "${MEMBERS[@]}"; do
        trained "$m" ensemble || return 1
        args+=(--model "${MODEL[$m]}")
      done
      audit ensemble "${args[@]}"
      ;;
    figure6)
      # Figure 6 (and the paired ensemble-vs-member test)
      local curves=()
      for m in "${MEMBERS[@]}"; do curves+=("$m=$HERE/$m"); done
      "$OVERINTERP" compare-audits "${curves[@]}" "ensemble of 5=$HERE/ensemble" --out "$HERE/figure6"
      ;;
    robust-vs-standard)
      "$OVERINTERP" compare-audits "standard=$HERE/r20-seed0" "robust=$HERE/robust" --out "$HERE/robust-vs-standard"
      ;;
    transfer)
      # Transfer (section 4.1): every replicate's 5% BS subsets, evaluated by every replicate
      local models=() data=()
      for m in "${MEMBERS[@]}"; do
        [ -f "$HERE/subsets/$m/subsets.json" ] ||
          "$OVERINTERP" subsets --run "$HERE/$m/run" --fraction 0.05 --out "$HERE/subsets/$m"
        models+=(--model "$m=${MODEL[$m]}")
        data+=(--data "$m=$HERE/subsets/$m")
      done
      "$OVERINTERP" table1 "${models[@]}" "${data[@]}" --threads "$THREADS" --out "$HERE/transfer"
      ;;
    analyses)
      for s in transfer robust-vs-standard figure6; do run_step "$s"; done
      ;;
    *)
      echo "unknown step $1" >&2
      return 2
      ;;
  esac
}

if [ "$STEP" = all ]; then
  for s in "${MEMBERS[@]}" robust ensemble analyses; do run_step "$s"; done
else
  run_step "$STEP"
fi
