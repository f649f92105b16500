#!/usr/bin/env bash
# bench/scaling.sh -- does a SlotGuard command cost the same whatever the size of what it works on?
# Server time per call (INFO commandstats usec / calls, CONFIG RESETSTAT before each measurement) of
#   - ENROLL, ENROLL.CANCEL and ENROLL.STATUS on trials of 1k to 1M users, next to SADD, SREM and
#     SISMEMBER on a native SET of the same ids (how much of any growth is the machine's caches
#     rather than the trial's structures); ENROLL + ENROLL.CANCEL of a new user go in pairs through
#     one pipe so the size stays the same, ENROLL.STATUS and SISMEMBER ask for random existing users
#     with redis-benchmark;
#   - LOCK.ACQUIRE refused (nil: the lock is held) with 0 to 10k clients queued on the lock in
#     LOCK.ACQUIRE ... WAIT (bench/waiters.c holds those connections);
# then the same enrollment commands in instructions (valgrind's callgrind, inclusive instructions of
# each command's function) on the smallest and the largest trial and set: time grows with the size
# on any machine because a larger structure misses the CPU caches more often (a native SET's
# SISMEMBER grows the most), while the work per call, which is what O(1) promises, does not.
# Every trial and set is built once (ids user:%012d, filled through redis-cli --pipe) and measured in
# every round; the waiters are queued afresh for each measurement. Rounds are interleaved (round 1
# of every size and every waiter count, then round 2, ...). One throwaway redis-server on 127.0.0.1
# (free port, temp dir, --maxclients 20000), always torn down with the waiters, also on Ctrl-C.
#
# Writes into the results directory scaling_enroll.csv (round,users,command,us_per_call),
# scaling_lock.csv (round,waiters,us_per_call) and goals_scaling.csv (bench-spec.md's goals format),
# and prints a markdown table of the medians. A missed goal is reported, never an exit failure; a
# broken measurement (a failed call, a wrong count) is.
#
# Builds nothing: run `make` and `make build/bench/waiters` first (or `make bench`, which does).
# Uses bash, redis-cli, redis-benchmark, awk, mkfifo and the waiters program. Raises its descriptor
# limit (`ulimit -n`) to 32768, or else to the hard limit, for the server and the waiters: the full
# pass needs 11,000 descriptors for its 10,000 waiters.
#
# Environment:
#   SG_BENCH_RESULTS   results directory (default bench/results), created if missing
#   SG_BENCH_QUICK=1   a short pass: trials of 1k, 10k and 100k users, 0, 100 and 1000 waiters,
#                      50000 calls per measurement
#   SG_BENCH_ROUNDS    rounds (default 3)
#   SG_SCALING_CALLS   calls per measurement (default 200000, quick 50000): ENROLL + ENROLL.CANCEL
#                      pairs and SADD + SREM pairs per pipe, requests per redis-benchmark run
#   SG_SCALING_INSTRUCTIONS  0: leave the callgrind phase out (default 1; needs valgrind)
#   SG_MODULE          module to load (default module/slotguard.so)
#   SG_WAITERS         the waiters program (default build/bench/waiters)
#   SG_REDIS_SERVER    redis-server binary (default: from PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
QUICK=${SG_BENCH_QUICK:-0}
ROUNDS=${SG_BENCH_ROUNDS:-3}
WAITERS=${SG_WAITERS:-$ROOT/build/bench/waiters}
INSTRUCTIONS=${SG_SCALING_INSTRUCTIONS:-1}
IR_CALLS=20480 # calls per command under callgrind (a whole number of 4 x 16 pipelines)
if [[ $QUICK == 1 ]]; then
    SIZES=(1000 10000 100000)
    WAITER_COUNTS=(0 100 1000)
    CALLS=${SG_SCALING_CALLS:-50000}
else
    SIZES=(1000 10000 100000 1000000)
    WAITER_COUNTS=(0 10 100 1000 10000)
    CALLS=${SG_SCALING_CALLS:-200000}
