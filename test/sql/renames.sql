-- Renames of the columns counters use are followed: the parent's counter
-- column and key, the child's foreign key and value column, the columns a
-- filter reads.  Counting goes on under the new names in every mode, and
-- reconcile, flush, denorm_status and denorm_drop_counter know them.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT setval('denorm_counters_id_seq', 9400) AS pinned_counter_ids;

CREATE TABLE rn_users (id int PRIMARY KEY, on_posts int NOT NULL DEFAULT 0);
CREATE TABLE rn_posts (id int PRIMARY KEY, comment_count int NOT NULL DEFAULT 0,
                       score_sum bigint NOT NULL DEFAULT 0, all_count int NOT NULL DEFAULT 0,
                       title text);
CREATE TABLE rn_comments (id serial PRIMARY KEY,
                          post_id int REFERENCES rn_posts ON UPDATE CASCADE,
                          author_id int REFERENCES rn_users, score int NOT NULL,
                          state text NOT NULL, body text);
CREATE INDEX ON rn_comments (post_id);
CREATE INDEX ON rn_comments (author_id);
INSERT INTO rn_users VALUES (1), (2);
INSERT INTO rn_posts (id) VALUES (1), (2), (3);
INSERT INTO rn_comments (post_id, author_id, score, state)
VALUES (1, 1, 5, 'ok'), (1, 2, 2, 'spam'), (2, 1, 1, 'ok'), (NULL, 2, 4, 'ok');
-- several counters on one child, one of each mode; the foreign key of the
-- first three is a column the filter of the fourth reads
-- (creation's own notices are not what this file is about)
SET client_min_messages = warning;
SELECT denorm_create_counter('rn_posts', 'comment_count', 'rn_comments', 'post_id',
                             filter => $$state = 'ok' AND score > 0$$);
SELECT denorm_create_counter('rn_posts', 'score_sum', 'rn_comments', 'post_id', 'sum', 'score',
                             mode => 'commit');
SELECT denorm_create_counter('rn_posts', 'all_count', 'rn_comments', 'post_id', mode => 'deferred');
SELECT denorm_create_counter('rn_users', 'on_posts', 'rn_comments', 'author_id',
                             filter => 'post_id IS NOT NULL');
RESET client_min_messages;
-- what the counters must hold, whatever the columns are called (a view
-- knows its columns by number)
CREATE VIEW rn_state AS
SELECT p.id, p.comment_count, p.score_sum, denorm_value(9403, p.id) AS all_count,
       p.comment_count = (SELECT count(*) FROM rn_comments c
                           WHERE c.post_id = p.id AND c.state = 'ok' AND c.score > 0)
       AND p.score_sum = (SELECT coalesce(sum(c.score), 0) FROM rn_comments c WHERE c.post_id = p.id)
       AND denorm_value(9403, p.id) = (SELECT count(*) FROM rn_comments c WHERE c.post_id = p.id)
       AND (SELECT bool_and(u.on_posts = (SELECT count(*) FROM rn_comments c
                                           WHERE c.author_id = u.id AND c.post_id IS NOT NULL))
              FROM rn_users u) AS exact
  FROM rn_posts p;
CREATE VIEW rn_registry AS
SELECT id, counter_column, foreign_key, parent_key, value_column, filter
  FROM denorm_counters WHERE id > 9400 ORDER BY id;
SELECT * FROM rn_registry;

------------------------------------------------------------------------
-- Each column a counter uses, renamed
------------------------------------------------------------------------
ALTER TABLE rn_posts RENAME COLUMN comment_count TO ok_comments;
ALTER TABLE rn_posts RENAME COLUMN id TO post_no;
-- the foreign key of three counters and a filter column of the fourth
ALTER TABLE rn_comments RENAME COLUMN post_id TO post_ref;
-- the value column of one counter and a filter column of another
ALTER TABLE rn_comments RENAME COLUMN score TO points;
ALTER TABLE rn_comments RENAME COLUMN state TO "Status";
ALTER TABLE rn_comments RENAME COLUMN author_id TO writer;
SELECT * FROM rn_registry;
SELECT counter_id, parent, counter_column, triggers_ok FROM denorm_status
 WHERE counter_id > 9400 ORDER BY counter_id;

-- counting goes on: insert, move between parents, change the value, flip
-- the filter, delete
INSERT INTO rn_comments (post_ref, writer, points, "Status")
VALUES (2, 2, 7, 'ok'), (3, 1, 3, 'spam'), (3, 2, 0, 'ok');
UPDATE rn_comments SET post_ref = 3 WHERE post_ref = 1 AND points = 5;
UPDATE rn_comments SET points = points + 10 WHERE post_ref = 2;
UPDATE rn_comments SET "Status" = 'ok' WHERE "Status" = 'spam';
UPDATE rn_comments SET post_ref = NULL WHERE points = 0;
DELETE FROM rn_comments WHERE points = 2;
SELECT * FROM rn_state ORDER BY id;
SELECT post_no, ok_comments, score_sum, all_count FROM rn_posts ORDER BY post_no;
SELECT * FROM rn_users ORDER BY id;
SELECT denorm_flush(9403) AS flushed;
SELECT post_no, all_count FROM rn_posts ORDER BY post_no;
SELECT counter_id, counter_column, rows_drifted, status FROM denorm_reconcile(heal => false)
 WHERE counter_id > 9400 ORDER BY counter_id;
-- a change of the parent key (cascaded to the children) reaches the
-- counters under its new name
UPDATE rn_posts SET post_no = 30 WHERE post_no = 3;
INSERT INTO rn_comments (post_ref, writer, points, "Status") VALUES (30, 1, 1, 'ok');
SELECT * FROM rn_state ORDER BY id;

------------------------------------------------------------------------
-- Deltas made before a rename are applied under the new name
------------------------------------------------------------------------
-- mode 'commit': the rename comes between the delta and the commit
BEGIN;
INSERT INTO rn_comments (post_ref, writer, points, "Status") VALUES (2, 1, 100, 'ok');
ALTER TABLE rn_posts RENAME COLUMN score_sum TO points_total;
INSERT INTO rn_comments (post_ref, writer, points, "Status") VALUES (2, 1, 1000, 'ok');
ALTER TABLE rn_posts RENAME COLUMN post_no TO post_key;
COMMIT;
SELECT post_key, points_total FROM rn_posts ORDER BY post_key;
-- mode 'deferred': pending deltas, then a rename, then the flush
INSERT INTO rn_comments (post_ref, writer, points, "Status") VALUES (1, 1, 1, 'ok'), (1, 2, 1, 'ok');
SELECT count(*) AS pending FROM denorm_pending WHERE counter_id = 9403;
ALTER TABLE rn_posts RENAME COLUMN all_count TO every_comment;
ALTER TABLE rn_comments RENAME COLUMN post_ref TO post_id;
SELECT denorm_flush(9403) AS flushed;
SELECT post_key, every_comment FROM rn_posts ORDER BY post_key;
SELECT * FROM rn_state ORDER BY id;

------------------------------------------------------------------------
-- Rolled back, the registry goes back with the columns
------------------------------------------------------------------------
BEGIN;
ALTER TABLE rn_comments RENAME COLUMN post_id TO post_x;
ALTER TABLE rn_comments RENAME COLUMN "Status" TO st;
SELECT * FROM rn_registry;
INSERT INTO rn_comments (post_x, writer, points, st) VALUES (1, 1, 1, 'ok');
ROLLBACK;
SELECT * FROM rn_registry;
INSERT INTO rn_comments (post_id, writer, points, "Status") VALUES (1, 1, 1, 'ok');
-- in a savepoint rolled back, with writes after it under the old names
BEGIN;
SAVEPOINT s;
ALTER TABLE rn_posts RENAME COLUMN ok_comments TO gone;
ALTER TABLE rn_comments RENAME COLUMN points TO gone;
ROLLBACK TO SAVEPOINT s;
INSERT INTO rn_comments (post_id, writer, points, "Status") VALUES (2, 2, 2, 'ok');
COMMIT;
SELECT * FROM rn_registry;
SELECT * FROM rn_state ORDER BY id;

------------------------------------------------------------------------
-- Names given to other columns: nothing stale is used
------------------------------------------------------------------------
-- the counter column names of an immediate and a 'commit' counter swapped,
-- each now naming the other's column (the statements of this session
-- named them the other way round)
BEGIN;
ALTER TABLE rn_posts RENAME COLUMN ok_comments TO swap;
ALTER TABLE rn_posts RENAME COLUMN points_total TO ok_comments;
ALTER TABLE rn_posts RENAME COLUMN swap TO points_total;
COMMIT;
SELECT id, counter_column FROM rn_registry WHERE id IN (9401, 9402);
INSERT INTO rn_comments (post_id, writer, points, "Status") VALUES (1, 1, 50, 'ok'), (2, 1, 60, 'spam');
SELECT post_key, points_total AS now_the_count, ok_comments AS now_the_sum FROM rn_posts ORDER BY post_key;
SELECT * FROM rn_state ORDER BY id;
-- and back, in a new session
\c
ALTER TABLE rn_posts RENAME COLUMN points_total TO swap;
ALTER TABLE rn_posts RENAME COLUMN ok_comments TO points_total;
ALTER TABLE rn_posts RENAME COLUMN swap TO ok_comments;
UPDATE rn_comments SET points = points + 1 WHERE points = 50;
DELETE FROM rn_comments WHERE points = 60;
SELECT * FROM rn_state ORDER BY id;

