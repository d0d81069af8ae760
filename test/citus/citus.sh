#!/usr/bin/env bash
# Citus: counters on distributed, co-located parent and child tables, on a
# cluster of one coordinator and two workers (test/citus/nodes.inc).  Each
# scenario checks every counter against a recompute from the children
# (a co-located join), exact after each step: creation in both orders,
# every write path (INSERT, INSERT ... SELECT, UPDATE of values and filter
# flips, DELETE, COPY, rollback, moving a child as DELETE + INSERT),
# immediate and 'commit' modes, what is refused (deferred, min/max,
# reference-table parents, tables not co-located), TRUNCATE, reconcile
# finding, logging and healing drift planted on several shards, pgbench
# with several clients, a shard move and a rebalance followed by writes,
# and forged triggers and tables on a worker.  Prints TAP; prints one
# "skipped" line and exits 0 when Citus is not installed.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/citus/nodes.inc
citus_nodes_start
source test/tap.sh
read -r C W1 W2 <<<"$CITUS_PORTS"

# qe SQL: runs SQL on the coordinator, prints "SQLSTATE: message" of its error
qe() {
    psql -X -q -t -A -d "$DB" -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "\\set VERBOSITY verbose" -c "$1" 2>&1 >/dev/null |
        sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): \(.*\)$/\1: \2/p' | head -1
}
# wrong TABLE-PREFIX: how many parent rows differ from a recompute
wrong() {
    q "SELECT count(*) FROM $1_parents p
         LEFT JOIN (SELECT c.parent_id, count(*) AS n, coalesce(sum(c.v), 0) AS total,
                           count(*) FILTER (WHERE c.v > 50) AS big
                      FROM $1_children c GROUP BY c.parent_id) a ON a.parent_id = p.id
        WHERE p.n <> coalesce(a.n, 0) OR p.total <> coalesce(a.total, 0)
           OR p.big <> coalesce(a.big, 0)"
}
# tables PREFIX: a parent and a child (not distributed yet)
tables() {
    q "CREATE TABLE $1_parents (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
                                total bigint NOT NULL DEFAULT 0, big int NOT NULL DEFAULT 0);
       CREATE TABLE $1_children (id int, parent_id int NOT NULL, v int NOT NULL,
                                 PRIMARY KEY (parent_id, id));
       CREATE INDEX ON $1_children (parent_id)" >/dev/null
}
distribute() {
    q "SELECT create_distributed_table('$1_parents', 'id');
       SELECT create_distributed_table('$1_children', 'parent_id', colocate_with => '$1_parents')" >/dev/null
}
# counters PREFIX: a count (immediate), a sum ('commit') and a filtered count
counters() {
    q "SELECT denorm_create_counter('$1_parents', 'n', '$1_children', 'parent_id');
       SELECT denorm_create_counter('$1_parents', 'total', '$1_children', 'parent_id', 'sum', 'v', mode => 'commit');
       SELECT denorm_create_counter('$1_parents', 'big', '$1_children', 'parent_id', filter => 'v > 50')" >/dev/null
}

q "CREATE EXTENSION denorm" >/dev/null
check "denorm is created on the workers too" "1|1" \
      "$(qn "$W1" "SELECT count(*) FROM pg_extension WHERE extname = 'denorm'")|$(qn "$W2" "SELECT count(*) FROM pg_extension WHERE extname = 'denorm'")"

# ---- distributed with rows, then counters created
tables a
distribute a
q "INSERT INTO a_parents (id) SELECT g FROM generate_series(1, 40) g;
   INSERT INTO a_children SELECT g, 1 + g % 40, g % 100 FROM generate_series(1, 2000) g" >/dev/null
counters a
check "distributed with rows, then counters created: the backfill is exact" 0 "$(wrong a)"
check "the counters are copied to every node" "3|3|3" \
      "$(qn "$C" "SELECT count(*) FROM denorm_citus_registry")|$(qn "$W1" "SELECT count(*) FROM denorm_citus_registry")|$(qn "$W2" "SELECT count(*) FROM denorm_citus_registry")"
