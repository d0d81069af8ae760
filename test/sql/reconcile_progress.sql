-- Progress that does not flood: backfill and reconcile over hundreds of
-- batches print one NOTICE per tenth of a counter's batches (ten lines,
-- counted below), and denorm_reconcile_batched leaves its progress in its
-- run's row (test/specs/iso_reconcile_progress.spec reads it mid-run).
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
SELECT last_value AS saved_last_run, is_called AS saved_run_called FROM denorm_reconcile_runs_run_id_seq \gset
-- WARNINGs and NOTICEs name counter and run ids: pin both
SELECT setval('denorm_counters_id_seq', 9800) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 9800) AS pinned_run_ids;
CREATE TABLE rp_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rp_child (id serial PRIMARY KEY, parent_id int REFERENCES rp_parent);
CREATE INDEX ON rp_child (parent_id);
INSERT INTO rp_parent SELECT g FROM generate_series(1, 1000) g;
INSERT INTO rp_child (parent_id) SELECT g % 1000 + 1 FROM generate_series(1, 3000) g;
-- 200 batches of 5 parent rows
SET denorm.reconcile_batch_size = 5;

\set VERBOSITY terse
-- the backfill: ten lines, not 200
SELECT denorm_create_counter('rp_parent', 'n', 'rp_child', 'parent_id') AS n_id \gset
SET denorm.counter_writes = 'allow';
UPDATE rp_parent SET n = n + 1 WHERE id IN (7, 500, 999);
RESET denorm.counter_writes;
-- reconcile, in one transaction and batched: ten lines each, not 200
SET client_min_messages = notice;
SELECT rows_checked, rows_drifted, rows_healed, status FROM denorm_reconcile(:n_id, heal => false);
CALL denorm_reconcile_batched(:n_id);
SELECT counters, rows_checked, rows_drifted, rows_healed, status,
       current_counter = :n_id AS current_is_n, batches_done, batches_total,
       progress_at BETWEEN started_at AND finished_at AS progress_in_run
  FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
-- a run of one batch says nothing
SET denorm.reconcile_batch_size = 10000;
SELECT rows_checked, rows_drifted, status FROM denorm_reconcile(:n_id);
SELECT denorm_progress_due(b, 200, clock_timestamp()) AS due, count(*)
  FROM generate_series(1, 200) b GROUP BY 1 ORDER BY 1;
SELECT count(*) AS due_after_a_minute
  FROM generate_series(1, 200) b WHERE denorm_progress_due(b, 200, clock_timestamp() - interval '61 seconds');
SELECT denorm_progress_due(1, 1, clock_timestamp() - interval '1 hour') AS one_batch_due;
RESET denorm.reconcile_batch_size;
\set VERBOSITY default
SELECT denorm_drop_counter(:n_id);
DROP TABLE rp_child, rp_parent;
-- leave the history and the ids as the files before left them
DELETE FROM denorm_drift_log WHERE run_id > 9800;
DELETE FROM denorm_reconcile_checks WHERE run_id > 9800;
DELETE FROM denorm_reconcile_runs WHERE run_id > 9800;
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') IS NOT NULL AS restored,
       setval('denorm_reconcile_runs_run_id_seq', :saved_last_run, :'saved_run_called') IS NOT NULL AS runs_restored;
