-- Failures look like failures: each counter's reconcile result carries its
-- status and error; a heal that fails still logs the drift it found; dry
-- runs have a status of their own; a reversed key range is an error; the
-- committing procedure ends with an error when a counter failed (or, asked
-- to, when it found drift) and refuses to start inside a transaction
-- block; DROP EXTENSION folds pending deltas into their columns first.
-- Failures are real ones: a role without the rights to read a counter's
-- tables, a parent trigger refusing the heal, a parent row locked by
-- another session past lock_timeout, a CHECK constraint refusing a flush.
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set VERBOSITY default
\set SHOW_CONTEXT never
-- messages below name counter and run ids: pin them whatever ran before
SELECT setval('denorm_counters_id_seq', 7400) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 7400) AS pinned_run_ids;
-- no drift alerts unless a test asks for them
SET denorm.drift_alert_ratio = 1;

CREATE TABLE rf_posts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rf_comments (id serial PRIMARY KEY, post_id int REFERENCES rf_posts);
CREATE INDEX ON rf_comments (post_id);
INSERT INTO rf_posts SELECT g FROM generate_series(1, 12) g;
INSERT INTO rf_comments (post_id) SELECT 1 + g % 12 FROM generate_series(1, 36) g;
SELECT denorm_create_counter('rf_posts', 'n', 'rf_comments', 'post_id') AS posts_id \gset

CREATE TABLE rf_orders (id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0);
CREATE TABLE rf_lines (id serial PRIMARY KEY, order_id int REFERENCES rf_orders, price numeric);
CREATE INDEX ON rf_lines (order_id);
INSERT INTO rf_orders SELECT g FROM generate_series(1, 5) g;
INSERT INTO rf_lines (order_id, price) SELECT 1 + g % 5, g FROM generate_series(1, 10) g;
SELECT denorm_create_counter('rf_orders', 'total', 'rf_lines', 'order_id',
                             aggregate => 'sum', value_column => 'price') AS orders_id \gset

-- drift that the triggers cannot see: posts 3 and 4, order 2
CREATE FUNCTION rf_drift() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL session_replication_role = replica;
    INSERT INTO rf_comments (post_id) VALUES (3), (4), (4);
    INSERT INTO rf_lines (order_id, price) VALUES (2, 100);
END
$$;
CREATE VIEW rf_truth AS
SELECT 'post' AS kind, p.id, p.n AS stored,
       (SELECT count(*) FROM rf_comments c WHERE c.post_id = p.id) AS actual
  FROM rf_posts p
UNION ALL
SELECT 'order', o.id, o.total,
       (SELECT coalesce(sum(price), 0) FROM rf_lines l WHERE l.order_id = o.id)
  FROM rf_orders o;
CREATE VIEW rf_wrong AS
SELECT kind, id, stored, actual FROM rf_truth WHERE stored <> actual ORDER BY 1, 2;
-- the drift log of one run, without log ids and times
CREATE FUNCTION rf_log(run bigint)
RETURNS TABLE (counter_id integer, parent_key text, stored_value numeric,
               actual_value numeric, drift numeric, healed boolean)
LANGUAGE sql AS $$
    SELECT l.counter_id, l.parent_key, l.stored_value, l.actual_value, l.drift, l.healed
      FROM denorm_drift_log l WHERE l.run_id = run ORDER BY 1, 2
$$;
CREATE VIEW rf_last_run AS
SELECT run_id, counters, rows_checked, rows_drifted, rows_healed, status, error
  FROM denorm_reconcile_runs WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs);

------------------------------------------------------------------------
-- Status and error per counter, after the 1.2 columns
------------------------------------------------------------------------
SELECT pg_get_function_result('denorm_reconcile(integer, boolean)'::regprocedure) AS reconcile_result;
SELECT pg_get_function_result('denorm_reconcile_range(integer, text, text, boolean)'::regprocedure)
       AS reconcile_range_result;
-- nothing to do: ok
SELECT * FROM denorm_reconcile() WHERE counter_id > 7400 ORDER BY counter_id;
SELECT * FROM rf_last_run;
-- drift found and healed: drift
SELECT rf_drift();
SELECT * FROM denorm_reconcile() WHERE counter_id > 7400 ORDER BY counter_id;
SELECT * FROM rf_last_run;
SELECT * FROM rf_wrong;
-- past the alert ratio: alert
SELECT rf_drift();
SET denorm.drift_alert_ratio = 0.01;
SELECT counter_id, rows_drifted, status, error FROM denorm_reconcile(:posts_id);
SET denorm.drift_alert_ratio = 1;
SELECT * FROM rf_last_run;

