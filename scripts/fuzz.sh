#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, with -sanitize=fuzzer,address) and runs each for SECONDS
# seconds, one after another, then prints executions and findings per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 60 s each, every target
#   FUZZ_RUNS=N scripts/fuzz.sh 3600 pickle    stop a target after N executions instead (or at SECONDS)
#
# Working corpora grow in .build-fuzz/corpus/<target> (seeded from Fuzz/corpus/<target>, the
# committed valid inputs); a crashing, leaking, hanging (over 25 s) or memory-hungry (over 2 GB)
# input is written to .build-fuzz/findings/<target>/ and the script exits 1. Commit each finding
# under Tests/*/Fixtures/fuzz/ with a regression test. Exit 3: the toolchain cannot build fuzzers
# (.ci/run skips then).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=.build-fuzz
flags=(-c release --build-path "$build" --product overinterp-fuzz
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
  # gold fails on the sanitized objects' debug information; lld links them.
  -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
mkdir -p "$build"
if ! OVERINTERP_FUZZ=1 swift build "${flags[@]}" >"$build/build.log" 2>&1; then
  tail -20 "$build/build.log"
  echo "fuzz: could not build the fuzz targets (log: $build/build.log)"
  exit 3
fi
binary="$build/release/overinterp-fuzz"
all=$(OVERINTERP_FUZZ_TARGET=list "$binary" 2>&1 | sed -n 's/.*one of: //p' | tr -d ',')
targets=("$@")
[ ${#targets[@]} -eq 0 ] && read -r -a targets <<<"$all"

status=0
report=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1
    -artifact_prefix="$findings/" "$corpus" "Fuzz/corpus/$t")
  [ -f "Fuzz/dict/$t.dict" ] && args=(-dict="Fuzz/dict/$t.dict" "${args[@]}")
  [ -n "${FUZZ_RUNS:-}" ] && args=(-runs="$FUZZ_RUNS" "${args[@]}")
  log="$build/$t.log"
  # Swift's own crash backtracer reads the stack in a way AddressSanitizer reports; libFuzzer
  # prints the stack itself.
  SWIFT_BACKTRACE=enable=no OVERINTERP_FUZZ_TARGET=$t "$binary" "${args[@]}" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^stat::.*//; s/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  found=$(ls "$findings" | wc -l)
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    status=1
    result="FINDING (exit $rc; $found input(s) in $findings; log $log)"
    grep -m3 -E "ERROR|Fatal error|panic|deadly signal" "$log" | sed 's/^/    /'
  else
    result="no crash, no timeout, no out-of-memory"
  fi
  report+=("$(printf '%-18s %12s executions in %6s s: %s' "$t" "${runs:-?}" "${took:-$seconds}" "$result")")
  echo "${report[-1]}"
done
echo
echo "fuzz summary ($(date -u +%FT%TZ), $seconds s per target, $(nproc) cores):"
printf '%s\n' "${report[@]}"
exit $status
