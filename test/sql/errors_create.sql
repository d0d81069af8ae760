-- Every way to misuse denorm_create_counter, each with its exact message
-- and SQLSTATE (psql's :SQLSTATE is 00000 after a statement that
-- succeeded, so an unexpected success shows up here too).  Afterwards
-- nothing may be left behind, and the corrected call must work.
--
-- PL/pgSQL CONTEXT lines carry line numbers of the install script, which
-- move with every edit of it; they are hidden so that this file pins the
-- messages, not the script's layout.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE errc_parent (
    id       int PRIMARY KEY,
    name     text NOT NULL,
    n        int NOT NULL DEFAULT 0,
    total    numeric NOT NULL DEFAULT 0,
    qty_sum  bigint NOT NULL DEFAULT 0,
    label    text,
    ratio    double precision,
    doubled  int GENERATED ALWAYS AS (n * 2) STORED
);
CREATE TABLE errc_child (
    id         int PRIMARY KEY,
    parent_id  int REFERENCES errc_parent,
    parent_ref text,
    qty        int,
    price      numeric,
    note       text,
    status     text NOT NULL DEFAULT 'ok'
);
CREATE TABLE errc_nopk (id int, n int NOT NULL DEFAULT 0);
CREATE TABLE errc_twokey (a int, b int, n int NOT NULL DEFAULT 0, PRIMARY KEY (a, b));
CREATE VIEW errc_view AS SELECT * FROM errc_parent;
CREATE SEQUENCE errc_seq;
-- a table the injection attempts below would like to drop
CREATE TABLE errc_victim (id int);
INSERT INTO errc_victim VALUES (1);

-- Counters start at a sentinel no backfill would produce, so any write a
-- failed call left behind would show.
INSERT INTO errc_parent (id, name, n, total, qty_sum)
VALUES (1, 'one', 100, 100, 100), (2, 'two', 100, 100, 100), (3, 'one', 100, 100, 100);
INSERT INTO errc_child (id, parent_id, parent_ref, qty, price, note, status) VALUES
    (1, 1, '1', 2, 1.50, 'a', 'ok'),
    (2, 1, '1', 3, 2.25, 'b', 'ok'),
    (3, 1, '1', 4, 10,   'c', 'void'),
    (4, 2, '2', 5, NULL, 'd', 'ok'),
    (5, NULL, NULL, 6, 7, 'e', 'ok');

------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------
-- nonexistent table: the regclass cast fails before denorm runs
SELECT denorm_create_counter('errc_nope', 'n', 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_nope', 'parent_id');
\echo :SQLSTATE
-- a view or a sequence as parent or child
SELECT denorm_create_counter('errc_view', 'n', 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_view', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_seq', 'last_value', 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_seq', 'last_value');
\echo :SQLSTATE

------------------------------------------------------------------------
-- Columns
------------------------------------------------------------------------
-- nonexistent counter column, foreign key, value column, parent key
SELECT denorm_create_counter('errc_parent', 'nope', 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'nope');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'total', 'errc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'nope');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             parent_key => 'nope');
\echo :SQLSTATE
-- counter column of a non-integer, non-numeric type
SELECT denorm_create_counter('errc_parent', 'label', 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'ratio', 'errc_child', 'parent_id');
\echo :SQLSTATE
-- value column of type text
SELECT denorm_create_counter('errc_parent', 'total', 'errc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'note');
\echo :SQLSTATE
-- a numeric sum would not fit an integer counter
SELECT denorm_create_counter('errc_parent', 'qty_sum', 'errc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'price');
\echo :SQLSTATE
-- a text foreign key cannot be compared with an integer key
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_ref');
\echo :SQLSTATE
-- a parent key that is not unique
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_ref',
                             parent_key => 'name');
\echo :SQLSTATE
-- no primary key, and no parent_key given
SELECT denorm_create_counter('errc_nopk', 'n', 'errc_child', 'parent_id');
\echo :SQLSTATE
-- a composite primary key is no parent key either
SELECT denorm_create_counter('errc_twokey', 'n', 'errc_child', 'parent_id');
\echo :SQLSTATE
-- the counter column cannot be the parent key
SELECT denorm_create_counter('errc_parent', 'id', 'errc_child', 'parent_id');
\echo :SQLSTATE
-- a generated column cannot be written by the triggers
SELECT denorm_create_counter('errc_parent', 'doubled', 'errc_child', 'parent_id');
\echo :SQLSTATE

------------------------------------------------------------------------
-- Aggregate, value column and mode
------------------------------------------------------------------------
SELECT denorm_create_counter('errc_parent', 'total', 'errc_child', 'parent_id',
                             aggregate => 'sum');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             value_column => 'qty');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             aggregate => 'avg');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             aggregate => 'COUNT');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             mode => 'eventually');
