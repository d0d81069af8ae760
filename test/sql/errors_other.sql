-- Misuse of everything but denorm_create_counter: settings, dropping
-- counters, the trigger functions, reconciling, flushing, reading,
-- scheduling, dropping the columns a counter uses, and roles without
-- rights.  Each error shows its message and SQLSTATE (psql's :SQLSTATE,
-- 00000 after a success), and afterwards nothing may have changed.
--
-- PL/pgSQL CONTEXT lines carry line numbers of the install script, which
-- move with every edit of it; they are hidden.
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set VERBOSITY default
\set SHOW_CONTEXT never
-- some messages below name counter ids: pin them whatever ran before
SELECT setval('denorm_counters_id_seq', 8400) AS pinned_counter_ids;

------------------------------------------------------------------------
-- Settings
------------------------------------------------------------------------
-- Before this session has loaded the library, denorm.* names are mere
-- placeholders, so PostgreSQL accepts any value; loading the library
-- (here by denorm_settings()) keeps it, and what depends on the setting
-- refuses to run with it rather than use the default.  This must stay the
-- first statement of the file.  (test/sql/error_messages.sql has more.)
SET denorm.reconcile_batch_size = 0;
SELECT * FROM denorm_settings();
SHOW denorm.reconcile_batch_size;
-- once loaded, out-of-range and malformed values are refused
SET denorm.reconcile_batch_size = 0;
\echo :SQLSTATE
SET denorm.reconcile_batch_size = -5;
\echo :SQLSTATE
SET denorm.reconcile_batch_size = 'abc';
\echo :SQLSTATE
SET denorm.reconcile_batch_size = 100000000;
\echo :SQLSTATE
SET denorm.drift_alert_ratio = 2;
\echo :SQLSTATE
SET denorm.drift_alert_ratio = -0.1;
\echo :SQLSTATE
SET denorm.drift_alert_ratio = 'often';
\echo :SQLSTATE
-- the prefix is reserved: a misspelt setting is an error, not a no-op
SET denorm.reconcile_batchsize = 10;
\echo :SQLSTATE
-- the refused SETs changed nothing: the value taken before loading is
-- still in force, and still refused
SELECT * FROM denorm_settings();
-- the limits themselves are accepted
SET denorm.reconcile_batch_size = 1;
SET denorm.reconcile_batch_size = 10000000;
SET denorm.drift_alert_ratio = 0;
SET denorm.drift_alert_ratio = 1;
SELECT * FROM denorm_settings();
RESET denorm.reconcile_batch_size;
RESET denorm.drift_alert_ratio;

------------------------------------------------------------------------
-- Fixtures: an immediate count with a filter and a deferred sum, on tables
-- without a foreign-key constraint (one would guard the parent key by
-- itself)
------------------------------------------------------------------------
CREATE TABLE erro_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
                          total bigint NOT NULL DEFAULT 0, spare int);
CREATE TABLE erro_child (id int PRIMARY KEY, parent_id int, qty int,
                         status text NOT NULL DEFAULT 'ok', note text);
INSERT INTO erro_parent (id) VALUES (1), (2), (3);
INSERT INTO erro_child VALUES (1, 1, 5, 'ok', 'a'), (2, 1, 7, 'void', 'b'),
                              (3, 2, 11, 'ok', 'c');
SELECT denorm_create_counter('erro_parent', 'n', 'erro_child', 'parent_id',
                             filter => 'status = ''ok''') AS n_id \gset
SELECT denorm_create_counter('erro_parent', 'total', 'erro_child', 'parent_id',
                             aggregate => 'sum', value_column => 'qty',
                             mode => 'deferred') AS total_id \gset

-- Runs a statement that must fail and returns its SQLSTATE, message,
-- detail and hint; erro_error_id shows the given counter id as <id> (ids
-- depend on the tests that ran before).
CREATE FUNCTION erro_error(stmt text)
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
CREATE FUNCTION erro_error_id(stmt text, counter_id int)
RETURNS SETOF text
LANGUAGE sql
AS $$
    SELECT regexp_replace(line, '\m' || counter_id || '\M', '<id>', 'g')
      FROM erro_error(stmt) AS line
