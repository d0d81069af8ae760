#!/usr/bin/env bash
# Serialization failures at REPEATABLE READ and SERIALIZABLE: 8 clients
# run bench/isolation.pgb (children with a foreign key to their parent,
# three hot parents), with -M prepared and no retry (--max-tries 1), for
# each variant of bench/schema.sql without a trigger and with denorm's three
# modes; then the same beside clients that UPDATE the hot parent rows
# themselves (bench/isolation_title.pgb).  Reports the share of attempted
# transactions that failed, per script, and checks every counter after
# each run.  As root on Debian 12, like bench/run.sh; writes
# bench/results/isolation.md.  BENCH_SECONDS (10) per run.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
denorm_need_root
denorm_install_packages
denorm_build_install
denorm_cluster_start postgres

SECS=${BENCH_SECONDS:-10}
PARENTS=100
DB=denorm_bench
OUT=bench/results
mkdir -p "$OUT"
TMP=$(mktemp -d)
chmod 755 "$TMP"
psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -d $DB -c "CREATE EXTENSION denorm" >/dev/null
sql() { psql -X -q -v ON_ERROR_STOP=1 -d $DB "$@"; }

# share FAILED ATTEMPTED: failed transactions as a percentage
share() { awk -v f="$1" -v p="$2" 'BEGIN { printf "%.1f%%", ((f + p) > 0 ? 100 * f / (f + p) : 0) }'; }

{
    echo "| isolation | workload | variant | committed | writers failed | parent updaters failed |"
    echo "|---|---|---|---|---|---|"
} > "$OUT/isolation.md"
for iso in "repeatable read" "serializable"; do
    sed "s/:iso/$iso/" bench/isolation.pgb > "$TMP/w.pgb"
    sed "s/:iso/$iso/" bench/isolation_title.pgb > "$TMP/t.pgb"
    for workload in writers with_parent_updates; do
        for v in none immediate commit deferred; do
            sql -v v="$v" -v parents="$PARENTS" -f bench/schema.sql >/dev/null 2>&1
            sql -c "ALTER TABLE bench_parents ADD COLUMN title text" >/dev/null
            scripts=(-f "$TMP/w.pgb")
            [ "$workload" = with_parent_updates ] && scripts+=(-f "$TMP/t.pgb")
            out=$("$PGBIN/pgbench" -n -c 8 -j 2 -T "$SECS" -M prepared --max-tries 1 \
                  --failures-detailed -D parents="$PARENTS" "${scripts[@]}" $DB 2>/dev/null)
            # per script: "- N transactions" then "- number of failed transactions: F"
            read -r wdone wfail tdone tfail < <(echo "$out" | awk '
                /^SQL script [0-9]/ { s++ }
                s > 0 && /^ - [0-9]+ transactions/ { done[s] = $2 }
                s > 0 && /^ - number of failed transactions:/ { fail[s] = $6 }
                s == 0 && /^number of transactions actually processed:/ { done[1] = $6 }
                s == 0 && /^number of failed transactions:/ { fail[1] = $5 }
                END { printf "%d %d %d %d\n", done[1], fail[1], done[2], fail[2] }')
            if [ "$v" = deferred ]; then sql -c "SELECT denorm_flush()" >/dev/null; fi
            if [ "$v" != none ]; then
                wrong=$(sql -t -A -c "SELECT count(*) FROM bench_parents p LEFT JOIN (SELECT parent_id, count(*) n, sum(amount) s FROM bench_children GROUP BY 1) c ON c.parent_id = p.id WHERE p.child_count <> coalesce(c.n, 0) OR p.amount_sum <> coalesce(c.s, 0)")
                if [ "$wrong" != 0 ]; then echo "ERROR: $v left $wrong wrong parents at $iso" >&2; exit 1; fi
            fi
            tshare="-"
            [ "$workload" = with_parent_updates ] && tshare=$(share "$tfail" "$tdone")
            echo "| $iso | $workload | $v | $((wdone + tdone)) | $(share "$wfail" "$wdone") | $tshare |" >> "$OUT/isolation.md"
            echo "   $iso $workload $v: writers $wdone ok, $wfail failed; parent updaters $tdone ok, $tfail failed"
        done
    done
done
rm -rf "$TMP"
cat "$OUT/isolation.md"
