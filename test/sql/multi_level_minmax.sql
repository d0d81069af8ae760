-- Multi-level counters over MIN and MAX: a level above an extreme, and an
-- extreme above a count.  Three levels over one tree:
--   mlm_products.last_review_at, first_review_at  max/min of mlm_reviews.created_at  (level 0)
--   mlm_products.review_count                     count of mlm_reviews               (level 0)
--   mlm_categories.last_review_at                 max of mlm_products.last_review_at (level 1)
--   mlm_categories.first_review_at                min of mlm_products.first_review_at (level 1)
--   mlm_categories.busiest                        max of mlm_products.review_count   (level 1)
--   mlm_departments.last_review_at                max of mlm_categories.last_review_at (level 2)
-- A category's latest review is the latest of its products' latest ones:
-- when a product's top review is deleted, lowered or moved away, its
-- column is recomputed, and that UPDATE of the product is a removal of the
-- category's extreme when it held it, recomputed in turn, up to the
-- department.  mlm_wrong lists every stored value that differs from a
-- recompute from mlm_reviews, so each check below must return no rows.  A
-- reconcile after drift planted at the bottom leaves every level exact in
-- one run.
SET jit = off;
-- counter ids of this file's own, so that its messages do not depend on the others
-- (put back at the end, for the files after this one)
SELECT last_value AS ids_last, is_called AS ids_called FROM denorm_counters_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9750) AS pinned_counter_ids;

CREATE TABLE mlm_departments (id int PRIMARY KEY, last_review_at timestamptz);
CREATE TABLE mlm_categories (id int PRIMARY KEY,
                             department_id int REFERENCES mlm_departments ON DELETE CASCADE,
                             last_review_at timestamptz,
                             first_review_at timestamptz,
                             busiest int);
CREATE TABLE mlm_products (id int PRIMARY KEY,
                           category_id int REFERENCES mlm_categories ON DELETE CASCADE,
                           last_review_at timestamptz,
                           first_review_at timestamptz,
                           review_count int NOT NULL DEFAULT 0);
CREATE TABLE mlm_reviews (id int PRIMARY KEY,
                          product_id int REFERENCES mlm_products ON DELETE CASCADE,
                          created_at timestamptz);
CREATE INDEX ON mlm_categories (department_id, last_review_at);
CREATE INDEX ON mlm_products (category_id, last_review_at);
CREATE INDEX ON mlm_products (category_id, first_review_at);
CREATE INDEX ON mlm_products (category_id, review_count);
CREATE INDEX ON mlm_reviews (product_id, created_at);

-- every level recomputed from the reviews alone
CREATE VIEW mlm_wrong AS
WITH p AS (
    SELECT p.id, p.category_id,
           (SELECT max(r.created_at) FROM mlm_reviews r WHERE r.product_id = p.id) AS last_at,
           (SELECT min(r.created_at) FROM mlm_reviews r WHERE r.product_id = p.id) AS first_at,
           (SELECT count(*) FROM mlm_reviews r WHERE r.product_id = p.id) AS n
      FROM mlm_products p),
c AS (
    SELECT c.id, c.department_id,
           (SELECT max(p.last_at) FROM p WHERE p.category_id = c.id) AS last_at,
           (SELECT min(p.first_at) FROM p WHERE p.category_id = c.id) AS first_at,
           (SELECT max(p.n) FROM p WHERE p.category_id = c.id) AS busiest
      FROM mlm_categories c)
SELECT 'product last' AS level, x.id, x.last_review_at::text AS stored, p.last_at::text AS actual
  FROM mlm_products x JOIN p USING (id) WHERE x.last_review_at IS DISTINCT FROM p.last_at
UNION ALL
SELECT 'product first', x.id, x.first_review_at::text, p.first_at::text
  FROM mlm_products x JOIN p USING (id) WHERE x.first_review_at IS DISTINCT FROM p.first_at
UNION ALL
SELECT 'product count', x.id, x.review_count::text, p.n::text
  FROM mlm_products x JOIN p USING (id) WHERE x.review_count <> p.n
UNION ALL
SELECT 'category last', x.id, x.last_review_at::text, c.last_at::text
  FROM mlm_categories x JOIN c USING (id) WHERE x.last_review_at IS DISTINCT FROM c.last_at
UNION ALL
SELECT 'category first', x.id, x.first_review_at::text, c.first_at::text
  FROM mlm_categories x JOIN c USING (id) WHERE x.first_review_at IS DISTINCT FROM c.first_at
