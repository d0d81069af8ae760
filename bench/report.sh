#!/usr/bin/env bash
# report.sh RAW.tsv OUTDIR: turns the raw measurements of bench/run.sh into
# a Markdown table (median, spread as min-max, ratio against the baseline
# measured in the same run) and a PNG chart of the ratios.
set -euo pipefail
RAW=$1
OUT=$2
MD="$OUT/results.md"
DAT="$OUT/ratios.dat"

# workload, variant -> sorted values; median and spread
summary=$(sort -t$'\t' -k1,1 -k2,2 -k3,3g "$RAW" | awk -F'\t' '
    { key = $1 "\t" $2; v[key, ++n[key]] = $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
        for (i = 1; i <= k; i++) {
            key = order[i]; c = n[key]
            med = (c % 2) ? v[key, (c + 1) / 2] : (v[key, c / 2] + v[key, c / 2 + 1]) / 2
            printf "%s\t%s\t%s\t%s\t%d\n", key, med, v[key, 1], v[key, c], c
        }
    }')

{
    echo "| workload | variant | median | spread (min-max) | runs | ratio vs baseline |"
    echo "|---|---|---|---|---|---|"
    echo "$summary" | awk -F'\t' '
        { w[NR] = $1; var[NR] = $2; med[NR] = $3; lo[NR] = $4; hi[NR] = $5; runs[NR] = $6
          if ($2 == "none" || $2 == "builtin" || $2 == "bare_group_by") base[$1] = $3 }
        END {
            for (i = 1; i <= NR; i++) {
                unit = (w[i] ~ /tps/) ? " tps" : (w[i] ~ /kb/) ? " kB" : " ms"
                ratio = (base[w[i]] > 0) ? sprintf("%.2fx", med[i] / base[w[i]]) : "-"
                printf "| %s | %s | %.1f%s | %.1f-%.1f | %d | %s |\n", w[i], var[i], med[i], unit, lo[i], hi[i], runs[i], ratio
            }
        }'
} > "$MD"

# chart: one bar group per workload, ratio against its baseline
echo "$summary" | awk -F'\t' '
    { w[NR] = $1; var[NR] = $2; med[NR] = $3
      if ($2 == "none" || $2 == "builtin" || $2 == "bare_group_by") base[$1] = $3 }
    END { for (i = 1; i <= NR; i++) if (base[w[i]] > 0 && w[i] !~ /kb/)
              printf "\"%s\\n%s\" %.3f\n", w[i], var[i], med[i] / base[w[i]] }' > "$DAT"

if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal pngcairo size 1400,600 font ",9"
set output "$OUT/chart.png"
set title "denorm benchmark: ratio to the baseline of each workload (time: lower is better; tps: higher is better)"
set style fill solid 0.8
set boxwidth 0.7
set xtics rotate by -60 font ",8"
set grid ytics
set yrange [0:*]
plot "$DAT" using 0:2:xtic(1) with boxes notitle, 1 with lines lc rgb "red" title "baseline"
GP
fi
cat "$MD"