q "INSERT INTO a_children VALUES (5000, 3, 60)" >/dev/null
check "INSERT" 0 "$(wrong a)"
q "INSERT INTO a_children SELECT g, 1 + g % 17, g % 90 FROM generate_series(5001, 5600) g" >/dev/null
check "INSERT ... SELECT over many parents" 0 "$(wrong a)"
q "UPDATE a_children SET v = v + 7 WHERE id % 5 = 0" >/dev/null
check "UPDATE of values, with filter flips" 0 "$(wrong a)"
check "(some rows did flip the filter)" t "$(q "SELECT count(*) > 0 FROM a_children WHERE id % 5 = 0 AND v - 7 <= 50 AND v > 50")"
q "DELETE FROM a_children WHERE id % 11 = 0" >/dev/null
check "DELETE" 0 "$(wrong a)"
printf '%s\n' "9001,4,77" "9002,4,3" "9003,39,51" "9004,12,99" |
    psql -X -q -d "$DB" -c "COPY a_children (id, parent_id, v) FROM STDIN WITH (FORMAT csv)" >/dev/null
check "COPY" 0 "$(wrong a)"
q "BEGIN; INSERT INTO a_children SELECT g, 1 + g % 40, 70 FROM generate_series(9100, 9300) g;
   DELETE FROM a_children WHERE parent_id = 7; ROLLBACK" >/dev/null
check "a rolled-back transaction leaves every counter as it was" 0 "$(wrong a)"
q "BEGIN;
   WITH gone AS (DELETE FROM a_children WHERE parent_id = 9 AND id % 2 = 0 RETURNING id, v)
   INSERT INTO a_children SELECT id, 21, v FROM gone;
   COMMIT" >/dev/null
check "moving children to another parent (DELETE + INSERT, in one transaction)" 0 "$(wrong a)"
q "BEGIN; INSERT INTO a_children VALUES (9400, 1, 80); INSERT INTO a_children VALUES (9401, 2, 10);
   UPDATE a_children SET v = 1 WHERE parent_id = 3; DELETE FROM a_children WHERE parent_id = 4 AND id < 100;
   SAVEPOINT s; INSERT INTO a_children VALUES (9402, 5, 99); ROLLBACK TO s;
   INSERT INTO a_children VALUES (9403, 6, 51); COMMIT" >/dev/null
check "a transaction over several parents and shards, with a savepoint rolled back" 0 "$(wrong a)"
q "INSERT INTO a_parents (id, n, total) VALUES (41, 99, 99)" >/dev/null
q "INSERT INTO a_children VALUES (9500, 42, 60); INSERT INTO a_parents (id) VALUES (42)" >/dev/null
check "new parent rows start from their children (none, or some written first)" 0 "$(wrong a)"
check "a direct write to a counter column is ignored on the workers too" 0 \
      "$(q "UPDATE a_parents SET n = n + 100 WHERE id < 10" >/dev/null; wrong a)"

# ---- what is refused, at creation, with a hint
tables r
q "SELECT create_reference_table('r_parents');
   SELECT create_distributed_table('r_children', 'parent_id')" >/dev/null
check "a reference-table parent is refused at creation" \
      '0A000: parent table "r_parents" of a denorm counter cannot be a Citus reference table' \
      "$(qe "SELECT denorm_create_counter('r_parents', 'n', 'r_children', 'parent_id')")"
check "(with a hint)" 1 \
      "$(psql -X -q -d "$DB" -c "SELECT denorm_create_counter('r_parents', 'n', 'r_children', 'parent_id')" 2>&1 | grep -c '^HINT:  Distribute table "r_parents" on its key')"
tables l
q "SELECT create_distributed_table('l_children', 'parent_id')" >/dev/null
check "a local parent of a distributed child is refused" \
      '0A000: tables "l_parents" and "l_children" of a denorm counter must both be hash-distributed Citus tables' \
      "$(qe "SELECT denorm_create_counter('l_parents', 'n', 'l_children', 'parent_id')")"
tables x
q "SELECT create_distributed_table('x_parents', 'id', shard_count => 4);
   SELECT create_distributed_table('x_children', 'parent_id', colocate_with => 'none')" >/dev/null
check "tables that are not co-located are refused" \
      '0A000: table "x_children" is not co-located with table "x_parents"' \
      "$(qe "SELECT denorm_create_counter('x_parents', 'n', 'x_children', 'parent_id')")"
q "ALTER TABLE a_parents ADD COLUMN top int, ADD COLUMN later int NOT NULL DEFAULT 0" >/dev/null
check "a deferred counter is refused" \
      "0A000: a deferred denorm counter cannot be kept on Citus distributed tables" \
      "$(qe "SELECT denorm_create_counter('a_parents', 'later', 'a_children', 'parent_id', mode => 'deferred')")"
