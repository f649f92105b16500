#!/usr/bin/env bash
# bench/run.sh -- SlotGuard's commands side by side with what users run today, on one server:
#   ENROLL vs the enroll script (EVALSHA of SISMEMBER + GET + DECR + SADD), the same logic as a
#     Redis Function (FCALL) and a plain SADD;
#   LOCK.ACQUIRE vs SET NX PX; LOCK.RELEASE vs the compare-and-delete script on held locks; the
#     whole cycle (acquire + release) vs SET NX PX + the script;
#   IDEMP.SETNX vs SET NX EX on new keys and on keys seen before; IDEMP.BEGIN + IDEMP.COMPLETE vs
#     SET NX PX + SET XX EX (bench/idemp_cycle.c: COMPLETE carries the token BEGIN answered);
#   SHARDED.DECR over 4 co-located keys vs DECRBY and vs the random-shard script;
#   RATE.THROTTLE vs SET PX and a token-bucket script; RATE.WINDOW vs INCRBY + EXPIRE;
# then bytes per user of a trial vs a native SET and a HASH, then contended hand-off of one lock:
# FIFO waiting (LOCK.ACQUIRE ... WAIT) vs SET NX PX polling (bench/lock_handoff.c).
#
# Every kind runs once per round and the rounds are interleaved (round 1 of every kind, then round
# 2, ...), so that the machine's noise hits every kind alike; each ratio is taken within a round and
# reported as the median over the rounds with its spread (min-max). Server time per call comes from
# INFO commandstats (reset before each run), throughput from redis-benchmark; the instruction
# ratios come from the results directory's instructions.csv (make bench-instructions) when there is
# one. One throwaway redis-server on 127.0.0.1 (free port, temp dir), always torn down.
#
# Writes into the results directory: commands.csv, memory.csv, handoff.csv, goals_commands.csv
# (formats: bench/README.md). Reports met/missed against the goals but never fails on a miss; fails
# when a measurement is wrong (a failed call, a missing reply, a lock left behind).
#
# Builds nothing: run `make` and `make build/bench/lock_handoff build/bench/idemp_cycle` first (or
# `make bench`, which does).
#
# Environment:
#   SG_BENCH_RESULTS   results directory (default bench/results)
#   SG_BENCH_QUICK     1: a short pass (smaller counts below; still SG_BENCH_ROUNDS rounds)
#   SG_BENCH_ROUNDS    rounds (default 3)
#   SG_BENCH_N         requests per redis-benchmark run (default 1000000; quick 200000)
#   SG_BENCH_CLIENTS   parallel connections (default 50)
#   SG_BENCH_PIPELINE  requests per pipeline (default 16)
#   SG_BENCH_KEYSPACE  range of __rand_int__, i.e. distinct user ids (default 100000000)
#   SG_BENCH_WINDOW_KEYSPACE  distinct window keys of the RATE.WINDOW runs (default N / 20: each counted ~20 times)
#   SG_BENCH_SEEN_KEYSPACE    keys recorded before the "seen" IDEMP.SETNX / SET NX EX runs (default 100000)
#   SG_BENCH_CYCLES    lock releases, lock cycles and idempotency cycles per run (default 200000; quick 50000)
#   SG_BENCH_MEMBERS   users for the memory comparison (default 1000000; quick 100000)
#   SG_BENCH_HANDOFF_SECONDS  length of each hand-off run (default 3; quick 1)
#   SG_BENCH_HANDOFF_THREADS  threads contending for the lock (default 16)
#   SG_MODULE          module to load (default module/slotguard.so)
#   SG_HANDOFF, SG_IDEMP_CYCLE  the load generators (default build/bench/lock_handoff, build/bench/idemp_cycle)
#   SG_REDIS_SERVER    redis-server binary (default: from PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
QUICK=${SG_BENCH_QUICK:-0}
ROUNDS=${SG_BENCH_ROUNDS:-3}
if [[ $QUICK == 1 ]]; then q_n=200000 q_cycles=50000 q_members=100000 q_seconds=1; else
    q_n=1000000 q_cycles=200000 q_members=1000000 q_seconds=3; fi
