#!/usr/bin/env bash
# bench/hotkey.sh -- the hot-key benchmark: starts a 3-master Redis Cluster on loopback (free ports,
# temp dirs, the module on every node, always torn down) and runs bench/hotkey.c against it: one hot
# key (S = 1) against S = 3, 6 and 12 shards spread over the masters by libslotguard; then one trial
# key against sharded trials of 3 and 6 shards.
#
# Builds nothing: run `make` and `make build/bench/hotkey` first (or `make bench`, which does).
# Reports PASS/MISS against the goals but never fails on a miss; fails when a sale is not exact.
#
# Environment:
#   SG_HOTKEY_STOCK    units per sale (default 100000)
#   SG_HOTKEY_THREADS  taking threads, one context each (default 32)
#   SG_HOTKEY_CROWD    "sold out" answers each thread collects after the sale (default 200)
#   SG_HOTKEY_SHARDS   shard counts to run (default "1 3 6 12")
#   SG_HOTKEY_CAPACITY capacity of each sharded trial (default 30000)
#   SG_HOTKEY_TRIAL_SHARDS  shard counts of the sharded-trial runs (default "1 3 6")
#   SG_MODULE, SG_REDIS_SERVER as for bench/run.sh; SG_HOTKEY the load generator (build/bench/hotkey)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
HOTKEY=${SG_HOTKEY:-$ROOT/build/bench/hotkey}
STOCK=${SG_HOTKEY_STOCK:-100000}
THREADS=${SG_HOTKEY_THREADS:-32}
CROWD=${SG_HOTKEY_CROWD:-200}
SHARDS=${SG_HOTKEY_SHARDS:-1 3 6 12}
CAPACITY=${SG_HOTKEY_CAPACITY:-30000}
TRIAL_SHARDS=${SG_HOTKEY_TRIAL_SHARDS:-1 3 6}
MASTERS=3

