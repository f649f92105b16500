#!/usr/bin/env bash
# bench/hotkey.sh -- the hot-key benchmark: starts a 3-master Redis Cluster on loopback (free ports,
# temp dirs, the module on every node, always torn down) and runs bench/hotkey.c against it: one hot
# key (S = 1) against S = 3, 6 and 12 shards spread over the masters by libslotguard; then one trial
# key against sharded trials of 3 and 6 shards.
#
# Rounds are interleaved on the one cluster: round 1 is the sale for every shard count, then the
# sharded trials for every shard count; round 2 the same; and so on. Every run has key names of its
# own round (--name hotkey-r<round>) and every master is flushed before each run, so no run sees
# the keys of another. Writes into the results directory, replacing only these files:
#   hotkey.csv        one row per round and shard count of the sale
#   trial.csv         one row per round and shard count of the sharded trials
#   goals_hotkey.csv  every goal for S >= 3: median, min and max over the rounds, met or missed
# (formats in bench-spec: section hotkey for the sale, trial for sharded enrollment), and prints
# the same as markdown tables of medians with the spread, median (min–max).
#
# Builds nothing: run `make` and `make build/bench/hotkey` first (or `make bench`, which does).
# Never fails on a missed goal; fails (exit 1) when a sale or a trial is not exact, or the load
# generator fails.
#
# Environment (the defaults of SG_BENCH_QUICK=1 in brackets):
#   SG_BENCH_RESULTS   results directory (default bench/results; created if missing)
#   SG_BENCH_ROUNDS    rounds, a positive integer (default 3)
#   SG_BENCH_QUICK     1 for a short pass: the smaller defaults below, still SG_BENCH_ROUNDS rounds
#   SG_HOTKEY_STOCK    units per sale (default 100000 [20000])
#   SG_HOTKEY_THREADS  taking threads, one context each (default 32 [16])
#   SG_HOTKEY_CROWD    "sold out" answers each thread collects after the sale (default 200 [50])
#   SG_HOTKEY_SHARDS   shard counts to run (default "1 3 6 12" ["1 3 6"])
#   SG_HOTKEY_CAPACITY capacity of each sharded trial (default 30000 [10000])
#   SG_HOTKEY_TRIAL_SHARDS  shard counts of the sharded-trial runs (default "1 3 6" ["1 3"]); the CPU
#                      goal compares each with S = 1 of the same round, so keep 1 in the list
#   SG_MODULE, SG_REDIS_SERVER as for bench/run.sh; SG_HOTKEY the load generator (build/bench/hotkey)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE=${SG_MODULE:-$ROOT/module/slotguard.so}
SERVER=${SG_REDIS_SERVER:-redis-server}
HOTKEY=${SG_HOTKEY:-$ROOT/build/bench/hotkey}
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
ROUNDS=${SG_BENCH_ROUNDS:-3}
if [[ ${SG_BENCH_QUICK:-0} == 1 ]]; then
    STOCK=${SG_HOTKEY_STOCK:-20000}
    THREADS=${SG_HOTKEY_THREADS:-16}
    CROWD=${SG_HOTKEY_CROWD:-50}
    SHARDS=${SG_HOTKEY_SHARDS:-1 3 6}
    CAPACITY=${SG_HOTKEY_CAPACITY:-10000}
    TRIAL_SHARDS=${SG_HOTKEY_TRIAL_SHARDS:-1 3}
else
    STOCK=${SG_HOTKEY_STOCK:-100000}
    THREADS=${SG_HOTKEY_THREADS:-32}
    CROWD=${SG_HOTKEY_CROWD:-200}
    SHARDS=${SG_HOTKEY_SHARDS:-1 3 6 12}
    CAPACITY=${SG_HOTKEY_CAPACITY:-30000}
    TRIAL_SHARDS=${SG_HOTKEY_TRIAL_SHARDS:-1 3 6}
fi
MASTERS=3

