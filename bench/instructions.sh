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
# Environment:
#   SG_INSTR_COUNT     calls per kind (default 20000)
#   SG_MODULE          module to load (default module/slotguard.so)
#   SG_REDIS_SERVER    redis-server binary (default: from PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
COUNT=${SG_INSTR_COUNT:-20000}
KEYSPACE=100000000
WINDOW_KEYSPACE=1000 # COUNT calls over few keys: the windows and the pair's keys exist, as in run.sh
START_TRIES=600 # valgrind starts slowly: 30 s
# shellcheck source=bench/common.sh
source "$ROOT/bench/common.sh"

[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make'"
for tool in "$SERVER" redis-cli redis-benchmark awk valgrind callgrind_control; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found in PATH (valgrind: apt-get install valgrind)"
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "SG_INSTR_COUNT must be a positive integer (got '$COUNT')"

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
    local kind=$1 calls stat
    rm -f "$WORK"/callgrind.out.*
    SERVER_WRAPPER=(valgrind --tool=callgrind --toggle-collect=call "--callgrind-out-file=$WORK/callgrind.out.%p")
    start_server
    load_scripts
    case $kind in
        lock.release|release_lua)
            pipe_commands "$(release_take "$kind")" "$COUNT" "taking locks for $kind"
            stat=$(release_stat "$kind")
            cli config resetstat >/dev/null
            callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
            pipe_commands "$(release_give "$kind")" "$COUNT" "releasing locks for $kind" ;;
        *)
            prepare "$kind"
            if [[ $kind == expire ]]; then # the pair's EXPIRE runs on the keys its INCRBY made
                # shellcheck disable=SC2046
                redis-benchmark -h 127.0.0.1 -p "$PORT" -c 4 -n "$COUNT" -P 16 -r "$(keyspace_of incrby)" \
                    $(command_of incrby) >/dev/null 2>"$WORK/benchmark.err" || die "redis-benchmark failed for incrby"
            fi
            stat=$(stat_of "$kind")
            cli config resetstat >/dev/null
            callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
            # shellcheck disable=SC2046
            redis-benchmark -h 127.0.0.1 -p "$PORT" -c 4 -n "$COUNT" -P 16 -r "$(keyspace_of "$kind")" $(command_of "$kind") \
                >/dev/null 2>"$WORK/benchmark.err" || die "redis-benchmark failed for $kind: $(cat "$WORK/benchmark.err")"
            ;;
    esac
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    calls=$(cmdstat "$stat" calls)
    [[ ${calls:-0} == "$COUNT" ]] || die "expected $COUNT $stat calls, saw '${calls:-0}'"
    [[ $(cmdstat "$stat" failed_calls) == 0 ]] || die "$kind calls failed"
    stop_server
    IR[$kind]=$(awk -v t="$(dumped_instructions)" -v n="$COUNT" 'BEGIN { printf "%.0f", t / n }')
    printf '  %-12s %8s instructions/call\n' "$kind" "${IR[$kind]}"
}

echo "SlotGuard instruction counts: $("$SERVER" --version | awk '{ print $3 }' | sed 's/^v=//'), callgrind," \
     "$COUNT calls per kind, instructions inside call() per call"
for kind in sadd enroll evalsha set lock.acquire lock.release release_lua set_ex idemp.setnx decrby sharded.decr \
    evalsha_sharded rate.throttle set_px evalsha_token rate.window incrby expire; do
    measure "$kind"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
cat <<TABLE

| comparison | instructions/call | ratio |
|---|---:|---:|
| ENROLL / SADD | ${IR[enroll]} / ${IR[sadd]} | $(ratio "${IR[enroll]}" "${IR[sadd]}")× |
| enroll script / ENROLL | ${IR[evalsha]} / ${IR[enroll]} | $(ratio "${IR[evalsha]}" "${IR[enroll]}")× |
| LOCK.ACQUIRE / SET NX PX | ${IR[lock.acquire]} / ${IR[set]} | $(ratio "${IR[lock.acquire]}" "${IR[set]}")× |
| release script / LOCK.RELEASE | ${IR[release_lua]} / ${IR[lock.release]} | $(ratio "${IR[release_lua]}" "${IR[lock.release]}")× |
| IDEMP.SETNX / SET NX EX | ${IR[idemp.setnx]} / ${IR[set_ex]} | $(ratio "${IR[idemp.setnx]}" "${IR[set_ex]}")× |
| SHARDED.DECR (4 keys) / DECRBY | ${IR[sharded.decr]} / ${IR[decrby]} | $(ratio "${IR[sharded.decr]}" "${IR[decrby]}")× |
| random-shard script / SHARDED.DECR | ${IR[evalsha_sharded]} / ${IR[sharded.decr]} | $(ratio "${IR[evalsha_sharded]}" "${IR[sharded.decr]}")× |
| RATE.THROTTLE / SET PX | ${IR[rate.throttle]} / ${IR[set_px]} | $(ratio "${IR[rate.throttle]}" "${IR[set_px]}")× |
| token-bucket script / RATE.THROTTLE | ${IR[evalsha_token]} / ${IR[rate.throttle]} | $(ratio "${IR[evalsha_token]}" "${IR[rate.throttle]}")× |
| RATE.WINDOW / (INCRBY + EXPIRE) | ${IR[rate.window]} / $((IR[incrby] + IR[expire])) | $(ratio "${IR[rate.window]}" "$((IR[incrby] + IR[expire]))")× |
TABLE