\echo :SQLSTATE
-- modes, like aggregates, are lower case
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             mode => 'DEFERRED');
\echo :SQLSTATE

------------------------------------------------------------------------
-- NULL for each required argument
------------------------------------------------------------------------
SELECT denorm_create_counter(NULL, 'n', 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', NULL, 'errc_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', NULL, 'parent_id');
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', NULL);
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             aggregate => NULL);
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             mode => NULL);
\echo :SQLSTATE

------------------------------------------------------------------------
-- Filters: one boolean, immutable expression over the child's own columns
------------------------------------------------------------------------
-- Shown through errc_error(): psql would also print an error cursor, and
-- where it points is not part of what this file checks.
CREATE FUNCTION errc_error(stmt text)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
DECLARE
    st text;
    msg text;
    det text;
    hin text;
BEGIN
    EXECUTE stmt;
    RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    RETURN NEXT format('%s: %s', st, msg);
    IF det <> '' THEN
        RETURN NEXT 'DETAIL: ' || det;
    END IF;
    IF hin <> '' THEN
        RETURN NEXT 'HINT: ' || hin;
    END IF;
END
$$;
-- an unknown column
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'nope = 1')$$);
-- a syntax error
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'status = ')$$);
-- subqueries, even ones that read no table
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'status IN (SELECT ''ok'')')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'EXISTS (SELECT 1 FROM public.errc_parent p WHERE p.id = parent_id)')$$);
-- an aggregate, a window function
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'count(*) > 0')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'row_number() OVER () > 1')$$);
-- a volatile and a stable function
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'random() < 0.5')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'now() > ''2020-01-01''')$$);
-- a set-returning function
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'generate_series(1, qty) > 2')$$);
-- not a boolean
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'qty')$$);
-- a system column, a whole-row reference
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'ctid IS NOT NULL')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'errc_child IS NOT NULL')$$);
-- nothing at all
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => '')$$);
-- injection attempts: the filter is parsed as one expression on its own,
-- never pasted into a statement
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'true); DROP TABLE errc_victim; --')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'true) FROM pg_class WHERE (true')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => '1=1; DELETE FROM errc_child')$$);
-- (a comment is only a comment: what is stored is the expression it
-- leaves, and nothing it might have swallowed)
BEGIN;
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             filter => 'true --') > 0 AS created;
SELECT filter FROM denorm_counters WHERE parent = 'errc_parent'::regclass;
ROLLBACK;
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'true) UNION SELECT (false')$$);
SELECT * FROM errc_error($$SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                              filter => 'true AS x')$$);

------------------------------------------------------------------------
-- Nothing was left behind
------------------------------------------------------------------------
SELECT count(*) AS registry_rows FROM denorm_counters
 WHERE parent::text LIKE 'errc%' OR child::text LIKE 'errc%';
SELECT count(*) AS denorm_triggers FROM pg_trigger
 WHERE tgname LIKE 'denorm%'
   AND tgrelid IN ('errc_parent'::regclass, 'errc_child'::regclass, 'errc_nopk'::regclass,
                   'errc_twokey'::regclass);
SELECT id, name, n, total, qty_sum FROM errc_parent ORDER BY id;
SELECT * FROM errc_child ORDER BY id;
SELECT * FROM errc_victim;

------------------------------------------------------------------------
-- The corrected calls work
------------------------------------------------------------------------
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id',
                             filter => 'status = ''ok''') > 0 AS created;
