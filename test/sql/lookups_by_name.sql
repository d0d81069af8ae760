-- Every function that takes a counter id also takes (parent table,
-- counter column): the two forms give the same results, overload
-- resolution picks the id form for an id and the name form for names
-- (table and column as literals, the table as regclass or as text), an
-- unknown table or column is an error naming them, and the by-name reads
-- keep the privilege rules of denorm_value(counter_id, key) exactly.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
SELECT last_value AS saved_last_run, is_called AS saved_run_called FROM denorm_reconcile_runs_run_id_seq \gset
-- WARNINGs and NOTICEs name counter and run ids: pin both
SELECT setval('denorm_counters_id_seq', 9700) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 9700) AS pinned_run_ids;

CREATE TABLE lk_posts (id int PRIMARY KEY, tenant text NOT NULL,
                       comment_count int NOT NULL DEFAULT 0, score int NOT NULL DEFAULT 0);
CREATE TABLE lk_comments (id serial PRIMARY KEY, post_id int REFERENCES lk_posts,
                          score int NOT NULL DEFAULT 1);
CREATE INDEX ON lk_comments (post_id);
INSERT INTO lk_posts SELECT g, CASE WHEN g <= 3 THEN 'a' ELSE 'b' END FROM generate_series(1, 6) g;
INSERT INTO lk_comments (post_id, score) VALUES (1, 2), (1, 3), (5, 4), (5, 1), (5, 1);
SELECT denorm_create_counter('lk_posts', 'comment_count', 'lk_comments', 'post_id',
                             mode => 'deferred') AS cc_id \gset
SELECT denorm_create_counter('lk_posts', 'score', 'lk_comments', 'post_id', 'sum', 'score') AS score_id \gset
INSERT INTO lk_comments (post_id) VALUES (5);

-- the id
SELECT denorm_counter_id('lk_posts', 'comment_count') = :cc_id AS id_found,
       denorm_counter_id('public.lk_posts'::text, 'score') = :score_id AS id_from_text;

-- reads: the id form for (id, key), the name form for (table, column, key)
SELECT denorm_value(:cc_id, 5) AS by_id,
       denorm_value('lk_posts', 'comment_count', 5) AS by_name,
       denorm_value('lk_posts'::regclass, 'comment_count', 5) AS by_regclass,
       denorm_value('public.lk_posts'::text, 'comment_count', 5) AS by_text,
       denorm_value('lk_posts', 'comment_count', 99) AS no_such_row;
SELECT * FROM denorm_values('lk_posts', 'comment_count', ARRAY[5, 1, 99, 2]);
SELECT * FROM denorm_values(:cc_id, ARRAY[5, 1, 99, 2]);
-- which function each call resolves to
CREATE VIEW lk_calls AS
SELECT denorm_value(3, 5) AS id_form,
       denorm_value('lk_posts', 'comment_count', 5) AS name_form;
SELECT d.refobjid::regprocedure::text AS resolved_to
  FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
 WHERE r.ev_class = 'lk_calls'::regclass AND d.refclassid = 'pg_proc'::regclass
 GROUP BY 1 ORDER BY 1;
DROP VIEW lk_calls;

-- unknown tables and columns are named
SELECT denorm_value('lk_posts', 'nope', 5);
SELECT denorm_value('lk_posts', 'tenant', 5);
SELECT denorm_value('lk_nope', 'comment_count', 5);
SELECT denorm_value(0::regclass, 'comment_count', 5);
SELECT denorm_value('lk_posts', NULL, 5);
SELECT * FROM denorm_reconcile('lk_comments', 'score');
SELECT denorm_flush('lk_posts', 'tenant');

-- flush, reconcile and the range by name
SELECT denorm_flush('lk_posts', 'comment_count') AS folded;
SET denorm.counter_writes = 'allow';
UPDATE lk_posts SET score = score + 10 WHERE id IN (1, 5);
RESET denorm.counter_writes;
SELECT counter_id = :score_id AS is_score, parent, counter_column, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile('lk_posts', 'score', heal => false);
SELECT counter_id = :score_id AS is_score, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile_range('lk_posts', 'score', '1', '3');
SELECT counter_id = :score_id AS is_score, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile_range(:score_id, '4', '6', false);
SELECT counter_id = :score_id AS is_score, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile_range('lk_posts'::regclass, 'score'::name, '4', NULL, false);
SELECT * FROM denorm_reconcile_range('lk_posts', 'nope', '1', '3');
CALL denorm_reconcile_batched('lk_posts', 'score');
SELECT counters, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
SELECT id, score FROM lk_posts WHERE id IN (1, 5) ORDER BY id;
CALL denorm_reconcile_batched('lk_posts', 'nope');
BEGIN;
CALL denorm_reconcile_batched('lk_posts', 'score');
ROLLBACK;

-- the by-name reads keep the id form's privilege rules: a role needs
-- SELECT on the parent, row security hides rows, and it needs no rights
-- on denorm's tables
CREATE ROLE regress_lk_app;
SET ROLE regress_lk_app;
SELECT denorm_value('lk_posts', 'comment_count', 5);
SELECT denorm_value(:cc_id, 5);
SELECT * FROM denorm_values('lk_posts', 'comment_count', ARRAY[5]);
RESET ROLE;
GRANT SELECT ON lk_posts TO regress_lk_app;
ALTER TABLE lk_posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY lk_tenant_a ON lk_posts TO regress_lk_app USING (tenant = 'a');
SET ROLE regress_lk_app;
SELECT denorm_value('lk_posts', 'comment_count', 1) AS visible,
       denorm_value('lk_posts', 'comment_count', 5) AS hidden,
       denorm_value(:cc_id, 5) AS hidden_by_id;
SELECT * FROM denorm_values('lk_posts', 'comment_count', ARRAY[1, 5]);
-- administration by name stays administration
SELECT * FROM denorm_reconcile('lk_posts', 'score');
SELECT denorm_flush('lk_posts', 'comment_count');
RESET ROLE;

DROP OWNED BY regress_lk_app;
DROP ROLE regress_lk_app;
SELECT denorm_drop_counter('lk_posts', 'comment_count');
SELECT denorm_drop_counter(:score_id);
DROP TABLE lk_comments, lk_posts;
-- leave the history and the ids as the files before left them
DELETE FROM denorm_drift_log WHERE run_id > 9700;
DELETE FROM denorm_reconcile_checks WHERE run_id > 9700;
DELETE FROM denorm_reconcile_runs WHERE run_id > 9700;
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') IS NOT NULL AS restored,
       setval('denorm_reconcile_runs_run_id_seq', :saved_last_run, :'saved_run_called') IS NOT NULL AS runs_restored;
