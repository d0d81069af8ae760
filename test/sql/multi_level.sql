-- Multi-level counters: a counter that sums (or filters on) a column
-- another counter maintains.  Three levels over one tree:
--   ml_products.review_count, rating_sum   over ml_reviews    (level 0)
--   ml_categories.review_total            over ml_products   (level 1, sums review_count)
--   ml_categories.rated_products          over ml_products   (level 1, filter on rating_sum)
--   ml_departments.review_total           over ml_categories (level 2, sums review_total)
-- Every write path on the bottom table, and on the middle ones, reaches the
-- top; the ml_wrong view lists every stored value that differs from a
-- recompute from ml_reviews, so each check below must return no rows.
-- The bottom level runs in each mode.  A reconcile after drift planted at
-- the bottom level (behind the triggers) leaves every level exact in one
-- run, checking the levels from the bottom up.
SET jit = off;
-- counter ids of this file's own, so that its messages do not depend on the others
-- (put back at the end, for the files after this one)
SELECT last_value AS ids_last, is_called AS ids_called FROM denorm_counters_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9700) AS pinned_counter_ids;

CREATE TABLE ml_departments (id int PRIMARY KEY, review_total bigint NOT NULL DEFAULT 0);
CREATE TABLE ml_categories (id int PRIMARY KEY,
                            department_id int REFERENCES ml_departments ON DELETE CASCADE,
                            review_total bigint NOT NULL DEFAULT 0,
                            rated_products int NOT NULL DEFAULT 0);
CREATE TABLE ml_products (id int PRIMARY KEY,
                          category_id int REFERENCES ml_categories ON DELETE CASCADE,
                          review_count int NOT NULL DEFAULT 0,
                          rating_sum int NOT NULL DEFAULT 0);
CREATE TABLE ml_reviews (id int PRIMARY KEY,
                         product_id int REFERENCES ml_products ON DELETE CASCADE,
                         rating int);
CREATE INDEX ON ml_categories (department_id);
CREATE INDEX ON ml_products (category_id);
CREATE INDEX ON ml_reviews (product_id);

CREATE VIEW ml_wrong AS
WITH p AS (
    SELECT p.id, p.category_id,
           (SELECT count(*) FROM ml_reviews r WHERE r.product_id = p.id) AS n,
           (SELECT coalesce(sum(r.rating), 0) FROM ml_reviews r WHERE r.product_id = p.id) AS s
      FROM ml_products p),
c AS (
    SELECT c.id, c.department_id,
           (SELECT coalesce(sum(p.n), 0) FROM p WHERE p.category_id = c.id) AS total,
           (SELECT count(*) FROM p WHERE p.category_id = c.id AND p.s > 10) AS rated
      FROM ml_categories c)
SELECT 'product' AS level, x.id, x.review_count::bigint AS stored, p.n AS actual
  FROM ml_products x JOIN p USING (id) WHERE x.review_count <> p.n
UNION ALL
SELECT 'product rating', x.id, x.rating_sum, p.s
  FROM ml_products x JOIN p USING (id) WHERE x.rating_sum <> p.s
UNION ALL
SELECT 'category', x.id, x.review_total, c.total
  FROM ml_categories x JOIN c USING (id) WHERE x.review_total <> c.total
UNION ALL
SELECT 'category rated', x.id, x.rated_products, c.rated
  FROM ml_categories x JOIN c USING (id) WHERE x.rated_products <> c.rated
UNION ALL
SELECT 'department', d.id, d.review_total,
       (SELECT coalesce(sum(c.total), 0) FROM c WHERE c.department_id = d.id)
  FROM ml_departments d
 WHERE d.review_total <> (SELECT coalesce(sum(c.total), 0) FROM c WHERE c.department_id = d.id);

