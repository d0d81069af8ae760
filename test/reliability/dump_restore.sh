#!/usr/bin/env bash
# Dump and restore: pg_dump of a database with counters (immediate,
# deferred with pending deltas, filtered, partitioned child) and a copied
# column restored into
# a new database gives working counters: registry rows and triggers once,
# no double counting, no drift.  Then a data-only restore of child rows
# with triggers disabled is healed by denorm_reconcile().  Needs the
# cluster of test/run-all.sh.  Prints TAP.
set -euo pipefail
SRC=denorm_dump_src
DST=denorm_dump_dst
DST2=denorm_dump_data
DUMP=$(mktemp /tmp/denorm-dump.XXXXXX)
trap 'rm -f "$DUMP" "$DUMP.data" "$DUMP.log"' EXIT
source "$(dirname "$0")/../tap.sh"
# this test talks to three databases: q takes the database first
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
for db in $SRC $DST $DST2; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
    psql -X -q -d postgres -c "CREATE DATABASE $db" >/dev/null
done

psql -X -q -v ON_ERROR_STOP=1 -d $SRC >/dev/null <<'SQL'
CREATE EXTENSION denorm;
CREATE TABLE dr_events (id int PRIMARY KEY, confirmed_seats int NOT NULL DEFAULT 0,
                        reservations int NOT NULL DEFAULT 0, hot_count int NOT NULL DEFAULT 0);
CREATE TABLE dr_reservations (id serial, event_id int, seats int, status text,
                              region text NOT NULL, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE dr_reservations_eu PARTITION OF dr_reservations FOR VALUES IN ('eu');
CREATE TABLE dr_reservations_us PARTITION OF dr_reservations FOR VALUES IN ('us');
INSERT INTO dr_events (id) SELECT g FROM generate_series(1, 50) g;
INSERT INTO dr_reservations (event_id, seats, status, region)
    SELECT 1 + g % 50, 1 + g % 4, CASE WHEN g % 3 = 0 THEN 'pending' ELSE 'confirmed' END,
           CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END
      FROM generate_series(1, 2000) g;
SELECT denorm_create_counter('dr_events', 'confirmed_seats', 'dr_reservations', 'event_id',
                             'sum', 'seats', $$status = 'confirmed'$$);
SELECT denorm_create_counter('dr_events', 'reservations', 'dr_reservations', 'event_id');
SELECT denorm_create_counter('dr_events', 'hot_count', 'dr_reservations', 'event_id',
                             mode => 'deferred');
-- a copied column, on a child that had a column dropped before it (a
-- restore numbers its columns afresh)
CREATE TABLE dr_venues (id int PRIMARY KEY, name text);
CREATE TABLE dr_bookings (id int PRIMARY KEY, junk int, venue_id int REFERENCES dr_venues, venue_name text);
CREATE INDEX ON dr_bookings (venue_id);
ALTER TABLE dr_bookings DROP COLUMN junk;
INSERT INTO dr_venues VALUES (1, 'Hall'), (2, 'Arena');
INSERT INTO dr_bookings SELECT g, 1 + g % 2 FROM generate_series(1, 20) g;
SELECT denorm_create_copy('dr_bookings', 'venue_name', 'dr_venues', 'name', 'venue_id');
-- pending deltas at dump time
INSERT INTO dr_reservations (event_id, seats, status, region) VALUES (1, 2, 'confirmed', 'eu'), (2, 1, 'pending', 'us');
SELECT * FROM denorm_reconcile();
SQL

pg_dump -Fc -f "$DUMP" $SRC
pg_restore -d $DST "$DUMP" > "$DUMP.log" 2>&1 || true
restore_errors=$(grep -c ERROR "$DUMP.log" || true)
[ "$restore_errors" = 0 ] || head -20 "$DUMP.log" | sed 's/^/# /'
check "pg_restore reports no errors" "0" "$restore_errors"

state="SELECT string_agg(format('%s:%s:%s:%s', id, confirmed_seats, reservations, denorm_value(3, id)), ',' ORDER BY id) FROM dr_events"
check "counters, pending deltas included, are the same after restore" "$(q $SRC "$state")" "$(q $DST "$state")"
check "registry rows restored once" "$(q $SRC "SELECT count(*) FROM denorm_counters")" "$(q $DST "SELECT count(*) FROM denorm_counters")"
check "pending rows restored once" "$(q $SRC "SELECT count(*) FROM denorm_pending")" "$(q $DST "SELECT count(*) FROM denorm_pending")"
trig="SELECT string_agg(format('%s.%s', tgrelid::regclass, tgname), ',' ORDER BY tgrelid::regclass::text, tgname) FROM pg_trigger WHERE tgname LIKE 'denorm%'"
check "every denorm trigger restored exactly once" "$(q $SRC "$trig")" "$(q $DST "$trig")"

q $DST "INSERT INTO dr_reservations (event_id, seats, status, region) VALUES (5, 3, 'confirmed', 'us')"
before=$(q $SRC "SELECT format('%s:%s:%s', confirmed_seats, reservations, denorm_value(3, id)) FROM dr_events WHERE id = 5")
IFS=: read -r s0 r0 h0 <<<"$before"
check "an insert after restore counts once" "$((s0 + 3)):$((r0 + 1)):$((h0 + 1))" \
      "$(q $DST "SELECT format('%s:%s:%s', confirmed_seats, reservations, denorm_value(3, id)) FROM dr_events WHERE id = 5")"
check "reconcile after restore finds no drift" "0" "$(q $DST "SELECT sum(rows_drifted) FROM denorm_reconcile()")"
check "copies restored once" "$(q $SRC "SELECT count(*) FROM denorm_copies")" "$(q $DST "SELECT count(*) FROM denorm_copies")"
check "a restored copy knows its columns by their new numbers" "t" \
      "$(q $DST "SELECT copy_attnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'dr_bookings'::regclass AND attname = 'venue_name') FROM denorm_copies")"
