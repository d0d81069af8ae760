#!/usr/bin/env bash
# The fan-out of a copied column against the hand-written copy.  As root:
# builds and installs denorm, starts a throwaway cluster, and times, in one
# run and on the same data, renaming one parent that has
# BENCH_COPY_CHILDREN (100000) children:
#   hand-written statement: UPDATE parent SET name = ...; UPDATE child c SET
#                 parent_name = p.name FROM parent p WHERE p.id = c.parent_id
#                 AND p.id = 1 (on tables without triggers: the lower bound,
#                 which keeps nothing exact by itself)
#   hand-written triggers: UPDATE parent SET name = ... on tables with the
#                 copy as teams write it: a PL/pgSQL BEFORE INSERT OR UPDATE
#                 OF parent_id trigger on the child that reads the name, and
#                 an AFTER UPDATE OF name trigger on the parent that runs the
#                 same UPDATE ... FROM (the fair baseline)
#   denorm:       UPDATE parent SET name = ... (a sync copy does the rest)
# each BENCH_REPEAT (9) times, in rotating order, after a VACUUM of all;
# prints the median and the fastest time and the WAL written of each, and
# denorm's ratios to both, and writes bench/results/copies.md.
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
CREATE TABLE tg_parent (LIKE hw_parent INCLUDING ALL);
CREATE TABLE tg_child (LIKE hw_child INCLUDING ALL);
ALTER TABLE tg_child ADD FOREIGN KEY (parent_id) REFERENCES tg_parent;
CREATE INDEX ON hw_child (parent_id);
CREATE INDEX ON cp_child (parent_id);
CREATE INDEX ON tg_child (parent_id);
INSERT INTO hw_parent SELECT g, 'parent ' || g FROM generate_series(1, 1000) g;
INSERT INTO cp_parent SELECT * FROM hw_parent;
INSERT INTO tg_parent SELECT * FROM hw_parent;
-- parent 1 has all the children but a few per other parent
INSERT INTO hw_child SELECT g, CASE WHEN g <= $CHILDREN THEN 1 ELSE g % 999 + 2 END,
                            'parent ' || CASE WHEN g <= $CHILDREN THEN 1 ELSE g % 999 + 2 END, g % 100
  FROM generate_series(1, $CHILDREN + 10000) g;
INSERT INTO cp_child SELECT * FROM hw_child;
INSERT INTO tg_child SELECT * FROM hw_child;
SELECT denorm_create_copy('cp_child', 'parent_name', 'cp_parent', 'name', 'parent_id');
-- the hand-written copy, as teams write it
CREATE FUNCTION tg_child_copy() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    NEW.parent_name := (SELECT p.name FROM tg_parent p WHERE p.id = NEW.parent_id);
    RETURN NEW;
END \$\$;
CREATE TRIGGER tg_child_copy BEFORE INSERT OR UPDATE OF parent_id ON tg_child
    FOR EACH ROW EXECUTE FUNCTION tg_child_copy();
CREATE FUNCTION tg_parent_fanout() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    UPDATE tg_child c SET parent_name = p.name FROM tg_parent p
     WHERE p.id = c.parent_id AND p.id = NEW.id;
    RETURN NULL;
END \$\$;
CREATE TRIGGER tg_parent_fanout AFTER UPDATE OF name ON tg_parent
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION tg_parent_fanout();
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
with_triggers() { run "BEGIN; UPDATE tg_parent SET name = 'renamed $1' WHERE id = 1; COMMIT;"; }
for i in $(seq 1 "$REPEAT"); do
    sql -c "VACUUM ANALYZE hw_child, cp_child, tg_child, hw_parent, cp_parent, tg_parent" -c "CHECKPOINT" >/dev/null
    # (the order rotates, so none always runs after another's writes)
    case $((i % 3)) in
    1) hw=$(hand_written "$i"); sql -c "CHECKPOINT" >/dev/null; tg=$(with_triggers "$i")
       sql -c "CHECKPOINT" >/dev/null; cp=$(with_denorm "$i") ;;
    2) cp=$(with_denorm "$i"); sql -c "CHECKPOINT" >/dev/null; hw=$(hand_written "$i")
       sql -c "CHECKPOINT" >/dev/null; tg=$(with_triggers "$i") ;;
    0) tg=$(with_triggers "$i"); sql -c "CHECKPOINT" >/dev/null; cp=$(with_denorm "$i")
       sql -c "CHECKPOINT" >/dev/null; hw=$(hand_written "$i") ;;
    esac
    printf '%s\t%s\t%s\n' "$hw" "$cp" "$tg" >> "$OUT/copies.raw"
    echo "run $i: statement $(cut -f1 <<<"$hw") ms $(cut -f2 <<<"$hw") WAL bytes," \
         "triggers $(cut -f1 <<<"$tg") ms $(cut -f2 <<<"$tg") WAL bytes," \
         "denorm $(cut -f1 <<<"$cp") ms $(cut -f2 <<<"$cp") WAL bytes"
done
wrong=$(sql -t -A -c "SELECT count(*) FROM denorm_check_copies()")
[ "$wrong" = 0 ] || { echo "denorm left $wrong wrong copies" >&2; exit 1; }
wrong=$(sql -t -A -c "SELECT count(*) FROM tg_child c JOIN tg_parent p ON p.id = c.parent_id WHERE c.parent_name IS DISTINCT FROM p.name")
[ "$wrong" = 0 ] || { echo "the hand-written triggers left $wrong wrong copies" >&2; exit 1; }
# columns of copies.raw: statement ms, WAL; denorm ms, WAL; triggers ms, WAL
col() { cut -f"$1" "$OUT/copies.raw" | median; }
fastest() { cut -f"$1" "$OUT/copies.raw" | sort -n | head -1; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
hw=$(col 1); hwmin=$(fastest 1); hwwal=$(col 2)
cp=$(col 3); cpmin=$(fastest 3); cpwal=$(col 4)
tg=$(col 5); tgmin=$(fastest 5); tgwal=$(col 6)
{
    echo "| renaming one parent with $CHILDREN children ($REPEAT runs each) | median ms | fastest ms | WAL bytes |"
    echo "|---|---|---|---|"
    echo "| hand-written statement: \`UPDATE ... FROM\` after the parent UPDATE, no triggers | $hw | $hwmin | $hwwal |"
    echo "| hand-written triggers: PL/pgSQL BEFORE trigger on the child, AFTER trigger on the parent running the \`UPDATE ... FROM\` | $tg | $tgmin | $tgwal |"
    echo "| denorm sync copy (the parent UPDATE alone) | $cp | $cpmin | $cpwal |"
    echo "| ratio denorm / hand-written triggers | $(div "$cp" "$tg") | $(div "$cpmin" "$tgmin") | $(div "$cpwal" "$tgwal") |"
    echo "| ratio denorm / hand-written statement | $(div "$cp" "$hw") | $(div "$cpmin" "$hwmin") | $(div "$cpwal" "$hwwal") |"
} > "$OUT/copies.md"
cat "$OUT/copies.md"
