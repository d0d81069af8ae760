-- The denorm_status view: whether each counter's triggers fire (missing,
-- disabled, replica-only triggers, on the child and on every partition),
-- and what its last reconcile run found.
-- CONTEXT lines would pin line numbers of the install script
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set SHOW_CONTEXT never

-- Trigger names, WARNINGs and run ids carry ids, so this file pins them: its
-- counters are 7301.. and its runs 7301.. whatever earlier files did.
SELECT setval('denorm_counters_id_seq', 7300) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 7300) AS pinned_run_ids;
SET denorm.drift_alert_ratio = 1;

CREATE TABLE recstat_users (id int PRIMARY KEY, follower_count int DEFAULT 0);
CREATE TABLE recstat_follows (follower_id int, followed_id int);
INSERT INTO recstat_users (id) SELECT g FROM generate_series(1, 5) g;
INSERT INTO recstat_follows VALUES (1, 2), (3, 2), (4, 2), (1, 3), (2, 5);
SELECT denorm_create_counter('recstat_users', 'follower_count', 'recstat_follows', 'followed_id')
       AS follow_id \gset

CREATE VIEW recstat_check AS
SELECT u.id, u.follower_count,
       u.follower_count IS NOT DISTINCT FROM
           (SELECT count(*) FROM recstat_follows f WHERE f.followed_id = u.id) AS count_ok
  FROM recstat_users u
 ORDER BY u.id;

-- Every column but the timestamps, which are shown as set or not.
CREATE VIEW recstat_status AS
SELECT s.parent, s.counter_column, s.child, s.aggregate, s.mode,
       s.triggers_ok, s.trigger_problems,
       s.last_run_id, s.last_checked_at IS NOT NULL AS checked,
       s.last_rows_checked, s.last_rows_drifted, s.last_error,
       s.last_drift_at IS NOT NULL AS drift_seen
  FROM denorm_status s
 WHERE s.counter_id >= 7301
 ORDER BY s.counter_id;

------------------------------------------------------------------------
-- Healthy, never checked.
------------------------------------------------------------------------
\x on
SELECT * FROM recstat_status;
\x off
SELECT counter_id = :follow_id AS id_ok FROM denorm_status WHERE counter_id >= 7301;

-- a clean run
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:follow_id);
\x on
SELECT * FROM recstat_status;
\x off
-- last_checked_at is the time of that run's check
SELECT s.last_checked_at = k.checked_at AS checked_at_ok
  FROM denorm_status s
  JOIN denorm_reconcile_checks k ON k.run_id = s.last_run_id AND k.counter_id = s.counter_id
 WHERE s.counter_id = :follow_id;

-- drift found by a dry run: last_rows_drifted and last_drift_at follow
UPDATE recstat_users SET follower_count = 9 WHERE id = 4;
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile(:follow_id, heal => false);
SELECT last_run_id, last_rows_checked, last_rows_drifted, last_drift_at IS NOT NULL AS drift_seen,
       last_drift_at = (SELECT max(detected_at) FROM denorm_drift_log
                         WHERE counter_id = :follow_id) AS last_drift_at_ok
  FROM denorm_status WHERE counter_id = :follow_id;
-- a healing run, then a clean one: the last run is clean, the drift stays on record
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:follow_id);
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:follow_id);
SELECT last_run_id, last_rows_checked, last_rows_drifted, last_error,
       last_drift_at IS NOT NULL AS drift_seen
  FROM denorm_status WHERE counter_id = :follow_id;
-- a range run counts as a run too
SELECT counter_column, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_range(:follow_id, '2', '3');
SELECT last_run_id, last_rows_checked, last_rows_drifted FROM denorm_status
 WHERE counter_id = :follow_id;
SELECT * FROM recstat_check;

------------------------------------------------------------------------
-- A disabled trigger, then a replica-only one, then ALWAYS: only the
-- first two are problems.
------------------------------------------------------------------------
SELECT format('ALTER TABLE recstat_follows DISABLE TRIGGER %I', 'denorm_row')
\gexec
SELECT triggers_ok, trigger_problems FROM denorm_status WHERE counter_id = :follow_id;
SELECT format('ALTER TABLE recstat_follows DISABLE TRIGGER %I', 'denorm_truncate')
\gexec
SELECT triggers_ok, trigger_problems FROM denorm_status WHERE counter_id = :follow_id;
-- the run warns, and records the problems with its check
INSERT INTO recstat_follows VALUES (5, 1);
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:follow_id);
SELECT k.trigger_problems, k.rows_drifted
  FROM denorm_reconcile_checks k
 WHERE k.run_id = (SELECT last_run_id FROM denorm_status WHERE counter_id = :follow_id)
   AND k.counter_id = :follow_id;
SELECT last_rows_checked, last_rows_drifted FROM denorm_status WHERE counter_id = :follow_id;
SELECT * FROM recstat_check;

