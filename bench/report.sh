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

# chart: one group of bars per workload, one colour per variant, each the
# ratio to that workload's baseline (the no-trigger run, pgbench's own
# transaction, the bare GROUP BY); "-" where a variant does not apply
echo "$summary" | awk -F'\t' '
    { med[$1, $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    END {
        # columns: workload baseline plpgsql recompute immediate commit deferred
        for (i = 1; i <= k; i++) {
            w = order[i]
            if (w ~ /kb/) continue
            base = med[w, "none"]; imm = med[w, "immediate"]
            if (w ~ /tpcb/) { base = med[w, "builtin"]; imm = med[w, "denorm"] }
            if (w ~ /reconcile/) { base = med[w, "bare_group_by"]; imm = med[w, "reconcile"] }
            if (base == "" || base == 0) continue
            printf "%s 1", w
            split("plpgsql recompute", extra, " ")
            # the max workloads: the hand-written max trigger (GREATEST on
            # insert, a recompute when the top leaves) in the recompute column
            if ((w, "plpgsql_max") in med) med[w, "recompute"] = med[w, "plpgsql_max"]
            for (j = 1; j <= 2; j++)
                printf " %s", ((w, extra[j]) in med) ? sprintf("%.3f", med[w, extra[j]] / base) : "-"
            printf " %s", (imm != "") ? sprintf("%.3f", imm / base) : "-"
            printf " %s", ((w, "commit") in med) ? sprintf("%.3f", med[w, "commit"] / base) : "-"
            printf " %s\n", ((w, "deferred") in med) ? sprintf("%.3f", med[w, "deferred"] / base) : "-"
        }
    }' > "$DAT"

if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal pngcairo size 1400,620 font ",10" noenhanced
set output "$OUT/chart.png"
set title "denorm benchmark: each variant as a ratio to its workload's baseline (log scale; time: lower is better, tps: higher is better)"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [0.03:200]
set grid ytics
set xtics rotate by -30 font ",9"
set key outside right top
plot "$DAT" using 2:xtic(1) title "baseline", \
     "" using 3 title "PL/pgSQL increments", \
     "" using 4 title "PL/pgSQL recompute (max_*: hand-written max trigger)", \
     "" using 5 title "denorm immediate", \
     "" using 6 title "denorm commit", \
     "" using 7 title "denorm deferred"
GP
fi
cat "$MD"