SELECT denorm_create_counter('errc_parent', 'total', 'errc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'price') > 0 AS created;
-- every argument spelt out, deferred
SELECT denorm_create_counter('errc_parent', 'qty_sum', 'errc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'qty', filter => NULL,
                             parent_key => 'id', mode => 'deferred') AS qty_id \gset
-- a text foreign key works against a text parent key
CREATE TABLE errc_tparent (code text PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO errc_tparent VALUES ('1'), ('2'), ('3');
SELECT denorm_create_counter('errc_tparent', 'n', 'errc_child', 'parent_ref') > 0 AS created;
SELECT counter_column, aggregate, value_column, filter, parent_key, mode
  FROM denorm_counters WHERE parent = 'errc_parent'::regclass ORDER BY counter_column;
SELECT id, n, total, qty_sum FROM errc_parent ORDER BY id;
SELECT * FROM errc_tparent ORDER BY code;

-- the same counter twice
SELECT denorm_create_counter('errc_parent', 'n', 'errc_child', 'parent_id');
\echo :SQLSTATE

-- writes keep them exact
INSERT INTO errc_child (id, parent_id, parent_ref, qty, price) VALUES (6, 3, '3', 1, 0.5);
UPDATE errc_child SET status = 'void' WHERE id = 1;
DELETE FROM errc_child WHERE id = 4;
-- (qty_sum is deferred: its exact value is the column plus pending deltas)
SELECT p.id, p.n, p.total, denorm_value(:qty_id, p.id) AS qty_sum,
       p.n = (SELECT count(*) FROM errc_child c WHERE c.parent_id = p.id AND c.status = 'ok') AS n_ok,
       p.total = (SELECT coalesce(sum(price), 0) FROM errc_child c WHERE c.parent_id = p.id) AS total_ok,
       denorm_value(:qty_id, p.id) = (SELECT coalesce(sum(qty), 0) FROM errc_child c
                                       WHERE c.parent_id = p.id) AS qty_ok
  FROM errc_parent p ORDER BY p.id;
SELECT denorm_flush(:qty_id) > 0 AS flushed;
SELECT p.id, p.qty_sum,
       p.qty_sum = (SELECT coalesce(sum(qty), 0) FROM errc_child c WHERE c.parent_id = p.id) AS qty_ok
  FROM errc_parent p ORDER BY p.id;
SELECT t.code, t.n,
       t.n = (SELECT count(*) FROM errc_child c WHERE c.parent_ref = t.code) AS n_ok
  FROM errc_tparent t ORDER BY t.code;
-- each counter has its three triggers on the child
SELECT count(*) AS denorm_triggers FROM pg_trigger
 WHERE tgrelid = 'errc_child'::regclass AND tgname LIKE 'denorm%';

-- A filter may not call the caller's own functions, even immutable ones:
-- maintenance jobs evaluate filters with their own rights, and the owner
-- could redefine the function.  Built-in functions and operators are fine.
CREATE FUNCTION errc_is_ok(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT status = 'ok' $$;
ALTER TABLE errc_parent ADD COLUMN ok_n int NOT NULL DEFAULT 0;
SELECT denorm_create_counter('errc_parent', 'ok_n', 'errc_child', 'parent_id',
                             filter => 'errc_is_ok(status)') > 0 AS created;
\echo :SQLSTATE
SELECT denorm_create_counter('errc_parent', 'ok_n', 'errc_child', 'parent_id',
                             filter => $$lower(status) = 'ok' AND coalesce(qty, 0) >= 0$$) > 0 AS created;
SELECT filter FROM denorm_counters
 WHERE parent = 'errc_parent'::regclass AND counter_column = 'ok_n';
INSERT INTO errc_child (id, parent_id, qty, status) VALUES (7, 3, 1, 'ok'), (8, 3, 1, 'void');
SELECT p.id, p.ok_n, p.n,
       p.ok_n = (SELECT count(*) FROM errc_child c
                  WHERE c.parent_id = p.id AND c.status = 'ok') AS ok_n_ok
  FROM errc_parent p ORDER BY p.id;
SELECT denorm_drop_counter('errc_parent', 'ok_n');
SELECT count(*) AS registry_rows FROM denorm_counters
 WHERE parent = 'errc_parent'::regclass AND counter_column = 'ok_n';

SELECT denorm_drop_counter('errc_parent', 'n');
SELECT denorm_drop_counter('errc_parent', 'total');
SELECT denorm_drop_counter('errc_parent', 'qty_sum');
SELECT denorm_drop_counter('errc_tparent', 'n');
SELECT count(*) AS registry_rows FROM denorm_counters
 WHERE parent::text LIKE 'errc%' OR child::text LIKE 'errc%';
SELECT count(*) AS denorm_triggers FROM pg_trigger
 WHERE tgrelid = 'errc_child'::regclass AND tgname LIKE 'denorm%';
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :qty_id;

DROP FUNCTION errc_error(text);
DROP FUNCTION errc_is_ok(text);
DROP VIEW errc_view;
DROP TABLE errc_child, errc_parent, errc_tparent, errc_nopk, errc_twokey, errc_victim;
DROP SEQUENCE errc_seq;
