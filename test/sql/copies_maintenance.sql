-- Copies: what creation refuses, the DDL guard (renames followed, changes
-- that would break a copy refused, tables dropped taking their copies
-- along), reconcile finding, logging and healing drift batch by batch,
-- denorm_copy_status and denorm_check_copies.
\set SHOW_CONTEXT never
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
-- runs made here are removed at the end, and their ids given back
SELECT last_value AS saved_last_run, is_called AS saved_run_called FROM denorm_reconcile_runs_run_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9300) AS pinned_ids;

CREATE TABLE cm_authors (id int PRIMARY KEY, name text, code varchar(8), born date, meta json,
                         salary numeric(8,2), other int);
CREATE TABLE cm_posts (id int PRIMARY KEY, author_id int, author_name text, author_code varchar(4),
                       born timestamptz, meta json, salary numeric(6,2), pay numeric, bigid int,
                       note text);
CREATE INDEX ON cm_posts (author_id);
INSERT INTO cm_authors VALUES (1, 'Ann', 'A', '2000-01-01'), (2, 'Bob', 'B', '1990-06-30');

------------------------------------------------------------------------
-- Creation refuses, each with its SQLSTATE
------------------------------------------------------------------------
\set VERBOSITY sqlstate
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'name', 'author_id', 'mirror');
SELECT denorm_create_copy('cm_posts', NULL, 'cm_authors', 'name', 'author_id');
SELECT denorm_create_copy('cm_posts', 'nope', 'cm_authors', 'name', 'author_id');
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'nope', 'author_id');
SELECT denorm_create_copy('cm_posts', 'author_id', 'cm_authors', 'other', 'author_id');
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_posts', 'note', 'author_id');
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'name', 'author_id', parent_key => 'other');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'name', 'author_id');
ROLLBACK;
\set VERBOSITY default
-- types: a copy column that cannot hold every source value unchanged
SELECT denorm_create_copy('cm_posts', 'author_code', 'cm_authors', 'code', 'author_id');
SELECT denorm_create_copy('cm_posts', 'born', 'cm_authors', 'born', 'author_id');
SELECT denorm_create_copy('cm_posts', 'salary', 'cm_authors', 'salary', 'author_id');
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'other', 'author_id');
SELECT denorm_create_copy('cm_posts', 'meta', 'cm_authors', 'meta', 'author_id');
-- widenings that keep every value: numeric(8,2) into numeric, int into int
SELECT denorm_create_copy('cm_posts', 'pay', 'cm_authors', 'salary', 'author_id') AS pay_id \gset
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'name', 'author_id') AS name_id \gset
SELECT denorm_create_copy('cm_posts', 'author_name', 'cm_authors', 'name', 'author_id');
SELECT denorm_drop_copy(:pay_id);
SELECT denorm_drop_copy(:pay_id);
SELECT denorm_drop_copy('cm_posts', 'note');
SELECT denorm_drop_copy('cm_posts', 'nope');

------------------------------------------------------------------------
-- The DDL guard
------------------------------------------------------------------------
INSERT INTO cm_posts (id, author_id) VALUES (1, 1), (2, 2), (3, 1);
-- renames of all four columns are followed; writes go on under the new names
ALTER TABLE cm_posts RENAME COLUMN author_name TO writer_name;
ALTER TABLE cm_posts RENAME COLUMN author_id TO writer_id;
ALTER TABLE cm_authors RENAME COLUMN name TO full_name;
ALTER TABLE cm_authors RENAME COLUMN id TO author_no;
SELECT copy_column, foreign_key, source_column, parent_key FROM denorm_copies WHERE id = :name_id;
UPDATE cm_authors SET full_name = 'Anne' WHERE author_no = 1;
INSERT INTO cm_posts (id, writer_id) VALUES (4, 2);
SELECT id, writer_id, writer_name FROM cm_posts ORDER BY id;
-- a rename rolled back takes the registry's name back with it
BEGIN;
ALTER TABLE cm_posts RENAME COLUMN writer_name TO w;
ROLLBACK;
SELECT copy_column FROM denorm_copies WHERE id = :name_id;
-- dropping a column a copy uses: refused, also with CASCADE
ALTER TABLE cm_posts DROP COLUMN writer_name;
ALTER TABLE cm_posts DROP COLUMN writer_name CASCADE;
ALTER TABLE cm_authors DROP COLUMN full_name CASCADE;
-- retyping one to a type that no longer holds the source: refused (one
-- that still does is followed)
ALTER TABLE cm_posts ALTER COLUMN writer_name TYPE varchar(100);
-- the parent key's unique index dropped
ALTER TABLE cm_authors DROP CONSTRAINT cm_authors_pkey;
-- a column no copy uses is free to change
ALTER TABLE cm_posts DROP COLUMN note;
ALTER TABLE cm_authors RENAME COLUMN other TO spare;
-- disabling a trigger is allowed and shown
ALTER TABLE cm_authors DISABLE TRIGGER USER;
SELECT copy_id = :name_id AS is_name_copy, triggers_ok, trigger_problems FROM denorm_copy_status;
ALTER TABLE cm_authors ENABLE TRIGGER USER;
SELECT triggers_ok FROM denorm_copy_status;
-- renaming the parent table changes nothing
ALTER TABLE cm_authors RENAME TO cm_writers;
UPDATE cm_writers SET full_name = 'Bobby' WHERE author_no = 2;
SELECT id, writer_name FROM cm_posts ORDER BY id;
ALTER TABLE cm_writers RENAME TO cm_authors;

