-- Counters dropped with their tables: DROP TABLE of the parent or the
-- child, DROP SCHEMA ... CASCADE, a table rebuilt by renaming it, an ORM
-- dropping and creating its tables.  Each such drop names the counter in a
-- WARNING with the call that recreates it, keeps its definition in
-- denorm_dropped, and denorm_recreate_counter declares it again, with
-- creation's checks, backfill and rights.  denorm_drop_counter keeps no
-- record.  Errors show their message and SQLSTATE.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT setval('denorm_counters_id_seq', 7700) AS pinned_counter_ids;

CREATE TABLE dc_posts (id int PRIMARY KEY, title text, comment_count int NOT NULL DEFAULT 0);
CREATE TABLE dc_comments (id int PRIMARY KEY, post_id int REFERENCES dc_posts ON DELETE CASCADE,
                          score int NOT NULL DEFAULT 1);
CREATE INDEX ON dc_comments (post_id);
-- posts whose stored count is not what their comments add up to (the
-- function names the tables, so it reads whichever has the name)
CREATE FUNCTION dc_wrong() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM dc_posts p
     WHERE p.comment_count <> (SELECT count(*) FROM dc_comments c WHERE c.post_id = p.id)
$$;
INSERT INTO dc_posts (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO dc_comments VALUES (1, 1), (2, 1), (3, 2);
SET client_min_messages = warning;
SELECT denorm_create_counter('dc_posts', 'comment_count', 'dc_comments', 'post_id');
RESET client_min_messages;

------------------------------------------------------------------------
-- 1. The rebuild: rename the table, create its successor under the old
-- name, copy the rows, drop the renamed one.  The counter went along with
-- the rename and dies with dc_posts_old; it is recreated on the new
-- dc_posts.
------------------------------------------------------------------------
BEGIN;
ALTER TABLE dc_posts RENAME TO dc_posts_old;
CREATE TABLE dc_posts (id int PRIMARY KEY, title text, comment_count int NOT NULL DEFAULT 0);
INSERT INTO dc_posts SELECT * FROM dc_posts_old;
ALTER TABLE dc_comments DROP CONSTRAINT dc_comments_post_id_fkey,
    ADD FOREIGN KEY (post_id) REFERENCES dc_posts ON DELETE CASCADE;
DROP TABLE dc_posts_old;
COMMIT;
-- gone from the status view, kept in denorm_dropped
SELECT count(*) AS counters_on_dc_posts FROM denorm_status WHERE parent = 'dc_posts'::regclass;
SELECT counter_id, parent, parent_was, counter_column, child, child_was, foreign_key,
       parent_key, aggregate, value_column, filter, mode, dropped_by, dropped_with,
       drop_command, recreated_as, recreate_parent, recreate_child,
       dropped_at >= created_at AS dropped_after_created
  FROM denorm_dropped WHERE counter_id = 7701;
-- the renames noted for the dropped table are forgotten with it
SELECT count(*) AS renames_kept FROM denorm_renamed_tables;
-- writes while the counter is gone are not counted
INSERT INTO dc_comments VALUES (4, 1), (5, 3);
DELETE FROM dc_comments WHERE id = 3;
SELECT dc_wrong() AS wrong_before_recreate;
SELECT denorm_recreate_counter(7701);
-- the backfill made every post exact, and writes are counted again
SELECT id, comment_count FROM dc_posts ORDER BY id;
INSERT INTO dc_comments VALUES (6, 2);
SELECT dc_wrong() AS wrong_after_recreate;
SELECT counter_id, parent, counter_column, child, mode FROM denorm_status WHERE counter_id = 7702;
SELECT recreated_as, recreated_at IS NOT NULL AS has_time, recreate_parent, recreate_child
  FROM denorm_dropped WHERE counter_id = 7701;
-- once only
SELECT denorm_recreate_counter(7701);
\echo :SQLSTATE

------------------------------------------------------------------------
-- 2. Renames and moves to another schema are noted, latest first; a
-- rename that rolls back notes nothing; one of a table no counter uses
-- notes nothing either.
------------------------------------------------------------------------
BEGIN;
ALTER TABLE dc_posts RENAME TO dc_posts_tmp;
CREATE SCHEMA dc_elsewhere;
ALTER TABLE dc_posts_tmp SET SCHEMA dc_elsewhere;
SELECT tbl, former_names FROM denorm_renamed_tables;
ROLLBACK;
SELECT count(*) AS renames_kept FROM denorm_renamed_tables;
CREATE TABLE dc_plain (id int);
ALTER TABLE dc_plain RENAME TO dc_plain2;
SELECT count(*) AS renames_kept FROM denorm_renamed_tables;
DROP TABLE dc_plain2;

------------------------------------------------------------------------
-- 3. DROP TABLE of the child: the parent keeps its column; recreating
-- waits for a table with the child's name, or takes the one named.
------------------------------------------------------------------------
DROP TABLE dc_comments;
SELECT counter_id, parent, child, dropped_with, drop_command, recreate_parent, recreate_child
  FROM denorm_dropped WHERE counter_id = 7702;
SELECT denorm_recreate_counter(7702);
\echo :SQLSTATE
CREATE TABLE dc_replies (id int PRIMARY KEY, post_id int REFERENCES dc_posts, score int NOT NULL DEFAULT 1);
CREATE INDEX ON dc_replies (post_id);
INSERT INTO dc_replies VALUES (1, 3), (2, 3);
SELECT denorm_recreate_counter(7702, child => 'dc_replies');
SELECT id, comment_count FROM dc_posts ORDER BY id;
SELECT recreated_as FROM denorm_dropped WHERE counter_id = 7702;

------------------------------------------------------------------------
-- 4. DROP TABLE of the parent, then an ORM creating it again
-- (Sequelize sync({force: true}), knex dropTable and createTable): the
-- WARNING cannot point at a table yet; the record can once it exists.
------------------------------------------------------------------------
DROP TABLE dc_posts CASCADE;
SELECT counter_id, parent, child, recreate_parent, recreate_child
  FROM denorm_dropped WHERE counter_id = 7703;
SELECT denorm_recreate_counter(7703);
\echo :SQLSTATE
CREATE TABLE dc_posts (id int PRIMARY KEY, title text, comment_count int NOT NULL DEFAULT 0);
INSERT INTO dc_posts (id) VALUES (1), (3);
SELECT recreate_parent, recreate_child FROM denorm_dropped WHERE counter_id = 7703;
SELECT denorm_recreate_counter(7703);
SELECT id, comment_count FROM dc_posts ORDER BY id;
SELECT denorm_drop_counter('dc_posts', 'comment_count');
DROP TABLE dc_replies;

------------------------------------------------------------------------
-- 5. DROP SCHEMA ... CASCADE takes both tables; a deferred sum with a
-- filter keeps its mode, aggregate, value column and filter; its child is
-- rebuilt by renaming too.
------------------------------------------------------------------------
CREATE SCHEMA dc_shop;
CREATE TABLE dc_shop.orders (order_no text PRIMARY KEY, total numeric NOT NULL DEFAULT 0,
                             id int UNIQUE);
CREATE TABLE dc_shop.items (id int PRIMARY KEY, order_no text, price numeric NOT NULL,
                            state text NOT NULL);
CREATE INDEX ON dc_shop.items (order_no);
INSERT INTO dc_shop.orders (order_no, id) VALUES ('A', 1), ('B', 2);
INSERT INTO dc_shop.items VALUES (1, 'A', 2.5, 'paid'), (2, 'A', 4, 'void'), (3, 'B', 1, 'paid');
SET client_min_messages = warning;
SELECT denorm_create_counter('dc_shop.orders', 'total', 'dc_shop.items', 'order_no', 'sum', 'price',
                             filter => $$state = 'paid'$$, mode => 'deferred');
RESET client_min_messages;
-- the child rebuilt by renaming, in two steps: recreating finds the
-- name the child had before both
ALTER TABLE dc_shop.items RENAME TO items_tmp;
ALTER TABLE dc_shop.items_tmp RENAME TO items_old;
CREATE TABLE dc_shop.items (LIKE dc_shop.items_old INCLUDING ALL);
INSERT INTO dc_shop.items SELECT * FROM dc_shop.items_old;
INSERT INTO dc_shop.items VALUES (4, 'B', 10, 'paid');
DROP TABLE dc_shop.items_old;
SELECT counter_id, parent, child, child_was, aggregate, value_column, filter, parent_key, mode,
       recreate_parent, recreate_child
  FROM denorm_dropped WHERE counter_id = 7705;
SELECT denorm_recreate_counter(7705);
SELECT order_no, total FROM dc_shop.orders ORDER BY order_no;
SELECT aggregate, value_column, filter, parent_key, mode FROM denorm_counters WHERE id = 7706;
DROP SCHEMA dc_shop CASCADE;
SELECT counter_id, parent, child, dropped_with, drop_command, recreate_parent, recreate_child
  FROM denorm_dropped WHERE counter_id = 7706;

------------------------------------------------------------------------
-- 6. denorm_drop_counter drops a counter on purpose: no record, no WARNING.
------------------------------------------------------------------------
CREATE TABLE dc_a (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE dc_b (id int PRIMARY KEY, a_id int REFERENCES dc_a);
CREATE INDEX ON dc_b (a_id);
SELECT denorm_create_counter('dc_a', 'n', 'dc_b', 'a_id');
SELECT denorm_drop_counter(7707);
DROP TABLE dc_b, dc_a;
SELECT count(*) AS records_of_7707 FROM denorm_dropped_counters WHERE counter_id = 7707;

------------------------------------------------------------------------
-- 7. Errors: a NULL id, an id that was never dropped
------------------------------------------------------------------------
SELECT denorm_recreate_counter(NULL);
\echo :SQLSTATE
SELECT denorm_recreate_counter(7707);
\echo :SQLSTATE

------------------------------------------------------------------------
-- 8. Rights.  Recreating takes what creating takes: a role without
-- administration may not run it, an administrator must own both tables;
-- the role that dropped the tables is recorded, SET ROLE included.
------------------------------------------------------------------------
CREATE ROLE regress_dc_owner;
CREATE ROLE regress_dc_admin;
CREATE ROLE regress_dc_reader;
GRANT CREATE ON SCHEMA public TO regress_dc_owner;
SELECT denorm_grant_admin('regress_dc_owner');
SELECT denorm_grant_admin('regress_dc_admin');
SET ROLE regress_dc_owner;
CREATE TABLE dc_users (id int PRIMARY KEY, follower_count int NOT NULL DEFAULT 0);
CREATE TABLE dc_follows (id int PRIMARY KEY, user_id int REFERENCES dc_users);
CREATE INDEX ON dc_follows (user_id);
INSERT INTO dc_users VALUES (1), (2);
INSERT INTO dc_follows VALUES (1, 1), (2, 1);
SELECT denorm_create_counter('dc_users', 'follower_count', 'dc_follows', 'user_id');
DROP TABLE dc_users CASCADE;
CREATE TABLE dc_users (id int PRIMARY KEY, follower_count int NOT NULL DEFAULT 0);
INSERT INTO dc_users VALUES (1), (2);
RESET ROLE;
SELECT dropped_by, recreate_parent, recreate_child FROM denorm_dropped WHERE counter_id = 7708;
-- everyone may read the view, as everyone may read denorm_status
SET ROLE regress_dc_reader;
SELECT counter_id, parent FROM denorm_dropped WHERE counter_id = 7708;
SELECT count(*) FROM denorm_dropped_counters;
\echo :SQLSTATE
SELECT denorm_recreate_counter(7708);
\echo :SQLSTATE
-- an administrator who does not own the tables
SET ROLE regress_dc_admin;
SELECT denorm_recreate_counter(7708);
\echo :SQLSTATE
-- a role granted only the function, not what administration gives
RESET ROLE;
GRANT EXECUTE ON FUNCTION denorm_recreate_counter(integer, regclass, regclass) TO regress_dc_reader;
SET ROLE regress_dc_reader;
SELECT denorm_recreate_counter(7708);
\echo :SQLSTATE
RESET ROLE;
SELECT recreated_as FROM denorm_dropped WHERE counter_id = 7708;
-- the owner, administering denorm
SET ROLE regress_dc_owner;
SELECT denorm_recreate_counter(7708);
SELECT id, follower_count FROM dc_users ORDER BY id;
-- and purging records
DELETE FROM denorm_dropped_counters WHERE counter_id = 7708;
RESET ROLE;
SELECT count(*) AS records_of_7708 FROM denorm_dropped WHERE counter_id = 7708;
-- a role that may not read denorm_status sees no dropped counters either
REVOKE SELECT ON denorm_status FROM PUBLIC;
SET ROLE regress_dc_reader;
SELECT count(*) FROM denorm_status;
\echo :SQLSTATE
SELECT count(*) AS dropped_counters_seen FROM denorm_dropped;
RESET ROLE;
GRANT SELECT ON denorm_status TO regress_dc_reader;
SET ROLE regress_dc_reader;
SELECT count(*) > 0 AS dropped_counters_seen FROM denorm_dropped;
RESET ROLE;
REVOKE SELECT ON denorm_status FROM regress_dc_reader;
GRANT SELECT ON denorm_status TO PUBLIC;

SET ROLE regress_dc_owner;
SELECT denorm_drop_counter('dc_users', 'follower_count');
DROP TABLE dc_follows, dc_users;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_dc_owner;
DROP OWNED BY regress_dc_owner, regress_dc_admin, regress_dc_reader;
DROP ROLE regress_dc_owner, regress_dc_admin, regress_dc_reader;
DROP FUNCTION dc_wrong();
DROP TABLE dc_posts;
