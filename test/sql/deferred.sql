-- Deferred counters (mode => 'deferred') under the same matrix as
-- immediate ones: every kind of write leaves its deltas in denorm_pending
-- instead of the parent row, and after every step the column plus the
-- pending deltas (what denorm_value returns) must equal a full recompute.
-- Then flushing (all counters, one, none), transactions that roll back, a
-- parent deleted before the flush, reconcile with pending deltas and with
-- real drift, denorm_status, TRUNCATE, text keys, a partitioned child,
-- numeric keys spelt differently in parent and child, errors, and dropping
-- a deferred counter.
-- CONTEXT lines would pin line numbers of the install script
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set SHOW_CONTEXT never
-- NOTICEs name counter ids: pin them whatever ran before.  Run ids are
-- never shown, and are left alone: later files find their own runs by
-- max(run_id).
SELECT setval('denorm_counters_id_seq', 8300) AS pinned_counter_ids;
-- no drift alerts: the drift found below is shown from the log instead
SET denorm.drift_alert_ratio = 1;
-- flushing all counters below assumes earlier files left nothing pending
SELECT count(*) AS other_pending FROM denorm_pending;

------------------------------------------------------------------------
-- Fixtures: a parent with a deferred count, sum and filtered count and one
-- immediate count, all kept from the same child table.
------------------------------------------------------------------------
CREATE TABLE dfr_parents (id int PRIMARY KEY,
                          n int NOT NULL DEFAULT 0,
                          s bigint NOT NULL DEFAULT 0,
                          c int NOT NULL DEFAULT 0,
                          im int NOT NULL DEFAULT 0);
CREATE TABLE dfr_items (id int PRIMARY KEY,
                        parent_id int REFERENCES dfr_parents ON DELETE CASCADE,
                        amount int,
                        status text);
INSERT INTO dfr_parents (id) SELECT g FROM generate_series(1, 5) g;
INSERT INTO dfr_items VALUES (1, 1, 10, 'confirmed'), (2, 1, 5, 'pending'),
                             (3, 2, 7, 'confirmed'), (4, 3, NULL, 'confirmed'),
                             (5, NULL, 9, 'confirmed');

SELECT denorm_create_counter('dfr_parents', 'n', 'dfr_items', 'parent_id',
                             mode => 'deferred') AS n_id \gset
SELECT denorm_create_counter('dfr_parents', 's', 'dfr_items', 'parent_id',
                             aggregate => 'sum', value_column => 'amount',
                             mode => 'deferred') AS s_id \gset
SELECT denorm_create_counter('dfr_parents', 'c', 'dfr_items', 'parent_id',
                             filter => $$status = 'confirmed'$$,
                             mode => 'deferred') AS c_id \gset
SELECT denorm_create_counter('dfr_parents', 'im', 'dfr_items', 'parent_id') AS im_id \gset

-- Per parent: each deferred column, its exact value by denorm_value and the
-- recomputed truth; the immediate count next to the same truth as n; ok
-- when every exact value equals the truth.
CREATE VIEW dfr_check AS
SELECT p.id,
       p.n, denorm_value(:n_id, p.id) AS n_value, t.n AS n_true,
       p.s, denorm_value(:s_id, p.id) AS s_value, t.s AS s_true,
       p.c, denorm_value(:c_id, p.id) AS c_value, t.c AS c_true,
       p.im,
       denorm_value(:n_id, p.id) = t.n AND denorm_value(:s_id, p.id) = t.s
           AND denorm_value(:c_id, p.id) = t.c AND p.im = t.n
           AND denorm_value(:im_id, p.id) = p.im AS ok
  FROM dfr_parents p
 CROSS JOIN LATERAL (
       SELECT count(*) AS n, coalesce(sum(i.amount), 0) AS s,
              count(*) FILTER (WHERE i.status = 'confirmed') AS c
         FROM dfr_items i WHERE i.parent_id = p.id) t
 ORDER BY p.id;

-- The pending deltas of these counters: rows and their sum per counter and
-- parent key.
CREATE VIEW dfr_pending AS
SELECT d.counter_column, q.parent_key, count(*) AS pending_rows, sum(q.delta) AS delta
  FROM denorm_pending q JOIN denorm_counters d ON d.id = q.counter_id
 WHERE d.parent = 'dfr_parents'::regclass
 GROUP BY 1, 2
 ORDER BY 1, 2;

