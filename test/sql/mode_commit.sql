-- mode 'commit': a transaction's deltas are kept across its statements and
-- applied once, when it commits, in one global order.
\set SHOW_CONTEXT never
SELECT setval('denorm_counters_id_seq', 8900) AS pinned_counter_ids;

CREATE TABLE cm_posts (id int PRIMARY KEY, comments int NOT NULL DEFAULT 0,
                       score bigint NOT NULL DEFAULT 0);
CREATE TABLE cm_comments (id serial PRIMARY KEY,
                          post_id int REFERENCES cm_posts ON UPDATE CASCADE ON DELETE CASCADE,
                          score int NOT NULL DEFAULT 1);
INSERT INTO cm_posts (id) SELECT g FROM generate_series(1, 4) g;
INSERT INTO cm_comments (post_id) VALUES (1), (2);
SELECT denorm_create_counter('cm_posts', 'comments', 'cm_comments', 'post_id',
                             mode => 'commit') AS comments_id \gset
SELECT denorm_create_counter('cm_posts', 'score', 'cm_comments', 'post_id', 'sum', 'score',
                             mode => 'commit') AS score_id \gset
SELECT mode, count(*) FROM denorm_counters GROUP BY mode;

CREATE VIEW cm_check AS
SELECT p.id, p.comments, p.score,
       p.comments = (SELECT count(*) FROM cm_comments c WHERE c.post_id = p.id) AS comments_ok,
       p.score = (SELECT coalesce(sum(score), 0) FROM cm_comments c WHERE c.post_id = p.id) AS score_ok
  FROM cm_posts p ORDER BY p.id;

-- several statements, different parents, in no order: nothing moves until
-- commit, denorm_value sees the transaction's own deltas, commit applies all
BEGIN;
INSERT INTO cm_comments (post_id, score) VALUES (3, 5), (1, 2);
UPDATE cm_comments SET post_id = 4 WHERE post_id = 2;
INSERT INTO cm_comments (post_id) VALUES (2);
DELETE FROM cm_comments WHERE post_id = 1 AND score = 2;
SELECT id, comments, score FROM cm_posts ORDER BY id;
SELECT id, denorm_value(:comments_id, id) AS comments, denorm_value(:score_id, id) AS score
  FROM cm_posts ORDER BY id;
SELECT count(*) AS queued FROM denorm_commit_queue;
COMMIT;
SELECT * FROM cm_check;
SELECT count(*) AS queue_rows_left FROM denorm_commit_queue;

-- a rolled-back transaction leaves nothing
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (1), (1);
ROLLBACK;
SELECT * FROM cm_check;

-- savepoints: a rolled-back one takes its deltas; a released one keeps them
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (1);
SAVEPOINT a;
INSERT INTO cm_comments (post_id) VALUES (1), (2);
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO cm_comments (post_id) VALUES (3);
RELEASE b;
DO $$BEGIN INSERT INTO cm_comments (post_id) VALUES (4); RAISE EXCEPTION 'undone';
EXCEPTION WHEN raise_exception THEN NULL; END$$;
COMMIT;
SELECT * FROM cm_check;

-- denorm_apply applies now, and later deltas still apply at commit
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (2);
SELECT denorm_apply();
SELECT comments FROM cm_posts WHERE id = 2;
INSERT INTO cm_comments (post_id) VALUES (2);
SELECT comments FROM cm_posts WHERE id = 2;
COMMIT;
SELECT * FROM cm_check;

-- applied inside a savepoint that then rolls back: the deltas come back
-- and commit applies them
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (3);
SAVEPOINT s;
SELECT denorm_apply();
SELECT comments FROM cm_posts WHERE id = 3;
ROLLBACK TO s;
SELECT comments FROM cm_posts WHERE id = 3;
SELECT denorm_value(:comments_id, 3) AS comments_3;
COMMIT;
SELECT * FROM cm_check;

