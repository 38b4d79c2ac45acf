#!/usr/bin/env bash
# Builds agenthost with sanitizers and test features, runs the unit and
# integration tests (ctest), the fuzzers for a bounded time, and the
# benchmarks in smoke mode. `scripts/test.sh fuzz` runs only the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_BUILD=${TEST_BUILD:-build-test}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-$(nproc)}
what=${1:-all}
start=$(date +%s)

step() { printf '\n==> %s (%ds)\n' "$*" $(( $(date +%s) - start )); }

if [[ $what == all ]]; then
  step "build (ASan+UBSan, test features)"
  cmake -S . -B "$TEST_BUILD" -DCMAKE_BUILD_TYPE=Debug -DAH_SANITIZE=ON -DAH_TEST_BUILD=ON >/dev/null
  cmake --build "$TEST_BUILD" -j"$JOBS"
  step "unit and integration tests"
  ctest --test-dir "$TEST_BUILD" --output-on-failure -j"$JOBS" --timeout 600
fi

if [[ $what == all || $what == fuzz ]]; then
  step "fuzzers (${FUZZ_SECONDS}s each)"
  cmake -S . -B "$FUZZ_BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DAH_FUZZ=ON >/dev/null
  cmake --build "$FUZZ_BUILD" -j"$JOBS" --target fuzzers
  mkdir -p "$FUZZ_BUILD/artifacts"
  for f in "$FUZZ_BUILD"/tests/fuzz_*; do
    [[ -x $f ]] || continue
    name=$(basename "$f")
    work=$(mktemp -d)
    seeds="tests/fuzz/corpus/${name#fuzz_}"
    [[ -d $seeds ]] && cp -r "$seeds"/. "$work"/
    log="$FUZZ_BUILD/artifacts/$name.log"
    dict=()   # the language's tokens, where a target has them (tests/fuzz/<name>.dict)
    [[ -f tests/fuzz/${name#fuzz_}.dict ]] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
    if ! "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
         -artifact_prefix="$FUZZ_BUILD/artifacts/$name-" "$work" >"$log" 2>&1; then
      tail -40 "$log"
      echo "fuzzer $name found a failure; the input is in $FUZZ_BUILD/artifacts/"
      exit 1
    fi
    echo "$name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)"
    rm -rf "$work"
  done
fi

if [[ $what == all && -x scripts/bench.sh ]]; then
  step "benchmarks (smoke)"
  scripts/bench.sh smoke
fi
step "done"
