#!/bin/sh
# valgrind-test.sh -- run integration binaries with every redis-server under memcheck, then count
# what memcheck found in every server's log.
#
#   scripts/valgrind-test.sh                      the default set (below)
#   scripts/valgrind-test.sh test_idemp_basics …  the binaries named (build/integration/<name>)
#   SG_VALGRIND_TESTS="…" scripts/valgrind-test.sh   the same, from the environment
#   SG_VALGRIND_TESTS=all scripts/valgrind-test.sh   every integration binary (the default too)
#
# Per binary it prints whether the tests passed, how many servers ran (valgrind logs: servers and
# the children they forked), how many of them were killed (SIGKILL by a test or the harness: no
# leak report), the memcheck errors and the bytes definitely lost; then
#   valgrind: N servers, E errors, L bytes definitely lost
# It exits non-zero when E > 0, L > 0 or a test failed. Errors exclude the leak records (those are
# L); a killed server's errors are the ones its log printed before it died.
#
# Environment:
#   SG_TIME_SCALE        multiplies the harness's own waits (default 20; see harness.h)
#   SG_VALGRIND_OUT      where the logs go, one directory per binary (default build/valgrind/logs);
#                        each holds vg.<pid>.log per process and the binary's output in test.log
#   SG_VALGRIND_NO_BUILD set by `make valgrind-test`, which has built everything already
#   SG_FUZZ_MUTATIONS    passed on; the default here is 200 for test_restore_fuzz
set -u
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

# Every binary runs by default; SG_VALGRIND_TESTS=all is the same.
excluded="
"

all=$(ls tests/integration/test_*.c | sed 's|tests/integration/\(.*\)\.c|\1|')
if [ $# -gt 0 ]; then
    tests="$*"
elif [ -n "${SG_VALGRIND_TESTS:-}" ] && [ "$SG_VALGRIND_TESTS" != all ]; then
    tests=$SG_VALGRIND_TESTS
elif [ "${SG_VALGRIND_TESTS:-}" = all ]; then
    tests=$all
else
    tests=$(for t in $all; do case " $(echo $excluded) " in *" $t "*) ;; *) echo "$t" ;; esac; done)
fi

module=build/valgrind/slotguard.so
if [ -z "${SG_VALGRIND_NO_BUILD:-}" ]; then
    bins=$(for t in $tests; do printf 'build/integration/%s ' "$t"; done)
    # -f twice works whether or not the Makefile includes valgrind.mk (it has an include guard).
    ${MAKE:-make} --no-print-directory -f Makefile -f tests/valgrind.mk "$module" $bins examples || exit 2
fi

out=${SG_VALGRIND_OUT:-build/valgrind/logs}
case $out in /*) ;; *) out=$root/$out ;; esac
mkdir -p "$out" || exit 2

# One log: "<errors> <definitely lost bytes> <1 when killed>". A log with an ERROR SUMMARY
# (the process exited) counts its errors minus its definite-leak records, plus one for a crash
# (killed by a signal memcheck saw); one without (SIGKILL) counts the error headlines it printed:
# an unindented line followed by a stack line.
scan_log() {
    awk '
        function headline(prev) { return prev ~ /^==[0-9]+== [^ ]/ && prev !~ /are definitely lost in loss record/ }
        /^==[0-9]+==    (at|by) 0x/ && headline(prev) { printed++ }
        /are definitely lost in loss record/ { leak_records++ }
        /Process terminating with default action of signal/ { crashed++ }
        /^==[0-9]+== ERROR SUMMARY: / { summary = 1; total = $4 }
        /^==[0-9]+==    definitely lost: / { gsub(/,/, "", $4); lost = $4 }
        { prev = $0 }
        END {
            if (summary) print total - leak_records + crashed, lost + 0, 0
            else print printed + 0, 0, 1
        }' "$1"
}

start=$(date +%s)
servers=0
errors=0
lost=0
failed=""
for t in $tests; do
    bin=build/integration/$t
    if [ ! -x "$bin" ]; then
        echo "valgrind-test: no $bin" >&2
        exit 2
    fi
    dir=$out/$t
    rm -rf "$dir"
    mkdir -p "$dir"
    t0=$(date +%s)
    SG_REDIS_SERVER=$root/scripts/valgrind-server.sh SG_VALGRIND_LOG_DIR=$dir \
        SG_MODULE=$root/$module SG_EXAMPLES=$root/examples SG_SOURCE_DIR=$root \
        SG_TIME_SCALE=${SG_TIME_SCALE:-20} SG_FUZZ_MUTATIONS=${SG_FUZZ_MUTATIONS:-200} \
        "$bin" >"$dir/test.log" 2>&1
    rc=$?
    t_servers=0
    t_killed=0
    t_errors=0
    t_lost=0
    for log in "$dir"/vg.*.log; do
        [ -e "$log" ] || continue
        set -- $(scan_log "$log")
        t_servers=$((t_servers + 1))
        t_errors=$((t_errors + $1))
        t_lost=$((t_lost + $2))
        t_killed=$((t_killed + $3))
        if [ "$1" -gt 0 ] || [ "$2" -gt 0 ]; then echo "   $log: $1 errors, $2 bytes definitely lost"; fi
    done
    if [ $rc -eq 0 ]; then result=passed; else result="FAILED (exit $rc)"; failed="$failed $t"; fi
    echo "== $t: $result in $(($(date +%s) - t0)) s; $t_servers servers ($t_killed killed), $t_errors errors, $t_lost bytes definitely lost"
    if [ $rc -ne 0 ]; then grep -v -e '^\[ RUN      \]' -e '^\[       OK \]' "$dir/test.log" | head -20 | sed 's/^/   /'; fi
    servers=$((servers + t_servers))
    errors=$((errors + t_errors))
    lost=$((lost + t_lost))
done

echo "logs in $out; $(($(date +%s) - start)) s"
if [ -n "$failed" ]; then echo "failed:$failed"; fi
echo "valgrind: $servers servers, $errors errors, $lost bytes definitely lost"
[ "$errors" -eq 0 ] && [ "$lost" -eq 0 ] && [ -z "$failed" ]