fi
CLIENTS=50          # redis-benchmark connections
PIPELINE=16         # redis-benchmark requests per pipeline
MAXCLIENTS=20000    # the server's --maxclients: room for 10,000 waiters and the rest
DESCRIPTORS=32768   # ulimit -n for the server and the waiters
LEASE_MS=600000     # the holder's lease and the waiters' WAIT: longer than any run
WAIT_TRIES=1200     # 50 ms apart: the longest any wait loop waits (60 s)
LOCK_KEY=scale:lock
ENROLL_COMMANDS=(ENROLL ENROLL.CANCEL ENROLL.STATUS SADD SREM SISMEMBER)
# shellcheck disable=SC2034 # read by common.sh's start_server
SERVER_WRAPPER=()
SERVER_ARGS=(--maxclients "$MAXCLIENTS") # room for the waiters
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make' (or run 'make bench')"
[[ -x $WAITERS ]] || die "$WAITERS not found: build it with 'make build/bench/waiters' (or run 'make bench')"
for tool in "$SERVER" redis-cli redis-benchmark awk mkfifo; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH"
done
for v in ROUNDS CALLS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
# redis-benchmark may send a few more requests than -n unless -n is a whole number of pipelines
# on every connection; the counts are checked exactly, so round CALLS up to one.
CALLS=$(( (CALLS + CLIENTS * PIPELINE - 1) / (CLIENTS * PIPELINE) * CLIENTS * PIPELINE ))
most_waiters=${WAITER_COUNTS[-1]}
if (( $(ulimit -n) < DESCRIPTORS )); then
    ulimit -n "$DESCRIPTORS" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # at least the hard limit
fi
(( $(ulimit -n) >= most_waiters + 1000 )) ||
    die "need $((most_waiters + 1000)) file descriptors for $most_waiters waiters, have $(ulimit -n): run as root or raise the hard limit (ulimit -Hn)"
mkdir -p "$RESULTS" || die "cannot create $RESULTS"

# ---- the waiters process and teardown ----------------------------------------------------------------
WAITERS_PID=
WAITERS_FD=

stop_waiters() {
    if [[ -n $WAITERS_FD ]]; then exec {WAITERS_FD}>&-; WAITERS_FD=; fi # end of file on its stdin
    if [[ -n $WAITERS_PID ]]; then
        kill -TERM "$WAITERS_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$WAITERS_PID" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$WAITERS_PID" 2>/dev/null || true
        wait "$WAITERS_PID" 2>/dev/null || true
        WAITERS_PID=
    fi
    rm -f "$WORK/waiters.in"
}

scaling_cleanup() {
    stop_waiters
    cleanup # common.sh: redis-benchmark, the server, the temp dir
}
trap scaling_cleanup EXIT

# `count` clients blocked in LOCK.ACQUIRE LOCK_KEY w<i> ... WAIT, the lock's waiters field checked.
start_waiters() { # count
    local count=$1 tries
    mkfifo "$WORK/waiters.in"
    "$WAITERS" -p "$PORT" -n "$count" -k "$LOCK_KEY" -t "$LEASE_MS" <"$WORK/waiters.in" \
        >"$WORK/waiters.out" 2>"$WORK/waiters.err" &
    WAITERS_PID=$!
    exec {WAITERS_FD}<>"$WORK/waiters.in" # read-write: never blocks; closing it is the end of file
    for tries in $(seq 1 "$WAIT_TRIES"); do
        grep -q "^ready $count\$" "$WORK/waiters.out" && break
        kill -0 "$WAITERS_PID" 2>/dev/null || die "waiters exited early: $(cat "$WORK/waiters.err")"
        sleep 0.05
    done
    grep -q "^ready $count\$" "$WORK/waiters.out" || die "waiters not ready after $tries tries: $(cat "$WORK/waiters.err")"
    wait_for_lock_waiters "$count"
}

wait_for_lock_waiters() { # count
    local seen
    for _ in $(seq 1 "$WAIT_TRIES"); do
        seen=$(lock_info_field waiters)
        [[ $seen == "$1" ]] && return 0
        sleep 0.05
    done
    die "$LOCK_KEY has '$seen' waiters, expected $1"
}