-- the backfill writes the columns themselves: nothing pending
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

------------------------------------------------------------------------
-- Writes: each statement leaves one pending row per counter and parent
-- whose value it changes; the immediate column moves at once.
------------------------------------------------------------------------
-- one row
INSERT INTO dfr_items VALUES (6, 2, 4, 'confirmed');
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- several rows, three on parent 1: still one pending row per counter there
INSERT INTO dfr_items VALUES (7, 1, 1, 'pending'), (8, 1, 2, 'confirmed'),
                             (9, 3, 3, NULL), (10, 1, NULL, 'confirmed');
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- a NULL foreign key counts nowhere; a NULL amount adds nothing to the sum
-- (no pending sum row) and a NULL status does not pass the filter
INSERT INTO dfr_items VALUES (11, NULL, 50, 'confirmed'), (12, 4, NULL, NULL);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- foreign key move: 1 -> 2 for a confirmed and a pending row
UPDATE dfr_items SET parent_id = 2 WHERE id IN (1, 7);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- value change: only the sum moves
UPDATE dfr_items SET amount = amount + 10 WHERE parent_id = 2;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- filter flips both ways, and into NULL
UPDATE dfr_items
   SET status = CASE id WHEN 2 THEN 'confirmed' WHEN 3 THEN 'pending' WHEN 9 THEN 'confirmed' END
 WHERE id IN (2, 3, 9);
UPDATE dfr_items SET status = NULL WHERE id = 8;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- foreign key to and from NULL
UPDATE dfr_items SET parent_id = CASE id WHEN 5 THEN 4 WHEN 6 THEN NULL END WHERE id IN (5, 6);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- key, value and status at once, in opposite directions on two rows
UPDATE dfr_items
   SET parent_id = CASE id WHEN 3 THEN 3 ELSE 2 END,
       amount = CASE id WHEN 3 THEN 100 ELSE NULL END,
       status = CASE id WHEN 3 THEN 'confirmed' ELSE 'pending' END
 WHERE id IN (3, 9);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- item 1 to parent 5, and item 6 from no parent to parent 2 with the
-- same amount and status as item 1
UPDATE dfr_items SET parent_id = CASE id WHEN 1 THEN 5 ELSE 2 END, amount = 20
 WHERE id IN (1, 6);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- changes no counter sees add no pending rows: a status that stays
-- outside the filter, and two alike rows trading parents in one statement
SELECT count(*) AS pending_before FROM denorm_pending \gset
UPDATE dfr_items SET status = 'cancelled' WHERE id = 7;
UPDATE dfr_items SET parent_id = CASE id WHEN 1 THEN 2 ELSE 5 END WHERE id IN (1, 6);
SELECT count(*) - :pending_before AS new_pending_rows FROM denorm_pending;
SELECT * FROM dfr_check;

-- several rows of several parents
DELETE FROM dfr_items WHERE id IN (2, 4, 7, 12);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- ON CONFLICT: item 8 moves to parent 5, item 13 is new
INSERT INTO dfr_items VALUES (8, 5, 30, 'confirmed'), (13, 3, 6, 'confirmed')
    ON CONFLICT (id) DO UPDATE
   SET parent_id = excluded.parent_id, amount = excluded.amount, status = excluded.status;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;
-- DO NOTHING: only the new row counts
INSERT INTO dfr_items VALUES (8, 1, 1000, 'confirmed'), (14, 4, 1, 'confirmed')
    ON CONFLICT (id) DO NOTHING;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- MERGE: update, delete and insert in one statement
MERGE INTO dfr_items i
USING (VALUES (9, 1, 2, 'confirmed'), (10, NULL, NULL, NULL), (15, 5, 8, 'pending'))
      AS v(id, parent_id, amount, status)
   ON i.id = v.id
 WHEN MATCHED AND v.parent_id IS NULL THEN DELETE
 WHEN MATCHED THEN UPDATE SET parent_id = v.parent_id, amount = v.amount, status = v.status
 WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.parent_id, v.amount, v.status);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- COPY
