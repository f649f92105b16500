#!/usr/bin/env bash
# bench/sample_results.sh -- writes a made-up but plausible set of benchmark results (every file of
# /work/bench-spec.md: the per-script CSVs with 3 rounds, the goals files and machine.txt) into a
# directory, so bench/charts.sh and bench/report.sh can be tried without running a benchmark:
#
#   bash bench/sample_results.sh /tmp/sample
#   SG_BENCH_RESULTS=/tmp/sample bash bench/charts.sh
#   SG_BENCH_RESULTS=/tmp/sample bash bench/report.sh
#
# The numbers are invented (a fixed seed, so every run writes the same files); never mix them with
# real results. Uses bash and awk only.
#
# Usage: bench/sample_results.sh DIR     (DIR is created if missing; its result files are overwritten)
set -euo pipefail

die() { echo "sample_results: $*" >&2; exit 1; }

[[ $# == 1 && -n $1 ]] || die "usage: bench/sample_results.sh DIR"
DIR=$1
mkdir -p "$DIR" || die "cannot create $DIR"
export LC_ALL=C

# `rounds SEED <<<lines`: for each input line "key... base" print 3 lines "round key... value", the
# value being base with a few per cent of seeded noise (the last field of every line is the base).
noisy() { # seed spread_fraction
    awk -v seed="$1" -v spread="$2" 'BEGIN { srand(seed) }
        { lines[NR] = $0 }
        END {
            for (r = 1; r <= 3; r++)
                for (i = 1; i <= NR; i++) {
                    n = split(lines[i], f, " ")
                    out = r
                    for (j = 1; j < n; j++) out = out "," f[j]
                    printf "%s,%s\n", out, f[n] * (1 + spread * (2 * rand() - 1))
                }
        }'
}

# ---- run.sh: commands, memory, hand-off ---------------------------------------------------------------
{
    echo "round,kind,requests_per_s,calls,usec,us_per_call"
    noisy 11 0.04 <<'EOF' | awk -F, -v OFS=, '{ calls = 2000000; us = $3
        printf "%d,%s,%.2f,%d,%d,%.3f\n", $1, $2, (us > 3 ? 1.2e6 / us : 1.9e6 / (us + 0.15)), calls, calls * us, us }'
sadd 1.10
enroll 1.30
evalsha 5.20
set 1.05
lock.acquire 1.25
set_ex 1.10
idemp.setnx 1.16
decrby 0.90
sharded.decr 1.60
evalsha_sharded 3.80
rate.throttle 1.70
set_px 1.05
evalsha_token 6.10
rate.window 1.22
incrby 0.90
expire 0.82
lock.release 1.00
release_lua 3.10
EOF
} >"$DIR/commands.csv"

cat >"$DIR/memory.csv" <<'EOF'
structure,users,memory_usage_bytes_per_user,used_memory_delta_bytes_per_user
trial,200000,38.4,40.2
set,200000,62.1,60.7
hash,200000,71.5,69.9
EOF

{
    echo "round,way,work_us,handoffs_per_s,attempts_per_acquisition,server_cpu_us_per_handoff,wait_p50_us,wait_p99_us,wait_max_us"
    # way work handoffs/s attempts cpu p50 p99 max: the noise goes on hand-offs/s and CPU only
    noisy 12 0.06 <<'EOF' | awk -F, -v OFS=, '{ split($4, m, ":"); print $1, $2, $3, sprintf("%.0f", $5 * m[1]), m[2], sprintf("%.2f", $5 * m[3]), m[4], m[5], m[6] }'
fifo 0 52000:1.00:8.9:290:610:2400 1
poll1ms 0 8700:13.8:31.5:1650:9400:21000 1
spin 0 41000:118.0:64.0:220:2900:38000 1
fifo 1000 930:1.00:11.8:16800:17300:18900 1
poll1ms 1000 610:3.10:34.0:24500:61000:98000 1
spin 1000 905:410.0:262.0:17100:24800:51000 1
EOF
} >"$DIR/handoff.csv"

cat >"$DIR/instructions.csv" <<'EOF'
kind,instructions_per_call
sadd,2950
enroll,3560
evalsha,24400
set,3120
lock.acquire,3490
lock.release,2870
release_lua,16900
set_ex,3300
idemp.setnx,3230
decrby,2610
sharded.decr,4310
evalsha_sharded,13400
rate.throttle,4120
set_px,3190
evalsha_token,21500
rate.window,3580
incrby,2640
expire,2460
EOF

# ---- scaling.sh ---------------------------------------------------------------------------------------
{
    echo "round,users,command,us_per_call"
    for users in 1000 10000 100000 1000000; do
        # grows a little with log10(users): 1k users -> base, 1M users -> base + 3 * step
        awk -v u="$users" 'BEGIN { s = log(u) / log(10) - 3
            printf "%d ENROLL %.3f\n", u, 1.22 + 0.08 * s
            printf "%d ENROLL.CANCEL %.3f\n", u, 1.12 + 0.09 * s
            printf "%d ENROLL.STATUS %.3f\n", u, 0.74 + 0.05 * s
            printf "%d SADD %.3f\n", u, 1.02 + 0.08 * s
            printf "%d SREM %.3f\n", u, 0.97 + 0.08 * s
            printf "%d SISMEMBER %.3f\n", u, 0.62 + 0.05 * s }'
    done | noisy 13 0.03 | awk -F, -v OFS=, '{ $4 = sprintf("%.3f", $4); print }'
} >"$DIR/scaling_enroll.csv"