die() { echo "hotkey: $*" >&2; exit 1; }
[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make' (or run 'make bench')"
[[ -x $HOTKEY ]] || die "$HOTKEY not found: build it with 'make build/bench/hotkey' (or run 'make bench')"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slotguard-hotkey.XXXXXX")
PORTS=()
PIDS=()
cleanup() {
    for i in "${!PIDS[@]}"; do
        redis-cli -p "${PORTS[$i]}" shutdown nosave >/dev/null 2>&1 || kill -9 "${PIDS[$i]}" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for m in $(seq 0 $((MASTERS - 1))); do
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        port_free "$port" && port_free $((port + 10000)) && break
    done
    mkdir -p "$WORK/$m"
    "$SERVER" --port "$port" --bind 127.0.0.1 --dir "$WORK/$m" --logfile "$WORK/$m/redis.log" --save "" \
        --appendonly no --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
        --loadmodule "$MODULE" --daemonize no >/dev/null 2>&1 &
    PIDS+=($!)
    PORTS+=("$port")
done
for port in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done
    [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] || die "node on $port did not start"
done
for m in $(seq 0 $((MASTERS - 1))); do
    first=$((m * 16384 / MASTERS)); last=$(((m + 1) * 16384 / MASTERS - 1))
    [[ $(redis-cli -p "${PORTS[$m]}" cluster addslotsrange "$first" "$last") == OK ]] || die "ADDSLOTSRANGE failed"
    [[ $m == 0 ]] || redis-cli -p "${PORTS[0]}" cluster meet 127.0.0.1 "${PORTS[$m]}" >/dev/null
done
for _ in $(seq 1 400); do
    ok=1
    for port in "${PORTS[@]}"; do
        info=$(redis-cli -p "$port" cluster info | tr -d '\r')
        grep -q '^cluster_state:ok' <<<"$info" && grep -q "^cluster_known_nodes:$MASTERS" <<<"$info" || ok=0
    done
    [[ $ok == 1 ]] && break
    sleep 0.05
done
[[ $ok == 1 ]] || die "the cluster did not come up"

masters=$(printf '127.0.0.1:%s,' "${PORTS[@]}"); masters=${masters%,}
echo "hot-key benchmark: $MASTERS masters on loopback ($(nproc 2>/dev/null || echo '?') CPUs), stock $STOCK," \
     "$THREADS threads, then $CROWD sold-out answers per thread; shard counts: $SHARDS"
# shellcheck disable=SC2086
"$HOTKEY" --seeds "127.0.0.1:${PORTS[1]}" --masters "$masters" --stock "$STOCK" --threads "$THREADS" \
    --crowd "$CROWD" $SHARDS >"$WORK/hotkey.out" 2>"$WORK/hotkey.err" || {
    cat "$WORK/hotkey.out" "$WORK/hotkey.err" >&2
    die "a sale was not exact, or the load generator failed"
}
cat "$WORK/hotkey.out"

declare -A F
while read -r line; do
    s=$(sed -n 's/.*shards=\([0-9]*\).*/\1/p' <<<"$line")
    for field in $line; do F[$s,${field%%=*}]=${field#*=}; done
done <"$WORK/hotkey.out"

verdict() { awk -v x="$1" -v op="$2" -v goal="$3" 'BEGIN {
    ok = (op == "<=") ? (x <= goal) : (x >= goal); print ok ? "PASS" : "MISS" }'; }

echo
echo "| shards | sold / stock | takes/s | round trips per take | last 1% | per sold-out answer | hottest master: calls | server CPU | crowd's calls |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $SHARDS; do
    printf '| %s | %s / %s | %s | %s | %s | %s | %s%% | %s%% | %s%% |\n' "$s" "${F[$s,sold]}" "${F[$s,stock]}" \
        "${F[$s,takes_per_s]}" "${F[$s,rt_per_take]}" "${F[$s,rt_per_take_last1pc]}" "${F[$s,rt_per_sold_out]}" \
        "${F[$s,hottest_calls_pc]}" "${F[$s,hottest_cpu_pc]}" "${F[$s,crowd_hottest_calls_pc]}"
done
echo
echo "| goal | shards | measured | result |"
echo "|---|---:|---:|---|"
for s in $SHARDS; do
    [[ $s -ge 3 ]] || continue
    printf '| hottest master ≤ 40%% of the calls | %s | %s%% | %s |\n' "$s" "${F[$s,hottest_calls_pc]}" \
        "$(verdict "${F[$s,hottest_calls_pc]}" "<=" 40)"
    printf '| hottest master ≤ 40%% of the server CPU | %s | %s%% | %s |\n' "$s" "${F[$s,hottest_cpu_pc]}" \
        "$(verdict "${F[$s,hottest_cpu_pc]}" "<=" 40)"
    printf '| ≤ 1.1 round trips per take | %s | %s | %s |\n' "$s" "${F[$s,rt_per_take]}" \
        "$(verdict "${F[$s,rt_per_take]}" "<=" 1.1)"
    printf '| ≤ 3 round trips per take, last 1%% | %s | %s | %s |\n' "$s" "${F[$s,rt_per_take_last1pc]}" \
        "$(verdict "${F[$s,rt_per_take_last1pc]}" "<=" 3)"
    printf '| sold out in far fewer than S round trips (≤ 1.5) | %s | %s | %s |\n' "$s" "${F[$s,rt_per_sold_out]}" \
        "$(verdict "${F[$s,rt_per_sold_out]}" "<=" 1.5)"
done

echo
echo "sharded enrollment: capacity $CAPACITY, $THREADS threads enrolling distinct patients until full; shard counts: $TRIAL_SHARDS"
# shellcheck disable=SC2086
"$HOTKEY" --mode trial --seeds "127.0.0.1:${PORTS[1]}" --masters "$masters" --stock "$CAPACITY" --threads "$THREADS" \
    $TRIAL_SHARDS >"$WORK/trial.out" 2>"$WORK/trial.err" || {
    cat "$WORK/trial.out" "$WORK/trial.err" >&2
    die "a sharded trial did not end with exactly its capacity enrolled, or the load generator failed"
}
cat "$WORK/trial.out"
declare -A T
while read -r line; do
    s=$(sed -n 's/.*shards=\([0-9]*\).*/\1/p' <<<"$line")
    for field in $line; do T[$s,${field%%=*}]=${field#*=}; done
done <"$WORK/trial.out"
first=${TRIAL_SHARDS%% *}
echo
echo "| shards | enrolled / capacity | enrollments/s | round trips per enrollment | last 1% | moves | server CPU µs per enrolled user (all masters) | hottest master: commands | its CPU |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $TRIAL_SHARDS; do
    printf '| %s | %s / %s | %s | %s | %s | %s | %s | %s%% | %s%% |\n' "$s" "${T[$s,enrolled]}" "${T[$s,capacity]}" \
        "${T[$s,enrollments_per_s]}" "${T[$s,rt_per_enrollment]}" "${T[$s,rt_per_enrollment_last1pc]}" "${T[$s,moves]}" \
        "${T[$s,cpu_us_per_enrolled]}" "${T[$s,hottest_calls_pc]}" "${T[$s,hottest_cpu_pc]}"
done
echo
echo "| goal | shards | measured | result |"
echo "|---|---:|---:|---|"
for s in $TRIAL_SHARDS; do
    [[ $s -ge 3 ]] || continue
    printf '| hottest master ≤ 40%% of the commands | %s | %s%% | %s |\n' "$s" "${T[$s,hottest_calls_pc]}" \
        "$(verdict "${T[$s,hottest_calls_pc]}" "<=" 40)"
    printf '| hottest master ≤ 40%% of the server CPU | %s | %s%% | %s |\n' "$s" "${T[$s,hottest_cpu_pc]}" \
        "$(verdict "${T[$s,hottest_cpu_pc]}" "<=" 40)"
    printf '| ≤ 1.2 round trips per enrollment | %s | %s | %s |\n' "$s" "${T[$s,rt_per_enrollment]}" \
        "$(verdict "${T[$s,rt_per_enrollment]}" "<=" 1.2)"
    ratio=$(awk -v a="${T[$s,cpu_us_per_enrolled]}" -v b="${T[$first,cpu_us_per_enrolled]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    printf '| server CPU per enrolled user ≤ 1.5 × the single trial key'"'"'s | %s | %s× | %s |\n' "$s" "$ratio" \
        "$(verdict "$ratio" "<=" 1.5)"
done