$$;

-- Stored next to recomputed, for the checks after each group of misuses
-- (total is deferred: its value is the column plus pending deltas).  A
-- function with a string body, not a view: a view would itself keep the
-- columns below from being dropped.
CREATE FUNCTION erro_check(OUT id int, OUT n int, OUT total bigint,
                           OUT n_ok boolean, OUT total_ok boolean)
RETURNS SETOF record
LANGUAGE sql
AS $$
    SELECT p.id, p.n, v.total::bigint,
           p.n = (SELECT count(*) FROM erro_child c
                   WHERE c.parent_id = p.id AND c.status = 'ok'),
           v.total = (SELECT coalesce(sum(c.qty), 0) FROM erro_child c
                       WHERE c.parent_id = p.id)
      FROM erro_parent p
     CROSS JOIN LATERAL (
           SELECT denorm_value(d.id, p.id) AS total FROM denorm_counters d
            WHERE d.parent = 'erro_parent'::regclass AND d.counter_column = 'total') v
     ORDER BY p.id
$$;
SELECT * FROM erro_check();

------------------------------------------------------------------------
-- Dropping counters
------------------------------------------------------------------------
SELECT denorm_drop_counter(-1);
\echo :SQLSTATE
SELECT denorm_drop_counter('erro_parent', 'spare');
\echo :SQLSTATE
SELECT denorm_drop_counter('erro_nope', 'n');
\echo :SQLSTATE
SELECT denorm_drop_counter('erro_parent', 'nope');
\echo :SQLSTATE
SELECT denorm_drop_counter(NULL::integer);
\echo :SQLSTATE
SELECT denorm_drop_counter(NULL::regclass, 'n');
\echo :SQLSTATE
SELECT denorm_drop_counter('erro_parent', NULL);
\echo :SQLSTATE
-- an untyped NULL goes to the drop by id
SELECT denorm_drop_counter(NULL);
\echo :SQLSTATE
SELECT counter_column FROM denorm_counters
 WHERE parent = 'erro_parent'::regclass ORDER BY counter_column;

------------------------------------------------------------------------
-- The trigger functions outside their counters
------------------------------------------------------------------------
SELECT denorm_row_trigger();
\echo :SQLSTATE
SELECT denorm_stmt_trigger();
\echo :SQLSTATE
CREATE TABLE erro_manual (id int, parent_id int, qty int);
-- a BEFORE row trigger
CREATE TRIGGER erro_before BEFORE INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger();
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_before ON erro_manual;
-- the row function as a statement trigger
CREATE TRIGGER erro_row_as_stmt AFTER INSERT ON erro_manual
    FOR EACH STATEMENT EXECUTE FUNCTION denorm_row_trigger();
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_row_as_stmt ON erro_manual;
-- the statement function as a row trigger
CREATE TRIGGER erro_stmt_as_row AFTER INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_stmt_trigger();
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_stmt_as_row ON erro_manual;
-- the statement function as a BEFORE statement trigger
CREATE TRIGGER erro_stmt_before BEFORE INSERT ON erro_manual
    FOR EACH STATEMENT EXECUTE FUNCTION denorm_stmt_trigger();
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_stmt_before ON erro_manual;
-- the statement function on TRUNCATE (the truncate trigger is another one)
CREATE TRIGGER erro_stmt_truncate AFTER TRUNCATE ON erro_manual
    FOR EACH STATEMENT EXECUTE FUNCTION denorm_stmt_trigger();
