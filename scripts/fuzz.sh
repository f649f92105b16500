#!/bin/sh
# fuzz.sh [--merge] [seconds-per-harness [name...]] -- build the libFuzzer harnesses (make fuzz-build)
# and run each build/fuzz/fuzz_<name> (or only those named) for the given time (default 60 s) on a
# copy of its corpus,
# tests/fuzz/corpus/<name>/, in a temporary directory, so the committed corpus stays as it is.
# --merge adds the inputs that found new coverage back into the committed corpus (-merge=1).
#
# One line per harness (executions, exec/s, new corpus units, result) and a total line. Exits
# non-zero on any crash, leak, sanitizer report, timeout or out-of-memory; the input that caused it
# is kept in build/fuzz/artifacts/. Harnesses that need a server (fuzz_restore) start it themselves;
# SG_MODULE, SG_PRELOAD and SG_REDIS_SERVER pass through the environment.
set -u

merge=0
if [ "${1:-}" = "--merge" ]; then
    merge=1
    shift
fi
seconds=${1:-60}
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [--merge] [seconds-per-harness [name...]]" >&2
    exit 2
    ;;
esac
[ $# -gt 0 ] && shift
only=" $* "

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

# The Makefile includes tests/fuzz/fuzz.mk; name it explicitly should it not (yet).
if grep -q 'tests/fuzz/fuzz.mk' Makefile; then
    make --no-print-directory fuzz-build || exit 2
else
    make --no-print-directory -f Makefile -f tests/fuzz/fuzz.mk fuzz-build || exit 2
fi

# fuzz_restore runs from a directory of its own: give it absolute paths. By default its server
# loads the module's fuzzing build (ASan+UBSan with block counting; fuzz.mk) with cc's sanitizer
# runtimes preloaded, since redis-server itself is not instrumented.
if [ -z "${SG_MODULE:-}" ]; then
    SG_MODULE=$root/build/fuzz/slotguard-cov.so
    if [ -z "${SG_PRELOAD:-}" ]; then
        SG_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
    fi
    export SG_MODULE SG_PRELOAD
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sg-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT INT TERM
artifacts=$root/build/fuzz/artifacts
mkdir -p "$artifacts"

# Reports are recognized by their line starts ("==pid==ERROR: AddressSanitizer", "file:line:col:
# runtime error:"), not anywhere: libFuzzer prints the words it learned from comparisons, and the
# RESTORE harness compares server logs with those very words.
# Leaks are reported at the end of an input (libFuzzer's -detect_leaks), sanitizer reports stop the
# run; the caller's options come after ours and win.
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS

total_execs=0
failures=0
harnesses=0
for bin in build/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    if [ "$only" != "  " ]; then
        case $only in *" $name "*) ;; *) continue ;; esac
    fi
    harnesses=$((harnesses + 1))
    corpus=$work/corpus/$name
    mkdir -p "$corpus" "$work/run/$name"
    if [ -d "tests/fuzz/corpus/$name" ]; then
        cp -R "tests/fuzz/corpus/$name/." "$corpus/"
    fi
    set -- -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -artifact_prefix="$artifacts/$name-"
    if [ -f "tests/fuzz/$name.dict" ]; then
        set -- "$@" -dict="$root/tests/fuzz/$name.dict"
    fi
    log=$work/$name.log
    before=$(ls "$artifacts" | grep -c "^$name-" || true)
    (cd "$work/run/$name" && "$root/$bin" "$@" "$corpus") >"$log" 2>&1
    rc=$?
    after=$(ls "$artifacts" | grep -c "^$name-" || true)

    stat() { sed -n "s/^stat::$1: *\([0-9][0-9]*\).*/\1/p" "$log" | tail -n 1; }
    execs=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    added=$(stat new_units_added)
    execs=${execs:-0}
    total_execs=$((total_execs + execs))

    result=ok
    if grep -qE '^==[0-9]+== ?ERROR: libFuzzer: timeout' "$log"; then result=timeout
    elif grep -qE '^==[0-9]+== ?ERROR: libFuzzer: out-of-memory' "$log"; then result=out-of-memory
    elif grep -qE '^==[0-9]+== ?ERROR: LeakSanitizer' "$log"; then result=leak
    elif grep -qE '^==[0-9]+== ?ERROR: AddressSanitizer' "$log"; then result=asan-report
    elif grep -qE '^[^ ]+:[0-9]+:[0-9]+: runtime error:' "$log"; then result=ubsan-report
    elif grep -q '==fuzz== invariant broken' "$log"; then result=invariant-broken
    elif grep -qE '^==[0-9]+== ?ERROR: libFuzzer' "$log"; then result=crash
    elif [ "$rc" -ne 0 ]; then result="failed(exit $rc)"
    elif [ "$after" -ne "$before" ]; then result=artifact
    fi
    printf 'fuzz %-16s %12s executions %8s exec/s %6s new units  %s\n' "$name" "$execs" "${rate:-?}" \
        "${added:-0}" "$result"
    if [ "$result" != ok ]; then
        failures=$((failures + 1))
        cp "$log" "$artifacts/$name.log"
        grep -m 3 -E '==fuzz==|runtime error:|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' "$log" | sed 's/^/    /'
        grep -q -E '==fuzz==|runtime error:|ERROR: ' "$log" || tail -n 2 "$log" | sed 's/^/    /'
        echo "    log: build/fuzz/artifacts/$name.log; input: build/fuzz/artifacts/$name-*"
    elif [ "$merge" -eq 1 ]; then
        mkdir -p "tests/fuzz/corpus/$name"
        (cd "$work/run/$name" && "$root/$bin" -merge=1 -max_len=4096 "$root/tests/fuzz/corpus/$name" "$corpus") \
            >"$work/$name.merge.log" 2>&1 || echo "    merge into tests/fuzz/corpus/$name failed"
    fi
done

if [ "$harnesses" -eq 0 ]; then
    echo "fuzz: no harness in build/fuzz" >&2
    exit 2
fi
echo "fuzz: $total_execs executions in all, $failures crashes/leaks/sanitizer reports ($harnesses harnesses, ${seconds} s each)"
[ "$failures" -eq 0 ]
