-- The ways to run a reconcile: dry runs, one counter, a key range, small
-- batches, the committing procedure; the run records; the drift alert with
-- its WARNING and NOTIFY; NULLs in sums and filters; text keys; a counter
-- that fails while the others are still checked.
-- CONTEXT lines would pin line numbers of the install script
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set SHOW_CONTEXT never

-- WARNINGs, NOTICEs and the NOTIFY payload name counter and run ids, so this
-- file pins them: its counters are 7201.. and its runs 7201.. whatever
-- earlier files did.
SELECT setval('denorm_counters_id_seq', 7200) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 7200) AS pinned_run_ids;
-- Runs over all counters below assume every earlier file dropped its own.
SELECT count(*) AS other_counters FROM denorm_counters;
-- alerts only where this file asks for them
SET denorm.drift_alert_ratio = 1;

CREATE TABLE recmode_items (id int PRIMARY KEY,
                            line_count int DEFAULT 0,
                            qty_total numeric DEFAULT 0,
                            confirmed_count int DEFAULT 0);
CREATE TABLE recmode_lines (id serial PRIMARY KEY, item_id int, qty numeric, status text);
INSERT INTO recmode_items (id) SELECT g FROM generate_series(1, 10) g;
-- qty and status are NULL now and then: a NULL qty adds nothing to the
-- sum, a NULL status does not pass the filter
INSERT INTO recmode_lines (item_id, qty, status)
SELECT 1 + g % 10,
       CASE WHEN g % 7 = 0 THEN NULL ELSE g % 5 + 0.5 END,
       CASE g % 4 WHEN 0 THEN 'confirmed' WHEN 1 THEN 'pending'
                  WHEN 2 THEN 'confirmed' ELSE NULL END
  FROM generate_series(1, 60) g;
-- one item whose lines all have a NULL qty and a NULL status
INSERT INTO recmode_items (id) VALUES (11);
INSERT INTO recmode_lines (item_id, qty, status) VALUES (11, NULL, NULL), (11, NULL, NULL);

SELECT denorm_create_counter('recmode_items', 'line_count', 'recmode_lines', 'item_id')
       AS count_id \gset
SELECT denorm_create_counter('recmode_items', 'qty_total', 'recmode_lines', 'item_id',
                             aggregate => 'sum', value_column => 'qty')
       AS sum_id \gset
SELECT denorm_create_counter('recmode_items', 'confirmed_count', 'recmode_lines', 'item_id',
                             filter => $$status = 'confirmed'$$)
       AS filtered_id \gset

-- Stored values next to whether they equal a full recompute.
CREATE VIEW recmode_check AS
SELECT i.id, i.line_count, i.qty_total, i.confirmed_count,
       i.line_count IS NOT DISTINCT FROM
           (SELECT count(*) FROM recmode_lines l WHERE l.item_id = i.id) AS count_ok,
       i.qty_total IS NOT DISTINCT FROM
           (SELECT coalesce(sum(l.qty), 0) FROM recmode_lines l WHERE l.item_id = i.id) AS sum_ok,
       i.confirmed_count IS NOT DISTINCT FROM
           (SELECT count(*) FROM recmode_lines l
             WHERE l.item_id = i.id AND l.status = 'confirmed') AS filtered_ok
  FROM recmode_items i
 ORDER BY i.id;

-- The drift log rows written after a mark.
CREATE FUNCTION recmode_drift(mark bigint)
RETURNS TABLE (run_id bigint, counter_column name, parent_key text, stored_value numeric,
               actual_value numeric, drift numeric, healed boolean, healed_at_set boolean)
LANGUAGE sql
AS $$
    SELECT l.run_id, l.counter_column, l.parent_key, l.stored_value, l.actual_value, l.drift,
           l.healed, l.healed_at IS NOT NULL
      FROM denorm_drift_log l
     WHERE l.log_id > mark
     ORDER BY l.run_id, l.counter_column, length(l.parent_key), l.parent_key COLLATE "C"
$$;

-- What one run logged, to compare runs.
CREATE FUNCTION recmode_run_log(run bigint)
RETURNS TABLE (counter_column name, parent_key text, stored_value numeric,
               actual_value numeric, drift numeric, healed boolean)
LANGUAGE sql
AS $$
    SELECT l.counter_column, l.parent_key, l.stored_value, l.actual_value, l.drift, l.healed
      FROM denorm_drift_log l
     WHERE l.run_id = run
