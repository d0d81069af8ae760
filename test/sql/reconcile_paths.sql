-- Drift made on purpose by every path that bypasses the triggers: writes in
-- replica mode, a disabled row trigger, a direct write to the counter
-- column, TRUNCATE in replica mode and COPY with user triggers disabled.
-- Each time denorm_reconcile() must log exactly what differed, heal it, and
-- find nothing on the run right after.
-- CONTEXT lines would pin line numbers of the install script
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set SHOW_CONTEXT never

-- The WARNINGs below name counter ids, so this file pins them: its counters
-- are 7101 and 7102 whatever earlier files created.
SELECT setval('denorm_counters_id_seq', 7100) AS pinned_counter_ids;
-- only warn about drift through trigger problems, not about its size
SET denorm.drift_alert_ratio = 1;

CREATE TABLE recpath_posts (id int PRIMARY KEY,
                            comment_count int DEFAULT 0,
                            like_sum bigint DEFAULT 0);
CREATE TABLE recpath_comments (id serial PRIMARY KEY, post_id int, likes int);
INSERT INTO recpath_posts (id) SELECT g FROM generate_series(1, 6) g;
INSERT INTO recpath_comments (post_id, likes)
VALUES (1, 1), (1, 2), (2, 5), (2, NULL), (3, 10), (4, 7), (4, 8), (4, 9);

SELECT denorm_create_counter('recpath_posts', 'comment_count', 'recpath_comments', 'post_id')
       AS count_id \gset
SELECT denorm_create_counter('recpath_posts', 'like_sum', 'recpath_comments', 'post_id',
                             aggregate => 'sum', value_column => 'likes')
       AS sum_id \gset

-- Stored values next to whether they equal a full recompute.
CREATE VIEW recpath_check AS
SELECT p.id, p.comment_count, p.like_sum,
       p.comment_count IS NOT DISTINCT FROM
           (SELECT count(*) FROM recpath_comments c WHERE c.post_id = p.id) AS count_ok,
       p.like_sum IS NOT DISTINCT FROM
           (SELECT coalesce(sum(c.likes), 0) FROM recpath_comments c WHERE c.post_id = p.id) AS sum_ok
  FROM recpath_posts p
 ORDER BY p.id;

-- One reconcile run per counter of this file (other files' counters are
-- none of its business).
CREATE FUNCTION recpath_reconcile()
RETURNS TABLE (counter_column name, rows_checked bigint, rows_drifted bigint, rows_healed bigint)
LANGUAGE sql
AS $$
    SELECT r.counter_column, r.rows_checked, r.rows_drifted, r.rows_healed
      FROM denorm_counters c, denorm_reconcile(c.id) r
     WHERE c.child = 'recpath_comments'::regclass
     ORDER BY c.id
$$;

-- The drift log rows written after a mark.
CREATE FUNCTION recpath_drift(mark bigint)
RETURNS TABLE (counter_column name, parent_key text, stored_value numeric,
               actual_value numeric, drift numeric, healed boolean, healed_at_set boolean)
LANGUAGE sql
AS $$
    SELECT l.counter_column, l.parent_key, l.stored_value, l.actual_value, l.drift,
           l.healed, l.healed_at IS NOT NULL
      FROM denorm_drift_log l
     WHERE l.log_id > mark AND l.counter_id IN (SELECT id FROM denorm_counters
                                                 WHERE child = 'recpath_comments'::regclass)
     ORDER BY l.counter_column, l.parent_key::int
$$;

-- the backfill is exact: the first run finds nothing
SELECT * FROM recpath_check;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT count(*) AS new_log_rows FROM recpath_drift(:mark);

------------------------------------------------------------------------
-- 1. Writes with session_replication_role = replica: no trigger fires.
------------------------------------------------------------------------
SET session_replication_role = replica;
INSERT INTO recpath_comments (post_id, likes) VALUES (1, 4), (1, NULL), (5, 6);
DELETE FROM recpath_comments WHERE post_id = 2 AND likes = 5;
UPDATE recpath_comments SET post_id = 6 WHERE post_id = 3;
UPDATE recpath_comments SET likes = likes + 100 WHERE post_id = 4 AND likes = 9;
RESET session_replication_role;
SELECT * FROM recpath_check;

SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT * FROM recpath_drift(:mark);
SELECT * FROM recpath_check;
-- the run right after finds and logs nothing
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT count(*) AS new_log_rows FROM recpath_drift(:mark);

