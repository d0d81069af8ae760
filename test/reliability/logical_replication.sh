#!/usr/bin/env bash
# Logical replication: counters on a subscriber follow the rows its apply
# worker writes.  The apply worker runs with session_replication_role =
# replica, where a trigger fires only when enabled ALWAYS (or REPLICA): a
# subscriber's counted child needs `ALTER TABLE ... ENABLE ALWAYS TRIGGER
# denorm_row`.  Without it replicated rows are not counted and reconcile
# finds them; with it a count, a sum and a max (inserts, deletes of the
# top row, moves, value changes, TRUNCATE) stay exact, applied row by row
# (statement triggers do not fire there).  Starts a cluster of its own
# with wal_level = logical, one port above the suite's.  Prints TAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DENORM_PORT=$(( ${PGPORT:-${DENORM_PORT:-54329}} + 7 ))
source tools/cluster.sh
denorm_cluster_start postgres "wal_level = logical" "max_replication_slots = 4" "max_wal_senders = 4"
source test/tap.sh
set +e
qd() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
for db in denorm_lr_pub denorm_lr_sub; do
    psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
done
schema="CREATE TABLE posts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, total bigint NOT NULL DEFAULT 0, top int);
        CREATE TABLE comments (id int PRIMARY KEY, post_id int REFERENCES posts, score int);
        CREATE INDEX ON comments (post_id, score);
        INSERT INTO posts (id) SELECT g FROM generate_series(1, 5) g;"
qd denorm_lr_pub "$schema" >/dev/null
qd denorm_lr_pub "CREATE PUBLICATION denorm_lr FOR TABLE comments" >/dev/null
qd denorm_lr_pub "SELECT pg_create_logical_replication_slot('denorm_lr', 'pgoutput')" >/dev/null
qd denorm_lr_sub "$schema" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d denorm_lr_sub >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION denorm;
SELECT denorm_create_counter('posts', 'n', 'comments', 'post_id');
SELECT denorm_create_counter('posts', 'total', 'comments', 'post_id', 'sum', 'score');
SELECT denorm_create_counter('posts', 'top', 'comments', 'post_id', 'max', 'score');
SQL
qd denorm_lr_sub "CREATE SUBSCRIPTION denorm_lr CONNECTION 'host=$PGHOST port=$PGPORT dbname=denorm_lr_pub user=postgres'
                  PUBLICATION denorm_lr WITH (create_slot = false, slot_name = 'denorm_lr')" >/dev/null 2>&1

wrong="SELECT count(*) FROM posts p
        WHERE p.n <> (SELECT count(*) FROM comments c WHERE c.post_id = p.id)
           OR p.total <> (SELECT coalesce(sum(c.score), 0) FROM comments c WHERE c.post_id = p.id)
           OR p.top IS DISTINCT FROM (SELECT max(c.score) FROM comments c WHERE c.post_id = p.id)"
# sync: waits until the subscriber has every comment the publisher has
sync() {
    local want i
    want=$(qd denorm_lr_pub "SELECT coalesce(sum(id * 7 + post_id * 3 + coalesce(score, 0)), 0) FROM comments")
    for i in $(seq 1 100); do
        [ "$(qd denorm_lr_sub "SELECT coalesce(sum(id * 7 + post_id * 3 + coalesce(score, 0)), 0) FROM comments")" = "$want" ] && return 0
        sleep 0.2
    done
}

# without ENABLE ALWAYS: the apply worker's rows are not counted
qd denorm_lr_pub "INSERT INTO comments SELECT g, 1 + g % 5, g % 10 FROM generate_series(1, 50) g" >/dev/null
sync
check "the subscriber has the rows" 50 "$(qd denorm_lr_sub "SELECT count(*) FROM comments")"
check "without ENABLE ALWAYS, replicated rows are not counted" 5 "$(qd denorm_lr_sub "$wrong")"
check "reconcile finds them" 15 "$(qd denorm_lr_sub "SELECT sum(rows_drifted) FROM denorm_reconcile()" 2>/dev/null)"

# with it, every kind of write follows
qd denorm_lr_sub "ALTER TABLE comments ENABLE ALWAYS TRIGGER denorm_row" >/dev/null
qd denorm_lr_pub "INSERT INTO comments SELECT g, 1 + g % 5, g % 13 FROM generate_series(51, 120) g" >/dev/null
qd denorm_lr_pub "DELETE FROM comments WHERE (post_id, score) IN (SELECT post_id, max(score) FROM comments GROUP BY post_id)" >/dev/null
qd denorm_lr_pub "UPDATE comments SET post_id = 1 + post_id % 5 WHERE id % 4 = 0" >/dev/null
qd denorm_lr_pub "UPDATE comments SET score = score - 3 WHERE id % 3 = 0" >/dev/null
qd denorm_lr_pub "BEGIN; INSERT INTO comments VALUES (1000, 2, 99); DELETE FROM comments WHERE id = 7; COMMIT" >/dev/null
sync
check "the subscriber has the rows" "$(qd denorm_lr_pub "SELECT count(*) FROM comments")" "$(qd denorm_lr_sub "SELECT count(*) FROM comments")"
check "with ENABLE ALWAYS, count, sum and max follow inserts, deletes of the top rows, moves and value changes" 0 "$(qd denorm_lr_sub "$wrong")"
qd denorm_lr_sub "ALTER TABLE comments ENABLE ALWAYS TRIGGER denorm_truncate" >/dev/null
qd denorm_lr_pub "TRUNCATE comments" >/dev/null
for i in $(seq 1 100); do
    [ "$(qd denorm_lr_sub "SELECT count(*) FROM comments")" = 0 ] && break
    sleep 0.2
done
check "a replicated TRUNCATE empties the subscriber's table (its trigger enabled ALWAYS too)" 0 "$(qd denorm_lr_sub "SELECT count(*) FROM comments")"
check "no drift left for reconcile" 0 "$(qd denorm_lr_sub "SELECT sum(rows_drifted) FROM denorm_reconcile(heal => false)" 2>/dev/null)"
check "denorm_status: the triggers are in place" t "$(qd denorm_lr_sub "SELECT bool_and(triggers_ok) FROM denorm_status")"

qd denorm_lr_sub "DROP SUBSCRIPTION denorm_lr" >/dev/null 2>&1
echo "1..$n"
[ "$failures" -eq 0 ]
