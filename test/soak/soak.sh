#!/usr/bin/env bash
# Concurrent soak: pgbench writers hammer a child table carrying a count, a
# sum, a filtered counter, a max and a min (mostly on one hot parent, with
# multi-row statements; many of them delete, lower or move out the rows
# holding a parent's max, or the oldest rows behind its min, several
# clients at once) while another pgbench runs reconciles in a loop, and,
# for deferred counters (SOAK_MODE=deferred), a third loops denorm_flush().
# The max and the min are in the soak's mode, but in mode 'immediate' in
# the deferred soak (min and max cannot be deferred): there they share the
# child and its statements with deferred counters.
# With SOAK_MODE=commit the counters are in mode 'commit' and the writers
# also run transactions of several statements that touch parents in no
# common order, with savepoints rolled back between them: the transactions
# that deadlock on immediate counters, some of them at REPEATABLE READ.
# The writers send their statements with the extended query protocol,
# prepared (pgbench -M prepared), as application drivers do.
# Afterwards there must be no drift logged (the reconciles never mistook an
# in-flight write, pending delta or flush for drift), no deadlock and no
# failed transaction; every column (plus its pending deltas) must equal a
# full recompute, and for deferred counters, after a final flush, every
# column alone must.  Prints TAP; exits non-zero on failure.
#
# Needs a running server reached through PGHOST/PGPORT/PGUSER, with denorm
# installed; works in its own database (SOAK_DB, default denorm_soak or
# denorm_soak_deferred), which it drops at the end unless SOAK_KEEP=1.
# SOAK_SECONDS (15), SOAK_CLIENTS (8), SOAK_PARENTS (300) size the run.
set -uo pipefail

MODE=${SOAK_MODE:-immediate}
case "$MODE" in
    immediate) DB=${SOAK_DB:-denorm_soak} ;;
    deferred) DB=${SOAK_DB:-denorm_soak_deferred} ;;
    commit) DB=${SOAK_DB:-denorm_soak_commit} ;;
    *) echo "SOAK_MODE must be immediate, commit or deferred" >&2; exit 2 ;;
esac
# min and max cannot be deferred: in the deferred soak they are immediate
EXTREME_MODE=$MODE
[ "$MODE" = deferred ] && EXTREME_MODE=immediate
SECONDS_TO_RUN=${SOAK_SECONDS:-15}
CLIENTS=${SOAK_CLIENTS:-8}
PARENTS=${SOAK_PARENTS:-300}
PGBENCH=${PGBENCH:-${DENORM_PGBIN:-/usr/lib/postgresql/15/bin}/pgbench}
# a hung run must not hang the suite
LIMIT=$((SECONDS_TO_RUN + 120))

work=$(mktemp -d /tmp/denorm-soak.XXXXXX)
cleanup() {
    rm -rf "$work"
    if [ "${SOAK_KEEP:-0}" != 1 ]; then
        PGOPTIONS="-c client_min_messages=warning" \
            psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    fi
}
trap cleanup EXIT

source "$(dirname "$0")/../tap.sh"
check_true() {  # check_true DESCRIPTION SHELL-TEST...
    local desc=$1; shift
    n=$((n + 1))
    if "$@"; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failures=$((failures + 1))
    fi
}

# ---------------------------------------------------------------- setup
PGOPTIONS="-c client_min_messages=warning" \
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" \
    >/dev/null || { echo "not ok 1 - could not create database $DB"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL || { echo "not ok 1 - setup failed"; exit 1; }
CREATE EXTENSION denorm;
CREATE TABLE soak_parents (id int PRIMARY KEY,
                           child_count int NOT NULL DEFAULT 0,
                           amount_sum bigint NOT NULL DEFAULT 0,
                           confirmed_count int NOT NULL DEFAULT 0,
                           max_amount int,
                           first_at timestamptz);
-- every insert gets a time somewhere in 100 days: now and then a new min
CREATE TABLE soak_children (id bigserial PRIMARY KEY,
                            parent_id int REFERENCES soak_parents,
                            amount int,
                            status text,
                            created_at timestamptz
                                DEFAULT '2024-01-01'::timestamptz + random() * interval '100 days');
