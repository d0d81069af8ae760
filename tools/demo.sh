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
psql -X -d denorm_demo -v ON_ERROR_STOP=1 --echo-queries <<'SQL'
CREATE EXTENSION denorm;

-- A shop: products with a review count, a rating sum and an average.
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

-- Declare the caches: only published reviews count.
SELECT denorm_create_counter('products', 'review_count', 'reviews', 'product_id',
                             filter => $$status = 'published'$$) AS review_count_id;
SELECT denorm_create_counter('products', 'rating_sum', 'reviews', 'product_id',
                             aggregate => 'sum', value_column => 'rating',
                             filter => $$status = 'published'$$) AS rating_sum_id;

-- Write as usual: many rows, moves, status flips, deletes.
INSERT INTO reviews (product_id, rating) VALUES (1, 5), (1, 4), (2, 2), (3, 5), (3, 3), (3, 4);
UPDATE reviews SET product_id = 2 WHERE id = 2;      -- moved to another product
UPDATE reviews SET status = 'hidden' WHERE id = 4;   -- no longer counted
DELETE FROM reviews WHERE id = 5;                    -- the DELETE case hand-written triggers forget
SELECT id, name, review_count, rating_sum, avg_rating FROM products ORDER BY id;

-- Drift happens behind the triggers' back: a bulk load with triggers off.
SET session_replication_role = replica;
INSERT INTO reviews (product_id, rating) VALUES (1, 1), (1, 1);
RESET session_replication_role;

-- Nightly (pg_cron) or by hand: find, log and heal it.
SELECT * FROM denorm_reconcile();
SELECT counter_column, parent_key, stored_value, actual_value, drift, healed FROM denorm_drift_log;
SELECT id, name, review_count, rating_sum, avg_rating FROM products ORDER BY id;
SELECT counter_id, parent, counter_column, triggers_ok, last_rows_drifted FROM denorm_status;
SQL