check "a max counter is refused" \
      "0A000: a max counter cannot be kept on Citus distributed tables" \
      "$(qe "SELECT denorm_create_counter('a_parents', 'top', 'a_children', 'parent_id', 'max', 'v')")"
q "ALTER TABLE a_children ADD COLUMN parent_top int" >/dev/null
check "a copied column on distributed tables is refused" \
      '0A000: a denorm copy cannot be kept on Citus tables ("public.a_children" or "public.a_parents" is distributed)' \
      "$(qe "SELECT denorm_create_copy('a_children', 'parent_top', 'a_parents', 'top', 'parent_id')")"

# ---- counters created, then the tables distributed (with rows, or
# empty): Citus's copy into the shards is not counted again, and writes
# wait for denorm_citus_sync()
tables b
q "INSERT INTO b_parents (id) SELECT g FROM generate_series(1, 10) g;
   INSERT INTO b_children SELECT g, 1 + g % 10, g FROM generate_series(1, 100) g" >/dev/null
counters b
distribute b
check "counters created, then the tables distributed with rows: no double counting from Citus's copy" "0|h|h" \
      "$(wrong b)|$(q "SELECT denorm_citus_kind('b_parents')")|$(q "SELECT denorm_citus_kind('b_children')")"
check "writes are refused until the nodes' copy is synced, with a hint" 1 \
      "$(psql -X -q -d "$DB" -c "INSERT INTO b_children VALUES (1000, 1, 60)" 2>&1 | grep -c '^HINT:  .*run SELECT denorm_citus_sync() on the coordinator')"
tables e
counters e
distribute e
check "(tables distributed empty too)" 1 \
      "$(psql -X -q -d "$DB" -c "INSERT INTO e_children VALUES (1, 1, 60)" 2>&1 | grep -c 'run SELECT denorm_citus_sync()')"
check "denorm_citus_sync() copies the counters of all distributed tables" 9 "$(q "SELECT denorm_citus_sync()")"
q "INSERT INTO b_children SELECT g, 1 + g % 10, g % 100 FROM generate_series(1000, 1300) g;
   UPDATE b_children SET v = 99 - v WHERE id % 3 = 0; DELETE FROM b_children WHERE id % 4 = 0;
   INSERT INTO b_parents (id) VALUES (11)" >/dev/null
check "after the sync, writes are exact" 0 "$(wrong b)"
q "INSERT INTO e_parents (id) SELECT g FROM generate_series(1, 20) g;
   INSERT INTO e_children SELECT g, 1 + g % 20, g % 100 FROM generate_series(1, 500) g;
   UPDATE e_children SET v = 99 - v WHERE id % 3 = 0; DELETE FROM e_children WHERE id % 4 = 0" >/dev/null
check "(on tables distributed empty too)" 0 "$(wrong e)"

# ---- TRUNCATE
q "TRUNCATE e_children" >/dev/null
check "TRUNCATE of the child sets every parent to 0" "0|0" "$(wrong e)|$(q "SELECT sum(n) + sum(total) + sum(big) FROM e_parents")"
q "INSERT INTO e_children SELECT g, 1 + g % 20, g % 100 FROM generate_series(1, 300) g" >/dev/null
check "writes after TRUNCATE are exact" 0 "$(wrong e)"
q "BEGIN; TRUNCATE e_children; INSERT INTO e_children VALUES (1, 1, 77); ROLLBACK" >/dev/null
check "a rolled-back TRUNCATE leaves the counters as they were" 0 "$(wrong e)"

# ---- reconcile: drift planted on several shards
# (the guards run on the workers: the setting goes there with SET LOCAL)
plant() {
    psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET citus.propagate_set_commands = 'local';
BEGIN;
SET LOCAL denorm.counter_writes = 'allow';
$1
COMMIT;
SQL
}
plant "UPDATE a_parents SET n = n + 3 WHERE id IN (2, 13, 27, 38);
       UPDATE a_parents SET total = total - 5 WHERE id IN (5, 31);"
check "(the planted drift is on several shards)" t \
      "$(q "SELECT count(DISTINCT get_shard_id_for_distribution_column('a_parents', g)) > 3 FROM unnest(ARRAY[2, 13, 27, 38, 5, 31]) g")"