COPY dfr_items (id, parent_id, amount, status) FROM stdin;
16	1	3	confirmed
17	1	\N	confirmed
18	3	-4	pending
19	\N	5	confirmed
\.
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

------------------------------------------------------------------------
-- Text keys: the pending key is the key's text, and flush and
-- denorm_value find the parent by it.
------------------------------------------------------------------------
CREATE TABLE dfr_tags (name text PRIMARY KEY, uses int NOT NULL DEFAULT 0);
CREATE TABLE dfr_taggings (id serial PRIMARY KEY, tag text REFERENCES dfr_tags);
INSERT INTO dfr_tags (name) VALUES ('alpha'), ('Beta'), ('with space'), ('it''s'), ('');
INSERT INTO dfr_taggings (tag) VALUES ('alpha'), ('alpha'), ('Beta');
SELECT denorm_create_counter('dfr_tags', 'uses', 'dfr_taggings', 'tag',
                             mode => 'deferred') AS tag_id \gset
CREATE VIEW dfr_tag_check AS
SELECT t.name, t.uses, denorm_value(:tag_id, t.name) AS uses_value,
       (SELECT count(*) FROM dfr_taggings g WHERE g.tag = t.name) AS uses_true
  FROM dfr_tags t
 ORDER BY t.name COLLATE "C";
CREATE VIEW dfr_tag_pending AS
SELECT q.parent_key, count(*) AS pending_rows, sum(q.delta) AS delta
  FROM denorm_pending q
 WHERE q.counter_id = :tag_id
 GROUP BY q.parent_key
 ORDER BY q.parent_key COLLATE "C";

INSERT INTO dfr_taggings (tag) VALUES ('with space'), ('it''s'), ('it''s'), (''), ('Beta'), (NULL);
DELETE FROM dfr_taggings WHERE id = 1;
UPDATE dfr_taggings SET tag = 'with space' WHERE tag = 'Beta' AND id = 3;
SELECT * FROM dfr_tag_check;
SELECT * FROM dfr_tag_pending;

------------------------------------------------------------------------
-- Status: pending rows per counter; reconcile treats pending deltas as
-- part of the stored value, so it finds no drift in all this.
------------------------------------------------------------------------
SELECT counter_column, mode, pending_rows
  FROM denorm_status
 WHERE parent IN ('dfr_parents'::regclass, 'dfr_tags'::regclass)
 ORDER BY parent::text, counter_column;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT r.counter_column, r.rows_checked, r.rows_drifted, r.rows_healed
  FROM denorm_counters d, denorm_reconcile(d.id, heal => false) r
 WHERE d.parent IN ('dfr_parents'::regclass, 'dfr_tags'::regclass)
 ORDER BY d.parent::text, r.counter_column;
SELECT count(*) AS new_drift_rows FROM denorm_drift_log WHERE log_id > :mark;

------------------------------------------------------------------------
-- Flushing
------------------------------------------------------------------------
-- one counter: exactly its pending rows are folded, and counted
SELECT count(*) AS s_pending FROM denorm_pending WHERE counter_id = :s_id;
SELECT denorm_flush(:s_id) AS flushed;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;
-- an immediate counter has nothing to flush
SELECT denorm_flush(:im_id) AS flushed;
SELECT * FROM dfr_pending;
-- a flush that rolls back folds nothing
BEGIN;
SELECT denorm_flush() AS flushed;
SELECT * FROM dfr_pending;
ROLLBACK;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;
-- all counters: the remaining pending rows of both tables
SELECT count(*) AS all_pending FROM denorm_pending;
SELECT denorm_flush() AS flushed;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;
SELECT * FROM dfr_tag_check;
SELECT * FROM dfr_tag_pending;
SELECT counter_column, pending_rows
  FROM denorm_status
 WHERE parent IN ('dfr_parents'::regclass, 'dfr_tags'::regclass)
 ORDER BY parent::text, counter_column;
-- now every column alone is exact
SELECT p.id, p.n = v.n_true AS n_ok, p.s = v.s_true AS s_ok, p.c = v.c_true AS c_ok
  FROM dfr_parents p JOIN dfr_check v USING (id) ORDER BY p.id;
