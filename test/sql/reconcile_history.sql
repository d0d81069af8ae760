-- Reconcile history (denorm 1.1): denorm_purge_history() closes runs whose
-- session ended before they finished and deletes old runs with their
-- checks and drift rows, keeping each counter's latest check; and the
-- update from 1.0 that brought it.  The purge works on the whole database,
-- so this file runs in a database of its own.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_denorm_history;
\c regress_denorm_history
SET client_min_messages = warning;

------------------------------------------------------------------------
-- Updating from 1.0 keeps counters and history
------------------------------------------------------------------------
CREATE EXTENSION denorm VERSION '1.0';
CREATE TABLE hist_posts (id int PRIMARY KEY, comment_count int NOT NULL DEFAULT 0,
                         likes bigint NOT NULL DEFAULT 0);
CREATE TABLE hist_comments (id serial PRIMARY KEY, post_id int, likes int NOT NULL DEFAULT 0);
INSERT INTO hist_posts (id) SELECT g FROM generate_series(1, 4) g;
INSERT INTO hist_comments (post_id, likes) VALUES (1, 2), (1, 3), (2, 5);
SELECT denorm_create_counter('hist_posts', 'comment_count', 'hist_comments', 'post_id') AS count_id \gset
SELECT denorm_create_counter('hist_posts', 'likes', 'hist_comments', 'post_id', 'sum', 'likes') AS likes_id \gset
SELECT count(*) AS counters_checked FROM denorm_reconcile();
-- a 1.0 run has no backend_pid column
SELECT count(*) FROM pg_attribute
 WHERE attrelid = 'denorm_reconcile_runs'::regclass AND attname = 'backend_pid';

ALTER EXTENSION denorm UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'denorm';
-- the run made by 1.0 is there, its session unknown
SELECT status, backend_pid FROM denorm_reconcile_runs ORDER BY run_id;
-- counters made by 1.0 go on counting
INSERT INTO hist_comments (post_id, likes) VALUES (3, 7), (1, 1);
DELETE FROM hist_comments WHERE post_id = 2;
SELECT id, comment_count, likes FROM hist_posts ORDER BY id;
SELECT rows_drifted FROM denorm_reconcile() ORDER BY counter_id;
-- new runs record their session
SELECT backend_pid = pg_backend_pid() AS own_session
  FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
-- there is no way back
ALTER EXTENSION denorm UPDATE TO '1.0';
\echo :SQLSTATE

------------------------------------------------------------------------
-- Deleting old history
------------------------------------------------------------------------
-- Three more runs: one finds drift on both counters, one on the count
-- only, one checks only the sum.
SET session_replication_role = replica;
INSERT INTO hist_comments (post_id, likes) VALUES (4, 10);
RESET session_replication_role;
SELECT counter_id, rows_drifted FROM denorm_reconcile() ORDER BY counter_id;
UPDATE hist_posts SET comment_count = 0 WHERE id IN (1, 3);
SELECT counter_id, rows_drifted FROM denorm_reconcile(:count_id);
SELECT counter_id, rows_drifted FROM denorm_reconcile(:likes_id);

CREATE VIEW hist_runs AS
SELECT r.run_id - (SELECT min(run_id) FROM denorm_reconcile_runs) + 1 AS run,
       r.status,
       (SELECT count(*) FROM denorm_reconcile_checks k WHERE k.run_id = r.run_id) AS checks,
       (SELECT count(*) FROM denorm_drift_log l WHERE l.run_id = r.run_id) AS drift_rows
  FROM denorm_reconcile_runs r ORDER BY r.run_id;
SELECT * FROM hist_runs;

-- Everything recent is kept by the default (90 days).
SELECT * FROM denorm_purge_history();
SELECT count(*) AS runs FROM denorm_reconcile_runs;

-- Age every run by 100 days.
UPDATE denorm_reconcile_runs SET started_at = started_at - interval '100 days',
                                 finished_at = finished_at - interval '100 days';
UPDATE denorm_reconcile_checks SET checked_at = checked_at - interval '100 days';
-- a keep longer than the calendar keeps everything, as does 101 days
SELECT * FROM denorm_purge_history(interval '300000 years');
SELECT * FROM denorm_purge_history(interval '101 days');
-- 90 days: all five runs are older, but the count's latest check is in
-- run 4 and the sum's in run 5, so those stay
SELECT * FROM denorm_purge_history();
SELECT * FROM hist_runs;
-- denorm_status still reports each counter's last check; last_drift_at
-- reports drift still in the log (the sum's was in run 3, now deleted)
SELECT counter_column, last_checked_at IS NOT NULL AS checked, last_rows_drifted,
       last_drift_at IS NOT NULL AS drift_in_log
  FROM denorm_status ORDER BY counter_id;
-- a second purge finds nothing more
SELECT * FROM denorm_purge_history();

-- Once a counter is dropped its latest check is no longer kept.
SELECT denorm_drop_counter(:likes_id);
SELECT * FROM denorm_purge_history(interval '0');
SELECT * FROM hist_runs;

------------------------------------------------------------------------
-- Runs that can no longer finish
------------------------------------------------------------------------
-- The committing procedure records its run, commits, and finishes the run
-- at the end of the same CALL.  Here a session records a run and
-- disconnects.
CREATE TABLE hist_gone (pid int);
WITH r AS (INSERT INTO denorm_reconcile_runs DEFAULT VALUES RETURNING backend_pid)
INSERT INTO hist_gone SELECT backend_pid FROM r;
\c
SET client_min_messages = warning;
-- wait (up to 30 s) until that backend has exited
DO $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity a JOIN hist_gone g ON a.pid = g.pid);
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
-- a run whose statement has ended while its session goes on (a cancelled
-- or failed CALL)
INSERT INTO denorm_reconcile_runs DEFAULT VALUES;
-- a run whose session is unknown (recorded by 1.0) and which started
-- after the server did may still be going
INSERT INTO denorm_reconcile_runs (backend_pid) VALUES (NULL);
-- one that started before the server did cannot be
INSERT INTO denorm_reconcile_runs (started_at, backend_pid)
VALUES (pg_postmaster_start_time() - interval '1 minute', NULL);