-- A role given administration but no rights on the orders tables: the
-- orders counter fails (it used to come back as 0 checked, 0 drifted, no
-- status), the posts counter is still reconciled.
CREATE ROLE regress_rf_admin;
SELECT denorm_grant_admin('regress_rf_admin');
GRANT SELECT, UPDATE ON rf_posts TO regress_rf_admin;
GRANT SELECT ON rf_comments TO regress_rf_admin;
SET ROLE regress_rf_admin;
SELECT * FROM denorm_reconcile() WHERE counter_id > 7400 ORDER BY counter_id;
RESET ROLE;
SELECT * FROM rf_last_run;
SELECT counter_id, rows_checked, rows_drifted, error FROM denorm_reconcile_checks
 WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs) ORDER BY counter_id;
SELECT counter_id, last_error FROM denorm_status WHERE counter_id > 7400 ORDER BY counter_id;
-- filtered on the new columns, as a monitoring query would
SET ROLE regress_rf_admin;
SELECT counter_id, status FROM denorm_reconcile() WHERE status <> 'ok' ORDER BY 1;
RESET ROLE;

------------------------------------------------------------------------
-- A heal that fails still logs the drift it found
------------------------------------------------------------------------
-- a trigger on the parent refuses the heal of order 2
CREATE FUNCTION rf_refuse() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.id = 2 THEN
        RAISE EXCEPTION 'order % is closed', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER rf_refuse BEFORE UPDATE ON rf_orders FOR EACH ROW EXECUTE FUNCTION rf_refuse();
SELECT rf_drift();
SELECT * FROM denorm_reconcile() WHERE counter_id > 7400 ORDER BY counter_id;
SELECT * FROM rf_last_run;
-- both counters' drift is logged; the orders row unhealed
SELECT * FROM rf_log((SELECT max(run_id) FROM denorm_reconcile_runs));
SELECT * FROM rf_wrong;
-- the procedure: the same failure, the same log, and the CALL fails
CALL denorm_reconcile_batched(:orders_id);
\echo :SQLSTATE
SELECT * FROM rf_last_run;
SELECT * FROM rf_log((SELECT max(run_id) FROM denorm_reconcile_runs));
-- a dry run is not a heal: nothing fails
SELECT * FROM denorm_reconcile(:orders_id, heal => false);
DROP TRIGGER rf_refuse ON rf_orders;

