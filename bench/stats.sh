# bench/stats.sh -- figures over rounds, for the benchmark scripts: medians, spreads, ratios, and
# the goals file's rows (section,comparison,target,median,min,max,instructions,result). Sourced.

# `median v...`: the middle value (the mean of the two middle ones for an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m + 0 }'; }
minimum() { printf '%s\n' "$@" | sort -g | head -1; }
maximum() { printf '%s\n' "$@" | sort -g | tail -1; }

# `ratio a b`: a / b to 2 decimals (0 when b is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# `spread_text decimals v...`: "median (min–max)", or the one value when there is one
spread_text() {
    local d=$1
    shift
    awk -v d="$d" -v m="$(median "$@")" -v lo="$(minimum "$@")" -v hi="$(maximum "$@")" -v n="$#" 'BEGIN {
        f = "%." d "f"
        if (n == 1 || lo == hi) printf f "\n", m
        else printf f " (" f "–" f ")\n", m, lo, hi }'
}

# `verdict value target`: met / missed / - (no target); target is "<= x" or ">= x"
verdict() {
    [[ -n $2 ]] || { echo -; return; }
    awk -v x="$1" -v op="${2% *}" -v goal="${2#* }" 'BEGIN {
        ok = (op == "<=") ? (x <= goal) : (x >= goal); print ok ? "met" : "missed" }'
}

# `goal_row section comparison target instructions v...`: one CSV row, judged on the median
goal_row() {
    local section=$1 what=$2 target=$3 instr=$4 m
    shift 4
    m=$(median "$@")
    echo "$section,$what,$target,$m,$(minimum "$@"),$(maximum "$@"),$instr,$(verdict "$m" "$target")"
}

# `goals_table file`: a goals CSV as a markdown table
goals_table() {
    echo "| goal | median (min–max) | instructions | result |"
    echo "|---|---:|---:|---|"
    awk -F, 'NR > 1 {
        t = $3; sub(/^<=/, "≤", t); sub(/^>=/, "≥", t)
        s = ($5 == $6) ? sprintf("%.2f", $4) : sprintf("%.2f (%.2f–%.2f)", $4, $5, $6)
        r = ($8 == "missed") ? "**missed**" : $8
        printf "| %s%s | %s | %s | %s |\n", $2, (t == "" ? "" : " " t), s, ($7 == "" ? "–" : $7 "×"), r }' "$1"
}
