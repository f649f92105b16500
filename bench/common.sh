# bench/common.sh -- pieces shared by bench/run.sh (time) and bench/instructions.sh (instructions):
# one throwaway redis-server on 127.0.0.1 (free port, temp dir, always torn down), the scripts
# SlotGuard replaces, and what each benchmarked kind runs. Sourced, not run; expects ROOT, MODULE and
# SERVER to be set, and SERVER_WRAPPER (an array, possibly empty) for a command to run the server
# under (valgrind), optionally SERVER_ARGS (an array of more redis-server options) and START_TRIES
# (PINGs 50 ms apart before giving up; default 100).

die() { echo "bench: $*" >&2; exit 1; }

[[ -v SERVER_ARGS ]] || SERVER_ARGS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/slotguard-bench.XXXXXX")
PORT=
SERVER_PID=
BENCH_PID=

cleanup() {
    if [[ -n $BENCH_PID ]]; then kill "$BENCH_PID" 2>/dev/null || true; wait "$BENCH_PID" 2>/dev/null || true; fi
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        redis-cli -h 127.0.0.1 -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cli() { redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }

# ---- start the server on a free port ----------------------------------------------------------------
start_server() {
    local attempt
    for attempt in $(seq 1 20); do
        PORT=$((20000 + RANDOM % 20000))
        port_in_use "$PORT" && continue
        "${SERVER_WRAPPER[@]}" "$SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --logfile "$WORK/redis.log" \
            --save "" --appendonly no --daemonize no "${SERVER_ARGS[@]}" --loadmodule "$MODULE" >/dev/null 2>&1 &
        SERVER_PID=$!
        for _ in $(seq 1 "${START_TRIES:-100}"); do # 50 ms apart
            if [[ $(cli ping 2>/dev/null) == PONG ]]; then return 0; fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
        if grep -q -i 'module' "$WORK/redis.log" 2>/dev/null && ! grep -q -i 'address already in use' "$WORK/redis.log"; then
            tail -5 "$WORK/redis.log" >&2
            die "redis-server did not start with $MODULE"
        fi
    done
    die "could not start redis-server on a free port"
}

SCRIPT='if redis.call("SISMEMBER", KEYS[1], ARGV[1]) == 1 then return -1 end
local left = tonumber(redis.call("GET", KEYS[2]))
if left == nil or left <= 0 then return 0 end
redis.call("DECR", KEYS[2])
redis.call("SADD", KEYS[1], ARGV[1])
return 1'
SHA=
RELEASE_SCRIPT='if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end'
RELEASE_SHA=
# What people run today for a sharded stock: start at a random key, DECR the first one with units.
SHARDED_SCRIPT='local n = #KEYS
local start = math.random(n)
for k = 0, n - 1 do
    local i = (start + k - 1) % n + 1
    if tonumber(redis.call("GET", KEYS[i]) or "0") > 0 then return {i - 1, redis.call("DECR", KEYS[i])} end
end
return false'
SHARDED_SHA=
# A token bucket over two keys (tokens left, time of the last refill), the shape of go-zero's
# limiter, written for this benchmark; it reads the server's clock (TIME) where go-zero passes the
# client's. ARGV: rate per second, capacity, tokens requested.
TOKEN_SCRIPT='local rate, capacity, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call("TIME")
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ttl = math.max(1, math.ceil(2 * capacity / rate))
local tokens = tonumber(redis.call("GET", KEYS[1])) or capacity
local last = tonumber(redis.call("GET", KEYS[2])) or 0
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate)
local allowed = tokens >= want
if allowed then tokens = tokens - want end
redis.call("SET", KEYS[1], tostring(tokens), "EX", ttl)
redis.call("SET", KEYS[2], tostring(now), "EX", ttl)
if allowed then return 1 end
return 0'
TOKEN_SHA=

# The enroll script as a Redis Function (FUNCTION LOAD, called with FCALL): the same logic, the
# form Redis 7 recommends over EVALSHA.
FUNCTION_LIBRARY="#!lua name=sgbench
redis.register_function('sgbench_enroll', function(keys, args)
$(printf '%s\n' "$SCRIPT" | sed -e 's/KEYS\[/keys[/g' -e 's/ARGV\[/args[/g')
end)"