check "a dry run finds and logs it, on every shard" "6|6|0" \
      "$(q "SELECT sum(rows_drifted) FROM denorm_reconcile(heal => false)")|$(q "SELECT count(*) FROM denorm_drift_log WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)")|$(q "SELECT count(*) FILTER (WHERE healed) FROM denorm_drift_log")"
check "(the dry run changed nothing)" 6 "$(wrong a)"
check "reconcile heals it, shard by shard" "6|6" \
      "$(q "SELECT sum(rows_drifted) FROM denorm_reconcile()")|$(q "SELECT count(*) FILTER (WHERE healed) FROM denorm_drift_log WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)")"
check "the run is recorded as healed (over the alert ratio)" alert "$(q "SELECT status FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1")"
check "every counter is exact after the heal" "0|0" "$(wrong a)|$(wrong e)"
plant "UPDATE a_parents SET big = big + 1 WHERE id IN (3, 30);"
check "(planted)" 2 "$(wrong a)"
q "CALL denorm_reconcile_batched()" >/dev/null 2>&1
check "denorm_reconcile_batched heals too" 0 "$(wrong a)"

# a shard whose heal fails (a trigger of the application's refuses the row
# unless counter writes are allowed, as they are while drift is planted):
# its drift is logged unhealed, the other shards are healed
q "CREATE FUNCTION a_refuse() RETURNS trigger LANGUAGE plpgsql AS
     \$\$BEGIN IF NEW.id = 13 AND NEW.n <> OLD.n
                         AND current_setting('denorm.counter_writes') <> 'allow' THEN RAISE EXCEPTION 'row 13 is frozen'; END IF; RETURN NEW; END\$\$" >/dev/null
q "CREATE TRIGGER a_refuse BEFORE UPDATE ON a_parents FOR EACH ROW EXECUTE FUNCTION a_refuse()" >/dev/null
plant "UPDATE a_parents SET n = n + 2 WHERE id IN (13, 27);"
check "(planted on two shards)" t \
      "$(q "SELECT get_shard_id_for_distribution_column('a_parents', 13) <> get_shard_id_for_distribution_column('a_parents', 27)")"
check "a heal that fails on one shard: both rows logged, the other shard's healed" "2|1|13" \
      "$(q "SELECT sum(rows_drifted) FROM denorm_reconcile()" 2>/dev/null)|$(q "SELECT count(*) FILTER (WHERE healed) FROM denorm_drift_log WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)")|$(q "SELECT parent_key FROM denorm_drift_log WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs) AND NOT healed")"
check "(with a warning naming the counter and the error)" 1 \
      "$(psql -X -q -d "$DB" -c "SELECT 1 FROM denorm_reconcile(heal => true)" 2>&1 | grep -c 'could not heal 1 drifted row(s) of one shard of table "public.a_parents": row 13 is frozen')"
q "DROP TRIGGER a_refuse ON a_parents" >/dev/null
q "SELECT 1 FROM denorm_reconcile()" >/dev/null 2>&1
check "the next run heals it" 0 "$(wrong a)"

# ---- pgbench: several clients, transactions over several parents
cat > "$CITUS_DIR/bench.sql" <<'SQL'
\set p1 random(1, 40)
\set p2 random(1, 40)
\set id random(100000, 100000000)
\set v random(0, 99)
BEGIN;
INSERT INTO a_children VALUES (:id, :p1, :v) ON CONFLICT DO NOTHING;
INSERT INTO a_children VALUES (:id + 1, :p2, :v / 2) ON CONFLICT DO NOTHING;
UPDATE a_children SET v = :v WHERE parent_id = :p2 AND id = :id + 1;
DELETE FROM a_children WHERE parent_id = :p1 AND id = :id;
INSERT INTO a_children VALUES (:id + 2, :p1, 99 - :v) ON CONFLICT DO NOTHING;
END;
SQL
chmod 644 "$CITUS_DIR/bench.sql"
bench=$(pgbench -n -h 127.0.0.1 -p "$C" -U postgres -c 4 -j 2 -T 8 --max-tries=20 -f "$CITUS_DIR/bench.sql" "$DB" 2>&1)
check "pgbench: every transaction committed (deadlocks between opposite transactions retried)" 0 "$(echo "$bench" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')"
echo "# pgbench: $(echo "$bench" | grep -E '^(number of transactions actually processed|tps)' | tr '\n' ' ')"
check "pgbench with 4 clients: every counter exact" 0 "$(wrong a)"

