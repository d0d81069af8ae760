-- A counter's life as the API promises it: creating it registers it,
-- installs its three triggers (statement and TRUNCATE ones on every
-- partition, new partitions included) and backfills it; writes keep it
-- equal to a recompute; dropping it removes triggers and registry row and
-- leaves the column's data.
BEGIN;
SELECT plan(37);

CREATE TABLE tap_lc_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
                            total numeric NOT NULL DEFAULT 0, pn int NOT NULL DEFAULT 0);
CREATE TABLE tap_lc_child (id int PRIMARY KEY, parent_id int, amount numeric,
                           status text NOT NULL DEFAULT 'ok');
INSERT INTO tap_lc_parent (id) VALUES (1), (2), (3);
INSERT INTO tap_lc_child VALUES (1, 1, 10.50, 'ok'), (2, 1, 4.50, 'void'), (3, 2, 99, 'ok'),
                                (4, NULL, 7, 'ok'), (5, 2, NULL, 'ok');

------------------------------------------------------------------------
-- Creating: registry row, triggers, backfill
------------------------------------------------------------------------
SELECT denorm_create_counter('tap_lc_parent', 'n', 'tap_lc_child', 'parent_id',
                             filter => 'status = ''ok''') AS n_id \gset
SELECT denorm_create_counter('tap_lc_parent', 'total', 'tap_lc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'amount') AS total_id \gset

SELECT results_eq(
    $$SELECT parent, counter_column, child, foreign_key, parent_key, aggregate,
             value_column, filter, mode
        FROM denorm_counters WHERE parent = 'tap_lc_parent'::regclass ORDER BY counter_column$$,
    $$VALUES ('tap_lc_parent'::regclass, 'n'::name, 'tap_lc_child'::regclass, 'parent_id'::name,
              'id'::name, 'count'::text, NULL::name, '(status = ''ok''::text)'::text, 'immediate'::text),
             ('tap_lc_parent'::regclass, 'total'::name, 'tap_lc_child'::regclass, 'parent_id'::name,
              'id'::name, 'sum'::text, 'amount'::name, NULL::text, 'immediate'::text)$$,
    'both counters are registered with their canonical filter and the primary key as parent key');

SELECT has_trigger('tap_lc_child', format('denorm_%s', kind)::name,
                   format('the child has its %s trigger', kind))
  FROM unnest(ARRAY['row', 'stmt', 'truncate']) AS kind;
SELECT trigger_is('tap_lc_child', format('denorm_%s', kind)::name, func::name,
                  format('%s trigger runs %s', kind, func))
  FROM (VALUES ('row', 'denorm_row_trigger'), ('stmt', 'denorm_stmt_trigger'),
               ('truncate', 'denorm_truncate_trigger')) AS v(kind, func);
SELECT is((SELECT count(*)::int FROM pg_trigger
            WHERE tgrelid = 'tap_lc_child'::regclass AND tgname LIKE 'denorm%'), 3,
          'one set of child triggers serves both counters');
SELECT has_trigger('tap_lc_parent', format('denorm_%s_key', id)::name,
                   format('counter %s has its key trigger on the parent', counter_column))
  FROM denorm_counters WHERE parent = 'tap_lc_parent'::regclass ORDER BY id;

SELECT results_eq(
    'SELECT id, n, total FROM tap_lc_parent ORDER BY id',
    $$VALUES (1, 1, 15.00), (2, 2, 99), (3, 0, 0)$$,
    'backfill counted only filtered rows and summed non-NULL values with a known parent');

SELECT results_eq(
    $$SELECT counter_id, triggers_ok, trigger_problems FROM denorm_status
       WHERE parent = 'tap_lc_parent'::regclass ORDER BY counter_column$$,
    format('VALUES (%s, true, NULL::text), (%s, true, NULL::text)', :n_id, :total_id),
    'denorm_status reports both counters as maintained');

------------------------------------------------------------------------
-- Writes keep it exact
------------------------------------------------------------------------
INSERT INTO tap_lc_child VALUES (6, 3, 1, 'ok'), (7, 3, 2, 'void');
UPDATE tap_lc_child SET status = 'ok' WHERE id = 2;
UPDATE tap_lc_child SET parent_id = 3 WHERE id = 3;
UPDATE tap_lc_child SET amount = 5 WHERE id = 5;
DELETE FROM tap_lc_child WHERE id = 1;
UPDATE tap_lc_child SET parent_id = 1 WHERE id = 4;

SELECT results_eq(
    'SELECT id, n, total FROM tap_lc_parent ORDER BY id',
    $$VALUES (1, 2, 11.50), (2, 1, 5), (3, 2, 102)$$,
    'stored values after inserts, updates of filter, key and value, and deletes');
SELECT results_eq(
    'SELECT id, n, total FROM tap_lc_parent ORDER BY id',
    $$SELECT p.id,
             (SELECT count(*)::int FROM tap_lc_child c WHERE c.parent_id = p.id AND c.status = 'ok'),
             (SELECT coalesce(sum(c.amount), 0) FROM tap_lc_child c WHERE c.parent_id = p.id)
        FROM tap_lc_parent p ORDER BY p.id$$,
    'stored values equal a full recompute');

-- TRUNCATE recomputes
TRUNCATE tap_lc_child;
SELECT results_eq(
    'SELECT id, n, total FROM tap_lc_parent ORDER BY id',
    $$VALUES (1, 0, 0::numeric), (2, 0, 0), (3, 0, 0)$$,
    'TRUNCATE of the child sets every counter back to zero');

-- a clean reconcile finds nothing
SELECT results_eq(
    format('SELECT rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(%s)', :n_id),
    $$VALUES (3::bigint, 0::bigint, 0::bigint)$$,
    'reconcile checks every parent row and finds no drift');

------------------------------------------------------------------------
-- Dropping: triggers and registry row go, data stays
------------------------------------------------------------------------
INSERT INTO tap_lc_child VALUES (1, 1, 3, 'ok');
SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter('tap_lc_parent', 'total');

SELECT hasnt_trigger('tap_lc_child', format('denorm_%s_%s', id, kind)::name,
                     format('%s trigger of the %s counter is gone', kind, col))
  FROM (VALUES (:n_id, 'count'), (:total_id, 'sum')) AS v(id, col),
       unnest(ARRAY['row', 'stmt', 'truncate']) AS kind;
SELECT is((SELECT count(*) FROM denorm_counters WHERE parent = 'tap_lc_parent'::regclass),
          0::bigint, 'no registry rows remain');
SELECT results_eq('SELECT id, n, total FROM tap_lc_parent ORDER BY id',
                  $$VALUES (1, 1, 3::numeric), (2, 0, 0), (3, 0, 0)$$,
                  'the columns keep their last values');
INSERT INTO tap_lc_child VALUES (2, 1, 4, 'ok');
SELECT results_eq('SELECT id, n, total FROM tap_lc_parent ORDER BY id',
                  $$VALUES (1, 1, 3::numeric), (2, 0, 0), (3, 0, 0)$$,
                  'and are no longer maintained');

------------------------------------------------------------------------
-- Partitioned child: triggers on every partition, new ones included
------------------------------------------------------------------------
CREATE TABLE tap_lc_pchild (id int, parent_id int) PARTITION BY RANGE (id);
CREATE TABLE tap_lc_pchild_1 PARTITION OF tap_lc_pchild FOR VALUES FROM (0) TO (100);
CREATE TABLE tap_lc_pchild_2 PARTITION OF tap_lc_pchild FOR VALUES FROM (100) TO (200);
INSERT INTO tap_lc_pchild VALUES (1, 1), (150, 1), (2, 2);
SELECT denorm_create_counter('tap_lc_parent', 'pn', 'tap_lc_pchild', 'parent_id') AS pn_id \gset
CREATE TABLE tap_lc_pchild_3 PARTITION OF tap_lc_pchild FOR VALUES FROM (200) TO (300);

SELECT has_trigger(tbl::name, format('denorm_%s', kind)::name,
                   format('%s has the %s trigger', tbl, kind))
  FROM unnest(ARRAY['tap_lc_pchild', 'tap_lc_pchild_1', 'tap_lc_pchild_2',
                    'tap_lc_pchild_3']) AS tbl,
       unnest(ARRAY['stmt', 'truncate']) AS kind;
SELECT has_trigger('tap_lc_pchild', 'denorm_row'::name,
                   'the partitioned child has the row trigger');

INSERT INTO tap_lc_pchild VALUES (250, 3), (151, 2);
DELETE FROM tap_lc_pchild WHERE id = 1;
UPDATE tap_lc_pchild SET id = 260 WHERE id = 2;
TRUNCATE tap_lc_pchild_2;
SELECT results_eq(
    'SELECT id, pn FROM tap_lc_parent ORDER BY id',
    $$SELECT p.id, (SELECT count(*)::int FROM tap_lc_pchild c WHERE c.parent_id = p.id)
        FROM tap_lc_parent p ORDER BY p.id$$,
    'writes across partitions, a row moving partition and TRUNCATE of one partition keep it exact');
SELECT results_eq('SELECT id, pn FROM tap_lc_parent ORDER BY id',
                  $$VALUES (1, 0), (2, 1), (3, 1)$$, 'partitioned counts');

SELECT denorm_drop_counter(:pn_id);
SELECT is((SELECT count(*) FROM pg_trigger
            WHERE tgname LIKE 'denorm%' AND tgrelid::regclass::text LIKE 'tap\_lc\_pchild%'),
          0::bigint, 'dropping removes the triggers from the child and every partition');

SELECT * FROM finish();
ROLLBACK;