load_scripts() {
    SHA=$(cli script load "$SCRIPT")
    [[ $SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $SHA"
    RELEASE_SHA=$(cli script load "$RELEASE_SCRIPT")
    [[ $RELEASE_SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $RELEASE_SHA"
    SHARDED_SHA=$(cli script load "$SHARDED_SCRIPT")
    [[ $SHARDED_SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $SHARDED_SHA"
    TOKEN_SHA=$(cli script load "$TOKEN_SCRIPT")
    [[ $TOKEN_SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $TOKEN_SHA"
    local loaded
    loaded=$(cli function load replace "$FUNCTION_LIBRARY")
    [[ $loaded == sgbench ]] || die "FUNCTION LOAD failed: $loaded"
}

# ---- the kinds: what each runs, on what state, measured by which commandstats ----------------------
# Most kinds are one command driven by redis-benchmark over random keys. The others are driven by
# a pipe of fixed commands (releases of held locks, acquire + release cycles) or by
# bench/idemp_cycle.c (BEGIN + COMPLETE: COMPLETE carries the token BEGIN answered); for those a
# unit is one release or one cycle, and its cost is the summed server time of its commands.
#
# Expected from the caller: PORT, COUNT-independent settings KEYSPACE, WINDOW_KEYSPACE,
# SEEN_KEYSPACE, and IDEMP_CYCLE (the driver's path) for the idemp_* kinds.

# The commandstats entries whose time a kind's unit costs, and how many calls a unit makes of them.
stats_of() {
    case $1 in
        set_ex|set_px|set_ex_seen) echo set ;;
        evalsha_sharded|evalsha_token|release_lua) echo evalsha ;;
        idemp.setnx_seen) echo idemp.setnx ;;
        cycle_lock) echo "lock.acquire lock.release" ;;
        cycle_script) echo "set evalsha" ;;
        idemp_cycle) echo "idemp.begin idemp.complete" ;;
        idemp_cycle_set) echo set ;;
        *) echo "$1" ;;
    esac
}
calls_per_unit() { case $1 in cycle_lock|cycle_script|idemp_cycle|idemp_cycle_set) echo 2 ;; *) echo 1 ;; esac; }

# Whether redis-benchmark drives the kind (throughput is then measured too).
by_benchmark() {
    case $1 in lock.release|release_lua|cycle_lock|cycle_script|idemp_cycle|idemp_cycle_set) return 1 ;; esac
    return 0
}

# The range of __rand_int__ for a kind: windows count the same keys many times; "seen" kinds ask
# for keys a fill made.
keyspace_of() {
    case $1 in
        rate.window|incrby|expire) echo "$WINDOW_KEYSPACE" ;;
        set_ex_seen|idemp.setnx_seen) echo "$SEEN_KEYSPACE" ;;
        *) echo "$KEYSPACE" ;;
    esac
}

command_of() {
    case $1 in
        sadd) echo "SADD bench:set user:__rand_int__" ;;
        enroll) echo "ENROLL bench:trial user:__rand_int__" ;;
        evalsha) echo "EVALSHA $SHA 2 bench:lua:members bench:lua:left user:__rand_int__" ;;
        fcall) echo "FCALL sgbench_enroll 2 bench:fn:members bench:fn:left user:__rand_int__" ;;
        set) echo "SET lock:__rand_int__ owner-1 NX PX 600000" ;;
        lock.acquire) echo "LOCK.ACQUIRE lock:__rand_int__ owner-1 600000" ;;
        set_ex|set_ex_seen) echo "SET msg:__rand_int__ 1 NX EX 86400" ;;
        idemp.setnx|idemp.setnx_seen) echo "IDEMP.SETNX msg:__rand_int__ 86400" ;;
        decrby) echo "DECRBY bench:stock 1" ;;
        sharded.decr) echo "SHARDED.DECR {bench}:s0 {bench}:s1 {bench}:s2 {bench}:s3" ;;
        evalsha_sharded) echo "EVALSHA $SHARDED_SHA 4 {bench}:s0 {bench}:s1 {bench}:s2 {bench}:s3" ;;
        # 100 per second, bursts of 100: the same limit three ways.
        rate.throttle) echo "RATE.THROTTLE rl:__rand_int__ 99 100 1" ;;
        set_px) echo "SET rl:__rand_int__ 1796169421522000000 PX 1000" ;;
        evalsha_token) echo "EVALSHA $TOKEN_SHA 2 {rl:__rand_int__}:tokens {rl:__rand_int__}:ts 100 100 1" ;;
        rate.window) echo "RATE.WINDOW win:__rand_int__ 1000000000 60" ;;
        incrby) echo "INCRBY win:__rand_int__ 1" ;;
        expire) echo "EXPIRE win:__rand_int__ 60" ;;
        *) die "no command for kind $1" ;;
    esac
}

