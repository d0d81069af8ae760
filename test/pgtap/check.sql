-- denorm_check as a test helper: inside a test transaction it sees the
-- transaction's own writes in every mode, reports a planted drift exactly
-- (stored value with pending deltas, recomputed value, difference), and
-- records and heals nothing; the README's pgTAP example runs as written.
-- Drifted copies are reported too, by the child row's key.
BEGIN;
SELECT plan(25);
SET LOCAL TimeZone = 'UTC';

SELECT has_function('denorm_check', ARRAY['regclass', 'name'], 'denorm_check(regclass, name) exists');
SELECT is(pg_get_function_arguments('denorm_check(regclass,name)'::regprocedure),
          'parent regclass DEFAULT NULL::regclass, counter_column name DEFAULT NULL::name',
          'denorm_check takes a table and a column, both optional');
SELECT is(pg_get_function_result('denorm_check(regclass,name)'::regprocedure),
          'TABLE(counter_id integer, parent regclass, counter_column name, parent_key text, '
          'stored text, actual text, drift numeric)',
          'denorm_check returns one row per drifted parent row');
SELECT function_privs_are('denorm_check', ARRAY['regclass', 'name'], 'public', ARRAY[]::name[],
                          'denorm_check is for administrators, as denorm_reconcile is');

CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0,
                     lines int NOT NULL DEFAULT 0, views int NOT NULL DEFAULT 0,
                     last_line_at timestamptz);
CREATE TABLE order_lines (id int PRIMARY KEY, order_id int REFERENCES orders,
                          price numeric NOT NULL, added_at timestamptz NOT NULL);
CREATE INDEX ON order_lines (order_id, added_at);
INSERT INTO orders (id) SELECT g FROM generate_series(1, 20) g;
INSERT INTO order_lines SELECT g, g % 20 + 1, g * 1.5, '2024-01-01'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 100) g;
SELECT denorm_create_counter('orders', 'total', 'order_lines', 'order_id', 'sum', 'price') AS total_id \gset
SELECT denorm_create_counter('orders', 'lines', 'order_lines', 'order_id', mode => 'commit') AS lines_id \gset
SELECT denorm_create_counter('orders', 'views', 'order_lines', 'order_id', mode => 'deferred') AS views_id \gset
SELECT denorm_create_counter('orders', 'last_line_at', 'order_lines', 'order_id', 'max', 'added_at') AS last_id \gset

CREATE TEMP TABLE tap_check_history AS
SELECT (SELECT count(*) FROM denorm_reconcile_runs) AS runs,
       (SELECT count(*) FROM denorm_reconcile_checks) AS checks,
       (SELECT count(*) FROM denorm_drift_log) AS drift_rows;

-- the README's example
SELECT is_empty($$SELECT * FROM denorm_check('orders')$$, 'order totals are exact');

-- the test's own writes, not yet applied (mode 'commit') or folded
-- (mode 'deferred'), are not drift
INSERT INTO order_lines VALUES (101, 3, 10, '2025-01-01'), (102, 3, 20, '2025-01-02');
DELETE FROM order_lines WHERE id = 5;
SELECT cmp_ok((SELECT count(*) FROM denorm_pending WHERE counter_id = :views_id), '>', 0::bigint,
              'the deferred counter has pending deltas');
SELECT is_empty($$SELECT * FROM denorm_check('orders')$$,
                'the transaction''s own writes in every mode are not drift');
SELECT is_empty($$SELECT * FROM denorm_check()$$, 'no counter drifted');
SELECT is_empty($$SELECT * FROM denorm_check('orders', 'views')$$, 'the deferred counter is exact');

-- plant drift in each counter, of parent rows in different batches
SET LOCAL denorm.counter_writes = 'allow';
UPDATE orders SET total = total + 2.5, lines = lines - 1, views = views + 4,
                  last_line_at = '2000-01-01' WHERE id = 7;
