#!/usr/bin/env bash
# denorm demo: as root on a fresh Debian 12 machine, installs what is
# needed, builds denorm, starts a throwaway cluster and walks through the
# main job: counters and sums kept exact through inserts, updates and
# deletes, then drift made behind the triggers' back, found and healed.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
denorm_need_root
denorm_install_packages
denorm_build_install
denorm_cluster_start postgres
psql -X -q -d postgres -c "CREATE DATABASE denorm_demo"
psql -X -q -d denorm_demo -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
CREATE EXTENSION denorm;
\echo
\echo '== 1. A shop: products keep a review count, a rating sum and an average of published reviews'
CREATE TABLE products (
    id           int PRIMARY KEY,
    name         text NOT NULL,
    review_count int NOT NULL DEFAULT 0,
    rating_sum   int NOT NULL DEFAULT 0,
    avg_rating   numeric GENERATED ALWAYS AS (round(rating_sum::numeric / NULLIF(review_count, 0), 2)) STORED
);
CREATE TABLE reviews (
    id         serial PRIMARY KEY,
    product_id int REFERENCES products ON DELETE CASCADE,
    rating     int NOT NULL CHECK (rating BETWEEN 1 AND 5),
    status     text NOT NULL DEFAULT 'published'
);
INSERT INTO products (id, name) VALUES (1, 'kettle'), (2, 'toaster'), (3, 'teapot');
\echo '   Declaring the two caches (only published reviews count):'
\echo '     denorm_create_counter(products, review_count, reviews, product_id, filter => status = published)'
\echo '     denorm_create_counter(products, rating_sum, reviews, product_id, sum, rating, filter => ...)'
SELECT denorm_create_counter('products', 'review_count', 'reviews', 'product_id',
                             filter => $$status = 'published'$$) AS review_count_id \gset
SELECT denorm_create_counter('products', 'rating_sum', 'reviews', 'product_id',
                             aggregate => 'sum', value_column => 'rating',
                             filter => $$status = 'published'$$) AS rating_sum_id \gset
\echo '   Before any review:'
SELECT id, name, review_count, rating_sum, avg_rating FROM products ORDER BY id;

\echo
\echo '== 2. Writing as usual: six reviews, one moved to another product, one hidden, one deleted'
INSERT INTO reviews (product_id, rating) VALUES (1, 5), (1, 4), (2, 2), (3, 5), (3, 3), (3, 4);
UPDATE reviews SET product_id = 2 WHERE id = 2;
UPDATE reviews SET status = 'hidden' WHERE id = 4;
DELETE FROM reviews WHERE id = 5;
\echo '   After (no trigger written by hand, no COUNT(*) on the read path):'
SELECT id, name, review_count, rating_sum, avg_rating FROM products ORDER BY id;
\echo '   The same figures recomputed from the reviews, for comparison:'
SELECT p.id, count(r.id) AS review_count, coalesce(sum(r.rating), 0) AS rating_sum
  FROM products p LEFT JOIN reviews r ON r.product_id = p.id AND r.status = 'published'
 GROUP BY p.id ORDER BY p.id;

\echo
\echo '== 3. Drift behind the triggers: a bulk load with session_replication_role = replica'
SET session_replication_role = replica;
INSERT INTO reviews (product_id, rating) VALUES (1, 1), (1, 1);
RESET session_replication_role;
\echo '   The kettle now has 2 more published reviews than its counters say:'
SELECT id, name, review_count, rating_sum, avg_rating FROM products WHERE id = 1;

\echo
\echo '== 4. The nightly reconcile (pg_cron runs it; here by hand) finds, logs and heals it'
SELECT counter_id, status, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile();
\echo '   What it logged:'
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed FROM denorm_drift_log ORDER BY log_id;
\echo '   After the heal:'
SELECT id, name, review_count, rating_sum, avg_rating FROM products ORDER BY id;

\echo
\echo '== Summary'
SELECT format('%s counters, triggers %s; the last reconcile found %s drifted rows and healed them; a second one finds %s.',
              count(*), CASE WHEN bool_and(triggers_ok) THEN 'all in place' ELSE 'NOT all in place' END,
              sum(last_rows_drifted),
              (SELECT sum(rows_drifted) FROM denorm_reconcile())) AS summary
  FROM denorm_status;
SQL
