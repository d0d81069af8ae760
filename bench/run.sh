#!/usr/bin/env bash
# denorm benchmark suite.  As root on Debian 12: installs what it needs,
# builds and installs denorm, starts a throwaway cluster, and compares in
# one run, on the same data (children reference their parent with a
# foreign key): no trigger, a PL/pgSQL atomic-increment trigger, a PL/pgSQL
# recompute trigger, denorm immediate, 'commit' and deferred, and 1, 2 and
# 4 counters on one child; and a max counter (immediate and 'commit')
# against a hand-written PL/pgSQL max trigger and no trigger.  Writes
# bench/results/results.md (table) and bench/results/chart.png (gnuplot).
#
# Settings (environment): BENCH_ROWS (1000000), BENCH_PARENTS (10000),
# BENCH_MOVE (100000), BENCH_RECOMPUTE_ROWS (100000: the recompute trigger
# is quadratic-ish, so its bulk run is smaller and reported as such),
# BENCH_PARENT_ROWS (100000 parent rows inserted, each counting its key's
# children), BENCH_MAX_ROWS (200000 children of the max workloads, over
# BENCH_MAX_PARENTS, 1000), BENCH_SECONDS (10, per pgbench run),
# BENCH_REPEAT (3).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
denorm_need_root
denorm_install_packages gnuplot-nox
denorm_build_install
denorm_cluster_start postgres "shared_buffers = '512MB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'"

ROWS=${BENCH_ROWS:-1000000}
PARENTS=${BENCH_PARENTS:-10000}
MOVE=${BENCH_MOVE:-100000}
RROWS=${BENCH_RECOMPUTE_ROWS:-100000}
PROWS=${BENCH_PARENT_ROWS:-100000}
MROWS=${BENCH_MAX_ROWS:-200000}
MPARENTS=${BENCH_MAX_PARENTS:-1000}
SECS=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
PGBENCH=$PGBIN/pgbench
OUT=bench/results
mkdir -p "$OUT"
RAW="$OUT/raw.tsv"
: > "$RAW"
DB=denorm_bench
psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -d $DB -c "CREATE EXTENSION denorm" >/dev/null
VARIANTS="none plpgsql recompute immediate commit deferred"

