#!/usr/bin/env bash
# bench/run.sh -- SlotGuard benchmark: ENROLL against a plain SADD and against the Lua script it
# replaces (EVALSHA of SISMEMBER + GET + DECR + SADD), LOCK.ACQUIRE against SET NX PX and
# LOCK.RELEASE against the usual release script, SHARDED.DECR over 4 co-located keys against DECRBY,
# RATE.THROTTLE against a token-bucket script and SET PX, RATE.WINDOW against INCRBY + EXPIRE, then
# memory per member of a trial against a native
# SET, then contended hand-off of one lock: FIFO waiting (LOCK.ACQUIRE ... WAIT) against a SET NX PX
# polling loop (bench/lock_handoff.c, a C load generator: redis-benchmark cannot pair a release with
# the acquire it follows). One throwaway redis-server on 127.0.0.1 (free port, temp dir), always torn down.
#
# Builds nothing: run `make` and `make build/bench/lock_handoff` first (or `make bench`, which does).
# Uses bash, redis-cli, redis-benchmark, awk and the load generator. Reports PASS/MISS against the goals but never fails on a miss.
#
# Environment:
#   SG_BENCH_N         requests per redis-benchmark run (default 2000000)
#   SG_BENCH_CLIENTS   parallel connections (default 50)
#   SG_BENCH_PIPELINE  requests per pipeline (default 16)
#   SG_BENCH_KEYSPACE  range of __rand_int__, i.e. distinct user ids (default 100000000)
#   SG_BENCH_WINDOW_KEYSPACE  distinct window keys of the RATE.WINDOW runs (default 100000)
#   SG_BENCH_MEMBERS   members for the memory comparison (default 200000)
#   SG_BENCH_RELEASES  lock releases per release measurement (default 200000)
#   SG_BENCH_HANDOFF_SECONDS  length of each hand-off run (default 3)
#   SG_BENCH_HANDOFF_THREADS  threads contending for the lock (default 16)
#   SG_MODULE          module to load (default module/slotguard.so)
#   SG_HANDOFF         the load generator (default build/bench/lock_handoff)
#   SG_REDIS_SERVER    redis-server binary (default: from PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
N=${SG_BENCH_N:-2000000}
CLIENTS=${SG_BENCH_CLIENTS:-50}
PIPELINE=${SG_BENCH_PIPELINE:-16}
KEYSPACE=${SG_BENCH_KEYSPACE:-100000000}
WINDOW_KEYSPACE=${SG_BENCH_WINDOW_KEYSPACE:-100000}
MEMBERS=${SG_BENCH_MEMBERS:-200000}
RELEASES=${SG_BENCH_RELEASES:-200000}
HANDOFF_SECONDS=${SG_BENCH_HANDOFF_SECONDS:-3}
HANDOFF_THREADS=${SG_BENCH_HANDOFF_THREADS:-16}
HANDOFF=${SG_HANDOFF:-$ROOT/build/bench/lock_handoff}
SERVER_WRAPPER=()
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make' (or run 'make bench')"
[[ -x $HANDOFF ]] || die "$HANDOFF not found: build it with 'make build/bench/lock_handoff' (or run 'make bench')"
for tool in "$SERVER" redis-cli redis-benchmark awk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH"
done
for v in N CLIENTS PIPELINE KEYSPACE WINDOW_KEYSPACE MEMBERS RELEASES HANDOFF_SECONDS HANDOFF_THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

# ---- one measured run ----------------------------------------------------------------------------------
declare -A RPS CALLS USEC