# ---- reading the server ------------------------------------------------------------------------------
info_field() { # section field
    cli info "$1" | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'
}
# the value after `field` in a flat field/value reply
reply_field() { awk -v f="$1" 'prev == f { print; exit } { prev = $0 }'; }
lock_info_field() { cli lock.info "$LOCK_KEY" | reply_field "$1"; }
enrolled_of() { cli slots.info "$1" | reply_field enrolled; }

# us/call of cmdstat_<name> since the last CONFIG RESETSTAT, after checking `expected` calls and no failure
us_per_call_checked() { # name expected what
    local calls usec failed
    calls=$(cmdstat "$1" calls)
    usec=$(cmdstat "$1" usec)
    failed=$(cmdstat "$1" failed_calls)
    [[ ${calls:-0} == "$2" ]] || die "$3: expected $2 $1 calls, saw '${calls:-0}'"
    [[ ${failed:-0} == 0 ]] || die "$3: $failed $1 calls failed"
    awk -v u="$usec" -v c="$calls" 'BEGIN { printf "%.4f", u / c }'
}

# ---- loading the server ------------------------------------------------------------------------------
# RESP written by awk into $WORK/pipe.resp; the program calls `resp(cmd, key, id)` for each command.
write_resp() { # awk-program [awk -v assignments...]
    local program=$1
    shift
    awk "$@" 'function resp(cmd, key, id) {
            printf "*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(cmd), cmd, length(key), key, length(id), id
        }
        BEGIN { '"$program"' }' >"$WORK/pipe.resp" || die "awk failed writing commands"
}

# $WORK/pipe.resp through redis-cli --pipe, checked for errors
send_resp() { # what
    local out
    out=$(cli --pipe <"$WORK/pipe.resp" 2>&1) || die "$1 failed: $out"
    printf '%s\n' "$out" | grep -q 'errors: 0,' || die "$1 reported errors: $out"
    rm -f "$WORK/pipe.resp"
}

# `cmd key user:%012d` for 0 <= i < n
fill() { # command key n
    write_resp 'for (i = 0; i < n; i++) resp(cmd, key, sprintf("user:%012d", i))' -v cmd="$1" -v key="$2" -v n="$3"
    send_resp "filling $2"
}

# `first key new:%012d` then `second key new:%012d` for 0 <= i < n: a new member in and out again.
# Written before the measurement starts, so that awk does not compete with the server for the CPU.
write_pairs() { # first second key n
    write_resp 'for (i = 0; i < n; i++) { id = sprintf("new:%012d", i); resp(first, key, id); resp(second, key, id) }' \
        -v first="$1" -v second="$2" -v key="$3" -v n="$4"
}

# redis-benchmark in the background + wait, so a signal runs the cleanup trap at once.
benchmark() { # what args...
    local what=$1
    shift
    redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$CALLS" -P "$PIPELINE" -q "$@" \
        >"$WORK/benchmark.out" 2>"$WORK/benchmark.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || die "redis-benchmark failed for $what: $(tail -3 "$WORK/benchmark.err")"
    BENCH_PID=
}

trial_key() { echo "scale:trial:$1"; }
set_key() { echo "scale:set:$1"; }

# ---- one measurement each ----------------------------------------------------------------------------
declare -A US # US[command,size,round], US[LOCK.ACQUIRE,waiters,round]

note() { printf '  round %d  %-15s %8s %-8s %9s us/call\n' "$@"; }