------------------------------------------------------------------------
-- Columns no counter uses: nothing changes
------------------------------------------------------------------------
CREATE TEMP TABLE rn_before AS SELECT * FROM denorm_counters;
ALTER TABLE rn_posts RENAME COLUMN title TO headline;
ALTER TABLE rn_comments RENAME COLUMN body TO text_body;
SELECT count(*) AS registry_rows_changed
  FROM ((SELECT d::text FROM denorm_counters d EXCEPT SELECT b::text FROM rn_before b)
        UNION ALL (SELECT b::text FROM rn_before b EXCEPT SELECT d::text FROM denorm_counters d)) x;
-- a table no counter uses
CREATE TABLE rn_plain (a int);
ALTER TABLE rn_plain RENAME COLUMN a TO b;
DROP TABLE rn_plain;

------------------------------------------------------------------------
-- Renames that fail change nothing
------------------------------------------------------------------------
-- (a name already taken, a role that does not own the table)
ALTER TABLE rn_comments RENAME COLUMN post_id TO points;
CREATE ROLE regress_rn_other;
SET ROLE regress_rn_other;
ALTER TABLE rn_comments RENAME COLUMN post_id TO post_fk;
RESET ROLE;
DROP ROLE regress_rn_other;
SELECT count(*) AS registry_rows_changed
  FROM ((SELECT d::text FROM denorm_counters d EXCEPT SELECT b::text FROM rn_before b)
        UNION ALL (SELECT b::text FROM rn_before b EXCEPT SELECT d::text FROM denorm_counters d)) x;