$$;

-- Drift in all three counters, made the same way each time it is called.
CREATE FUNCTION recmode_break()
RETURNS void
LANGUAGE sql
AS $$
    UPDATE recmode_items SET line_count = line_count + 1 WHERE id IN (2, 5, 9);
    UPDATE recmode_items SET qty_total = qty_total - 0.5 WHERE id IN (3, 5);
    UPDATE recmode_items SET confirmed_count = NULL WHERE id = 7;
    UPDATE recmode_items SET confirmed_count = 4 WHERE id = 11;
$$;

SELECT * FROM recmode_check;

------------------------------------------------------------------------
-- Dry run: everything logged with healed = false, nothing changed.
------------------------------------------------------------------------
SELECT recmode_break();
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(heal => false) ORDER BY counter_id;
SELECT * FROM recmode_drift(:mark);
SELECT * FROM recmode_check;
-- a dry run again finds the same rows
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(heal => false) ORDER BY counter_id;
SELECT count(*) AS logged, count(*) FILTER (WHERE healed) AS healed FROM recmode_drift(:mark);

------------------------------------------------------------------------
-- One counter: only that counter is checked and healed.
------------------------------------------------------------------------
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:count_id);
SELECT * FROM recmode_drift(:mark);
SELECT * FROM recmode_check;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:sum_id);
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:filtered_id);
SELECT * FROM recmode_check;
-- an unknown counter and a NULL heal are refused
SELECT * FROM denorm_reconcile(-1);
SELECT * FROM denorm_reconcile(:count_id, NULL);

------------------------------------------------------------------------
-- Key ranges: [key_from, key_to], both ends included, either end open.
------------------------------------------------------------------------
UPDATE recmode_items SET line_count = line_count + 100;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, '3', '6');
SELECT parent_key, stored_value, actual_value, drift, healed FROM recmode_drift(:mark);
SELECT id, line_count, count_ok FROM recmode_check;
-- open below, open above
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, NULL, '2');
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, '9', NULL);
SELECT id, line_count, count_ok FROM recmode_check;
-- a range with no parent rows, a dry run on a range
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, '50', '60');
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, '7', '8', heal => false);
SELECT id, line_count, count_ok FROM recmode_check WHERE id IN (7, 8);
-- the rest, in small batches: batch starts inside the range, the last
-- batch still includes key_to
SET denorm.reconcile_batch_size = 2;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, '7', '8');
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:count_id, '2', '8');
RESET denorm.reconcile_batch_size;
SELECT id, line_count, count_ok FROM recmode_check;
-- the whole range is required and bounded
SELECT * FROM denorm_reconcile_range(:count_id, NULL, NULL);
SELECT * FROM denorm_reconcile_range(NULL, '1', '2');

------------------------------------------------------------------------
-- Small batches: NOTICE progress, and the same findings as one batch.
------------------------------------------------------------------------
SELECT recmode_break();
SET denorm.reconcile_batch_size = 3;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(heal => false) ORDER BY counter_id;
SELECT max(run_id) AS run_small FROM denorm_reconcile_runs \gset
RESET denorm.reconcile_batch_size;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(heal => false) ORDER BY counter_id;
SELECT max(run_id) AS run_one FROM denorm_reconcile_runs \gset
-- both runs logged the same rows
SELECT (SELECT count(*) FROM recmode_run_log(:run_small)) AS small_batches_logged,
       (SELECT count(*) FROM recmode_run_log(:run_one)) AS one_batch_logged,
       NOT EXISTS (SELECT * FROM recmode_run_log(:run_small)
                   EXCEPT SELECT * FROM recmode_run_log(:run_one))
       AND NOT EXISTS (SELECT * FROM recmode_run_log(:run_one)
                       EXCEPT SELECT * FROM recmode_run_log(:run_small)) AS same_rows;
-- and healing in small batches leaves every counter exact
SET denorm.reconcile_batch_size = 3;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile() ORDER BY counter_id;
RESET denorm.reconcile_batch_size;
SELECT * FROM recmode_check;

------------------------------------------------------------------------
-- The committing procedure (pg_regress runs outside a transaction block).
------------------------------------------------------------------------
SELECT recmode_break();
CALL denorm_reconcile_batched(heal => false);
SELECT * FROM recmode_check WHERE NOT (count_ok AND sum_ok AND filtered_ok);
SET denorm.reconcile_batch_size = 4;
CALL denorm_reconcile_batched(:count_id);
RESET denorm.reconcile_batch_size;
CALL denorm_reconcile_batched();
SELECT * FROM recmode_check;
CALL denorm_reconcile_batched();