TRUNCATE erro_manual;
\echo :SQLSTATE
DROP TRIGGER erro_stmt_truncate ON erro_manual;
-- an AFTER row trigger without arguments: denorm's own shape (it serves the
-- registry's counters of its table), here on a table that has none, so it
-- writes nothing anywhere
CREATE TRIGGER erro_no_args AFTER INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger();
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_no_args ON erro_manual;
-- Triggers carrying a counter's definition (as denorm 1.1 made them) are
-- refused unless their arguments match a registered counter (id, columns,
-- aggregate, filter, mode) on this very table: the arguments would decide
-- what gets written to the parent, as its owner.
-- counter arguments naming a column the table lacks
CREATE TRIGGER erro_bad_column AFTER INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger(
        '0', 'erro_parent', 'n', 'nope', 'id', 'count', '', '', 'immediate');
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_bad_column ON erro_manual;
-- counter arguments with an unknown aggregate or mode
CREATE TRIGGER erro_bad_aggregate AFTER INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger(
        '0', 'erro_parent', 'n', 'parent_id', 'id', 'avg', '', '', 'immediate');
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_bad_aggregate ON erro_manual;
CREATE TRIGGER erro_bad_mode AFTER INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger(
        '0', 'erro_parent', 'n', 'parent_id', 'id', 'count', '', '', 'lazy');
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_bad_mode ON erro_manual;
-- a copy of a real counter's trigger on another table is refused too
CREATE TRIGGER erro_copied AFTER INSERT ON erro_manual
    FOR EACH ROW EXECUTE FUNCTION denorm_row_trigger(
        :'n_id', 'erro_parent', 'n', 'parent_id', 'id', 'count', '', '', 'immediate');
INSERT INTO erro_manual VALUES (1, 1, 1);
\echo :SQLSTATE
DROP TRIGGER erro_copied ON erro_manual;
CREATE TRIGGER erro_copied_truncate AFTER TRUNCATE ON erro_manual
    FOR EACH STATEMENT EXECUTE FUNCTION denorm_truncate_trigger(:'n_id');
TRUNCATE erro_manual;
\echo :SQLSTATE
DROP TRIGGER erro_copied_truncate ON erro_manual;
-- every refused statement was rolled back (the one row is the insert through
-- the trigger with nothing to serve), and no parent changed
SELECT count(*) AS manual_rows FROM erro_manual;
SELECT * FROM erro_check();

------------------------------------------------------------------------
-- Reconciling, flushing, reading and scheduling
------------------------------------------------------------------------
SELECT count(*) AS runs_before FROM denorm_reconcile_runs \gset
SELECT count(*) AS drift_before FROM denorm_drift_log \gset
SELECT * FROM denorm_reconcile(-1);
\echo :SQLSTATE
SELECT * FROM denorm_reconcile(:n_id, NULL);
\echo :SQLSTATE
SELECT * FROM denorm_reconcile(NULL::integer, NULL);
\echo :SQLSTATE
SELECT * FROM denorm_reconcile_range(:n_id, NULL, NULL);
\echo :SQLSTATE
SELECT * FROM denorm_reconcile_range(NULL, '1', '2');
\echo :SQLSTATE
SELECT * FROM denorm_reconcile_range(-1, '1', '2');
\echo :SQLSTATE
SELECT * FROM denorm_reconcile_range(:n_id, '1', '2', NULL);
\echo :SQLSTATE
-- a key that is not a value of the parent key's type is the caller's
-- mistake: an error, not a failed run
SELECT * FROM denorm_reconcile_range(:n_id, 'abc', NULL);
\echo :SQLSTATE
CALL denorm_reconcile_batched(-1);
\echo :SQLSTATE
CALL denorm_reconcile_batched(NULL::integer, NULL);
\echo :SQLSTATE
-- the procedure commits, so it cannot run inside a transaction block
BEGIN;
CALL denorm_reconcile_batched(:n_id);
\echo :SQLSTATE
ROLLBACK;
SELECT denorm_flush(-1);
\echo :SQLSTATE
SELECT denorm_value(-1, 1);
\echo :SQLSTATE
SELECT denorm_value(NULL, 1);
\echo :SQLSTATE
-- the key must convert to the parent key's type
SELECT denorm_value(:total_id, 'abc'::text);
\echo :SQLSTATE
-- an untyped literal leaves the polymorphic key without a type
SELECT denorm_value(:total_id, 'abc');
\echo :SQLSTATE
-- pg_cron is not installed in the regression database
SELECT denorm_schedule_reconcile();
\echo :SQLSTATE
SELECT denorm_schedule_reconcile('*/5 * * * *', 'erro-job');
\echo :SQLSTATE
SELECT denorm_unschedule_reconcile();
\echo :SQLSTATE
SELECT denorm_schedule_reconcile(NULL);
\echo :SQLSTATE
SELECT denorm_schedule_reconcile('0 2 * * *', NULL);
\echo :SQLSTATE
SELECT denorm_unschedule_reconcile(NULL);
\echo :SQLSTATE
SELECT denorm_schedule_flush();
\echo :SQLSTATE
SELECT denorm_schedule_flush(NULL);
\echo :SQLSTATE
SELECT denorm_unschedule_flush();
\echo :SQLSTATE
-- no failed call left a run or a drift row behind
SELECT count(*) - :runs_before AS new_runs FROM denorm_reconcile_runs;
SELECT count(*) - :drift_before AS new_drift_rows FROM denorm_drift_log;