# `pipe_commands format count what`: `count` commands (inline form; every %d of `format` is the
# same number, 0 .. count-1) through one redis-cli --pipe; fails unless every reply came back
# without an error.
pipe_commands() {
    local out
    out=$(awk -v f="$1" -v n="$2" 'BEGIN {
            gsub(/%d/, "%012d", f); k = gsub(/%012d/, "&", f); line = f "\r\n"
            for (i = 0; i < n; i++) {
                if (k == 1) printf line, i; else if (k == 2) printf line, i, i; else printf line, i, i, i
            }
        }' | cli --pipe 2>&1) || die "$3 failed: $out"
    printf '%s\n' "$out" | grep -q 'errors: 0,' || die "$3 failed: $out"
    printf '%s\n' "$out" | grep -qE "replies: $(( $2 * $(awk -v f="$1" 'BEGIN { print gsub(/\r\n/, "", f) + 1 }') ))\$" ||
        die "$3: not every reply came back: $out"
}

# The state a kind starts from, built before the measurement (`count` is the kind's unit count).
prepare() { # kind count
    case $1 in
        sadd) cli del bench:set >/dev/null ;;
        enroll) cli del bench:trial >/dev/null
                [[ $(cli slots.init bench:trial 9223372036854775807) == 1 ]] || die "SLOTS.INIT failed" ;;
        evalsha) cli del bench:lua:members bench:lua:left >/dev/null
                 cli set bench:lua:left 9223372036854775807 >/dev/null ;;
        fcall) cli del bench:fn:members bench:fn:left >/dev/null
               cli set bench:fn:left 9223372036854775807 >/dev/null ;;
        set|lock.acquire|set_ex|idemp.setnx) cli flushall >/dev/null ;; # one key per call: start empty
        # Every key the run asks for was recorded before: every call answers "seen".
        set_ex_seen) cli flushall >/dev/null
                     pipe_commands 'SET msg:%d 1 NX EX 86400' "$SEEN_KEYSPACE" "recording messages" ;;
        idemp.setnx_seen) cli flushall >/dev/null
                          pipe_commands 'IDEMP.SETNX msg:%d 86400' "$SEEN_KEYSPACE" "recording messages" ;;
        # A stock of a billion units per key: what a large sale holds, and more than a run takes.
        decrby) cli set bench:stock 1000000000 >/dev/null ;;
        sharded.decr|evalsha_sharded) cli del "{bench}:s0" "{bench}:s1" "{bench}:s2" "{bench}:s3" >/dev/null
                      [[ $(cli sharded.init 4000000000 "{bench}:s0" "{bench}:s1" "{bench}:s2" "{bench}:s3") == 1 ]] ||
                          die "SHARDED.INIT failed" ;;
        # A limit per user (one key each, mostly new ones): every call is allowed and writes.
        rate.throttle|set_px|evalsha_token) cli flushall >/dev/null ;;
        # Windows per tenant over a small keyspace (each key counted many times).
        rate.window|incrby) cli flushall >/dev/null ;;
        # The pair's EXPIRE runs on the keys its INCRBY made.
        expire) cli flushall >/dev/null
                drive incrby "$2" 4 ;;
        # Releases of held locks: take them first.
        lock.release) cli flushall >/dev/null
                      pipe_commands 'LOCK.ACQUIRE rl:%d owner-1 600000' "$2" "taking locks for $1" ;;
        release_lua) cli flushall >/dev/null
                     pipe_commands 'SET rl:%d owner-1 NX PX 600000' "$2" "taking locks for $1" ;;
        cycle_lock|cycle_script|idemp_cycle|idemp_cycle_set) cli flushall >/dev/null ;;
        *) die "no preparation for kind $1" ;;
    esac
}