INSERT INTO ml_departments VALUES (1), (2);
INSERT INTO ml_categories (id, department_id) VALUES (10, 1), (11, 1), (20, 2);
INSERT INTO ml_products (id, category_id) SELECT g, (ARRAY[10, 11, 20])[1 + g % 3] FROM generate_series(1, 9) g;
INSERT INTO ml_reviews SELECT g, 1 + g % 9, g % 5 FROM generate_series(1, 60) g;

-- created top-down, so that ids run against the levels; the top ones
-- backfill from columns the lower ones then fill in through the triggers
SELECT denorm_create_counter('ml_departments', 'review_total', 'ml_categories', 'department_id',
                             'sum', 'review_total') AS top \gset
SELECT denorm_create_counter('ml_categories', 'review_total', 'ml_products', 'category_id',
                             'sum', 'review_count') AS mid \gset
SELECT denorm_create_counter('ml_categories', 'rated_products', 'ml_products', 'category_id',
                             filter => 'rating_sum > 10') AS rated \gset
SELECT denorm_create_counter('ml_products', 'review_count', 'ml_reviews', 'product_id') AS bottom \gset
SELECT denorm_create_counter('ml_products', 'rating_sum', 'ml_reviews', 'product_id',
                             'sum', 'rating') AS bottom_sum \gset
SELECT * FROM ml_wrong;
SELECT (SELECT review_total FROM ml_departments WHERE id = 1) AS dept1,
       (SELECT sum(review_total) FROM ml_departments) = (SELECT count(*) FROM ml_reviews) AS all_counted;

-- the levels: the bottom counters 0, the middle ones 1, the top one 2
SELECT l.level, d.counter_column, d.parent::text
  FROM denorm_counter_levels() l JOIN denorm_counters d ON d.id = l.counter_id
 ORDER BY l.level, d.parent::text, d.counter_column;

-- every write path of the bottom table, in each mode of the bottom counters
CREATE FUNCTION ml_set_mode(m text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- the same counters, dropped and declared again in another mode
    PERFORM denorm_drop_counter(id) FROM denorm_counters WHERE child = 'ml_reviews'::regclass;
    PERFORM denorm_create_counter('ml_products', 'review_count', 'ml_reviews', 'product_id', mode => m);
    PERFORM denorm_create_counter('ml_products', 'rating_sum', 'ml_reviews', 'product_id',
                                  'sum', 'rating', mode => m);
END
$$;
CREATE FUNCTION ml_settle() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- deferred counters reach the column (and the levels above) when flushed
    PERFORM denorm_flush();
END
$$;

-- immediate
INSERT INTO ml_reviews VALUES (100, 1, 4);
INSERT INTO ml_reviews SELECT g, 1 + g % 9, 3 FROM generate_series(101, 140) g;
UPDATE ml_reviews SET product_id = 3 WHERE id BETWEEN 101 AND 110;   -- to another category
UPDATE ml_reviews SET rating = rating + 10 WHERE id % 4 = 0;         -- rating_sum crosses the filter
DELETE FROM ml_reviews WHERE id % 7 = 0;
SELECT * FROM ml_wrong;
INSERT INTO ml_reviews VALUES (100, 2, 1) ON CONFLICT (id) DO UPDATE SET product_id = 5, rating = 9;
INSERT INTO ml_reviews VALUES (200, 2, 1) ON CONFLICT (id) DO NOTHING;
MERGE INTO ml_reviews r USING (VALUES (200, 4, 5), (201, 6, 2)) v(id, product_id, rating) ON r.id = v.id
 WHEN MATCHED THEN UPDATE SET product_id = v.product_id
 WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.product_id, v.rating);
COPY ml_reviews FROM stdin;
300	7	2
301	8	5
302	8	4
\.
BEGIN;
INSERT INTO ml_reviews VALUES (400, 1, 5);
SAVEPOINT s;
UPDATE ml_reviews SET product_id = 9 WHERE id = 400;
DELETE FROM ml_reviews WHERE product_id = 2;
ROLLBACK TO s;
UPDATE ml_reviews SET product_id = 4 WHERE id = 400;
COMMIT;
SELECT * FROM ml_wrong;