CREATE INDEX ON soak_children (parent_id);
-- the max's recompute is an index probe; the min's reads the key's
-- children through the parent_id index
CREATE INDEX ON soak_children (parent_id, amount);
INSERT INTO soak_parents (id) SELECT g FROM generate_series(1, $PARENTS) g;
-- parent 1 is the hot one: a tenth of the rows to start with, and most
-- of the writes below
INSERT INTO soak_children (parent_id, amount, status)
SELECT CASE WHEN g % 10 = 0 THEN 1 WHEN g % 97 = 0 THEN NULL ELSE 1 + g % $PARENTS END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE g % 50 - 10 END,
       (ARRAY['confirmed', 'pending', 'cancelled', NULL])[1 + g % 4]
  FROM generate_series(1, 20 * $PARENTS) g;
SELECT denorm_create_counter('soak_parents', 'child_count', 'soak_children', 'parent_id',
                             mode => '$MODE');
SELECT denorm_create_counter('soak_parents', 'amount_sum', 'soak_children', 'parent_id',
                             aggregate => 'sum', value_column => 'amount', mode => '$MODE');
SELECT denorm_create_counter('soak_parents', 'confirmed_count', 'soak_children', 'parent_id',
                             filter => \$\$status = 'confirmed'\$\$, mode => '$MODE');
SELECT denorm_create_counter('soak_parents', 'max_amount', 'soak_children', 'parent_id',
                             aggregate => 'max', value_column => 'amount', mode => '$EXTREME_MODE');
-- (without its warning that no index leads with (parent_id, created_at))
SET client_min_messages = error;
SELECT denorm_create_counter('soak_parents', 'first_at', 'soak_children', 'parent_id',
                             aggregate => 'min', value_column => 'created_at', mode => '$EXTREME_MODE');
RESET client_min_messages;
-- what each flush folded, to show the flusher had work
CREATE TABLE soak_flushes (folded bigint NOT NULL);
-- Stored value (column + pending deltas, or the column alone) next to the
-- recomputed one: how many of the five counters of all parents differ
-- (the max and the min have no pending deltas: NULL where no child counts).
CREATE FUNCTION soak_wrong(with_pending boolean)
RETURNS bigint
LANGUAGE sql
AS \$\$
    SELECT coalesce(sum((p.child_count + CASE WHEN with_pending THEN q.n ELSE 0 END
                             IS DISTINCT FROM coalesce(a.n, 0))::int
                      + (p.amount_sum + CASE WHEN with_pending THEN q.s ELSE 0 END
                             IS DISTINCT FROM coalesce(a.s, 0))::int
                      + (p.confirmed_count + CASE WHEN with_pending THEN q.c ELSE 0 END
                             IS DISTINCT FROM coalesce(a.c, 0))::int
                      + (p.max_amount IS DISTINCT FROM a.mx)::int
                      + (p.first_at IS DISTINCT FROM a.mn)::int), 0)
      FROM soak_parents p
      LEFT JOIN (SELECT parent_id, count(*) AS n, sum(amount) AS s,
                        count(*) FILTER (WHERE status = 'confirmed') AS c,
                        max(amount) AS mx, min(created_at) AS mn
                   FROM soak_children GROUP BY parent_id) a ON a.parent_id = p.id
     CROSS JOIN LATERAL (
           SELECT coalesce(sum(x.delta) FILTER (WHERE d.counter_column = 'child_count'), 0) AS n,
                  coalesce(sum(x.delta) FILTER (WHERE d.counter_column = 'amount_sum'), 0) AS s,
                  coalesce(sum(x.delta) FILTER (WHERE d.counter_column = 'confirmed_count'), 0) AS c
             FROM denorm_pending x JOIN denorm_counters d ON d.id = x.counter_id
            WHERE d.parent = 'soak_parents'::regclass AND x.parent_key = p.id::text) q
