-- Errors a user can cause, as they read: each names what it is about (the
-- counter by id, its column and table, the parent row), hints at the fix,
-- and shows no internal SQL and none of the CONTEXT lines of denorm's own
-- PL/pgSQL functions (the context lines of errors are shown here: none
-- may appear but a filter's own).  The SQLSTATE follows each error
-- (psql's :SQLSTATE, 00000 after a success).
\set VERBOSITY default
\set SHOW_CONTEXT errors
-- Counter columns are set by hand below, which their guard would ignore.
SET denorm.counter_writes = 'allow';
-- messages below name counter ids: pin them whatever ran before
-- (run ids are not shown: they are left to run on, so that files run later
-- that look for their latest run find theirs)
SELECT setval('denorm_counters_id_seq', 9200) AS pinned_counter_ids;
-- (reconcile's drift alerts would name run ids)
SET denorm.drift_alert_ratio = 1;

------------------------------------------------------------------------
-- A counter pushed past its column's type: SQLSTATE 22003, naming the
-- counter, its column and table and the parent row, with the ALTER TABLE
-- that widens the column; nothing is written.  Every way a counter is
-- written: a child write (one parent row, several, several counters of
-- one row), a commit in mode 'commit', a flush, a reconcile heal, the
-- backfill of a new counter, a parent row taking another key.
------------------------------------------------------------------------
CREATE TABLE em_parent (id int PRIMARY KEY,
                        n smallint NOT NULL DEFAULT 0,
                        flagged smallint NOT NULL DEFAULT 0);
CREATE TABLE em_child (id int PRIMARY KEY, parent_id int REFERENCES em_parent,
                       flag boolean NOT NULL DEFAULT false);
CREATE INDEX ON em_child (parent_id);
INSERT INTO em_parent (id) SELECT g FROM generate_series(1, 12) g;
SELECT denorm_create_counter('em_parent', 'n', 'em_child', 'parent_id') AS n_id \gset
SELECT denorm_create_counter('em_parent', 'flagged', 'em_child', 'parent_id',
                             filter => 'flag') AS flagged_id \gset
-- (the columns are set by hand to their maximum: drift, but quicker than
-- 32767 children)
UPDATE em_parent SET n = 32767 WHERE id = 1;
UPDATE em_parent SET flagged = 32767 WHERE id = 2;
UPDATE em_parent SET flagged = 32767 WHERE id = 9;
-- one parent row, one counter
INSERT INTO em_child VALUES (1, 1);
\echo :SQLSTATE
-- one parent row, two counters, the second one overflowing
INSERT INTO em_child VALUES (2, 2, true);
\echo :SQLSTATE
-- many parent rows in one statement (written in sets), one of them past
-- the maximum
INSERT INTO em_child SELECT 100 + g, g, true FROM generate_series(3, 12) g;
\echo :SQLSTATE
-- and downwards
INSERT INTO em_child VALUES (3, 3);
UPDATE em_parent SET n = -32768 WHERE id = 3;
DELETE FROM em_child WHERE id = 3;
\echo :SQLSTATE
SELECT (SELECT count(*) FROM em_child WHERE id = 3) AS still_there,
       (SELECT n FROM em_parent WHERE id = 3) AS n;
UPDATE em_parent SET n = 1 WHERE id = 3;
DELETE FROM em_child WHERE id = 3;
-- nothing else was written: no child row, no parent changed
SELECT count(*) AS children FROM em_child;
SELECT id, n, flagged FROM em_parent WHERE n <> 0 OR flagged <> 0 ORDER BY id;

-- a writer that may not read the parent is not shown the value
CREATE ROLE regress_em_writer;
GRANT INSERT ON em_child TO regress_em_writer;
SET ROLE regress_em_writer;
INSERT INTO em_child VALUES (4, 1);
\echo :SQLSTATE
RESET ROLE;
REVOKE ALL ON em_child FROM regress_em_writer;
DROP ROLE regress_em_writer;

-- the hint's ALTER TABLE is allowed, and the counter goes on counting
ALTER TABLE em_parent ALTER COLUMN n TYPE bigint;
INSERT INTO em_child VALUES (1, 1);
SELECT id, n FROM em_parent WHERE id = 1;
\echo :SQLSTATE
DELETE FROM em_child;
UPDATE em_parent SET n = 0, flagged = 0;
SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter(:flagged_id);

-- mode 'commit': the COMMIT fails, and nothing is applied
CREATE TABLE em_sums (id int PRIMARY KEY, total smallint NOT NULL DEFAULT 0,
                      later smallint NOT NULL DEFAULT 0);
CREATE TABLE em_items (id int PRIMARY KEY, sum_id int, amount int);
CREATE INDEX ON em_items (sum_id);
INSERT INTO em_sums (id) VALUES (1), (2);
SELECT denorm_create_counter('em_sums', 'total', 'em_items', 'sum_id', 'sum', 'amount',
                             mode => 'commit') AS total_id \gset
BEGIN;
INSERT INTO em_items VALUES (1, 1, 30000);
INSERT INTO em_items VALUES (2, 1, 3000);
COMMIT;
\echo :SQLSTATE
SELECT count(*) AS items FROM em_items;
SELECT id, total FROM em_sums ORDER BY id;
SELECT denorm_drop_counter(:total_id);

-- a deferred counter fails in denorm_flush(), which then folds nothing
-- (one counter's failure fails the whole flush, as it always has); each
-- other counter can still be flushed by its id
SELECT denorm_create_counter('em_sums', 'total', 'em_items', 'sum_id', 'sum', 'amount',
                             mode => 'deferred') AS total_id \gset
SELECT denorm_create_counter('em_sums', 'later', 'em_items', 'sum_id', 'count',
                             mode => 'deferred') AS later_id \gset
INSERT INTO em_items VALUES (1, 2, 30000), (2, 2, 3000);
SELECT counter_id, parent_key, delta FROM denorm_pending ORDER BY counter_id, delta;
SELECT denorm_flush();
\echo :SQLSTATE
SELECT counter_id, parent_key, delta FROM denorm_pending ORDER BY counter_id, delta;
SELECT denorm_flush(:later_id) AS folded;
SELECT id, total, later FROM em_sums ORDER BY id;
DELETE FROM em_items WHERE id = 2;
SELECT denorm_flush() AS folded;
SELECT id, total, later FROM em_sums ORDER BY id;
SELECT denorm_drop_counter(:total_id);
SELECT denorm_drop_counter(:later_id);
DELETE FROM em_items;
UPDATE em_sums SET total = 0, later = 0;

-- a reconcile heal: the counter is recorded as failed with the message,
-- and the drift it found is logged, not healed
SELECT denorm_create_counter('em_sums', 'total', 'em_items', 'sum_id', 'sum', 'amount')
    AS total_id \gset
INSERT INTO em_items VALUES (1, 1, 30000);
SET session_replication_role = replica;
INSERT INTO em_items VALUES (2, 1, 3000);
RESET session_replication_role;
SELECT counter_id, rows_checked, rows_drifted, rows_healed, status, error
  FROM denorm_reconcile(:total_id);
SELECT parent_key, stored_value, actual_value, healed FROM denorm_drift_log
 WHERE counter_id = :total_id;
SELECT id, total FROM em_sums ORDER BY id;
SELECT denorm_drop_counter(:total_id);

-- the backfill of a new counter: the creation fails, and leaves nothing
SELECT denorm_create_counter('em_sums', 'total', 'em_items', 'sum_id', 'sum', 'amount');
\echo :SQLSTATE
SELECT count(*) AS counters FROM denorm_counters WHERE parent = 'em_sums'::regclass;
SELECT id, total FROM em_sums ORDER BY id;
DELETE FROM em_items;

-- a parent row taking a key whose children add up to more than its
-- column holds (the children were there before it)
SELECT denorm_create_counter('em_sums', 'total', 'em_items', 'sum_id', 'sum', 'amount')
    AS total_id \gset
INSERT INTO em_items VALUES (1, 7, 20000), (2, 7, 20000);
UPDATE em_sums SET id = 7 WHERE id = 2;
\echo :SQLSTATE
-- or a new parent row of that key
INSERT INTO em_sums (id) VALUES (7);
\echo :SQLSTATE
SELECT id, total FROM em_sums ORDER BY id;
SELECT denorm_drop_counter(:total_id);
DROP TABLE em_items, em_sums, em_child, em_parent;

------------------------------------------------------------------------
-- A filter's syntax error points into the filter as written (nothing is
-- put around it that the message could name): SQLSTATE 42601
------------------------------------------------------------------------
CREATE TABLE em_orders (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE em_lines (id int PRIMARY KEY, order_id int REFERENCES em_orders, status text);
CREATE INDEX ON em_lines (order_id);
SELECT denorm_create_counter('em_orders', 'n', 'em_lines', 'order_id', filter => 'status = ');
\echo :SQLSTATE
SELECT denorm_create_counter('em_orders', 'n', 'em_lines', 'order_id',
                             filter => 'status = ''paid'') OR (true');
\echo :SQLSTATE
SELECT denorm_create_counter('em_orders', 'n', 'em_lines', 'order_id',
                             filter => 'status = ''paid'' AND staus <> ''void''');
\echo :SQLSTATE
SELECT count(*) AS counters FROM denorm_counters WHERE parent = 'em_orders'::regclass;

------------------------------------------------------------------------
-- denorm_grant_admin: a role that does not exist, and NULL
------------------------------------------------------------------------
SELECT denorm_grant_admin(0::oid::regrole);
\echo :SQLSTATE
SELECT denorm_grant_admin(NULL);
\echo :SQLSTATE
SELECT denorm_grant_admin('regress_em_nobody');
\echo :SQLSTATE

------------------------------------------------------------------------
-- denorm_drop_counter by column: a column the table does not have, one
-- without a counter, a table that does not exist
------------------------------------------------------------------------
SELECT denorm_create_counter('em_orders', 'n', 'em_lines', 'order_id') AS orders_n \gset
ALTER TABLE em_orders ADD COLUMN spare int;
SELECT denorm_drop_counter('em_orders', 'no_such_column');
\echo :SQLSTATE
SELECT denorm_drop_counter('em_orders', 'spare');
\echo :SQLSTATE
SELECT denorm_drop_counter('em_lines', 'status');
\echo :SQLSTATE
SELECT denorm_drop_counter('em_no_such_table', 'n');
\echo :SQLSTATE
SELECT denorm_drop_counter(0::oid::regclass, 'n');
\echo :SQLSTATE
SELECT denorm_drop_counter(NULL::regclass, 'n');
\echo :SQLSTATE
SELECT denorm_drop_counter(9199);
\echo :SQLSTATE
SELECT denorm_drop_counter('em_orders', 'n');
\echo :SQLSTATE

------------------------------------------------------------------------
-- Settings given before this session loaded the library
------------------------------------------------------------------------
-- Each \c starts a session that has not loaded denorm yet: what it sets
-- for denorm.* is taken as given.  What depends on a setting whose value
-- is invalid then refuses to run (SQLSTATE 22023, naming the setting and
-- the value), instead of running with the default; what does not depend
-- on it runs.
SELECT denorm_create_counter('em_orders', 'n', 'em_lines', 'order_id') AS orders_n \gset
\c
\set VERBOSITY default
\set SHOW_CONTEXT errors
SET denorm.reconcile_batch_size = 'abc';
SHOW denorm.reconcile_batch_size;
-- reconcile and the backfill of a new counter use it
SELECT counter_id, status FROM denorm_reconcile(:orders_n);
\echo :SQLSTATE
CREATE TABLE em_more (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
SELECT denorm_create_counter('em_more', 'n', 'em_lines', 'order_id');
\echo :SQLSTATE
-- writers do not
INSERT INTO em_orders VALUES (1);
INSERT INTO em_lines VALUES (1, 1, 'paid');
SELECT n FROM em_orders;
-- set again, it is checked (and refused) as usual, and a valid one is used
SET denorm.reconcile_batch_size = 'abc';
\echo :SQLSTATE
SET denorm.reconcile_batch_size = 500;
SELECT counter_id, status FROM denorm_reconcile(:orders_n);
\echo :SQLSTATE

-- from ALTER DATABASE, made where the library was not loaded either
\c
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT current_database() AS dbname \gset
ALTER DATABASE :"dbname" SET denorm.drift_alert_ratio = 'banana';
\c
\set VERBOSITY default
\set SHOW_CONTEXT errors
SHOW denorm.drift_alert_ratio;
SELECT counter_id, status FROM denorm_reconcile(:orders_n);
\echo :SQLSTATE
-- the backfill does not use it
SELECT denorm_create_counter('em_more', 'n', 'em_lines', 'order_id') AS more_n \gset
\echo :SQLSTATE
-- a value set in the session stands in for it, and RESET brings it back
SET denorm.drift_alert_ratio = 1;
SELECT counter_id, status FROM denorm_reconcile(:orders_n);
RESET denorm.drift_alert_ratio;
SELECT counter_id, status FROM denorm_reconcile(:orders_n);
\echo :SQLSTATE
ALTER DATABASE :"dbname" RESET denorm.drift_alert_ratio;

-- denorm.apply_at_commit: immediate counters' writers depend on it
\c
\set VERBOSITY default
\set SHOW_CONTEXT errors
SET denorm.apply_at_commit = 'maybe';
INSERT INTO em_lines VALUES (2, 1, 'paid');
\echo :SQLSTATE
SET denorm.apply_at_commit = off;
INSERT INTO em_lines VALUES (2, 1, 'paid');
SELECT id, n FROM em_orders;
\echo :SQLSTATE

-- denorm.counter_writes: a write that changes a counter column depends on
-- it, one that leaves it as it is does not
\c
\set VERBOSITY default
\set SHOW_CONTEXT errors
SET denorm.counter_writes = 'sometimes';
UPDATE em_orders SET n = 5;
\echo :SQLSTATE
UPDATE em_orders SET n = n;
\echo :SQLSTATE
SET denorm.counter_writes = 'sometimes';
\echo :SQLSTATE
RESET denorm.counter_writes;
UPDATE em_orders SET n = 5;
SELECT id, n FROM em_orders;

SELECT denorm_drop_counter(:orders_n);
SELECT denorm_drop_counter(:more_n);
DROP TABLE em_lines, em_orders, em_more;
