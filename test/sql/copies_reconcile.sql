-- Copies in the counters' tools: denorm_reconcile() and
-- denorm_reconcile_batched() with no id reconcile every copy in the same
-- run (a check row each, the drift log, statuses, alerts, failures), a
-- copy's id works where a counter id is taken (not for a key range),
-- denorm_check() reports drifted copies, denorm_status has a row per copy;
-- TRUNCATE of a sync copy's parent empties its children's copies.
\set SHOW_CONTEXT never
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
SELECT last_value AS saved_last_run, is_called AS saved_run_called FROM denorm_reconcile_runs_run_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9000) AS pinned_ids,
       setval('denorm_reconcile_runs_run_id_seq', 9000) AS pinned_run_ids;

CREATE TABLE cr_authors (id int PRIMARY KEY, name text);
CREATE TABLE cr_posts (id int PRIMARY KEY, author_id int, author_name text, name_then text,
                       comments int NOT NULL DEFAULT 0);
CREATE INDEX ON cr_posts (author_id);
CREATE TABLE cr_comments (id int PRIMARY KEY, post_id int REFERENCES cr_posts);
CREATE INDEX ON cr_comments (post_id);
INSERT INTO cr_authors SELECT g, 'author ' || g FROM generate_series(1, 10) g;
INSERT INTO cr_posts (id, author_id) SELECT g, g % 10 + 1 FROM generate_series(1, 100) g;
INSERT INTO cr_comments SELECT g, g % 100 + 1 FROM generate_series(1, 300) g;
SELECT denorm_create_counter('cr_posts', 'comments', 'cr_comments', 'post_id') AS counter_id \gset
SELECT denorm_create_copy('cr_posts', 'author_name', 'cr_authors', 'name', 'author_id') AS sync_id \gset
SELECT denorm_create_copy('cr_posts', 'name_then', 'cr_authors', 'name', 'author_id', 'snapshot') AS snap_id \gset

------------------------------------------------------------------------
-- denorm_status: a row per copy beside the counters
------------------------------------------------------------------------
SELECT counter_id, parent, counter_column, child, aggregate, mode, triggers_ok, trigger_problems,
       last_run_id, pending_rows, oldest_pending_age, unpinned_parent_triggers, fk_indexed, source_column
  FROM denorm_status ORDER BY counter_id;
-- a role that may read denorm_status sees the copies as it sees the counters
CREATE ROLE regress_cr_reader;
SET ROLE regress_cr_reader;
SELECT count(*) AS rows_seen, count(*) FILTER (WHERE aggregate = 'copy') AS copies_seen FROM denorm_status;
RESET ROLE;
DROP ROLE regress_cr_reader;
-- the TRUNCATE trigger is one of a sync copy's triggers
ALTER TABLE cr_authors DISABLE TRIGGER denorm_copy_9002_truncate;
SELECT counter_id, triggers_ok, trigger_problems FROM denorm_status WHERE aggregate = 'copy' ORDER BY 1;
ALTER TABLE cr_authors ENABLE TRIGGER denorm_copy_9002_truncate;

------------------------------------------------------------------------
-- denorm_check reports drifted copies
------------------------------------------------------------------------
SET session_replication_role = replica;
UPDATE cr_posts SET author_name = 'wrong' WHERE id IN (5, 55);
UPDATE cr_posts SET name_then = NULL WHERE id = 7;
UPDATE cr_posts SET comments = comments + 1 WHERE id = 9;
RESET session_replication_role;
SELECT * FROM denorm_check() ORDER BY counter_id, parent_key::int;
SELECT counter_id, parent_key FROM denorm_check('cr_posts') ORDER BY counter_id, parent_key::int;
SELECT counter_id, parent_key, stored, actual FROM denorm_check('cr_posts', 'author_name') ORDER BY parent_key::int;
SELECT counter_id, parent_key FROM denorm_check('cr_posts', 'comments');
-- a table that holds nothing of denorm's is still an error
SELECT * FROM denorm_check('cr_comments');