-- the checks of the last three runs, per counter
SELECT k.run_id, c.counter_column, k.rows_checked, k.rows_drifted, k.rows_healed,
       k.trigger_problems, k.error
  FROM denorm_reconcile_checks k JOIN denorm_counters c ON c.id = k.counter_id
 WHERE k.run_id > (SELECT max(run_id) - 3 FROM denorm_reconcile_runs)
 ORDER BY k.run_id, k.counter_id;

------------------------------------------------------------------------
-- NULLs: lines whose qty and status become NULL behind the triggers' back
-- no longer add to the sum or pass the filter.
------------------------------------------------------------------------
SELECT id, qty, status FROM recmode_lines WHERE item_id IN (5, 11) ORDER BY id;
SET session_replication_role = replica;
UPDATE recmode_lines SET qty = NULL WHERE id IN (24, 34);
UPDATE recmode_lines SET status = NULL WHERE id IN (4, 44);
UPDATE recmode_lines SET qty = NULL, status = 'pending' WHERE id = 54;
-- a line with a NULL qty that becomes confirmed: counted, adds nothing
UPDATE recmode_lines SET status = 'confirmed' WHERE id = 61;
RESET session_replication_role;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile() ORDER BY counter_id;
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed
  FROM recmode_drift(:mark);
SELECT * FROM recmode_check WHERE id IN (5, 11);
-- the run right after finds nothing
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile() ORDER BY counter_id;

------------------------------------------------------------------------
-- Run records (without timestamps).
------------------------------------------------------------------------
SELECT run_id, counters, rows_checked, rows_drifted, rows_healed,
       round(drift_ratio::numeric, 4) AS drift_ratio, status, error,
       finished_at >= started_at AS finished
  FROM denorm_reconcile_runs WHERE run_id > 7200 ORDER BY run_id;

------------------------------------------------------------------------
-- Drift alert: above denorm.drift_alert_ratio a WARNING and a NOTIFY on
-- channel denorm_drift; at or below it neither.  psql prints a received
-- notification with the sender's PID, so it is captured in a file and
-- its payload checked here.
------------------------------------------------------------------------
\set nfile `mktemp /tmp/denorm_reconcile_modes.XXXXXX`
SET denorm.drift_alert_ratio = 0.25;
LISTEN denorm_drift;

-- 3 of 11 rows: 0.27 > 0.25
UPDATE recmode_items SET line_count = line_count + 1 WHERE id IN (1, 2, 3);
BEGIN;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:count_id);
\o :nfile
COMMIT;
\o
\set notes `cat :'nfile'`
SELECT n[1] AS channel,
       (n[2]::json ->> 'run_id')::bigint = (SELECT max(run_id) FROM denorm_reconcile_runs)
           AS run_id_is_last_run,
       (n[2]::json ->> 'counter_id')::int = :count_id AS counter_id_ok,
       n[2]::json ->> 'parent' AS parent,
       n[2]::json ->> 'counter_column' AS counter_column,
       n[2]::json ->> 'drifted' AS drifted,
       n[2]::json ->> 'checked' AS checked
  FROM regexp_matches(:'notes',
                      'Asynchronous notification "([^"]*)" with payload "(.*)" received from server process',
                      'g') AS n;
SELECT status, rows_drifted, rows_checked FROM denorm_reconcile_runs
 WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs);

-- 2 of 11 rows: 0.18, below
UPDATE recmode_items SET line_count = line_count + 1 WHERE id IN (1, 2);
BEGIN;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:count_id);
\o :nfile
COMMIT;
\o
\set notes `cat :'nfile'`
SELECT :'notes' = '' AS no_notification;
SELECT status, rows_drifted, rows_checked FROM denorm_reconcile_runs
 WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs);
UNLISTEN denorm_drift;
\set ignored `rm -f :'nfile'`
SET denorm.drift_alert_ratio = 1;