die() { echo "hotkey: $*" >&2; exit 1; }
[[ -f $MODULE ]] || die "$MODULE not found: build it first with 'make' (or run 'make bench')"
[[ -x $HOTKEY ]] || die "$HOTKEY not found: build it with 'make build/bench/hotkey' (or run 'make bench')"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "SG_BENCH_ROUNDS must be a positive integer, not '$ROUNDS'"
for s in $SHARDS $TRIAL_SHARDS; do [[ $s =~ ^[1-9][0-9]*$ ]] || die "shard counts must be positive integers, not '$s'"; done
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
# A failed run leaves none of this script's files behind rather than an older run's.
rm -f "$RESULTS/hotkey.csv" "$RESULTS/trial.csv" "$RESULTS/goals_hotkey.csv"

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
SALE_COLUMNS="shards sold stock takes_per_s rt_per_take rt_per_take_last1pc rt_per_sold_out hottest_calls_pc hottest_cpu_pc crowd_hottest_calls_pc"
TRIAL_COLUMNS="shards enrolled capacity enrollments_per_s rt_per_enrollment rt_per_enrollment_last1pc moves cpu_us_per_enrolled hottest_calls_pc hottest_cpu_pc"
echo "round,${SALE_COLUMNS// /,}" >"$WORK/hotkey.csv"
echo "round,${TRIAL_COLUMNS// /,}" >"$WORK/trial.csv"
echo "round,shards,cpu_ratio" >"$WORK/trial_ratio.csv"

# Every master empty before a run: the next run's memory and CPU owe nothing to the last one's keys.
flush_masters() {
    local port
    for port in "${PORTS[@]}"; do
        [[ $(redis-cli -p "$port" flushall | tr -d '\r') == OK ]] || die "FLUSHALL on $port failed"
    done
}

# csv_rows ROUND "COLUMNS": the generator's key=value lines on stdin as CSV rows (ROUND, COLUMNS...);
# fails when a line lacks one of the columns.
csv_rows() {
    awk -v round="$1" -v columns="$2" 'BEGIN { n = split(columns, column, " ") }
        NF > 0 {
            delete field
            for (i = 1; i <= NF; i++) { key = $i; sub(/=.*/, "", key); value = $i; sub(/^[^=]*=/, "", value); field[key] = value }
            row = round
            for (i = 1; i <= n; i++) { if (!(column[i] in field)) missing = 1; row = row "," field[column[i]] }
            print row
        }
        END { exit missing }'
}

# check_rows FILE ROUND "SHARDS" COUNT TOTAL: the round has one row per shard count, in order, and in
# each the COUNT column (sold, enrolled) equals the TOTAL column (stock, capacity).
check_rows() {
    awk -F, -v round="$2" -v shards="$3" -v count="$4" -v total="$5" '
        NR == 1 { for (i = 1; i <= NF; i++) at[$i] = i; next }
        $1 == round { got = got (got == "" ? "" : " ") $at["shards"]; if ($at[count] != $at[total]) bad = bad " S = " $at["shards"] }
        END { if (got != shards) { print "shard counts \"" got "\" instead of \"" shards "\""; exit 1 }
              if (bad != "") { print count " differs from " total " for" bad; exit 1 } }' "$1"
}

normalize() { local s; for s in $1; do printf '%s ' "$s"; done | sed 's/ $//'; }
SHARDS=$(normalize "$SHARDS")
TRIAL_SHARDS=$(normalize "$TRIAL_SHARDS")

# run_generator ROUND MODE "SHARDS" TOTAL: one invocation of the load generator for every shard count.
run_generator() {
    local round=$1 mode=$2 shards=$3 total=$4 out=$WORK/$2.r$1.out err=$WORK/$2.r$1.err
    flush_masters
    # shellcheck disable=SC2086
    "$HOTKEY" --mode "$mode" --name "hotkey-r$round" --seeds "127.0.0.1:${PORTS[1]}" --masters "$masters" \
        --stock "$total" --threads "$THREADS" --crowd "$CROWD" $shards >"$out" 2>"$err" || {
        cat "$out" "$err" >&2
        if [[ $mode == counter ]]; then die "round $round: a sale was not exact, or the load generator failed"; fi
        die "round $round: a sharded trial did not end with exactly its capacity enrolled, or the load generator failed"
    }
}