\$\$;
-- the max and the min alone, for the figures: how many parents' differ
CREATE FUNCTION soak_wrong_extremes(OUT max_wrong bigint, OUT min_wrong bigint)
LANGUAGE sql
AS \$\$
    SELECT count(*) FILTER (WHERE p.max_amount IS DISTINCT FROM
                                  (SELECT max(c.amount) FROM soak_children c WHERE c.parent_id = p.id)),
           count(*) FILTER (WHERE p.first_at IS DISTINCT FROM
                                  (SELECT min(c.created_at) FROM soak_children c WHERE c.parent_id = p.id))
      FROM soak_parents p
\$\$;
ANALYZE soak_parents, soak_children;
SQL

# ------------------------------------------------------- writer scripts
# Every transaction is one statement, and statements that touch several
# existing rows pick them with ORDER BY id ... FOR UPDATE, so the workload
# itself takes row locks in one order: a deadlock could only come from the
# counters (parent updates, pending inserts, flushes, heals).  The hot
# parent is chosen 40% of the time.
hot='\set p CASE WHEN random(1, 100) <= 40 THEN 1 ELSE random(1, :nparents) END'
pick='SELECT id FROM soak_children
               WHERE id >= (SELECT last_value FROM soak_children_id_seq) * :r / 1000
               ORDER BY id LIMIT :k FOR UPDATE'

cat > "$work/insert_one.sql" <<EOF
$hot
\set v random(-5, 20)
\set s random(1, 4)
INSERT INTO soak_children (parent_id, amount, status)
VALUES (:p, NULLIF(:v, 0), (ARRAY['confirmed', 'pending', 'cancelled', NULL])[:s]);
EOF

cat > "$work/insert_many.sql" <<EOF
\set p random(1, :nparents)
\set k random(2, 8)
INSERT INTO soak_children (parent_id, amount, status)
SELECT CASE WHEN g % 3 = 0 THEN 1 WHEN g = 5 THEN NULL ELSE 1 + (:p + g) % :nparents END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE g * 3 - 7 END,
       CASE WHEN g % 2 = 0 THEN 'confirmed' ELSE 'pending' END
  FROM generate_series(1, :k) g;
EOF

# a dozen parents at once: applied in sets (see apply.c), locked in key order
cat > "$work/insert_spread.sql" <<EOF
\set p random(1, :nparents)
INSERT INTO soak_children (parent_id, amount, status)
SELECT CASE WHEN g = 1 THEN 1 ELSE 1 + (:p + g * 7) % :nparents END, g - 4,
       CASE WHEN g % 3 = 0 THEN 'confirmed' ELSE 'pending' END
  FROM generate_series(1, 12) g;
EOF
cat > "$work/move_spread.sql" <<EOF
\set r random(0, 999)
UPDATE soak_children SET parent_id = 1 + (parent_id * 13) % :nparents
 WHERE id IN (SELECT id FROM soak_children
               WHERE id >= (SELECT last_value FROM soak_children_id_seq) * :r / 1000
               ORDER BY id LIMIT 12 FOR UPDATE);
EOF

cat > "$work/move.sql" <<EOF
$hot
\set r random(0, 999)
\set k random(1, 4)
UPDATE soak_children SET parent_id = CASE WHEN id % 17 = 0 THEN NULL ELSE :p::int END
 WHERE id IN ($pick);
EOF

cat > "$work/move_off_hot.sql" <<EOF
\set p random(2, :nparents)
\set r random(0, 999)
UPDATE soak_children SET parent_id = CASE WHEN id % 2 = 0 THEN :p::int ELSE :p::int % :nparents + 1 END
 WHERE id IN (SELECT id FROM soak_children
               WHERE parent_id = 1
                 AND id >= (SELECT last_value FROM soak_children_id_seq) * :r / 1000
               ORDER BY id LIMIT 3 FOR UPDATE);
EOF

cat > "$work/value.sql" <<EOF
\set d random(-3, 9)
\set r random(0, 999)
\set k random(1, 5)
UPDATE soak_children
   SET amount = CASE WHEN amount IS NULL THEN :d WHEN id % 9 = 0 THEN NULL ELSE amount + :d END
 WHERE id IN ($pick);
EOF