N=${SG_BENCH_N:-$q_n}
CLIENTS=${SG_BENCH_CLIENTS:-50}
PIPELINE=${SG_BENCH_PIPELINE:-16}
KEYSPACE=${SG_BENCH_KEYSPACE:-100000000}
WINDOW_KEYSPACE=${SG_BENCH_WINDOW_KEYSPACE:-$((N / 20 > 0 ? N / 20 : 1))}
SEEN_KEYSPACE=${SG_BENCH_SEEN_KEYSPACE:-100000}
CYCLES=${SG_BENCH_CYCLES:-$q_cycles}
MEMBERS=${SG_BENCH_MEMBERS:-$q_members}
HANDOFF_SECONDS=${SG_BENCH_HANDOFF_SECONDS:-$q_seconds}
HANDOFF_THREADS=${SG_BENCH_HANDOFF_THREADS:-16}
HANDOFF=${SG_HANDOFF:-$ROOT/build/bench/lock_handoff}
IDEMP_CYCLE=${SG_IDEMP_CYCLE:-$ROOT/build/bench/idemp_cycle}
SERVER_WRAPPER=()
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"
# shellcheck source=bench/stats.sh
source "$ROOT/bench/stats.sh"

[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make' (or run 'make bench')"
for tool in "$HANDOFF" "$IDEMP_CYCLE"; do
    [[ -x $tool ]] || die "$tool not found: build it with 'make $(realpath --relative-to="$ROOT" "$tool" 2>/dev/null || echo "$tool")' (or run 'make bench')"
done
for tool in "$SERVER" redis-cli redis-benchmark awk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH"
done
for v in ROUNDS N CLIENTS PIPELINE KEYSPACE WINDOW_KEYSPACE SEEN_KEYSPACE CYCLES MEMBERS HANDOFF_SECONDS HANDOFF_THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
# redis-benchmark may send a few more requests than -n unless -n is a whole number of pipelines
# on every connection; the counts are checked exactly, so round N up to one.
N=$(( (N + CLIENTS * PIPELINE - 1) / (CLIENTS * PIPELINE) * CLIENTS * PIPELINE ))
mkdir -p "$RESULTS"

KINDS=(sadd enroll evalsha fcall
    set lock.acquire lock.release release_lua cycle_lock cycle_script
    set_ex idemp.setnx set_ex_seen idemp.setnx_seen idemp_cycle idemp_cycle_set
    decrby sharded.decr evalsha_sharded
    rate.throttle set_px evalsha_token rate.window incrby expire)

# What a kind's figures stand for, in the tables.
label_of() {
    case $1 in
        sadd) echo '`SADD set user`' ;;
        enroll) echo '`ENROLL trial user`' ;;
        evalsha) echo '`EVALSHA` enroll script (SISMEMBER + GET + DECR + SADD)' ;;
        fcall) echo '`FCALL` the same logic as a Redis Function' ;;
        set) echo '`SET lock owner NX PX ttl`' ;;
        lock.acquire) echo '`LOCK.ACQUIRE lock owner ttl`' ;;
        lock.release) echo '`LOCK.RELEASE lock owner` (held locks)' ;;
        release_lua) echo '`EVALSHA` compare-and-delete script (held locks)' ;;
        cycle_lock) echo 'lock cycle: `LOCK.ACQUIRE` + `LOCK.RELEASE`' ;;
        cycle_script) echo 'lock cycle: `SET NX PX` + the script' ;;
        set_ex) echo '`SET msg 1 NX EX 86400` (new keys)' ;;
        idemp.setnx) echo '`IDEMP.SETNX msg 86400` (new keys)' ;;
        set_ex_seen) echo '`SET msg 1 NX EX 86400` (keys seen before)' ;;
        idemp.setnx_seen) echo '`IDEMP.SETNX msg 86400` (keys seen before)' ;;
        idemp_cycle) echo 'request: `IDEMP.BEGIN` + `IDEMP.COMPLETE`' ;;
        idemp_cycle_set) echo 'request: `SET NX PX` + `SET XX EX`' ;;
        decrby) echo '`DECRBY stock 1`' ;;
        sharded.decr) echo '`SHARDED.DECR` over 4 co-located keys' ;;
        evalsha_sharded) echo '`EVALSHA` random-shard script (GET + DECR), same keys' ;;
        rate.throttle) echo '`RATE.THROTTLE user 99 100 1` (a new user per call, mostly)' ;;
        set_px) echo '`SET user tat PX 1000` (same keys)' ;;
        evalsha_token) echo '`EVALSHA` token-bucket script (2 keys, TIME, 2 × SET EX)' ;;
        rate.window) echo "\`RATE.WINDOW tenant 1000000000 60\` ($WINDOW_KEYSPACE tenants)" ;;
        incrby) echo '`INCRBY tenant 1` (same keys)' ;;
        expire) echo '`EXPIRE tenant 60` (the keys INCRBY made)' ;;
    esac
}

