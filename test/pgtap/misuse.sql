-- The main misuses of the API and the SQLSTATE and message each must
-- raise, and that none of them leaves a counter, a trigger or a changed
-- value behind.  (test/sql/errors_*.sql covers every case with its full
-- output; this file pins the codes callers can catch.)
BEGIN;
SELECT plan(54);

CREATE TABLE tap_mu_parent (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL DEFAULT 0,
                            total bigint NOT NULL DEFAULT 0, label text,
                            doubled int GENERATED ALWAYS AS (n * 2) STORED);
CREATE TABLE tap_mu_child (id int PRIMARY KEY, parent_id int, parent_ref text, qty int,
                           price numeric, status text NOT NULL DEFAULT 'ok');
CREATE TABLE tap_mu_nopk (id int, n int NOT NULL DEFAULT 0);
CREATE VIEW tap_mu_view AS SELECT * FROM tap_mu_parent;
INSERT INTO tap_mu_parent (id, name, n, total) VALUES (1, 'a', 7, 7), (2, 'a', 7, 7);
INSERT INTO tap_mu_child VALUES (1, 1, '1', 3, 1.5, 'ok'), (2, 2, '2', 4, 2.5, 'void');

-- every call below differs from this valid one in one argument
CREATE FUNCTION pg_temp.tap_mu_create(args text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    id integer;
BEGIN
    EXECUTE format('SELECT denorm_create_counter(%s)', args) INTO id;
    RETURN id;
END
$$;

------------------------------------------------------------------------
-- denorm_create_counter
------------------------------------------------------------------------
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_nope', 'n', 'tap_mu_child', 'parent_id')$$,
                 '42P01', 'relation "tap_mu_nope" does not exist', 'unknown table');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_view', 'n', 'tap_mu_child', 'parent_id')$$,
                 '42809', '"public.tap_mu_view" is not a table', 'a view as parent');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_view', 'parent_id')$$,
                 '42809', '"public.tap_mu_view" is not a table', 'a view as child');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'nope', 'tap_mu_child', 'parent_id')$$,
                 '42703', 'column "nope" of table "public.tap_mu_parent" does not exist',
                 'unknown counter column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'nope')$$,
                 '42703', 'column "nope" of table "public.tap_mu_child" does not exist',
                 'unknown foreign key column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'total', 'tap_mu_child', 'parent_id',
                                                aggregate => 'sum', value_column => 'nope')$$,
                 '42703', 'column "nope" of table "public.tap_mu_child" does not exist',
                 'unknown value column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_id',
                                                parent_key => 'nope')$$,
                 '42703', 'column "nope" of table "public.tap_mu_parent" does not exist',
                 'unknown parent key');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'label', 'tap_mu_child', 'parent_id')$$,
                 '42804', 'counter column "label" of table "public.tap_mu_parent" must be an integer or numeric type',
                 'text counter column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'total', 'tap_mu_child', 'parent_id',
                                                aggregate => 'sum', value_column => 'status')$$,
                 '42804', 'value column "status" of table "public.tap_mu_child" must be an integer or numeric type',
                 'text value column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'total', 'tap_mu_child', 'parent_id',
                                                aggregate => 'sum', value_column => 'price')$$,
                 '42804', 'counter column "total" of table "public.tap_mu_parent" must be numeric to hold a sum of numeric column "price"',
                 'numeric sum into an integer counter');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_ref')$$,
                 '42804', 'foreign key column "parent_ref" of type text cannot be compared with parent key column "id" of type integer',
                 'text foreign key against an integer key');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_ref',
                                                parent_key => 'name')$$,
                 '42830', 'parent key column "name" of table "public.tap_mu_parent" is not unique',
                 'parent key not unique');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_nopk', 'n', 'tap_mu_child', 'parent_id')$$,
                 '42830', 'table "public.tap_mu_nopk" has no single-column primary key',
                 'no primary key and no parent_key');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'id', 'tap_mu_child', 'parent_id')$$,
                 '22023', 'counter column "id" of table "public.tap_mu_parent" cannot be its parent key',
                 'counter column is the parent key');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'doubled', 'tap_mu_child', 'parent_id')$$,
                 '42611', 'counter column "doubled" of table "public.tap_mu_parent" is a generated column',
                 'generated counter column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'total', 'tap_mu_child', 'parent_id',
                                                aggregate => 'sum')$$,
                 '22023', 'a sum counter needs a value_column', 'sum without value_column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_id',
                                                value_column => 'qty')$$,
                 '22023', 'a count counter takes no value_column', 'count with value_column');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_id',
                                                aggregate => 'avg')$$,
                 '22023', 'unknown aggregate "avg"', 'unknown aggregate');
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_id',
                                                mode => 'lazy')$$,
                 '22023', 'unknown counter mode "lazy"', 'unknown mode');

-- NULL for each required argument
SELECT throws_ok(format('SELECT pg_temp.tap_mu_create(%L)', args), '22004',
                 format('argument "%s" must not be null', arg), format('NULL %s', arg))
  FROM (VALUES
    ('parent', $$NULL, 'n', 'tap_mu_child', 'parent_id'$$),
    ('counter_column', $$'tap_mu_parent', NULL, 'tap_mu_child', 'parent_id'$$),
    ('child', $$'tap_mu_parent', 'n', NULL, 'parent_id'$$),
    ('foreign_key', $$'tap_mu_parent', 'n', 'tap_mu_child', NULL$$),
    ('aggregate', $$'tap_mu_parent', 'n', 'tap_mu_child', 'parent_id', aggregate => NULL$$),
    ('mode', $$'tap_mu_parent', 'n', 'tap_mu_child', 'parent_id', mode => NULL$$)
  ) AS v(arg, args);