UPDATE orders SET total = total - 1 WHERE id = 19;
RESET denorm.counter_writes;
SET LOCAL denorm.reconcile_batch_size = 3;
SELECT results_eq(
    $$SELECT counter_id, parent, counter_column, parent_key, stored, actual, drift
        FROM denorm_check('orders') ORDER BY counter_id, parent_key::int$$,
    format($$VALUES (%1$s, 'orders'::regclass, 'total'::name, '7', '%5$s', '%6$s', -2.5),
                    (%1$s, 'orders'::regclass, 'total'::name, '19', '%7$s', '%8$s', 1),
                    (%2$s, 'orders'::regclass, 'lines'::name, '7', '4', '5', 1),
                    (%3$s, 'orders'::regclass, 'views'::name, '7', '9', '5', -4),
                    (%4$s, 'orders'::regclass, 'last_line_at'::name, '7',
                     '2000-01-01 00:00:00+00', '%9$s', NULL::numeric)$$,
           :total_id, :lines_id, :views_id, :last_id,
           (SELECT sum(price) + 2.5 FROM order_lines WHERE order_id = 7),
           (SELECT sum(price) FROM order_lines WHERE order_id = 7),
           (SELECT sum(price) - 1 FROM order_lines WHERE order_id = 19),
           (SELECT sum(price) FROM order_lines WHERE order_id = 19),
           (SELECT max(added_at) FROM order_lines WHERE order_id = 7)),
    'denorm_check reports each planted drift: stored (pending deltas included), recomputed, difference (NULL for a timestamp)');
SELECT results_eq(
    $$SELECT parent_key, drift FROM denorm_check('orders', 'total') ORDER BY parent_key::int$$,
    $$VALUES ('7', -2.5), ('19', 1::numeric)$$,
    'denorm_check(table, column) reports that counter only');
SELECT is((SELECT count(*) FROM denorm_check()), 5::bigint, 'denorm_check() reports every counter');
SELECT isnt_empty($$SELECT * FROM denorm_check('orders')$$,
                  'an is_empty assertion on denorm_check would fail on this drift');

-- nothing recorded, nothing healed
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM denorm_reconcile_runs), (SELECT count(*) FROM denorm_reconcile_checks),
             (SELECT count(*) FROM denorm_drift_log)$$,
    $$SELECT runs, checks, drift_rows FROM tap_check_history$$,
    'denorm_check records no run, check or drift row');
SELECT is((SELECT last_line_at FROM orders WHERE id = 7), '2000-01-01'::timestamptz,
          'denorm_check heals nothing');
SELECT is((SELECT count(*) FROM denorm_check('orders')), 5::bigint, 'the drift is still there');

-- a reconcile finds what denorm_check found
SELECT is((SELECT sum(rows_drifted) FROM denorm_reconcile('orders', 'total', heal => false)),
          2::numeric, 'a dry-run reconcile finds the same rows');

-- mistakes are told apart
SELECT throws_ok($$SELECT * FROM denorm_check('orders', 'nope')$$, '42703',
                 'column "nope" of table "public.orders" does not exist',
                 'an unknown column is an error');
SELECT throws_ok($$SELECT * FROM denorm_check('orders', 'id')$$, '42704',
                 'column "id" of table "public.orders" has no denorm counter',
                 'a column without a counter is an error');
SELECT throws_ok($$SELECT * FROM denorm_check('order_lines')$$, '42704',
                 'table "public.order_lines" has no denorm counters',
                 'a table without counters is an error');
SELECT throws_ok($$SELECT * FROM denorm_check(NULL, 'total')$$, '22004',
                 'parent cannot be null when counter_column is given',
                 'a column without its table is an error');

-- copies: a wrong copy is reported by its child row's key, with the
-- stored value and the one it should hold (drift NULL)
CREATE TABLE buyers (id int PRIMARY KEY, name text);
INSERT INTO buyers VALUES (1, 'Ann'), (2, 'Bob');
ALTER TABLE orders ADD COLUMN buyer_id int, ADD COLUMN buyer_name text;
UPDATE orders SET buyer_id = id % 2 + 1;
CREATE INDEX ON orders (buyer_id);
SELECT denorm_create_copy('orders', 'buyer_name', 'buyers', 'name', 'buyer_id') AS copy_id \gset
SELECT is_empty($$SELECT * FROM denorm_check('orders', 'buyer_name')$$, 'a fresh copy is exact');
SET LOCAL session_replication_role = replica;
UPDATE orders SET buyer_name = 'Zed' WHERE id = 4;
SET LOCAL session_replication_role = origin;
SELECT results_eq(
    $$SELECT counter_id, parent, counter_column, parent_key, stored, actual, drift
        FROM denorm_check('orders', 'buyer_name')$$,
    format($$VALUES (%s, 'orders'::regclass, 'buyer_name'::name, '4', 'Zed', 'Ann', NULL::numeric)$$, :copy_id),
    'denorm_check(table, copy column) reports the wrong copy');
SELECT is((SELECT count(*) FROM denorm_check() WHERE counter_id = :copy_id), 1::bigint,
          'denorm_check() reports drifted copies with the counters');
SELECT is((SELECT count(*) FROM denorm_check('orders')), 6::bigint,
          'denorm_check(table) reports the copies kept in the table too');

SELECT * FROM finish();
ROLLBACK;