-- and nothing is left to flush
SELECT denorm_flush() AS flushed;

------------------------------------------------------------------------
-- Transactions that roll back leave no pending rows
------------------------------------------------------------------------
BEGIN;
INSERT INTO dfr_items VALUES (20, 1, 40, 'confirmed'), (21, 2, 1, 'confirmed');
DELETE FROM dfr_items WHERE id = 3;
-- inside the transaction its own deltas are pending and exact
SELECT * FROM dfr_pending;
SELECT id, n_value, n_true, s_value, s_true, c_value, c_true, ok FROM dfr_check;
ROLLBACK;
SELECT * FROM dfr_pending;
SELECT * FROM dfr_check;

-- rolling back to a savepoint drops the deltas after it, keeps those before
BEGIN;
INSERT INTO dfr_items VALUES (20, 1, 40, 'confirmed');
SAVEPOINT sp;
INSERT INTO dfr_items VALUES (21, 2, 1, 'confirmed');
UPDATE dfr_items SET parent_id = 3 WHERE id = 20;
ROLLBACK TO SAVEPOINT sp;
SAVEPOINT sp2;
UPDATE dfr_items SET amount = 41 WHERE id = 20;
RELEASE SAVEPOINT sp2;
COMMIT;
SELECT * FROM dfr_pending;
SELECT * FROM dfr_check;

-- a flush rolled back to a savepoint leaves the pending rows in place
BEGIN;
UPDATE dfr_items SET status = 'pending' WHERE id = 20;
SAVEPOINT sp;
SELECT denorm_flush() AS flushed;
ROLLBACK TO SAVEPOINT sp;
COMMIT;
SELECT * FROM dfr_pending;
SELECT * FROM dfr_check;

-- a failing statement leaves nothing of its deltas (parent 99 is missing)
INSERT INTO dfr_items VALUES (22, 1, 5, 'confirmed'), (23, 99, 5, 'confirmed');
SELECT * FROM dfr_pending;

SELECT denorm_flush() AS flushed;
SELECT * FROM dfr_check;

------------------------------------------------------------------------
-- A parent deleted before the flush: its column comes back as a pending
-- delta, so what is pending for its key nets to what its remaining
-- children add up to (none, after the cascade); a flush folds it away.
------------------------------------------------------------------------
INSERT INTO dfr_items VALUES (24, 4, 11, 'confirmed'), (25, 5, 12, 'confirmed');
-- deleting parent 4 cascades to its items; the immediate counter's
-- update finds no row
DELETE FROM dfr_parents WHERE id = 4;
SELECT * FROM dfr_pending;
SELECT denorm_value(:n_id, 4) AS gone_value;
SELECT count(*) AS all_pending FROM denorm_pending;
SELECT denorm_flush() AS flushed;
SELECT * FROM dfr_pending;
SELECT * FROM dfr_check;

------------------------------------------------------------------------
-- Real drift (writes with no trigger firing, a direct write to a column)
-- while deltas are pending: reconcile reports it against column + pending
-- and heals so that column + pending = truth; the flush then makes the
-- column exact.
------------------------------------------------------------------------
INSERT INTO dfr_items VALUES (26, 1, 2, 'confirmed'), (27, 3, 3, 'confirmed');
SET session_replication_role = replica;
INSERT INTO dfr_items VALUES (28, 1, 100, 'confirmed');
DELETE FROM dfr_items WHERE id = 27;
RESET session_replication_role;
UPDATE dfr_parents SET s = s - 1000 WHERE id = 2;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

-- dry run: the stored value logged is column + pending
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT r.counter_column, r.rows_checked, r.rows_drifted, r.rows_healed
  FROM denorm_counters d, denorm_reconcile(d.id, heal => false) r
 WHERE d.parent = 'dfr_parents'::regclass ORDER BY r.counter_column;
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed
  FROM denorm_drift_log WHERE log_id > :mark ORDER BY counter_column, parent_key;
