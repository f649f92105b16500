#!/usr/bin/env bash
# Quick start, part 2: set up, build and run the whole test suite: unit tests of the cores,
# integration tests against real redis-server processes, both again with ASan+UBSan, 10 s of each
# libFuzzer harness and a one-minute soak.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The suites plain and under ASan+UBSan, then a short pass of every libFuzzer harness and a
# one-minute soak (make fuzz / make soak run them longer).
{ make test && make asan-test && make fuzz FUZZ_SECONDS=10 && make soak SOAK_SECONDS=60; } 2>&1 | tee "$log" || status=1
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# One closing line over every cmocka binary that ran.
passed=$(grep -c '^\[       OK \]' "$log" || true)
failed=$(grep -E '^\[  (FAILED|ERROR)   ?\] ' "$log" | grep -vc 'test(s)' || true)
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