measure_trial() { # users round
    local users=$1 round=$2 key enrolled0 withdrawn0 v
    key=$(trial_key "$users")
    enrolled0=$(info_field slotguard slotguard_enroll_enrolled)
    withdrawn0=$(info_field slotguard slotguard_cancel_withdrawn)
    write_pairs ENROLL ENROLL.CANCEL "$key" "$CALLS"
    cli config resetstat >/dev/null
    send_resp "ENROLL + ENROLL.CANCEL pairs on $key"
    US[ENROLL,$users,$round]=$(us_per_call_checked enroll "$CALLS" "ENROLL on $users users")
    US[ENROLL.CANCEL,$users,$round]=$(us_per_call_checked enroll.cancel "$CALLS" "ENROLL.CANCEL on $users users")
    v=$(info_field slotguard slotguard_enroll_enrolled)
    (( v - enrolled0 == CALLS )) || die "ENROLL on $users users: $((v - enrolled0)) of $CALLS new users enrolled"
    v=$(info_field slotguard slotguard_cancel_withdrawn)
    (( v - withdrawn0 == CALLS )) || die "ENROLL.CANCEL on $users users: $((v - withdrawn0)) of $CALLS withdrawn"
    v=$(enrolled_of "$key")
    [[ $v == "$users" ]] || die "$key holds $v users after ENROLL + ENROLL.CANCEL, expected $users"
    note "$round" ENROLL "$users" users "${US[ENROLL,$users,$round]}"
    note "$round" ENROLL.CANCEL "$users" users "${US[ENROLL.CANCEL,$users,$round]}"

    cli config resetstat >/dev/null
    benchmark "ENROLL.STATUS on $users users" -r "$users" ENROLL.STATUS "$key" "user:__rand_int__"
    US[ENROLL.STATUS,$users,$round]=$(us_per_call_checked enroll.status "$CALLS" "ENROLL.STATUS on $users users")
    note "$round" ENROLL.STATUS "$users" users "${US[ENROLL.STATUS,$users,$round]}"
}

measure_set() { # users round
    local users=$1 round=$2 key v
    key=$(set_key "$users")
    write_pairs SADD SREM "$key" "$CALLS"
    cli config resetstat >/dev/null
    send_resp "SADD + SREM pairs on $key"
    US[SADD,$users,$round]=$(us_per_call_checked sadd "$CALLS" "SADD on $users members")
    US[SREM,$users,$round]=$(us_per_call_checked srem "$CALLS" "SREM on $users members")
    v=$(cli scard "$key")
    [[ $v == "$users" ]] || die "$key holds $v members after SADD + SREM, expected $users"
    note "$round" SADD "$users" users "${US[SADD,$users,$round]}"
    note "$round" SREM "$users" users "${US[SREM,$users,$round]}"

    cli config resetstat >/dev/null
    benchmark "SISMEMBER on $users members" -r "$users" SISMEMBER "$key" "user:__rand_int__"
    US[SISMEMBER,$users,$round]=$(us_per_call_checked sismember "$CALLS" "SISMEMBER on $users members")
    note "$round" SISMEMBER "$users" users "${US[SISMEMBER,$users,$round]}"
}

measure_lock() { # waiters round
    local waiters=$1 round=$2 token busy0 v
    cli del "$LOCK_KEY" >/dev/null
    token=$(cli lock.acquire "$LOCK_KEY" holder "$LEASE_MS")
    [[ $token =~ ^[0-9]+$ ]] || die "LOCK.ACQUIRE $LOCK_KEY holder: expected a token, got '$token'"
    if (( waiters > 0 )); then start_waiters "$waiters"; else wait_for_lock_waiters 0; fi
    busy0=$(info_field slotguard slotguard_lock_busy)
    cli config resetstat >/dev/null
    benchmark "LOCK.ACQUIRE with $waiters waiters" LOCK.ACQUIRE "$LOCK_KEY" intruder "$LEASE_MS"
    US[LOCK.ACQUIRE,$waiters,$round]=$(us_per_call_checked lock.acquire "$CALLS" "LOCK.ACQUIRE with $waiters waiters")
    v=$(info_field slotguard slotguard_lock_busy)
    (( v - busy0 == CALLS )) || die "LOCK.ACQUIRE with $waiters waiters: $((v - busy0)) of $CALLS calls refused"
    [[ $(lock_info_field owner) == holder ]] || die "$LOCK_KEY is no longer held by holder"
    wait_for_lock_waiters "$waiters" # nobody left the queue during the run
    note "$round" LOCK.ACQUIRE "$waiters" waiters "${US[LOCK.ACQUIRE,$waiters,$round]}"
    stop_waiters
    for _ in $(seq 1 "$WAIT_TRIES"); do
        [[ $(info_field slotguard slotguard_lock_waiting_now) == 0 ]] && break
        sleep 0.05
    done
    v=$(info_field slotguard slotguard_lock_waiting_now)
    [[ $v == 0 ]] || die "$v waiters still queued after the waiters process ended"
}

