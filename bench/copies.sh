#!/usr/bin/env bash
# The fan-out of a copied column against the hand-written statement.  As
# root: builds and installs denorm, starts a throwaway cluster, and times,
# in one run and on the same data, renaming one parent that has
# BENCH_COPY_CHILDREN (100000) children:
#   hand-written: UPDATE parent SET name = ...; UPDATE child c SET
#                 parent_name = p.name FROM parent p WHERE p.id = c.parent_id
#                 AND p.id = 1 (on tables without triggers)
#   denorm:       UPDATE parent SET name = ... (a sync copy does the rest)
# each BENCH_REPEAT (9) times, in alternating order, after a VACUUM of both;
# prints the median and the fastest time and the WAL written of each, and
# their ratios, and writes bench/results/copies.md.
# DENORM_PGBIN and DENORM_PORT pick the PostgreSQL and the port, as for
# test/run-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
denorm_need_root
denorm_build_install
denorm_cluster_start postgres "shared_buffers = '512MB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'"

CHILDREN=${BENCH_COPY_CHILDREN:-100000}
REPEAT=${BENCH_REPEAT:-9}
OUT=bench/results
mkdir -p "$OUT"
DB=denorm_bench_copies
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
sql() { psql -X -q -v ON_ERROR_STOP=1 -d $DB "$@"; }
# ms SQL: runs SQL once and prints its server-measured time in ms (the sum
# over its statements)
ms() { sql -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{ s += $1 } END { printf "%.1f\n", s }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

sql <<SQL >/dev/null
CREATE EXTENSION denorm;
CREATE TABLE hw_parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE hw_child (id bigint PRIMARY KEY, parent_id int NOT NULL REFERENCES hw_parent,
                       parent_name text, amount int NOT NULL);
CREATE TABLE cp_parent (LIKE hw_parent INCLUDING ALL);
CREATE TABLE cp_child (LIKE hw_child INCLUDING ALL);
ALTER TABLE cp_child ADD FOREIGN KEY (parent_id) REFERENCES cp_parent;
CREATE INDEX ON hw_child (parent_id);
CREATE INDEX ON cp_child (parent_id);
INSERT INTO hw_parent SELECT g, 'parent ' || g FROM generate_series(1, 1000) g;
INSERT INTO cp_parent SELECT * FROM hw_parent;
-- parent 1 has all the children but a few per other parent
INSERT INTO hw_child SELECT g, CASE WHEN g <= $CHILDREN THEN 1 ELSE g % 999 + 2 END,
                            'parent ' || CASE WHEN g <= $CHILDREN THEN 1 ELSE g % 999 + 2 END, g % 100
  FROM generate_series(1, $CHILDREN + 10000) g;
INSERT INTO cp_child SELECT * FROM hw_child;
SELECT denorm_create_copy('cp_child', 'parent_name', 'cp_parent', 'name', 'parent_id');
SQL

: > "$OUT/copies.raw"
# run SQL: prints its time in ms and the WAL it wrote in bytes (which the
# load of other sessions on the machine does not change)
run() {
    local before after t
    before=$(sql -t -A -c "SELECT pg_current_wal_insert_lsn()")
    t=$(ms "$1")
    after=$(sql -t -A -c "SELECT pg_current_wal_insert_lsn()")
    printf '%s\t%s' "$t" "$(sql -t -A -c "SELECT pg_wal_lsn_diff('$after', '$before')")"
}
hand_written() {
    run "BEGIN; UPDATE hw_parent SET name = 'renamed $1' WHERE id = 1;
         UPDATE hw_child c SET parent_name = p.name FROM hw_parent p
          WHERE p.id = c.parent_id AND p.id = 1; COMMIT;"
}
with_denorm() { run "BEGIN; UPDATE cp_parent SET name = 'renamed $1' WHERE id = 1; COMMIT;"; }
for i in $(seq 1 "$REPEAT"); do
    sql -c "VACUUM ANALYZE hw_child, cp_child, hw_parent, cp_parent" -c "CHECKPOINT" >/dev/null
    # (the order alternates, so neither always runs after the other's writes)
    if [ $((i % 2)) = 1 ]; then
        hw=$(hand_written "$i"); sql -c "CHECKPOINT" >/dev/null; cp=$(with_denorm "$i")
    else
        cp=$(with_denorm "$i"); sql -c "CHECKPOINT" >/dev/null; hw=$(hand_written "$i")
    fi
    printf '%s\t%s\n' "$hw" "$cp" >> "$OUT/copies.raw"
    echo "run $i: hand-written $(cut -f1 <<<"$hw") ms $(cut -f2 <<<"$hw") WAL bytes, denorm $(cut -f1 <<<"$cp") ms $(cut -f2 <<<"$cp") WAL bytes"
done
wrong=$(sql -t -A -c "SELECT count(*) FROM denorm_check_copies()")
[ "$wrong" = 0 ] || { echo "denorm left $wrong wrong copies" >&2; exit 1; }
# columns of copies.raw: hand-written ms, WAL; denorm ms, WAL
hw=$(cut -f1 "$OUT/copies.raw" | median)
cp=$(cut -f3 "$OUT/copies.raw" | median)
hwmin=$(cut -f1 "$OUT/copies.raw" | sort -n | head -1)
cpmin=$(cut -f3 "$OUT/copies.raw" | sort -n | head -1)
hwwal=$(cut -f2 "$OUT/copies.raw" | median)
cpwal=$(cut -f4 "$OUT/copies.raw" | median)
ratio=$(awk -v a="$cp" -v b="$hw" 'BEGIN { printf "%.2f", a / b }')
{
    echo "| renaming one parent with $CHILDREN children ($REPEAT runs each) | median ms | fastest ms | WAL bytes |"
    echo "|---|---|---|---|"
    echo "| hand-written \`UPDATE ... FROM\` after the parent UPDATE | $hw | $hwmin | $hwwal |"
    echo "| denorm sync copy (the parent UPDATE alone) | $cp | $cpmin | $cpwal |"
    echo "| ratio denorm / hand-written | $ratio | $(awk -v a="$cpmin" -v b="$hwmin" 'BEGIN { printf "%.2f", a / b }') | $(awk -v a="$cpwal" -v b="$hwwal" 'BEGIN { printf "%.2f", a / b }') |"
} > "$OUT/copies.md"
cat "$OUT/copies.md"
