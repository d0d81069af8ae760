#!/usr/bin/env bash
# Crash safety: concurrent mixed writes (immediate, 'commit' and deferred
# counters, one hot parent, transactions of several statements), the server stopped with `pg_ctl stop -m immediate`
# mid-load, restarted, and every counter compared with a full recompute
# (for deferred counters: column plus pending deltas).  CRASH_RUNS rounds
# (default 5).  Needs the cluster of test/run-all.sh (DENORM_CLUSTER_DIR).
# Prints TAP.
set -euo pipefail
: "${DENORM_CLUSTER_DIR:?run from test/run-all.sh}"
PGBIN=${DENORM_PGBIN:-/usr/lib/postgresql/15/bin}
DB=denorm_crash
RUNS=${CRASH_RUNS:-5}
WORK=$(mktemp -d /tmp/denorm-crash.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$0")/../tap.sh"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $DB >/dev/null <<'SQL'
CREATE EXTENSION denorm;
CREATE TABLE crash_parents (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
                            total bigint NOT NULL DEFAULT 0, hot_n int NOT NULL DEFAULT 0,
                            commit_total bigint NOT NULL DEFAULT 0);
CREATE TABLE crash_children (id bigserial PRIMARY KEY, parent_id int, amount int NOT NULL);
CREATE INDEX ON crash_children (parent_id);
INSERT INTO crash_parents (id) SELECT g FROM generate_series(1, 200) g;
SELECT denorm_create_counter('crash_parents', 'n', 'crash_children', 'parent_id');
SELECT denorm_create_counter('crash_parents', 'total', 'crash_children', 'parent_id', 'sum', 'amount');
SELECT denorm_create_counter('crash_parents', 'hot_n', 'crash_children', 'parent_id', mode => 'deferred');
SELECT denorm_create_counter('crash_parents', 'commit_total', 'crash_children', 'parent_id', 'sum', 'amount',
                             mode => 'commit');
SQL

cat > "$WORK/write.pgb" <<'EOF2'
\set p random(1, 200)
\set hot random(1, 4)
BEGIN;
INSERT INTO crash_children (parent_id, amount) SELECT CASE WHEN :hot = 1 THEN 1 ELSE :p END, g FROM generate_series(1, 3) g;
UPDATE crash_children SET parent_id = :p, amount = amount + 1 WHERE id IN (SELECT id FROM crash_children ORDER BY id DESC LIMIT 2);
DELETE FROM crash_children WHERE id = (SELECT min(id) FROM crash_children WHERE parent_id = :p);
END;
EOF2
cat > "$WORK/flush.pgb" <<'EOF2'
SELECT denorm_flush();
\sleep 200 ms
EOF2

check_sql="SELECT count(*) FROM crash_parents p
  LEFT JOIN (SELECT parent_id, count(*) AS n, sum(amount) AS s FROM crash_children GROUP BY 1) c
         ON c.parent_id = p.id
 WHERE p.n <> coalesce(c.n, 0) OR p.total <> coalesce(c.s, 0) OR p.commit_total <> coalesce(c.s, 0)
    OR denorm_value((SELECT id FROM denorm_counters WHERE counter_column = 'hot_n'), p.id) <> coalesce(c.n, 0)"

n=0
for i in $(seq 1 "$RUNS"); do
    "$PGBIN/pgbench" -n -c 4 -j 2 -T 30 -f "$WORK/write.pgb@9" -f "$WORK/flush.pgb@1" $DB \
        > "$WORK/pgbench.$i.log" 2>&1 &
    bench=$!
    sleep $((2 + i % 3))
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" -m immediate -w stop >/dev/null
    wait $bench || true
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" \
        -l "$DENORM_CLUSTER_DIR/server.log" -w start >/dev/null
    rows=$(q "SELECT count(*) FROM crash_children")
    pending=$(q "SELECT count(*) FROM denorm_pending")
    wrong=$(q "$check_sql")
    n=$((n + 1))
    if [ "$wrong" = 0 ]; then
        echo "ok $n - crash $i: every counter equals a full recompute ($rows children, $pending pending deltas)"
    else
        echo "not ok $n - crash $i: $wrong parents wrong after restart"
    fi
done
n=$((n + 1))
drift=$(q "SELECT coalesce(sum(rows_drifted), 0) FROM denorm_reconcile(heal => false)")
if [ "$drift" = 0 ]; then echo "ok $n - reconcile after the crashes finds no drift"; else echo "not ok $n - reconcile found $drift drifted rows"; fi
echo "# crash runs: $RUNS; wrong counters after restart: see above"
echo "1..$n"