SELECT format('ALTER TABLE recstat_follows ENABLE REPLICA TRIGGER %I', 'denorm_row')
\gexec
SELECT format('ALTER TABLE recstat_follows ENABLE TRIGGER %I', 'denorm_truncate')
\gexec
SELECT triggers_ok, trigger_problems FROM denorm_status WHERE counter_id = :follow_id;
SELECT format('ALTER TABLE recstat_follows ENABLE ALWAYS TRIGGER %I', 'denorm_row')
\gexec
SELECT triggers_ok, trigger_problems FROM denorm_status WHERE counter_id = :follow_id;
SELECT format('ALTER TABLE recstat_follows ENABLE TRIGGER %I', 'denorm_row')
\gexec
SELECT triggers_ok, trigger_problems FROM denorm_status WHERE counter_id = :follow_id;

------------------------------------------------------------------------
-- A dropped statement trigger.
------------------------------------------------------------------------
SELECT format('DROP TRIGGER %I ON recstat_follows', 'denorm_stmt')
\gexec
\x on
SELECT * FROM recstat_status;
\x off
-- writes still reach the counter (the executor hook applies what the row
-- trigger collected), but the run warns
INSERT INTO recstat_follows VALUES (2, 1), (3, 1);
DELETE FROM recstat_follows WHERE follower_id = 1 AND followed_id = 2;
SELECT * FROM recstat_check;
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:follow_id);
-- a counter with a missing trigger can still be dropped, and created again
SELECT denorm_drop_counter(:follow_id);
SELECT count(*) AS triggers_left FROM pg_trigger
 WHERE tgrelid = 'recstat_follows'::regclass AND NOT tgisinternal;
SELECT denorm_create_counter('recstat_users', 'follower_count', 'recstat_follows', 'followed_id')
       AS follow_id \gset
\x on
SELECT * FROM recstat_status;
\x off

------------------------------------------------------------------------
-- A partitioned child: statement and TRUNCATE triggers live on every
-- partition, and a problem names the partition.
------------------------------------------------------------------------
CREATE TABLE recstat_groups (id int PRIMARY KEY, member_count int DEFAULT 0);
CREATE TABLE recstat_members (group_id int, region text) PARTITION BY LIST (region);
CREATE TABLE recstat_members_eu PARTITION OF recstat_members FOR VALUES IN ('eu');
CREATE TABLE recstat_members_us PARTITION OF recstat_members FOR VALUES IN ('us');
INSERT INTO recstat_groups VALUES (1), (2);
INSERT INTO recstat_members VALUES (1, 'eu'), (1, 'us'), (2, 'us');
SELECT denorm_create_counter('recstat_groups', 'member_count', 'recstat_members', 'group_id')
       AS member_id \gset
SELECT counter_column, triggers_ok, trigger_problems FROM denorm_status
 WHERE counter_id = :member_id;
SELECT format('DROP TRIGGER %I ON recstat_members_us', 'denorm_truncate')
\gexec
SELECT counter_column, triggers_ok, trigger_problems FROM denorm_status
 WHERE counter_id = :member_id;
-- any ALTER TABLE runs denorm's DDL event trigger, which gives the
-- partitions of counted tables back their missing triggers
SELECT format('ALTER TABLE recstat_members_eu DISABLE TRIGGER %I', 'denorm_stmt')
\gexec
SELECT counter_column, triggers_ok, trigger_problems FROM denorm_status
 WHERE counter_id = :member_id;
-- rows written straight into that partition are still counted
INSERT INTO recstat_members_eu VALUES (2, 'eu'), (2, 'eu');
DELETE FROM recstat_members_eu WHERE group_id = 1;
SELECT g.id, g.member_count,
       g.member_count = (SELECT count(*) FROM recstat_members m WHERE m.group_id = g.id) AS count_ok
  FROM recstat_groups g ORDER BY g.id;
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:member_id);
SELECT format('ALTER TABLE recstat_members_eu ENABLE TRIGGER %I', 'denorm_stmt')
\gexec
SELECT counter_column, triggers_ok, trigger_problems FROM denorm_status
 WHERE counter_id = :member_id;

------------------------------------------------------------------------
-- Anyone may read the view.
------------------------------------------------------------------------
CREATE ROLE regress_recstat_reader;
SET ROLE regress_recstat_reader;
SELECT counter_column, triggers_ok, trigger_problems, last_rows_checked
  FROM denorm_status WHERE counter_id >= 7301 ORDER BY counter_id;
RESET ROLE;
DROP ROLE regress_recstat_reader;

------------------------------------------------------------------------
-- Clean up.
------------------------------------------------------------------------
DELETE FROM denorm_drift_log WHERE counter_id >= 7301;
DELETE FROM denorm_reconcile_runs
 WHERE run_id IN (SELECT run_id FROM denorm_reconcile_checks WHERE counter_id >= 7301);
DELETE FROM denorm_reconcile_checks WHERE counter_id >= 7301;
DROP VIEW recstat_status, recstat_check;
DROP TABLE recstat_follows, recstat_users, recstat_members, recstat_groups;
SELECT count(*) AS counters_left FROM denorm_counters WHERE id >= 7301;