# ---- go ----------------------------------------------------------------------------------------------
start_server
v=$(cli config get maxclients | tail -1)
(( v >= most_waiters + CLIENTS + 10 )) || die "redis-server accepts only $v clients (need $((most_waiters + CLIENTS + 10)))"

echo "SlotGuard scaling: $("$SERVER" --version | awk '{ print $3 }' | sed 's/^v=//'), 127.0.0.1:$PORT," \
     "$(nproc 2>/dev/null || echo '?') CPUs, $ROUNDS rounds, $CALLS calls per measurement"

# redis-benchmark's __rand_int__ must name the ids the fill wrote (user:%012d).
benchmark "the id format check" -n 200 -r 1000 SADD scale:probe "user:__rand_int__"
bad=$(cli smembers scale:probe | grep -c -v -E '^user:0{9}[0-9]{3}$' || true)
[[ $bad == 0 ]] || die "redis-benchmark's __rand_int__ does not give user:%012d ids ($(cli srandmember scale:probe))"
cli del scale:probe >/dev/null

echo "building trials and sets of ${SIZES[*]} users"
for users in "${SIZES[@]}"; do
    [[ $(cli slots.init "$(trial_key "$users")" 9223372036854775807) == 1 ]] || die "SLOTS.INIT $(trial_key "$users") failed"
    fill ENROLL "$(trial_key "$users")" "$users"
    fill SADD "$(set_key "$users")" "$users"
    v=$(enrolled_of "$(trial_key "$users")")
    [[ $v == "$users" ]] || die "$(trial_key "$users") holds $v users, expected $users"
    v=$(cli scard "$(set_key "$users")")
    [[ $v == "$users" ]] || die "$(set_key "$users") holds $v members, expected $users"
    last=$(printf 'user:%012d' $((users - 1)))
    [[ $(cli enroll.status "$(trial_key "$users")" "$last" | head -1) == enrolled ]] || die "$last is not enrolled"
done

echo "measuring: ${SIZES[*]} users; LOCK.ACQUIRE refused with ${WAITER_COUNTS[*]} waiters"
for round in $(seq 1 "$ROUNDS"); do
    for users in "${SIZES[@]}"; do
        measure_trial "$users" "$round"
        measure_set "$users" "$round"
    done
    for waiters in "${WAITER_COUNTS[@]}"; do measure_lock "$waiters" "$round"; done
done
cli flushall >/dev/null
cli shutdown nosave >/dev/null 2>&1 || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

# ---- instructions on the smallest and the largest size -------------------------------------------------
declare -A IR # IR[command,size]: inclusive instructions per call of the command's function
declare -A FUNCTION_OF=([ENROLL]=enroll_command [ENROLL.CANCEL]=enroll_cancel_command [ENROLL.STATUS]=enroll_status_command
    [SADD]=saddCommand [SREM]=sremCommand [SISMEMBER]=sismemberCommand)

# Dump the counts since the last zeroing; print "function instructions/call" for every command's function.
dump_functions() {
    local file
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    file=$(ls -t "$WORK"/callgrind.out.* 2>/dev/null | grep -v '\.out\.[0-9]*$' | head -1 || true)
    [[ -n $file ]] || die "callgrind wrote no dump"
    callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
        awk -v n="$IR_CALLS" '{ for (c in want) if (index($0, ":" c " ") || $NF == c) { gsub(",", "", $1); print c, $1 / n } }
            BEGIN { split("enroll_command enroll_cancel_command enroll_status_command saddCommand sremCommand sismemberCommand", w, " ")
                    for (i in w) want[w[i]] = 1 }'
    rm -f "$file"
}
record_instructions() { # size
    local function count
    while read -r function count; do
        for command in "${!FUNCTION_OF[@]}"; do
            if [[ ${FUNCTION_OF[$command]} == "$function" ]]; then IR[$command,$1]=$(printf '%.0f' "$count"); fi
        done
    done
}