echo "hot-key benchmark: $MASTERS masters on loopback ($(nproc 2>/dev/null || echo '?') CPUs), $ROUNDS rounds;" \
     "sale: stock $STOCK, $THREADS threads, then $CROWD sold-out answers per thread, shard counts $SHARDS;" \
     "sharded enrollment: capacity $CAPACITY, $THREADS threads enrolling distinct patients until full, shard counts $TRIAL_SHARDS"
for round in $(seq 1 "$ROUNDS"); do
    started=$EPOCHREALTIME
    run_generator "$round" counter "$SHARDS" "$STOCK"
    csv_rows "$round" "$SALE_COLUMNS" <"$WORK/counter.r$round.out" >>"$WORK/hotkey.csv" ||
        die "round $round: the generator's sale output lacks a field: $(cat "$WORK/counter.r$round.out")"
    problem=$(check_rows "$WORK/hotkey.csv" "$round" "$SHARDS" sold stock) || die "round $round, sale: $problem"
    sale_done=$EPOCHREALTIME
    run_generator "$round" trial "$TRIAL_SHARDS" "$CAPACITY"
    csv_rows "$round" "$TRIAL_COLUMNS" <"$WORK/trial.r$round.out" >>"$WORK/trial.csv" ||
        die "round $round: the generator's trial output lacks a field: $(cat "$WORK/trial.r$round.out")"
    problem=$(check_rows "$WORK/trial.csv" "$round" "$TRIAL_SHARDS" enrolled capacity) || die "round $round, trial: $problem"
    # Server CPU per enrolled user against this round's single trial key (S = 1).
    awk -F, -v round="$round" 'NR > 1 && $1 == round { cpu[$2] = $9; order[++n] = $2 }
        END { if (!(1 in cpu) || cpu[1] <= 0) exit
              for (i = 1; i <= n; i++) if (order[i] >= 3) printf "%s,%s,%.3f\n", round, order[i], cpu[order[i]] / cpu[1] }' \
        "$WORK/trial.csv" >>"$WORK/trial_ratio.csv"
    awk -v r="$round" -v rounds="$ROUNDS" -v a="$started" -v b="$sale_done" -v c="$EPOCHREALTIME" \
        'BEGIN { printf "round %d/%d: sale %.1f s, sharded trials %.1f s\n", r, rounds, b - a, c - b }'
done
flush_masters

# stats FILE COLUMN SHARDS: "median min max" of COLUMN over the rounds' rows for that shard count. The
# median keeps the values' decimals (one more when it is the mean of the two middle values and needs it).
stats() {
    awk -F, -v column="$2" -v shards="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) at[$i] = i; next }
        $at["shards"] == shards {
            x = $at[column]; v[++n] = x
            d = index(x, ".") ? length(x) - index(x, ".") : 0; if (d > decimals) decimals = d
        }
        END {
            if (n == 0) exit 1
            for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > x + 0; j--) v[j + 1] = v[j]; v[j + 1] = x }
            if (n % 2) median = v[(n + 1) / 2]
            else {
                median = sprintf("%." (decimals + 1) "f", (v[n / 2] + v[n / 2 + 1]) / 2)
                sub(/0$/, "", median); sub(/\.$/, "", median)
            }
            print median, v[1], v[n]
        }' "$1"
}
# spread FILE COLUMN SHARDS [UNIT]: "median (min–max)" for the tables.
spread() {
    local median min max
    read -r median min max < <(stats "$1" "$2" "$3")
    printf '%s%s (%s–%s%s)' "$median" "${4:-}" "$min" "$max" "${4:-}"
}

GOALS=$WORK/goals_hotkey.csv
echo "section,comparison,target,median,min,max,instructions,result" >"$GOALS"
# goal SECTION COMPARISON TARGET FILE COLUMN SHARDS: one goals row, judged on the median.
goal() {
    local median min max result
    read -r median min max < <(stats "$4" "$5" "$6") || return 0
    result=$(awk -v x="$median" -v target="$3" 'BEGIN { split(target, t, " ")
        ok = (t[1] == "<=") ? (x + 0 <= t[2] + 0) : (x + 0 >= t[2] + 0); print ok ? "met" : "missed" }')
    echo "$1,$2,$3,$median,$min,$max,,$result" >>"$GOALS"
}
for s in $SHARDS; do
    [[ $s -ge 3 ]] || continue
    goal hotkey "hot-key sale: hottest master's share of the calls (S = $s) %" "<= 40" "$WORK/hotkey.csv" hottest_calls_pc "$s"
    goal hotkey "hot-key sale: hottest master's share of the server CPU (S = $s) %" "<= 40" "$WORK/hotkey.csv" hottest_cpu_pc "$s"
    goal hotkey "hot-key sale: round trips per take (S = $s)" "<= 1.1" "$WORK/hotkey.csv" rt_per_take "$s"
    goal hotkey "hot-key sale: round trips per take over the last 1 percent (S = $s)" "<= 3" "$WORK/hotkey.csv" rt_per_take_last1pc "$s"
    goal hotkey "hot-key sale: round trips per sold-out answer (S = $s)" "<= 1.5" "$WORK/hotkey.csv" rt_per_sold_out "$s"