------------------------------------------------------------------------
-- denorm_reconcile(): counters and copies in one run
------------------------------------------------------------------------
SET denorm.reconcile_batch_size = 30;
-- a dry run first
SELECT * FROM denorm_reconcile(heal => false) ORDER BY counter_id;
SELECT count(*) AS still_wrong FROM denorm_check();
SET client_min_messages = warning;
SELECT * FROM denorm_reconcile() ORDER BY counter_id;
RESET client_min_messages;
SELECT status, counters, rows_checked, rows_drifted, rows_healed
  FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
SELECT counter_id, rows_checked, rows_drifted, rows_healed, trigger_problems, error
  FROM denorm_reconcile_checks WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)
 ORDER BY counter_id;
SELECT counter_id, parent_table, counter_column, parent_key, stored_text, actual_text, healed
  FROM denorm_drift_log WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs)
 ORDER BY counter_id, parent_key::int;
SELECT count(*) AS wrong_after FROM denorm_check();
SELECT counter_id, last_rows_checked, last_rows_drifted, last_drift_at IS NOT NULL AS drift_seen
  FROM denorm_status ORDER BY counter_id;
-- a copy's id where a counter id is taken: that copy only
UPDATE cr_authors SET name = 'renamed' WHERE id = 3;
SET session_replication_role = replica;
UPDATE cr_posts SET author_name = 'wrong again' WHERE id = 12;
RESET session_replication_role;
SELECT * FROM denorm_reconcile(:sync_id);
SELECT author_name FROM cr_posts WHERE id = 12;
-- but not for a key range, and an unknown id is refused as before
SELECT * FROM denorm_reconcile_range(:sync_id, '1', '50');
SELECT * FROM denorm_reconcile(12345);
-- a copy that fails fails alone; the run says so
CREATE ROLE regress_cr_admin;
SELECT denorm_grant_admin('regress_cr_admin');
GRANT SELECT ON cr_posts, cr_comments TO regress_cr_admin;
GRANT UPDATE (comments) ON cr_posts TO regress_cr_admin;
SET ROLE regress_cr_admin;
SELECT counter_id, rows_checked, status, error FROM denorm_reconcile() ORDER BY counter_id;
RESET ROLE;
SELECT status, counters, error FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
DROP OWNED BY regress_cr_admin;
DROP ROLE regress_cr_admin;
-- the 1.2 calls are unchanged: by table and column, a counter only
SELECT counter_id, status FROM denorm_reconcile('cr_posts', 'comments');
SELECT counter_id FROM denorm_reconcile(:counter_id);

------------------------------------------------------------------------
-- CALL denorm_reconcile_batched(), as the pg_cron job runs it
------------------------------------------------------------------------
SET session_replication_role = replica;
UPDATE cr_posts SET author_name = 'planted' WHERE id IN (20, 80);
UPDATE cr_posts SET name_then = NULL WHERE id = 21;
RESET session_replication_role;
SET client_min_messages = warning;
CALL denorm_reconcile_batched(fail_on_drift => true);
RESET client_min_messages;
SELECT status, counters, rows_checked, rows_drifted, rows_healed, current_counter = :snap_id AS ended_on_last_copy,
       batches_done = batches_total AS all_batches
  FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
SELECT counter_id, rows_drifted, rows_healed FROM denorm_reconcile_checks
 WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs) ORDER BY counter_id;
SELECT counter_id, parent_key, stored_text, actual_text, healed FROM denorm_drift_log
 WHERE run_id = (SELECT max(run_id) FROM denorm_reconcile_runs) ORDER BY counter_id, parent_key::int;
SELECT count(*) AS wrong_after_batched FROM denorm_check();
CALL denorm_reconcile_batched(fail_on_drift => true);
SELECT status FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
-- one copy by its id
SET session_replication_role = replica;
UPDATE cr_posts SET author_name = 'one more' WHERE id = 33;
RESET session_replication_role;
CALL denorm_reconcile_batched(:sync_id);
SELECT counters, rows_drifted, rows_healed FROM denorm_reconcile_runs ORDER BY run_id DESC LIMIT 1;
RESET denorm.reconcile_batch_size;