UNION ALL
SELECT 'category busiest', x.id, x.busiest::text, c.busiest::text
  FROM mlm_categories x JOIN c USING (id) WHERE x.busiest IS DISTINCT FROM c.busiest
UNION ALL
SELECT 'department last', d.id, d.last_review_at::text,
       (SELECT max(c.last_at) FROM c WHERE c.department_id = d.id)::text
  FROM mlm_departments d
 WHERE d.last_review_at IS DISTINCT FROM (SELECT max(c.last_at) FROM c WHERE c.department_id = d.id);
-- the top of the tree, to show values moving
CREATE VIEW mlm_tops AS
SELECT 'department ' || d.id AS node, d.last_review_at AS last_at, NULL::timestamptz AS first_at,
       NULL::int AS busiest
  FROM mlm_departments d
UNION ALL
SELECT 'category ' || c.id, c.last_review_at, c.first_review_at, c.busiest FROM mlm_categories c
 ORDER BY 1;

SET timezone = 'UTC';
INSERT INTO mlm_departments VALUES (1), (2);
INSERT INTO mlm_categories (id, department_id) VALUES (10, 1), (11, 1), (20, 2);
INSERT INTO mlm_products (id, category_id)
SELECT g, (ARRAY[10, 11, 20])[1 + g % 3] FROM generate_series(1, 9) g;
-- product p's reviews on days p, p + 9, p + 18, ... of 2024 (product 9 has none)
INSERT INTO mlm_reviews
SELECT g, 1 + (g - 1) % 8, '2024-01-01'::timestamptz + g * interval '1 day'
  FROM generate_series(1, 40) g;

-- created top-down: the upper levels backfill from columns the lower ones
-- then fill in through the triggers
SELECT denorm_create_counter('mlm_departments', 'last_review_at', 'mlm_categories', 'department_id',
                             'max', 'last_review_at') AS top \gset
SELECT denorm_create_counter('mlm_categories', 'last_review_at', 'mlm_products', 'category_id',
                             'max', 'last_review_at') AS mid_last \gset
SELECT denorm_create_counter('mlm_categories', 'first_review_at', 'mlm_products', 'category_id',
                             'min', 'first_review_at') AS mid_first \gset
SELECT denorm_create_counter('mlm_categories', 'busiest', 'mlm_products', 'category_id',
                             'max', 'review_count') AS mid_busiest \gset
SELECT denorm_create_counter('mlm_products', 'last_review_at', 'mlm_reviews', 'product_id',
                             'max', 'created_at') AS bottom_last \gset
SELECT denorm_create_counter('mlm_products', 'first_review_at', 'mlm_reviews', 'product_id',
                             'min', 'created_at') AS bottom_first \gset
SELECT denorm_create_counter('mlm_products', 'review_count', 'mlm_reviews', 'product_id') AS bottom_count \gset
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;

-- the levels: the bottom counters 0, the middle ones 1, the top one 2
SELECT l.level, d.counter_column, d.parent::text, d.aggregate
  FROM denorm_counter_levels() l JOIN denorm_counters d ON d.id = l.counter_id
 ORDER BY l.level, d.parent::text, d.counter_column;

-- a new latest review reaches the top; the latest review deleted: every
-- level falls back to the next latest (review 40 is product 8's, in
-- category 20 of department 2; review 39, product 7's, category 11,
-- department 1)
INSERT INTO mlm_reviews VALUES (100, 4, '2024-06-01');
SELECT * FROM mlm_tops;
DELETE FROM mlm_reviews WHERE id = 100;
SELECT * FROM mlm_tops;
DELETE FROM mlm_reviews WHERE id IN (40, 39);
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- the latest review lowered, and the earliest raised
UPDATE mlm_reviews SET created_at = created_at - interval '200 days'
 WHERE id = (SELECT id FROM mlm_reviews ORDER BY created_at DESC LIMIT 1);
UPDATE mlm_reviews SET created_at = created_at + interval '1 year'
 WHERE id = (SELECT id FROM mlm_reviews ORDER BY created_at LIMIT 1);
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- the top reviews moved to a product of another category and department,
-- and to no product at all
UPDATE mlm_reviews SET product_id = 9
 WHERE id IN (SELECT id FROM mlm_reviews ORDER BY created_at DESC LIMIT 2);
