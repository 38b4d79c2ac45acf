#!/usr/bin/env bash
# Runs the benchmarks: `scripts/bench.sh smoke` (a few seconds each, inside
# `make test`; proves they run, asserts nothing about speed) or
# `scripts/bench.sh full` (`make bench`; the figures for docs/benchmarks.md).
#
# Convention: every benchmark is an executable tests/bench/bench_<name> in
# the build tree. It takes --smoke or --full, runs the thing and its floor
# or peer side by side in one run, prints a table, and writes its figures
# as JSON to $BENCH_OUT/<name>.json. It exits non-zero only when something
# is broken (a request failed, a count is wrong), never because of timing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-smoke}
BENCH_BUILD=${BENCH_BUILD:-build-bench}
if [[ $mode == smoke ]]; then
  BENCH_BUILD=${TEST_BUILD:-build-test}   # smoke runs reuse the test build
else
  cmake -S . -B "$BENCH_BUILD" -DCMAKE_BUILD_TYPE=Release -DAH_TEST_BUILD=ON >/dev/null
  cmake --build "$BENCH_BUILD" -j"$(nproc)"
fi
# Beside the build that ran: smoke figures never overwrite a full run's.
export BENCH_OUT=${BENCH_OUT:-$PWD/$BENCH_BUILD/results}
mkdir -p "$BENCH_OUT"
status=0
for b in "$BENCH_BUILD"/tests/bench/bench_*; do
  [[ -x $b ]] || continue
  echo "==> $(basename "$b") ($mode)"
  if ! "$b" "--$mode"; then
    echo "benchmark $(basename "$b") failed"
    status=1
  fi
done
[[ $mode == full ]] && echo "results in $BENCH_OUT"
exit $status