------------------------------------------------------------------------
-- The other commands that rename a table's column
------------------------------------------------------------------------
ALTER VIEW rn_posts RENAME COLUMN ok_comments TO ok_count;
ALTER FOREIGN TABLE rn_comments RENAME COLUMN writer TO author_id;
SELECT * FROM rn_registry;
INSERT INTO rn_comments (post_id, author_id, points, "Status") VALUES (1, 2, 1, 'ok');
SELECT * FROM rn_state ORDER BY id;

------------------------------------------------------------------------
-- The DDL guard checks the new names: what keeps the counters intact is
-- allowed, what breaks them refused (SQLSTATE 2BP01)
------------------------------------------------------------------------
DROP VIEW rn_state;
ALTER TABLE rn_posts ALTER COLUMN ok_count TYPE bigint;
ALTER TABLE rn_comments ALTER COLUMN points TYPE bigint;
\set VERBOSITY sqlstate
ALTER TABLE rn_posts ALTER COLUMN ok_count TYPE text;
ALTER TABLE rn_comments ALTER COLUMN "Status" TYPE int USING 0;
ALTER TABLE rn_comments DROP COLUMN "Status";
\set VERBOSITY default
INSERT INTO rn_comments (post_id, author_id, points, "Status") VALUES (30, 1, 4, 'ok');
SELECT counter_id, counter_column, rows_drifted FROM denorm_reconcile(heal => false)
 WHERE counter_id > 9400 ORDER BY counter_id;

------------------------------------------------------------------------
-- Dropped by the new column name
------------------------------------------------------------------------
SELECT denorm_drop_counter('rn_posts', 'ok_count');
SELECT denorm_drop_counter('rn_posts', 'every_comment');
SELECT id, counter_column FROM rn_registry;
SELECT count(*) AS parent_triggers FROM pg_trigger
 WHERE tgrelid = 'rn_posts'::regclass AND NOT tgisinternal;