UPDATE mlm_reviews SET product_id = NULL
 WHERE id = (SELECT id FROM mlm_reviews ORDER BY created_at DESC LIMIT 1);
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- a multi-row statement deleting every product's latest review at once
DELETE FROM mlm_reviews
 WHERE id IN (SELECT DISTINCT ON (product_id) id FROM mlm_reviews
               ORDER BY product_id, created_at DESC);
SELECT * FROM mlm_wrong;
-- ON CONFLICT, MERGE and COPY
INSERT INTO mlm_reviews VALUES (1, 2, '2024-07-01') ON CONFLICT (id) DO UPDATE SET product_id = 5,
    created_at = '2023-01-01';
INSERT INTO mlm_reviews VALUES (200, 2, '2024-07-02') ON CONFLICT (id) DO NOTHING;
MERGE INTO mlm_reviews r
USING (VALUES (200, 3, '2024-08-01'::timestamptz), (201, 6, '2024-07-15'::timestamptz)) v(id, product_id, at)
   ON r.id = v.id
 WHEN MATCHED THEN UPDATE SET product_id = v.product_id, created_at = v.at
 WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.product_id, v.at);
COPY mlm_reviews FROM stdin;
300	7	2024-09-01 00:00:00+00
301	8	2022-05-05 00:00:00+00
\.
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- a savepoint rolled back: its new top and its deletes leave no trace
BEGIN;
INSERT INTO mlm_reviews VALUES (400, 1, '2025-01-01');
SAVEPOINT s;
UPDATE mlm_reviews SET product_id = 9 WHERE id = 400;
DELETE FROM mlm_reviews WHERE product_id = 7;
ROLLBACK TO s;
DELETE FROM mlm_reviews WHERE id = 300;
COMMIT;
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- the busiest product loses reviews until another is busier
SELECT id, review_count FROM mlm_products WHERE category_id = 10 ORDER BY id;
DELETE FROM mlm_reviews
 WHERE id IN (SELECT id FROM mlm_reviews WHERE product_id = 3 ORDER BY id LIMIT 3);
SELECT busiest FROM mlm_categories WHERE id = 10;
SELECT * FROM mlm_wrong;

-- the middle tables' own writes: a product holding its category's latest
-- review moved to another category (and department), a product deleted
-- (its reviews cascade), a category moved, a category deleted (its
-- products and reviews cascade)
UPDATE mlm_products SET category_id = 20
 WHERE id = (SELECT id FROM mlm_products WHERE category_id = 10 ORDER BY last_review_at DESC NULLS LAST LIMIT 1)
RETURNING id AS moved_product, last_review_at;
SELECT * FROM mlm_wrong;
DELETE FROM mlm_products
 WHERE id = (SELECT id FROM mlm_products ORDER BY last_review_at DESC NULLS LAST LIMIT 1)
RETURNING id AS gone_product, category_id AS gone_category \gset
SELECT :gone_product AS deleted_product, :gone_category AS of_category;
SELECT * FROM mlm_wrong;
UPDATE mlm_categories SET department_id = 2 WHERE id = 11;
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- the deleted product's key taken again: the new row starts at its
-- children's extreme (none yet), and its first reviews reach the top
INSERT INTO mlm_products (id, category_id) VALUES (:gone_product, :gone_category);
INSERT INTO mlm_reviews VALUES (250, :gone_product, '2024-12-24'), (251, :gone_product, '2021-01-01');
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
INSERT INTO mlm_categories (id, department_id) VALUES (30, 1);
INSERT INTO mlm_products (id, category_id) VALUES (30, 30);
INSERT INTO mlm_reviews VALUES (500, 30, '2030-01-01'), (501, 30, '2030-01-02');
SELECT * FROM mlm_tops;
DELETE FROM mlm_categories WHERE id = 30;
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;