sql() { psql -X -q -v ON_ERROR_STOP=1 -d $DB "$@"; }
# ms SQL: runs SQL once and prints its server-measured time in ms
ms() { sql -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RAW"; }  # workload variant value
setup() { sql -v v="$1" -v parents="$PARENTS" -f bench/schema.sql >/dev/null 2>&1; }
# exact VARIANT: fails loudly when a maintained variant left wrong counters
exact() {
    [ "$1" = none ] && return 0
    [ "$1" = deferred ] && sql -c "SELECT denorm_flush()" >/dev/null
    local wrong
    wrong=$(sql -t -A -c "SELECT count(*) FROM bench_parents p LEFT JOIN (SELECT parent_id, count(*) n, sum(amount) s FROM bench_children GROUP BY 1) c ON c.parent_id = p.id WHERE p.child_count <> coalesce(c.n, 0) OR p.amount_sum <> coalesce(c.s, 0)")
    # the recompute trigger reads then writes, so concurrent writers can
    # leave it wrong: that is reported, not fatal
    if [ "$1" = recompute ]; then
        [ "$wrong" = 0 ] || echo "   note: the recompute trigger left $wrong wrong parents after $2"
        return 0
    fi
    if [ "$wrong" != 0 ]; then echo "ERROR: $1 left $wrong wrong parents after $2" >&2; exit 1; fi
}

echo "== bulk statements ($ROWS rows over $PARENTS parents; recompute: $RROWS rows)"
# bulk VARIANT ROWS SUFFIX: insert ROWS, move and delete a tenth of them
bulk() {
    local v=$1 n=$2 suffix=$3 t
    setup "$v"
    t=$(ms "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, g % 100 FROM generate_series(1, $n) g")
    record "bulk_insert$suffix" "$v" "$t"
    t=$(ms "UPDATE bench_children SET parent_id = 1 + parent_id % $PARENTS WHERE id <= $((MOVE * n / ROWS))")
    record "bulk_update$suffix" "$v" "$t"
    t=$(ms "DELETE FROM bench_children WHERE id > $((n - MOVE * n / ROWS))")
    record "bulk_delete$suffix" "$v" "$t"
    exact "$v" "bulk$suffix"
}
# a first bulk run grows the WAL and warms the caches; it is not recorded,
# so that the variant measured first is not the one that pays for that
setup none
sql -c "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, g % 100 FROM generate_series(1, $ROWS) g" >/dev/null
for r in $(seq 1 "$REPEAT"); do
    for v in none plpgsql immediate commit deferred; do
        bulk "$v" "$ROWS" ""
        echo "   run $r $v done"
    done
    # the marginal cost of a counter: 1, 2 and 4 on the one child
    for v in c1 c2 c4; do
        setup "$v"
        t=$(ms "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, g % 100 FROM generate_series(1, $ROWS) g")
        record "bulk_insert_counters" "$v" "$t"
    done
    setup none
    t=$(ms "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, g % 100 FROM generate_series(1, $ROWS) g")
    record "bulk_insert_counters" none "$t"
    echo "   run $r c1 c2 c4 done"
    # a new parent row starts from its key's children: one read per row
    for v in none immediate commit deferred; do
        setup "$v"
        t=$(ms "INSERT INTO bench_parents (id) SELECT g FROM generate_series($PARENTS + 1, $PARENTS + $PROWS) g")
        record "bulk_parent_insert" "$v" "$t"
    done
    echo "   run $r parent inserts done"
    # the recompute trigger is compared with no trigger at its own, smaller size
    bulk none "$RROWS" "_small"
    bulk recompute "$RROWS" "_small"
    echo "   run $r recompute done"
done

echo "== peak backend memory of a $ROWS-row INSERT"
for v in none plpgsql immediate commit deferred; do
    setup "$v"
    kb=$(sql -t -A <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv BENCH_PID :pid
INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, g % 100 FROM generate_series(1, $ROWS) g;
\! awk '/VmHWM/ {print \$2}' /proc/\$BENCH_PID/status
SQL
)
    record "peak_rss_kb" "$v" "$kb"
done

echo "== pgbench single-row inserts"
for r in $(seq 1 "$REPEAT"); do
    for v in $VARIANTS; do
        setup "$v"
        tps=$($PGBENCH -n -c 2 -j 2 -T "$SECS" -D parents="$PARENTS" -f bench/insert_uniform.pgb $DB 2>/dev/null \
              | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        record "insert_2c_tps" "$v" "$tps"
        exact "$v" insert_2c
        setup "$v"
        tps=$($PGBENCH -n -c 8 -j 2 -T "$SECS" -f bench/insert_hot.pgb $DB 2>/dev/null \
              | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        record "hot_8c_tps" "$v" "$tps"
        exact "$v" hot_8c
        echo "   run $r $v done"
    done
done

echo "== multi-statement transactions, 8 clients, one hot parent, reconcile looping alongside"
# pgbench counts deadlocks and serialization failures as failed
# transactions (--max-tries 1: no retry), and reports them by kind
for r in $(seq 1 "$REPEAT"); do
    for v in none plpgsql immediate commit deferred; do
        setup "$v"
        sql -c "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, 1 FROM generate_series(1, $((PARENTS * 2))) g" >/dev/null
        rec_pid=""
        if [ "$v" != none ] && [ "$v" != plpgsql ]; then
            $PGBENCH -n -c 1 -T "$SECS" -f bench/reconcile_loop.pgb $DB >/dev/null 2>&1 &
            rec_pid=$!
        fi
        out=$($PGBENCH -n -c 8 -j 2 -T "$SECS" --max-tries 1 --failures-detailed \
              -D parents="$PARENTS" -f bench/multi.pgb $DB 2>/dev/null)
        [ -n "$rec_pid" ] && wait "$rec_pid"
        tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
        deadlocks=$(echo "$out" | sed -n 's/^number of deadlock failures: \([0-9]*\).*/\1/p')
        record "multi_8c_tps" "$v" "$tps"
        record "multi_8c_failed_txns" "$v" "${failed:-0}"
        record "multi_8c_deadlocks" "$v" "${deadlocks:-0}"
        exact "$v" multi_8c
        echo "   run $r $v done (failed ${failed:-0}, deadlocks ${deadlocks:-0})"
    done
done

echo "== TPC-B: pgbench's own transaction vs balances kept by denorm"
for r in $(seq 1 "$REPEAT"); do
    for v in builtin denorm; do
        sql -c "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history CASCADE" >/dev/null 2>&1
        $PGBENCH -i -q -s 1 $DB >/dev/null 2>&1
        if [ "$v" = builtin ]; then
            tps=$($PGBENCH -n -c 2 -j 2 -T "$SECS" $DB 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        else
            sql >/dev/null <<'SQL'
SELECT denorm_create_counter('pgbench_accounts', 'abalance', 'pgbench_history', 'aid', 'sum', 'delta');
SELECT denorm_create_counter('pgbench_tellers', 'tbalance', 'pgbench_history', 'tid', 'sum', 'delta');
SELECT denorm_create_counter('pgbench_branches', 'bbalance', 'pgbench_history', 'bid', 'sum', 'delta');
SQL
            tps=$($PGBENCH -n -c 2 -j 2 -T "$SECS" -D scale=1 -f bench/tpcb_denorm.pgb $DB 2>/dev/null \
                  | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
            # TPC-B consistency: every balance sum equals the history sum, and no drift
            bad=$(sql -t -A -c "SELECT (SELECT sum(abalance) FROM pgbench_accounts) <> h OR (SELECT sum(tbalance) FROM pgbench_tellers) <> h OR (SELECT sum(bbalance) FROM pgbench_branches) <> h FROM (SELECT coalesce(sum(delta), 0) h FROM pgbench_history) s")
            drift=$(sql -t -A -c "SELECT sum(rows_drifted) FROM denorm_reconcile()" 2>/dev/null)
            if [ "$bad" != f ] || [ "$drift" != 0 ]; then echo "ERROR: TPC-B consistency failed (bad=$bad drift=$drift)" >&2; exit 1; fi
            sql -c "SELECT denorm_drop_counter(id) FROM denorm_counters" >/dev/null
        fi
        record "tpcb_tps" "$v" "$tps"
    done
    echo "   run $r done"
done

echo "== a max counter: $MROWS children over $MPARENTS parents, and 8 clients on 8 hot parents"
# every max variant has an index on (parent_id, amount), so the recompute of
# a parent's max (the hand-written trigger's and denorm's) is an index probe;
# the variants recorded as none, plpgsql_max, immediate, commit
setup_max() { sql -v v="$1" -v parents="$MPARENTS" -f bench/schema.sql >/dev/null 2>&1; }
# exact_max VARIANT RUN: the stored max against a recompute, into $wrong;
# the hand-written trigger's misses are reported, denorm's are fatal
exact_max() {
    wrong=0
    [ "$1" = none ] && return 0
    wrong=$(sql -t -A -c "SELECT count(*) FROM bench_parents p WHERE p.amount_max IS DISTINCT FROM (SELECT max(amount) FROM bench_children c WHERE c.parent_id = p.id)")
    if [ "$1" = plpgsql_max ]; then
        [ "$wrong" = 0 ] || echo "   note: the hand-written max trigger left $wrong wrong parents after $2"
        return 0
    fi
    if [ "$wrong" != 0 ]; then echo "ERROR: $1 left $wrong wrong max values after $2" >&2; exit 1; fi
}
# amounts spread over 0..999999 (few ties), in no order of id
max_rows="SELECT 1 + g % $MPARENTS, (g::bigint * 7919 % 1000003)::int % 1000000 FROM generate_series(1, $MROWS) g"
# a first pass with no trigger, not recorded, as for the bulk statements:
# the variant measured first does not pay for the new index and schema
setup_max max_none
sql -c "INSERT INTO bench_children (parent_id, amount) $max_rows" >/dev/null
sql -c "DELETE FROM bench_children WHERE id % 10 = 3" >/dev/null
$PGBENCH -n -c 8 -j 2 -T "$SECS" -D hot=8 -f bench/max_hot.pgb $DB >/dev/null 2>&1
for r in $(seq 1 "$REPEAT"); do
    for v in none plpgsql_max immediate commit; do
        case "$v" in plpgsql_max) sv=max_plpgsql ;; *) sv=max_$v ;; esac
        setup_max "$sv"
        t=$(ms "INSERT INTO bench_children (parent_id, amount) $max_rows")
        record "max_bulk_insert" "$v" "$t"
        # the five top rows of every parent: each parent's max leaves five times
        t=$(ms "DELETE FROM bench_children WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY parent_id ORDER BY amount DESC) AS k FROM bench_children) t WHERE k <= 5)")
        record "max_bulk_delete_top" "$v" "$t"
        exact_max "$v" max_bulk_delete_top
        # a tenth of the rows, anywhere (now and then a parent's max)
        t=$(ms "DELETE FROM bench_children WHERE id % 10 = 3")
        record "max_bulk_delete_random" "$v" "$t"
        exact_max "$v" max_bulk_delete_random
        # lower a tenth of the rows (the max among them is lowered too)
        t=$(ms "UPDATE bench_children SET amount = amount / 2 WHERE id % 10 = 7")
        record "max_bulk_lower" "$v" "$t"
        exact_max "$v" max_bulk_lower
        setup_max "$sv"
        sql -c "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % 8, (random() * 999999)::int + 1 FROM generate_series(1, 8000) g" >/dev/null
        sql -c "VACUUM ANALYZE bench_children" >/dev/null
        out=$($PGBENCH -n -c 8 -j 2 -T "$SECS" --max-tries 1 --failures-detailed -D hot=8 \
              -f bench/max_hot.pgb $DB 2>/dev/null)
        tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
        record "max_hot_8c_tps" "$v" "$tps"
        record "max_hot_8c_failed_txns" "$v" "${failed:-0}"
        exact_max "$v" max_hot_8c
        [ "$v" = none ] || record "max_hot_8c_wrong_parents" "$v" "$wrong"
        echo "   run $r $v done (hot 8 clients: failed ${failed:-0}, wrong parents $wrong)"
    done
done

echo "== reconcile of $ROWS children over $PARENTS parents vs the bare grouped aggregate"
setup immediate
sql -c "INSERT INTO bench_children (parent_id, amount) SELECT 1 + g % $PARENTS, g % 100 FROM generate_series(1, $ROWS) g" >/dev/null
sql -c "VACUUM ANALYZE bench_children" >/dev/null
for r in $(seq 1 "$REPEAT"); do
    t=$(ms "SELECT parent_id, count(*) FROM bench_children GROUP BY parent_id")
    record "reconcile_ms" "bare_group_by" "$t"
    t=$(ms "SELECT * FROM denorm_reconcile((SELECT min(id) FROM denorm_counters))")
    record "reconcile_ms" "reconcile" "$t"
done

bash bench/report.sh "$RAW" "$OUT"