------------------------------------------------------------------------
-- TRUNCATE
------------------------------------------------------------------------
-- of the child: nothing to do; new rows take their copies as before
TRUNCATE cr_comments, cr_posts;
INSERT INTO cr_posts (id, author_id) VALUES (1, 1), (2, 2), (3, NULL);
SELECT id, author_name, name_then FROM cr_posts ORDER BY id;
SELECT count(*) AS wrong FROM denorm_check();
SELECT count(*) FILTER (WHERE NOT triggers_ok) AS broken FROM denorm_status;
-- of the parent (the child has no foreign key constraint): the sync copies
-- become NULL in the same transaction, the snapshots stay
BEGIN;
TRUNCATE cr_authors;
SELECT id, author_name, name_then FROM cr_posts ORDER BY id;
ROLLBACK;
SELECT id, author_name, name_then FROM cr_posts ORDER BY id;
TRUNCATE cr_authors;
SELECT id, author_name, name_then FROM cr_posts ORDER BY id;
SELECT count(*) AS wrong FROM denorm_check();
INSERT INTO cr_authors VALUES (1, 'Ann');
SELECT id, author_name, name_then FROM cr_posts ORDER BY id;

-- with a foreign key constraint, TRUNCATE ... CASCADE empties the child too
CREATE TABLE cr_shops (id int PRIMARY KEY, title text);
CREATE TABLE cr_items (id int PRIMARY KEY, shop_id int REFERENCES cr_shops, shop_title text);
CREATE INDEX ON cr_items (shop_id);
INSERT INTO cr_shops VALUES (1, 'one'), (2, 'two');
INSERT INTO cr_items VALUES (1, 1), (2, 2);
SELECT denorm_create_copy('cr_items', 'shop_title', 'cr_shops', 'title', 'shop_id') > 0 AS created;
TRUNCATE cr_shops;
TRUNCATE cr_shops CASCADE;
SELECT count(*) AS items_left FROM cr_items;

-- a partitioned parent: TRUNCATE of one partition empties the copies of
-- the children of its rows only; partitions each have the trigger
CREATE TABLE cr_regions (code int PRIMARY KEY, label text) PARTITION BY RANGE (code);
CREATE TABLE cr_regions_low PARTITION OF cr_regions FOR VALUES FROM (0) TO (100);
CREATE TABLE cr_regions_high PARTITION OF cr_regions FOR VALUES FROM (100) TO (200);
CREATE TABLE cr_sites (id int PRIMARY KEY, region int, region_label text);
CREATE INDEX ON cr_sites (region);
INSERT INTO cr_regions VALUES (1, 'low one'), (150, 'high one');
INSERT INTO cr_sites VALUES (1, 1), (2, 150), (3, 1);
SELECT denorm_create_copy('cr_sites', 'region_label', 'cr_regions', 'label', 'region') AS region_copy \gset
SELECT tgrelid::regclass AS tbl, tgname FROM pg_trigger
 WHERE tgfoid = 'denorm_copy_truncate_trigger()'::regprocedure ORDER BY tgrelid::regclass::text;
TRUNCATE cr_regions_high;
SELECT * FROM cr_sites ORDER BY id;
INSERT INTO cr_regions VALUES (150, 'high again');
SELECT * FROM cr_sites ORDER BY id;
TRUNCATE cr_regions;
SELECT * FROM cr_sites ORDER BY id;
SELECT denorm_drop_copy(:region_copy);
SELECT count(*) AS truncate_triggers_left FROM pg_trigger
 WHERE tgfoid = 'denorm_copy_truncate_trigger()'::regprocedure AND tgrelid IN
       ('cr_regions'::regclass, 'cr_regions_low'::regclass, 'cr_regions_high'::regclass);

DROP TABLE cr_sites, cr_regions, cr_items, cr_shops, cr_comments, cr_posts, cr_authors;
SELECT count(*) AS copies_left FROM denorm_copies;
DELETE FROM denorm_dropped_counters WHERE counter_id = :counter_id;
DELETE FROM denorm_drift_log WHERE counter_id > 9000 AND counter_id < 9100;
DELETE FROM denorm_reconcile_checks WHERE counter_id > 9000 AND counter_id < 9100;
DELETE FROM denorm_reconcile_runs WHERE run_id > 9000 OR run_id > :saved_last_run OR (:'saved_run_called' = 'f' AND run_id >= :saved_last_run);
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') > 0 AS ids_restored,
       setval('denorm_reconcile_runs_run_id_seq', :saved_last_run, :'saved_run_called') > 0 AS run_ids_restored;
