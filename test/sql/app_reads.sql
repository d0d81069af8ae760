-- Exact reads for application roles: denorm_value and denorm_values read
-- the parent with the caller's rights (its privileges and the table's row
-- security apply) and add the pending deltas of that counter and key with
-- denorm's, so a role that may SELECT the parent reads exact values with
-- no rights on denorm's tables, and learns nothing it could not SELECT.
\set SHOW_CONTEXT errors
-- messages below name counter ids: pin them whatever ran before, and put
-- the sequence back at the end for the tests that follow
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9600) AS pinned_counter_ids;

CREATE TABLE ar_posts (id int PRIMARY KEY, tenant text NOT NULL, title text,
                       comments int NOT NULL DEFAULT 0, score bigint NOT NULL DEFAULT 0,
                       likes int NOT NULL DEFAULT 0);
CREATE TABLE ar_comments (id serial PRIMARY KEY, post_id int REFERENCES ar_posts,
                          score int NOT NULL DEFAULT 1);
CREATE INDEX ON ar_comments (post_id);
CREATE TABLE ar_likes (id serial PRIMARY KEY, post_id int REFERENCES ar_posts);
CREATE INDEX ON ar_likes (post_id);
INSERT INTO ar_posts (id, tenant, title)
SELECT g, CASE WHEN g <= 3 THEN 'a' ELSE 'b' END, 'post ' || g FROM generate_series(1, 5) g;
INSERT INTO ar_comments (post_id) VALUES (1), (4);
SELECT denorm_create_counter('ar_posts', 'comments', 'ar_comments', 'post_id',
                             mode => 'deferred') AS comments_id \gset
SELECT denorm_create_counter('ar_posts', 'score', 'ar_comments', 'post_id', 'sum', 'score',
                             mode => 'commit') AS score_id \gset
SELECT denorm_create_counter('ar_posts', 'likes', 'ar_likes', 'post_id') AS likes_id \gset