------------------------------------------------------------------------
-- Reconcile: drift made behind the triggers' back is found batch by
-- batch, one logged row per child row (with its key), and healed
------------------------------------------------------------------------
ALTER TABLE cm_posts SET (fillfactor = 10);
INSERT INTO cm_authors (author_no, full_name) SELECT g, 'author ' || g FROM generate_series(3, 40) g;
INSERT INTO cm_posts (id, writer_id) SELECT g, g % 40 + 1 FROM generate_series(5, 300) g;
VACUUM ANALYZE cm_posts;
SET session_replication_role = replica;
UPDATE cm_posts SET writer_name = 'drifted' WHERE id % 50 = 0;
UPDATE cm_posts SET writer_name = NULL WHERE id = 7;
UPDATE cm_authors SET full_name = 'renamed unseen' WHERE author_no = 3;
RESET session_replication_role;
SELECT count(*) AS wrong_rows FROM denorm_check_copies('cm_posts');
SET denorm.reconcile_batch_size = 20;
-- (drift of more than half the rows would raise an alert)
SET denorm.drift_alert_ratio = 0.5;
SELECT count(*) > 5 AS several_batches FROM denorm_copy_batches((SELECT c FROM denorm_copies c WHERE c.id = :name_id), 20);
-- a dry run logs and heals nothing
SELECT copy_id = :name_id AS is_name_copy, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile_copies(heal => false);
SELECT count(*) AS wrong_rows FROM denorm_check_copies();
SET client_min_messages = warning;
SELECT copy_id = :name_id AS is_name_copy, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile_copies(:name_id);
SELECT parent_table, counter_column, parent_key, stored_text, actual_text, healed
  FROM denorm_drift_log
 WHERE counter_id = :name_id AND run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)
 ORDER BY parent_key::int;
SELECT status, counters, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS wrong_rows FROM denorm_check_copies();
SELECT rows_drifted, status FROM denorm_reconcile_copies();
SELECT last_rows_checked, last_rows_drifted, last_error FROM denorm_copy_status;
RESET denorm.reconcile_batch_size;
RESET client_min_messages;

-- a snapshot copy: only a missing snapshot where the parent has a value is
-- drift; a snapshot that differs from today's value is what it should be
CREATE TABLE cm_quotes (id int PRIMARY KEY, author_id int, name_then text);
INSERT INTO cm_quotes VALUES (1, 1), (2, 2), (3, NULL);
SELECT denorm_create_copy('cm_quotes', 'name_then', 'cm_authors', 'full_name', 'author_id', 'snapshot') AS snap_id \gset
UPDATE cm_authors SET full_name = 'Ann 2' WHERE author_no = 1;
SET session_replication_role = replica;
UPDATE cm_quotes SET name_then = NULL WHERE id = 2;
RESET session_replication_role;
SELECT copy_id = :snap_id AS is_snapshot, child_key, stored, actual FROM denorm_check_copies('cm_quotes');
SELECT rows_checked, rows_drifted, rows_healed, status FROM denorm_reconcile_copies(:snap_id);
SELECT * FROM cm_quotes ORDER BY id;
RESET denorm.drift_alert_ratio;

-- a copy whose trigger is disabled is reported by every reconcile
ALTER TABLE cm_quotes DISABLE TRIGGER USER;
SELECT rows_drifted, status FROM denorm_reconcile_copies(:snap_id);
ALTER TABLE cm_quotes ENABLE TRIGGER USER;
-- a reconcile by a role that may not read the tables fails for that copy
CREATE ROLE regress_cm_admin;
SELECT denorm_grant_admin('regress_cm_admin');
SET ROLE regress_cm_admin;
SELECT rows_checked, status, error FROM denorm_reconcile_copies(:snap_id);
SELECT * FROM denorm_reconcile_copies(12345);
RESET ROLE;
DROP OWNED BY regress_cm_admin;
DROP ROLE regress_cm_admin;

------------------------------------------------------------------------
-- Dropping the child takes the copy and its trigger on the parent along
------------------------------------------------------------------------
DROP TABLE cm_posts;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'cm_authors'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT count(*) AS copies_left FROM denorm_copies;
DROP TABLE cm_quotes, cm_authors;
DELETE FROM denorm_drift_log WHERE counter_id > 9300 AND counter_id < 9400;
DELETE FROM denorm_reconcile_checks WHERE counter_id > 9300 AND counter_id < 9400;
DELETE FROM denorm_reconcile_runs WHERE run_id > :saved_last_run OR (:'saved_run_called' = 'f' AND run_id >= :saved_last_run);
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') > 0 AS ids_restored,
       setval('denorm_reconcile_runs_run_id_seq', :saved_last_run, :'saved_run_called') > 0 AS run_ids_restored;