# `drive kind count clients`: the measured load. redis-benchmark's CSV goes to $WORK/benchmark.csv.
# In the background + wait, so a signal runs the cleanup trap at once instead of after the run.
drive() {
    local kind=$1 count=$2 clients=$3
    case $kind in
        lock.release) pipe_commands 'LOCK.RELEASE rl:%d owner-1' "$count" "releasing locks" ;;
        release_lua) pipe_commands "EVALSHA $RELEASE_SHA 1 rl:%d owner-1" "$count" "releasing locks by script" ;;
        cycle_lock) pipe_commands 'LOCK.ACQUIRE cl:%d owner-1 600000\r\nLOCK.RELEASE cl:%d owner-1' "$count" \
                        "lock cycles" ;;
        cycle_script) pipe_commands "SET cl:%d owner-1 NX PX 600000\r\nEVALSHA $RELEASE_SHA 1 cl:%d owner-1" "$count" \
                          "SET NX PX + script cycles" ;;
        idemp_cycle|idemp_cycle_set)
            "$IDEMP_CYCLE" -p "$PORT" -n "$count" -m "$([[ $kind == idemp_cycle ]] && echo module || echo native)" \
                >"$WORK/cycle.out" 2>"$WORK/cycle.err" &
            BENCH_PID=$!
            wait "$BENCH_PID" || die "$kind failed: $(cat "$WORK/cycle.err")"
            BENCH_PID= ;;
        *)
            # shellcheck disable=SC2046
            redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$clients" -n "$count" -P "${PIPELINE:-16}" \
                -r "$(keyspace_of "$kind")" --csv $(command_of "$kind") >"$WORK/benchmark.csv" 2>"$WORK/benchmark.err" &
            BENCH_PID=$!
            wait "$BENCH_PID" || die "redis-benchmark failed for $kind: $(tail -3 "$WORK/benchmark.err")"
            BENCH_PID= ;;
    esac
    case $kind in # the lock cycles and releases leave nothing behind when every release succeeded
        lock.release|release_lua|cycle_lock|cycle_script)
            [[ $(cli dbsize) == 0 ]] || die "$kind left locks behind: not every release succeeded" ;;
    esac
}

# `measured kind count` -> "calls usec" summed over the kind's commandstats entries; fails unless
# they made exactly count × calls_per_unit calls and none failed.
measured() {
    local kind=$1 count=$2 stat calls=0 usec=0 c u f
    for stat in $(stats_of "$kind"); do
        c=$(cmdstat "$stat" calls); u=$(cmdstat "$stat" usec); f=$(cmdstat "$stat" failed_calls)
        [[ ${f:-0} == 0 ]] || die "$f $stat calls failed in $kind: the benchmark is not measuring what it should"
        calls=$((calls + ${c:-0})); usec=$((usec + ${u:-0}))
    done
    [[ $calls == $((count * $(calls_per_unit "$kind"))) ]] ||
        die "$kind: expected $((count * $(calls_per_unit "$kind"))) calls of $(stats_of "$kind"), saw $calls"
    echo "$calls $usec"
}

# field of cmdstat_<name>: calls or usec
cmdstat() {
    cli info commandstats | tr -d '\r' | awk -F'[:,=]' -v name="cmdstat_$1" -v field="$2" '
        $1 == name { for (i = 2; i < NF; i += 2) if ($i == field) print $(i + 1) }'
}