-- mode 'commit' at the bottom: the levels above move when it commits
CREATE FUNCTION mlm_set_mode(m text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- the same counters, dropped and declared again in another mode
    PERFORM denorm_drop_counter(id) FROM denorm_counters WHERE child = 'mlm_reviews'::regclass;
    PERFORM denorm_create_counter('mlm_products', 'last_review_at', 'mlm_reviews', 'product_id',
                                  'max', 'created_at', mode => m);
    PERFORM denorm_create_counter('mlm_products', 'first_review_at', 'mlm_reviews', 'product_id',
                                  'min', 'created_at', mode => m);
    PERFORM denorm_create_counter('mlm_products', 'review_count', 'mlm_reviews', 'product_id',
                                  mode => m);
END
$$;
SELECT mlm_set_mode('commit');
BEGIN;
INSERT INTO mlm_reviews VALUES (600, 1, '2031-01-01'), (601, 4, '2031-02-01');
DELETE FROM mlm_reviews WHERE id = 601;
UPDATE mlm_reviews SET product_id = 5 WHERE id = 600;
SELECT last_review_at AS top_before_commit FROM mlm_departments WHERE id = 2;
COMMIT;
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
BEGIN;
DELETE FROM mlm_reviews WHERE id = 600;
UPDATE mlm_reviews SET created_at = '2019-01-01'
 WHERE id = (SELECT id FROM mlm_reviews ORDER BY created_at DESC LIMIT 1);
COMMIT;
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
-- TRUNCATE of the bottom: every level empties
TRUNCATE mlm_reviews;
SELECT * FROM mlm_tops;
SELECT * FROM mlm_wrong;
INSERT INTO mlm_reviews
SELECT g, 1 + g % 8, '2024-01-01'::timestamptz + (g * 37 % 100) * interval '1 day'
  FROM generate_series(1, 60) g;
SELECT * FROM mlm_wrong;

-- a deferred count at the bottom under the max above it: the busiest
-- product moves when the deltas are flushed
SELECT denorm_drop_counter(id) FROM denorm_counters WHERE counter_column = 'review_count';
SELECT denorm_create_counter('mlm_products', 'review_count', 'mlm_reviews', 'product_id',
                             mode => 'deferred') IS NOT NULL AS deferred_count;
DELETE FROM mlm_reviews
 WHERE product_id = (SELECT id FROM mlm_products ORDER BY review_count DESC, id LIMIT 1);
SELECT count(*) > 0 AS stale_until_flushed FROM mlm_wrong;
SELECT denorm_flush() > 0 AS flushed;
SELECT * FROM mlm_wrong;

-- drift at every level, behind the triggers (a load with triggers off):
-- one reconcile run heals every level, the lowest first.  A heal is an
-- UPDATE of the next level's child, and an updated child's value leaves
-- and enters its parent's extreme: product 2's heal (2040 leaves category
-- 20) recomputes category 20's max, planted value and all, before the
-- categories are checked.  Category 10's heal changes its busiest, not its
-- latest review, so it leaves department 1 alone: the NULL planted there is
-- found at its own level, as category 10's busiest is at its.
SELECT mlm_set_mode('immediate');
SET session_replication_role = replica;
UPDATE mlm_products SET last_review_at = '2040-01-01' WHERE id = 2;
UPDATE mlm_products SET first_review_at = NULL WHERE id = 3;
UPDATE mlm_products SET review_count = review_count + 50 WHERE id = 4;
UPDATE mlm_categories SET last_review_at = '2000-01-01' WHERE id = 20;
UPDATE mlm_categories SET busiest = 99 WHERE id = 10;
UPDATE mlm_departments SET last_review_at = NULL WHERE id = 1;
RESET session_replication_role;
SELECT level, id, stored, actual FROM mlm_wrong ORDER BY 1, 2;
-- (terse: the alerts' DETAIL names run ids, which depend on the tests before)
\set VERBOSITY terse
SELECT d.counter_column, d.parent::text, r.rows_drifted, r.rows_healed, r.status
  FROM denorm_reconcile() WITH ORDINALITY r JOIN denorm_counters d ON d.id = r.counter_id
 ORDER BY r.ordinality;
\set VERBOSITY default
SELECT * FROM mlm_wrong;
SELECT counter_id, rows_drifted FROM denorm_reconcile() WHERE rows_drifted <> 0;
-- the drift log: each level's drift where reconcile found it (drift is
-- NULL where the difference is not a number)
SELECT l.counter_column, l.parent_table::text, l.parent_key,
       coalesce(l.stored_text, l.stored_value::text) AS stored,
       coalesce(l.actual_text, l.actual_value::text) AS actual, l.drift
  FROM denorm_drift_log l
 WHERE l.parent_table IN ('mlm_products'::regclass, 'mlm_categories'::regclass,
                          'mlm_departments'::regclass)
 ORDER BY l.log_id;

RESET timezone;
DROP VIEW mlm_wrong, mlm_tops;
DROP TABLE mlm_reviews, mlm_products, mlm_categories, mlm_departments;
DROP FUNCTION mlm_set_mode(text);
SELECT setval('denorm_counters_id_seq', :ids_last, :'ids_called') IS NOT NULL AS ids_put_back;
