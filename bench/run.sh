#!/usr/bin/env bash
# SlotGuard benchmark: one redis-server, one run, native commands and their Lua equivalents side by
# side. Reports server time per call (INFO commandstats, reset before each measurement) and
# throughput (redis-benchmark), and bytes per enrolled user against a native SET.
#
#   SG_BENCH_N        requests per measurement (default 1000000)
#   SG_BENCH_ROUNDS   interleaved rounds; figures are medians (default 3)
#   SG_BENCH_USERS    ids for the memory comparison (default 200000)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
module="$top/module/slotguard.so"
[ -f "$module" ] || { echo "bench: $module not built (run make)" >&2; exit 1; }
n=${SG_BENCH_N:-1000000}
rounds=${SG_BENCH_ROUNDS:-3}
users=${SG_BENCH_USERS:-200000}

dir=$(mktemp -d /tmp/slotguard-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
       echo $((20000 + RANDOM % 20000)))
cleanup() { redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
  --loadmodule "$module" --daemonize yes --logfile "$dir/redis.log"
cli() { redis-cli -p "$port" "$@"; }
for _ in $(seq 50); do cli ping >/dev/null 2>&1 && break; sleep 0.1; done

# Today's scripts, as users run them.
enroll_lua='if redis.call("SISMEMBER", KEYS[1], ARGV[1]) == 1 then return -1 end
local r = tonumber(redis.call("GET", KEYS[2]))
if r == nil or r <= 0 then return 0 end
redis.call("DECR", KEYS[2]); redis.call("SADD", KEYS[1], ARGV[1]); return 1'
release_lua='if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end'
enroll_sha=$(cli script load "$enroll_lua")
release_sha=$(cli script load "$release_lua")

big=1000000000000
# One measurement: name, commandstats entry, then the redis-benchmark command.
# Prints "usec_per_call requests_per_second".
measure() {
  local stat=$1; shift
  cli config resetstat >/dev/null
  local rps
  rps=$(redis-benchmark -p "$port" -n "$n" -c 50 -P 16 -r 100000000 --csv "$@" 2>/dev/null |
        awk -F'","' 'NR==2 {print $2}' | tr -d '"')
  local us
  us=$(cli info commandstats | tr -d '\r' | awk -F'usec_per_call=' -v s="cmdstat_$stat:" 'index($0, s) == 1 {split($2, a, ","); print a[1]}')
  echo "$us $rps"
}

# Server time per call of `then` over pipe_n names after `first` ran on each (both printf formats).
pipe_n=${SG_BENCH_PIPE_N:-200000}
measure_pipe() {
  local stat=$1 first=$2 then=$3
  cli flushall >/dev/null # an empty keyspace, so neither side pays for a dict rehash the other caused
  seq 1 "$pipe_n" | awk -v f="$first" '{printf f "\r\n", $1}' | cli --pipe >/dev/null
  cli config resetstat >/dev/null
  seq 1 "$pipe_n" | awk -v f="$then" '{printf f "\r\n", $1}' | cli --pipe >/dev/null
  cli info commandstats | tr -d '\r' | awk -F'usec_per_call=' -v s="cmdstat_$stat:" 'index($0, s) == 1 {split($2, a, ","); print a[1]}'
}

declare -A US RPS
record() { US[$1]+="${2} "; RPS[$1]+="${3} "; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "bench: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port, n=$n per run, $rounds rounds, -c 50 -P 16, random users"
for round in $(seq "$rounds"); do
  cli flushall >/dev/null
  cli slots.init bench:trial $big >/dev/null
  cli set bench:remaining $big >/dev/null
  read -r us rps < <(measure sadd sadd bench:set user:__rand_int__); record sadd "$us" "$rps"
  read -r us rps < <(measure enroll enroll bench:trial user:__rand_int__); record enroll "$us" "$rps"
  read -r us rps < <(measure evalsha evalsha "$enroll_sha" 2 bench:users bench:remaining user:__rand_int__); record enroll_lua "$us" "$rps"
  # Locks: one acquire per random name (all succeed), and the same with SET NX PX.
  read -r us rps < <(measure set set lock:__rand_int__ owner-1 NX PX 60000); record set_nx_px "$us" "$rps"
  read -r us rps < <(measure lock.acquire lock.acquire lk:__rand_int__ owner-1 60000); record lock_acquire "$us" "$rps"
  # Releases of held locks: redis-benchmark cannot pair a release with its acquire, so the locks
  # are taken first and released through one pipe (server time per call does not depend on the
  # client); throughput is not reported for these two.
  read -r us < <(measure_pipe lock.release "LOCK.ACQUIRE rl:%d owner-1 600000" "LOCK.RELEASE rl:%d owner-1"); record lock_release "$us" "-"
  read -r us < <(measure_pipe evalsha "SET rs:%d owner-1 NX PX 600000" "EVALSHA $release_sha 1 rs:%d owner-1"); record release_lua "$us" "-"
  echo "  round $round done"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v r="$1" -v g="$2" -v dir="$3" 'BEGIN {ok = (dir == "le") ? (r <= g) : (r >= g); print ok ? "PASS" : "MISS"}'; }

printf '\n%-34s %14s %16s\n' "command" "server us/call" "requests/s"
for k in sadd enroll enroll_lua set_nx_px lock_acquire lock_release release_lua; do
  printf '%-34s %14s %16s\n' "$k" "$(echo "${US[$k]}" | median)" "$(echo "${RPS[$k]}" | median)"
done
sadd=$(echo "${US[sadd]}" | median); enroll=$(echo "${US[enroll]}" | median); lua=$(echo "${US[enroll_lua]}" | median)
setnx=$(echo "${US[set_nx_px]}" | median); acq=$(echo "${US[lock_acquire]}" | median)
rel=$(echo "${US[lock_release]}" | median); rel_lua=$(echo "${US[release_lua]}" | median)
r1=$(ratio "$enroll" "$sadd"); r2=$(ratio "$lua" "$enroll"); r3=$(ratio "$acq" "$setnx"); r4=$(ratio "$rel_lua" "$rel")
echo
echo "ENROLL / SADD                 ${r1}x  (goal <= 1.25x)  $(verdict "$r1" 1.25 le)"
echo "Lua enroll script / ENROLL    ${r2}x  (goal >= 3x)     $(verdict "$r2" 3 ge)"
echo "LOCK.ACQUIRE / SET NX PX      ${r3}x  (goal <= 1.3x)   $(verdict "$r3" 1.3 le)"
echo "Lua release script / RELEASE  ${r4}x  (goal >= 2.5x)   $(verdict "$r4" 2.5 ge)"

# Memory: the same ids in a native SET and in a trial.
cli flushall >/dev/null
cli slots.init mem:trial $big >/dev/null
before=$(cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
seq 1 "$users" | awk '{printf "SADD mem:set user:%012d\r\n", $1}' | cli --pipe >/dev/null
mid=$(cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
seq 1 "$users" | awk '{printf "ENROLL mem:trial user:%012d\r\n", $1}' | cli --pipe >/dev/null
after=$(cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
set_usage=$(cli memory usage mem:set samples 0)
trial_usage=$(cli memory usage mem:trial samples 0)
[ "$(cli scard mem:set)" = "$users" ] || { echo "bench: SET holds $(cli scard mem:set) ids, expected $users" >&2; exit 1; }
enrolled=$(cli slots.info mem:trial | sed -n 6p)
[ "$enrolled" = "$users" ] || { echo "bench: trial holds $enrolled users, expected $users" >&2; exit 1; }
set_b=$(ratio "$set_usage" "$users"); trial_b=$(ratio "$trial_usage" "$users")
set_d=$(ratio "$((mid - before))" "$users"); trial_d=$(ratio "$((after - mid))" "$users")
r5=$(ratio "$trial_usage" "$set_usage")
echo
echo "memory, $users ids of 17 bytes      MEMORY USAGE/id   used_memory delta/id"
echo "  native SET                         $set_b B          $set_d B"
echo "  SlotGuard trial                    $trial_b B          $trial_d B"
echo "trial / SET (MEMORY USAGE)    ${r5}x  (goal <= 1x)     $(verdict "$r5" 1 le)"