-- heal: the pending rows stay, the columns take the difference
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT r.counter_column, r.rows_checked, r.rows_drifted, r.rows_healed
  FROM denorm_counters d, denorm_reconcile(d.id) r
 WHERE d.parent = 'dfr_parents'::regclass ORDER BY r.counter_column;
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed
  FROM denorm_drift_log WHERE log_id > :mark ORDER BY counter_column, parent_key;
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;
-- a second run finds nothing
SELECT r.counter_column, r.rows_drifted
  FROM denorm_counters d, denorm_reconcile(d.id, heal => false) r
 WHERE d.parent = 'dfr_parents'::regclass ORDER BY r.counter_column;
SELECT denorm_flush() AS flushed;
SELECT * FROM dfr_check;
SELECT p.id, p.n = v.n_true AS n_ok, p.s = v.s_true AS s_ok, p.c = v.c_true AS c_ok
  FROM dfr_parents p JOIN dfr_check v USING (id) ORDER BY p.id;

------------------------------------------------------------------------
-- A partitioned child: rows in every partition, rows moving between them.
------------------------------------------------------------------------
CREATE TABLE dfr_accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE dfr_entries (id int, account_id int, amount int, region text)
    PARTITION BY LIST (region);
CREATE TABLE dfr_entries_east PARTITION OF dfr_entries FOR VALUES IN ('east');
CREATE TABLE dfr_entries_west PARTITION OF dfr_entries FOR VALUES IN ('west');
INSERT INTO dfr_accounts (id) VALUES (1), (2), (3);
INSERT INTO dfr_entries VALUES (1, 1, 10, 'east'), (2, 2, 20, 'west');
SELECT denorm_create_counter('dfr_accounts', 'balance', 'dfr_entries', 'account_id',
                             aggregate => 'sum', value_column => 'amount',
                             mode => 'deferred') AS bal_id \gset
CREATE VIEW dfr_bal_check AS
SELECT a.id, a.balance, denorm_value(:bal_id, a.id) AS balance_value,
       (SELECT coalesce(sum(e.amount), 0) FROM dfr_entries e
         WHERE e.account_id = a.id) AS balance_true,
       (SELECT count(*) FROM denorm_pending q
         WHERE q.counter_id = :bal_id AND q.parent_key = a.id::text) AS pending_rows,
       (SELECT sum(q.delta) FROM denorm_pending q
         WHERE q.counter_id = :bal_id AND q.parent_key = a.id::text) AS pending_delta
  FROM dfr_accounts a
 ORDER BY a.id;

INSERT INTO dfr_entries VALUES (3, 1, 5, 'west'), (4, 3, 7, 'east');
INSERT INTO dfr_entries_east VALUES (5, 2, 1, 'east');
-- a row moving to the other partition, and a row of a partition moving
-- to another account
UPDATE dfr_entries SET region = 'east', amount = 6 WHERE id = 3;
UPDATE dfr_entries_west SET account_id = 3 WHERE id = 2;
DELETE FROM dfr_entries_east WHERE id = 1;
SELECT * FROM dfr_bal_check;
SELECT denorm_flush(:bal_id) AS flushed;
SELECT * FROM dfr_bal_check;

------------------------------------------------------------------------
-- TRUNCATE recomputes the counter and drops its pending rows, and only
-- its own.
------------------------------------------------------------------------
INSERT INTO dfr_entries VALUES (6, 1, 100, 'west'), (7, 2, 50, 'east');
INSERT INTO dfr_taggings (tag) VALUES ('alpha'), ('Beta');
SELECT * FROM dfr_bal_check;
SELECT * FROM dfr_tag_pending;
-- truncating one partition recomputes the partitioned counter from the
-- rows left in the other
TRUNCATE dfr_entries_west;
SELECT * FROM dfr_bal_check;
INSERT INTO dfr_entries VALUES (8, 3, 9, 'west');
TRUNCATE dfr_entries_east;
SELECT * FROM dfr_bal_check;
INSERT INTO dfr_items VALUES (29, 1, 1, 'confirmed'), (30, 5, 1, 'pending');
SELECT * FROM dfr_pending;
TRUNCATE dfr_items;
SELECT * FROM dfr_pending;
SELECT * FROM dfr_check;
-- the tags counter's pending rows are untouched
SELECT * FROM dfr_tag_pending;
SELECT * FROM dfr_tag_check;
-- and the counters keep working
INSERT INTO dfr_items VALUES (31, 2, 9, 'confirmed'), (32, 2, 1, NULL);
SELECT * FROM dfr_check;
SELECT * FROM dfr_pending;