-- the middle tables' own writes: a product moved to another category (and
-- department), a product deleted (its reviews cascade), a category moved,
-- a category deleted (its products and reviews cascade)
UPDATE ml_products SET category_id = 20 WHERE id = 1;
DELETE FROM ml_products WHERE id = 2;
UPDATE ml_categories SET department_id = 2 WHERE id = 11;
INSERT INTO ml_products (id, category_id) VALUES (2, 11);
INSERT INTO ml_reviews VALUES (500, 2, 8), (501, 2, 8);
SELECT * FROM ml_wrong;

-- mode 'commit' at the bottom: the levels above move when it commits
SELECT ml_set_mode('commit');
BEGIN;
INSERT INTO ml_reviews SELECT g, 1 + g % 9, 4 FROM generate_series(600, 620) g;
UPDATE ml_reviews SET product_id = 6 WHERE id BETWEEN 600 AND 605;
DELETE FROM ml_reviews WHERE id = 601;
SELECT review_total = (SELECT count(*) FROM ml_reviews WHERE product_id IN (SELECT id FROM ml_products p WHERE p.category_id IN (SELECT id FROM ml_categories c WHERE c.department_id = 1)))
       AS top_moved_before_commit
  FROM ml_departments WHERE id = 1;
COMMIT;
SELECT * FROM ml_wrong;
TRUNCATE ml_reviews;
SELECT * FROM ml_wrong;
SELECT sum(review_total) AS after_truncate FROM ml_departments;
INSERT INTO ml_reviews SELECT g, 1 + g % 9, g % 6 FROM generate_series(1, 80) g;

-- deferred at the bottom: the levels above follow the flush
SELECT ml_set_mode('deferred');
INSERT INTO ml_reviews SELECT g, 1 + g % 9, 5 FROM generate_series(700, 730) g;
UPDATE ml_reviews SET product_id = 9 WHERE id BETWEEN 700 AND 705;
DELETE FROM ml_reviews WHERE id % 11 = 0;
SELECT count(*) > 0 AS stale_until_flushed FROM ml_wrong;
SELECT ml_settle();
SELECT * FROM ml_wrong;

-- drift at the bottom, behind the triggers (a load with triggers off):
-- one reconcile run heals every level, bottom first
SELECT ml_set_mode('immediate');
SET session_replication_role = replica;
UPDATE ml_products SET review_count = review_count + 5 WHERE id = 3;
UPDATE ml_categories SET review_total = review_total - 2 WHERE id = 10;
RESET session_replication_role;
SELECT level, id, stored - actual AS off FROM ml_wrong ORDER BY 1, 2;
-- (terse: the alerts' DETAIL names run ids, which depend on the tests before)
\set VERBOSITY terse
SELECT d.counter_column, d.parent::text, r.rows_drifted, r.rows_healed, r.status
  FROM denorm_reconcile() WITH ORDINALITY r JOIN denorm_counters d ON d.id = r.counter_id
 ORDER BY r.ordinality;
\set VERBOSITY default
SELECT * FROM ml_wrong;
SELECT counter_id, rows_drifted FROM denorm_reconcile() WHERE rows_drifted <> 0;

-- a counter may not feed itself through the levels: ml_reviews.rating
-- feeds rating_sum, which feeds rated_products; summing rated_products back
-- into ml_reviews.rating is refused
ALTER TABLE ml_categories ADD COLUMN review_id int;
SELECT denorm_create_counter('ml_reviews', 'rating', 'ml_categories', 'review_id',
                             'sum', 'rated_products');

DROP VIEW ml_wrong;
DROP TABLE ml_reviews, ml_products, ml_categories, ml_departments;
DROP FUNCTION ml_set_mode(text), ml_settle();
SELECT setval('denorm_counters_id_seq', :ids_last, :'ids_called') IS NOT NULL AS ids_put_back;
