#!/usr/bin/env bash
# bench/charts.sh -- draws the benchmark charts (gnuplot PNGs, 900x500) from the CSVs the measuring
# scripts left in the results directory, into the same directory:
#   ratios.png          goals_commands.csv: each ratio goal's median, min-max and target
#   scaling_enroll.png  scaling_enroll.csv: µs/call vs users (log x), ENROLL* and their native peers
#   scaling_lock.png    scaling_lock.csv: LOCK.ACQUIRE µs/call vs queued waiters
#   memory.png          memory.csv: bytes per user by structure, both measures
#   hotkey.png          hotkey.csv + trial.csv: hottest master's share of calls and CPU vs shards
#   handoff.png         handoff.csv: hand-offs/s and server CPU µs per hand-off per way and work
# Medians (and min-max) over the rounds are computed here from the per-round rows. A missing CSV
# skips its chart with a note on stderr; machine.txt, when present, gives each chart's subtitle.
# Uses bash, awk and gnuplot (Debian: gnuplot-nox); the pngcairo terminal if gnuplot has it, else png.
#
# Environment:
#   SG_BENCH_RESULTS  results directory to read and write (default bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
export LC_ALL=C.UTF-8

die() { echo "charts: $*" >&2; exit 1; }
note() { echo "charts: $*" >&2; }

command -v gnuplot >/dev/null 2>&1 || die "gnuplot not found in PATH: install it (Debian: apt-get install gnuplot-nox)"
command -v awk >/dev/null 2>&1 || die "awk not found in PATH"
mkdir -p "$RESULTS" || die "cannot create the results directory $RESULTS"
[[ $RESULTS != *'"'* ]] || die "results directory must not contain a double quote: $RESULTS"

if gnuplot -e 'set terminal' </dev/null 2>&1 | grep -qw pngcairo; then
    TERMINAL='pngcairo size 900,500 font "DejaVu Sans,10" noenhanced'
