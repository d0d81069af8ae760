-- Schema changes on counted tables: what is refused, what is followed.
\set SHOW_CONTEXT never
-- messages below name counter ids: pin them whatever ran before
SELECT setval('denorm_counters_id_seq', 8200) AS pinned_counter_ids;

CREATE TABLE ddl_posts (id int PRIMARY KEY, comment_count int NOT NULL DEFAULT 0,
                        score_sum bigint NOT NULL DEFAULT 0, title text);
CREATE TABLE ddl_comments (id serial PRIMARY KEY, post_id int, score int, state text);
INSERT INTO ddl_posts (id) VALUES (1), (2);
INSERT INTO ddl_comments (post_id, score, state) VALUES (1, 5, 'ok'), (1, 2, 'spam'), (2, 1, 'ok');
SELECT denorm_create_counter('ddl_posts', 'comment_count', 'ddl_comments', 'post_id',
                             filter => $$state = 'ok'$$) AS cnt_id \gset
SELECT denorm_create_counter('ddl_posts', 'score_sum', 'ddl_comments', 'post_id',
                             'sum', 'score') AS sum_id \gset
-- (a function, not a view: a view would itself block the type changes)
CREATE FUNCTION ddl_check(OUT id int, OUT comment_count bigint, OUT score_sum bigint, OUT ok boolean)
RETURNS SETOF record LANGUAGE sql AS $$
SELECT p.id, p.comment_count, p.score_sum,
       p.comment_count = (SELECT count(*) FROM ddl_comments c WHERE c.post_id = p.id AND c.state = 'ok')
       AND p.score_sum = (SELECT coalesce(sum(score), 0) FROM ddl_comments c WHERE c.post_id = p.id)
  FROM ddl_posts p ORDER BY p.id
$$;

-- Refused, naming the counter: retyping a column a counter uses to a type
-- it cannot use (renames of the columns counters use are followed: see
-- renames.sql)
ALTER TABLE ddl_posts ALTER COLUMN score_sum TYPE text;
\echo :SQLSTATE
ALTER TABLE ddl_comments ALTER COLUMN score TYPE text;
\echo :SQLSTATE
-- nothing changed
SELECT attname FROM pg_attribute
 WHERE attrelid IN ('ddl_posts'::regclass, 'ddl_comments'::regclass) AND attnum > 0
   AND NOT attisdropped ORDER BY attrelid::regclass::text, attnum;

-- Allowed: changes that leave the counter intact
ALTER TABLE ddl_posts RENAME COLUMN title TO headline;
ALTER TABLE ddl_comments ADD COLUMN body text;
ALTER TABLE ddl_posts ALTER COLUMN comment_count TYPE bigint;
ALTER TABLE ddl_comments ALTER COLUMN score TYPE bigint;
INSERT INTO ddl_comments (post_id, score, state, body) VALUES (2, 10, 'ok', 'hi');
SELECT * FROM ddl_check();

-- Followed: the parent table renamed and moved to another schema
ALTER TABLE ddl_posts RENAME TO ddl_articles;
INSERT INTO ddl_comments (post_id, score, state) VALUES (1, 1, 'ok');
SELECT id, comment_count, score_sum FROM ddl_articles ORDER BY id;
CREATE SCHEMA ddl_other;
ALTER TABLE ddl_articles SET SCHEMA ddl_other;
DELETE FROM ddl_comments WHERE score = 10;
SELECT id, comment_count, score_sum FROM ddl_other.ddl_articles ORDER BY id;
SELECT counter_column, triggers_ok FROM denorm_status ORDER BY counter_column;
-- the child's one row trigger serves both counters, whatever the parent is
-- called: its definition names no counter and no parent
SELECT tgname, tgnargs FROM pg_trigger
 WHERE tgrelid = 'ddl_comments'::regclass AND tgname LIKE 'denorm%' ORDER BY tgname;
-- the child renamed: nothing to follow, counting goes on
ALTER TABLE ddl_comments RENAME TO ddl_replies;
INSERT INTO ddl_replies (post_id, score, state) VALUES (2, 3, 'ok');
SELECT id, comment_count, score_sum FROM ddl_other.ddl_articles ORDER BY id;
SELECT counter_column, rows_drifted FROM denorm_reconcile() ORDER BY counter_column;

-- Reported, not refused: a disabled denorm trigger (see denorm_status)
ALTER TABLE ddl_replies DISABLE TRIGGER denorm_row;
SELECT counter_column, triggers_ok, trigger_problems FROM denorm_status ORDER BY counter_column;
ALTER TABLE ddl_replies ENABLE TRIGGER denorm_row;

-- Dropping a table drops its counters
DROP TABLE ddl_replies;
SELECT count(*) AS counters_left FROM denorm_counters;
DROP FUNCTION ddl_check();
DROP TABLE ddl_other.ddl_articles;
DROP SCHEMA ddl_other;