------------------------------------------------------------------------
-- Dropping a column a counter uses is refused (SQLSTATE 2BP01)
------------------------------------------------------------------------
SELECT * FROM erro_error_id('ALTER TABLE erro_child DROP COLUMN parent_id', :n_id);
SELECT * FROM erro_error_id('ALTER TABLE erro_child DROP COLUMN qty', :total_id);
SELECT * FROM erro_error_id('ALTER TABLE erro_child DROP COLUMN status', :n_id);
SELECT * FROM erro_error_id('ALTER TABLE erro_parent DROP COLUMN n', :n_id);
SELECT * FROM erro_error_id('ALTER TABLE erro_parent DROP COLUMN total', :total_id);
SELECT * FROM erro_error_id('ALTER TABLE erro_parent DROP COLUMN id', :n_id);
-- columns no counter uses can go
ALTER TABLE erro_child DROP COLUMN note;
ALTER TABLE erro_parent DROP COLUMN spare;
SELECT attrelid::regclass AS tbl, attname FROM pg_attribute
 WHERE attrelid IN ('erro_parent'::regclass, 'erro_child'::regclass) AND attnum > 0
   AND NOT attisdropped
 ORDER BY attrelid::regclass::text, attnum;
-- the counters still work after the refused drops
INSERT INTO erro_child VALUES (4, 3, 13, 'ok'), (5, 1, 17, 'ok');
UPDATE erro_child SET status = 'void' WHERE id = 3;
DELETE FROM erro_child WHERE id = 2;
SELECT * FROM erro_check();
-- the deferred column itself catches up on flush
SELECT denorm_flush(:total_id) > 0 AS flushed;
SELECT p.id, p.total = c.id_total AS column_ok
  FROM erro_parent p,
       LATERAL (SELECT coalesce(sum(qty), 0) AS id_total FROM erro_child
                 WHERE parent_id = p.id) c
 ORDER BY p.id;