SELECT * FROM denorm_purge_history();
SELECT r.status, r.error, r.finished_at IS NOT NULL AS finished,
       r.backend_pid = pg_backend_pid() AS own_session,
       r.backend_pid IN (SELECT pid FROM hist_gone) AS ended_session
  FROM denorm_reconcile_runs r WHERE r.status IN ('running', 'failed') ORDER BY r.run_id;
-- runs still going are never deleted, even with nothing to keep
SELECT * FROM denorm_purge_history(interval '0');
SELECT status, count(*) FROM denorm_reconcile_runs GROUP BY 1 ORDER BY 1;

-- A run in progress in a session that connected after this transaction
-- first looked at the sessions: the purge sees it alive.  Once its
-- statement is cancelled, the run is abandoned.
CREATE EXTENSION dblink;
BEGIN;
SELECT count(*) > 0 AS sessions_looked_at FROM pg_stat_activity;
SELECT dblink_connect('hist_late', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_send_query('hist_late', $q$
    DO $d$
    BEGIN
        INSERT INTO denorm_reconcile_runs DEFAULT VALUES;
        COMMIT;
        PERFORM pg_sleep(300);
    END
    $d$ $q$);
-- wait (up to 30 s) until its run is committed
DO $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM denorm_reconcile_runs
                           WHERE status = 'running' AND backend_pid IS NOT NULL);
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT * FROM denorm_purge_history();
SELECT status, count(*) FROM denorm_reconcile_runs GROUP BY 1 ORDER BY 1;
SELECT dblink_cancel_query('hist_late');
SELECT * FROM dblink_get_result('hist_late', false) AS t(status text);
SELECT * FROM dblink_get_result('hist_late', false) AS t(status text);
-- wait (up to 30 s) until that session reports it is idle
DO $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity a
                            JOIN denorm_reconcile_runs r ON r.backend_pid = a.pid
                           WHERE r.status = 'running' AND a.state = 'idle');
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT * FROM denorm_purge_history();
COMMIT;
SELECT dblink_disconnect('hist_late');
SELECT status, error, backend_pid IS NOT NULL AS session_known
  FROM denorm_reconcile_runs WHERE status IN ('running', 'failed') ORDER BY run_id;
DELETE FROM denorm_reconcile_runs WHERE status = 'running';

------------------------------------------------------------------------
-- Misuse: nothing is closed or deleted
------------------------------------------------------------------------
CREATE VIEW hist_totals AS
SELECT (SELECT count(*) FROM denorm_reconcile_runs) AS runs,
       (SELECT count(*) FROM denorm_reconcile_checks) AS checks,
       (SELECT count(*) FROM denorm_drift_log) AS drift_rows;
INSERT INTO denorm_reconcile_runs (started_at, backend_pid)
VALUES (pg_postmaster_start_time() - interval '1 minute', NULL);
SELECT * FROM hist_totals;
SELECT * FROM denorm_purge_history(NULL);
\echo :SQLSTATE
SELECT * FROM denorm_purge_history(interval '-1 day');
\echo :SQLSTATE
SELECT * FROM denorm_purge_history(interval '1 month -40 days');
\echo :SQLSTATE
SELECT * FROM denorm_purge_history('forever');
\echo :SQLSTATE
-- a month less the days of the month before, less one: positive by
-- PostgreSQL's 30-day comparison in some months, but from today it reaches
-- into the future in all of them
DO $$
BEGIN
    PERFORM denorm_purge_history(interval '1 mon' - (now() - (now() - interval '1 mon'))
                                 - interval '1 day');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE WARNING 'refused: %', SQLERRM ~ '^keep must not be negative';
END
$$;
SELECT denorm_schedule_purge(keep => interval '-1 day');
\echo :SQLSTATE
SELECT denorm_schedule_purge(NULL);
\echo :SQLSTATE
-- pg_cron is not installed in this database
SELECT denorm_schedule_purge();
\echo :SQLSTATE
SELECT denorm_unschedule_purge();
\echo :SQLSTATE
-- a role without grants may not purge; one granted administration may
CREATE ROLE regress_hist_nobody;
SET ROLE regress_hist_nobody;
SELECT * FROM denorm_purge_history(interval '0');
\echo :SQLSTATE
SELECT denorm_schedule_purge();
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM hist_totals;
SELECT status FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
SELECT denorm_grant_admin('regress_hist_nobody');
SET ROLE regress_hist_nobody;
SELECT * FROM denorm_purge_history(interval '0');
RESET ROLE;

------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------
\c :regress_db
DROP DATABASE regress_denorm_history;
DROP ROLE regress_hist_nobody;