{
    echo "round,waiters,us_per_call"
    noisy 14 0.03 <<'EOF' | awk -F, -v OFS=, '{ $3 = sprintf("%.3f", $3); print }'
0 0.88
1 0.89
10 0.89
100 0.90
1000 0.91
10000 0.93
EOF
} >"$DIR/scaling_lock.csv"

# ---- hotkey.sh ----------------------------------------------------------------------------------------
{
    echo "round,shards,sold,stock,takes_per_s,rt_per_take,rt_per_take_last1pc,rt_per_sold_out,hottest_calls_pc,hottest_cpu_pc,crowd_hottest_calls_pc"
    noisy 15 0.03 <<'EOF' | awk -F, -v OFS=, '{ split($3, m, ":")
        if ($2 == 1) $4 = 1   # one shard: the one master takes everything
        print $1, $2, 100000, 100000, sprintf("%.0f", m[1] * $4), m[2], m[3], m[4], sprintf("%.1f", m[5] * $4), sprintf("%.1f", m[6] * $4), m[7] }'
1 210000:1.00:1.00:1.00:100.0:100.0:100.0 1
3 395000:1.04:1.90:1.00:34.6:35.9:34.1 1
6 470000:1.12:2.40:1.00:35.2:37.0:33.9 1
12 505000:1.21:3.10:1.00:34.1:36.2:34.4 1
EOF
} >"$DIR/hotkey.csv"

{
    echo "round,shards,enrolled,capacity,enrollments_per_s,rt_per_enrollment,rt_per_enrollment_last1pc,moves,cpu_us_per_enrolled,hottest_calls_pc,hottest_cpu_pc"
    noisy 16 0.03 <<'EOF' | awk -F, -v OFS=, '{ split($3, m, ":")
        if ($2 == 1) $4 = 1
        print $1, $2, 30000, 30000, sprintf("%.0f", m[1] * $4), m[2], m[3], m[4], m[5], sprintf("%.1f", m[6] * $4), sprintf("%.1f", m[7] * $4) }'
1 182000:1.00:1.00:0:4.10:100.0:100.0 1
3 341000:1.06:2.20:118:4.60:35.8:38.9 1
6 402000:1.15:2.90:205:5.20:36.9:42.6 1
EOF
} >"$DIR/trial.csv"