cat > "$work/flip.sql" <<EOF
\set r random(0, 999)
\set k random(1, 5)
UPDATE soak_children
   SET status = CASE status WHEN 'confirmed' THEN 'pending'
                            WHEN 'pending' THEN 'confirmed'
                            WHEN 'cancelled' THEN NULL
                            ELSE 'confirmed' END
 WHERE id IN ($pick);
EOF

cat > "$work/mixed.sql" <<EOF
$hot
\set v random(-5, 20)
\set r random(0, 999)
\set k 1
UPDATE soak_children
   SET parent_id = :p, amount = :v,
       status = CASE WHEN status = 'confirmed' THEN 'cancelled' ELSE 'confirmed' END
 WHERE id IN ($pick);
EOF

cat > "$work/delete.sql" <<EOF
\set r random(0, 999)
\set k random(1, 3)
DELETE FROM soak_children WHERE id IN ($pick);
EOF

cat > "$work/delete_hot.sql" <<EOF
\set r random(0, 999)
DELETE FROM soak_children
 WHERE id IN (SELECT id FROM soak_children
               WHERE parent_id = 1
                 AND id >= (SELECT last_value FROM soak_children_id_seq) * :r / 1000
               ORDER BY id LIMIT 2 FOR UPDATE);
EOF

# The rows holding a parent's max (its top :k by amount) or behind its min
# (its oldest :k), the hot parent's 40% of the time: picked without a lock,
# then locked in id order like every other pick.  Clients running these at
# once often pick the same top rows, or the next ones down.
top='SELECT id FROM soak_children
               WHERE id IN (SELECT id FROM soak_children WHERE parent_id = :p
                             ORDER BY amount DESC NULLS LAST LIMIT :k)
               ORDER BY id FOR UPDATE'
oldest='SELECT id FROM soak_children
               WHERE id IN (SELECT id FROM soak_children WHERE parent_id = :p
                             ORDER BY created_at LIMIT :k)
               ORDER BY id FOR UPDATE'

cat > "$work/delete_top.sql" <<EOF
$hot
\set k random(1, 3)
DELETE FROM soak_children WHERE id IN ($top);
EOF

# lowers the max (now and then to NULL: the row counts no more)
cat > "$work/lower_top.sql" <<EOF
$hot
\set k random(1, 2)
\set d random(1, 30)
UPDATE soak_children SET amount = CASE WHEN id % 11 = 0 THEN NULL ELSE amount - :d END
 WHERE id IN ($top);
EOF

cat > "$work/move_top.sql" <<EOF
$hot
\set q random(2, :nparents)
\set k 1
UPDATE soak_children SET parent_id = :q WHERE id IN ($top);
EOF

# a new top: the parent's max (as this statement sees it) plus a little
cat > "$work/insert_top.sql" <<EOF
$hot
\set d random(0, 4)
INSERT INTO soak_children (parent_id, amount, status)
SELECT :p, coalesce(max(amount), 0) + :d, 'pending' FROM soak_children WHERE parent_id = :p;
EOF

cat > "$work/delete_oldest.sql" <<EOF
$hot
\set k random(1, 2)
DELETE FROM soak_children WHERE id IN ($oldest);
EOF

# raises the min
cat > "$work/age_oldest.sql" <<EOF
$hot
\set k random(1, 3)
\set h random(1, 500)
UPDATE soak_children SET created_at = created_at + :h * interval '1 hour' WHERE id IN ($oldest);
EOF