-- SET CONSTRAINTS ALL IMMEDIATE applies them at once too
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (4);
SET CONSTRAINTS ALL IMMEDIATE;
SELECT comments FROM cm_posts WHERE id = 4;
-- and from then on, as they come
INSERT INTO cm_comments (post_id) VALUES (3), (4), (3);
SELECT id, comments FROM cm_posts WHERE id IN (3, 4) ORDER BY id;
COMMIT;
SELECT * FROM cm_check;

-- TRUNCATE recounts and drops the deltas made before it
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (1), (2);
TRUNCATE cm_comments;
INSERT INTO cm_comments (post_id) VALUES (3);
COMMIT;
SELECT * FROM cm_check;

-- parents deleted (their children with them) or re-keyed before commit
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (1), (2), (2), (4);
DELETE FROM cm_posts WHERE id = 1;
UPDATE cm_posts SET id = 5 WHERE id = 2;
INSERT INTO cm_comments (post_id) VALUES (5);
COMMIT;
SELECT * FROM cm_check;
-- a parent takes a key whose children were counted earlier in the same
-- transaction: the key trigger's recount and the deltas add up once
BEGIN;
UPDATE cm_posts SET id = 6 WHERE id = 5;
INSERT INTO cm_comments (post_id) VALUES (6);
UPDATE cm_posts SET id = 7 WHERE id = 6;
COMMIT;
SELECT * FROM cm_check;

-- a failure when the deltas are applied fails the commit, leaving nothing
CREATE FUNCTION cm_refuse() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS
$$BEGIN IF NEW.comments > 3 THEN RAISE EXCEPTION 'post % is full', NEW.id; END IF; RETURN NEW; END$$;
CREATE TRIGGER cm_refuse BEFORE UPDATE ON cm_posts FOR EACH ROW EXECUTE FUNCTION cm_refuse();
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (3), (3), (3), (3), (4);
COMMIT;
SELECT * FROM cm_check;
DROP TRIGGER cm_refuse ON cm_posts;

-- a counter on the parent's own parent: applying at commit moves it too
CREATE TABLE cm_blogs (id int PRIMARY KEY, comments int NOT NULL DEFAULT 0);
INSERT INTO cm_blogs VALUES (1), (2);
ALTER TABLE cm_posts ADD COLUMN blog_id int REFERENCES cm_blogs;
UPDATE cm_posts SET blog_id = 1 + id % 2;
SELECT denorm_create_counter('cm_blogs', 'comments', 'cm_posts', 'blog_id', 'sum', 'comments',
                             mode => 'commit') > 0 AS created;
BEGIN;
INSERT INTO cm_comments (post_id) VALUES (3), (4), (4);
SELECT id, comments FROM cm_blogs ORDER BY id;
COMMIT;
SELECT b.id, b.comments,
       b.comments = (SELECT coalesce(sum(p.comments), 0) FROM cm_posts p WHERE p.blog_id = b.id) AS ok
  FROM cm_blogs b ORDER BY b.id;

-- denorm.apply_at_commit runs immediate counters in mode 'commit' too
CREATE TABLE cm_tags (id int PRIMARY KEY, uses int NOT NULL DEFAULT 0);
CREATE TABLE cm_tagged (tag_id int REFERENCES cm_tags);
INSERT INTO cm_tags VALUES (1), (2);
SELECT denorm_create_counter('cm_tags', 'uses', 'cm_tagged', 'tag_id') > 0 AS created;
BEGIN;
SET LOCAL denorm.apply_at_commit = on;
INSERT INTO cm_tagged VALUES (2), (1), (2);
SELECT id, uses FROM cm_tags ORDER BY id;
COMMIT;
SELECT id, uses FROM cm_tags ORDER BY id;
SHOW denorm.apply_at_commit;

-- reconcile agrees, and nothing is left queued
SELECT counter_column, rows_drifted FROM denorm_reconcile() ORDER BY 1;
SELECT count(*) AS queue_rows_left FROM denorm_commit_queue;

DROP VIEW cm_check;
DROP TABLE cm_tagged, cm_tags, cm_comments, cm_posts;
DROP TABLE cm_blogs;
DROP FUNCTION cm_refuse();