# ---- goals files (section,comparison,target,median,min,max,instructions,result) ----------------------
cat >"$DIR/goals_commands.csv" <<'EOF'
section,comparison,target,median,min,max,instructions,result
commands,ENROLL / SADD µs/call,<= 1.25,1.18,1.14,1.23,1.21,met
commands,script / ENROLL µs/call,>= 3,4.02,3.87,4.19,6.85,met
commands,LOCK.ACQUIRE / SET NX PX µs/call,<= 1.3,1.19,1.15,1.25,1.12,met
commands,release script / LOCK.RELEASE µs/call,>= 2.5,3.10,2.96,3.22,5.89,met
commands,IDEMP.SETNX / SET NX EX µs/call,<= 1.1,1.05,1.01,1.12,0.98,met
commands,SHARDED.DECR (4 keys) / DECRBY µs/call,<= 2,1.78,1.71,1.90,1.65,met
commands,random-shard script / SHARDED.DECR µs/call,,2.37,2.30,2.51,3.11,-
commands,RATE.THROTTLE / SET PX µs/call,<= 1.5,1.62,1.55,1.71,1.29,missed
commands,token-bucket script / RATE.THROTTLE µs/call,>= 3,3.59,3.42,3.77,5.22,met
commands,RATE.WINDOW / (INCRBY + EXPIRE) µs/call,<= 1,0.71,0.69,0.74,0.70,met
memory,trial / SET bytes per user (MEMORY USAGE),<= 1,0.62,0.62,0.62,,met
memory,trial / SET bytes per user (used_memory Δ),<= 1,0.66,0.65,0.67,,met
memory,trial / HASH bytes per user (MEMORY USAGE),,0.54,0.54,0.54,,-
handoff,FIFO / 1 ms polling hand-offs/s (work 0 µs),>= 2,5.98,5.61,6.30,,met
handoff,1 ms polling / FIFO server CPU µs per hand-off (work 0 µs),>= 2,3.54,3.30,3.71,,met
handoff,FIFO / 1 ms polling hand-offs/s (work 1000 µs),>= 1.2,1.52,1.45,1.60,,met
handoff,1 ms polling / FIFO server CPU µs per hand-off (work 1000 µs),>= 2,2.88,2.71,3.05,,met
EOF

cat >"$DIR/goals_scaling.csv" <<'EOF'
section,comparison,target,median,min,max,instructions,result
scaling,ENROLL µs/call at 1M users / at 1k users,<= 1.5,1.20,1.16,1.24,,met
scaling,ENROLL.CANCEL µs/call at 1M users / at 1k users,<= 1.5,1.24,1.19,1.27,,met
scaling,ENROLL.STATUS µs/call at 1M users / at 1k users,<= 1.5,1.21,1.15,1.25,,met
scaling,ENROLL / SADD µs/call at 1M users,<= 1.25,1.18,1.13,1.22,,met
scaling,LOCK.ACQUIRE refused µs/call with 10000 / 0 waiters,<= 1.2,1.06,1.02,1.09,,met
EOF

cat >"$DIR/goals_hotkey.csv" <<'EOF'
section,comparison,target,median,min,max,instructions,result
hotkey,hot key: takes/s at 12 shards / 1 shard,>= 2,2.40,2.31,2.47,,met
hotkey,hot key: hottest master's share of calls at 12 shards %,<= 40,34.1,33.4,35.0,,met
hotkey,hot key: hottest master's share of CPU at 12 shards %,<= 40,36.2,35.1,37.3,,met
trial,sharded trial: enrollments/s at 6 shards / 1 shard,>= 2,2.21,2.12,2.30,,met
trial,sharded trial: hottest master's share of calls at 6 shards %,<= 40,36.9,36.0,37.8,,met
trial,sharded trial: hottest master's share of CPU at 6 shards %,<= 40,42.6,41.5,43.9,,missed
EOF

cat >"$DIR/machine.txt" <<'EOF'
date=2026-12-02 01:40 UTC
host_cpu=Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz
cpus=8
memory_gib=31.0
kernel=6.1.0-27-amd64
redis_version=7.0.15
slotguard_version=0.9.0
quick=0
EOF

echo "sample results (made up) written to $DIR"