-- another session holds order 2 past lock_timeout: the heal fails with
-- 55P03, the drift is logged unhealed; the posts counter is not held up
CREATE EXTENSION dblink;
SELECT dblink_connect('rf_locker', format('dbname=%s host=%s port=%s', current_database(),
                      current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_exec('rf_locker', 'BEGIN');
SELECT * FROM dblink('rf_locker', 'SELECT id FROM rf_orders WHERE id = 2 FOR UPDATE') AS t(id int);
SET lock_timeout = '100ms';
SELECT * FROM denorm_reconcile() WHERE counter_id > 7400 ORDER BY counter_id;
RESET lock_timeout;
SELECT * FROM rf_log((SELECT max(run_id) FROM denorm_reconcile_runs));
SELECT dblink_exec('rf_locker', 'ROLLBACK');
SELECT dblink_disconnect('rf_locker');
DROP EXTENSION dblink;
-- free again: healed
SELECT counter_id, rows_drifted, rows_healed, status, error FROM denorm_reconcile(:orders_id);
SELECT * FROM rf_wrong;

------------------------------------------------------------------------
-- Dry runs have their own status
------------------------------------------------------------------------
SELECT max(run_id) AS mark FROM denorm_reconcile_runs \gset
SELECT rf_drift();
SELECT counter_id, rows_drifted, rows_healed, status FROM denorm_reconcile(heal => false)
 WHERE counter_id > 7400 ORDER BY counter_id;
SELECT * FROM rf_last_run;
-- even past the alert ratio
SET denorm.drift_alert_ratio = 0.01;
SELECT counter_id, rows_drifted, status FROM denorm_reconcile(:posts_id, heal => false);
SET denorm.drift_alert_ratio = 1;
SELECT status FROM rf_last_run;
CALL denorm_reconcile_batched(heal => false);
SELECT status FROM rf_last_run;
-- a dry run that finds nothing is ok
SELECT counter_id, rows_drifted, status
  FROM denorm_reconcile_range(:posts_id, '5', '12', heal => false);
SELECT status FROM rf_last_run;
-- then the heal: the three dry runs logged the same drift again
SELECT counter_id, rows_drifted, status FROM denorm_reconcile() WHERE counter_id > 7400
 ORDER BY counter_id;
SELECT counter_id, count(*) AS logged_rows FROM denorm_drift_log
 WHERE run_id > :mark GROUP BY 1 ORDER BY 1;
-- the README's drift per counter per day (without the day here) leaves
-- the dry runs out, and counts each drifted row once
SELECT l.counter_id, count(*) AS rows, sum(l.drift) AS net
  FROM denorm_drift_log l JOIN denorm_reconcile_runs r USING (run_id)
 WHERE r.status <> 'dry_run'
   AND l.run_id > :mark
 GROUP BY 1 ORDER BY 1;
SELECT status, count(*) FROM denorm_reconcile_runs WHERE run_id > 7400 GROUP BY 1 ORDER BY 1;

------------------------------------------------------------------------
-- A reversed key range is an error, compared as key values
------------------------------------------------------------------------
SELECT count(*) AS runs_before FROM denorm_reconcile_runs \gset
SELECT * FROM denorm_reconcile_range(:posts_id, '10', '9');
\echo :SQLSTATE
-- as integers 9 comes before 10, though not as text
SELECT counter_id, rows_checked, status FROM denorm_reconcile_range(:posts_id, '9', '10');
SELECT counter_id, rows_checked, status FROM denorm_reconcile_range(:posts_id, '7', '7');
-- a text key: '10' comes before '9'
CREATE TABLE rf_tags (name text PRIMARY KEY, uses int NOT NULL DEFAULT 0);
CREATE TABLE rf_tagged (id serial PRIMARY KEY, tag text REFERENCES rf_tags);
CREATE INDEX ON rf_tagged (tag);
INSERT INTO rf_tags VALUES ('10'), ('9');
INSERT INTO rf_tagged (tag) VALUES ('10'), ('9'), ('9');
SELECT denorm_create_counter('rf_tags', 'uses', 'rf_tagged', 'tag') AS tags_id \gset
SELECT * FROM denorm_reconcile_range(:tags_id, '9', '10');
\echo :SQLSTATE
SELECT counter_id, rows_checked, status FROM denorm_reconcile_range(:tags_id, '10', '9');
-- open ends are never reversed; a bound of the wrong type is the caller's error
SELECT counter_id, rows_checked, status FROM denorm_reconcile_range(:posts_id, '10', NULL);
SELECT * FROM denorm_reconcile_range(:posts_id, 'ten', '9');
\echo :SQLSTATE
-- the refused calls recorded no run (four ran)
SELECT count(*) - :runs_before AS runs_recorded FROM denorm_reconcile_runs;

------------------------------------------------------------------------
-- The committing procedure ends with an error when a counter failed
------------------------------------------------------------------------
-- failed: the orders counter, for a role that may not read it; the run is
-- recorded and the posts counter reconciled
SELECT rf_drift();
SET ROLE regress_rf_admin;
CALL denorm_reconcile_batched();
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM rf_last_run;
SELECT kind, id FROM rf_wrong;
-- drift, healed: by default the CALL succeeds (as pg_cron jobs made under
-- 1.2 expect), with fail_on_drift it fails
CALL denorm_reconcile_batched();
\echo :SQLSTATE
SELECT status FROM rf_last_run;
SELECT rf_drift();
CALL denorm_reconcile_batched(fail_on_drift => true);
\echo :SQLSTATE
SELECT status, rows_drifted, rows_healed FROM rf_last_run;
SELECT * FROM rf_wrong;
-- nothing drifted: fail_on_drift has nothing to say
CALL denorm_reconcile_batched(fail_on_drift => true);
\echo :SQLSTATE
-- a dry run that finds drift fails it too
SELECT rf_drift();
CALL denorm_reconcile_batched(:posts_id, false, true);
\echo :SQLSTATE
-- the 1.2 calls resolve unchanged: no arguments, and two positional ones
CALL denorm_reconcile_batched();
\echo :SQLSTATE
CALL denorm_reconcile_batched(:posts_id, true);
\echo :SQLSTATE
SELECT status FROM rf_last_run;
-- the command denorm_schedule_reconcile builds (pg_cron is not installed
-- here, so it is run as it would be)
SELECT format('CALL %I.denorm_reconcile_batched()', n.nspname) AS scheduled_command
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'denorm' \gset
:scheduled_command;
\echo :SQLSTATE
CALL denorm_reconcile_batched(fail_on_drift => NULL);
\echo :SQLSTATE
-- a procedure calling it in a loop resolves it every time (its pinned
-- search_path does not outlive it)
CREATE PROCEDURE rf_each() LANGUAGE plpgsql AS $$
DECLARE i integer;
BEGIN
    FOR i IN SELECT id FROM denorm_counters WHERE id > 7400 ORDER BY id LOOP
        CALL denorm_reconcile_batched(i);
    END LOOP;
END
$$;
CALL rf_each();
\echo :SQLSTATE
SELECT status, count(*) FROM denorm_reconcile_runs
 WHERE run_id > (SELECT max(run_id) - 3 FROM denorm_reconcile_runs) GROUP BY 1;

------------------------------------------------------------------------
-- Inside a transaction block it refuses at once, before recording a run
------------------------------------------------------------------------
SELECT count(*) AS runs_before FROM denorm_reconcile_runs \gset
BEGIN;
CALL denorm_reconcile_batched();
\echo :SQLSTATE
ROLLBACK;
-- from a function, or a block with an exception handler
CREATE FUNCTION rf_from_function() RETURNS void LANGUAGE plpgsql AS $$
BEGIN CALL denorm_reconcile_batched(); END $$;
SELECT rf_from_function();
\echo :SQLSTATE
DO $$ BEGIN CALL denorm_reconcile_batched(); EXCEPTION WHEN division_by_zero THEN NULL; END $$;
\echo :SQLSTATE
-- (a DO block outside a transaction block may commit: that works)
DO $$ BEGIN CALL denorm_reconcile_batched(); END $$;
\echo :SQLSTATE
SELECT count(*) - :runs_before AS runs_recorded FROM denorm_reconcile_runs;

------------------------------------------------------------------------
-- DROP EXTENSION folds pending deltas first (its pg_cron jobs: test/cron)
------------------------------------------------------------------------
CREATE TABLE rf_hot (id int PRIMARY KEY, likes int NOT NULL DEFAULT 0 CHECK (likes < 100));
CREATE TABLE rf_likes (id serial PRIMARY KEY, hot_id int REFERENCES rf_hot);
CREATE INDEX ON rf_likes (hot_id);
INSERT INTO rf_hot VALUES (1), (2);
SELECT denorm_create_counter('rf_hot', 'likes', 'rf_likes', 'hot_id', mode => 'deferred') AS hot_id \gset
INSERT INTO rf_likes (hot_id) VALUES (1), (1), (2);
SELECT id, likes FROM rf_hot ORDER BY id;
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :hot_id;
BEGIN;
-- another extension's drop does nothing of denorm's
CREATE EXTENSION seg;
DROP EXTENSION seg;
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :hot_id;
-- without CASCADE the drop is refused while counters exist: nothing flushed
SAVEPOINT s;
\set VERBOSITY terse
DROP EXTENSION denorm;
\echo :SQLSTATE
ROLLBACK TO s;
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :hot_id;
-- with CASCADE: flushed, then dropped; the columns are exact
DROP EXTENSION denorm CASCADE;
SELECT id, likes, (SELECT count(*) FROM rf_likes l WHERE l.hot_id = h.id) AS actual
  FROM rf_hot h ORDER BY id;
SELECT count(*) AS denorm_event_triggers FROM pg_event_trigger WHERE evtname LIKE 'denorm%';
ROLLBACK;
\set VERBOSITY default
-- a flush that fails fails the drop, naming the counter
INSERT INTO rf_likes (hot_id) SELECT 2 FROM generate_series(1, 120);
BEGIN;
DROP EXTENSION denorm CASCADE;
\echo :SQLSTATE
ROLLBACK;
SELECT extversion IS NOT NULL AS still_installed FROM pg_extension WHERE extname = 'denorm';
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :hot_id;

------------------------------------------------------------------------
-- The purge still closes abandoned runs (through the 1.0 signature of
-- denorm_finish_run): one that started before the server did
------------------------------------------------------------------------
INSERT INTO denorm_reconcile_runs (started_at, backend_pid)
VALUES (pg_postmaster_start_time() - interval '1 hour', pg_backend_pid())
RETURNING run_id AS abandoned_run \gset
SELECT runs_closed, runs_deleted FROM denorm_purge_history('100 years');
SELECT status, error, finished_at IS NOT NULL AS finished FROM denorm_reconcile_runs
 WHERE run_id = :abandoned_run;

------------------------------------------------------------------------
-- cleanup
------------------------------------------------------------------------
DELETE FROM rf_likes WHERE hot_id = 2 AND id > 3;
SELECT denorm_drop_counter(:hot_id);
SELECT id, likes FROM rf_hot ORDER BY id;
SELECT denorm_drop_counter(id) FROM denorm_counters WHERE id > 7400 ORDER BY id;
DROP PROCEDURE rf_each();
DROP FUNCTION rf_from_function(), rf_refuse(), rf_drift(), rf_log(bigint);
DROP VIEW rf_last_run, rf_wrong, rf_truth;
DROP TABLE rf_likes, rf_hot, rf_tagged, rf_tags, rf_lines, rf_orders, rf_comments, rf_posts;
DROP OWNED BY regress_rf_admin;
DROP ROLE regress_rf_admin;
DELETE FROM denorm_drift_log WHERE run_id > 7400;
DELETE FROM denorm_reconcile_checks WHERE run_id > 7400;
DELETE FROM denorm_reconcile_runs WHERE run_id > 7400;
RESET denorm.drift_alert_ratio;