# Several statements per transaction, parents in no common order, the hot
# one among them, a savepoint rolled back in between (mode 'commit' only:
# on immediate counters each statement holds its parents until commit, and
# these deadlock).  They write only rows they inserted themselves, so the
# workload takes no row locks of its own in an order of its own.
cat > "$work/multi.sql" <<EOF
\set a random(2, :nparents)
\set b random(2, :nparents)
\set c random(2, :nparents)
BEGIN;
INSERT INTO soak_children (parent_id, amount, status) VALUES (:a, 3, 'confirmed') RETURNING id AS x \gset
INSERT INTO soak_children (parent_id, amount, status) VALUES (1, 2, 'pending') RETURNING id AS y \gset
UPDATE soak_children SET parent_id = :b, status = 'confirmed' WHERE id = :y;
SAVEPOINT s;
INSERT INTO soak_children (parent_id, amount, status) VALUES (:c, 5, 'confirmed'), (1, 1, NULL);
UPDATE soak_children SET parent_id = :c, amount = 7 WHERE id = :x;
ROLLBACK TO s;
INSERT INTO soak_children (parent_id, amount, status) VALUES (:c, 4, 'confirmed');
UPDATE soak_children SET parent_id = 1 WHERE id = :x;
DELETE FROM soak_children WHERE id = :y;
COMMIT;
EOF
# the hot parent's top rows deleted, then a new top inserted, raised and
# lowered again, and a new oldest row for another parent, in one
# transaction: the extremes are recomputed when it commits (the only
# existing rows it locks, it locks first and in id order)
cat > "$work/multi_top.sql" <<EOF
\set p 1
\set k random(1, 2)
\set a random(2, :nparents)
BEGIN;
DELETE FROM soak_children WHERE id IN ($top);
INSERT INTO soak_children (parent_id, amount, status)
SELECT 1, coalesce(max(amount), 0) + 3, 'confirmed' FROM soak_children WHERE parent_id = 1
RETURNING id AS x \gset
UPDATE soak_children SET amount = amount + 5 WHERE id = :x;
INSERT INTO soak_children (parent_id, amount, status, created_at)
VALUES (:a, 1, 'pending', '2023-12-31');
UPDATE soak_children SET amount = amount - 20 WHERE id = :x;
SAVEPOINT s;
DELETE FROM soak_children WHERE id = :x;
ROLLBACK TO s;
COMMIT;
EOF
# at REPEATABLE READ: commit-time deltas go to the parents' latest rows,
# and extremes are recomputed with a snapshot newer than the transaction's,
# so these fail no more than they would without counters (never, here)
cat > "$work/multi_rev.sql" <<EOF
\set a random(2, :nparents)
\set b random(2, :nparents)
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO soak_children (parent_id, amount, status) VALUES (:b, 6, 'pending') RETURNING id AS x \gset
INSERT INTO soak_children (parent_id, amount, status) VALUES (1, 1, 'confirmed');
UPDATE soak_children SET parent_id = :a, amount = amount - 9 WHERE id = :x;
INSERT INTO soak_children (parent_id, amount, status)
SELECT CASE WHEN g = 2 THEN 1 ELSE :b END, g, 'confirmed' FROM generate_series(1, 3) g;
INSERT INTO soak_children (parent_id, amount, status) VALUES (1, 1000000, 'pending') RETURNING id AS y \gset
UPDATE soak_children SET amount = 1 WHERE id = :y;
COMMIT;
EOF
if [ "$MODE" = commit ]; then
    multi_scripts="-f $work/multi.sql@14 -f $work/multi_rev.sql@10 -f $work/multi_top.sql@8"
else
    multi_scripts=""
fi

# ------------------------------------------------------- flusher scripts
# mostly all counters, sometimes one (it locks the same parent rows)
echo 'INSERT INTO soak_flushes SELECT denorm_flush();' > "$work/flush.sql"
cat > "$work/flush_one.sql" <<EOF
\set k random(1, 3)
INSERT INTO soak_flushes
SELECT denorm_flush(id) FROM denorm_counters
 WHERE parent = 'soak_parents'::regclass
   AND counter_column = (ARRAY['child_count', 'amount_sum', 'confirmed_count'])[:k];
EOF

# ---------------------------------------------------- reconciler scripts
echo 'SELECT count(*) FROM denorm_reconcile();' > "$work/reconcile.sql"
echo 'CALL denorm_reconcile_batched();' > "$work/reconcile_batched.sql"
cat > "$work/reconcile_range.sql" <<EOF
\set lo random(1, :nparents)
SELECT count(*) FROM denorm_counters c, denorm_reconcile_range(c.id, (:lo)::text, (:lo + 40)::text) r;
EOF