------------------------------------------------------------------------
-- A partitioned child with two counters (RENAME recurses into the
-- partitions) and a partitioned parent
------------------------------------------------------------------------
CREATE TABLE rn_orders (id int PRIMARY KEY, n_items int NOT NULL DEFAULT 0,
                        big_items int NOT NULL DEFAULT 0) PARTITION BY RANGE (id);
CREATE TABLE rn_orders_lo PARTITION OF rn_orders FOR VALUES FROM (0) TO (100);
CREATE TABLE rn_orders_hi PARTITION OF rn_orders FOR VALUES FROM (100) TO (1000);
CREATE TABLE rn_items (id int, order_id int, qty int NOT NULL, kind text NOT NULL)
    PARTITION BY LIST (kind);
CREATE TABLE rn_items_a PARTITION OF rn_items FOR VALUES IN ('a');
-- a partition whose columns have other attribute numbers
CREATE TABLE rn_items_b (junk int, id int, order_id int, qty int NOT NULL, kind text NOT NULL);
ALTER TABLE rn_items_b DROP COLUMN junk;
ALTER TABLE rn_items ATTACH PARTITION rn_items_b FOR VALUES IN ('b');
CREATE INDEX ON rn_items (order_id);
INSERT INTO rn_orders (id) VALUES (1), (150);
INSERT INTO rn_items VALUES (1, 1, 1, 'a'), (2, 1, 5, 'b'), (3, 150, 9, 'b');
SET client_min_messages = warning;
SELECT denorm_create_counter('rn_orders', 'n_items', 'rn_items', 'order_id',
                             filter => 'qty > 0');
SELECT denorm_create_counter('rn_orders', 'big_items', 'rn_items', 'order_id',
                             filter => $$qty >= 5 AND kind = 'b'$$, mode => 'commit');
RESET client_min_messages;
CREATE VIEW rn_order_state AS
SELECT o.id, o.n_items, o.big_items,
       o.n_items = (SELECT count(*) FROM rn_items i WHERE i.order_id = o.id AND i.qty > 0)
       AND o.big_items = (SELECT count(*) FROM rn_items i
                           WHERE i.order_id = o.id AND i.qty >= 5 AND i.kind = 'b')
       AS exact
  FROM rn_orders o;
-- ONLY the partitioned table, or one partition: refused by PostgreSQL
ALTER TABLE ONLY rn_items RENAME COLUMN qty TO quantity;
ALTER TABLE rn_items_b RENAME COLUMN qty TO quantity;
ALTER TABLE rn_items RENAME COLUMN qty TO quantity;
ALTER TABLE rn_items RENAME COLUMN order_id TO order_ref;
ALTER TABLE rn_items RENAME COLUMN kind TO item_kind;
ALTER TABLE rn_orders RENAME COLUMN n_items TO item_count;
ALTER TABLE rn_orders RENAME COLUMN id TO order_no;
SELECT * FROM rn_registry;
INSERT INTO rn_items VALUES (4, 1, 7, 'b'), (5, 150, 2, 'a'), (6, 150, 0, 'a'), (7, 150, 8, 'b');
UPDATE rn_items SET item_kind = 'a' WHERE id = 2;
UPDATE rn_items SET order_ref = 1 WHERE id = 3;
UPDATE rn_items SET quantity = 0 WHERE id = 1;
DELETE FROM rn_items WHERE id = 5;
UPDATE rn_orders SET order_no = 151 WHERE order_no = 150;
SELECT * FROM rn_order_state ORDER BY id;
SELECT counter_id, counter_column, rows_drifted FROM denorm_reconcile(heal => false)
 WHERE counter_id > 9400 ORDER BY counter_id;
SELECT counter_id, triggers_ok FROM denorm_status WHERE counter_id > 9400 ORDER BY counter_id;
DROP VIEW rn_order_state;
SET client_min_messages = warning;
DROP TABLE rn_items, rn_orders;
RESET client_min_messages;

------------------------------------------------------------------------
-- A table counting its own rows: its key and foreign key renamed
------------------------------------------------------------------------
CREATE TABLE rn_nodes (id int PRIMARY KEY, parent_id int REFERENCES rn_nodes,
                       n_children int NOT NULL DEFAULT 0);