if [[ $INSTRUCTIONS == 1 ]]; then
    for tool in valgrind callgrind_control callgrind_annotate; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install valgrind), or set SG_SCALING_INSTRUCTIONS=0"
    done
    # shellcheck disable=SC2034 # read by common.sh's start_server
    # Collection is switched on inside the six command functions only. With the whole of call()
    # collected, ENROLL's inclusive count on 1M users came out ~230 instructions higher (1,844
    # against 1,617 for the same run collected inside enroll_command alone); even so, ENROLL at 1M
    # counts 1.00x to 1.09x its 1k figure depending on what the server did before (a fresh server
    # holding only the 1M trial gives 1.00x), which is not pinned down yet.
    SERVER_WRAPPER=(valgrind --tool=callgrind "--callgrind-out-file=$WORK/callgrind.out.%p")
    for function in "${FUNCTION_OF[@]}"; do SERVER_WRAPPER+=("--toggle-collect=$function"); done
    START_TRIES=600 # valgrind starts slowly: 30 s
    start_server
    echo "instructions (callgrind, $IR_CALLS calls per command) on ${SIZES[0]} and ${SIZES[-1]} users"
    for users in "${SIZES[0]}" "${SIZES[-1]}"; do
        [[ $(cli slots.init "$(trial_key "$users")" 9223372036854775807) == 1 ]] || die "SLOTS.INIT failed under callgrind"
        fill ENROLL "$(trial_key "$users")" "$users"
        fill SADD "$(set_key "$users")" "$users"
        # The pairs run twice, counted the second time: the first run's allocations (new size
        # classes, the allocator's purging after the fill) are not the command's own work.
        for pass in warm counted; do
            write_pairs ENROLL ENROLL.CANCEL "$(trial_key "$users")" "$IR_CALLS"
            callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
            send_resp "ENROLL + ENROLL.CANCEL pairs under callgrind"
            if [[ $pass == counted ]]; then record_instructions "$users" < <(dump_functions); fi
        done
        for pass in warm counted; do
            write_pairs SADD SREM "$(set_key "$users")" "$IR_CALLS"
            callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
            send_resp "SADD + SREM pairs under callgrind"
            if [[ $pass == counted ]]; then record_instructions "$users" < <(dump_functions); fi
        done
        callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
        redis-benchmark -h 127.0.0.1 -p "$PORT" -c 4 -n "$IR_CALLS" -P "$PIPELINE" -r "$users" -q \
            ENROLL.STATUS "$(trial_key "$users")" "user:__rand_int__" >/dev/null 2>&1 || die "ENROLL.STATUS under callgrind failed"
        record_instructions "$users" < <(dump_functions)
        callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
        redis-benchmark -h 127.0.0.1 -p "$PORT" -c 4 -n "$IR_CALLS" -P "$PIPELINE" -r "$users" -q \
            SISMEMBER "$(set_key "$users")" "user:__rand_int__" >/dev/null 2>&1 || die "SISMEMBER under callgrind failed"
        record_instructions "$users" < <(dump_functions)
        [[ $(enrolled_of "$(trial_key "$users")") == "$users" ]] || die "the trial of $users users changed under callgrind"
        for command in "${ENROLL_COMMANDS[@]}"; do
            [[ -n ${IR[$command,$users]:-} ]] || die "no instruction count of $command (${FUNCTION_OF[$command]}) on $users users"
            printf '  %-15s %8s users %8s instructions/call\n' "$command" "$users" "${IR[$command,$users]}"
        done
        cli flushall >/dev/null
    done
    cli shutdown nosave >/dev/null 2>&1 || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
fi