# ---- a writer with no rights on the parent, and SELECT, INSERT, DELETE on the child
q "CREATE ROLE app_writer LOGIN; GRANT SELECT, INSERT, DELETE ON a_children TO app_writer" >/dev/null
psql -X -q -h 127.0.0.1 -p "$C" -U app_writer -d "$DB" -v ON_ERROR_STOP=1 \
     -c "INSERT INTO a_children SELECT g, 1 + g % 40, g % 100 FROM generate_series(150000, 150200) g" \
     -c "DELETE FROM a_children WHERE parent_id = 3" >/dev/null 2>&1
check "a writer with rights on the child only moves the counters" "t|0|0" \
      "$(q "SELECT count(*) > 150 FROM a_children WHERE id BETWEEN 150000 AND 150200")|$(q "SELECT n FROM a_parents WHERE id = 3")|$(q "SELECT count(*) FROM a_children WHERE parent_id = 3")"
check "(exact)" 0 "$(wrong a)"

# ---- shard move and rebalance, then writes
shard=$(q "SELECT get_shard_id_for_distribution_column('a_parents', 7)")
from=$(q "SELECT nodeport FROM citus_shards WHERE shardid = $shard")
to=$([ "$from" = "$W1" ] && echo "$W2" || echo "$W1")
q "SELECT citus_move_shard_placement($shard, '127.0.0.1', $from, '127.0.0.1', $to, shard_transfer_mode => 'block_writes')" >/dev/null
check "a shard group moved to the other worker" "$to" "$(q "SELECT nodeport FROM citus_shards WHERE shardid = $shard")"
q "INSERT INTO a_children SELECT g, 7, g % 100 FROM generate_series(200000, 200100) g;
   DELETE FROM a_children WHERE parent_id = 7 AND id % 3 = 0; UPDATE a_children SET v = 55 WHERE parent_id = 7" >/dev/null
check "writes on the moved shards are exact" 0 "$(wrong a)"
q "TRUNCATE e_children" >/dev/null
check "TRUNCATE after the move" 0 "$(wrong e)"
# two more shard groups to the same worker, then a rebalance evens them out
for k in 8 9 10 11 12 13; do
    sh=$(q "SELECT get_shard_id_for_distribution_column('a_parents', $k)")
    [ "$(q "SELECT nodeport FROM citus_shards WHERE shardid = $sh")" = "$to" ] && continue
    q "SELECT citus_move_shard_placement($sh, '127.0.0.1', $from, '127.0.0.1', $to, shard_transfer_mode => 'block_writes')" >/dev/null
done
spread="SELECT max(c) - min(c) FROM (SELECT nodeport, count(*) AS c FROM citus_shards
                                      WHERE table_name = 'a_parents'::regclass GROUP BY 1) s"
uneven=$(q "$spread")
q "SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
timeout 120 psql -X -q -d "$DB" -c "SELECT citus_rebalance_wait()" >/dev/null 2>&1
check "a rebalance evened out the shard groups ($uneven apart before)" t "$(q "SELECT ($spread) <= 2 AND $uneven > 2")"
q "INSERT INTO a_children SELECT g, 1 + g % 40, g % 100 FROM generate_series(300000, 300400) g;
   INSERT INTO e_children SELECT g, 1 + g % 20, g % 100 FROM generate_series(1, 200) g" >/dev/null
check "writes after the rebalance are exact" "0|0" "$(wrong a)|$(wrong e)"

# ---- renames
q "ALTER TABLE e_children RENAME COLUMN v TO val" >/dev/null
q "INSERT INTO e_children (id, parent_id, val) SELECT g, 1 + g % 20, 40 + g % 30 FROM generate_series(1000, 1100) g;
   UPDATE e_children SET val = val + 20 WHERE id % 7 = 0" >/dev/null
q "ALTER TABLE e_children RENAME COLUMN val TO v" >/dev/null
check "a renamed value column (in a filter too) is followed on every node" 0 "$(wrong e)"
q "ALTER TABLE e_children RENAME TO e_kids" >/dev/null
check "after renaming a table, writes are refused until synced" 1 \
      "$(psql -X -q -d "$DB" -c "INSERT INTO e_kids VALUES (2000, 1, 60)" 2>&1 | grep -c 'run SELECT denorm_citus_sync()')"