------------------------------------------------------------------------
-- Keys whose text differs between equal values (numeric 1.0 = 1.00):
-- pending deltas are stored under the child's spelling of the key, and
-- must still count for the parent row spelt otherwise.
------------------------------------------------------------------------
CREATE TABLE dfr_lots (code numeric PRIMARY KEY, pieces int NOT NULL DEFAULT 0);
CREATE TABLE dfr_pieces (id serial PRIMARY KEY, lot numeric REFERENCES dfr_lots);
INSERT INTO dfr_lots VALUES (1.00), (2);
SELECT denorm_create_counter('dfr_lots', 'pieces', 'dfr_pieces', 'lot',
                             mode => 'deferred') AS lot_id \gset
INSERT INTO dfr_pieces (lot) VALUES (1.0), (1), (2.000);
CREATE VIEW dfr_lot_check AS
SELECT l.code, l.pieces, denorm_value(:lot_id, l.code) AS pieces_value,
       (SELECT count(*) FROM dfr_pieces p WHERE p.lot = l.code) AS pieces_true
  FROM dfr_lots l
 ORDER BY l.code;
SELECT * FROM dfr_lot_check;
SELECT denorm_value(:lot_id, 1::numeric) AS value_of_1;
-- no drift: the pending deltas are part of the stored value
SELECT rows_checked, rows_drifted FROM denorm_reconcile(:lot_id, heal => false);
SELECT rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:lot_id);
SELECT denorm_flush(:lot_id) AS flushed;
SELECT * FROM dfr_lot_check;

------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------
SELECT denorm_flush(0);
\echo :SQLSTATE
SELECT denorm_value(0, 1);
\echo :SQLSTATE
SELECT denorm_value(NULL, 1);
\echo :SQLSTATE
-- a NULL key has no parent row, and neither has a missing one
SELECT denorm_value(:n_id, NULL::int) IS NULL AS null_key,
       denorm_value(:n_id, 42) IS NULL AS missing_key,
       denorm_value(:tag_id, NULL::text) IS NULL AS null_text_key;
-- the failed calls changed nothing
SELECT * FROM dfr_pending;

------------------------------------------------------------------------
-- Dropping a deferred counter folds its pending deltas first
------------------------------------------------------------------------
SELECT * FROM dfr_tag_pending;
SELECT denorm_drop_counter(:tag_id);
SELECT count(*) AS tag_pending FROM denorm_pending WHERE counter_id = :tag_id;
SELECT t.name, t.uses,
       t.uses = (SELECT count(*) FROM dfr_taggings g WHERE g.tag = t.name) AS uses_ok
  FROM dfr_tags t ORDER BY t.name COLLATE "C";
SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter('dfr_parents', 's');
SELECT denorm_drop_counter(:c_id);
SELECT denorm_drop_counter(:im_id);
SELECT count(*) AS pending_left FROM denorm_pending;
SELECT p.id, p.n, p.s, p.c, p.im,
       p.n = t.n AND p.s = t.s AND p.c = t.c AND p.im = t.n AS columns_ok
  FROM dfr_parents p
 CROSS JOIN LATERAL (
       SELECT count(*) AS n, coalesce(sum(i.amount), 0) AS s,
              count(*) FILTER (WHERE i.status = 'confirmed') AS c
         FROM dfr_items i WHERE i.parent_id = p.id) t
 ORDER BY p.id;

-- dropping a child table drops its counter with it
DROP VIEW dfr_check, dfr_pending, dfr_tag_check, dfr_tag_pending, dfr_bal_check, dfr_lot_check;
DROP TABLE dfr_entries;
DROP TABLE dfr_pieces;
DROP TABLE dfr_accounts, dfr_lots, dfr_taggings, dfr_tags, dfr_items, dfr_parents;
SELECT count(*) AS counters_left FROM denorm_counters
 WHERE id IN (:n_id, :s_id, :c_id, :im_id, :tag_id, :bal_id, :lot_id);
SELECT count(*) AS pending_left FROM denorm_pending;
RESET denorm.drift_alert_ratio;