------------------------------------------------------------------------
-- Text keys: ranges compare as text.
------------------------------------------------------------------------
CREATE TABLE recmode_tags (name text PRIMARY KEY, use_count int DEFAULT 0);
CREATE TABLE recmode_taggings (id serial PRIMARY KEY, tag text);
INSERT INTO recmode_tags (name)
VALUES ('apple'), ('banana'), ('cherry'), ('date'), ('dates'), ('elder'), ('fig');
INSERT INTO recmode_taggings (tag)
VALUES ('apple'), ('banana'), ('banana'), ('cherry'), ('date'), ('dates'), ('dates'),
       ('dates'), ('elder'), (NULL);
SELECT denorm_create_counter('recmode_tags', 'use_count', 'recmode_taggings', 'tag')
       AS tag_id \gset
CREATE VIEW recmode_tag_check AS
SELECT t.name, t.use_count,
       t.use_count IS NOT DISTINCT FROM
           (SELECT count(*) FROM recmode_taggings g WHERE g.tag = t.name) AS count_ok
  FROM recmode_tags t
 ORDER BY t.name COLLATE "C";
SELECT * FROM recmode_tag_check;

UPDATE recmode_tags SET use_count = use_count + 1;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
-- 'banana' to 'date' takes in banana, cherry and date, not dates
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:tag_id, 'banana', 'date');
SELECT parent_key, stored_value, actual_value, drift, healed FROM recmode_drift(:mark);
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:tag_id, NULL, 'b');
SELECT * FROM recmode_tag_check;
-- the rest, two keys per batch
SET denorm.reconcile_batch_size = 2;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:tag_id, 'dates', NULL);
RESET denorm.reconcile_batch_size;
SELECT * FROM recmode_tag_check;

------------------------------------------------------------------------
-- A failing counter: healing qty_total would break a CHECK constraint.
-- The run records the failure and still checks and heals the others.
------------------------------------------------------------------------
ALTER TABLE recmode_items ADD CONSTRAINT recmode_items_qty_cap CHECK (qty_total < 1000);
SET session_replication_role = replica;
INSERT INTO recmode_lines (item_id, qty, status) VALUES (1, 5000, 'confirmed');
RESET session_replication_role;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile() ORDER BY counter_id;
-- qty_total's heal failed, and what it found is still logged, unhealed
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed
  FROM recmode_drift(:mark);
SELECT run_id, counters, rows_checked, rows_drifted, rows_healed, status, error
  FROM denorm_reconcile_runs WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs);
SELECT c.counter_column, k.rows_checked, k.rows_drifted, k.rows_healed, k.error
  FROM denorm_reconcile_checks k JOIN denorm_counters c ON c.id = k.counter_id
 WHERE k.run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)
 ORDER BY k.counter_id;
SELECT counter_column, last_rows_checked, last_rows_drifted, last_error
  FROM denorm_status WHERE counter_id IN (:count_id, :sum_id, :filtered_id)
 ORDER BY counter_id;
SELECT * FROM recmode_check WHERE id = 1;
-- a dry run does not write, so it does not fail
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:sum_id, false);
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed
  FROM recmode_drift(:mark);
-- the procedure records the failure the same way
CALL denorm_reconcile_batched();
SELECT run_id, counters, rows_checked, rows_drifted, rows_healed, status, error
  FROM denorm_reconcile_runs WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs);
-- without the constraint the heal goes through
ALTER TABLE recmode_items DROP CONSTRAINT recmode_items_qty_cap;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:sum_id);
SELECT * FROM recmode_check;

------------------------------------------------------------------------
-- Clean up: counters, their log rows and runs, tables.
------------------------------------------------------------------------
DELETE FROM denorm_drift_log
 WHERE counter_id IN (:count_id, :sum_id, :filtered_id, :tag_id);
DELETE FROM denorm_reconcile_runs
 WHERE run_id IN (SELECT run_id FROM denorm_reconcile_checks
                   WHERE counter_id IN (:count_id, :sum_id, :filtered_id, :tag_id));
DELETE FROM denorm_reconcile_checks
 WHERE counter_id IN (:count_id, :sum_id, :filtered_id, :tag_id);
SELECT count(*) AS dropped
  FROM (SELECT denorm_drop_counter(id) FROM denorm_counters
         WHERE id IN (:count_id, :sum_id, :filtered_id, :tag_id)) d;
DROP FUNCTION recmode_drift(bigint), recmode_run_log(bigint), recmode_break();
DROP VIEW recmode_check, recmode_tag_check;
DROP TABLE recmode_lines, recmode_items, recmode_taggings, recmode_tags;