done
for s in $TRIAL_SHARDS; do
    [[ $s -ge 3 ]] || continue
    goal trial "sharded trial: hottest master's share of the commands (S = $s) %" "<= 40" "$WORK/trial.csv" hottest_calls_pc "$s"
    goal trial "sharded trial: hottest master's share of the server CPU (S = $s) %" "<= 40" "$WORK/trial.csv" hottest_cpu_pc "$s"
    goal trial "sharded trial: round trips per enrollment (S = $s)" "<= 1.2" "$WORK/trial.csv" rt_per_enrollment "$s"
    goal trial "sharded trial: server CPU per enrolled user (S = $s) / one trial key's" "<= 1.5" "$WORK/trial_ratio.csv" cpu_ratio "$s"
done
cp "$WORK/hotkey.csv" "$WORK/trial.csv" "$GOALS" "$RESULTS/" || die "cannot write into $RESULTS"

echo
echo "Sale, medians over $ROUNDS rounds (min–max); every round sold exactly the stock:"
echo
echo "| shards | sold / stock | takes/s | round trips per take | last 1% | per sold-out answer | hottest master: calls | server CPU | crowd's calls |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $SHARDS; do
    printf '| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$STOCK" "$STOCK" \
        "$(spread "$WORK/hotkey.csv" takes_per_s "$s")" "$(spread "$WORK/hotkey.csv" rt_per_take "$s")" \
        "$(spread "$WORK/hotkey.csv" rt_per_take_last1pc "$s")" "$(spread "$WORK/hotkey.csv" rt_per_sold_out "$s")" \
        "$(spread "$WORK/hotkey.csv" hottest_calls_pc "$s" %)" "$(spread "$WORK/hotkey.csv" hottest_cpu_pc "$s" %)" \
        "$(spread "$WORK/hotkey.csv" crowd_hottest_calls_pc "$s" %)"
done
echo
echo "Sharded enrollment, medians over $ROUNDS rounds (min–max); every round enrolled exactly the capacity:"
echo
echo "| shards | enrolled / capacity | enrollments/s | round trips per enrollment | last 1% | moves | server CPU µs per enrolled user (all masters) | hottest master: commands | its CPU |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $TRIAL_SHARDS; do
    printf '| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$CAPACITY" "$CAPACITY" \
        "$(spread "$WORK/trial.csv" enrollments_per_s "$s")" "$(spread "$WORK/trial.csv" rt_per_enrollment "$s")" \
        "$(spread "$WORK/trial.csv" rt_per_enrollment_last1pc "$s")" "$(spread "$WORK/trial.csv" moves "$s")" \
        "$(spread "$WORK/trial.csv" cpu_us_per_enrolled "$s")" "$(spread "$WORK/trial.csv" hottest_calls_pc "$s" %)" \
        "$(spread "$WORK/trial.csv" hottest_cpu_pc "$s" %)"
done
echo
echo "Goals, judged on the median:"
echo
echo "| section | comparison | target | median (min–max) | result |"
echo "|---|---|---:|---:|---|"
tail -n +2 "$GOALS" | while IFS=, read -r section comparison target median min max _ result; do
    printf '| %s | %s | %s | %s (%s–%s) | %s |\n' "$section" "$comparison" "${target/<=/≤}" "$median" "$min" "$max" "$result"
done
echo
echo "hotkey: wrote hotkey.csv, trial.csv and goals_hotkey.csv into $RESULTS"