q $DST "UPDATE dr_venues SET name = 'Great Hall' WHERE id = 1" >/dev/null
q $DST "ALTER TABLE dr_bookings RENAME COLUMN venue_name TO venue" >/dev/null
q $DST "INSERT INTO dr_bookings VALUES (100, 1)" >/dev/null
check "a restored copy follows renames of its parent and its column" "venue:11:0" \
      "$(q $DST "SELECT format('%s:%s:%s', (SELECT copy_column FROM denorm_copies), (SELECT count(*) FROM dr_bookings WHERE venue = 'Great Hall'), (SELECT count(*) FROM denorm_check_copies()))")"
check "flush after restore folds the restored pending deltas" "0" \
      "$(q $DST "SELECT denorm_flush() >= 0 AND true; SELECT count(*) FROM denorm_pending" | tail -1)"

# Two-step restore: schema only, then data only with triggers disabled
# (pg_dump's way for data-only loads).  The registry comes with the data.
pg_dump --schema-only -f "$DUMP" $SRC
psql -X -q -v ON_ERROR_STOP=1 -d $DST2 -f "$DUMP" >/dev/null 2>&1
pg_dump --data-only --disable-triggers -f "$DUMP.data" $SRC
psql -X -q -v ON_ERROR_STOP=1 -d $DST2 -f "$DUMP.data" >/dev/null 2>&1
check "schema then data restore keeps the counters" "$(q $SRC "$state")" "$(q $DST2 "$state")"
check "schema then data restore: triggers once" "$(q $SRC "$trig")" "$(q $DST2 "$trig")"
check "schema then data restore: no drift" "0" "$(q $DST2 "SELECT sum(rows_drifted) FROM denorm_reconcile()")"
q $DST2 "ALTER TABLE dr_bookings RENAME COLUMN venue_name TO venue; UPDATE dr_venues SET name = 'Big Arena' WHERE id = 2" >/dev/null
check "schema then data restore: the copy follows a rename and fans out" "venue:10:0" \
      "$(q $DST2 "SELECT format('%s:%s:%s', (SELECT copy_column FROM denorm_copies), (SELECT count(*) FROM dr_bookings WHERE venue = 'Big Arena'), (SELECT count(*) FROM denorm_check_copies()))")"

# A later data-only load of more child rows with triggers disabled leaves
# the counters behind; reconcile finds exactly those parents and heals them.
psql -X -q -d $DST2 >/dev/null <<'SQL'
SET session_replication_role = replica;
INSERT INTO dr_reservations (event_id, seats, status, region) VALUES (7, 2, 'confirmed', 'eu'), (8, 1, 'pending', 'us');
SQL
check "the load with triggers disabled is found: 2 parents for the count, 1 for the seats, 2 for the deferred count, no row of the copy, in one run" \
      "1:2:2:0" "$(q $DST2 "SELECT string_agg(rows_drifted::text, ':' ORDER BY counter_id) FROM denorm_reconcile()")"
check "and healed: a second run finds nothing" "0" "$(q $DST2 "SELECT sum(rows_drifted) FROM denorm_reconcile()")"
echo "1..$n"
