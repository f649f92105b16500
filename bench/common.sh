# bench/common.sh -- pieces shared by bench/run.sh (time) and bench/instructions.sh (instructions):
# one throwaway redis-server on 127.0.0.1 (free port, temp dir, always torn down), the scripts
# SlotGuard replaces, and what each benchmarked kind runs. Sourced, not run; expects ROOT, MODULE and
# SERVER to be set, and SERVER_WRAPPER (an array, possibly empty) for a command to run the server
# under (valgrind) and optionally START_TRIES (PINGs 50 ms apart before giving up; default 100).

die() { echo "bench: $*" >&2; exit 1; }

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
            --save "" --appendonly no --daemonize no --loadmodule "$MODULE" >/dev/null 2>&1 &
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

load_scripts() {
    SHA=$(cli script load "$SCRIPT")
    [[ $SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $SHA"
    RELEASE_SHA=$(cli script load "$RELEASE_SCRIPT")
    [[ $RELEASE_SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $RELEASE_SHA"
    SHARDED_SHA=$(cli script load "$SHARDED_SCRIPT")
    [[ $SHARDED_SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $SHARDED_SHA"
    TOKEN_SHA=$(cli script load "$TOKEN_SCRIPT")
    [[ $TOKEN_SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD failed: $TOKEN_SHA"
}

# Fresh key for each run, so every run starts from the same empty state.
prepare() {
    case $1 in
        sadd) cli del bench:set >/dev/null ;;
        enroll) cli del bench:trial >/dev/null
                [[ $(cli slots.init bench:trial 9223372036854775807) == 1 ]] || die "SLOTS.INIT failed" ;;
        evalsha) cli del bench:lua:members bench:lua:left >/dev/null
                 cli set bench:lua:left 9223372036854775807 >/dev/null ;;
        set|lock.acquire|set_ex|idemp.setnx) cli flushall >/dev/null ;; # one key per call: start empty
        # A stock of a billion units per key: what a large sale holds, and more than a run takes.
        decrby) cli set bench:stock 1000000000 >/dev/null ;;
        sharded.decr|evalsha_sharded) cli del "{bench}:s0" "{bench}:s1" "{bench}:s2" "{bench}:s3" >/dev/null
                      [[ $(cli sharded.init 4000000000 "{bench}:s0" "{bench}:s1" "{bench}:s2" "{bench}:s3") == 1 ]] ||
                          die "SHARDED.INIT failed" ;;
        # A limit per user (one key each, mostly new ones): every call is allowed and writes.
        rate.throttle|set_px|evalsha_token) cli flushall >/dev/null ;;
        # Windows per tenant over a small keyspace (each key counted many times): the pair's
        # EXPIRE runs after its INCRBY, on the keys that run made.
        rate.window|incrby) cli flushall >/dev/null ;;
        expire) ;;
    esac
}

command_of() {
    case $1 in
        sadd) echo "SADD bench:set user:__rand_int__" ;;
        enroll) echo "ENROLL bench:trial user:__rand_int__" ;;
        evalsha) echo "EVALSHA $SHA 2 bench:lua:members bench:lua:left user:__rand_int__" ;;
        set) echo "SET lock:__rand_int__ owner-1 NX PX 600000" ;;
        lock.acquire) echo "LOCK.ACQUIRE lock:__rand_int__ owner-1 600000" ;;
        set_ex) echo "SET msg:__rand_int__ 1 NX EX 86400" ;;
        idemp.setnx) echo "IDEMP.SETNX msg:__rand_int__ 86400" ;;
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
    esac
}

# The commandstats entry a kind is measured by.
stat_of() { case $1 in set_ex|set_px) echo set ;; evalsha_sharded|evalsha_token) echo evalsha ;; *) echo "$1" ;; esac; }

# The range of __rand_int__ for a kind: windows count the same keys many times.
keyspace_of() { case $1 in rate.window|incrby|expire) echo "$WINDOW_KEYSPACE" ;; *) echo "$KEYSPACE" ;; esac; }

# field of cmdstat_<name>: calls or usec
cmdstat() {
    cli info commandstats | tr -d '\r' | awk -F'[:,=]' -v name="cmdstat_$1" -v field="$2" '
        $1 == name { for (i = 2; i < NF; i += 2) if ($i == field) print $(i + 1) }'
}

# Releases: redis-benchmark cannot pair a release with its acquire, so `count` locks are taken first
# and then released, each through one pipe (RESP from awk into redis-cli --pipe).
release_take() { case $1 in lock.release) echo 'LOCK.ACQUIRE rl:%d owner-1 600000' ;; release_lua) echo 'SET rl:%d owner-1 NX PX 600000' ;; esac; }
release_give() { case $1 in lock.release) echo 'LOCK.RELEASE rl:%d owner-1' ;; release_lua) echo "EVALSHA $RELEASE_SHA 1 rl:%d owner-1" ;; esac; }
release_stat() { case $1 in lock.release) echo lock.release ;; release_lua) echo evalsha ;; esac; }
pipe_commands() { # format count what
    local out
    out=$(awk -v f="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf f "\r\n", i }' | cli --pipe 2>&1)
    printf '%s\n' "$out" | grep -q 'errors: 0,' || die "$3 failed: $out"
}