# ---- CSVs --------------------------------------------------------------------------------------------
{
    echo "round,users,command,us_per_call"
    for round in $(seq 1 "$ROUNDS"); do
        for users in "${SIZES[@]}"; do
            for command in "${ENROLL_COMMANDS[@]}"; do echo "$round,$users,$command,${US[$command,$users,$round]}"; done
        done
    done
} >"$RESULTS/scaling_enroll.csv"
{
    echo "round,waiters,us_per_call"
    for round in $(seq 1 "$ROUNDS"); do
        for waiters in "${WAITER_COUNTS[@]}"; do echo "$round,$waiters,${US[LOCK.ACQUIRE,$waiters,$round]}"; done
    done
} >"$RESULTS/scaling_lock.csv"

# "median min max" of the numbers given (the median of an even count: the mean of the middle two)
spread() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}
# the per-round ratios of US[command,big,round] / US[command,small,round]
round_ratios() { # command big small
    local round
    for round in $(seq 1 "$ROUNDS"); do
        awk -v a="${US[$1,$2,$round]}" -v b="${US[$1,$3,$round]}" 'BEGIN { printf "%.6f\n", (b > 0) ? a / b : 0 }'
    done
}
round_values() { # command size
    local round
    for round in $(seq 1 "$ROUNDS"); do echo "${US[$1,$2,$round]}"; done
}
short() { # 1000 -> 1k, 1000000 -> 1M
    awk -v n="$1" 'BEGIN { if (n >= 1000000 && n % 1000000 == 0) print n / 1000000 "M"
                           else if (n >= 1000 && n % 1000 == 0) print n / 1000 "k"; else print n }'
}
judge() { # median target -> met/missed/-
    [[ -z $2 ]] && { echo -; return; }
    awk -v x="$1" -v t="$2" 'BEGIN { split(t, p, " "); ok = (p[1] == "<=") ? (x <= p[2] + 0) : (x >= p[2] + 0)
                                      print ok ? "met" : "missed" }'
}

small=${SIZES[0]}
big=${SIZES[-1]}
declare -a GOALS # "comparison|target|median|min|max|result|instructions"
# the per-round ratios of one command's growth to another's (small to big)
growth_ratios() { # command reference big small
    local round
    for round in $(seq 1 "$ROUNDS"); do
        awk -v a="${US[$1,$3,$round]}" -v b="${US[$1,$4,$round]}" -v c="${US[$2,$3,$round]}" -v d="${US[$2,$4,$round]}" \
            'BEGIN { printf "%.6f\n", (b > 0 && c > 0) ? (a / b) / (c / d) : 0 }'
    done
}
instruction_growth() { # command -> IR ratio big/small, or empty
    [[ -n ${IR[$1,$big]:-} && -n ${IR[$1,$small]:-} ]] || return 0
    awk -v a="${IR[$1,$big]}" -v b="${IR[$1,$small]}" 'BEGIN { printf "%.2f", a / b }'
}
declare -A REFERENCE=([ENROLL]=SADD [ENROLL.CANCEL]=SREM [ENROLL.STATUS]=SISMEMBER)
sizes_text="at $(short "$big") / at $(short "$small") users"
for command in "${ENROLL_COMMANDS[@]}"; do
    # The time's growth, for context (the machine's caches are in it); its instruction ratio: the work
    # per call, which O(1) promises to keep flat.
    # shellcheck disable=SC2046
    read -r med lo hi <<<"$(spread $(round_ratios "$command" "$big" "$small"))"
    GOALS+=("$command µs/call $sizes_text||$med|$lo|$hi|-|$(instruction_growth "$command")")
done
for command in ENROLL ENROLL.CANCEL ENROLL.STATUS; do
    ir=$(instruction_growth "$command")
    [[ -z $ir ]] || GOALS+=("$command instructions per call $sizes_text|<= 1.1|$ir|$ir|$ir|$(judge "$ir" '<= 1.1')|$ir")
    # shellcheck disable=SC2046
    read -r med lo hi <<<"$(spread $(growth_ratios "$command" "${REFERENCE[$command]}" "$big" "$small"))"
    GOALS+=("$command µs/call growth / ${REFERENCE[$command]}'s ($sizes_text)|<= 1|$med|$lo|$hi|$(judge "$med" '<= 1')|")
