-- Counter columns are guarded: a write to one by anything but denorm (an
-- ORM saving a whole row it read before, an upsert's DO UPDATE SET, a
-- hand-written UPDATE) leaves the counter as it was under
-- denorm.counter_writes = 'ignore' (the default), is refused under
-- 'error', and goes through under 'allow' (then it is drift, for
-- reconcile).  denorm's own writes always pass.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT setval('denorm_counters_id_seq', 9600) AS pinned_counter_ids;

CREATE TABLE gd_posts (id int PRIMARY KEY, title text,
                       comment_count int NOT NULL DEFAULT 0,
                       score_sum bigint NOT NULL DEFAULT 0);
CREATE TABLE gd_comments (id serial PRIMARY KEY,
                          post_id int REFERENCES gd_posts ON DELETE CASCADE ON UPDATE CASCADE,
                          score int NOT NULL DEFAULT 1);
CREATE INDEX ON gd_comments (post_id);
SELECT denorm_create_counter('gd_posts', 'comment_count', 'gd_comments', 'post_id') > 0 AS created;
SELECT denorm_create_counter('gd_posts', 'score_sum', 'gd_comments', 'post_id',
                             aggregate => 'sum', value_column => 'score', mode => 'deferred') > 0 AS created;
CREATE VIEW gd_check AS
SELECT p.id, p.title, p.comment_count, p.score_sum + coalesce(
           (SELECT sum(q.delta) FROM denorm_pending q JOIN denorm_counters d ON d.id = q.counter_id
             WHERE d.parent = 'gd_posts'::regclass AND q.parent_key = p.id::text), 0) AS score_sum,
       p.comment_count = (SELECT count(*) FROM gd_comments c WHERE c.post_id = p.id)
       AND p.score_sum + coalesce((SELECT sum(q.delta) FROM denorm_pending q JOIN denorm_counters d ON d.id = q.counter_id
             WHERE d.parent = 'gd_posts'::regclass AND q.parent_key = p.id::text), 0)
           = (SELECT coalesce(sum(c.score), 0) FROM gd_comments c WHERE c.post_id = p.id) AS ok
  FROM gd_posts p ORDER BY p.id;

INSERT INTO gd_posts (id, title) VALUES (1, 'one'), (2, 'two');
INSERT INTO gd_comments (post_id, score) VALUES (1, 5), (1, 7), (2, 1);
SELECT denorm_flush() > 0 AS flushed;

-- an ORM's whole-row save of a row it read before the comments came
UPDATE gd_posts SET title = 'one, edited', comment_count = 0, score_sum = 0 WHERE id = 1;
SELECT * FROM gd_check;

-- an upsert that writes the counters from the row it was given
INSERT INTO gd_posts (id, title, comment_count, score_sum) VALUES (2, 'two, edited', 40, 40)
    ON CONFLICT (id) DO UPDATE SET title = excluded.title, comment_count = excluded.comment_count,
                                   score_sum = excluded.score_sum;
SELECT * FROM gd_check;

-- a write of the value the column already holds is no write at all
SET denorm.counter_writes = 'error';
UPDATE gd_posts SET title = 'one', comment_count = 2 WHERE id = 1;

-- 'error' refuses a write that would change it, and the statement rolls back
UPDATE gd_posts SET title = 'lost', comment_count = 9 WHERE id = 1;
SELECT * FROM gd_check;

-- 'allow' lets it through: drift, which reconcile finds and heals
SET denorm.counter_writes = 'allow';
UPDATE gd_posts SET comment_count = 9 WHERE id = 1;
SET denorm.counter_writes = 'error';
SELECT counter_column, rows_drifted, rows_healed FROM denorm_reconcile() ORDER BY 1;
SELECT * FROM gd_check;

-- denorm's own writes pass under every setting: deltas, flushes, key
-- changes with their cascades (the key trigger sets the column)
INSERT INTO gd_comments (post_id, score) VALUES (2, 3);
SELECT denorm_flush() > 0 AS flushed;
UPDATE gd_posts SET id = 3 WHERE id = 2;
SELECT * FROM gd_check;
DELETE FROM gd_comments WHERE post_id = 1 AND score = 5;
SELECT * FROM gd_check;
-- (a stale value written with a key change is itself refused)
UPDATE gd_posts SET id = 2, comment_count = 0 WHERE id = 3;
RESET denorm.counter_writes;
-- and under 'ignore' ignored, the key trigger setting the new key's value
UPDATE gd_posts SET id = 2, comment_count = 0 WHERE id = 3;
UPDATE gd_posts SET id = 3 WHERE id = 2;
SELECT * FROM gd_check;

-- a role that may update the parent but is no administrator of denorm
CREATE ROLE regress_gd_app;
GRANT SELECT, INSERT, UPDATE ON gd_posts TO regress_gd_app;
GRANT SELECT, INSERT ON gd_comments TO regress_gd_app;
GRANT USAGE ON SEQUENCE gd_comments_id_seq TO regress_gd_app;
SET ROLE regress_gd_app;
UPDATE gd_posts SET title = 'three', comment_count = 100, score_sum = 100 WHERE id = 3;
SET denorm.counter_writes = 'error';
UPDATE gd_posts SET comment_count = 100 WHERE id = 3;
RESET denorm.counter_writes;
INSERT INTO gd_comments (post_id) VALUES (3);
RESET ROLE;
SELECT * FROM gd_check;

-- a chained counter: a sum over the guarded column is kept as before
CREATE TABLE gd_blogs (id int PRIMARY KEY, comments_total bigint NOT NULL DEFAULT 0);
INSERT INTO gd_blogs VALUES (1);
ALTER TABLE gd_posts ADD COLUMN blog_id int REFERENCES gd_blogs;
UPDATE gd_posts SET blog_id = 1;
CREATE INDEX ON gd_posts (blog_id);
SELECT denorm_create_counter('gd_blogs', 'comments_total', 'gd_posts', 'blog_id',
                             aggregate => 'sum', value_column => 'comment_count') > 0 AS created;
INSERT INTO gd_comments (post_id) VALUES (1), (3);
UPDATE gd_posts SET comment_count = 0;      -- ignored: both levels stay exact
SELECT b.comments_total, (SELECT sum(comment_count) FROM gd_posts) AS true_total FROM gd_blogs b;
SELECT * FROM gd_check;

-- the guard is one of the counter's triggers: missing, it is reported
SELECT format('denorm_%s_guard', id) AS guard FROM denorm_counters
 WHERE parent = 'gd_posts'::regclass AND counter_column = 'comment_count' \gset
ALTER TABLE gd_posts DISABLE TRIGGER :"guard";
SELECT counter_column, triggers_ok FROM denorm_status WHERE parent = 'gd_posts'::regclass ORDER BY 1;
ALTER TABLE gd_posts ENABLE TRIGGER :"guard";
SELECT counter_column, triggers_ok FROM denorm_status WHERE parent = 'gd_posts'::regclass ORDER BY 1;

-- the counter column's type can still be widened
DROP VIEW gd_check;
ALTER TABLE gd_posts ALTER COLUMN comment_count TYPE bigint;
INSERT INTO gd_comments (post_id) VALUES (1);
UPDATE gd_posts SET comment_count = 0;
SELECT p.id, p.comment_count, (SELECT count(*) FROM gd_comments c WHERE c.post_id = p.id) AS true_count
  FROM gd_posts p ORDER BY p.id;

DROP TABLE gd_comments, gd_posts, gd_blogs CASCADE;
DROP ROLE regress_gd_app;