units_of() { if by_benchmark "$1"; then echo "$N"; else echo "$CYCLES"; fi; }

# ---- one measured run ----------------------------------------------------------------------------------
declare -A RPS COST

run_one() { # kind round
    local kind=$1 round=$2 count calls usec rps=
    count=$(units_of "$kind")
    prepare "$kind" "$count"
    cli config resetstat >/dev/null
    drive "$kind" "$count" "$CLIENTS"
    read -r calls usec <<<"$(measured "$kind" "$count")"
    if by_benchmark "$kind"; then
        rps=$(tr -d '\r"' <"$WORK/benchmark.csv" | awk -F, 'NR > 1 && $2 ~ /^[0-9.]+$/ { printf "%.0f", $2; exit }')
        [[ -n $rps ]] || die "could not read requests/s from redis-benchmark for $kind: $(cat "$WORK/benchmark.csv")"
    fi
    RPS[$kind,$round]=$rps
    COST[$kind,$round]=$(awk -v u="$usec" -v n="$count" 'BEGIN { printf "%.4f", u / n }')
    echo "$round,$kind,$rps,$calls,$usec,${COST[$kind,$round]}" >>"$RESULTS/commands.csv"
    printf '  round %d  %-17s %10s req/s  %8s µs per %s\n' "$round" "$kind" "${rps:--}" "${COST[$kind,$round]}" \
        "$(case $kind in cycle_*|idemp_cycle*) echo cycle ;; *) echo call ;; esac)"
}