done
none=${WAITER_COUNTS[0]}
most=${WAITER_COUNTS[-1]}
# shellcheck disable=SC2046
read -r med lo hi <<<"$(spread $(round_ratios LOCK.ACQUIRE "$most" "$none"))"
GOALS+=("LOCK.ACQUIRE µs/call with $(short "$most") waiters / with none|<= 1.25|$med|$lo|$hi|$(judge "$med" '<= 1.25')|")
# For context: from the fewest waiters to the most (the queue's length alone, without the step from
# none to some).
fewest=${WAITER_COUNTS[1]}
# shellcheck disable=SC2046
read -r med lo hi <<<"$(spread $(round_ratios LOCK.ACQUIRE "$most" "$fewest"))"
GOALS+=("LOCK.ACQUIRE µs/call with $(short "$most") waiters / with $(short "$fewest")||$med|$lo|$hi|-|")
{
    echo "section,comparison,target,median,min,max,instructions,result"
    for g in "${GOALS[@]}"; do
        IFS='|' read -r comparison target med lo hi result ir <<<"$g"
        echo "scaling,$comparison,$target,$med,$lo,$hi,$ir,$result"
    done
} >"$RESULTS/goals_scaling.csv"

# ---- report ------------------------------------------------------------------------------------------
echo
echo "Server µs/call (INFO commandstats), median of $ROUNDS rounds, $CALLS calls per measurement; ENROLL +"
echo "ENROLL.CANCEL and SADD + SREM of a new id in pairs through one pipe (the size stays the same),"
echo "ENROLL.STATUS and SISMEMBER of random existing ids by redis-benchmark -c $CLIENTS -P $PIPELINE:"
echo
header="| command |"
rule="|---|"
for users in "${SIZES[@]}"; do header+=" $(short "$users") users |"; rule+="---:|"; done
echo "$header $(short "$big") / $(short "$small") (min–max) |"
echo "$rule---:|"
for command in "${ENROLL_COMMANDS[@]}"; do
    line="| \`$command\` |"
    for users in "${SIZES[@]}"; do
        # shellcheck disable=SC2046
        read -r med _ _ <<<"$(spread $(round_values "$command" "$users"))"
        line+=" $med |"
    done
    # shellcheck disable=SC2046
    read -r med lo hi <<<"$(spread $(round_ratios "$command" "$big" "$small"))"
    echo "$line ${med}× ($lo–$hi) |"
done
echo
echo "\`LOCK.ACQUIRE $LOCK_KEY intruder $LEASE_MS\` refused (held by another owner), redis-benchmark -c $CLIENTS -P $PIPELINE,"
echo "with clients queued in \`LOCK.ACQUIRE ... WAIT\`:"
echo
echo "| waiters | median µs/call | min | max | / with none |"
echo "|---:|---:|---:|---:|---:|"
for waiters in "${WAITER_COUNTS[@]}"; do
    # shellcheck disable=SC2046
    read -r med lo hi <<<"$(spread $(round_values LOCK.ACQUIRE "$waiters"))"
    # shellcheck disable=SC2046
    read -r rmed _ _ <<<"$(spread $(round_ratios LOCK.ACQUIRE "$waiters" "$none"))"
    echo "| $waiters | $med | $lo | $hi | ${rmed}× |"
done
echo
echo "| goal | target | median | min–max | instructions | result |"
echo "|---|---:|---:|---:|---:|---|"
for g in "${GOALS[@]}"; do
    IFS='|' read -r comparison target med lo hi result ir <<<"$g"
    echo "| $comparison | ${target:-–} | ${med}× | $lo–$hi | ${ir:-–} | $result |"
done
echo
echo "wrote $RESULTS/scaling_enroll.csv, scaling_lock.csv, goals_scaling.csv (${SECONDS} s)"
