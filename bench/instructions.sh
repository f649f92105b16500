#!/usr/bin/env bash
# bench/instructions.sh -- the benchmark's comparisons in CPU instructions instead of microseconds.
#
# Server time per call (bench/run.sh) swings by ±15% between runs on a shared machine. Instructions
# do not: each kind runs COUNT times against a fresh redis-server under valgrind's callgrind, which
# counts only instructions executed inside Redis's call() -- the command itself, its reply into the
# output buffer, its keyspace notifications and its propagation, but not parsing the request or
# writing to the socket -- from after the setup to the end of the run. The same binary and COUNT give
# the same figures whatever else the machine is doing (within about 2%: the random keys differ from
# run to run). Instructions are not time (a cache miss costs hundreds of instructions' worth), so
# this complements run.sh, it does not replace it.
#
# The kinds are bench/run.sh's (bench/common.sh says what each runs); a cycle kind counts per cycle
# (its two commands together). Writes instructions.csv (kind,instructions_per_call) into the
# results directory, where bench/run.sh finds it for its goals table.
#
# Environment:
#   SG_BENCH_RESULTS   results directory (default bench/results)
#   SG_INSTR_COUNT     calls per kind (default 20000)
#   SG_MODULE          module to load (default module/slotguard.so)
#   SG_IDEMP_CYCLE     the BEGIN + COMPLETE driver (default build/bench/idemp_cycle)
#   SG_REDIS_SERVER    redis-server binary (default: from PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
COUNT=${SG_INSTR_COUNT:-20000}
KEYSPACE=100000000
WINDOW_KEYSPACE=$((COUNT / 20 > 0 ? COUNT / 20 : 1)) # each window counted ~20 times, as in run.sh
SEEN_KEYSPACE=$COUNT # every key of a "seen" run recorded before it
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
IDEMP_CYCLE=${SG_IDEMP_CYCLE:-$ROOT/build/bench/idemp_cycle}
START_TRIES=600 # valgrind starts slowly: 30 s
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make'"
[[ -x $IDEMP_CYCLE ]] || die "$IDEMP_CYCLE not found: build it with 'make build/bench/idemp_cycle'"
for tool in "$SERVER" redis-cli redis-benchmark awk valgrind callgrind_control; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH (valgrind: apt-get install valgrind)"
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "SG_INSTR_COUNT must be a positive integer (got '$COUNT')"
# A whole number of redis-benchmark pipelines (4 connections of 16), or it may send a few more.
COUNT=$(( (COUNT + 63) / 64 * 64 ))

declare -A IR

stop_server() {
    cli shutdown nosave >/dev/null 2>&1 || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# The instructions counted since the last zeroing, as written by the last dump.
dumped_instructions() {
    local file
    file=$(ls -t "$WORK"/callgrind.out.* 2>/dev/null | grep -v '\.out\.[0-9]*$' | head -1 || true)
    [[ -n $file ]] || die "callgrind wrote no dump"
    awk '/^summary:/ { print $2; exit }' "$file"
}

measure() { # kind
    local kind=$1 total
    rm -f "$WORK"/callgrind.out.*
    SERVER_WRAPPER=(valgrind --tool=callgrind --toggle-collect=call "--callgrind-out-file=$WORK/callgrind.out.%p")
    start_server
    load_scripts
    prepare "$kind" "$COUNT"
    cli config resetstat >/dev/null
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
    drive "$kind" "$COUNT" 4
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    measured "$kind" "$COUNT" >/dev/null
    total=$(dumped_instructions)
    stop_server
    IR[$kind]=$(awk -v t="$total" -v n="$COUNT" 'BEGIN { printf "%.0f", t / n }')
    echo "$kind,${IR[$kind]}" >>"$RESULTS/instructions.csv"
    printf '  %-17s %8s instructions per %s\n' "$kind" "${IR[$kind]}" \
        "$(case $kind in cycle_*|idemp_cycle*) echo cycle ;; *) echo call ;; esac)"
}

echo "SlotGuard instruction counts: $("$SERVER" --version | awk '{ print $3 }' | sed 's/^v=//'), callgrind," \
     "$COUNT calls (or cycles) per kind, instructions inside call() per call"
mkdir -p "$RESULTS"
echo "kind,instructions_per_call" >"$RESULTS/instructions.csv"
for kind in sadd enroll evalsha fcall set lock.acquire lock.release release_lua cycle_lock cycle_script \
    set_ex idemp.setnx set_ex_seen idemp.setnx_seen idemp_cycle idemp_cycle_set decrby sharded.decr \
    evalsha_sharded rate.throttle set_px evalsha_token rate.window incrby expire; do
    measure "$kind"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
cat <<TABLE

| comparison | instructions/call | ratio |
|---|---:|---:|
| ENROLL / SADD | ${IR[enroll]} / ${IR[sadd]} | $(ratio "${IR[enroll]}" "${IR[sadd]}")× |
| enroll script / ENROLL | ${IR[evalsha]} / ${IR[enroll]} | $(ratio "${IR[evalsha]}" "${IR[enroll]}")× |
| enroll function (FCALL) / ENROLL | ${IR[fcall]} / ${IR[enroll]} | $(ratio "${IR[fcall]}" "${IR[enroll]}")× |
| LOCK.ACQUIRE / SET NX PX | ${IR[lock.acquire]} / ${IR[set]} | $(ratio "${IR[lock.acquire]}" "${IR[set]}")× |
| release script / LOCK.RELEASE | ${IR[release_lua]} / ${IR[lock.release]} | $(ratio "${IR[release_lua]}" "${IR[lock.release]}")× |
| lock cycle: (SET NX PX + script) / (LOCK.ACQUIRE + LOCK.RELEASE) | ${IR[cycle_script]} / ${IR[cycle_lock]} | $(ratio "${IR[cycle_script]}" "${IR[cycle_lock]}")× |
| IDEMP.SETNX / SET NX EX (new keys) | ${IR[idemp.setnx]} / ${IR[set_ex]} | $(ratio "${IR[idemp.setnx]}" "${IR[set_ex]}")× |
| IDEMP.SETNX / SET NX EX (keys seen before) | ${IR[idemp.setnx_seen]} / ${IR[set_ex_seen]} | $(ratio "${IR[idemp.setnx_seen]}" "${IR[set_ex_seen]}")× |
| (IDEMP.BEGIN + IDEMP.COMPLETE) / (SET NX PX + SET XX EX) | ${IR[idemp_cycle]} / ${IR[idemp_cycle_set]} | $(ratio "${IR[idemp_cycle]}" "${IR[idemp_cycle_set]}")× |
| SHARDED.DECR (4 keys) / DECRBY | ${IR[sharded.decr]} / ${IR[decrby]} | $(ratio "${IR[sharded.decr]}" "${IR[decrby]}")× |
| random-shard script / SHARDED.DECR | ${IR[evalsha_sharded]} / ${IR[sharded.decr]} | $(ratio "${IR[evalsha_sharded]}" "${IR[sharded.decr]}")× |
| RATE.THROTTLE / SET PX | ${IR[rate.throttle]} / ${IR[set_px]} | $(ratio "${IR[rate.throttle]}" "${IR[set_px]}")× |
| token-bucket script / RATE.THROTTLE | ${IR[evalsha_token]} / ${IR[rate.throttle]} | $(ratio "${IR[evalsha_token]}" "${IR[rate.throttle]}")× |
| RATE.WINDOW / (INCRBY + EXPIRE) | ${IR[rate.window]} / $((IR[incrby] + IR[expire])) | $(ratio "${IR[rate.window]}" "$((IR[incrby] + IR[expire]))")× |
TABLE
