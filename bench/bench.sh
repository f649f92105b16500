#!/usr/bin/env bash
# bench/bench.sh -- the whole benchmark suite in one go (what `make bench` and `make bench-quick`
# run): notes the machine, then instruction counts (bench/instructions.sh), the single-server
# comparisons (bench/run.sh), the scaling runs (bench/scaling.sh), the 3-master cluster runs
# (bench/hotkey.sh), and finally the charts (bench/charts.sh) and the goals table
# (bench/report.sh: summary.md). Every script starts and tears down its own servers; all write
# into one results directory (file formats: bench/README.md).
#
# Builds nothing: `make bench` builds the module and the load generators first.
#
# Environment:
#   SG_BENCH_RESULTS   results directory (default bench/results; make bench-quick: build/bench-quick)
#   SG_BENCH_QUICK     1: the short pass of every script (still 3 rounds)
#   SG_BENCH_ROUNDS    rounds per script (default 3)
#   SG_BENCH_SKIP      scripts to leave out, e.g. "instructions scaling" (for a partial rerun)
#   and each script's own variables (see their headers).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
QUICK=${SG_BENCH_QUICK:-0}
SKIP=" ${SG_BENCH_SKIP:-} "
export SG_BENCH_RESULTS=$RESULTS SG_BENCH_QUICK=$QUICK
mkdir -p "$RESULTS"

version_part() { awk -v k="SG_VERSION_$1" '$1 == "#define" && $2 == k { print $3 }' "$ROOT/client/slotguard_version.h"; }
{
    echo "date=$(date -u +%Y-%m-%d)"
    echo "host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null | sed 's/  */ /g')"
    echo "cpus=$(nproc 2>/dev/null || echo '?')"
    echo "memory_gib=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo 2>/dev/null)"
    echo "kernel=$(uname -r)"
    echo "redis_version=$("${SG_REDIS_SERVER:-redis-server}" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
    echo "slotguard_version=$(version_part MAJOR).$(version_part MINOR).$(version_part PATCH)"
    echo "quick=$QUICK"
} >"$RESULTS/machine.txt"

started=$(date +%s)
step() { # name script [env...]
    local name=$1 script=$2 t0
    shift 2
    if [[ $SKIP == *" $name "* ]]; then echo "== $name: skipped (SG_BENCH_SKIP)"; return; fi
    echo
    echo "== $name ($script)"
    t0=$(date +%s)
    env "$@" "$ROOT/$script"
    echo "== $name took $(( $(date +%s) - t0 )) s"
}
if [[ $QUICK == 1 ]]; then step instructions bench/instructions.sh "SG_INSTR_COUNT=${SG_INSTR_COUNT:-2000}"
else step instructions bench/instructions.sh; fi
step commands bench/run.sh
step scaling bench/scaling.sh
step cluster bench/hotkey.sh
step charts bench/charts.sh
step report bench/report.sh
echo
echo "benchmark suite done in $(( $(date +%s) - started )) s; results in $RESULTS"