# ----------------------------------------------------------------- run
deadlocks_before=$(q "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
runs_before=$(q "SELECT count(*) FROM denorm_reconcile_runs")

# Small reconcile batches: each batch is its own snapshot, so a run spans
# many moments of the writers' progress.
PGOPTIONS="-c denorm.reconcile_batch_size=40 -c client_min_messages=warning" \
    timeout "$LIMIT" "$PGBENCH" -n -c 1 -T "$SECONDS_TO_RUN" -D nparents="$PARENTS" \
    --failures-detailed \
    -f "$work/reconcile.sql@4" -f "$work/reconcile_batched.sql@1" -f "$work/reconcile_range.sql@2" \
    "$DB" > "$work/reconciler.out" 2> "$work/reconciler.err" &
reconciler=$!

if [ "$MODE" = deferred ]; then
    timeout "$LIMIT" "$PGBENCH" -n -c 1 -T "$SECONDS_TO_RUN" \
        --failures-detailed \
        -f "$work/flush.sql@4" -f "$work/flush_one.sql@1" \
        "$DB" > "$work/flusher.out" 2> "$work/flusher.err" &
    flusher=$!
else
    : > "$work/flusher.out"
    : > "$work/flusher.err"
fi

# the writers use the extended query protocol with prepared statements,
# as application drivers do (generic plans after five runs)
timeout "$LIMIT" "$PGBENCH" -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_TO_RUN" -D nparents="$PARENTS" \
    -M prepared --failures-detailed \
    -f "$work/insert_one.sql@20" -f "$work/insert_many.sql@8" \
    -f "$work/insert_spread.sql@4" -f "$work/move_spread.sql@4" \
    -f "$work/move.sql@12" -f "$work/move_off_hot.sql@6" \
    -f "$work/value.sql@14" -f "$work/flip.sql@12" -f "$work/mixed.sql@6" \
    -f "$work/delete.sql@12" -f "$work/delete_hot.sql@6" \
    -f "$work/delete_top.sql@10" -f "$work/lower_top.sql@8" -f "$work/move_top.sql@4" \
    -f "$work/insert_top.sql@8" -f "$work/delete_oldest.sql@6" -f "$work/age_oldest.sql@4" \
    $multi_scripts \
    "$DB" > "$work/writers.out" 2> "$work/writers.err"
writers_rc=$?
wait "$reconciler"
reconciler_rc=$?
flusher_rc=0
if [ "$MODE" = deferred ]; then
    wait "$flusher"
    flusher_rc=$?
fi

# -------------------------------------------------------------- figures
figure() {  # figure FILE LABEL: the number after "LABEL: " in pgbench's summary
    sed -n "s/^$2: \([0-9]*\).*/\1/p" "$1" | head -n 1
}
transactions=$(figure "$work/writers.out" "number of transactions actually processed")
failed=$(figure "$work/writers.out" "number of failed transactions")
deadlock_failures=$(figure "$work/writers.out" "number of deadlock failures")
reconciles=$(figure "$work/reconciler.out" "number of transactions actually processed")
reconcile_failed=$(figure "$work/reconciler.out" "number of failed transactions")
flushes=$(figure "$work/flusher.out" "number of transactions actually processed")
flush_failed=$(figure "$work/flusher.out" "number of failed transactions")
errors=$(cat "$work/writers.err" "$work/reconciler.err" "$work/flusher.err" | grep -cE 'ERROR|aborted')
# backends flush their statistics when they exit; pgbench's have
sleep 1
deadlocks_after=$(q "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
deadlocks=$((deadlocks_after - deadlocks_before))
runs=$(q "SELECT count(*) FROM denorm_reconcile_runs")
runs=$((runs - runs_before))
runs_not_ok=$(q "SELECT count(*) FROM denorm_reconcile_runs WHERE status <> 'ok'")
drift_rows=$(q "SELECT count(*) FROM denorm_drift_log")
folded=$(q "SELECT coalesce(sum(folded), 0) FROM soak_flushes")
# before the final flush the column alone may lag; column + pending may not
pending=$(q "SELECT count(*) FROM denorm_pending")
wrong_exact=$(q "SELECT soak_wrong(true)")
extremes_wrong=$(q "SELECT max_wrong || ' max, ' || min_wrong || ' min' FROM soak_wrong_extremes()")
hot_max=$(q "SELECT coalesce(max_amount::text, 'NULL') FROM soak_parents WHERE id = 1")
hot_value=$(q "SELECT denorm_value(id, 1) FROM denorm_counters
                WHERE parent = 'soak_parents'::regclass AND counter_column = 'child_count'")
hot_true=$(q "SELECT count(*) FROM soak_children WHERE parent_id = 1")
final_folded=$(q "SELECT denorm_flush()")
pending_after=$(q "SELECT count(*) FROM denorm_pending")
wrong=$(q "SELECT soak_wrong(false)")
hot_rows=$(q "SELECT child_count FROM soak_parents WHERE id = 1")
children=$(q "SELECT count(*) FROM soak_children")

echo "# clients: $CLIENTS, seconds: $SECONDS_TO_RUN, parents: $PARENTS, children now: $children (hot parent: $hot_rows, its max $hot_max)"
echo "# writer transactions: ${transactions:-?}, failed: ${failed:-?} (${deadlock_failures:-?} by deadlock), errors: $errors, deadlocks: $deadlocks"
echo "# reconcile transactions: ${reconciles:-?} ($runs runs recorded), failed: ${reconcile_failed:-?}, runs not ok: $runs_not_ok"
if [ "$MODE" = deferred ]; then
    echo "# flush transactions: ${flushes:-?} (folded $folded pending rows), failed: ${flush_failed:-?}"
    echo "# pending rows at the end: $pending (the final flush folded $final_folded, left $pending_after)"
    echo "# drift rows: $drift_rows, wrong counters: column + pending $wrong_exact, column after the final flush $wrong"
else
    echo "# drift rows: $drift_rows, wrong counters: $wrong"
fi
echo "# max and min ($EXTREME_MODE) wrong: $extremes_wrong"
if [ "$deadlocks" -gt 0 ]; then
    echo "# the server log has each deadlock's statements (search for 'deadlock detected')"
fi
if [ "$errors" -gt 0 ]; then
    grep -hE 'ERROR|aborted' "$work/writers.err" "$work/reconciler.err" "$work/flusher.err" |
        sort | uniq -c | head -n 20 |
        sed 's/^/# /'
fi

# ---------------------------------------------------------------- TAP
check "writer pgbench finished cleanly (exit status)" 0 "$writers_rc"
check "reconciler pgbench finished cleanly (exit status)" 0 "$reconciler_rc"
[ "$MODE" = deferred ] && check "flusher pgbench finished cleanly (exit status)" 0 "$flusher_rc"
check_true "writers committed transactions" [ "${transactions:-0}" -gt 0 ]
check "no failed writer transactions" 0 "${failed:-missing}"
check "no failed reconcile transactions" 0 "${reconcile_failed:-missing}"
[ "$MODE" = deferred ] && check "no failed flush transactions" 0 "${flush_failed:-missing}"
check "no errors or aborted clients" 0 "$errors"
check "no deadlocks" 0 "$deadlocks"
check_true "reconciles ran during the writes" [ "$runs" -gt 0 ]
[ "$MODE" = deferred ] && check_true "flushes folded pending rows during the writes" [ "$folded" -gt 0 ]
check "no drift logged during live writes" 0 "$drift_rows"
check "every reconcile run ended ok" 0 "$runs_not_ok"
if [ "$MODE" = deferred ]; then
    check "every column plus its pending deltas equals a full recompute" 0 "$wrong_exact"
    check "denorm_value of the hot parent equals a recompute" "$hot_true" "$hot_value"
    check "the final flush folded every pending row" "$pending" "$final_folded"
    check "nothing is pending after the final flush" 0 "$pending_after"
    check "every column equals a full recompute after the final flush" 0 "$wrong"
else
    check "every counter equals a full recompute" 0 "$wrong"
fi
check "a last reconcile finds nothing" 0 \
      "$(q "SELECT coalesce(sum(rows_drifted), 0) FROM denorm_reconcile(heal => false)")"
echo "1..$n"
[ "$failures" -eq 0 ]
