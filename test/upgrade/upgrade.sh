#!/usr/bin/env bash
# Upgrading from the previous release, the way a package upgrade does it:
# the 1.0 release is built from this repository's history and installed,
# counters are created and written to (deferred deltas left pending, a
# reconcile killed mid-run), then the current build replaces it, the server
# restarts, and `ALTER EXTENSION denorm UPDATE` runs while writers are busy.
# Counters must stay exact throughout, pending deltas must fold, and the
# updated extension must match a fresh install (the current version's
# script, built from sql/denorm.sql) object for object.
#
# Needs the cluster of test/run-all.sh (DENORM_CLUSTER_DIR) and root (it
# swaps the installed extension files, and puts the current build back when
# it ends).  Without the 1.0 commit in this clone (a shallow clone) the
# previous release's SQL runs on the current library instead, and the
# check that needs the old library is reported as skipped.  Prints TAP.
set -euo pipefail
: "${DENORM_CLUSTER_DIR:?run from test/run-all.sh}"
PGBIN=${DENORM_PGBIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=${PG_CONFIG:-$PGBIN/pg_config}   # as tools/cluster.sh sets it
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OLD_VERSION=1.0
NEW_VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/denorm.control")
# where to find the 1.0 release: its tag, else its commit
OLD_RELEASES=${DENORM_OLD_RELEASE:-v1.0 b4685436a860ebcd63eb6e104f834802f349cc52}
DB=denorm_upgrade
FRESH=denorm_upgrade_fresh
WORK=$(mktemp -d /tmp/denorm-upgrade.XXXXXX)
chmod 755 "$WORK"

server() {  # server start|stop
    if [ "$1" = stop ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" -m fast -w stop >/dev/null
    else
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" \
            -l "$DENORM_CLUSTER_DIR/server.log" -w start >/dev/null
    fi
}
# Whatever happens, leave the current build installed and the server up.
bg_pids=""
finish() {
    for pid in $bg_pids; do kill "$pid" 2>/dev/null || true; done
    make -C "$ROOT" -s install >/dev/null 2>&1 || true
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" status >/dev/null 2>&1 \
        || server start
    rm -rf "$WORK"
}
trap finish EXIT

source "$ROOT/test/tap.sh"

# Parent rows whose counters differ from a full recompute; deferred ones
# are read with denorm_value (column plus pending deltas).
wrong_sql="SELECT
 (SELECT count(*) FROM upg_products p
    LEFT JOIN (SELECT product_id, count(*) FILTER (WHERE approved) AS n, sum(rating) AS s
                 FROM upg_reviews GROUP BY 1) r ON r.product_id = p.id
   WHERE p.approved_reviews <> coalesce(r.n, 0) OR p.rating_sum <> coalesce(r.s, 0))
 + (SELECT count(*) FROM upg_users u
     WHERE denorm_value((SELECT id FROM denorm_counters WHERE counter_column = 'followers'), u.id)
           <> (SELECT count(*) FROM upg_follows f WHERE f.followed_id = u.id))
 + (SELECT count(*) FROM upg_orders o
     WHERE o.total <> coalesce((SELECT sum(amount) FROM upg_items i WHERE i.order_id = o.id), 0))"

cat > "$WORK/write.pgb" <<'EOF'
\set p random(1, 100)
\set u random(1, 50)
\set o random(1, 80)
BEGIN;
INSERT INTO upg_reviews (product_id, rating, approved) VALUES (:p, :p % 5 + 1, :p % 3 > 0);
UPDATE upg_reviews SET approved = NOT approved, product_id = :p
 WHERE id = (SELECT max(id) - 3 FROM upg_reviews);
DELETE FROM upg_reviews WHERE id = (SELECT min(id) FROM upg_reviews WHERE product_id = :p);
INSERT INTO upg_follows (follower_id, followed_id) VALUES (:u, 1 + (:u * 7) % 50);
DELETE FROM upg_follows WHERE id = (SELECT min(id) FROM upg_follows WHERE followed_id = :u);
INSERT INTO upg_items (order_id, amount, placed) VALUES (:o, :o * 1.25, date '2026-01-01' + :o * 4);
UPDATE upg_items SET amount = amount + 1 WHERE id = (SELECT max(id) FROM upg_items WHERE order_id = :o);
END;
EOF
write_load() {  # write_load SECONDS: mixed writes from 3 clients; prints pgbench's exit status
    local rc=0
    "$PGBIN/pgbench" -n -c 3 -j 3 -T "$1" -f "$WORK/write.pgb" "$DB" > "$WORK/pgbench.$1.log" 2>&1 || rc=$?
    echo "$rc"
}

# Installing the previous release -------------------------------------------
old_src=""
git_() { git -c safe.directory="$ROOT" -C "$ROOT" "$@"; }
for rev in $OLD_RELEASES; do
    if git_ rev-parse -q --verify "$rev^{commit}" >/dev/null 2>&1; then
        old_src=$rev; break
    fi
done
server stop
if [ -n "$old_src" ]; then
    mkdir "$WORK/old"
    git_ archive "$old_src" | tar -x -C "$WORK/old"
    make -C "$ROOT" -s uninstall >/dev/null
    make -C "$WORK/old" -s >/dev/null
    make -C "$WORK/old" -s install >/dev/null
    echo "# previous release: denorm $OLD_VERSION built from $(git_ rev-parse --short "$old_src^{commit}")"
else
    echo "# the $OLD_VERSION release is not in this clone's history: its SQL runs on the current library"
    n=$((n + 1))
    echo "ok $n # SKIP counters written by the $OLD_VERSION library itself (not in this clone)"
fi
server start
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP DATABASE IF EXISTS $FRESH" >/dev/null 2>&1
psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
q "CREATE EXTENSION denorm VERSION '$OLD_VERSION'"
check "the previous release is installed" "$OLD_VERSION" \
      "$(q "SELECT extversion FROM pg_extension WHERE extname = 'denorm'")"

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL'
CREATE TABLE upg_products (id int PRIMARY KEY, approved_reviews int NOT NULL DEFAULT 0,
                           rating_sum bigint NOT NULL DEFAULT 0);
CREATE TABLE upg_reviews (id bigserial PRIMARY KEY, product_id int, rating int NOT NULL,
                          approved boolean NOT NULL);
CREATE INDEX ON upg_reviews (product_id);
CREATE TABLE upg_users (id int PRIMARY KEY, followers int NOT NULL DEFAULT 0);
CREATE TABLE upg_follows (id bigserial PRIMARY KEY, follower_id int, followed_id int);
CREATE INDEX ON upg_follows (followed_id);
CREATE TABLE upg_orders (id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0);
CREATE TABLE upg_items (id bigserial, order_id int, amount numeric NOT NULL, placed date NOT NULL)
    PARTITION BY RANGE (placed);
CREATE TABLE upg_items_a PARTITION OF upg_items FOR VALUES FROM ('2026-01-01') TO ('2026-06-01');
CREATE TABLE upg_items_b PARTITION OF upg_items FOR VALUES FROM ('2026-06-01') TO ('2027-01-01');
CREATE INDEX ON upg_items (order_id);
INSERT INTO upg_products (id) SELECT g FROM generate_series(1, 100) g;
INSERT INTO upg_users (id) SELECT g FROM generate_series(1, 50) g;
INSERT INTO upg_orders (id) SELECT g FROM generate_series(1, 80) g;
INSERT INTO upg_reviews (product_id, rating, approved)
SELECT 1 + g % 100, 1 + g % 5, g % 4 > 0 FROM generate_series(1, 2000) g;
INSERT INTO upg_follows (follower_id, followed_id) SELECT g, 1 + g % 50 FROM generate_series(1, 500) g;
SELECT denorm_create_counter('upg_products', 'approved_reviews', 'upg_reviews', 'product_id',
                             filter => 'approved');
SELECT denorm_create_counter('upg_products', 'rating_sum', 'upg_reviews', 'product_id', 'sum', 'rating');
SELECT denorm_create_counter('upg_users', 'followers', 'upg_follows', 'followed_id', mode => 'deferred');
SELECT denorm_create_counter('upg_orders', 'total', 'upg_items', 'order_id', 'sum', 'amount');
SELECT count(*) FROM denorm_reconcile();
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_upg_admin;
CREATE ROLE regress_upg_admin;
SELECT denorm_grant_admin('regress_upg_admin');
SQL
check "writes under $OLD_VERSION succeed" "0" "$(write_load 4)"
check "counters are exact under $OLD_VERSION" "0" "$(q "$wrong_sql")"
pending_before=$(q "SELECT count(*) FROM denorm_pending")
check "deferred deltas are pending when the release is replaced" "1" \
      "$([ "$pending_before" -gt 0 ] && echo 1 || echo 0)"

# A reconcile cut off by the upgrade: it commits its run row, then waits on
# a lock until the server stops.
hold_lock upg_reviews 300
bg_pids="$bg_pids $lock_pid"
psql -X -q -d "$DB" -c "CALL denorm_reconcile_batched()" >/dev/null 2>&1 &
reconciler=$!
bg_pids="$bg_pids $reconciler"
wait_until "SELECT count(*) FROM denorm_reconcile_runs WHERE status = 'running'" 1 100 0.1
check "a reconcile is under way when the server stops" "1" \
      "$(q "SELECT count(*) FROM denorm_reconcile_runs WHERE status = 'running'")"

# The package upgrade: new files in place, server restarted ---------------
server stop
wait "$lock_pid" "$reconciler" 2>/dev/null || true
make -C "$ROOT" -s install >/dev/null
server start
check "until updated, the database stays at $OLD_VERSION" "$OLD_VERSION" \
      "$(q "SELECT extversion FROM pg_extension WHERE extname = 'denorm'")"
check "writes with the new library succeed" "0" "$(write_load 3)"
check "the new library maintains the $OLD_VERSION counters" "0" "$(q "$wrong_sql")"

# ALTER EXTENSION UPDATE with writers running ------------------------------
write_load 6 > "$WORK/load.rc" &
load=$!
bg_pids="$bg_pids $load"
sleep 2
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "ALTER EXTENSION denorm UPDATE" > "$WORK/update.txt" 2>&1
wait "$load"
check "writers running through the update all succeed" "0" "$(cat "$WORK/load.rc")"
check "the extension is at $NEW_VERSION" "$NEW_VERSION" \
      "$(q "SELECT extversion FROM pg_extension WHERE extname = 'denorm'")"
check "counters are exact after the update" "0" "$(q "$wrong_sql")"
check "the update names the roles given administration under $OLD_VERSION" "1" \
      "$(grep -c "role regress_upg_admin may administer denorm: .* new in $NEW_VERSION" "$WORK/update.txt")"
check "administrators no longer write the registry or pending deltas" "f|f|f" \
      "$(q "SELECT concat_ws('|', has_table_privilege('regress_upg_admin', 'denorm_counters', 'INSERT, UPDATE, DELETE'),
                                has_table_privilege('regress_upg_admin', 'denorm_pending', 'INSERT, UPDATE, DELETE'),
                                has_sequence_privilege('regress_upg_admin', 'denorm_counters_id_seq', 'USAGE, UPDATE'))")"
check "PUBLIC may execute only what reads the catalogs, the caller's own transaction or what the caller may SELECT" \
      "denorm_apply,denorm_child_tables,denorm_child_trigger,denorm_copy_fk_indexed,denorm_copy_trigger_problems,denorm_counter_id,denorm_counter_write,denorm_dropped_table,denorm_error,denorm_fk_indexed,denorm_is_counter_trigger,denorm_local_delta,denorm_trigger_problems,denorm_unpinned_parent_triggers,denorm_value,denorm_values" \
      "$(q "SELECT string_agg(DISTINCT p.proname, ',' ORDER BY p.proname) FROM pg_proc p
              JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
              AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'denorm')
             WHERE has_function_privilege('public', p.oid, 'EXECUTE')")"
check "the counters of 1.0 now share one set of child triggers per table" "0" \
      "$(q "SELECT count(*) FROM pg_trigger WHERE tgname ~ '^denorm_[0-9]+_(row|stmt|truncate)$'")"
check "writes after the update succeed" "0" "$(write_load 3)"
check "counters are exact after more writes" "0" "$(q "$wrong_sql")"
check "the pending deltas from before the upgrade are still there" "1" \
      "$(q "SELECT (count(*) FILTER (WHERE created_at < pg_postmaster_start_time()) > 0)::int FROM denorm_pending")"
q "SELECT denorm_flush()" >/dev/null
check "flush folds every pending delta" "0" "$(q "SELECT count(*) FROM denorm_pending")"
check "the deferred column is exact after the flush" "0" \
      "$(q "SELECT count(*) FROM upg_users u WHERE followers <> (SELECT count(*) FROM upg_follows f WHERE f.followed_id = u.id)")"
check "reconcile finds no drift" "0|0" \
      "$(q "SELECT count(*), coalesce(sum(rows_drifted), 0) FROM denorm_reconcile(heal => false) WHERE rows_drifted <> 0")"
check "the purge closes the reconcile cut off by the upgrade" "1" \
      "$(q "SELECT runs_closed FROM denorm_purge_history()")"
check "that run is marked failed as abandoned, the others kept" "ok|failed abandoned|ok" \
      "$(q "SELECT string_agg(concat_ws(' ', status, split_part(error, ':', 1)), '|' ORDER BY run_id) FROM denorm_reconcile_runs")"
check "such a role lacks the new functions until granted again" "42501" \
      "$(psql -X -q -t -A -d "$DB" -c "SET ROLE regress_upg_admin" \
             -c "SELECT * FROM denorm_purge_history()" -c '\echo :SQLSTATE' 2>/dev/null | tail -1)"
q "SELECT denorm_grant_admin('regress_upg_admin')" >/dev/null
check "granted again, it can purge" "0" \
      "$(psql -X -q -t -A -d "$DB" -c "SET ROLE regress_upg_admin" \
             -c "SELECT runs_deleted FROM denorm_purge_history()" 2>&1)"
q "ALTER TABLE upg_users ADD COLUMN following int NOT NULL DEFAULT 0"
q "SELECT denorm_create_counter('upg_users', 'following', 'upg_follows', 'follower_id')" >/dev/null
q "INSERT INTO upg_follows (follower_id, followed_id) VALUES (7, 8), (7, 9)"
check "a counter created after the update is backfilled and maintained" "0" \
      "$(q "SELECT count(*) FROM upg_users u WHERE following <> (SELECT count(*) FROM upg_follows f WHERE f.follower_id = u.id)")"
q "SELECT denorm_drop_counter('upg_users', 'following')" >/dev/null
check "and dropped" "0" "$(q "SELECT count(*) FROM denorm_counters WHERE counter_column = 'following'")"

# The updated extension is the fresh one -----------------------------------
# A fresh install runs the current version's script, built from
# sql/denorm.sql; the updated database ran the released 1.0 script and
# then every upgrade script.  tools/compare-install.sh lists both object
# for object (full function definitions, columns, constraints, indexes,
# triggers, event triggers, privileges, comments, initial privileges,
# dumped tables): a change made in sql/denorm.sql and not in the newest
# upgrade script (or the other way round), or an edit of the released 1.0
# script, shows up here.  The role this test made administrator is left
# out of the privileges.
psql -X -q -d postgres -c "CREATE DATABASE $FRESH" >/dev/null
psql -X -q -d "$FRESH" -c "CREATE EXTENSION denorm" >/dev/null
compare_rc=0
"$ROOT/tools/compare-install.sh" --databases "$DB" "$FRESH" --ignore-role regress_upg_admin \
    > "$WORK/compare.txt" 2>&1 || compare_rc=$?
sed 's/^/# /' "$WORK/compare.txt" | head -60
check "the updated extension has what a fresh install has ($(tail -1 "$WORK/compare.txt"))" \
      "0" "$compare_rc"
# and the same from this tree's 1.0 script, in databases with nothing else
# in them, where what the installs print is compared too
compare_rc=0
"$ROOT/tools/compare-install.sh" "$OLD_VERSION" > "$WORK/compare.txt" 2>&1 || compare_rc=$?
sed 's/^/# /' "$WORK/compare.txt" | head -60
check "CREATE EXTENSION denorm equals $OLD_VERSION and ALTER EXTENSION denorm UPDATE ($(tail -1 "$WORK/compare.txt"))" \
      "0" "$compare_rc"

psql -X -q -d postgres -c "DROP DATABASE $DB" -c "DROP DATABASE $FRESH" >/dev/null
psql -X -q -d postgres -c "DROP ROLE regress_upg_admin" >/dev/null
echo "1..$n"