q "SELECT denorm_citus_sync()" >/dev/null
q "INSERT INTO e_kids SELECT g, 1 + g % 20, g % 100 FROM generate_series(2000, 2100) g" >/dev/null
q "ALTER TABLE e_kids RENAME TO e_children" >/dev/null
q "SELECT denorm_citus_sync()" >/dev/null
check "(synced, they are exact)" 0 "$(wrong e)"

# ---- dropping a counter
q "SELECT denorm_drop_counter('a_parents', 'big')" >/dev/null
check "a dropped counter leaves every node's copy" "0|0" \
      "$(qn "$W1" "SELECT count(*) FROM denorm_citus_registry WHERE counter_column = 'big' AND parent_table = 'a_parents'")|$(qn "$W2" "SELECT count(*) FROM denorm_citus_registry WHERE counter_column = 'big' AND parent_table = 'a_parents'")"
before=$(q "SELECT sum(big) FROM a_parents")
q "INSERT INTO a_children SELECT g, 1 + g % 40, 90 FROM generate_series(400000, 400100) g" >/dev/null
check "the others go on exact; its column is left alone" "0|$before" \
      "$(q "SELECT count(*) FROM a_parents p WHERE n <> (SELECT count(*) FROM a_children c WHERE c.parent_id = p.id)")|$(q "SELECT sum(big) FROM a_parents")"

# ---- forged triggers and tables on a worker
# The strongest attacker short of a superuser: may create tables in public
# and attach denorm's row trigger (EXECUTE granted) on a worker.
q "CREATE ROLE mallory LOGIN; GRANT CREATE ON SCHEMA public TO mallory" >/dev/null
qn "$W1" "GRANT EXECUTE ON FUNCTION denorm_row_trigger(), denorm_stmt_trigger() TO mallory" >/dev/null
other=$(q "SELECT shardid FROM citus_shards WHERE table_name = 'a_children'::regclass AND nodeport = $W2 LIMIT 1")
sum_before=$(q "SELECT sum(n) FROM a_parents")
qn "$W1" "SET ROLE mallory;
          CREATE TABLE public.a_children_$other (id int, parent_id int, v int);
          CREATE TRIGGER denorm_row AFTER INSERT ON public.a_children_$other FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger();
          CREATE TRIGGER denorm_stmt AFTER INSERT ON public.a_children_$other FOR EACH STATEMENT EXECUTE FUNCTION denorm_stmt_trigger();
          CREATE TABLE public.mine (id int, parent_id int, v int);
          CREATE TRIGGER denorm_row AFTER INSERT ON public.mine FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger();" >/dev/null 2>&1
qn "$W1" "SET ROLE mallory; INSERT INTO public.a_children_$other SELECT g, 1 + g % 40, 1 FROM generate_series(1, 50) g" >/dev/null 2>&1
qn "$W1" "SET ROLE mallory; INSERT INTO public.mine SELECT g, 1 + g % 40, 1 FROM generate_series(1, 50) g" >/dev/null 2>&1
check "a table named like a shard, of another owner, is not taken for one" "" \
      "$(qn "$W1" "SELECT denorm_citus_kind('public.a_children_$other')")"
check "a table named like a shard, of another owner, does not move the parents" "$sum_before" "$(q "SELECT sum(n) FROM a_parents")"
check "nor does a table of one's own with denorm's trigger" "$sum_before" "$(q "SELECT sum(n) FROM a_parents")"
check "(both tables took the rows)" "50|50" \
      "$(qn "$W1" "SELECT count(*) FROM public.a_children_$other")|$(qn "$W1" "SELECT count(*) FROM public.mine")"
check "the counters stay exact" 0 \
      "$(q "SELECT count(*) FROM a_parents p WHERE n <> (SELECT count(*) FROM a_children c WHERE c.parent_id = p.id)")"
check "the nodes' copy of the registry cannot be written by others" 1 \
      "$(qn "$W1" "SET ROLE mallory; INSERT INTO denorm_citus_registry VALUES (99, 'public', 'a_parents', 'n', 'public', 'mine', 'parent_id', 'id', 'count', NULL, NULL, 'immediate')" 2>&1 | grep -c 'permission denied')"

echo "1..$n"
[ "$failures" -eq 0 ]
