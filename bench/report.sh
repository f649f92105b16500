#!/usr/bin/env bash
# bench/report.sh -- writes summary.md into the results directory and prints it: a line of the
# machine's facts from machine.txt, then one markdown table of every row of the goals files
# (goals_commands.csv, goals_scaling.csv, goals_hotkey.csv, whichever exist), sections in the order
# commands, memory, handoff, scaling, hotkey, trial, then a count of the goals met and missed.
# A missing goals file is noted on stderr and left out; a miss is never a failure.
# Uses bash and awk only.
#
# Environment:
#   SG_BENCH_RESULTS  results directory to read and write (default bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${SG_BENCH_RESULTS:-$ROOT/bench/results}
export LC_ALL=C.UTF-8

die() { echo "report: $*" >&2; exit 1; }
note() { echo "report: $*" >&2; }

command -v awk >/dev/null 2>&1 || die "awk not found in PATH"
mkdir -p "$RESULTS" || die "cannot create the results directory $RESULTS"

HEADER='section,comparison,target,median,min,max,instructions,result'
goals=()
for name in commands scaling hotkey; do
    file=$RESULTS/goals_$name.csv
    if [[ ! -f $file ]]; then
        note "goals_$name.csv not found in $RESULTS: its goals are left out"
        continue
    fi
    read -r first <"$file" || true
    [[ ${first%$'\r'} == "$HEADER" ]] || die "goals_$name.csv: header is not '$HEADER' (got '$first')"
    goals+=("$file")
done

# `facts`: "date · CPU · N CPUs · M GiB · kernel K · Redis V · SlotGuard V[ · quick pass]"
facts() {
    awk '{ i = index($0, "="); if (i) m[substr($0, 1, i - 1)] = substr($0, i + 1) }
        END {
            n = 0
            if (m["date"] != "") part[++n] = m["date"]
            if (m["host_cpu"] != "") part[++n] = m["host_cpu"]
            if (m["cpus"] != "") part[++n] = m["cpus"] " CPUs"
            if (m["memory_gib"] != "") part[++n] = m["memory_gib"] " GiB"
            if (m["kernel"] != "") part[++n] = "kernel " m["kernel"]
            if (m["redis_version"] != "") part[++n] = "Redis " m["redis_version"]
            if (m["slotguard_version"] != "") part[++n] = "SlotGuard " m["slotguard_version"]
            if (m["quick"] == "1") part[++n] = "quick pass"
            line = part[1]
            for (i = 2; i <= n; i++) line = line " · " part[i]
            print line
        }' "$RESULTS/machine.txt"
}

# `table FILES...`: the goals table and the count line, from the rows of every goals file.
table() {
    awk -F, '
        BEGIN {
            nsections = split("commands memory handoff scaling hotkey trial", section_order, " ")
            for (i = 1; i <= nsections; i++) rank[section_order[i]] = i
        }
        FNR == 1 || NF == 0 { next }
        {
            sub(/\r$/, "")
            r = ($1 in rank) ? rank[$1] : nsections + 1   # an unknown section goes last
            row[r, ++rows[r]] = $0; total++
        }
        # 2 decimals, or 1 for a percentage; "–" for an empty field
        function number(x, percent) {
            if (x == "") return "–"
            return sprintf(percent ? "%.1f" : "%.2f", x)
        }
        END {
            if (!total) { print "The goals files hold no rows."; exit }
            print "| goal | median (min–max) | instructions | result |"
            print "|---|---:|---:|---|"
            for (r = 1; r <= nsections + 1; r++)
                for (i = 1; i <= rows[r]; i++) {
                    split(row[r, i], f, ",")
                    comparison = f[2]; target = f[3]; result = f[8]
                    gsub(/\|/, "\\|", comparison)
                    sub(/^<=/, "≤", target); sub(/^>=/, "≥", target)
                    percent = (comparison ~ /%[ ]*$/)
                    goal = (target == "") ? comparison : comparison " " target
                    measured = number(f[4], percent)
                    if (f[5] != f[6]) measured = measured " (" number(f[5], percent) "–" number(f[6], percent) ")"
                    if (target == "" || result == "-" || result == "") shown = "–"
                    else if (result == "missed") { shown = "**missed**"; missed++ }
                    else if (result == "met") { shown = "met"; met++ }
                    else shown = result
                    printf "| %s | %s | %s | %s |\n", goal, measured, number(f[7], 0), shown
                }
            printf "\n%d goals met, %d missed", met, missed
            printf (missed ? " (in bold above).\n" : ".\n")
        }' "$@"
}

{
    echo "# SlotGuard benchmark summary"
    echo
    if [[ -f $RESULTS/machine.txt ]]; then
        facts
    else
        note "machine.txt not found in $RESULTS: the summary has no machine line"
        echo "(no machine.txt: machine unknown)"
    fi
    echo
    if ((${#goals[@]} > 0)); then
        table "${goals[@]}"
    else
        echo "No goals files (goals_commands.csv, goals_scaling.csv, goals_hotkey.csv) were found."
    fi
} >"$RESULTS/summary.md"

cat "$RESULTS/summary.md"