run_one() { # kind round
    local kind=$1 round=$2 csv rps
    prepare "$kind"
    cli config resetstat >/dev/null
    # In the background + wait, so a signal runs the cleanup trap at once instead of after the run.
    # shellcheck disable=SC2046
    redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$N" -P "$PIPELINE" -r "$(keyspace_of "$kind")" --csv \
        $(command_of "$kind") >"$WORK/benchmark.csv" 2>"$WORK/benchmark.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || die "redis-benchmark failed for $kind: $(tail -3 "$WORK/benchmark.err")"
    BENCH_PID=
    csv=$(cat "$WORK/benchmark.csv")
    rps=$(printf '%s\n' "$csv" | tr -d '\r"' | awk -F, 'NR > 1 && $2 ~ /^[0-9.]+$/ { print $2; exit }')
    [[ -n $rps ]] || die "could not read requests/s from redis-benchmark for $kind: $csv"
    RPS[$kind,$round]=$rps
    CALLS[$kind,$round]=$(cmdstat "$(stat_of "$kind")" calls)
    USEC[$kind,$round]=$(cmdstat "$(stat_of "$kind")" usec)
    [[ -n ${CALLS[$kind,$round]} && ${CALLS[$kind,$round]} -gt 0 ]] || die "no cmdstat_$kind after the $kind run"
    local failed
    failed=$(cmdstat "$(stat_of "$kind")" failed_calls)
    [[ ${failed:-0} == 0 ]] || die "$failed $kind calls failed: the benchmark is not measuring what it should"
    printf '  %-12s round %d: %12s req/s  %8s us/call  (%s calls)\n' "$kind" "$round" "$rps" \
        "$(awk -v u="${USEC[$kind,$round]}" -v c="${CALLS[$kind,$round]}" 'BEGIN { printf "%.3f", u / c }')" \
        "${CALLS[$kind,$round]}"
}

# Releases: redis-benchmark cannot pair a release with its acquire, so RELEASES locks are taken
# first, then released through one pipe; only server time per call is measured (no throughput).
release_one() { # kind round
    local kind=$1 round=$2 take give stat
    take=$(release_take "$kind")
    give=$(release_give "$kind")
    stat=$(release_stat "$kind")
    cli flushall >/dev/null
    pipe_commands "$take" "$RELEASES" "taking locks for $kind"
    cli config resetstat >/dev/null
    pipe_commands "$give" "$RELEASES" "releasing locks for $kind"
    RPS[$kind,$round]=0
    CALLS[$kind,$round]=$(cmdstat "$stat" calls)
    USEC[$kind,$round]=$(cmdstat "$stat" usec)
    [[ ${CALLS[$kind,$round]:-0} == "$RELEASES" ]] || die "expected $RELEASES $stat calls, saw '${CALLS[$kind,$round]}'"
    [[ $(cli dbsize) == 0 ]] || die "$kind left locks behind: the releases did not all succeed"
    printf '  %-12s round %d: %12s        %8s us/call  (%s calls)\n' "$kind" "$round" "-" \
        "$(awk -v u="${USEC[$kind,$round]}" -v c="${CALLS[$kind,$round]}" 'BEGIN { printf "%.3f", u / c }')" \
        "${CALLS[$kind,$round]}"
}