CREATE INDEX ON rn_nodes (parent_id);
INSERT INTO rn_nodes VALUES (1, NULL), (2, 1), (3, 1);
SET client_min_messages = warning;
SELECT denorm_create_counter('rn_nodes', 'n_children', 'rn_nodes', 'parent_id');
RESET client_min_messages;
ALTER TABLE rn_nodes RENAME COLUMN id TO node_id;
ALTER TABLE rn_nodes RENAME COLUMN parent_id TO up_id;
SELECT * FROM rn_registry;
INSERT INTO rn_nodes VALUES (4, 2), (5, 2);
UPDATE rn_nodes SET up_id = 3 WHERE node_id = 5;
SELECT n.node_id, n.n_children,
       n.n_children = (SELECT count(*) FROM rn_nodes c WHERE c.up_id = n.node_id) AS exact
  FROM rn_nodes n ORDER BY n.node_id;
SET client_min_messages = warning;
DROP TABLE rn_nodes;
RESET client_min_messages;

------------------------------------------------------------------------
-- A filter broken while event triggers were off is not followed: the DDL
-- guard refuses renames on the child until it is repaired
------------------------------------------------------------------------
CREATE TABLE rn_b_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rn_b_child (id int, pid int, flag boolean NOT NULL, other int);
CREATE INDEX ON rn_b_child (pid);
SET client_min_messages = warning;
SELECT denorm_create_counter('rn_b_parent', 'n', 'rn_b_child', 'pid', filter => 'flag');
RESET client_min_messages;
SET session_replication_role = replica;
ALTER TABLE rn_b_child RENAME COLUMN flag TO flag_off;
RESET session_replication_role;
\set VERBOSITY sqlstate
ALTER TABLE rn_b_child RENAME COLUMN pid TO parent_ref;
ALTER TABLE rn_b_child RENAME COLUMN other TO other_col;
ALTER TABLE rn_b_parent RENAME COLUMN n TO child_count;
\set VERBOSITY default
SELECT * FROM rn_registry;
ALTER TABLE rn_b_child RENAME COLUMN flag_off TO flag;
ALTER TABLE rn_b_child RENAME COLUMN pid TO parent_ref;
INSERT INTO rn_b_parent VALUES (1);
INSERT INTO rn_b_child VALUES (1, 1, true, 0), (2, 1, false, 0);
SELECT * FROM rn_b_parent;
SELECT * FROM rn_registry;
SET client_min_messages = warning;
DROP TABLE rn_b_child, rn_b_parent;
RESET client_min_messages;

------------------------------------------------------------------------
-- Renamed by the tables' owner, who has no rights on denorm's tables
------------------------------------------------------------------------
CREATE ROLE regress_rn_owner;
CREATE TABLE rn_o_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rn_o_child (id int, pid int, flag boolean NOT NULL);
CREATE INDEX ON rn_o_child (pid);
ALTER TABLE rn_o_parent OWNER TO regress_rn_owner;
ALTER TABLE rn_o_child OWNER TO regress_rn_owner;
INSERT INTO rn_o_parent VALUES (1);
SET client_min_messages = warning;
SELECT denorm_create_counter('rn_o_parent', 'n', 'rn_o_child', 'pid', filter => 'flag');
RESET client_min_messages;
SET ROLE regress_rn_owner;
SELECT has_table_privilege('denorm_counters', 'UPDATE') AS may_write_registry;
ALTER TABLE rn_o_child RENAME COLUMN pid TO parent_ref;
ALTER TABLE rn_o_child RENAME COLUMN flag TO counted;
ALTER TABLE rn_o_parent RENAME COLUMN n TO child_count;
INSERT INTO rn_o_child VALUES (1, 1, true), (2, 1, false), (3, 1, true);
SELECT * FROM rn_o_parent;
RESET ROLE;
SELECT * FROM rn_registry;
SET client_min_messages = warning;
DROP TABLE rn_o_child, rn_o_parent;
DROP ROLE regress_rn_owner;

DROP VIEW rn_registry;
DROP TABLE rn_comments, rn_posts, rn_users;
RESET client_min_messages;
SELECT count(*) AS counters_left FROM denorm_counters WHERE id > 9400;