------------------------------------------------------------------------
-- 2. A disabled row trigger: the count counter stops, the sum goes on.
------------------------------------------------------------------------
SELECT format('ALTER TABLE recpath_comments DISABLE TRIGGER %I', 'denorm_row')
\gexec
SELECT counter_column, triggers_ok, trigger_problems
  FROM denorm_status WHERE child = 'recpath_comments'::regclass ORDER BY counter_id;
INSERT INTO recpath_comments (post_id, likes) VALUES (6, 1), (6, 2), (6, 3);
DELETE FROM recpath_comments WHERE post_id = 1 AND likes = 1;
SELECT * FROM recpath_check;

-- the run reports the trigger with a WARNING, and heals what it missed
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT * FROM recpath_drift(:mark);
SELECT * FROM recpath_check;
SELECT counter_column, last_rows_checked, last_rows_drifted, last_error
  FROM denorm_status WHERE child = 'recpath_comments'::regclass ORDER BY counter_id;

SELECT format('ALTER TABLE recpath_comments ENABLE TRIGGER %I', 'denorm_row')
\gexec
SELECT counter_column, triggers_ok, trigger_problems
  FROM denorm_status WHERE child = 'recpath_comments'::regclass ORDER BY counter_id;
-- enabled again: no WARNING, nothing found, nothing logged
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT count(*) AS new_log_rows FROM recpath_drift(:mark);
-- and the trigger counts again
INSERT INTO recpath_comments (post_id, likes) VALUES (2, 20);
SELECT * FROM recpath_check;

------------------------------------------------------------------------
-- 3. Direct writes to the counter columns, NULL included.  Post 5 has
--    no comments left after this, so it must come back to 0.
------------------------------------------------------------------------
DELETE FROM recpath_comments WHERE post_id = 5;
UPDATE recpath_posts SET comment_count = comment_count + 10 WHERE id = 1;
UPDATE recpath_posts SET like_sum = NULL WHERE id = 2;
UPDATE recpath_posts SET comment_count = NULL, like_sum = -3 WHERE id = 4;
UPDATE recpath_posts SET comment_count = 7, like_sum = 70 WHERE id = 5;
SELECT * FROM recpath_check;

SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT * FROM recpath_drift(:mark);
SELECT * FROM recpath_check;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT count(*) AS new_log_rows FROM recpath_drift(:mark);

------------------------------------------------------------------------
-- 4. TRUNCATE in replica mode: the TRUNCATE trigger does not fire, every
--    parent must go back to 0.
------------------------------------------------------------------------
SET session_replication_role = replica;
TRUNCATE recpath_comments;
RESET session_replication_role;
SELECT * FROM recpath_check;

SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT * FROM recpath_drift(:mark);
SELECT * FROM recpath_check;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT count(*) AS new_log_rows FROM recpath_drift(:mark);

------------------------------------------------------------------------
-- 5. COPY with the user triggers disabled, then enabled again.
------------------------------------------------------------------------
ALTER TABLE recpath_comments DISABLE TRIGGER USER;
COPY recpath_comments (post_id, likes) FROM stdin;
1	5
1	6
3	\N
3	2
3	2
6	40
\.
ALTER TABLE recpath_comments ENABLE TRIGGER USER;
SELECT * FROM recpath_check;

SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT * FROM recpath_drift(:mark);
SELECT * FROM recpath_check;
SELECT coalesce(max(log_id), 0) AS mark FROM denorm_drift_log \gset
SELECT * FROM recpath_reconcile();
SELECT count(*) AS new_log_rows FROM recpath_drift(:mark);

-- the same COPY with the triggers on needs no healing
COPY recpath_comments (post_id, likes) FROM stdin;
2	1
5	2
5	\N
\.
SELECT * FROM recpath_check;

------------------------------------------------------------------------
-- Clean up: counters, their log rows, tables.
------------------------------------------------------------------------
DELETE FROM denorm_drift_log WHERE counter_id IN (:count_id, :sum_id);
DELETE FROM denorm_reconcile_runs
 WHERE run_id IN (SELECT run_id FROM denorm_reconcile_checks WHERE counter_id IN (:count_id, :sum_id));
DELETE FROM denorm_reconcile_checks WHERE counter_id IN (:count_id, :sum_id);
SELECT denorm_drop_counter(:count_id);
SELECT denorm_drop_counter(:sum_id);
DROP FUNCTION recpath_reconcile(), recpath_drift(bigint);
DROP VIEW recpath_check;
DROP TABLE recpath_comments, recpath_posts;