# ---- memory: the same ids in a native SET, a HASH and a trial ------------------------------------------
used_memory() { cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

# RESP for `cmd key user:%012d [value]` for 0 <= i < MEMBERS, fed to redis-cli --pipe
fill() { # command key [value]
    local out
    out=$(awk -v cmd="$1" -v key="$2" -v value="${3:-}" -v n="$MEMBERS" 'BEGIN {
            argc = (value == "") ? 3 : 4
            for (i = 0; i < n; i++) {
                id = sprintf("user:%012d", i)
                printf "*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", argc, length(cmd), cmd, length(key), key, length(id), id
                if (argc == 4) printf "$%d\r\n%s\r\n", length(value), value
            }
        }' | cli --pipe 2>&1) || die "filling $2 failed: $out"
    printf '%s\n' "$out" | grep -q 'errors: 0,' || die "filling $2 reported errors: $out"
}

# ---- contended hand-off: one lock, HANDOFF_THREADS threads --------------------------------------------
declare -A HO
handoff() { # round way work args...
    local round=$1 way=$2 work=$3 line field
    shift 3
    cli flushall >/dev/null
    "$HANDOFF" -p "$PORT" -t "$HANDOFF_THREADS" -d "$HANDOFF_SECONDS" -w "$work" "$@" \
        >"$WORK/handoff.out" 2>"$WORK/handoff.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || die "hand-off run $way/$work failed: $(cat "$WORK/handoff.err")"
    BENCH_PID=
    line=$(cat "$WORK/handoff.out")
    for field in $line; do HO[$round,$way,$work,${field%%=*}]=${field#*=}; done
    [[ ${HO[$round,$way,$work,counter_ok]:-} == 1 ]] || die "hand-off run $way/$work: counter check failed: $line"
    local k="$round,$way,$work"
    echo "$round,$way,$work,${HO[$k,handoffs_per_s]},${HO[$k,attempts_per_acquisition]},${HO[$k,server_cpu_us_per_handoff]},${HO[$k,wait_p50_us]},${HO[$k,wait_p99_us]},${HO[$k,wait_max_us]}" \
        >>"$RESULTS/handoff.csv"
    printf '  round %d  %-8s work %4s µs: %8s hand-offs/s  %6s attempts/acq  %8s server µs/hand-off  wait p99 %8s µs\n' \
        "$round" "$way" "$work" "${HO[$k,handoffs_per_s]}" "${HO[$k,attempts_per_acquisition]}" \
        "${HO[$k,server_cpu_us_per_handoff]}" "${HO[$k,wait_p99_us]}"
}

# ---- go --------------------------------------------------------------------------------------------------
start_server
load_scripts
redis_version=$("$SERVER" --version | awk '{ print $3 }' | sed 's/^v=//')
echo "SlotGuard benchmark: Redis $redis_version, 127.0.0.1:$PORT, $(nproc 2>/dev/null || echo '?') CPUs, $ROUNDS interleaved rounds"
echo "redis-benchmark: -n $N -c $CLIENTS -P $PIPELINE -r $KEYSPACE (user:__rand_int__ = 17-byte ids); $CYCLES per piped or driven run"
echo "round,kind,requests_per_s,calls,usec,us_per_call" >"$RESULTS/commands.csv"
echo "round,way,work_us,handoffs_per_s,attempts_per_acquisition,server_cpu_us_per_handoff,wait_p50_us,wait_p99_us,wait_max_us" \
    >"$RESULTS/handoff.csv"
for round in $(seq 1 "$ROUNDS"); do
    for kind in "${KINDS[@]}"; do run_one "$kind" "$round"; done
    echo "hand-off: $HANDOFF_THREADS threads on one lock, $HANDOFF_SECONDS s per run, INCR inside the critical section"
    for work in 0 1000; do
        handoff "$round" fifo "$work" -m fifo
        handoff "$round" poll1ms "$work" -m poll -s 1000
        handoff "$round" spin "$work" -m poll -s 0
    done
done
cli flushall >/dev/null

echo "memory: $MEMBERS ids 'user:%012d' (17 bytes) in a SET, a HASH (value 1) and a trial"
m0=$(used_memory); fill SADD mem:set
m1=$(used_memory); fill HSET mem:hash 1
m2=$(used_memory)
[[ $(cli slots.init mem:trial 9223372036854775807) == 1 ]] || die "SLOTS.INIT mem:trial failed"
fill ENROLL mem:trial
m3=$(used_memory)
[[ $(cli scard mem:set) == "$MEMBERS" ]] || die "mem:set does not hold $MEMBERS members"
[[ $(cli hlen mem:hash) == "$MEMBERS" ]] || die "mem:hash does not hold $MEMBERS fields"
trial_enrolled=$(cli slots.info mem:trial | awk 'prev == "enrolled" { print; exit } { prev = $0 }')
[[ $trial_enrolled == "$MEMBERS" ]] || die "mem:trial does not hold $MEMBERS users (got '$trial_enrolled')"
per_user() { awk -v b="$1" -v n="$MEMBERS" 'BEGIN { printf "%.1f", b / n }'; }
declare -A MEM_USAGE MEM_DELTA
MEM_USAGE[set]=$(per_user "$(cli memory usage mem:set samples 0)"); MEM_DELTA[set]=$(per_user $((m1 - m0)))
MEM_USAGE[hash]=$(per_user "$(cli memory usage mem:hash samples 0)"); MEM_DELTA[hash]=$(per_user $((m2 - m1)))
MEM_USAGE[trial]=$(per_user "$(cli memory usage mem:trial samples 0)"); MEM_DELTA[trial]=$(per_user $((m3 - m2)))
{
    echo "structure,users,memory_usage_bytes_per_user,used_memory_delta_bytes_per_user"
    for s in trial set hash; do echo "$s,$MEMBERS,${MEM_USAGE[$s]},${MEM_DELTA[$s]}"; done
} >"$RESULTS/memory.csv"
cli flushall >/dev/null

# ---- goals ----------------------------------------------------------------------------------------------
# Each comparison: section | what | numerator kinds | denominator kinds | target. A "+" joins kinds
# whose costs add up (the pair INCRBY + EXPIRE). The ratio is taken within each round.
COMPARISONS=(
    "commands|ENROLL / SADD µs/call|enroll|sadd|<= 1.25"
    "commands|enroll script (EVALSHA) / ENROLL µs/call|evalsha|enroll|>= 3"
    "commands|enroll function (FCALL) / ENROLL µs/call|fcall|enroll|>= 3"
    "commands|LOCK.ACQUIRE / SET NX PX µs/call|lock.acquire|set|<= 1.5"
    "commands|release script / LOCK.RELEASE µs/call|release_lua|lock.release|>= 2.5"
    "commands|lock cycle: (SET NX PX + script) / (LOCK.ACQUIRE + LOCK.RELEASE) µs|cycle_script|cycle_lock|>= 1.3"
    "commands|IDEMP.SETNX / SET NX EX µs/call (new keys)|idemp.setnx|set_ex|<= 1.1"
    "commands|IDEMP.SETNX / SET NX EX µs/call (keys seen before)|idemp.setnx_seen|set_ex_seen|<= 1.1"
    "commands|(IDEMP.BEGIN + IDEMP.COMPLETE) / (SET NX PX + SET XX EX) µs|idemp_cycle|idemp_cycle_set|"
    "commands|SHARDED.DECR (4 keys) / DECRBY µs/call|sharded.decr|decrby|<= 2"
    "commands|random-shard script / SHARDED.DECR µs/call|evalsha_sharded|sharded.decr|"
    "commands|RATE.THROTTLE / SET PX µs/call|rate.throttle|set_px|<= 1.5"
    "commands|token-bucket script / RATE.THROTTLE µs/call|evalsha_token|rate.throttle|>= 3"
    "commands|RATE.WINDOW / (INCRBY + EXPIRE) µs|rate.window|incrby+expire|<= 1"
)

cost_sum() { # kinds round
    local total=0 k
    for k in ${1//+/ }; do total=$(awk -v a="$total" -v b="${COST[$k,$2]}" 'BEGIN { print a + b }'); done
    echo "$total"
}
declare -A IR
if [[ -f $RESULTS/instructions.csv ]]; then
    while IFS=, read -r kind ir; do [[ $kind == kind ]] || IR[$kind]=$ir; done <"$RESULTS/instructions.csv"
fi
ir_sum() {
    local total=0 k
    for k in ${1//+/ }; do [[ -n ${IR[$k]:-} ]] || { echo; return; }; total=$((total + IR[$k])); done
    echo "$total"
}

GOALS="$RESULTS/goals_commands.csv"
echo "section,comparison,target,median,min,max,instructions,result" >"$GOALS"
for line in "${COMPARISONS[@]}"; do
    IFS='|' read -r section what num den target <<<"$line"
    ratios=()
    for round in $(seq 1 "$ROUNDS"); do
        ratios+=("$(ratio "$(cost_sum "$num" "$round")" "$(cost_sum "$den" "$round")")")
    done
    ir_ratio=
    a=$(ir_sum "$num"); b=$(ir_sum "$den")
    [[ -n $a && -n $b ]] && ir_ratio=$(ratio "$a" "$b")
    goal_row "$section" "$what" "$target" "$ir_ratio" "${ratios[@]}" >>"$GOALS"
done
# memory: one fill (a deterministic figure, no rounds)
goal_row memory "trial / SET bytes per user (MEMORY USAGE)" "<= 1" "" \
    "$(ratio "${MEM_USAGE[trial]}" "${MEM_USAGE[set]}")" >>"$GOALS"
goal_row memory "trial / SET bytes per user (used_memory growth)" "<= 1" "" \
    "$(ratio "${MEM_DELTA[trial]}" "${MEM_DELTA[set]}")" >>"$GOALS"
goal_row memory "trial / HASH bytes per user (MEMORY USAGE)" "" "" \
    "$(ratio "${MEM_USAGE[trial]}" "${MEM_USAGE[hash]}")" >>"$GOALS"
# hand-off: FIFO against 1 ms polling, within each round
handoff_ratio_row() { # what field work a b   (ratio a/b of the way's field)
    local what=$1 field=$2 work=$3 a=$4 b=$5 r ratios=()
    for r in $(seq 1 "$ROUNDS"); do
        ratios+=("$(ratio "${HO[$r,$a,$work,$field]}" "${HO[$r,$b,$work,$field]}")")
    done
    goal_row handoff "$what" "" "" "${ratios[@]}" >>"$GOALS"
}
for work in 0 1000; do
    handoff_ratio_row "FIFO / 1 ms polling hand-offs per s (work $work µs)" handoffs_per_s "$work" fifo poll1ms
    handoff_ratio_row "1 ms polling / FIFO server CPU per hand-off (work $work µs)" server_cpu_us_per_handoff "$work" poll1ms fifo
    handoff_ratio_row "1 ms polling / FIFO p99 wait (work $work µs)" wait_p99_us "$work" poll1ms fifo
done

# ---- report ----------------------------------------------------------------------------------------------
echo
echo "Server time (INFO commandstats) and throughput (redis-benchmark -n $N -c $CLIENTS -P $PIPELINE), median (min–max) of $ROUNDS rounds:"
echo
echo "| command | server µs per call or cycle | requests/s |"
echo "|---|---:|---:|"
for kind in "${KINDS[@]}"; do
    costs=() rates=()
    for round in $(seq 1 "$ROUNDS"); do
        costs+=("${COST[$kind,$round]}")
        [[ -z ${RPS[$kind,$round]} ]] || rates+=("${RPS[$kind,$round]}")
    done
    rate_text='–'
    [[ ${#rates[@]} == 0 ]] || rate_text=$(spread_text 0 "${rates[@]}")
    printf '| %s | %s | %s |\n' "$(label_of "$kind")" "$(spread_text 3 "${costs[@]}")" "$rate_text"
done
echo
echo "Memory, $MEMBERS users of 17 bytes:"
echo
echo "| structure | MEMORY USAGE B/user | used_memory growth B/user |"
echo "|---|---:|---:|"
for s in trial set hash; do printf '| %s | %s | %s |\n' "$s" "${MEM_USAGE[$s]}" "${MEM_DELTA[$s]}"; done
echo
echo "Hand-off ($HANDOFF_THREADS threads, one lock, $HANDOFF_SECONDS s per run), medians of $ROUNDS rounds:"
echo
echo "| way | work µs | hand-offs/s | attempts/acq | server CPU µs/hand-off | wait p50 µs | wait p99 µs | wait max µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for work in 0 1000; do
    for way in fifo poll1ms spin; do
        row="| $way | $work"
        for field in handoffs_per_s attempts_per_acquisition server_cpu_us_per_handoff wait_p50_us wait_p99_us wait_max_us; do
            vals=()
            for round in $(seq 1 "$ROUNDS"); do vals+=("${HO[$round,$way,$work,$field]}"); done
            row+=" | $(median "${vals[@]}")"
        done
        echo "$row |"
    done
done
echo
goals_table "$GOALS"