# ---- memory: the same ids in a native SET and in a trial ----------------------------------------------
used_memory() { cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

# RESP for `cmd key user:%012d` for 0 <= i < MEMBERS, fed to redis-cli --pipe
fill() { # command key
    local out
    out=$(awk -v cmd="$1" -v key="$2" -v n="$MEMBERS" 'BEGIN {
            for (i = 0; i < n; i++) {
                id = sprintf("user:%012d", i)
                printf "*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(cmd), cmd, length(key), key, length(id), id
            }
        }' | cli --pipe 2>&1) || die "filling $2 failed: $out"
    printf '%s\n' "$out" | grep -q 'errors: 0,' || die "filling $2 reported errors: $out"
}

# ---- go --------------------------------------------------------------------------------------------------
start_server
load_scripts

echo "SlotGuard benchmark: $("$SERVER" --version | awk '{ print $3 }' | sed 's/^v=//'), 127.0.0.1:$PORT," \
     "$(nproc 2>/dev/null || echo '?') CPUs"
echo "redis-benchmark: -n $N -c $CLIENTS -P $PIPELINE -r $KEYSPACE (user:__rand_int__ = 17-byte ids), runs interleaved"
for round in 1 2; do
    for kind in sadd enroll evalsha set lock.acquire set_ex idemp.setnx decrby sharded.decr evalsha_sharded \
        rate.throttle set_px evalsha_token rate.window incrby expire; do
        run_one "$kind" "$round"
    done
    for kind in lock.release release_lua; do release_one "$kind" "$round"; done
done
cli flushall >/dev/null

echo "memory: $MEMBERS ids 'user:%012d' (17 bytes) in a SET and in a trial"
m0=$(used_memory)
fill SADD mem:set
m1=$(used_memory)
[[ $(cli slots.init mem:trial 9223372036854775807) == 1 ]] || die "SLOTS.INIT mem:trial failed"
fill ENROLL mem:trial
m2=$(used_memory)
[[ $(cli scard mem:set) == "$MEMBERS" ]] || die "mem:set does not hold $MEMBERS members"
trial_enrolled=$(cli slots.info mem:trial | awk 'prev == "enrolled" { print; exit } { prev = $0 }')
[[ $trial_enrolled == "$MEMBERS" ]] || die "mem:trial does not hold $MEMBERS users (got '$trial_enrolled')"
usage_set=$(cli memory usage mem:set samples 0)
usage_trial=$(cli memory usage mem:trial samples 0)

# ---- contended hand-off: one lock, HANDOFF_THREADS threads --------------------------------------------
declare -A HO
# `handoff name args...`: run the load generator, keep its key=value fields as HO[name,field]
handoff() {
    local name=$1 line field
    shift
    cli flushall >/dev/null
    "$HANDOFF" -p "$PORT" -t "$HANDOFF_THREADS" -d "$HANDOFF_SECONDS" "$@" >"$WORK/handoff.out" 2>"$WORK/handoff.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || die "hand-off run $name failed: $(cat "$WORK/handoff.err")"
    BENCH_PID=
    line=$(cat "$WORK/handoff.out")
    for field in $line; do HO[$name,${field%%=*}]=${field#*=}; done
    [[ ${HO[$name,counter_ok]:-} == 1 ]] || die "hand-off run $name: counter check failed: $line"
    printf '  %-12s %8s hand-offs/s  %6s attempts/acq  %8s server µs/hand-off  wait p99 %8s µs\n' "$name" \
        "${HO[$name,handoffs_per_s]}" "${HO[$name,attempts_per_acquisition]}" \
        "${HO[$name,server_cpu_us_per_handoff]}" "${HO[$name,wait_p99_us]}"
}
echo "hand-off: $HANDOFF_THREADS threads on one lock, $HANDOFF_SECONDS s per run, INCR inside the critical section"
for work in 0 1000; do
    handoff "fifo/w$work" -m fifo -w "$work"
    handoff "poll1ms/w$work" -m poll -s 1000 -w "$work"
    handoff "spin/w$work" -m poll -s 0 -w "$work"
done
cli flushall >/dev/null

# ---- report ----------------------------------------------------------------------------------------------
summary() { # kind -> "rps1 rps2 usec_per_call"
    awk -v r1="${RPS[$1,1]}" -v r2="${RPS[$1,2]}" -v c="$((CALLS[$1,1] + CALLS[$1,2]))" \
        -v u="$((USEC[$1,1] + USEC[$1,2]))" 'BEGIN { printf "%.0f %.0f %.3f", r1, r2, u / c }'
}
read -r sadd_r1 sadd_r2 sadd_us <<<"$(summary sadd)"
read -r enroll_r1 enroll_r2 enroll_us <<<"$(summary enroll)"
read -r lua_r1 lua_r2 lua_us <<<"$(summary evalsha)"
read -r setnx_r1 setnx_r2 setnx_us <<<"$(summary set)"
read -r acq_r1 acq_r2 acq_us <<<"$(summary lock.acquire)"
read -r setex_r1 setex_r2 setex_us <<<"$(summary set_ex)"
read -r idemp_r1 idemp_r2 idemp_us <<<"$(summary idemp.setnx)"
read -r decrby_r1 decrby_r2 decrby_us <<<"$(summary decrby)"
read -r sdecr_r1 sdecr_r2 sdecr_us <<<"$(summary sharded.decr)"
read -r slua_r1 slua_r2 slua_us <<<"$(summary evalsha_sharded)"
read -r thr_r1 thr_r2 thr_us <<<"$(summary rate.throttle)"
read -r setpx_r1 setpx_r2 setpx_us <<<"$(summary set_px)"
read -r tok_r1 tok_r2 tok_us <<<"$(summary evalsha_token)"
read -r win_r1 win_r2 win_us <<<"$(summary rate.window)"
read -r incr_r1 incr_r2 incr_us <<<"$(summary incrby)"
read -r exp_r1 exp_r2 exp_us <<<"$(summary expire)"
read -r _ _ rel_us <<<"$(summary lock.release)"
read -r _ _ rel_lua_us <<<"$(summary release_lua)"

verdict() { awk -v x="$1" -v op="$2" -v goal="$3" 'BEGIN {
    ok = (op == "<=") ? (x <= goal) : (x >= goal); print ok ? "PASS" : "MISS" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

enroll_vs_sadd=$(ratio "$enroll_us" "$sadd_us")
lua_vs_enroll=$(ratio "$lua_us" "$enroll_us")
acq_vs_setnx=$(ratio "$acq_us" "$setnx_us")
lua_vs_release=$(ratio "$rel_lua_us" "$rel_us")
idemp_vs_setex=$(ratio "$idemp_us" "$setex_us")
sdecr_vs_decrby=$(ratio "$sdecr_us" "$decrby_us")
slua_vs_sdecr=$(ratio "$slua_us" "$sdecr_us")
thr_vs_setpx=$(ratio "$thr_us" "$setpx_us")
tok_vs_thr=$(ratio "$tok_us" "$thr_us")
pair_us=$(awk -v a="$incr_us" -v b="$exp_us" 'BEGIN { printf "%.3f", a + b }')
win_vs_pair=$(ratio "$win_us" "$pair_us")
per_member() { awk -v b="$1" -v n="$MEMBERS" 'BEGIN { printf "%.1f", b / n }'; }
usage_set_pm=$(per_member "$usage_set")
usage_trial_pm=$(per_member "$usage_trial")
delta_set_pm=$(per_member "$((m1 - m0))")
delta_trial_pm=$(per_member "$((m2 - m1))")
mem_ratio=$(ratio "$usage_trial" "$usage_set")
delta_ratio=$(ratio "$((m2 - m1))" "$((m1 - m0))")

cat <<EOF

Throughput (redis-benchmark -n $N -c $CLIENTS -P $PIPELINE, random 17-byte users) and server time
(INFO commandstats usec_per_call over both runs):

| command | run 1 req/s | run 2 req/s | server µs/call |
|---|---:|---:|---:|
| \`SADD set user\` | $sadd_r1 | $sadd_r2 | $sadd_us |
| \`ENROLL trial user\` | $enroll_r1 | $enroll_r2 | $enroll_us |
| \`EVALSHA\` script (SISMEMBER+GET+DECR+SADD) | $lua_r1 | $lua_r2 | $lua_us |
| \`SET lock owner NX PX ttl\` | $setnx_r1 | $setnx_r2 | $setnx_us |
| \`LOCK.ACQUIRE lock owner ttl\` | $acq_r1 | $acq_r2 | $acq_us |
| \`LOCK.RELEASE lock owner\` ($RELEASES held locks, one pipe) | – | – | $rel_us |
| \`EVALSHA\` release script (GET+DEL) (same) | – | – | $rel_lua_us |
| \`SET msg 1 NX EX 86400\` | $setex_r1 | $setex_r2 | $setex_us |
| \`IDEMP.SETNX msg 86400\` | $idemp_r1 | $idemp_r2 | $idemp_us |
| \`DECRBY stock 1\` | $decrby_r1 | $decrby_r2 | $decrby_us |
| \`SHARDED.DECR\` over 4 co-located keys | $sdecr_r1 | $sdecr_r2 | $sdecr_us |
| \`EVALSHA\` random-shard script (GET + DECR) over the same keys | $slua_r1 | $slua_r2 | $slua_us |
| \`RATE.THROTTLE user 99 100 1\` (a new user per call, mostly) | $thr_r1 | $thr_r2 | $thr_us |
| \`SET user tat PX 1000\` (same keys) | $setpx_r1 | $setpx_r2 | $setpx_us |
| \`EVALSHA\` token-bucket script (2 keys, TIME, 2 × SET EX) | $tok_r1 | $tok_r2 | $tok_us |
| \`RATE.WINDOW tenant 1000000000 60\` ($WINDOW_KEYSPACE tenants) | $win_r1 | $win_r2 | $win_us |
| \`INCRBY tenant 1\` (same keys) | $incr_r1 | $incr_r2 | $incr_us |
| \`EXPIRE tenant 60\` (the keys INCRBY made) | $exp_r1 | $exp_r2 | $exp_us |

| goal | measured | result |
|---|---:|---|
| ENROLL ≤ 1.25 × SADD µs/call | ${enroll_vs_sadd}× | $(verdict "$enroll_vs_sadd" "<=" 1.25) |
| script ≥ 3 × ENROLL µs/call | ${lua_vs_enroll}× | $(verdict "$lua_vs_enroll" ">=" 3) |
| LOCK.ACQUIRE ≤ 1.3 × SET NX PX µs/call | ${acq_vs_setnx}× | $(verdict "$acq_vs_setnx" "<=" 1.3) |
| release script ≥ 2.5 × LOCK.RELEASE µs/call | ${lua_vs_release}× | $(verdict "$lua_vs_release" ">=" 2.5) |
| IDEMP.SETNX ≤ 1.1 × SET NX EX µs/call | ${idemp_vs_setex}× | $(verdict "$idemp_vs_setex" "<=" 1.1) |
| SHARDED.DECR (4 keys) ≤ 2 × DECRBY µs/call | ${sdecr_vs_decrby}× | $(verdict "$sdecr_vs_decrby" "<=" 2) |
| (no goal) random-shard script / SHARDED.DECR µs/call | ${slua_vs_sdecr}× | – |
| RATE.THROTTLE ≤ 1.5 × SET PX µs/call | ${thr_vs_setpx}× | $(verdict "$thr_vs_setpx" "<=" 1.5) |
| token-bucket script ≥ 3 × RATE.THROTTLE µs/call | ${tok_vs_thr}× | $(verdict "$tok_vs_thr" ">=" 3) |
| RATE.WINDOW ≤ INCRBY + EXPIRE ($pair_us µs) | ${win_vs_pair}× | $(verdict "$win_vs_pair" "<=" 1) |

Memory, $MEMBERS members of 17 bytes:

| key | MEMORY USAGE B/member | used_memory Δ B/member |
|---|---:|---:|
| native SET | $usage_set_pm | $delta_set_pm |
| trial | $usage_trial_pm | $delta_trial_pm |

| goal | measured | result |
|---|---:|---|
| trial ≤ SET (MEMORY USAGE) | ${mem_ratio}× | $(verdict "$mem_ratio" "<=" 1) |
| trial ≤ SET (used_memory Δ) | ${delta_ratio}× | $(verdict "$delta_ratio" "<=" 1) |

Contended hand-off ($HANDOFF_THREADS threads on one lock, $HANDOFF_SECONDS s per run, bench/lock_handoff.c;
"work" is a sleep inside the critical section after the INCR; server CPU is INFO cpu used_cpu_sys +
used_cpu_user per hand-off; wait is from asking for the lock to holding it):

| way | work µs | hand-offs/s | attempts/acq | commands/hand-off | server CPU µs/hand-off | wait p50 µs | wait p99 µs | wait max µs | fewest–most per thread |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
for work in 0 1000; do
    for way in fifo poll1ms spin; do
        k="$way/w$work"
        case $way in
            fifo) label='`LOCK.ACQUIRE … WAIT` (FIFO)' ;;
            poll1ms) label='`SET NX PX`, 1 ms sleep between tries' ;;
            spin) label='`SET NX PX`, no sleep' ;;
        esac
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s–%s |\n' "$label" "$work" \
            "${HO[$k,handoffs_per_s]}" "${HO[$k,attempts_per_acquisition]}" "${HO[$k,commands_per_handoff]}" \
            "${HO[$k,server_cpu_us_per_handoff]}" "${HO[$k,wait_p50_us]}" "${HO[$k,wait_p99_us]}" \
            "${HO[$k,wait_max_us]}" "${HO[$k,fewest_per_thread]}" "${HO[$k,most_per_thread]}"
    done
done
echo
for work in 0 1000; do
    printf 'work %s µs, FIFO against 1 ms polling: %s× the hand-offs/s, %s× less server CPU per hand-off, %s× shorter p99 wait\n' \
        "$work" "$(ratio "${HO[fifo/w$work,handoffs_per_s]}" "${HO[poll1ms/w$work,handoffs_per_s]}")" \
        "$(ratio "${HO[poll1ms/w$work,server_cpu_us_per_handoff]}" "${HO[fifo/w$work,server_cpu_us_per_handoff]}")" \
        "$(ratio "${HO[poll1ms/w$work,wait_p99_us]}" "${HO[fifo/w$work,wait_p99_us]}")"
done