else
    TERMINAL='png size 900,500 font "DejaVu Sans,10" noenhanced'
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/slotguard-charts.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# SUBLINE "<host_cpu>, <cpus> CPUs · Redis <version> · <date>" from machine.txt, or empty;
# SUBTITLE: a gnuplot "\n" and SUBLINE, to append to a title (or empty).
SUBLINE='' SUBTITLE=''
if [[ -f $RESULTS/machine.txt ]]; then
    SUBLINE=$(awk '{ i = index($0, "="); if (i) m[substr($0, 1, i - 1)] = substr($0, i + 1) }
        END { s = m["host_cpu"] ", " m["cpus"] " CPUs · Redis " m["redis_version"] " · " m["date"]
              gsub(/["\\]/, "", s); print s }' "$RESULTS/machine.txt")
    SUBTITLE="\\n$SUBLINE"
fi

# `has_rows FILE`: RESULTS/FILE exists and has a row below its header.
has_rows() { [[ -f $RESULTS/$1 ]] && awk 'NR > 1 && NF { found = 1; exit } END { exit !found }' "$RESULTS/$1"; }

# `have FILE CHART`: has_rows FILE, or a note that CHART is skipped.
have() { has_rows "$1" || { note "$1 not found or empty in $RESULTS: skipping $2"; return 1; }; }

# `stats FILE "key columns" "value columns"`: one line per distinct key (first-seen order):
# the key fields, then median,min,max of each value column over the rows (the rounds) of that key.
stats() {
    awk -F, -v keys="$2" -v values="$3" -v file="$1" '
        function median(v, n,   i, j, t) { # sorts v[1..n]
            for (i = 2; i <= n; i++) {
                t = v[i]
                for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
                v[j + 1] = t
            }
            return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        NR == 1 {
            for (i = 1; i <= NF; i++) col[$i] = i
            nk = split(keys, kn, " "); nv = split(values, vn, " "); split(keys " " values, need, " ")
            for (i in need) if (!(need[i] in col)) { print "charts: " file ": no column " need[i] > "/dev/stderr"; exit 2 }
            next
        }
        NF == 0 { next }
        {
            k = $col[kn[1]]
            for (i = 2; i <= nk; i++) k = k "," $col[kn[i]]
            if (!(k in count)) order[++keys_seen] = k
            n = ++count[k]
            for (i = 1; i <= nv; i++) vals[k, i, n] = $col[vn[i]] + 0
        }
        END {
            for (o = 1; o <= keys_seen; o++) {
                k = order[o]; line = k; n = count[k]
                for (i = 1; i <= nv; i++) {
                    for (j = 1; j <= n; j++) v[j] = vals[k, i, j]
                    m = median(v, n)
                    line = line sprintf(",%.6g,%.6g,%.6g", m, v[1], v[n])
                }
                print line
            }
        }' "$RESULTS/$1"
}

# `plot_png NAME`: runs the gnuplot script on stdin (after the common settings) to write NAME.
plot_png() {
    {
        printf 'set terminal %s\nset output "%s/%s"\n' "$TERMINAL" "$RESULTS" "$1"
        printf 'set encoding utf8\nset datafile separator ","\nset border 3\nset tics nomirror\n'
        printf 'set grid lc rgb "#dddddd"\nset style fill solid 0.75 noborder\nset key noautotitle\n'
        cat
    } >"$TMP/$1.gp"
    gnuplot "$TMP/$1.gp" || die "gnuplot failed on $1 (its message is above)"
    echo "charts: wrote $RESULTS/$1"
}

# ---- ratios.png: the ratio goals of section commands --------------------------------------------------
if have goals_commands.csv ratios.png; then
    # y (top row first), label, median, min, max, target, colour; a % comparison is not a ratio
    awk -F, 'NR > 1 && $1 == "commands" && $3 != "" && $2 !~ /%$/ { row[++n] = $0 }
        END { for (i = 1; i <= n; i++) { split(row[i], f, ","); t = f[3]; sub(/^[<>]=[ ]*/, "", t)
                  printf "%d,%s,%s,%s,%s,%s,%s\n", n - i, f[2], f[4], f[5], f[6], t, (f[8] == "met") ? "0x2e8b57" : "0xd62728" } }' \
        "$RESULTS/goals_commands.csv" >"$TMP/ratios.csv"
    rows=$(awk 'END { print NR }' "$TMP/ratios.csv")
    if [[ $rows == 0 ]]; then
        note "goals_commands.csv has no ratio goals: skipping ratios.png"
    else
        xmax=$(awk -F, '{ if ($5 > m) m = $5; if ($6 > m) m = $6 } END { print m * 1.15 }' "$TMP/ratios.csv")
        plot_png ratios.png <<EOF
set label 1 "Command goals: SlotGuard against what it replaces (server µs/call ratios)" at screen 0.5, screen 0.96 center font ",11"
set label 2 "$SUBLINE" at screen 0.5, screen 0.915 center
set tmargin 4.5
set xlabel "ratio (bar: median; whisker: min–max)"
set xrange [0:$xmax]
set yrange [-0.6:$rows - 0.4]
set ytics scale 0
set grid noytics xtics
set bmargin 5.5
set key at screen 0.5, screen 0.02 center bottom horizontal
plot "$TMP/ratios.csv" using 3:1:(0):3:(\$1 - 0.32):(\$1 + 0.32):7:ytic(2) with boxxyerror lc rgb variable, \
     "" using 4:1:(\$5 - \$4):(0) with vectors heads size screen 0.008,90 lw 1.5 lc rgb "#333333", \
     "" using 6:(\$1 - 0.42):(0):(0.84) with vectors nohead lw 3 lc rgb "black" title "goal", \
     "" using (\$5 > \$6 ? \$5 : \$6):1:(sprintf("  %.2f", \$3)) with labels left, \
     NaN with boxes lc rgb "#2e8b57" title "met", NaN with boxes lc rgb "#d62728" title "missed"
EOF
    fi
fi

# ---- scaling_enroll.png: µs/call vs users ------------------------------------------------------------
if have scaling_enroll.csv scaling_enroll.png; then
    stats scaling_enroll.csv "users command" "us_per_call" | sort -t, -k1,1n >"$TMP/enroll.csv"
    plots=()
    # each SlotGuard command solid, its native peer of the same colour dashed
    for spec in ENROLL:0x1f77b4:1 SADD:0x1f77b4:2 ENROLL.CANCEL:0xff7f0e:1 SREM:0xff7f0e:2 \
        ENROLL.STATUS:0x2ca02c:1 SISMEMBER:0x2ca02c:2; do
        IFS=: read -r cmd colour dash <<<"$spec"
        awk -F, -v c="$cmd" '$2 == c { print $1 "," $3 "," $4 "," $5 }' "$TMP/enroll.csv" >"$TMP/enroll.$cmd.csv"
        [[ -s $TMP/enroll.$cmd.csv ]] || continue
        plots+=("\"$TMP/enroll.$cmd.csv\" using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.8 dt $dash lc rgb $colour title \"$cmd\"")
    done
    if ((${#plots[@]} == 0)); then
        note "scaling_enroll.csv has no known command: skipping scaling_enroll.png"
    else
        plot_png scaling_enroll.png <<EOF
set title "ENROLL, ENROLL.CANCEL, ENROLL.STATUS against SADD, SREM, SISMEMBER by trial size$SUBTITLE"
set xlabel "users in the trial (native commands: a SET of the same size)"
set ylabel "server µs/call (median, whiskers min–max)"
set logscale x
set format x "%.0s%c"
set xrange [*:*] noextend
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
set key outside right top
plot $(IFS=,; echo "${plots[*]}")
EOF
    fi
fi

# ---- scaling_lock.png: µs/call vs waiters (one category per waiter count) ---------------------------
if have scaling_lock.csv scaling_lock.png; then
    stats scaling_lock.csv "waiters" "us_per_call" | sort -t, -k1,1n >"$TMP/lock.csv"
    plot_png scaling_lock.png <<EOF
set title "LOCK.ACQUIRE refused on a held lock, by clients queued in LOCK.ACQUIRE ... WAIT$SUBTITLE"
set xlabel "clients queued on the lock (one step per measured count, not to scale)"
set ylabel "server µs/call (median, whiskers min–max)"
set yrange [0:*]
set offsets 0.3, 0.3, 0, 0
plot "$TMP/lock.csv" using 0:2:3:4:xtic(1) with yerrorlines lw 2 pt 7 lc rgb "#1f77b4", \
     "" using 0:4:(sprintf("%.2f", \$2)) with labels offset 0,1
EOF
fi

# ---- memory.png: bytes per user by structure ----------------------------------------------------------
if have memory.csv memory.png; then
    # label: the structure, plus the user count when the file holds more than one
    awk -F, 'NR > 1 && NF { row[++n] = $0; split($0, f, ","); if (!(f[2] in u)) { u[f[2]]; nu++ } }
        END { for (i = 1; i <= n; i++) { split(row[i], f, ",")
                  printf "%s,%s,%s\n", (nu > 1) ? f[1] " (" f[2] " users)" : f[1], f[3], f[4] } }' \
        "$RESULTS/memory.csv" >"$TMP/memory.csv"
    users=$(awk -F, 'NR > 1 && NF && !($2 in u) { u[$2]; n++; users = $2 } END { if (n == 1) print " (" users " users)" }' "$RESULTS/memory.csv")
    plot_png memory.png <<EOF
set title "Memory per user: a trial against a native SET and HASH$users$SUBTITLE"
set ylabel "bytes per user"
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set grid noxtics ytics
set key top left
plot "$TMP/memory.csv" using 2:xtic(1) lc rgb "#1f77b4" title "MEMORY USAGE of the key / users", \
     "" using 3 lc rgb "#ff7f0e" title "used_memory delta / users", \
     "" using (\$0 - 1.0/6):2:(sprintf("%.1f", \$2)) with labels offset 0,0.7 notitle, \
     "" using (\$0 + 1.0/6):3:(sprintf("%.1f", \$3)) with labels offset 0,0.7 notitle
EOF
fi

# ---- hotkey.png: hottest master's share vs shards ------------------------------------------------------
hot_plots=() hot_files=() hot_missing=()
for spec in "hotkey:0x1f77b4:hot key" "trial:0xff7f0e:sharded trial"; do
    IFS=: read -r name colour label <<<"$spec"
    has_rows "$name.csv" || { hot_missing+=("$name.csv"); continue; }
    stats "$name.csv" "shards" "hottest_calls_pc hottest_cpu_pc" | sort -t, -k1,1n >"$TMP/$name.csv"
    hot_files+=("$TMP/$name.csv")
    hot_plots+=("\"$TMP/$name.csv\" using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb $colour title \"$label: calls\""
                "\"$TMP/$name.csv\" using 1:5:6:7 with yerrorlines lw 2 pt 5 dt 2 lc rgb $colour title \"$label: CPU\"")
done
if ((${#hot_plots[@]} == 0)); then
    note "hotkey.csv and trial.csv not found or empty in $RESULTS: skipping hotkey.png"
elif ((${#hot_missing[@]} > 0)); then
    note "${hot_missing[0]} not found or empty in $RESULTS: hotkey.png shows ${hot_files[0]##*/} only"
fi
if ((${#hot_plots[@]} > 0)); then
    xtics=$(sort -t, -k1,1n "${hot_files[@]}" | awk -F, '!($1 in s) { s[$1]; t = t (t == "" ? "" : ",") $1 } END { print t }')
    plot_png hotkey.png <<EOF
set title "Hottest master's share of the calls and of the CPU, by shard count (3-master cluster)$SUBTITLE"
set xlabel "shards"
set ylabel "hottest master's share, % (median, whiskers min–max)"
set xtics ($xtics)
set xrange [*:*] noextend
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:105]
set key top right
plot 40 with lines dt 3 lw 2 lc rgb "#d62728" title "goal: ≤ 40 %", $(IFS=,; echo "${hot_plots[*]}")
EOF
fi

# ---- handoff.png: one panel per measure and work ------------------------------------------------------
if have handoff.csv handoff.png; then
    # one file per work: x (0 fifo, 1 poll1ms, 2 spin), then median,min,max of each measure
    stats handoff.csv "work_us way" "handoffs_per_s server_cpu_us_per_handoff" |
        awk -F, -v dir="$TMP" -v OFS=, '{ x = ($2 == "fifo") ? 0 : ($2 == "poll1ms") ? 1 : ($2 == "spin") ? 2 : ""
            if (x == "") { print "handoff.csv: unknown way " $2 > "/dev/stderr"; exit 2 }
            $1 = $1; $2 = x; print > (dir "/handoff." $1 ".csv") }' || die "handoff.csv is not as expected"
    works=$(awk -F, 'NR > 1 && !($3 in s) { s[$3]; print $3 }' "$RESULTS/handoff.csv" | sort -n | tr '\n' ' ')
    {
        echo "set multiplot layout 2,$(wc -w <<<"$works") title \"Contended hand-off of one lock: FIFO waiting against SET NX PX polling$SUBTITLE\""
        echo 'set yrange [0:*]'
        echo 'set grid noxtics ytics'
        echo 'set offsets 0.2, 0.2, graph 0.15, 0'
        echo 'set xtics ("fifo (WAIT)" 0, "poll 1 ms" 1, "spin" 2) scale 0'
        echo 'colour(x) = (x == 0) ? 0x2ca02c : (x == 1) ? 0x1f77b4 : 0xff7f0e'
        for measure in "hand-offs/s:3:%.0f" "server CPU µs per hand-off:6:%.1f"; do
            IFS=: read -r label c format <<<"$measure"
            for work in $works; do
                echo "set title \"$label, work $work µs\""
                echo "plot \"$TMP/handoff.$work.csv\" using 2:$c:(0.6):(colour(\$2)) with boxes lc rgb variable, \\"
                echo "     \"\" using 2:$((c + 1)):(0):(\$$((c + 2)) - \$$((c + 1))) with vectors heads size screen 0.01,90 lw 1.5 lc rgb \"#333333\", \\"
                echo "     \"\" using 2:$((c + 2)):(sprintf(\"$format\", \$$c)) with labels offset 0,0.7"
            done
        done
        echo 'unset multiplot'
    } | plot_png handoff.png
fi