-- filters
SELECT throws_ok(format('SELECT pg_temp.tap_mu_create(%L)',
                        format('%L, %L, %L, %L, filter => %L',
                               'tap_mu_parent', 'n', 'tap_mu_child', 'parent_id', filter)),
                 code, msg, format('filter %s', filter))
  FROM (VALUES
    ('nope = 1', '42703', 'column "nope" does not exist'),
    ('status =', '42601', 'syntax error at end of input'),
    ('status IN (SELECT ''ok'')', '0A000', 'cannot use subquery in a counter filter'),
    ('count(*) > 0', '42803', 'aggregate functions are not allowed in WHERE'),
    ('random() < 0.5', '42P17', 'functions in a counter filter must be marked IMMUTABLE'),
    ('now() > ''2020-01-01''', '42P17', 'functions in a counter filter must be marked IMMUTABLE'),
    ('generate_series(1, qty) > 2', '0A000', 'set-returning functions are not allowed in WHERE'),
    ('qty', '42804', 'argument of counter filter must be type boolean, not type integer'),
    ('ctid IS NOT NULL', '42P17', 'cannot use system column in a counter filter'),
    ('true); DROP TABLE tap_mu_child; --', '42601', 'syntax error at or near ")"'),
    ('true) FROM pg_class WHERE (true', '42601', 'syntax error at or near ")"'),
    ('true, false', '42601', 'counter filter must be a single expression')
  ) AS v(filter, code, msg);

SELECT is((SELECT count(*) FROM denorm_counters WHERE parent::text LIKE 'tap\_mu%'),
          0::bigint, 'no failed call registered a counter');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'tap_mu_child'::regclass
                                              AND tgname LIKE 'denorm%'),
          0::bigint, 'no failed call left a trigger');
SELECT results_eq('SELECT id, n, total FROM tap_mu_parent ORDER BY id',
                  $$VALUES (1, 7, 7::bigint), (2, 7, 7)$$, 'no failed call touched a counter column');

-- the same counter twice
SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_id') AS n_id \gset
SELECT throws_ok($$SELECT denorm_create_counter('tap_mu_parent', 'n', 'tap_mu_child', 'parent_id')$$,
                 '42710', 'column "n" of table "public.tap_mu_parent" already has a denorm counter',
                 'a second counter on the same column');

------------------------------------------------------------------------
-- The other functions
------------------------------------------------------------------------
SELECT throws_ok('SELECT denorm_drop_counter(-1)', '42704', 'denorm counter -1 does not exist',
                 'drop of an unknown counter id');
SELECT throws_ok($$SELECT denorm_drop_counter('tap_mu_parent', 'total')$$, '42704',
                 'column "total" of table "public.tap_mu_parent" has no denorm counter',
                 'drop of a column without a counter');
SELECT throws_ok('SELECT * FROM denorm_reconcile(-1)', '42704', 'denorm counter -1 does not exist',
                 'reconcile of an unknown counter id');
SELECT throws_ok(format('SELECT * FROM denorm_reconcile(%s, NULL)', :n_id), '22004',
                 'argument "heal" must not be null', 'reconcile with NULL heal');
SELECT throws_ok(format('SELECT * FROM denorm_reconcile_range(%s, NULL, NULL)', :n_id), '22004',
                 'key_from and key_to cannot both be null', 'reconcile_range without a range');
SELECT throws_ok('SELECT denorm_flush(-1)', '42704', 'denorm counter -1 does not exist',
                 'flush of an unknown counter id');
SELECT throws_ok('SELECT denorm_value(-1, 1)', '42704', 'denorm counter -1 does not exist',
                 'value of an unknown counter id');
-- the message names the database, which the harness chooses
SELECT throws_ok('SELECT denorm_schedule_reconcile()', '55000', NULL,
                 'scheduling without pg_cron');
SELECT throws_ok('SELECT denorm_row_trigger()', '39P01',
                 'function "denorm_row_trigger" must be fired by a trigger',
                 'the row trigger function called directly');
SELECT throws_ok('SET denorm.reconcile_batch_size = 0', '22023',
                 '0 is outside the valid range for parameter "denorm.reconcile_batch_size" (1 .. 10000000)',
                 'batch size 0');
SELECT throws_ok('SET denorm.drift_alert_ratio = 2', '22023',
                 '2 is outside the valid range for parameter "denorm.drift_alert_ratio" (0 .. 1)',
                 'drift alert ratio above 1');
-- the message names the counter id
SELECT throws_ok('ALTER TABLE tap_mu_child DROP COLUMN parent_id', '2BP01', NULL,
                 'dropping a column a counter uses');

SELECT results_eq('SELECT id, n FROM tap_mu_parent ORDER BY id', $$VALUES (1, 1), (2, 1)$$,
                  'the counter is intact after the misuses');

SELECT * FROM finish();
ROLLBACK;