------------------------------------------------------------------------
-- Roles without rights
------------------------------------------------------------------------
CREATE ROLE regress_erro_nobody;
SET ROLE regress_erro_nobody;
-- administration is revoked from PUBLIC
SELECT denorm_create_counter('erro_parent', 'spare', 'erro_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_drop_counter(:n_id);
\echo :SQLSTATE
SELECT denorm_drop_counter('erro_parent', 'n');
\echo :SQLSTATE
SELECT * FROM denorm_reconcile();
\echo :SQLSTATE
SELECT * FROM denorm_reconcile_range(:n_id, '1', '2');
\echo :SQLSTATE
CALL denorm_reconcile_batched();
\echo :SQLSTATE
SELECT denorm_schedule_reconcile();
\echo :SQLSTATE
SELECT denorm_unschedule_reconcile();
\echo :SQLSTATE
SELECT denorm_flush();
\echo :SQLSTATE
SELECT denorm_schedule_flush();
\echo :SQLSTATE
SELECT denorm_unschedule_flush();
\echo :SQLSTATE
-- any role may call denorm_value, but reads only what it may SELECT
SELECT denorm_value(:n_id, 1);
\echo :SQLSTATE
-- the registry can be read but not written
SELECT count(*) > 0 AS can_read FROM denorm_counters WHERE parent = 'erro_parent'::regclass;
DELETE FROM denorm_counters;
\echo :SQLSTATE
-- writing to a counted child it may not write is refused as usual
INSERT INTO erro_child VALUES (9, 1, 1, 'ok');
\echo :SQLSTATE
RESET ROLE;
-- Given SELECT on the parent table, and no rights on denorm_pending, it
-- gets the exact values of both counters, pending deltas included.
GRANT SELECT ON erro_parent TO regress_erro_nobody;
SET ROLE regress_erro_nobody;
SELECT id, denorm_value(:n_id, id) AS n, denorm_value(:total_id, id) AS total
  FROM erro_parent ORDER BY id;
RESET ROLE;
REVOKE SELECT ON erro_parent FROM regress_erro_nobody;
-- with the administration rights (denorm_grant_admin) it still has to own
-- both tables
SELECT denorm_grant_admin('regress_erro_nobody');
ALTER TABLE erro_manual ADD COLUMN n int NOT NULL DEFAULT 0;
ALTER TABLE erro_manual ADD PRIMARY KEY (id);
SET ROLE regress_erro_nobody;
SELECT denorm_create_counter('erro_manual', 'n', 'erro_child', 'parent_id');
\echo :SQLSTATE
SELECT denorm_drop_counter(:n_id);
\echo :SQLSTATE
SELECT denorm_drop_counter('erro_parent', 'n');
\echo :SQLSTATE
RESET ROLE;
-- owning one of the two tables is not enough either
ALTER TABLE erro_manual OWNER TO regress_erro_nobody;
SET ROLE regress_erro_nobody;
SELECT denorm_create_counter('erro_manual', 'n', 'erro_child', 'parent_id');
\echo :SQLSTATE
RESET ROLE;
SELECT count(*) AS registry_rows FROM denorm_counters
 WHERE parent::text LIKE 'erro%' OR child::text LIKE 'erro%';
SELECT * FROM erro_check();

-- A role granted administration that owns both tables administers its
-- own counters: the grant is all it needs.
CREATE TABLE erro_own_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE erro_own_child (id int PRIMARY KEY, parent_id int);
INSERT INTO erro_own_parent VALUES (1), (2);
INSERT INTO erro_own_child VALUES (1, 1), (2, 1), (3, 2);
ALTER TABLE erro_own_parent OWNER TO regress_erro_nobody;
ALTER TABLE erro_own_child OWNER TO regress_erro_nobody;
SET ROLE regress_erro_nobody;
SELECT denorm_create_counter('erro_own_parent', 'n', 'erro_own_child', 'parent_id') > 0 AS created;
INSERT INTO erro_own_child VALUES (4, 2), (5, 2);
SELECT p.id, p.n, p.n = (SELECT count(*) FROM erro_own_child c WHERE c.parent_id = p.id) AS n_ok
  FROM erro_own_parent p ORDER BY p.id;
SELECT denorm_drop_counter('erro_own_parent', 'n');
RESET ROLE;
SELECT count(*) AS registry_rows FROM denorm_counters
 WHERE parent = 'erro_own_parent'::regclass;

------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------
SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter(:total_id);
SELECT count(*) AS registry_rows FROM denorm_counters
 WHERE parent::text LIKE 'erro%' OR child::text LIKE 'erro%';
SELECT count(*) AS denorm_triggers FROM pg_trigger
 WHERE tgrelid = 'erro_child'::regclass AND tgname LIKE 'denorm%';
SELECT count(*) AS pending_rows FROM denorm_pending
 WHERE counter_id IN (:n_id, :total_id);
DROP FUNCTION erro_check();
DROP FUNCTION erro_error_id(text, int);
DROP FUNCTION erro_error(text);
DROP TABLE erro_child, erro_parent, erro_manual, erro_own_child, erro_own_parent;
DROP OWNED BY regress_erro_nobody;
DROP ROLE regress_erro_nobody;