-- another application's deferred counter, on a table the app may not read
CREATE TABLE ar_secret (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE ar_secret_items (id int, secret_id int);
CREATE INDEX ON ar_secret_items (secret_id);
INSERT INTO ar_secret VALUES (1), (2);
SELECT denorm_create_counter('ar_secret', 'n', 'ar_secret_items', 'secret_id',
                             mode => 'deferred') AS secret_id \gset
INSERT INTO ar_secret_items VALUES (1, 1), (2, 1), (3, 2);

-- What is true, by recount
CREATE VIEW ar_truth AS
SELECT p.id,
       (SELECT count(*) FROM ar_comments c WHERE c.post_id = p.id) AS comments,
       (SELECT coalesce(sum(score), 0) FROM ar_comments c WHERE c.post_id = p.id) AS score,
       (SELECT count(*) FROM ar_likes l WHERE l.post_id = p.id) AS likes
  FROM ar_posts p;

-- The application role: SELECT on the parent, INSERT on the children,
-- nothing on denorm's tables but what PUBLIC has.
CREATE ROLE regress_ar_app;
GRANT SELECT ON ar_posts TO regress_ar_app;
GRANT INSERT ON ar_comments, ar_likes TO regress_ar_app;
GRANT USAGE ON SEQUENCE ar_comments_id_seq, ar_likes_id_seq TO regress_ar_app;
SELECT has_function_privilege('regress_ar_app', 'denorm_value(integer, anyelement)', 'EXECUTE') AS may_value,
       has_function_privilege('regress_ar_app', 'denorm_values(integer, anyarray)', 'EXECUTE') AS may_values,
       has_table_privilege('regress_ar_app', 'denorm_pending', 'SELECT') AS may_read_pending;

------------------------------------------------------------------------
-- A deferred counter: the column lags, denorm_value does not
------------------------------------------------------------------------
SET ROLE regress_ar_app;
INSERT INTO ar_comments (post_id, score) VALUES (1, 5), (1, 2), (2, 3);
SELECT count(*) FROM denorm_pending;
SELECT p.id, p.comments AS column_value, denorm_value(:comments_id, p.id) AS exact
  FROM ar_posts p ORDER BY p.id;
RESET ROLE;
SELECT p.id, denorm_value(:comments_id, p.id) = t.comments AS exact_ok
  FROM ar_posts p JOIN ar_truth t USING (id) ORDER BY p.id;

------------------------------------------------------------------------
-- Commit and immediate counters, with the transaction's own deltas
------------------------------------------------------------------------
SET ROLE regress_ar_app;
BEGIN;
INSERT INTO ar_comments (post_id, score) VALUES (2, 10), (3, 20);
INSERT INTO ar_likes (post_id) VALUES (1), (1), (3);
-- the commit-time column has not moved yet; denorm_value includes the
-- transaction's own deltas, and the immediate column has moved already
SELECT p.id, p.score AS score_column, denorm_value(:score_id, p.id) AS score_exact,
       p.likes AS likes_column, denorm_value(:likes_id, p.id) AS likes_exact,
       denorm_value(:comments_id, p.id) AS comments_exact
  FROM ar_posts p ORDER BY p.id;
-- and so does the many-rows form
SELECT v.parent_key, v.value FROM denorm_values(:score_id, ARRAY[1, 2, 3]) v;
COMMIT;
SELECT p.id, p.score AS score_column, denorm_value(:score_id, p.id) AS score_exact
  FROM ar_posts p ORDER BY p.id;
RESET ROLE;
SELECT p.id, denorm_value(:score_id, p.id) = t.score AS score_ok,
       denorm_value(:likes_id, p.id) = t.likes AS likes_ok,
       denorm_value(:comments_id, p.id) = t.comments AS comments_ok
  FROM ar_posts p JOIN ar_truth t USING (id) ORDER BY p.id;
-- a rolled-back transaction's deltas are gone from what it read
SET ROLE regress_ar_app;
BEGIN;
INSERT INTO ar_comments (post_id) VALUES (5), (5);
SELECT denorm_value(:comments_id, 5) AS comments_in, denorm_value(:score_id, 5) AS score_in;
ROLLBACK;
SELECT denorm_value(:comments_id, 5) AS comments_after, denorm_value(:score_id, 5) AS score_after;
RESET ROLE;

------------------------------------------------------------------------
-- Many rows at once: denorm_values agrees with denorm_value
------------------------------------------------------------------------
SET ROLE regress_ar_app;
-- a row per key, in the order given: NULL for a key without a row, for a
-- NULL key, twice for a key given twice
SELECT * FROM denorm_values(:comments_id, ARRAY[3, 1, NULL, 42, 1]);
SELECT * FROM denorm_values(:comments_id, '{}'::int[]);
SELECT * FROM denorm_values(:comments_id, NULL::int[]);
-- joined with the parent, in one query
SELECT p.id, p.title, v.value AS comments
  FROM ar_posts p
  JOIN denorm_values(:comments_id, ARRAY(SELECT id FROM ar_posts)) v ON v.parent_key = p.id
 ORDER BY p.id;
-- both forms, every counter, every key
SELECT count(*) AS keys, count(*) FILTER (WHERE v.value IS NOT DISTINCT FROM
                                                denorm_value(d.id, v.parent_key)) AS agree
  FROM denorm_counters d
 CROSS JOIN LATERAL denorm_values(d.id, ARRAY[0, 1, 2, 3, 4, 5, 6]) v
 WHERE d.parent = 'ar_posts'::regclass;
-- keys of another type are read as the parent key's type reads their text
SELECT * FROM denorm_values(:comments_id, ARRAY[1, 2]::bigint[]);
SELECT denorm_value(:comments_id, '1'::text) AS text_key, denorm_value(:comments_id, 1::bigint) AS bigint_key;
RESET ROLE;

------------------------------------------------------------------------
-- Without SELECT on the parent: the error a SELECT gives
------------------------------------------------------------------------
CREATE ROLE regress_ar_none;
SET ROLE regress_ar_none;
SELECT comments FROM ar_posts WHERE id = 1;
SELECT denorm_value(:comments_id, 1);
\echo :SQLSTATE
SELECT * FROM denorm_values(:comments_id, ARRAY[1, 2]);
\echo :SQLSTATE
-- even for a key no row has, or none at all
SELECT denorm_value(:comments_id, 42);
SELECT denorm_value(:comments_id, NULL::int);
SELECT * FROM denorm_values(:comments_id, '{}'::int[]);
-- nor can it read the pending deltas themselves
SELECT count(*) FROM denorm_pending;
RESET ROLE;

-- SELECT on some columns only: the key and the counter column are needed,
-- as SELECT comments FROM ar_posts WHERE id = 1 needs them
CREATE ROLE regress_ar_cols;
GRANT SELECT (id, title) ON ar_posts TO regress_ar_cols;
SET ROLE regress_ar_cols;
SELECT comments FROM ar_posts WHERE id = 1;
SELECT denorm_value(:comments_id, 1);
\echo :SQLSTATE
SELECT * FROM denorm_values(:comments_id, ARRAY[1]);
\echo :SQLSTATE
RESET ROLE;
GRANT SELECT (comments) ON ar_posts TO regress_ar_cols;
SET ROLE regress_ar_cols;
-- the counter column granted, it reads that counter, and only that one
SELECT denorm_value(:comments_id, 1) AS comments;
SELECT denorm_value(:score_id, 1) AS score;
\echo :SQLSTATE
RESET ROLE;
REVOKE SELECT (id) ON ar_posts FROM regress_ar_cols;
SET ROLE regress_ar_cols;
-- the counter column without the key
SELECT comments FROM ar_posts WHERE id = 1;
SELECT denorm_value(:comments_id, 1);
\echo :SQLSTATE
RESET ROLE;

------------------------------------------------------------------------
-- Row security on the parent: a hidden row reads as no row
------------------------------------------------------------------------
ALTER TABLE ar_posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY ar_tenant_a ON ar_posts FOR SELECT TO regress_ar_app USING (tenant = 'a');
-- post 4 has pending deltas (what its owner sees)
INSERT INTO ar_comments (post_id) VALUES (4), (4);
SELECT denorm_value(:comments_id, 4) AS owner_sees,
       (SELECT count(*) FROM denorm_pending WHERE counter_id = :comments_id AND parent_key = '4') AS pending_rows;
SET ROLE regress_ar_app;
SELECT id FROM ar_posts WHERE id = 4;
SELECT denorm_value(:comments_id, 4) AS hidden, denorm_value(:comments_id, 1) AS visible;
SELECT * FROM denorm_values(:comments_id, ARRAY[1, 4, 5, 2]);
-- the forms agree on what is visible
SELECT p.id, denorm_value(:comments_id, p.id) AS value FROM ar_posts p ORDER BY p.id;
-- its own deltas on a hidden row do not make the row readable either
BEGIN;
INSERT INTO ar_comments (post_id, score) VALUES (4, 100), (1, 1);
SELECT denorm_value(:score_id, 4) AS hidden_score, denorm_value(:score_id, 1) AS visible_score;
ROLLBACK;
RESET ROLE;
-- the table's owner is not subject to its policies (as in a SELECT)
SELECT * FROM denorm_values(:comments_id, ARRAY[1, 4]);
ALTER TABLE ar_posts DISABLE ROW LEVEL SECURITY;
DROP POLICY ar_tenant_a ON ar_posts;

------------------------------------------------------------------------
-- Another counter's pending deltas stay out of reach
------------------------------------------------------------------------
SELECT denorm_value(:secret_id, 1) AS secret_1, denorm_value(:secret_id, 2) AS secret_2;
SET ROLE regress_ar_app;
-- its table cannot be read, so neither can its counter, whatever the key
SELECT n FROM ar_secret WHERE id = 1;
SELECT denorm_value(:secret_id, 1);
\echo :SQLSTATE
SELECT * FROM denorm_values(:secret_id, ARRAY[1, 2]);
\echo :SQLSTATE
-- its own transaction's deltas it knows anyway; another counter's none
SELECT denorm_local_delta(:secret_id, '1') AS secret_local;
RESET ROLE;

------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------
SET ROLE regress_ar_app;
-- an unknown counter id (counter ids are no secret: denorm_counters can be
-- read by every role)
SELECT denorm_value(99999, 1);
\echo :SQLSTATE
SELECT * FROM denorm_values(99999, ARRAY[1]);
\echo :SQLSTATE
SELECT denorm_value(NULL, 1);
\echo :SQLSTATE
SELECT * FROM denorm_values(NULL, ARRAY[1]);
\echo :SQLSTATE
-- a key the parent key's type does not read: its own value, nothing else
SELECT denorm_value(:comments_id, 'one'::text);
\echo :SQLSTATE
SELECT * FROM denorm_values(:comments_id, ARRAY['1', 'one']);
\echo :SQLSTATE
RESET ROLE;

------------------------------------------------------------------------
-- A numeric key: pending keys are compared as numbers (1.0 = 1.00)
------------------------------------------------------------------------
CREATE TABLE ar_prices (id numeric PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE ar_orders (id int, price_id numeric);
CREATE INDEX ON ar_orders (price_id);
INSERT INTO ar_prices VALUES (1.5), (2);
SELECT denorm_create_counter('ar_prices', 'n', 'ar_orders', 'price_id',
                             mode => 'deferred') AS prices_id \gset
INSERT INTO ar_orders VALUES (1, 1.50), (2, 1.500), (3, 2.0);
GRANT SELECT ON ar_prices TO regress_ar_app;
SET ROLE regress_ar_app;
SELECT p.id, p.n, denorm_value(:prices_id, p.id) AS exact FROM ar_prices p ORDER BY p.id;
SELECT * FROM denorm_values(:prices_id, ARRAY[1.5, 2.00, 3]);
RESET ROLE;
-- a pending key that does not read as the key's type fails the read
-- without showing it (it may belong to a row the caller cannot see)
INSERT INTO denorm_pending (counter_id, parent_key, delta) VALUES (:prices_id, 'secret-key', 1);
SET ROLE regress_ar_app;
SELECT denorm_value(:prices_id, 2);
\echo :SQLSTATE
RESET ROLE;
DELETE FROM denorm_pending WHERE counter_id = :prices_id AND parent_key = 'secret-key';

------------------------------------------------------------------------
-- After a flush the column and the exact value meet
------------------------------------------------------------------------
SELECT denorm_flush() >= 0 AS flushed;
SET ROLE regress_ar_app;
SELECT p.id, p.comments = denorm_value(:comments_id, p.id) AS column_exact
  FROM ar_posts p ORDER BY p.id;
RESET ROLE;

DROP VIEW ar_truth;
DROP TABLE ar_orders, ar_prices, ar_secret_items, ar_secret, ar_likes, ar_comments, ar_posts;
DROP OWNED BY regress_ar_app;
DROP OWNED BY regress_ar_cols;
DROP ROLE regress_ar_app, regress_ar_none, regress_ar_cols;
SELECT count(*) AS registry_rows FROM denorm_counters;
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') > 0 AS ids_restored;
