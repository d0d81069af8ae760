/* denorm.sql: counter and sum caches on parent rows, kept exact by C
 * triggers and reconciled.  The install script of the current version
 * (make builds denorm--<default_version>.sql from it), and the one place
 * to edit it, by feature: the registry; the triggers on child and parent
 * tables; what can be counted; Citus; the guards on DDL; DROP EXTENSION;
 * creating and dropping counters; counters dropped with their tables;
 * reconcile; flush; scheduling; history; copied columns; the status view
 * and privileges.
 *
 * The scripts beside it are frozen, but for the newest upgrade script
 * while its version is unreleased: every change made here also goes into
 * that one (CREATE OR REPLACE, or DROP and CREATE), and
 * test/upgrade/upgrade.sh fails until the two install the same objects
 * (tools/compare-install.sh shows the difference). */

\echo Use "CREATE EXTENSION denorm" to load this file. \quit

------------------------------------------------------------------------
-- The registry: counters and their pending deltas
------------------------------------------------------------------------

-- One row per counter.  Everyone may read it; only denorm writes it,
-- through denorm_registry_insert and denorm_registry_delete, which check
-- the caller.
CREATE TABLE @extschema@.denorm_counters (
    id              serial PRIMARY KEY,
    parent          regclass    NOT NULL,
    counter_column  name        NOT NULL,
    child           regclass    NOT NULL,
    foreign_key     name        NOT NULL,
    parent_key      name        NOT NULL,
    aggregate       text        NOT NULL CHECK (aggregate IN ('count', 'sum', 'min', 'max')),
    value_column    name,
    filter          text,
    mode            text        NOT NULL DEFAULT 'immediate'
                                CHECK (mode IN ('immediate', 'commit', 'deferred')),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (parent, counter_column),
    CHECK ((aggregate <> 'count') = (value_column IS NOT NULL))
);
COMMENT ON TABLE @extschema@.denorm_counters IS
    'One row per denorm counter: which parent column caches which aggregate of which child rows';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_counters', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_counters_id_seq', '');
REVOKE ALL ON TABLE @extschema@.denorm_counters FROM PUBLIC;

-- The deltas of deferred counters, written by the row triggers and folded
-- into the parent rows by denorm_flush.
CREATE TABLE @extschema@.denorm_pending (
    counter_id      integer     NOT NULL,
    parent_key      text        NOT NULL,
    delta           numeric     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX denorm_pending_key_idx ON @extschema@.denorm_pending (counter_id, parent_key);
COMMENT ON TABLE @extschema@.denorm_pending IS
    'Deltas of deferred counters not yet folded into their parent rows by denorm_flush()';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_pending', '');
REVOKE ALL ON TABLE @extschema@.denorm_pending FROM PUBLIC;

-- Registry writes: only through these, which check the caller.
CREATE FUNCTION @extschema@.denorm_registry_insert(parent regclass, counter_column name,
                                                   child regclass, foreign_key name,
                                                   parent_key name, aggregate text,
                                                   value_column name, filter text, mode text)
RETURNS integer
AS 'MODULE_PATHNAME', 'denorm_registry_insert'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_registry_insert(regclass, name, regclass, name, name, text, name, text, text) IS
    'Internal: records a counter after checking the caller owns its tables';
REVOKE ALL ON FUNCTION @extschema@.denorm_registry_insert(regclass, name, regclass, name, name, text, name, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_registry_lock(counter_id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_registry_lock'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_registry_lock(integer) IS
    'Internal: locks a counter''s registry row (FOR UPDATE) for a drop; false when the counter is gone';
REVOKE ALL ON FUNCTION @extschema@.denorm_registry_lock(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_registry_delete(counter_id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_registry_delete'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_registry_delete(integer) IS
    'Internal: deletes a counter''s registry row and pending deltas';
REVOKE ALL ON FUNCTION @extschema@.denorm_registry_delete(integer) FROM PUBLIC;

-- The denorm.* settings, and the standard error for a NULL argument: used
-- throughout.  A setting whose value is invalid (one given before the
-- library was loaded, see src/denorm.c) is an error: denorm_settings()
-- checks both, for reconcile, which uses both.
CREATE FUNCTION @extschema@.denorm_settings(OUT reconcile_batch_size integer,
                                            OUT drift_alert_ratio double precision)
AS 'MODULE_PATHNAME', 'denorm_settings'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_settings() IS
    'The denorm.* settings in force';
REVOKE ALL ON FUNCTION @extschema@.denorm_settings() FROM PUBLIC;

-- The same for a caller that uses one setting only (the backfill): only
-- the one named is checked.
CREATE FUNCTION @extschema@.denorm_settings(setting text, OUT reconcile_batch_size integer,
                                            OUT drift_alert_ratio double precision)
AS 'MODULE_PATHNAME', 'denorm_settings'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_settings(text) IS
    'Internal: the denorm.* settings in force, checking only the one named';
REVOKE ALL ON FUNCTION @extschema@.denorm_settings(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_require(value anyelement, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        PERFORM @extschema@.denorm_error('22004', format('argument "%s" must not be null', argname),
                                         NULL, NULL);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_require(anyelement, text) IS
    'Internal: rejects a NULL argument';
REVOKE ALL ON FUNCTION @extschema@.denorm_require(anyelement, text) FROM PUBLIC;

-- Errors of denorm's PL/pgSQL functions are raised through this, without
-- the CONTEXT lines that would bury the message.  PUBLIC may run it (it
-- does nothing but raise the error it is given): those functions run with
-- their caller's rights.
CREATE FUNCTION @extschema@.denorm_error(sqlstate text, message text, detail text, hint text)
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_error'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_error(text, text, text, text) IS
    'Internal: raises an error without PL/pgSQL context';

------------------------------------------------------------------------
-- Child triggers: what a write to a counted table does
------------------------------------------------------------------------

-- A counted child table has one set of triggers, whatever number of
-- counters it serves: denorm_row (AFTER INSERT OR UPDATE OR DELETE FOR
-- EACH ROW, on the child only: PostgreSQL clones it onto partitions),
-- denorm_stmt (the same events FOR EACH STATEMENT) and denorm_truncate
-- (BEFORE TRUNCATE), on the child and each of its partitions, and for a
-- min or max counter denorm_truncate_end (AFTER TRUNCATE) there too.  They carry
-- no arguments: what they serve is the registry's counters for their
-- table.  An immediate counter's deltas are applied at the end of the
-- statement, a commit-time counter's when the transaction commits, and a
-- deferred counter's go to denorm_pending.
CREATE FUNCTION @extschema@.denorm_row_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_row_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_row_trigger() IS
    'Row trigger of denorm''s child tables: records each row''s effect on its parent (applied at statement end, at commit or into denorm_pending)';
REVOKE ALL ON FUNCTION @extschema@.denorm_row_trigger() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_stmt_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_stmt_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_stmt_trigger() IS
    'Statement trigger of denorm''s child tables: applies the statement''s deltas of immediate counters, one UPDATE per parent row in ascending key order (locking those rows until the transaction ends; a key with no parent row is locked against parent inserts and looked up again); deferred counters'' go to denorm_pending';
REVOKE ALL ON FUNCTION @extschema@.denorm_stmt_trigger() FROM PUBLIC;

-- TRUNCATE removes rows without row triggers.  The trigger fires BEFORE,
-- while the rows are still there and TRUNCATE already holds its ACCESS
-- EXCLUSIVE lock on every table it empties: TRUNCATE of the counter's
-- child sets the counter to 0; TRUNCATE of one partition takes what its
-- rows add up to off the parents, a correction that composes with writers
-- of the other partitions (for a min or max, it notes the keys of its rows
-- and their extremes, for denorm_truncate_end_trigger).
CREATE FUNCTION @extschema@.denorm_truncate_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_truncate_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_truncate_trigger() IS
    'BEFORE TRUNCATE trigger of denorm''s child tables: sets the counters of an emptied child to 0 (NULL for a min or max), and takes what a truncated partition''s rows add up to off its counters'' parent rows (updating them; for a min or max, notes its keys for the AFTER TRUNCATE trigger); TRUNCATE already holds its ACCESS EXCLUSIVE lock on the tables';
REVOKE ALL ON FUNCTION @extschema@.denorm_truncate_trigger() FROM PUBLIC;

-- A min or max takes no correction: TRUNCATE of one partition notes, BEFORE,
-- the keys of its rows and their extremes, and this trigger, AFTER the
-- command has emptied every table it names, recomputes the parents whose
-- extreme those rows held from the children that remain, each under its
-- row lock (src/recompute.c).
CREATE FUNCTION @extschema@.denorm_truncate_end_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_truncate_end_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_truncate_end_trigger() IS
    'AFTER TRUNCATE trigger of the child tables of min and max counters: recomputes, from the children that remain, the parent rows whose extreme the truncated partition''s rows held (locking and updating them)';
REVOKE ALL ON FUNCTION @extschema@.denorm_truncate_end_trigger() FROM PUBLIC;

-- Mode 'commit': a transaction's deltas applied once, when it commits, in
-- one global order.  One row per transaction that has commit-time deltas:
-- its deferred constraint trigger is what applies them when the
-- transaction commits.  The trigger deletes the row; the table is never
-- read.
CREATE UNLOGGED TABLE @extschema@.denorm_commit_queue ();
COMMENT ON TABLE @extschema@.denorm_commit_queue IS
    'Internal: one row per transaction whose commit-time deltas are queued; written and emptied by denorm';
REVOKE ALL ON TABLE @extschema@.denorm_commit_queue FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_commit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_commit_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_commit_trigger() IS
    'Internal: applies a transaction''s commit-time deltas when it commits, one UPDATE per parent row in one global order (parent table, key)';
REVOKE ALL ON FUNCTION @extschema@.denorm_commit_trigger() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER denorm_commit AFTER INSERT ON @extschema@.denorm_commit_queue
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION @extschema@.denorm_commit_trigger();

CREATE FUNCTION @extschema@.denorm_apply()
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_apply'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_apply() IS
    'Applies this transaction''s commit-time counter deltas now, as commit would: updates (and so locks) those parent rows, in parent table and key order';
REVOKE ALL ON FUNCTION @extschema@.denorm_apply() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_local_delta(counter_id integer, parent_key text)
RETURNS numeric
AS 'MODULE_PATHNAME', 'denorm_local_delta'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_local_delta(integer, text) IS
    'Internal: what this transaction''s commit-time deltas not yet applied add to one parent row';
REVOKE ALL ON FUNCTION @extschema@.denorm_local_delta(integer, text) FROM PUBLIC;

-- The tables that need a counter's child triggers: its child and, when it
-- is partitioned, every partition below it.
CREATE FUNCTION @extschema@.denorm_child_tables(child regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE t(rel) AS (
        SELECT child::oid
        UNION ALL
        SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.rel
        JOIN pg_class c ON c.oid = i.inhrelid AND c.relispartition
    )
    SELECT rel::regclass FROM t
$$;
COMMENT ON FUNCTION @extschema@.denorm_child_tables(regclass) IS
    'Internal: a child table and all its partitions';
REVOKE ALL ON FUNCTION @extschema@.denorm_child_tables(regclass) FROM PUBLIC;

-- A child trigger counts as there when it runs the right function of
-- denorm's, whatever it is called now.
CREATE FUNCTION @extschema@.denorm_child_trigger(tbl regclass, fn regprocedure, original boolean)
RETURNS pg_catalog.pg_trigger
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t FROM pg_trigger t
     WHERE t.tgrelid = tbl AND t.tgfoid = fn AND t.tgnargs = 0
       AND (NOT original OR t.tgparentid = 0)
     ORDER BY t.tgenabled = 'D', t.oid LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@.denorm_child_trigger(regclass, regprocedure, boolean) IS
    'Internal: the child trigger of denorm''s running a function on a table, if any';
REVOKE ALL ON FUNCTION @extschema@.denorm_child_trigger(regclass, regprocedure, boolean) FROM PUBLIC;

-- Creates the child triggers a counter needs on one of its tables, where
-- that table lacks them.
CREATE FUNCTION @extschema@.denorm_install_triggers(c @extschema@.denorm_counters, tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tbl = c.child AND (@extschema@.denorm_child_trigger(tbl, '@extschema@.denorm_row_trigger()', true)).oid IS NULL THEN
        EXECUTE format('CREATE TRIGGER denorm_row AFTER INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION @extschema@.denorm_row_trigger()', tbl);
    END IF;
    IF (@extschema@.denorm_child_trigger(tbl, '@extschema@.denorm_stmt_trigger()', false)).oid IS NULL THEN
        EXECUTE format('CREATE TRIGGER denorm_stmt AFTER INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.denorm_stmt_trigger()', tbl);
    END IF;
    IF (@extschema@.denorm_child_trigger(tbl, '@extschema@.denorm_truncate_trigger()', false)).oid IS NULL THEN
        EXECUTE format('CREATE TRIGGER denorm_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.denorm_truncate_trigger()', tbl);
    END IF;
    IF c.aggregate IN ('min', 'max')
       AND (@extschema@.denorm_child_trigger(tbl, '@extschema@.denorm_truncate_end_trigger()', false)).oid IS NULL THEN
        EXECUTE format('CREATE TRIGGER denorm_truncate_end AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.denorm_truncate_end_trigger()', tbl);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_install_triggers(@extschema@.denorm_counters, regclass) IS
    'Internal: creates the child triggers a counter needs on one of its tables where they are missing (CREATE TRIGGER locks the table SHARE ROW EXCLUSIVE)';
REVOKE ALL ON FUNCTION @extschema@.denorm_install_triggers(@extschema@.denorm_counters, regclass) FROM PUBLIC;

------------------------------------------------------------------------
-- Parent triggers: new parent rows, key changes and deleted parents
------------------------------------------------------------------------

-- On the parent: a row inserted, or whose key changes, starts with what
-- the children of its key add up to (children may be written before their
-- parent row); a deleted row of a deferred counter takes its pending
-- deltas along.  These triggers are per counter: each carries its counter
-- id.
CREATE FUNCTION @extschema@.denorm_parent_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_parent_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_parent_trigger() IS
    'Parent-table trigger of a denorm counter: a row inserted or given a new key starts with what the children of its key add up to, after locking the key against child writers that find no row for it; a deferred counter''s row giving up its key leaves it a pending delta';
REVOKE ALL ON FUNCTION @extschema@.denorm_parent_trigger() FROM PUBLIC;

-- The guard of a counter column: a write to it by anything but denorm is
-- ignored (the default), refused, or let through, as denorm.counter_writes
-- says; denorm's own writes pass.
CREATE FUNCTION @extschema@.denorm_counter_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_counter_guard'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_counter_guard() IS
    'Parent-table trigger of a denorm counter: keeps its column as it was when anything but denorm writes it (denorm.counter_writes = ignore), or refuses the write (error); takes no locks';
REVOKE ALL ON FUNCTION @extschema@.denorm_counter_guard() FROM PUBLIC;

-- Whether a trigger is one of counter id's own: its parent triggers, and
-- the child triggers of 1.1 and before (one set per counter), which carry
-- the counter id as their first argument.  PUBLIC cannot create triggers on
-- these functions, which it may not execute.
CREATE FUNCTION @extschema@.denorm_is_counter_trigger(t pg_catalog.pg_trigger, counter_id integer)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tgfoid IN ('@extschema@.denorm_row_trigger()'::regprocedure,
                        '@extschema@.denorm_stmt_trigger()'::regprocedure,
                        '@extschema@.denorm_truncate_trigger()'::regprocedure,
                        '@extschema@.denorm_parent_trigger()'::regprocedure,
                        '@extschema@.denorm_counter_guard()'::regprocedure)
       AND t.tgnargs > 0
       AND split_part(encode(t.tgargs, 'escape'), '\000', 1) = counter_id::text
$$;
COMMENT ON FUNCTION @extschema@.denorm_is_counter_trigger(pg_catalog.pg_trigger, integer) IS
    'Internal: whether a trigger is one of a counter''s own, by the function it runs and its counter id';
REVOKE ALL ON FUNCTION @extschema@.denorm_is_counter_trigger(pg_catalog.pg_trigger, integer) FROM PUBLIC;

-- Creates the counter's triggers on its parent where they are missing:
-- the guard of its column (BEFORE UPDATE), the key
-- trigger (BEFORE UPDATE of the key), the insert trigger (BEFORE
-- INSERT) and, for a deferred counter, the trigger for a parent row giving
-- up its key (AFTER DELETE or UPDATE).  They are told apart by their
-- events.
CREATE FUNCTION @extschema@.denorm_install_parent_triggers(c @extschema@.denorm_counters)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.parent AND t.tgparentid = 0
                      AND t.tgfoid = '@extschema@.denorm_counter_guard()'::regprocedure
                      AND @extschema@.denorm_is_counter_trigger(t, c.id)) THEN
        -- (naming no column, so that the column's type can still change)
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW '
                       'EXECUTE FUNCTION @extschema@.denorm_counter_guard(%L)',
                       format('denorm_%s_guard', c.id), c.parent, c.id);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.parent AND t.tgparentid = 0
                      AND t.tgfoid = '@extschema@.denorm_parent_trigger()'::regprocedure
                      AND (t.tgtype::integer & 2) <> 0 AND (t.tgtype::integer & 16) <> 0
                      AND @extschema@.denorm_is_counter_trigger(t, c.id)) THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %I ON %s FOR EACH ROW '
                       'WHEN (OLD.%I IS DISTINCT FROM NEW.%I) '
                       'EXECUTE FUNCTION @extschema@.denorm_parent_trigger(%L)',
                       format('denorm_%s_key', c.id), c.parent_key, c.parent,
                       c.parent_key, c.parent_key, c.id);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.parent AND t.tgparentid = 0
                      AND t.tgfoid = '@extschema@.denorm_parent_trigger()'::regprocedure
                      AND (t.tgtype::integer & 4) <> 0
                      AND @extschema@.denorm_is_counter_trigger(t, c.id)) THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT ON %s FOR EACH ROW '
                       'EXECUTE FUNCTION @extschema@.denorm_parent_trigger(%L)',
                       format('denorm_%s_insert', c.id), c.parent, c.id);
    END IF;
    IF c.mode = 'deferred' AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.parent
                      AND t.tgparentid = 0
                      AND t.tgfoid = '@extschema@.denorm_parent_trigger()'::regprocedure
                      AND (t.tgtype::integer & 8) <> 0
                      AND @extschema@.denorm_is_counter_trigger(t, c.id)) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE OR UPDATE OF %I ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION @extschema@.denorm_parent_trigger(%L)',
                       format('denorm_%s_delete', c.id), c.parent_key, c.parent, c.id);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_install_parent_triggers(@extschema@.denorm_counters) IS
    'Internal: creates a counter''s missing triggers on its parent table (CREATE TRIGGER locks it SHARE ROW EXCLUSIVE)';
REVOKE ALL ON FUNCTION @extschema@.denorm_install_parent_triggers(@extschema@.denorm_counters) FROM PUBLIC;

-- User triggers on a counter's parent whose functions do not pin their own
-- search_path (SET search_path): denorm runs them as the parent's owner with
-- the owner's configured path, pg_temp last, for whoever writes a child; a
-- name that path does not find may still be found in the writer's pg_temp.
CREATE FUNCTION @extschema@.denorm_unpinned_parent_triggers(c @extschema@.denorm_counters)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('trigger "%s" (function %s)', t.tgname, t.tgfoid::regproc), '; '
                      ORDER BY t.tgname)
      FROM pg_trigger t
      JOIN pg_proc p ON p.oid = t.tgfoid
      JOIN pg_language l ON l.oid = p.prolang
     WHERE t.tgrelid = c.parent AND NOT t.tgisinternal
       AND l.lanname NOT IN ('c', 'internal')
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%')
$$;
COMMENT ON FUNCTION @extschema@.denorm_unpinned_parent_triggers(@extschema@.denorm_counters) IS
    'Internal: triggers on a counter''s parent whose functions have no SET search_path';
REVOKE ALL ON FUNCTION @extschema@.denorm_unpinned_parent_triggers(@extschema@.denorm_counters) FROM PUBLIC;

-- A counter's triggers together, child and parent.  Dropping them: its
-- own (on the parent, and any of 1.1's on its tables, wherever they are),
-- and the child triggers of each of its tables that no other counter
-- still needs.
CREATE FUNCTION @extschema@.denorm_remove_triggers(c @extschema@.denorm_counters)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tg.tgrelid::regclass AS rel, tg.tgname
               FROM pg_trigger tg
              WHERE (@extschema@.denorm_is_counter_trigger(tg, c.id)
                     OR (tg.tgnargs = 0
                         AND tg.tgfoid IN ('@extschema@.denorm_row_trigger()'::regprocedure,
                                           '@extschema@.denorm_stmt_trigger()'::regprocedure,
                                           '@extschema@.denorm_truncate_trigger()'::regprocedure,
                                           '@extschema@.denorm_truncate_end_trigger()'::regprocedure)
                         AND tg.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(c.child))
                         AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_counters o
                                          WHERE o.id <> c.id
                                            AND tg.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(o.child))
                                            AND (tg.tgfoid <> '@extschema@.denorm_row_trigger()'::regprocedure
                                                 OR o.child = c.child)
                                            AND (tg.tgfoid <> '@extschema@.denorm_truncate_end_trigger()'::regprocedure
                                                 OR o.aggregate IN ('min', 'max')))))
                AND NOT tg.tgisinternal AND tg.tgparentid = 0
              ORDER BY tg.tgrelid = c.child DESC, tg.tgname LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_remove_triggers(@extschema@.denorm_counters) IS
    'Internal: drops every trigger of a counter that no other counter needs (DROP TRIGGER locks each table ACCESS EXCLUSIVE)';
REVOKE ALL ON FUNCTION @extschema@.denorm_remove_triggers(@extschema@.denorm_counters) FROM PUBLIC;

-- What is wrong with a counter's triggers, or NULL when they are all there
-- and fire in normal operation (a trigger enabled only for replica mode
-- does not).  A trigger is found by the function it runs (and, on the
-- parent, the counter id it carries), whatever it is called; the expected
-- name is reported.
CREATE FUNCTION @extschema@.denorm_trigger_problems(c @extschema@.denorm_counters)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('trigger "%s" on table %s is %s', e.tgname,
                             format('%I.%I', n.nspname, k.relname),
                             CASE WHEN e.enabled IS NULL THEN 'missing' ELSE 'disabled' END),
                      '; ' ORDER BY e.rel::oid, e.tgname)
      FROM (SELECT rel, 'denorm_' || kind AS tgname,
                   (@extschema@.denorm_child_trigger(rel, fn, rel = c.child)).tgenabled AS enabled
              FROM @extschema@.denorm_child_tables(c.child) AS rel,
                   (VALUES ('row', '@extschema@.denorm_row_trigger()'::regprocedure),
                           ('stmt', '@extschema@.denorm_stmt_trigger()'::regprocedure),
                           ('truncate', '@extschema@.denorm_truncate_trigger()'::regprocedure),
                           ('truncate_end', '@extschema@.denorm_truncate_end_trigger()'::regprocedure)) AS f(kind, fn)
             WHERE f.kind <> 'truncate_end' OR c.aggregate IN ('min', 'max')
            UNION ALL
            SELECT c.parent, format('denorm_%s_%s', c.id, kind),
                   (SELECT t.tgenabled FROM pg_trigger t
                     WHERE t.tgrelid = c.parent AND @extschema@.denorm_is_counter_trigger(t, c.id)
                       AND CASE kind WHEN 'guard' THEN t.tgfoid = '@extschema@.denorm_counter_guard()'::regprocedure
                                     WHEN 'key' THEN (t.tgtype::integer & 18) = 18
                                     WHEN 'insert' THEN (t.tgtype::integer & 4) <> 0
                                     ELSE (t.tgtype::integer & 8) <> 0 END
                       AND (kind = 'guard') = (t.tgfoid = '@extschema@.denorm_counter_guard()'::regprocedure)
                     ORDER BY t.tgenabled = 'D', t.oid LIMIT 1)
              FROM unnest(CASE WHEN c.mode = 'deferred' THEN ARRAY['guard', 'key', 'insert', 'delete']
                               ELSE ARRAY['guard', 'key', 'insert'] END) AS kind) e
      JOIN pg_class k ON k.oid = e.rel
      JOIN pg_namespace n ON n.oid = k.relnamespace
     WHERE e.enabled IS NULL OR e.enabled IN ('D', 'R')
$$;
COMMENT ON FUNCTION @extschema@.denorm_trigger_problems(@extschema@.denorm_counters) IS
    'Internal: missing or disabled triggers of a counter, NULL when all fire';
REVOKE ALL ON FUNCTION @extschema@.denorm_trigger_problems(@extschema@.denorm_counters) FROM PUBLIC;

------------------------------------------------------------------------
-- What can be counted: the rules creation and the DDL guard share
------------------------------------------------------------------------

-- What a counter can be is checked by one function, denorm_counter_rules,
-- both when it is created and by the DDL guard after every change to its
-- tables: a counter column that is part of a key, a unique index, a
-- foreign key, a partition key, an identity or generated column; a parent
-- key that is not unique; keys compared in a way that depends on session
-- settings; a child with inheritance children (the triggers would not see
-- their rows); a counter whose filter or value column reads what denorm
-- maintains from it (a cycle).  denorm_counter_problem adds what a change
-- of its tables can break besides (a column gone or retyped, a filter that
-- no longer fits).  They only read the catalogs.

-- The type of a column, or the standard error when the table lacks it.
CREATE FUNCTION @extschema@.denorm_column_type(tbl regclass, col name)
RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t oid;
BEGIN
    SELECT atttypid INTO t FROM pg_attribute
     WHERE attrelid = tbl AND attname = col AND attnum > 0 AND NOT attisdropped;
    IF NOT FOUND THEN
        PERFORM @extschema@.denorm_error('42703', format('column "%s" of table "%s" does not exist', col, tbl),
                                         NULL, NULL);
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_column_type(regclass, name) IS
    'Internal: a column''s type, or undefined_column';
REVOKE ALL ON FUNCTION @extschema@.denorm_column_type(regclass, name) FROM PUBLIC;

-- Whether a type is one of PostgreSQL's own base types (no domain, no
-- user-defined type).
CREATE FUNCTION @extschema@.denorm_builtin_type(t oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT typtype = 'b' AND typnamespace = 'pg_catalog'::regnamespace
                       FROM pg_type WHERE oid = t), false)
$$;
COMMENT ON FUNCTION @extschema@.denorm_builtin_type(oid) IS
    'Internal: whether a type is a built-in base type';
REVOKE ALL ON FUNCTION @extschema@.denorm_builtin_type(oid) FROM PUBLIC;

-- Whether summing a numeric value column into a counter column would
-- round: the counter is not numeric, or has a fixed scale narrower than
-- the value's.
CREATE FUNCTION @extschema@.denorm_sum_rounds(parent regclass, counter_column name,
                                              child regclass, value_column name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT v.atttypid = 'numeric'::regtype
           AND (c.atttypid <> 'numeric'::regtype
                OR (c.atttypmod >= 0
                    AND (v.atttypmod < 0 OR ((v.atttypmod - 4) & 65535) > ((c.atttypmod - 4) & 65535))))
      FROM pg_attribute c, pg_attribute v
     WHERE c.attrelid = parent AND c.attname = counter_column
       AND v.attrelid = child AND v.attname = value_column
$$;
COMMENT ON FUNCTION @extschema@.denorm_sum_rounds(regclass, name, regclass, name) IS
    'Internal: whether sums of a value column would be rounded into a counter column';
REVOKE ALL ON FUNCTION @extschema@.denorm_sum_rounds(regclass, name, regclass, name) FROM PUBLIC;

-- What is wrong with the value and counter columns of a min or max counter,
-- or NULL: the value column must be of a built-in type with a default btree
-- ordering and a min/max aggregate of pg_catalog's, and the counter column
-- of the same type (with the same type modifier, or none).
CREATE FUNCTION @extschema@.denorm_extreme_type_problem(parent regclass, counter_column name,
                                                        child regclass, value_column name,
                                                        aggregate text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v record;
    k record;
BEGIN
    SELECT a.atttypid, a.atttypmod INTO v FROM pg_attribute a
     WHERE a.attrelid = child AND a.attname = value_column AND NOT a.attisdropped;
    SELECT a.atttypid, a.atttypmod INTO k FROM pg_attribute a
     WHERE a.attrelid = parent AND a.attname = counter_column AND NOT a.attisdropped;
    IF v.atttypid IS NULL OR k.atttypid IS NULL THEN
        RETURN NULL;            -- (a missing column is reported by the caller)
    END IF;
    IF NOT @extschema@.denorm_builtin_type(v.atttypid)
       OR NOT EXISTS (SELECT 1 FROM pg_aggregate g JOIN pg_proc f ON f.oid = g.aggfnoid
                       WHERE f.proname = aggregate AND f.pronamespace = 'pg_catalog'::regnamespace
                         AND f.pronargs = 1
                         AND (f.proargtypes[0] = v.atttypid
                              OR EXISTS (SELECT 1 FROM pg_cast c WHERE c.castsource = v.atttypid
                                            AND c.casttarget = f.proargtypes[0] AND c.castmethod = 'b')))
       OR NOT EXISTS (SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                       WHERE m.amname = 'btree' AND o.opcdefault
                         AND (o.opcintype = v.atttypid
                              OR EXISTS (SELECT 1 FROM pg_cast c WHERE c.castsource = v.atttypid
                                            AND c.casttarget = o.opcintype AND c.castmethod = 'b'))) THEN
        RETURN format('value column "%s" of table %s is of type %s, which has no built-in %s',
                      value_column, child, format_type(v.atttypid, v.atttypmod), aggregate);
    END IF;
    IF k.atttypid <> v.atttypid OR (k.atttypmod <> -1 AND k.atttypmod <> v.atttypmod) THEN
        RETURN format('counter column "%s" of table %s is of type %s, not %s like value column "%s" of table %s',
                      counter_column, parent, format_type(k.atttypid, k.atttypmod),
                      format_type(v.atttypid, v.atttypmod), value_column, child);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_extreme_type_problem(regclass, name, regclass, name, text) IS
    'Internal: why a min or max counter''s value and counter columns do not fit, or NULL';
REVOKE ALL ON FUNCTION @extschema@.denorm_extreme_type_problem(regclass, name, regclass, name, text) FROM PUBLIC;

-- The checks of denorm_create_counter for a min or max counter, raised as
-- its errors: the types (denorm_extreme_type_problem) and the mode (a
-- deferred extreme cannot be folded from pending rows: a removal needs the
-- children).  A partitioned child is fine: partitions that come and go by
-- DDL are recomputed from the children that remain (src/recompute.c).
CREATE FUNCTION @extschema@.denorm_check_extreme(parent regclass, counter_column name,
                                                 child regclass, value_column name,
                                                 aggregate text, mode text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
BEGIN
    IF value_column IS NULL THEN
        PERFORM @extschema@.denorm_error('22023', format('a %s counter needs a value_column', aggregate),
            NULL, NULL);
    END IF;
    PERFORM @extschema@.denorm_column_type(child, value_column);
    problem := @extschema@.denorm_extreme_type_problem(parent, counter_column, child, value_column, aggregate);
    IF problem IS NOT NULL THEN
        PERFORM @extschema@.denorm_error('42804', format('cannot create a denorm %s counter in column "%s" of table "%s"', aggregate, counter_column, parent),
            upper(left(problem, 1)) || substr(problem, 2) || '.',
            'A min or max counter column has the type of its value column, which must be one with a default btree ordering (integers, numeric, dates and times, text, ...).');
    END IF;
    IF mode = 'deferred' THEN
        PERFORM @extschema@.denorm_error('0A000', format('a %s counter cannot be deferred', aggregate),
            'Removing a parent''s extreme needs its remaining children, which pending deltas cannot give.',
            'Use mode => ''immediate'' or mode => ''commit''.');
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_check_extreme(regclass, name, regclass, name, text, text) IS
    'Internal: the creation checks of a min or max counter, raised as errors';
REVOKE ALL ON FUNCTION @extschema@.denorm_check_extreme(regclass, name, regclass, name, text, text) FROM PUBLIC;

-- Without an index on (foreign key, value), every removal of a parent's
-- extreme reads all the children of its key: creation warns.
CREATE FUNCTION @extschema@.denorm_extreme_indexed(c @extschema@.denorm_counters)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_index i
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     JOIN pg_attribute b ON b.attrelid = i.indrelid AND b.attnum = i.indkey[1]
                    WHERE i.indrelid = c.child AND i.indnkeyatts >= 2 AND i.indpred IS NULL
                      AND a.attname = c.foreign_key AND b.attname = c.value_column)
$$;
COMMENT ON FUNCTION @extschema@.denorm_extreme_indexed(@extschema@.denorm_counters) IS
    'Internal: whether the child has an index that starts with a min or max counter''s foreign key and value column';
REVOKE ALL ON FUNCTION @extschema@.denorm_extreme_indexed(@extschema@.denorm_counters) FROM PUBLIC;

-- A filter is one boolean expression over the child's columns, parsed on
-- its own, immutable, and stored in a canonical, fully schema-qualified
-- form so that later parses cannot be redirected by search_path.
CREATE FUNCTION @extschema@.denorm_normalize_filter(child regclass, filter text)
RETURNS text
AS 'MODULE_PATHNAME', 'denorm_normalize_filter'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.denorm_normalize_filter(regclass, text) IS
    'Checks a counter filter against the child table and returns its canonical form';
REVOKE ALL ON FUNCTION @extschema@.denorm_normalize_filter(regclass, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_filter_columns(child regclass, filter text)
RETURNS name[]
AS 'MODULE_PATHNAME', 'denorm_filter_columns'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION @extschema@.denorm_filter_columns(regclass, text) IS
    'Internal: the columns of the child a filter reads';
REVOKE ALL ON FUNCTION @extschema@.denorm_filter_columns(regclass, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_key_compare_problem(key_type regtype, fk_type regtype)
RETURNS text
AS 'MODULE_PATHNAME', 'denorm_key_compare_problem'
LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION @extschema@.denorm_key_compare_problem(regtype, regtype) IS
    'Internal: why a parent key cannot be matched with a foreign key exactly, or NULL';
REVOKE ALL ON FUNCTION @extschema@.denorm_key_compare_problem(regtype, regtype) FROM PUBLIC;

-- The columns a counter reads on its child: the value column and those of
-- its filter (none for a filter that no longer parses: reported elsewhere)
CREATE FUNCTION @extschema@.denorm_counter_reads(c @extschema@.denorm_counters)
RETURNS name[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN array_remove(ARRAY[c.value_column], NULL)
           || CASE WHEN c.filter IS NULL THEN '{}'::name[]
                   ELSE @extschema@.denorm_filter_columns(c.child, c.filter) END;
EXCEPTION WHEN syntax_error_or_access_rule_violation OR undefined_table THEN
    RETURN array_remove(ARRAY[c.value_column], NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_counter_reads(@extschema@.denorm_counters) IS
    'Internal: the columns of its child a counter reads';
REVOKE ALL ON FUNCTION @extschema@.denorm_counter_reads(@extschema@.denorm_counters) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_counter_rules(c @extschema@.denorm_counters)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col record;
    what text;
    problem text;
BEGIN
    SELECT a.attnum, a.attidentity, a.attgenerated INTO col
      FROM pg_attribute a
     WHERE a.attrelid = c.parent AND a.attname = c.counter_column AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RETURN NULL;            -- (a missing column is reported by the caller)
    END IF;
    IF col.attidentity <> '' THEN
        RETURN format('column "%s" of table %s is an identity column', c.counter_column, c.parent);
    END IF;
    IF col.attgenerated <> '' THEN
        RETURN format('column "%s" of table %s is a generated column', c.counter_column, c.parent);
    END IF;
    -- keys: what the backfill and every delta would rewrite
    SELECT format('column "%s" of table %s is part of %s', c.counter_column, c.parent, w) INTO what
      FROM (SELECT 1 AS o, format('%s %s',
                                  CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                                                 WHEN 'f' THEN 'foreign key' ELSE 'exclusion constraint' END,
                                  quote_ident(k.conname)) AS w
              FROM pg_constraint k
             WHERE k.conrelid = c.parent AND k.contype IN ('p', 'u', 'f', 'x') AND col.attnum = ANY (k.conkey)
            UNION ALL
            SELECT 2, format('unique index %s', i.indexrelid::regclass)
              FROM pg_index i
             WHERE i.indrelid = c.parent AND i.indisunique
               AND (col.attnum = ANY (i.indkey::int2[])
                    OR (i.indexprs IS NOT NULL
                        AND pg_get_indexdef(i.indexrelid) ~ ('\m' || quote_ident(c.counter_column) || '\M')))
            UNION ALL
            SELECT 3, format('foreign key %s of table %s', quote_ident(k.conname), k.conrelid::regclass)
              FROM pg_constraint k
             WHERE k.confrelid = c.parent AND k.contype = 'f' AND col.attnum = ANY (k.confkey)
            UNION ALL
            SELECT 4, format('the partition key of table %s', t.partrelid::regclass)
              FROM pg_partitioned_table t
             WHERE t.partrelid IN (SELECT c.parent UNION SELECT relid FROM pg_partition_ancestors(c.parent))
               AND EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = t.partrelid AND a.attname = c.counter_column
                              AND a.attnum = ANY (t.partattrs::int2[]))
             ORDER BY 1 LIMIT 1) k;
    IF what IS NOT NULL THEN
        RETURN what;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_attribute a
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = c.parent AND i.indisunique AND i.indnkeyatts = 1
           AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = c.parent_key) THEN
        RETURN format('parent key column "%s" of table %s has no unique index or constraint of its own',
                      c.parent_key, c.parent);
    END IF;
    problem := @extschema@.denorm_key_compare_problem(@extschema@.denorm_column_type(c.parent, c.parent_key),
                                                      @extschema@.denorm_column_type(c.child, c.foreign_key));
    IF problem IS NOT NULL THEN
        RETURN format('%s (parent key "%s" of table %s, foreign key "%s" of table %s)',
                      problem, c.parent_key, c.parent, c.foreign_key, c.child);
    END IF;
    SELECT format('table %s inherits from table %s; the counter''s triggers would not see its rows',
                  i.inhrelid::regclass, i.inhparent::regclass) INTO what
      FROM @extschema@.denorm_child_tables(c.child) t
      JOIN pg_inherits i ON i.inhparent = t
      JOIN pg_class k ON k.oid = i.inhrelid
     WHERE NOT k.relispartition
     ORDER BY i.inhrelid LIMIT 1;
    IF what IS NOT NULL THEN
        RETURN what;
    END IF;
    -- a cycle: counter x feeds counter y when y's child is x's parent and y
    -- reads x's column; none may feed itself
    IF EXISTS (
        WITH RECURSIVE cs AS (
            SELECT d.id, d.parent, d.child, d.counter_column, @extschema@.denorm_counter_reads(d) AS reads
              FROM @extschema@.denorm_counters d WHERE d.id IS DISTINCT FROM c.id
            UNION ALL
            SELECT coalesce(c.id, 0), c.parent, c.child, c.counter_column, @extschema@.denorm_counter_reads(c)),
        fed(id) AS (
            SELECT y.id FROM cs x JOIN cs y ON y.child = x.parent AND x.counter_column = ANY (y.reads)
             WHERE x.id = coalesce(c.id, 0)
            UNION
            SELECT y.id FROM fed f JOIN cs x ON x.id = f.id
              JOIN cs y ON y.child = x.parent AND x.counter_column = ANY (y.reads))
        SELECT 1 FROM fed WHERE id = coalesce(c.id, 0)) THEN
        RETURN format('column "%s" of table %s would feed itself: a filter or value column of a counter it changes reads it',
                      c.counter_column, c.parent);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_counter_rules(@extschema@.denorm_counters) IS
    'Internal: which rule of what can be counted a counter breaks, or NULL';
REVOKE ALL ON FUNCTION @extschema@.denorm_counter_rules(@extschema@.denorm_counters) FROM PUBLIC;

-- Whether a counter's filter still parses against its child table.
CREATE FUNCTION @extschema@.denorm_filter_parses(c @extschema@.denorm_counters)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF c.filter IS NOT NULL THEN
        PERFORM @extschema@.denorm_normalize_filter(c.child, c.filter);
    END IF;
    RETURN true;
EXCEPTION WHEN syntax_error_or_access_rule_violation THEN
    -- a column gone, retyped so that an operator or function no longer fits
    RETURN false;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_filter_parses(@extschema@.denorm_counters) IS
    'Internal: false when a counter''s filter no longer fits its child (a column it reads gone or retyped)';
REVOKE ALL ON FUNCTION @extschema@.denorm_filter_parses(@extschema@.denorm_counters) FROM PUBLIC;

-- Whether a counter still fits its tables: every column it names exists
-- with a usable type and its filter still parses.  Returns what is wrong,
-- or NULL.
CREATE FUNCTION @extschema@.denorm_counter_problem(c @extschema@.denorm_counters)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    numeric_types oid[] := ARRAY['int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype]::oid[];
    col record;
    problem text;
BEGIN
    FOR col IN SELECT * FROM (VALUES (c.parent, c.counter_column, c.aggregate IN ('count', 'sum')),
                                     (c.parent, c.parent_key, false),
                                     (c.child, c.foreign_key, false),
                                     (c.child, c.value_column, c.aggregate = 'sum')) v(rel, attname, is_number)
                WHERE v.attname IS NOT NULL LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = col.rel
                          AND a.attname = col.attname AND NOT a.attisdropped) THEN
            RETURN format('column "%s" of table %s no longer exists', col.attname, col.rel);
        END IF;
        IF col.is_number AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = col.rel
                          AND a.attname = col.attname AND a.atttypid = ANY (numeric_types)) THEN
            RETURN format('column "%s" of table %s is no longer an integer or numeric type',
                          col.attname, col.rel);
        END IF;
    END LOOP;
    IF c.aggregate IN ('min', 'max') THEN
        problem := @extschema@.denorm_extreme_type_problem(c.parent, c.counter_column, c.child,
                                                           c.value_column, c.aggregate);
        IF problem IS NOT NULL THEN
            RETURN problem;
        END IF;
    ELSIF c.value_column IS NOT NULL
       AND @extschema@.denorm_sum_rounds(c.parent, c.counter_column, c.child, c.value_column) THEN
        RETURN format('sums of numeric column "%s" would be rounded into column "%s"',
                      c.value_column, c.counter_column);
    END IF;
    IF NOT @extschema@.denorm_builtin_type(@extschema@.denorm_column_type(c.parent, c.parent_key))
       OR NOT @extschema@.denorm_builtin_type(@extschema@.denorm_column_type(c.child, c.foreign_key)) THEN
        RETURN 'its parent key or foreign key would no longer be of a built-in type';
    END IF;
    IF NOT @extschema@.denorm_filter_parses(c) THEN
        RETURN format('its filter %s no longer fits table %s', c.filter, c.child);
    END IF;
    RETURN @extschema@.denorm_counter_rules(c);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_counter_problem(@extschema@.denorm_counters) IS
    'Internal: what no longer fits in a counter''s tables, or NULL';
REVOKE ALL ON FUNCTION @extschema@.denorm_counter_problem(@extschema@.denorm_counters) FROM PUBLIC;

-- Without an index on the foreign key, reconcile and recomputes read the
-- whole child table: creation warns, denorm_status shows it.
CREATE FUNCTION @extschema@.denorm_fk_indexed(c @extschema@.denorm_counters)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
                       ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = c.child AND a.attname = c.foreign_key
                      AND i.indpred IS NULL)
$$;
COMMENT ON FUNCTION @extschema@.denorm_fk_indexed(@extschema@.denorm_counters) IS
    'Internal: whether the child has an index that starts with the counter''s foreign key';
-- (PUBLIC may run it: the status view calls it; see Privileges)

------------------------------------------------------------------------
-- Citus: counters over distributed, co-located tables
------------------------------------------------------------------------

-- The nodes' copy of the registry (src/citus.c): one row per counter
-- whose child is a Citus table, with its tables by schema and name (OIDs
-- differ between nodes).  The first such counter makes it a Citus
-- reference table, which Citus keeps on every node, nodes added later
-- included, and writes in the transaction that writes it.  Only denorm
-- writes it, as its owner, and only from denorm_counters
-- (denorm_citus_publish); a shard's trigger on a worker trusts a counter
-- only through it and Citus's own metadata.
CREATE TABLE @extschema@.denorm_citus_registry (
    id              integer PRIMARY KEY,
    parent_schema   text NOT NULL,
    parent_table    text NOT NULL,
    counter_column  text NOT NULL,
    child_schema    text NOT NULL,
    child_table     text NOT NULL,
    foreign_key     text NOT NULL,
    parent_key      text NOT NULL,
    aggregate       text NOT NULL,
    value_column    text,
    filter          text,
    mode            text NOT NULL
);
COMMENT ON TABLE @extschema@.denorm_citus_registry IS
    'With Citus: the counters on distributed tables as every node reads them (tables by schema and name), a reference table copied from denorm_counters by denorm';
REVOKE ALL ON TABLE @extschema@.denorm_citus_registry FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.denorm_citus_registry TO PUBLIC;

CREATE FUNCTION @extschema@.denorm_citus_kind(tbl regclass)
RETURNS "char"
AS 'MODULE_PATHNAME', 'denorm_citus_kind'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION @extschema@.denorm_citus_kind(regclass) IS
    'Internal: the Citus distribution method of a table (''h'' hash-distributed, ''n'' reference or Citus local table), ''s'' for a shard, NULL for a table Citus does not manage or without Citus';
REVOKE ALL ON FUNCTION @extschema@.denorm_citus_kind(regclass) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_citus_worker()
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_citus_worker'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_citus_worker() IS
    'Internal: whether this node is a Citus worker (Citus installed and this node not the coordinator)';
REVOKE ALL ON FUNCTION @extschema@.denorm_citus_worker() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_citus_publish(counter_id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_citus_publish'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.denorm_citus_publish(integer) IS
    'Internal: makes a counter''s row of denorm_citus_registry what denorm_counters says (none when its child is no Citus table or it is gone), as the owner of denorm''s tables; true when it has one';
REVOKE ALL ON FUNCTION @extschema@.denorm_citus_publish(integer) FROM PUBLIC;

-- Wraps the new value of a counter column that a heal or backfill on the
-- coordinator writes to a distributed parent, whose row Citus updates on
-- its shard's node: the counter's guard there lets the marked row through
-- (src/citus.c).  The guard keeps accidental writes out, which anyone may
-- allow anyway (denorm.counter_writes), so PUBLIC may run it: the parent's
-- owner runs the UPDATE.
CREATE FUNCTION @extschema@.denorm_counter_write(value anyelement)
RETURNS anyelement
AS 'MODULE_PATHNAME', 'denorm_counter_write'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION @extschema@.denorm_counter_write(anyelement) IS
    'Internal: returns its argument, marking the row being updated as written by denorm for the counter column''s guard (heals of distributed parents with Citus)';
GRANT EXECUTE ON FUNCTION @extschema@.denorm_counter_write(anyelement) TO PUBLIC;

-- Brings the nodes' copy of the registry up to date: after a counter's
-- tables were distributed while empty, after renaming a table with
-- counters, or to check it.  Counters created on distributed tables are
-- copied as they are created, dropped and renamed by their columns.
CREATE FUNCTION @extschema@.denorm_citus_sync()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d @extschema@.denorm_counters;
    gone integer;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM @extschema@.denorm_error('0A000', 'extension "citus" is not installed',
            'denorm_citus_sync() copies counters on Citus distributed tables to the other nodes.',
            NULL);
    END IF;
    FOR d IN SELECT * FROM @extschema@.denorm_counters ORDER BY id LOOP
        IF @extschema@.denorm_citus_kind(d.child) IS NOT NULL THEN
            -- the rules a counter created on distributed tables passes
            PERFORM @extschema@.denorm_citus_check(d);
        END IF;
        IF @extschema@.denorm_citus_publish(d.id) THEN
            n := n + 1;
        END IF;
    END LOOP;
    IF @extschema@.denorm_citus_kind('@extschema@.denorm_citus_registry') IS NOT NULL THEN
        -- (read whole first: publishing writes the table)
        FOREACH gone IN ARRAY coalesce((SELECT array_agg(r.id ORDER BY r.id)
                                          FROM @extschema@.denorm_citus_registry r), '{}') LOOP
            PERFORM @extschema@.denorm_citus_publish(gone);
        END LOOP;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_citus_sync() IS
    'With Citus: copies every counter whose child is a distributed table to denorm_citus_registry, which every node reads, and removes the rows of counters that are gone; returns how many it holds';
REVOKE ALL ON FUNCTION @extschema@.denorm_citus_sync() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_citus_check(c @extschema@.denorm_counters)
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_citus_check'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.denorm_citus_check(@extschema@.denorm_counters) IS
    'Internal: refuses a counter over Citus tables that denorm cannot keep (not both hash-distributed and co-located on the parent key and the foreign key, partitioned, deferred, min or max)';
REVOKE ALL ON FUNCTION @extschema@.denorm_citus_check(@extschema@.denorm_counters) FROM PUBLIC;

------------------------------------------------------------------------
-- Guards: DDL on counted tables (event triggers)
------------------------------------------------------------------------

-- Changes to counted tables that would break a counter are refused, and
-- partitions that come and go are followed: a partition dropped or
-- detached is taken off its counters before the command
-- (denorm_on_drop_start), one attached is added to them when it ends
-- (denorm_shift_attached, from the DDL guard).  Both are corrections under
-- the lock the command holds, so writers of other partitions lose nothing.
-- A min or max counter takes an attached table's extremes as candidates;
-- a dropped or detached partition's keys are noted when the command starts
-- and recomputed from the children that remain when it ends
-- (denorm_on_drop_end).  The event triggers act on denorm's own objects
-- only, found by OID.

-- Recomputes a counter as its parent's owner (used by the DDL guard of 1.2
-- and before).
CREATE FUNCTION @extschema@.denorm_recompute_counter(counter_id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_recompute_counter'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_recompute_counter(integer) IS
    'Internal: sets every parent row of a counter to what its children add up to, as the parent''s owner; takes no lock on the child, so it is exact only while the caller keeps writers out (not called since 1.3)';
REVOKE ALL ON FUNCTION @extschema@.denorm_recompute_counter(integer) FROM PUBLIC;

-- Adds to the counters above it what each table the ending ALTER TABLE
-- attached adds up to.
CREATE FUNCTION @extschema@.denorm_shift_attached()
RETURNS bigint
AS 'MODULE_PATHNAME', 'denorm_shift_attached'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_shift_attached() IS
    'Internal: adds to the counters above it what each table the ending ALTER TABLE attached adds up to, under the lock ATTACH PARTITION holds (updating the parent rows)';
REVOKE ALL ON FUNCTION @extschema@.denorm_shift_attached() FROM PUBLIC;

-- After DDL on a counter's tables:
--  * a change that breaks the counter (a rule of denorm_counter_rules, a
--    column it uses renamed or retyped, one its filter reads) is refused,
--    naming the counter;
--  * new or attached partitions of a counted child get the statement and
--    TRUNCATE triggers (PostgreSQL clones only the row trigger), and
--    detached ones lose them; what attached tables bring in is added
--    (denorm_shift_attached);
--  * a counter's triggers that are missing are created again.
-- Only counters whose row trigger is in place are considered: during a
-- restore the registry rows arrive before the triggers, which pg_restore
-- creates itself.
CREATE FUNCTION @extschema@.denorm_on_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
-- as the extension's owner: whoever changes a counted table need not
-- administer denorm; corrections run as the tables' owners
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.denorm_counters;
    tbl regclass;
    problem text;
    moved bigint;
BEGIN
    moved := @extschema@.denorm_shift_attached();
    IF moved > 0 THEN
        RAISE NOTICE 'denorm counters corrected for the rows of attached partitions (% parent keys)', moved;
    END IF;
    -- tables that carry denorm's child triggers but are in no counter's
    -- tree any more (detached partitions)
    FOR tbl IN SELECT DISTINCT t.tgrelid::regclass
                 FROM pg_trigger t
                WHERE t.tgnargs = 0 AND t.tgparentid = 0
                  AND t.tgfoid IN ('@extschema@.denorm_stmt_trigger()'::regprocedure,
                                   '@extschema@.denorm_truncate_trigger()'::regprocedure,
                                   '@extschema@.denorm_truncate_end_trigger()'::regprocedure)
                  AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_counters d
                                   WHERE t.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(d.child)))
                  -- (with Citus, not the tables and shards Citus manages, nor
                  -- anything on a worker, where the coordinator's counters are)
                  AND NOT @extschema@.denorm_citus_worker()
                  AND @extschema@.denorm_citus_kind(t.tgrelid::regclass) IS NULL
    LOOP
        -- (a table dropped since, such as a shard Citus moved away)
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS denorm_stmt ON %s', tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS denorm_truncate ON %s', tbl);
        -- (only min and max trees have it)
        IF (@extschema@.denorm_child_trigger(tbl, '@extschema@.denorm_truncate_end_trigger()', false)).oid IS NOT NULL THEN
            EXECUTE format('DROP TRIGGER IF EXISTS denorm_truncate_end ON %s', tbl);
        END IF;
    END LOOP;

    FOR c IN SELECT d.* FROM @extschema@.denorm_counters d
              WHERE (@extschema@.denorm_child_trigger(d.child, '@extschema@.denorm_row_trigger()', true)).oid
                    IS NOT NULL
                AND EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() e
                             WHERE e.classid = 'pg_class'::regclass
                               AND (e.objid = d.parent OR e.objid IN
                                    (SELECT * FROM @extschema@.denorm_child_tables(d.child))
                                    -- a table made to inherit from one of them
                                    OR e.objid IN (SELECT i.inhrelid FROM pg_inherits i
                                                    WHERE i.inhparent IN
                                                          (SELECT * FROM @extschema@.denorm_child_tables(d.child)))))
              ORDER BY d.id LOOP
        problem := @extschema@.denorm_counter_problem(c);
        IF problem IS NOT NULL THEN
            PERFORM @extschema@.denorm_error('2BP01', format('this change would break denorm counter %s on %s.%s', c.id, c.parent, c.counter_column),
            format('After it, %s.', problem),
            format('Drop the counter first with denorm_drop_counter(%s), make the change, then create the counter again.', c.id));
        END IF;
        FOR tbl IN SELECT * FROM @extschema@.denorm_child_tables(c.child) LOOP
            PERFORM @extschema@.denorm_install_triggers(c, tbl);
        END LOOP;
        PERFORM @extschema@.denorm_install_parent_triggers(c);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_on_ddl() IS
    'Event trigger after CREATE and ALTER TABLE: refuses changes that break counters, follows renames and partitions (adding what attached ones bring, denorm_shift_attached) and creates missing triggers';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_ddl() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_ddl();
COMMENT ON EVENT TRIGGER denorm_guard_ddl IS
    'Refuses table changes that break denorm counters and follows renames and partitions';

-- Partitions leaving with their rows (DROP TABLE, DETACH PARTITION, and
-- DROP SCHEMA ... CASCADE or DROP OWNED taking partitions with them): taken
-- off their counters when the command starts, after taking the lock it is
-- about to take; tables being attached are noted for denorm_shift_attached.
CREATE FUNCTION @extschema@.denorm_on_drop_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_drop_start'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_drop_start() IS
    'Event trigger: before DROP TABLE, DETACH PARTITION, DROP SCHEMA ... CASCADE or DROP OWNED removes a counted partition, locks it and its parent ACCESS EXCLUSIVE (as the command will) and takes its rows off the counters (for a min or max, notes their keys for denorm_on_drop_end); notes tables being attached';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_drop_start() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_drop_start ON ddl_command_start
    WHEN TAG IN ('DROP TABLE', 'ALTER TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION @extschema@.denorm_on_drop_start();
COMMENT ON EVENT TRIGGER denorm_guard_drop_start IS
    'Takes off the denorm counters above it what a partition being dropped or detached adds up to';

-- A min or max takes no correction: the start notes the keys of the
-- leaving partition's rows and their extremes, and the end, once the
-- partition has left its tree, recomputes the parents whose extreme those
-- rows held from the children that remain, each under its row lock.
CREATE FUNCTION @extschema@.denorm_on_drop_end()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_drop_end'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_drop_end() IS
    'Event trigger: after DROP TABLE or DETACH PARTITION of a partition counted by a min or max counter, recomputes the parent rows whose extreme its rows held from the children that remain (locking and updating them)';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_drop_end() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_drop_end ON ddl_command_end
    WHEN TAG IN ('DROP TABLE', 'ALTER TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION @extschema@.denorm_on_drop_end();
COMMENT ON EVENT TRIGGER denorm_guard_drop_end IS
    'Recomputes the denorm min and max counters whose extreme a dropped or detached partition held';

-- ALTER TABLE ... RENAME COLUMN of a column a counter uses (its counter
-- column, parent key, foreign key, value column, or one its filter reads)
-- is followed: the counters that use it are noted when the command starts,
-- their filters parsed while the old name still resolves, and the
-- registry gets the new names when it ends, in the same transaction
-- (src/rename.c).  ALTER VIEW, ALTER MATERIALIZED VIEW and ALTER FOREIGN
-- TABLE can rename a table's columns too.  The end step must run before
-- denorm_guard_ddl, which would refuse the rename it has not seen
-- followed: event triggers fire in the order of their names.
CREATE FUNCTION @extschema@.denorm_on_rename_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_rename_start'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_rename_start() IS
    'Event trigger: notes the denorm counters that use a column being renamed';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_rename_start() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_on_rename_end()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_rename_end'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_rename_end() IS
    'Event trigger: gives the denorm counters noted when a column rename started its new name';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_rename_end() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_column_rename_start ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_rename_start();
COMMENT ON EVENT TRIGGER denorm_guard_column_rename_start IS
    'Notes the denorm counters that use a column being renamed';

-- (named to fire before denorm_guard_ddl)
CREATE EVENT TRIGGER denorm_guard_column_rename_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_rename_end();
COMMENT ON EVENT TRIGGER denorm_guard_column_rename_end IS
    'Gives the denorm counters that use a renamed column its new name';

-- Dropping a counter's parent or child table drops the counter with it
-- (its triggers on the other table and its registry row).  So that a
-- migration which drops or rebuilds a table does not lose its counters
-- unseen, each such counter is named in a WARNING with the call that
-- recreates it, and its definition is kept in denorm_dropped_counters
-- (view denorm_dropped), under the names its tables had: the dropped
-- objects give those of tables dropped, the catalog those of tables left;
-- the names a table had before it was renamed come from
-- denorm_renamed_tables (src/dropped.c).  denorm_drop_counter does not come
-- here.  Dropping a column a counter uses is refused: the counter would
-- fail on every write.  (A dropped partition was taken off its counters
-- when the DROP started.)
CREATE FUNCTION @extschema@.denorm_on_drop()
RETURNS event_trigger
LANGUAGE plpgsql
-- as the extension's owner: whoever changes a counted table need not
-- administer denorm
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    c @extschema@.denorm_counters;
    kept @extschema@.denorm_dropped_counters;
    dropped oid[];
    parent_now regclass;
    child_now regclass;
    hint text;
BEGIN
    FOR o IN SELECT * FROM pg_event_trigger_dropped_objects()
              WHERE object_type IN ('table', 'table column') LOOP
        IF o.object_type = 'table column' THEN
            SELECT * INTO c FROM @extschema@.denorm_counters d
             WHERE (d.parent = o.objid AND o.address_names[3] IN (d.counter_column, d.parent_key))
                OR (d.child = o.objid AND o.address_names[3] IN (d.foreign_key, d.value_column))
                OR (d.child = o.objid AND NOT @extschema@.denorm_filter_parses(d))
             LIMIT 1;
            IF FOUND THEN
                PERFORM @extschema@.denorm_error('2BP01', format('cannot drop column %s because denorm counter %s uses it', o.object_identity, c.id),
            NULL,
            format('Drop the counter first with denorm_drop_counter(%s).', c.id));
            END IF;
            CONTINUE;
        END IF;
        dropped := dropped || o.objid;
        FOR c IN SELECT * FROM @extschema@.denorm_counters d
                  WHERE d.parent = o.objid OR d.child = o.objid ORDER BY d.id LOOP
            kept := @extschema@.denorm_dropped_record(c, o.object_identity, tg_tag);
            -- (a counter id is used once, unless its sequence was set back:
            -- then the record of the earlier counter of that id gives way)
            DELETE FROM @extschema@.denorm_dropped_counters x WHERE x.counter_id = c.id;
            INSERT INTO @extschema@.denorm_dropped_counters VALUES (kept.*);
            -- the triggers on the table that went went with it; those on
            -- the other table must go too
            PERFORM @extschema@.denorm_remove_triggers(c);
            DELETE FROM @extschema@.denorm_counters d WHERE d.id = c.id;
            DELETE FROM @extschema@.denorm_pending q WHERE q.counter_id = c.id;

            -- (only tables denorm_recreate_counter would take: of the
            -- record's owners)
            parent_now := @extschema@.denorm_dropped_table(kept.parent, kept.parent_was);
            IF (SELECT pg_get_userbyid(k.relowner) FROM pg_class k WHERE k.oid = parent_now)
               IS DISTINCT FROM kept.parent_owner THEN
                parent_now := NULL;
            END IF;
            child_now := @extschema@.denorm_dropped_table(kept.child, kept.child_was);
            IF (SELECT pg_get_userbyid(k.relowner) FROM pg_class k WHERE k.oid = child_now)
               IS DISTINCT FROM kept.child_owner THEN
                child_now := NULL;
            END IF;
            IF parent_now IS NOT NULL AND child_now IS NOT NULL THEN
                hint := format('Recreate it on table "%s", counting table "%s", with: SELECT denorm_recreate_counter(%s);',
                               parent_now, child_now, c.id);
            ELSE
                hint := format('Once table "%s" exists again, recreate it with: SELECT denorm_recreate_counter(%s);',
                               CASE WHEN parent_now IS NULL
                                    THEN coalesce(kept.parent_was[1], kept.parent)
                                    ELSE coalesce(kept.child_was[1], kept.child) END,
                               c.id);
            END IF;
            RAISE WARNING USING
                MESSAGE = format('denorm counter %s in column "%s" of table "%s" was dropped with table "%s"',
                                 c.id, c.counter_column, kept.parent, o.object_identity),
                DETAIL = format('It counted the rows of table "%s" by column "%s".', kept.child, kept.foreign_key)
                         || CASE WHEN cardinality(kept.parent_was) > 0
                                 THEN format(' Table "%s" was named "%s" before it was renamed.', kept.parent, kept.parent_was[1])
                                 ELSE '' END
                         || CASE WHEN cardinality(kept.child_was) > 0 AND kept.child <> kept.parent
                                 THEN format(' Table "%s" was named "%s" before it was renamed.', kept.child, kept.child_was[1])
                                 ELSE '' END
                         || ' The view denorm_dropped keeps its definition.',
                HINT = hint;
        END LOOP;
    END LOOP;
    -- renames noted for tables that are gone are forgotten
    IF dropped IS NOT NULL THEN
        DELETE FROM @extschema@.denorm_renamed_tables r WHERE r.tbl::oid = ANY (dropped);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_on_drop() IS
    'Event trigger: drops counters with their tables (dropping their triggers on the other table), recording each in denorm_dropped_counters with a WARNING, and refuses to drop the columns they use';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_drop() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_drops ON sql_drop
    EXECUTE FUNCTION @extschema@.denorm_on_drop();
COMMENT ON EVENT TRIGGER denorm_guard_drops IS
    'Drops denorm counters with their tables, recording and naming each, and refuses to drop the columns they use';

------------------------------------------------------------------------
-- DROP EXTENSION denorm
------------------------------------------------------------------------

-- What DROP EXTENSION denorm does first, while the extension is still
-- whole (called by denorm_on_drop_extension, below, with whether the drop
-- cascades).  A drop without CASCADE is refused while counters exist, so
-- then nothing is done.  Otherwise:
-- 1. this transaction's commit-time deltas are applied, and every pending
--    delta of deferred counters is folded into its column (denorm_flush),
--    with denorm_pending locked against new deltas first, so the parents
--    end exact; a flush that fails fails the drop;
-- 2. the pg_cron jobs of this database that denorm_schedule_reconcile,
--    denorm_schedule_flush and denorm_schedule_purge made (found by the
--    commands they run, which name this extension's schema: the reconcile
--    job's name is the caller's) are unscheduled; other jobs that mention
--    denorm_ are named in a WARNING and left alone.
-- As the extension's owner, as the other event triggers run: unscheduling
-- another role's pg_cron job takes a superuser.
CREATE FUNCTION @extschema@.denorm_before_drop_extension(cascading boolean)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.denorm_counters;
    counters text;
    folded bigint;
    st text;
    msg text;
    j record;
    gone text[] := '{}';
    others text[] := '{}';
BEGIN
    IF NOT cascading AND EXISTS (SELECT 1 FROM @extschema@.denorm_counters) THEN
        RETURN;     -- refused by its dependencies, with nothing changed
    END IF;

    PERFORM @extschema@.denorm_apply();
    -- writers append pending deltas under ROW EXCLUSIVE: keep new ones out
    -- until the extension (and the table) is gone
    LOCK TABLE @extschema@.denorm_pending IN EXCLUSIVE MODE;
    SELECT string_agg(DISTINCT d.id::text, ', ') INTO counters
      FROM @extschema@.denorm_pending q
      JOIN @extschema@.denorm_counters d ON d.id = q.counter_id AND d.mode = 'deferred';
    IF counters IS NOT NULL THEN
        BEGIN
            folded := @extschema@.denorm_flush();
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            -- find the counter that fails, to name it (all of this is
            -- rolled back with the drop)
            FOR c IN SELECT d.* FROM @extschema@.denorm_counters d
                      WHERE d.mode = 'deferred'
                        AND EXISTS (SELECT 1 FROM @extschema@.denorm_pending q
                                     WHERE q.counter_id = d.id)
                      ORDER BY d.id LOOP
                BEGIN
                    PERFORM @extschema@.denorm_flush(c.id);
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                    PERFORM @extschema@.denorm_error(st,
                        format('cannot drop extension denorm: the pending deltas of denorm counter %s on %s.%s could not be flushed',
                               c.id, c.parent, c.counter_column),
                        format('denorm_flush(%s) failed: %s', c.id, msg),
                        'DROP EXTENSION folds pending deltas into their columns first, so that they are not lost. Fix what the error names and drop again.');
                END;
            END LOOP;
            PERFORM @extschema@.denorm_error(st, 'cannot drop extension denorm: pending deltas could not be flushed',
                format('denorm_flush() failed: %s', msg),
                'DROP EXTENSION folds pending deltas into their columns first, so that they are not lost. Fix what the error names and drop again.');
        END;
        RAISE NOTICE 'denorm: folded % pending deltas into their columns before the drop (deferred counters %)',
                     folded, counters;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        FOR j IN SELECT k.jobid, k.jobname, k.command,
                        starts_with(k.command, format('CALL %I.denorm_reconcile_batched(', '@extschema@'))
                        OR k.command = format('SELECT %I.denorm_flush()', '@extschema@')
                        OR starts_with(k.command, format('SELECT * FROM %I.denorm_purge_history(', '@extschema@'))
                            AS ours
                   FROM cron.job k
                  WHERE k.database = current_database()
                    AND strpos(k.command, 'denorm_') > 0
                  ORDER BY k.jobid LOOP
            IF NOT j.ours THEN
                others := others || format('%s (%s)', j.jobid, coalesce(quote_literal(j.jobname), 'no name'));
                CONTINUE;
            END IF;
            BEGIN
                PERFORM cron.unschedule(j.jobid);
                gone := gone || format('%s (%s)', j.jobid, coalesce(quote_literal(j.jobname), 'no name'));
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'denorm: could not unschedule pg_cron job % (%): %', j.jobid, j.jobname, msg
                    USING HINT = format('Its owner or a superuser can remove it with SELECT cron.unschedule(%s);', j.jobid);
            END;
        END LOOP;
        IF cardinality(gone) > 0 THEN
            RAISE NOTICE 'denorm: unscheduled pg_cron jobs %', array_to_string(gone, ', ');
        END IF;
        IF cardinality(others) > 0 THEN
            RAISE WARNING 'denorm: pg_cron jobs % mention denorm but were not scheduled by it, and are left alone',
                          array_to_string(others, ', ')
                USING HINT = 'Once the extension is gone they will fail; remove them with cron.unschedule(jobid).';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_before_drop_extension(boolean) IS
    'Internal: before DROP EXTENSION denorm, locks denorm_pending EXCLUSIVE, folds pending deltas into their columns (denorm_flush) and unschedules denorm''s pg_cron jobs';
REVOKE ALL ON FUNCTION @extschema@.denorm_before_drop_extension(boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_on_drop_extension()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_drop_extension'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_drop_extension() IS
    'Event trigger: before DROP EXTENSION denorm, flushes pending deltas and unschedules denorm''s pg_cron jobs';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_drop_extension() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION @extschema@.denorm_on_drop_extension();
COMMENT ON EVENT TRIGGER denorm_guard_drop_extension IS
    'Before DROP EXTENSION denorm: flushes pending deltas and unschedules denorm''s pg_cron jobs';

-- The extension's schema keeps its name.  denorm's SQL functions name its
-- objects with the schema they were installed in, and three of them run as
-- the extension's owner whenever anyone changes a table (denorm_on_ddl,
-- denorm_on_drop, denorm_before_drop_extension).  Were the schema renamed,
-- its owner (for public, the database owner) could create a schema of the
-- old name holding objects of its own, which those functions would then
-- run with the extension owner's rights.  So a rename of it is refused
-- when it ends (rolled back); the check reads the catalogs only and names
-- nothing of denorm's, which a rename would have taken away.
CREATE FUNCTION @extschema@.denorm_on_schema_rename()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'denorm' AND quote_ident(n.nspname) = '@extschema@') THEN
        RAISE EXCEPTION USING
            ERRCODE = '2BP01',
            MESSAGE = 'cannot rename schema @extschema@ because extension denorm is installed in it',
            DETAIL = 'denorm''s functions name their objects with this schema, and some of them run with the rights of the extension''s owner.',
            HINT = 'Keep the schema''s name. To move denorm, drop the extension and create it in the other schema.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_on_schema_rename() IS
    'Event trigger: refuses to rename the schema denorm is installed in';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_schema_rename() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_schema_rename ON ddl_command_end
    WHEN TAG IN ('ALTER SCHEMA')
    EXECUTE FUNCTION @extschema@.denorm_on_schema_rename();
COMMENT ON EVENT TRIGGER denorm_guard_schema_rename IS
    'Refuses to rename the schema denorm is installed in, whose name its functions use';

------------------------------------------------------------------------
-- Creating and dropping counters
------------------------------------------------------------------------

-- Brings every parent row of a new counter to the recomputed value, batch
-- by batch, with NOTICE progress on large tables (denorm_progress_due).  The caller holds a lock
-- that keeps the child's writers out.  It depends on
-- denorm.reconcile_batch_size only.
CREATE FUNCTION @extschema@.denorm_recompute(c @extschema@.denorm_counters)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    starts text[];
    n integer;
    r record;
    changed bigint := 0;
    reported timestamptz := clock_timestamp();
BEGIN
    starts := @extschema@.denorm_batch_starts(
        c, (@extschema@.denorm_settings('denorm.reconcile_batch_size')).reconcile_batch_size,
        NULL, NULL);
    n := coalesce(array_length(starts, 1), 0);
    FOR i IN 1 .. n LOOP
        r := @extschema@.denorm_reconcile_key_batch(c, CASE WHEN i > 1 THEN starts[i] END,
                                           starts[i + 1], NULL, true, NULL);
        changed := changed + r.rows_healed;
        IF @extschema@.denorm_progress_due(i, n, reported) THEN
            RAISE NOTICE 'denorm counter %: batch % of % done, % rows set', c.id, i, n, changed;
            reported := clock_timestamp();
        END IF;
    END LOOP;
    RETURN changed;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_recompute(@extschema@.denorm_counters) IS
    'Internal: the backfill of a new counter: sets every parent row to what its children add up to, batch by batch (denorm_reconcile_key_batch with heal: it locks the rows it changes); the caller holds SHARE ROW EXCLUSIVE on the child';
REVOKE ALL ON FUNCTION @extschema@.denorm_recompute(@extschema@.denorm_counters) FROM PUBLIC;

-- Checks a declaration, records it, installs its triggers and backfills
-- the counter.
CREATE FUNCTION @extschema@.denorm_register_counter(
    parent          regclass,
    counter_column  name,
    child           regclass,
    foreign_key     name,
    aggregate       text DEFAULT 'count',
    value_column    name DEFAULT NULL,
    filter          text DEFAULT NULL,
    parent_key      name DEFAULT NULL,
    mode            text DEFAULT 'immediate')
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_counters;
    counter_type oid;
    fk_type oid;
    key_type oid;
    value_type oid;
    numeric_types oid[] := ARRAY['int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype]::oid[];
    tbl regclass;
    n bigint;
    new_id integer;
    problem text;
BEGIN
    PERFORM @extschema@.denorm_require(parent, 'parent');
    PERFORM @extschema@.denorm_require(counter_column, 'counter_column');
    PERFORM @extschema@.denorm_require(child, 'child');
    PERFORM @extschema@.denorm_require(foreign_key, 'foreign_key');
    PERFORM @extschema@.denorm_require(aggregate, 'aggregate');
    PERFORM @extschema@.denorm_require(mode, 'mode');

    -- tables: ordinary or partitioned, owned by the caller
    FOREACH tbl IN ARRAY ARRAY[parent, child] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = tbl AND relkind IN ('r', 'p')) THEN
            PERFORM @extschema@.denorm_error('42809', format('"%s" is not a table', tbl),
            NULL,
            NULL);
        END IF;
        IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
            PERFORM @extschema@.denorm_error('42501', format('must be owner of table %s', tbl),
            'Only the owner of both the parent and the child table can create or drop a counter on them.',
            NULL);
        END IF;
    END LOOP;

    IF aggregate NOT IN ('count', 'sum', 'min', 'max') THEN
        PERFORM @extschema@.denorm_error('22023', format('unknown aggregate "%s"', aggregate),
            NULL,
            'The aggregate must be ''count'', ''sum'', ''min'' or ''max''.');
    END IF;
    IF mode NOT IN ('immediate', 'commit', 'deferred') THEN
        PERFORM @extschema@.denorm_error('22023', format('unknown counter mode "%s"', mode),
            NULL,
            'The mode must be ''immediate'', ''commit'' or ''deferred''.');
    END IF;

    -- counter column (of a min or max: checked with the value column below)
    counter_type := @extschema@.denorm_column_type(parent, counter_column);
    IF aggregate IN ('count', 'sum') AND counter_type <> ALL (numeric_types) THEN
        PERFORM @extschema@.denorm_error('42804', format('counter column "%s" of table "%s" must be an integer or numeric type', counter_column, parent),
            format('Its type is %s.', format_type(counter_type, NULL)),
            NULL);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = parent AND attname = counter_column
                  AND attgenerated <> '') THEN
        PERFORM @extschema@.denorm_error('42611', format('counter column "%s" of table "%s" is a generated column', counter_column, parent),
            NULL,
            NULL);
    END IF;

    -- parent key: the given column or the single-column primary key, unique
    IF parent_key IS NULL THEN
        SELECT a.attname INTO parent_key
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = parent AND i.indisprimary AND i.indnatts = 1;
        IF NOT FOUND THEN
            PERFORM @extschema@.denorm_error('42830', format('table "%s" has no single-column primary key', parent),
            NULL,
            'Name a uniquely indexed column with parent_key.');
        END IF;
    END IF;
    key_type := @extschema@.denorm_column_type(parent, parent_key);
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_attribute a
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = parent AND i.indisunique AND i.indnkeyatts = 1
           AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = parent_key) THEN
        PERFORM @extschema@.denorm_error('42830', format('parent key column "%s" of table "%s" is not unique', parent_key, parent),
            'A counter''s parent key needs a unique index or constraint on exactly that column.',
            NULL);
    END IF;
    IF parent_key = counter_column THEN
        PERFORM @extschema@.denorm_error('22023', format('counter column "%s" of table "%s" cannot be its parent key', counter_column, parent),
            NULL,
            NULL);
    END IF;

    -- foreign key: exists, comparable with the parent key, hashable and sortable
    fk_type := @extschema@.denorm_column_type(child, foreign_key);
    -- Keys are cast and compared by writers and by maintenance jobs with
    -- their own rights: only PostgreSQL's own types, whose code no table
    -- owner controls (a domain's CHECK, say, would run as the caller).
    IF NOT @extschema@.denorm_builtin_type(key_type) OR NOT @extschema@.denorm_builtin_type(fk_type) THEN
        PERFORM @extschema@.denorm_error('0A000', 'parent key and foreign key must be of built-in types',
            format('Parent key "%s" is of type %s and foreign key "%s" of type %s; domains and user-defined types are not supported.',
                                  parent_key, format_type(key_type, NULL), foreign_key, format_type(fk_type, NULL)),
            NULL);
    END IF;
    -- with Citus: both tables distributed and co-located on the keys, or
    -- neither (src/citus.c); before the comparison below, which Citus
    -- refuses over tables that are not co-located
    c.parent := parent;
    c.child := child;
    c.foreign_key := foreign_key;
    c.parent_key := parent_key;
    c.aggregate := aggregate;
    c.mode := mode;
    PERFORM @extschema@.denorm_citus_check(c);
    BEGIN
        EXECUTE format('SELECT 1 FROM %s p, %s x WHERE p.%I OPERATOR(pg_catalog.=) x.%I'
                       ' AND x.%I OPERATOR(pg_catalog.>=) p.%I AND x.%I OPERATOR(pg_catalog.<) p.%I LIMIT 0',
                       parent, child, parent_key, foreign_key,
                       foreign_key, parent_key, foreign_key, parent_key);
    EXCEPTION WHEN undefined_function OR datatype_mismatch THEN
        PERFORM @extschema@.denorm_error('42804', format('foreign key column "%s" of type %s cannot be compared with parent key column "%s" of type %s', foreign_key, format_type(fk_type, NULL), parent_key, format_type(key_type, NULL)),
            NULL,
            NULL);
    END;
    -- default hash and btree operator classes for the type, a domain's base
    -- type, or a type it is binary-coercible to (varchar uses text's)
    IF (SELECT count(DISTINCT m.amname) FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
         WHERE m.amname IN ('hash', 'btree') AND o.opcdefault
           AND (o.opcintype IN (fk_type, (SELECT typbasetype FROM pg_type WHERE oid = fk_type))
                OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = fk_type
                              AND k.casttarget = o.opcintype AND k.castmethod = 'b'))) < 2 THEN
        PERFORM @extschema@.denorm_error('42804', format('foreign key column "%s" of table "%s" has a type without hash and btree support', foreign_key, child),
            NULL,
            NULL);
    END IF;

    -- value column: required for sum, rejected for count
    IF aggregate = 'sum' THEN
        IF value_column IS NULL THEN
            PERFORM @extschema@.denorm_error('22023', 'a sum counter needs a value_column',
            NULL,
            NULL);
        END IF;
        value_type := @extschema@.denorm_column_type(child, value_column);
        IF value_type <> ALL (numeric_types) THEN
            PERFORM @extschema@.denorm_error('42804', format('value column "%s" of table "%s" must be an integer or numeric type', value_column, child),
            format('Its type is %s.', format_type(value_type, NULL)),
            NULL);
        END IF;
        -- a counter column of fixed scale would round every delta on its own
        IF counter_type = 'numeric'::regtype
           AND @extschema@.denorm_sum_rounds(parent, counter_column, child, value_column) THEN
            PERFORM @extschema@.denorm_error('42804', format('counter column "%s" of table "%s" has a smaller scale than value column "%s"', counter_column, parent, value_column),
            'Each change would be rounded on its own and the sum would drift.',
            'Give the counter column at least the scale of the value column, or no fixed scale.');
        END IF;
        IF value_type = 'numeric'::regtype AND counter_type <> 'numeric'::regtype THEN
            PERFORM @extschema@.denorm_error('42804', format('counter column "%s" of table "%s" must be numeric to hold a sum of numeric column "%s"', counter_column, parent, value_column),
            NULL,
            NULL);
        END IF;
    ELSIF aggregate IN ('min', 'max') THEN
        PERFORM @extschema@.denorm_check_extreme(parent, counter_column, child, value_column, aggregate, mode);
    ELSIF value_column IS NOT NULL THEN
        PERFORM @extschema@.denorm_error('22023', 'a count counter takes no value_column',
            NULL,
            'Use aggregate => ''sum'' to add up a column.');
    END IF;

    -- deferred deltas are kept with the key as text: only types whose text
    -- form does not depend on session settings (DateStyle, TimeZone, ...)
    IF mode = 'deferred' AND key_type <> ALL (ARRAY['int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                                 'numeric'::regtype, 'text'::regtype, 'varchar'::regtype,
                                                 'uuid'::regtype]::oid[]) THEN
        PERFORM @extschema@.denorm_error('0A000', 'a deferred counter needs a parent key of an integer, numeric, text or uuid type',
            format('Parent key column "%s" of table "%s" is of type %s.',
                                  parent_key, parent, format_type(key_type, NULL)),
            NULL);
    END IF;
    IF parent = child AND counter_column IN (foreign_key, value_column) THEN
        PERFORM @extschema@.denorm_error('22023', format('counter column "%s" of table "%s" cannot count itself', counter_column, parent),
            NULL,
            NULL);
    END IF;

    IF filter IS NOT NULL THEN
        filter := @extschema@.denorm_normalize_filter(child, filter);
    END IF;

    -- the rules the DDL guard keeps checking (denorm_counter_rules)
    c.parent := parent;
    c.counter_column := counter_column;
    c.child := child;
    c.foreign_key := foreign_key;
    c.parent_key := parent_key;
    c.aggregate := aggregate;
    c.value_column := value_column;
    c.filter := filter;
    c.mode := mode;
    problem := @extschema@.denorm_counter_rules(c);
    IF problem IS NOT NULL THEN
        PERFORM @extschema@.denorm_error('42P17', format('cannot create a denorm counter in column "%s" of table "%s"', counter_column, parent),
            upper(left(problem, 1)) || substr(problem, 2) || '.',
            'A counter column must be a plain integer or numeric column that no key, constraint or filter of another counter it changes uses.');
    END IF;
    -- a foreign key column that is the child's own primary key, with no
    -- foreign key constraint to the parent, counts each child for one
    -- parent at most: most likely the arguments are in the wrong order
    IF NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conrelid = child AND k.contype = 'f' AND k.confrelid = parent)
       AND EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
                       ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = child AND i.indisprimary AND i.indnatts = 1
                      AND a.attname = foreign_key) THEN
        PERFORM @extschema@.denorm_error('42830', format('foreign key column "%s" is the primary key of table "%s"', foreign_key, child),
            format('Table "%s" has no foreign key constraint to table "%s", and each of its rows would count for one parent row at most.', child, parent),
            'The arguments are denorm_create_counter(parent, counter_column, child, foreign_key). For a one-to-one count, declare the foreign key constraint first.');
    END IF;

    -- Keep writers out until commit, so the backfill sees every child row:
    -- that takes a snapshot newer than the lock, which REPEATABLE READ and
    -- SERIALIZABLE transactions do not have.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM @extschema@.denorm_error('25000', 'denorm_create_counter must run in a READ COMMITTED transaction',
            'Its backfill must see every child row committed before it locked the child table.',
            NULL);
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', child);
    -- (after the lock: a concurrent creation of the same counter has
    -- committed by now, and this statement's snapshot sees it)
    IF EXISTS (SELECT 1 FROM @extschema@.denorm_counters d
                WHERE d.parent = parent AND d.counter_column = counter_column) THEN
        PERFORM @extschema@.denorm_error('42710', format('column "%s" of table "%s" already has a denorm counter', counter_column, parent),
            NULL,
            'Drop it first with denorm_drop_counter().');
    END IF;

    -- the registry row, written by denorm itself after it has checked the
    -- caller again (and that the child's owner may write the counter column)
    new_id := @extschema@.denorm_registry_insert(parent, counter_column, child, foreign_key,
                                                 parent_key, aggregate, value_column, filter, mode);
    SELECT * INTO c FROM @extschema@.denorm_counters d WHERE d.id = new_id;

    FOR tbl IN SELECT * FROM @extschema@.denorm_child_tables(child) LOOP
        PERFORM @extschema@.denorm_install_triggers(c, tbl);
    END LOOP;
    PERFORM @extschema@.denorm_install_parent_triggers(c);

    n := @extschema@.denorm_recompute(c);
    IF n > 0 THEN
        RAISE NOTICE 'the backfill set column "%" of % row(s) of table "%" from their children',
                     counter_column, n, parent;
    END IF;
    IF aggregate IN ('min', 'max') AND NOT @extschema@.denorm_extreme_indexed(c) THEN
        RAISE WARNING 'table "%" has no index on (%, %)', child, quote_ident(foreign_key), quote_ident(value_column)
            USING DETAIL = format('Each write that takes away a parent''s %s recomputes it from the children of its key, and reconcile reads them all.', aggregate),
                  HINT = format('CREATE INDEX ON %s (%I, %I);', child, foreign_key, value_column);
    ELSIF NOT @extschema@.denorm_fk_indexed(c) THEN
        RAISE WARNING 'foreign key column "%" of table "%" has no index', foreign_key, child
            USING DETAIL = 'Reconcile, and recomputing a parent whose key changes, then read the whole child table.',
                  HINT = format('CREATE INDEX ON %s (%I);', child, foreign_key);
    END IF;
    RETURN c.id;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_register_counter(regclass, name, regclass, name, text, name, text, name, text) IS
    'Internal: denorm_create_counter with its filter already in canonical form; locks the child table SHARE ROW EXCLUSIVE until commit';
REVOKE ALL ON FUNCTION @extschema@.denorm_register_counter(regclass, name, regclass, name, text, name, text, name, text) FROM PUBLIC;

-- The filter is read with the caller's search_path (a user's own immutable
-- function may appear unqualified), so this wrapper has none of its own: it
-- turns the filter into canonical, fully qualified form and hands over to
-- denorm_register_counter, which runs with a safe search_path.
CREATE FUNCTION @extschema@.denorm_create_counter(
    parent          regclass,
    counter_column  name,
    child           regclass,
    foreign_key     name,
    aggregate       text DEFAULT 'count',
    value_column    name DEFAULT NULL,
    filter          text DEFAULT NULL,
    parent_key      name DEFAULT NULL,
    mode            text DEFAULT 'immediate')
RETURNS integer
LANGUAGE plpgsql
AS $$
BEGIN
    IF filter IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_class k
                                       WHERE k.oid OPERATOR(pg_catalog.=) child
                                         AND k.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::"char"[])) THEN
        filter := @extschema@.denorm_normalize_filter(child, filter);
    END IF;
    RETURN @extschema@.denorm_register_counter(parent, counter_column, child, foreign_key,
                                               aggregate, value_column, filter, parent_key, mode);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_create_counter(regclass, name, regclass, name, text, name, text, name, text) IS
    'Declares a counter or sum cache, installs its triggers and backfills it; returns the counter id. Locks the child table SHARE ROW EXCLUSIVE until commit';
REVOKE ALL ON FUNCTION @extschema@.denorm_create_counter(regclass, name, regclass, name, text, name, text, name, text) FROM PUBLIC;

-- Dropping a counter removes its triggers, folds its pending deltas into
-- the column and deletes its registry row; the column keeps its data.
CREATE FUNCTION @extschema@.denorm_drop_counter(counter_id integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_counters;
    tbl regclass;
BEGIN
    PERFORM @extschema@.denorm_require(counter_id, 'counter_id');
    SELECT * INTO c FROM @extschema@.denorm_counters d WHERE d.id = counter_id;
    IF NOT FOUND THEN
        PERFORM @extschema@.denorm_error('42704', format('denorm counter %s does not exist', counter_id),
            NULL,
            'The denorm_status view lists the counters there are.');
    END IF;
    FOREACH tbl IN ARRAY ARRAY[c.parent, c.child] LOOP
        IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
            PERFORM @extschema@.denorm_error('42501', format('must be owner of table %s', tbl),
                'Only the owner of both the parent and the child table can create or drop a counter on them.',
                NULL);
        END IF;
    END LOOP;
    -- a concurrent drop of the same counter waits here, then finds it gone
    IF NOT @extschema@.denorm_registry_lock(counter_id) THEN
        PERFORM @extschema@.denorm_error('42704', format('denorm counter %s does not exist', counter_id),
            'Another session dropped it meanwhile.',
            NULL);
    END IF;
    PERFORM @extschema@.denorm_remove_triggers(c);
    -- no new deltas can arrive now: fold the pending ones into the column
    IF c.mode = 'deferred' THEN
        PERFORM @extschema@.denorm_flush(c.id);
    END IF;
    PERFORM @extschema@.denorm_registry_delete(counter_id);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_drop_counter(integer) IS
    'Drops a counter''s triggers (locking its tables ACCESS EXCLUSIVE until commit) and registry row, after flushing a deferred one; the column keeps its data';
REVOKE ALL ON FUNCTION @extschema@.denorm_drop_counter(integer) FROM PUBLIC;

-- The id of the counter kept in a parent column: how every function that
-- takes a counter id also takes (parent, counter_column).  A table that
-- does not exist (an OID without a table), a column the table does not
-- have and a column without a counter are told apart, and the hint names
-- the columns of the table that have one.  It reads only the registry and
-- the catalogs, which every role may read, with the caller's rights, so
-- PUBLIC may call it (denorm_value's by-name form does).
CREATE FUNCTION @extschema@.denorm_counter_id(parent regclass, counter_column name)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id integer;
    counted text;
    hint text;
BEGIN
    -- (not denorm_require, which is not PUBLIC's)
    IF parent IS NULL OR counter_column IS NULL THEN
        PERFORM @extschema@.denorm_error('22004',
            format('argument "%s" must not be null', CASE WHEN parent IS NULL THEN 'parent' ELSE 'counter_column' END),
            NULL, NULL);
    END IF;
    SELECT d.id INTO id FROM @extschema@.denorm_counters d
     WHERE d.parent = parent AND d.counter_column = counter_column;
    IF FOUND THEN
        RETURN id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = parent::oid) THEN
        PERFORM @extschema@.denorm_error('42P01', format('table with OID %s does not exist', parent::oid),
            NULL,
            'The denorm_status view lists the counters there are, by table and column.');
    END IF;
    SELECT string_agg(format('"%s" (counter %s)', d.counter_column, d.id), ', '
                      ORDER BY d.counter_column)
      INTO counted
      FROM @extschema@.denorm_counters d WHERE d.parent = parent;
    hint := CASE WHEN counted IS NULL
                 THEN format('Table "%s" has no denorm counters.', parent)
                 ELSE format('The denorm counters of table "%s" are in columns %s.', parent, counted)
            END;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = parent AND a.attname = counter_column
                      AND a.attnum > 0 AND NOT a.attisdropped) THEN
        PERFORM @extschema@.denorm_error('42703',
            format('column "%s" of table "%s" does not exist', counter_column, parent),
            NULL, hint);
    END IF;
    PERFORM @extschema@.denorm_error('42704',
        format('column "%s" of table "%s" has no denorm counter', counter_column, parent),
        NULL, hint || ' The denorm_status view lists them all.');
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_counter_id(regclass, name) IS
    'The id of the denorm counter kept in a parent table''s column; an error (SQLSTATE 42704) when that column has none';
GRANT EXECUTE ON FUNCTION @extschema@.denorm_counter_id(regclass, name) TO PUBLIC;

-- By column, as denorm_drop_counter(counter_id) does.
CREATE FUNCTION @extschema@.denorm_drop_counter(parent regclass, counter_column name)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_drop_counter(@extschema@.denorm_counter_id(parent, counter_column))
$$;
COMMENT ON FUNCTION @extschema@.denorm_drop_counter(regclass, name) IS
    'Drops the counter kept in a parent column, as denorm_drop_counter(counter_id) does; the column keeps its data';
REVOKE ALL ON FUNCTION @extschema@.denorm_drop_counter(regclass, name) FROM PUBLIC;

------------------------------------------------------------------------
-- Counters dropped with their tables: the record and recreation
------------------------------------------------------------------------

-- A counter whose parent or child table is dropped (DROP TABLE, DROP
-- SCHEMA ... CASCADE, DROP OWNED, an ORM dropping and creating its tables)
-- goes with it; denorm_on_drop records its definition here, under the
-- schema-qualified, quoted names its tables had (their OIDs are gone), and
-- denorm_recreate_counter declares it again on the tables that have those
-- names now.  A recreated row stays, with the id of the new counter.  Kept
-- with the database; an administrator deletes rows no longer wanted.
CREATE TABLE @extschema@.denorm_dropped_counters (
    counter_id      integer     PRIMARY KEY,
    parent          text        NOT NULL,
    parent_was      text[]      NOT NULL DEFAULT '{}',
    counter_column  name        NOT NULL,
    child           text        NOT NULL,
    child_was       text[]      NOT NULL DEFAULT '{}',
    foreign_key     name        NOT NULL,
    parent_key      name        NOT NULL,
    aggregate       text        NOT NULL,
    value_column    name,
    filter          text,
    mode            text        NOT NULL,
    created_at      timestamptz,
    dropped_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    dropped_by      name,
    dropped_with    text        NOT NULL,
    drop_command    text,
    recreated_as    integer,
    recreated_at    timestamptz,
    parent_owner    name,
    child_owner     name
);
COMMENT ON TABLE @extschema@.denorm_dropped_counters IS
    'Counters dropped with their parent or child table: their definitions by table name, who dropped them, and what recreated them';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_dropped_counters', '');
REVOKE ALL ON TABLE @extschema@.denorm_dropped_counters FROM PUBLIC;

-- The names a counted table had before it was renamed or moved to another
-- schema, latest first (src/dropped.c): a table rebuilt by renaming it,
-- creating its successor under the old name and dropping the renamed one
-- takes its counters along, and they are recreated under the old name.
-- Forgotten when the table is dropped.
CREATE TABLE @extschema@.denorm_renamed_tables (
    tbl             regclass    PRIMARY KEY,
    former_names    text[]      NOT NULL
);
COMMENT ON TABLE @extschema@.denorm_renamed_tables IS
    'The names counted tables had before they were renamed, latest first, for recording counters dropped with them';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_renamed_tables', '');
REVOKE ALL ON TABLE @extschema@.denorm_renamed_tables FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_on_table_rename()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_table_rename'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_table_rename() IS
    'Event trigger: notes the name a counted table is about to give up (RENAME TO, SET SCHEMA), taking the ACCESS EXCLUSIVE lock the command takes first';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_table_rename() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_table_rename ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_table_rename();
COMMENT ON EVENT TRIGGER denorm_guard_table_rename IS
    'Notes the name a counted table had before it is renamed or moved, for recreating counters dropped with it';

-- The role that runs the command, as SET ROLE left it: denorm_on_drop runs
-- as the extension's owner, so current_user would name that.
CREATE FUNCTION @extschema@.denorm_outer_role()
RETURNS name
AS 'MODULE_PATHNAME', 'denorm_outer_role'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_outer_role() IS
    'Internal: the current role outside any SECURITY DEFINER function';
REVOKE ALL ON FUNCTION @extschema@.denorm_outer_role() FROM PUBLIC;

-- The table a dropped counter's parent or child is now: the first of the
-- names it had (the one it was dropped under, then those it had before it
-- was renamed, latest first) that an ordinary or partitioned table has now,
-- or NULL.  Found in the catalogs, without a schema's USAGE: the status
-- readers call it through denorm_dropped.
CREATE FUNCTION @extschema@.denorm_dropped_table(name text, former_names text[])
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.oid::regclass
      FROM unnest(ARRAY[name] || former_names) WITH ORDINALITY AS u(n, i)
     CROSS JOIN LATERAL parse_ident(u.n) AS p(parts)
      JOIN pg_namespace s ON s.nspname OPERATOR(pg_catalog.=) p.parts[1]
      JOIN pg_class k ON k.relnamespace OPERATOR(pg_catalog.=) s.oid
                     AND k.relname OPERATOR(pg_catalog.=) p.parts[2]
                     AND k.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::"char"[])
     WHERE cardinality(p.parts) OPERATOR(pg_catalog.=) 2
     ORDER BY u.i
     LIMIT 1
$$;
COMMENT ON FUNCTION @extschema@.denorm_dropped_table(text, text[]) IS
    'Internal: the table that has one of the names of a dropped counter''s table now (the name it was dropped under first), or NULL';

-- What denorm_on_drop records of counter c, dropped with table dropped_with
-- by command: its tables by name (a dropped table's from the dropped
-- objects, for its OID no longer leads to a name), with the names they had
-- before they were renamed, and the role each must be owned by for
-- denorm_recreate_counter to take a table of that name for it: a table
-- that stays, its owner; a dropped one, the role dropping it (the one that
-- creates its successor, as a rebuild or an ORM does).  Only callable from
-- a sql_drop event trigger.
CREATE FUNCTION @extschema@.denorm_dropped_record(c @extschema@.denorm_counters, dropped_with text,
                                                  command text)
RETURNS @extschema@.denorm_dropped_counters
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH names AS (
        SELECT t.tbl,
               coalesce((SELECT x.object_identity FROM pg_event_trigger_dropped_objects() x
                          WHERE x.objid OPERATOR(pg_catalog.=) t.tbl AND x.object_type OPERATOR(pg_catalog.=) 'table'
                          LIMIT 1),
                        (SELECT format('%I.%I', s.nspname, k.relname)
                           FROM pg_class k JOIN pg_namespace s ON s.oid OPERATOR(pg_catalog.=) k.relnamespace
                          WHERE k.oid OPERATOR(pg_catalog.=) t.tbl)) AS name,
               coalesce((SELECT r.former_names FROM @extschema@.denorm_renamed_tables r
                          WHERE r.tbl::oid OPERATOR(pg_catalog.=) t.tbl), '{}') AS was,
               coalesce((SELECT pg_get_userbyid(k.relowner) FROM pg_class k
                          WHERE k.oid OPERATOR(pg_catalog.=) t.tbl
                            AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() x
                                             WHERE x.objid OPERATOR(pg_catalog.=) t.tbl
                                               AND x.object_type OPERATOR(pg_catalog.=) 'table')),
                        @extschema@.denorm_outer_role()) AS owner
          FROM (VALUES (c.parent::oid), (c.child::oid)) AS t(tbl)
    )
    SELECT ROW(c.id, p.name, p.was, c.counter_column, k.name, k.was, c.foreign_key,
               c.parent_key, c.aggregate, c.value_column, c.filter, c.mode, c.created_at,
               now(), @extschema@.denorm_outer_role(), dropped_with, command,
               NULL, NULL, p.owner, k.owner)::@extschema@.denorm_dropped_counters
      FROM names p, names k
     WHERE p.tbl OPERATOR(pg_catalog.=) c.parent::oid AND k.tbl OPERATOR(pg_catalog.=) c.child::oid
$$;
COMMENT ON FUNCTION @extschema@.denorm_dropped_record(@extschema@.denorm_counters, text, text) IS
    'Internal: the record of a counter being dropped with its table, from a sql_drop event trigger';
REVOKE ALL ON FUNCTION @extschema@.denorm_dropped_record(@extschema@.denorm_counters, text, text) FROM PUBLIC;

-- Declares a dropped counter again, through denorm_create_counter with the
-- recorded definition, so every check, the backfill and the ownership rule
-- of creation apply; parent and child, when given, replace the tables the
-- recorded names lead to.  A table found by name is taken only when the
-- record's role owns it (denorm_dropped_record): a name anyone who may
-- create in that schema can take is no proof that the table is the one
-- meant, and an administrator's call would otherwise put the counter on
-- another role's table (counting the original child's rows into it) or
-- count another role's rows into the original parent.  The record is locked (a concurrent recreation
-- waits, then finds it done) and marked with the new counter's id.
CREATE FUNCTION @extschema@.denorm_recreate_counter(dropped_id integer,
                                                    parent regclass DEFAULT NULL,
                                                    child regclass DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r @extschema@.denorm_dropped_counters;
    new_id integer;
    found_owner name;
BEGIN
    IF NOT has_table_privilege('@extschema@.denorm_dropped_counters', 'SELECT')
       OR NOT has_column_privilege('@extschema@.denorm_dropped_counters', 'recreated_as', 'UPDATE') THEN
        PERFORM @extschema@.denorm_error('42501', 'permission denied to recreate denorm counters',
            'Recreating a counter takes what creating one takes: the rights denorm_grant_admin gives, and ownership of both tables.',
            NULL);
    END IF;
    PERFORM @extschema@.denorm_require(dropped_id, 'dropped_id');
    SELECT * INTO r FROM @extschema@.denorm_dropped_counters x
     WHERE x.counter_id = dropped_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM @extschema@.denorm_error('42704', format('dropped denorm counter %s does not exist', dropped_id),
            NULL,
            'The denorm_dropped view lists the counters dropped with their tables.');
    END IF;
    IF r.recreated_as IS NOT NULL THEN
        PERFORM @extschema@.denorm_error('42710', format('dropped denorm counter %s was already recreated as counter %s', dropped_id, r.recreated_as),
            NULL,
            'The denorm_status view shows the counters there are.');
    END IF;
    IF parent IS NULL THEN
        parent := @extschema@.denorm_dropped_table(r.parent, r.parent_was);
        found_owner := (SELECT pg_get_userbyid(k.relowner) FROM pg_class k WHERE k.oid = parent);
        IF parent IS NOT NULL AND found_owner IS DISTINCT FROM r.parent_owner THEN
            PERFORM @extschema@.denorm_error('42501', format('table "%s" of dropped denorm counter %s is owned by role "%s", not by role "%s"', parent, dropped_id, found_owner, r.parent_owner),
                format('A table that has the name of the counter''s table is taken for it only when owned by role "%s", which owned that table or dropped it.', r.parent_owner),
                format('If it is the table meant, name it: SELECT denorm_recreate_counter(%s, parent => ''%s'');', dropped_id, parent));
        END IF;
    END IF;
    IF parent IS NULL THEN
        PERFORM @extschema@.denorm_error('42P01', format('table "%s" of dropped denorm counter %s does not exist', coalesce(r.parent_was[1], r.parent), dropped_id),
            CASE WHEN cardinality(r.parent_was) > 0
                 THEN format('The counter was dropped with table "%s", named "%s" before; no table has either name now.', r.parent, r.parent_was[1])
            END,
            format('Create the table first, or name the table to put the counter on: SELECT denorm_recreate_counter(%s, parent => ''...'');', dropped_id));
    END IF;
    IF child IS NULL THEN
        child := @extschema@.denorm_dropped_table(r.child, r.child_was);
        found_owner := (SELECT pg_get_userbyid(k.relowner) FROM pg_class k WHERE k.oid = child);
        IF child IS NOT NULL AND found_owner IS DISTINCT FROM r.child_owner THEN
            PERFORM @extschema@.denorm_error('42501', format('table "%s" of dropped denorm counter %s is owned by role "%s", not by role "%s"', child, dropped_id, found_owner, r.child_owner),
                format('A table that has the name of the counter''s table is taken for it only when owned by role "%s", which owned that table or dropped it.', r.child_owner),
                format('If it is the table meant, name it: SELECT denorm_recreate_counter(%s, child => ''%s'');', dropped_id, child));
        END IF;
    END IF;
    IF child IS NULL THEN
        PERFORM @extschema@.denorm_error('42P01', format('table "%s" of dropped denorm counter %s does not exist', coalesce(r.child_was[1], r.child), dropped_id),
            CASE WHEN cardinality(r.child_was) > 0
                 THEN format('The counter was dropped with table "%s", named "%s" before; no table has either name now.', r.child, r.child_was[1])
            END,
            format('Create the table first, or name the table whose rows the counter counts: SELECT denorm_recreate_counter(%s, child => ''...'');', dropped_id));
    END IF;
    new_id := @extschema@.denorm_create_counter(parent => parent, counter_column => r.counter_column,
                                                child => child, foreign_key => r.foreign_key,
                                                aggregate => r.aggregate, value_column => r.value_column,
                                                filter => r.filter, parent_key => r.parent_key,
                                                mode => r.mode);
    UPDATE @extschema@.denorm_dropped_counters x
       SET recreated_as = new_id, recreated_at = now()
     WHERE x.counter_id = dropped_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_recreate_counter(integer, regclass, regclass) IS
    'Declares a counter dropped with its table again, as denorm_create_counter would, on the tables that have its tables'' names now (or those given); returns the new counter id. Locks its record FOR UPDATE and, as creation does, the child table SHARE ROW EXCLUSIVE until commit';
REVOKE ALL ON FUNCTION @extschema@.denorm_recreate_counter(integer, regclass, regclass) FROM PUBLIC;

------------------------------------------------------------------------
-- Reconcile: recompute, log and heal
------------------------------------------------------------------------

-- A run compares every parent row of its counters with the aggregate of
-- its children, batch by batch in key order, and heals what drifted.  It
-- is built from C steps (each statement as the owner of the table it
-- reads or writes), SQL steps that call them, and the public functions.

-- What a run records: the run, one check per counter, one drift row per
-- parent row found wrong.  All are kept with the database
-- (pg_extension_config_dump) and purged by denorm_purge_history.
CREATE TABLE @extschema@.denorm_reconcile_runs (
    run_id          bigserial PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at     timestamptz,
    counters        integer     NOT NULL DEFAULT 0,
    rows_checked    bigint      NOT NULL DEFAULT 0,
    rows_drifted    bigint      NOT NULL DEFAULT 0,
    rows_healed     bigint      NOT NULL DEFAULT 0,
    drift_ratio     double precision,
    status          text        NOT NULL DEFAULT 'running'
                                CHECK (status IN ('running', 'ok', 'drift', 'alert', 'dry_run', 'failed')),
    error           text,
    backend_pid     integer     DEFAULT pg_catalog.pg_backend_pid(),
    current_counter integer,
    batches_done    integer,
    batches_total   integer,
    progress_at     timestamptz
);
COMMENT ON TABLE @extschema@.denorm_reconcile_runs IS
    'One row per denorm_reconcile run: what it checked, found and healed';
COMMENT ON COLUMN @extschema@.denorm_reconcile_runs.backend_pid IS
    'Process id of the session that ran the reconcile (NULL for runs recorded before denorm 1.1)';
COMMENT ON COLUMN @extschema@.denorm_reconcile_runs.current_counter IS
    'Progress of denorm_reconcile_batched, committed after every batch: the counter it is checking (its totals so far are in counters, rows_checked, rows_drifted and rows_healed)';
COMMENT ON COLUMN @extschema@.denorm_reconcile_runs.batches_done IS
    'Progress of denorm_reconcile_batched: the key-range batches of current_counter done';
COMMENT ON COLUMN @extschema@.denorm_reconcile_runs.batches_total IS
    'Progress of denorm_reconcile_batched: the key-range batches current_counter has';
COMMENT ON COLUMN @extschema@.denorm_reconcile_runs.progress_at IS
    'Progress of denorm_reconcile_batched: when the last batch was done';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_reconcile_runs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_reconcile_runs_run_id_seq', '');
REVOKE ALL ON TABLE @extschema@.denorm_reconcile_runs FROM PUBLIC;

CREATE TABLE @extschema@.denorm_reconcile_checks (
    run_id          bigint      NOT NULL,
    counter_id      integer     NOT NULL,
    checked_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    rows_checked    bigint      NOT NULL,
    rows_drifted    bigint      NOT NULL,
    rows_healed     bigint      NOT NULL,
    trigger_problems text,
    error           text,
    PRIMARY KEY (run_id, counter_id)
);
CREATE INDEX denorm_reconcile_checks_counter_idx
    ON @extschema@.denorm_reconcile_checks (counter_id, checked_at);
COMMENT ON TABLE @extschema@.denorm_reconcile_checks IS
    'One row per counter per denorm_reconcile run';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_reconcile_checks', '');
REVOKE ALL ON TABLE @extschema@.denorm_reconcile_checks FROM PUBLIC;

CREATE TABLE @extschema@.denorm_drift_log (
    log_id          bigserial PRIMARY KEY,
    run_id          bigint      NOT NULL,
    counter_id      integer     NOT NULL,
    parent_table    regclass    NOT NULL,
    counter_column  name        NOT NULL,
    parent_key      text        NOT NULL,
    stored_value    numeric,
    actual_value    numeric,
    drift           numeric,
    detected_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    healed          boolean     NOT NULL DEFAULT false,
    healed_at       timestamptz,
    stored_text     text,
    actual_text     text
);
CREATE INDEX denorm_drift_log_run_idx ON @extschema@.denorm_drift_log (run_id);
CREATE INDEX denorm_drift_log_counter_idx ON @extschema@.denorm_drift_log (counter_id, detected_at);
COMMENT ON TABLE @extschema@.denorm_drift_log IS
    'One row per parent row whose cached value differed from the recomputed truth';
COMMENT ON COLUMN @extschema@.denorm_drift_log.stored_text IS
    'Min and max counters: the stored value as text (NULL for none); stored_value and actual_value hold numbers only';
COMMENT ON COLUMN @extschema@.denorm_drift_log.actual_text IS
    'Min and max counters: the recomputed value as text (NULL when no child row counts)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_drift_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_drift_log_log_id_seq', '');
REVOKE ALL ON TABLE @extschema@.denorm_drift_log FROM PUBLIC;

-- The C steps: each statement runs as the owner of the table it touches
-- (src/reconcile.c shows the SQL of each).

-- The drifted rows of one key range of a counter, with what each holds and
-- should hold; it only reads.
CREATE FUNCTION @extschema@.denorm_find_drift(counter_id integer, lo text, hi text, upto text,
                                              keys text[],
                                              OUT rows_checked bigint, OUT keys text[],
                                              OUT stored numeric[], OUT stored_col numeric[],
                                              OUT pending numeric[], OUT actual numeric[])
AS 'MODULE_PATHNAME', 'denorm_read_batch'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_find_drift(integer, text, text, text, text[]) IS
    'Internal: the drifted parent rows of one key range of a counter, read in one snapshot (parent, pending deltas and children each as its owner); takes no lock';
REVOKE ALL ON FUNCTION @extschema@.denorm_find_drift(integer, text, text, text, text[]) FROM PUBLIC;

-- The same for a min or max counter, whose values need not be numbers:
-- stored and recomputed extremes as text.
CREATE FUNCTION @extschema@.denorm_find_extreme_drift(counter_id integer, lo text, hi text, upto text,
                                                      keys text[],
                                                      OUT rows_checked bigint, OUT keys text[],
                                                      OUT stored text[], OUT actual text[])
AS 'MODULE_PATHNAME', 'denorm_find_extreme_drift'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_find_extreme_drift(integer, text, text, text, text[]) IS
    'Internal: the drifted parent rows of one key range of a min or max counter, read in one snapshot (parent and children each as its owner); takes no lock';
REVOKE ALL ON FUNCTION @extschema@.denorm_find_extreme_drift(integer, text, text, text, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_lock_parents(counter_id integer, keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_lock_parents'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_lock_parents(integer, text[]) IS
    'Internal: locks a counter''s parent rows with the given keys FOR NO KEY UPDATE, in ascending key order (the order writers take them in), as the parent''s owner';
REVOKE ALL ON FUNCTION @extschema@.denorm_lock_parents(integer, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_parent_batch_starts(counter_id integer, batch_size integer,
                                                       key_from text, key_to text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'denorm_parent_batch_starts'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_parent_batch_starts(integer, integer, text, text) IS
    'Internal: start keys of the key-range batches over a counter''s parent, read as its owner';
REVOKE ALL ON FUNCTION @extschema@.denorm_parent_batch_starts(integer, integer, text, text) FROM PUBLIC;

-- Adds (or sets) amounts on a counter's parent rows as the parent's owner;
-- reconcile and flush write parents only through this.
CREATE FUNCTION @extschema@.denorm_apply_amounts(counter_id integer, keys text[],
                                                 amounts numeric[], absolute boolean[])
RETURNS text[]
AS 'MODULE_PATHNAME', 'denorm_apply_amounts'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_apply_amounts(integer, text[], numeric[], boolean[]) IS
    'Internal: adds amounts to (or sets) a counter''s column on some parent rows, as the parent''s owner; the UPDATE locks those rows';
REVOKE ALL ON FUNCTION @extschema@.denorm_apply_amounts(integer, text[], numeric[], boolean[]) FROM PUBLIC;

-- Sets a min or max counter's column on some parent rows as the parent's
-- owner (an extreme is healed by its value, not by a difference).
CREATE FUNCTION @extschema@.denorm_set_extremes(counter_id integer, keys text[], vals text[])
RETURNS text[]
AS 'MODULE_PATHNAME', 'denorm_set_extremes'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_set_extremes(integer, text[], text[]) IS
    'Internal: sets a min or max counter''s column on some parent rows, as the parent''s owner; locks those rows first';
REVOKE ALL ON FUNCTION @extschema@.denorm_set_extremes(integer, text[], text[]) FROM PUBLIC;

-- The SQL steps, which call them.

-- Whether a run over batches (backfill, reconcile) reports progress after
-- this one: when it has passed another tenth of them, or a minute after
-- its last report (last_report), so a run prints at most ten lines per
-- counter plus one a minute, however many batches it has.  Runs of one
-- batch say nothing.
CREATE FUNCTION @extschema@.denorm_progress_due(batch integer, batches integer,
                                                last_report timestamptz)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT batches > 1
           AND (batch * 10 / batches > (batch - 1) * 10 / batches
                OR clock_timestamp() - last_report >= interval '1 minute')
$$;
COMMENT ON FUNCTION @extschema@.denorm_progress_due(integer, integer, timestamptz) IS
    'Internal: whether a run over batches reports its progress after this batch (each tenth, or a minute after the last report)';
REVOKE ALL ON FUNCTION @extschema@.denorm_progress_due(integer, integer, timestamptz) FROM PUBLIC;

-- Start keys of the key-range batches of a counter's parent table, as
-- text, ascending; batch i covers [starts[i], starts[i+1]) and the first
-- batch is open below.  key_from/key_to narrow the scope.
CREATE FUNCTION @extschema@.denorm_batch_starts(c @extschema@.denorm_counters,
                                                batch_size integer,
                                                key_from text, key_to text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_parent_batch_starts(c.id, batch_size, key_from, key_to)
$$;
COMMENT ON FUNCTION @extschema@.denorm_batch_starts(@extschema@.denorm_counters, integer, text, text) IS
    'Internal: start keys of the key-range batches over a counter''s parent table';
REVOKE ALL ON FUNCTION @extschema@.denorm_batch_starts(@extschema@.denorm_counters, integer, text, text) FROM PUBLIC;

-- denorm_reconcile_key_batch for a min or max counter: the same steps, with
-- the extremes compared as values of their own type (IS DISTINCT FROM) and
-- healed by setting them (denorm_set_extremes) under the row locks, from a
-- recount in a snapshot taken after the locks.  A writer in flight then
-- either has locked the row first (and committed before the recount) or
-- applies its own values on top afterwards, as it would on any value.  The
-- drift log gets both values as text, as numbers too where the column is
-- numeric (drift is then their difference, else NULL).
CREATE FUNCTION @extschema@.denorm_reconcile_extreme_batch(c @extschema@.denorm_counters,
                                                           lo text, hi text, upto text,
                                                           heal boolean, run_id bigint,
                                                           OUT rows_checked bigint,
                                                           OUT rows_drifted bigint,
                                                           OUT rows_healed bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    b record;
    healed text[] := '{}';
    is_number boolean;
BEGIN
    b := @extschema@.denorm_find_extreme_drift(c.id, lo, hi, upto, NULL);
    rows_checked := b.rows_checked;
    rows_drifted := 0;
    rows_healed := 0;
    IF b.keys IS NULL THEN
        RETURN;
    END IF;
    IF heal THEN
        PERFORM @extschema@.denorm_lock_parents(c.id, b.keys);
    END IF;
    b := @extschema@.denorm_find_extreme_drift(c.id, lo, hi, upto, b.keys);
    IF b.keys IS NULL THEN
        RETURN;
    END IF;
    rows_drifted := array_length(b.keys, 1);
    IF heal THEN
        healed := @extschema@.denorm_set_extremes(c.id, b.keys, b.actual);
        rows_healed := coalesce(array_length(healed, 1), 0);
    END IF;
    IF run_id IS NOT NULL THEN
        is_number := @extschema@.denorm_column_type(c.parent, c.counter_column)
                     = ANY (ARRAY['int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype]::oid[]);
        INSERT INTO @extschema@.denorm_drift_log
               (run_id, counter_id, parent_table, counter_column, parent_key,
                stored_value, actual_value, drift, healed, healed_at, stored_text, actual_text)
        SELECT run_id, c.id, c.parent, c.counter_column, u.k,
               CASE WHEN is_number THEN u.stored::numeric END,
               CASE WHEN is_number THEN u.actual::numeric END,
               CASE WHEN is_number THEN u.actual::numeric - u.stored::numeric END,
               u.k = ANY (healed), CASE WHEN u.k = ANY (healed) THEN clock_timestamp() END,
               u.stored, u.actual
          FROM unnest(b.keys, b.stored, b.actual) AS u(k, stored, actual);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_extreme_batch(@extschema@.denorm_counters, text, text, text, boolean, bigint) IS
    'Internal: denorm_reconcile_key_batch for a min or max counter: finds, logs and (with heal) sets its drifted parent rows under their locks';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_extreme_batch(@extschema@.denorm_counters, text, text, text, boolean, bigint) FROM PUBLIC;

-- The drifted rows among some keys of a counter, recounted (after locking
-- them, with heal) and healed: their keys, what they held and should hold,
-- and the keys healed.
CREATE FUNCTION @extschema@.denorm_heal_keys(c @extschema@.denorm_counters,
                                             lo text, hi text, upto text,
                                             candidates text[], heal boolean,
                                             OUT keys text[], OUT stored numeric[],
                                             OUT actual numeric[], OUT healed text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    b record;
    amounts numeric[];
    absolute boolean[];
BEGIN
    healed := '{}';
    IF heal THEN
        PERFORM @extschema@.denorm_lock_parents(c.id, candidates);
    END IF;
    -- recount under the locks: what to add (or, over a NaN or infinite
    -- stored value, to set: nothing to add to) per drifted row
    b := @extschema@.denorm_find_drift(c.id, lo, hi, upto, candidates);
    keys := b.keys;
    stored := b.stored;
    actual := b.actual;
    IF b.keys IS NULL OR NOT heal THEN
        RETURN;
    END IF;
    SELECT array_agg(CASE WHEN f.non_finite THEN u.actual - u.pend
                          ELSE u.actual - COALESCE(u.col, 0) - u.pend END ORDER BY u.i),
           array_agg(f.non_finite ORDER BY u.i)
      INTO amounts, absolute
      FROM unnest(b.stored_col, b.pending, b.actual) WITH ORDINALITY AS u(col, pend, actual, i),
           LATERAL (SELECT COALESCE(u.col IN ('NaN', 'Infinity', '-Infinity'), false) AS non_finite) f;
    healed := @extschema@.denorm_apply_amounts(c.id, b.keys, amounts, absolute);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_heal_keys(@extschema@.denorm_counters, text, text, text, text[], boolean) IS
    'Internal: recounts some drifted keys of a counter and, with heal, locks (denorm_lock_parents) and corrects them; returns the drifted keys, their stored and recomputed values and the keys healed';
REVOKE ALL ON FUNCTION @extschema@.denorm_heal_keys(@extschema@.denorm_counters, text, text, text, text[], boolean) FROM PUBLIC;

-- Records drifted rows of a reconcile run in denorm_drift_log (nothing
-- when run_id is NULL).
CREATE FUNCTION @extschema@.denorm_log_drift(run_id bigint, c @extschema@.denorm_counters,
                                             keys text[], stored numeric[], actual numeric[],
                                             healed text[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO @extschema@.denorm_drift_log
           (run_id, counter_id, parent_table, counter_column, parent_key,
            stored_value, actual_value, drift, healed, healed_at)
    SELECT run_id, c.id, c.parent, c.counter_column, u.k, u.stored, u.actual,
           u.actual - u.stored, u.k = ANY (healed),
           CASE WHEN u.k = ANY (healed) THEN clock_timestamp() END
      FROM unnest(keys, stored, actual) AS u(k, stored, actual)
     WHERE run_id IS NOT NULL
$$;
COMMENT ON FUNCTION @extschema@.denorm_log_drift(bigint, @extschema@.denorm_counters, text[], numeric[], numeric[], text[]) IS
    'Internal: records drifted rows of a counter in denorm_drift_log for reconcile run run_id (nothing for NULL)';
REVOKE ALL ON FUNCTION @extschema@.denorm_log_drift(bigint, @extschema@.denorm_counters, text[], numeric[], numeric[], text[]) FROM PUBLIC;

-- Compares and optionally heals one key range [lo, hi) (and <= upto) of one
-- counter.  Reading (denorm_find_drift): parent rows, their pending deltas
-- and their children are each read as their table's owner, in one
-- snapshot, so in-flight writers cannot cause false drift.  Healing
-- (denorm_heal_keys): the drifted parents are locked in ascending key order
-- (the order writers use, so the two cannot deadlock), then recounted in a
-- new snapshot, and the difference (actual - stored) is added to the
-- current value instead of writing an absolute one, so a writer or flush
-- that committed in between keeps its change.  Parents are written through
-- denorm_apply_amounts, as their owner.  Two heals of the same counter are
-- serialized by an advisory lock, or each would add the same difference.
-- With Citus, a distributed parent is healed shard by shard (a statement
-- locking rows of several shards is refused there), each shard's rows in a
-- subtransaction of their own: a shard whose heal fails has its drift
-- logged unhealed, with a warning, and the others are healed.  With run_id
-- NULL nothing is logged.
CREATE FUNCTION @extschema@.denorm_reconcile_key_batch(c @extschema@.denorm_counters,
                                                       lo text, hi text, upto text,
                                                       heal boolean, run_id bigint,
                                                       OUT rows_checked bigint,
                                                       OUT rows_drifted bigint,
                                                       OUT rows_healed bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    b record;
    h record;
    keys text[];
BEGIN
    IF heal THEN
        PERFORM pg_advisory_xact_lock(1684368751, c.id);
    END IF;
    IF c.aggregate IN ('min', 'max') THEN
        SELECT * INTO rows_checked, rows_drifted, rows_healed
          FROM @extschema@.denorm_reconcile_extreme_batch(c, lo, hi, upto, heal, run_id);
        RETURN;
    END IF;
    b := @extschema@.denorm_find_drift(c.id, lo, hi, upto, NULL);
    rows_checked := b.rows_checked;
    rows_drifted := 0;
    rows_healed := 0;
    IF b.keys IS NULL THEN
        RETURN;
    END IF;
    IF NOT heal OR @extschema@.denorm_citus_kind(c.parent) IS DISTINCT FROM 'h' THEN
        h := @extschema@.denorm_heal_keys(c, lo, hi, upto, b.keys, heal);
        rows_drifted := coalesce(array_length(h.keys, 1), 0);
        rows_healed := coalesce(array_length(h.healed, 1), 0);
        PERFORM @extschema@.denorm_log_drift(run_id, c, h.keys, h.stored, h.actual, h.healed);
        RETURN;
    END IF;
    FOR keys IN EXECUTE
        'SELECT pg_catalog.array_agg(u.k ORDER BY u.i) FROM pg_catalog.unnest($1) WITH ORDINALITY AS u(k, i)'
        ' GROUP BY pg_catalog.get_shard_id_for_distribution_column($2, u.k)'
        ' ORDER BY pg_catalog.min(u.i)' USING b.keys, c.parent LOOP
        BEGIN
            h := @extschema@.denorm_heal_keys(c, lo, hi, upto, keys, true);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'denorm counter %: could not heal % drifted row(s) of one shard of table "%": %',
                          c.id, array_length(keys, 1), c.parent, SQLERRM
                USING HINT = 'They are logged unhealed; the next reconcile run heals them.';
            SELECT array_agg(u.k ORDER BY u.i) AS keys, array_agg(u.s ORDER BY u.i) AS stored,
                   array_agg(u.a ORDER BY u.i) AS actual, '{}'::text[] AS healed
              INTO h
              FROM unnest(b.keys, b.stored, b.actual) WITH ORDINALITY AS u(k, s, a, i)
             WHERE u.k = ANY (keys);
        END;
        rows_drifted := rows_drifted + coalesce(array_length(h.keys, 1), 0);
        rows_healed := rows_healed + coalesce(array_length(h.healed, 1), 0);
        PERFORM @extschema@.denorm_log_drift(run_id, c, h.keys, h.stored, h.actual, h.healed);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_key_batch(@extschema@.denorm_counters, text, text, text, boolean, bigint) IS
    'Internal: reconciles one key-range batch of a counter: finds its drifted rows and logs them; with heal, takes the counter''s advisory lock, locks the drifted parent rows (denorm_lock_parents), recounts and corrects them (with Citus, shard by shard)';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_key_batch(@extschema@.denorm_counters, text, text, text, boolean, bigint) FROM PUBLIC;

-- Each counter's level in the tree counters make when one sums (or
-- filters on) a column another maintains: 0 for a counter no other feeds,
-- else one more than the highest counter that feeds it (x feeds y when y's
-- child is x's parent and y reads x's column: products.review_count over
-- reviews feeds categories.review_total over products).  Creation refuses
-- cycles; the depth is bounded all the same.
CREATE FUNCTION @extschema@.denorm_counter_levels()
RETURNS TABLE (counter_id integer, level integer)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE cs AS (
        SELECT d.id, d.parent, d.child, d.counter_column,
               @extschema@.denorm_counter_reads(d) AS reads
          FROM @extschema@.denorm_counters d),
    feeds AS (
        SELECT x.id AS x, y.id AS y
          FROM cs x JOIN cs y ON y.child OPERATOR(pg_catalog.=) x.parent
                             AND x.counter_column OPERATOR(pg_catalog.=) ANY (y.reads)
         WHERE x.id OPERATOR(pg_catalog.<>) y.id),
    lv (id, level) AS (
        SELECT cs.id, 0 FROM cs
        UNION
        SELECT f.y, lv.level OPERATOR(pg_catalog.+) 1
          FROM lv JOIN feeds f ON f.x OPERATOR(pg_catalog.=) lv.id
         WHERE lv.level OPERATOR(pg_catalog.<) 64)
    SELECT lv.id, pg_catalog.max(lv.level)::integer FROM lv GROUP BY lv.id
$$;
COMMENT ON FUNCTION @extschema@.denorm_counter_levels() IS
    'Internal: each counter''s level among counters that sum or filter on another''s column (0: fed by none)';
REVOKE ALL ON FUNCTION @extschema@.denorm_counter_levels() FROM PUBLIC;

-- The counters a run covers; rejects unknown ids and bad arguments, and
-- (reconcile uses both settings) a setting whose value is invalid, before
-- any counter is checked.  A copy's id is known too (a run given one
-- covers that copy and no counter; denorm_reconcile_copy_ids).  Lower levels come first (denorm_counter_levels):
-- a heal there reaches the counters above through their triggers, which are
-- checked after it.
CREATE FUNCTION @extschema@.denorm_reconcile_targets(counter_id integer, heal boolean)
RETURNS SETOF @extschema@.denorm_counters
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM @extschema@.denorm_require(heal, 'heal');
    PERFORM @extschema@.denorm_settings();
    IF counter_id IS NOT NULL AND NOT EXISTS
        (SELECT 1 FROM @extschema@.denorm_counters d WHERE d.id = counter_id)
       AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_copies d WHERE d.id = counter_id) THEN
        PERFORM @extschema@.denorm_error('42704', format('denorm counter %s does not exist', counter_id),
            NULL,
            'The denorm_status view lists the counters there are.');
    END IF;
    RETURN QUERY SELECT d.* FROM @extschema@.denorm_counters d
                   LEFT JOIN @extschema@.denorm_counter_levels() l ON l.counter_id = d.id
                  WHERE counter_id IS NULL OR d.id = counter_id
                  ORDER BY coalesce(l.level, 0), d.id;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_targets(integer, boolean) IS
    'Internal: the counters a reconcile run covers';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_targets(integer, boolean) FROM PUBLIC;

-- The copies a run covers after its counters: every copy when it was given
-- no id, else the copy with that id (none when the id is a counter's).
-- Copies come last: a heal of a counter that a copy copies reaches the
-- children through the copy's trigger before the copy is checked.
CREATE FUNCTION @extschema@.denorm_reconcile_copy_ids(counter_id integer)
RETURNS SETOF integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    RETURN QUERY SELECT d.id FROM @extschema@.denorm_copies d
                  WHERE counter_id IS NULL OR d.id = counter_id ORDER BY d.id;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copy_ids(integer) IS
    'Internal: the copies a reconcile run covers';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copy_ids(integer) FROM PUBLIC;

-- Records one counter's result in a run and raises its alerts: a WARNING
-- when its triggers do not fire, and a WARNING plus NOTIFY denorm_drift
-- when the drifted share passes denorm.drift_alert_ratio.  Returns whether
-- it alerted.
CREATE FUNCTION @extschema@.denorm_finish_counter(run bigint, c @extschema@.denorm_counters,
                                                  checked bigint, drifted bigint,
                                                  healed bigint, err text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text := @extschema@.denorm_trigger_problems(c);
    ratio double precision := (@extschema@.denorm_settings()).drift_alert_ratio;
    alert boolean := false;
BEGIN
    INSERT INTO @extschema@.denorm_reconcile_checks
           (run_id, counter_id, rows_checked, rows_drifted, rows_healed, trigger_problems, error)
    VALUES (run, c.id, checked, drifted, healed, problems, err);
    IF problems IS NOT NULL THEN
        RAISE WARNING 'denorm counter % on %.% is not being maintained: %',
                      c.id, c.parent, c.counter_column, problems
            USING HINT = 'Drift comes back after every heal until the triggers fire again; see the denorm_status view.';
        alert := true;
    END IF;
    IF checked > 0 AND drifted::double precision / checked > ratio THEN
        RAISE WARNING 'denorm counter % on %.%: % of % rows drifted', c.id, c.parent,
                      c.counter_column, drifted, checked
            USING DETAIL = format('Run %s; the rows are in denorm_drift_log.', run);
        PERFORM pg_notify('denorm_drift',
                          json_build_object('run_id', run, 'counter_id', c.id,
                                            'parent', c.parent::text,
                                            'counter_column', c.counter_column,
                                            'drifted', drifted, 'checked', checked)::text);
        alert := true;
    END IF;
    RETURN alert;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_finish_counter(bigint, @extschema@.denorm_counters, bigint, bigint, bigint, text) IS
    'Internal: records a counter''s result in denorm_reconcile_checks and raises its alerts (WARNING, NOTIFY denorm_drift)';
REVOKE ALL ON FUNCTION @extschema@.denorm_finish_counter(bigint, @extschema@.denorm_counters, bigint, bigint, bigint, text) FROM PUBLIC;

-- The status of one counter's check, or of a whole run given its totals:
-- 'failed' when it failed; in a dry run 'dry_run' when it found drift or
-- alerted, else 'ok'; in a healing run 'alert', 'drift' (found and healed)
-- or 'ok'.  A run's status is what its counters' statuses add up to, with
-- the same precedence.
CREATE FUNCTION @extschema@.denorm_check_status(heal boolean, drifted bigint,
                                                alert boolean, err text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN err IS NOT NULL THEN 'failed'
                WHEN NOT heal AND (alert OR drifted > 0) THEN 'dry_run'
                WHEN alert THEN 'alert'
                WHEN drifted > 0 THEN 'drift'
                ELSE 'ok' END
$$;
COMMENT ON FUNCTION @extschema@.denorm_check_status(boolean, bigint, boolean, text) IS
    'Internal: the status of a reconcile check or run (ok, drift, alert, dry_run, failed)';
REVOKE ALL ON FUNCTION @extschema@.denorm_check_status(boolean, bigint, boolean, text) FROM PUBLIC;

-- Closes a run with its totals and status, and returns the status.
CREATE FUNCTION @extschema@.denorm_finish_run(run bigint, heal boolean, alert boolean,
                                              failed text)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE @extschema@.denorm_reconcile_runs r
       SET finished_at = clock_timestamp(),
           counters = s.counters,
           rows_checked = s.checked, rows_drifted = s.drifted, rows_healed = s.healed,
           drift_ratio = CASE WHEN s.checked > 0 THEN s.drifted::double precision / s.checked END,
           status = @extschema@.denorm_check_status(heal, s.drifted::bigint, alert, failed),
           error = failed
      FROM (SELECT count(*)::integer AS counters,
                   coalesce(sum(rows_checked), 0) AS checked,
                   coalesce(sum(rows_drifted), 0) AS drifted,
                   coalesce(sum(rows_healed), 0) AS healed
              FROM @extschema@.denorm_reconcile_checks WHERE run_id = run) s
     WHERE r.run_id = run
    RETURNING r.status
$$;
COMMENT ON FUNCTION @extschema@.denorm_finish_run(bigint, boolean, boolean, text) IS
    'Internal: closes a reconcile run with its totals and status, and returns the status';
REVOKE ALL ON FUNCTION @extschema@.denorm_finish_run(bigint, boolean, boolean, text) FROM PUBLIC;

-- The 1.0 signature stays for denorm_purge_history, which closes abandoned
-- runs with it (always as failed, so whether they healed does not matter).
CREATE FUNCTION @extschema@.denorm_finish_run(run bigint, alert boolean, failed text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_finish_run(run, true, alert, failed)
$$;
COMMENT ON FUNCTION @extschema@.denorm_finish_run(bigint, boolean, text) IS
    'Internal: closes a reconcile run with its totals and status';
REVOKE ALL ON FUNCTION @extschema@.denorm_finish_run(bigint, boolean, text) FROM PUBLIC;

-- Reconciles (checks, and heals unless heal is false) one counter over a
-- key scope, batch by batch, in the caller's transaction, with NOTICE
-- progress on large tables (denorm_progress_due: each tenth of the
-- batches).  Errors propagate: the caller decides what a
-- failure is.
CREATE FUNCTION @extschema@.denorm_reconcile_counter(run bigint, c @extschema@.denorm_counters,
                                                     heal boolean, key_from text, key_to text,
                                                     OUT rows_checked bigint,
                                                     OUT rows_drifted bigint,
                                                     OUT rows_healed bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    starts text[];
    n integer;
    r record;
    reported timestamptz := clock_timestamp();
BEGIN
    rows_checked := 0; rows_drifted := 0; rows_healed := 0;
    starts := @extschema@.denorm_batch_starts(c, (@extschema@.denorm_settings()).reconcile_batch_size,
                                              key_from, key_to);
    n := coalesce(array_length(starts, 1), 0);
    FOR i IN 1 .. n LOOP
        r := @extschema@.denorm_reconcile_key_batch(c, CASE WHEN i > 1 THEN starts[i] ELSE key_from END,
                                           starts[i + 1], key_to, heal, run);
        rows_checked := rows_checked + r.rows_checked;
        rows_drifted := rows_drifted + r.rows_drifted;
        rows_healed := rows_healed + r.rows_healed;
        IF @extschema@.denorm_progress_due(i, n, reported) THEN
            RAISE NOTICE 'denorm reconcile run %, counter %: batch % of %, % rows checked, % drifted so far',
                         run, c.id, i, n, rows_checked, rows_drifted;
            reported := clock_timestamp();
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_counter(bigint, @extschema@.denorm_counters, boolean, text, text) IS
    'Internal: reconciles one counter over a key scope, batch by batch (denorm_reconcile_key_batch, whose locks last until the transaction ends)';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_counter(bigint, @extschema@.denorm_counters, boolean, text, text) FROM PUBLIC;

-- Rejects a key range that cannot hold a key (the arguments of
-- denorm_reconcile_range): both bounds converted to the key type (so '10'
-- comes after '9' for an integer key) and compared with the key column's
-- collation, as the batches compare them.
CREATE FUNCTION @extschema@.denorm_require_ordered_range(c @extschema@.denorm_counters,
                                                         key_from text, key_to text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keytype text;
    coll text;
    reversed boolean;
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod),
           CASE WHEN a.attcollation <> 0 THEN
               (SELECT format(' COLLATE %I.%I', n.nspname, l.collname)
                  FROM pg_collation l JOIN pg_namespace n ON n.oid = l.collnamespace
                 WHERE l.oid = a.attcollation) END
      INTO keytype, coll
      FROM pg_attribute a
     WHERE a.attrelid = c.parent AND a.attname = c.parent_key AND NOT a.attisdropped;
    -- keys that do not convert to the key type are the caller's error
    EXECUTE format('SELECT ($1::%1$s%2$s) OPERATOR(pg_catalog.>) $2::%1$s', keytype, coalesce(coll, ''))
       INTO reversed USING key_from, key_to;
    IF reversed THEN
        PERFORM @extschema@.denorm_error('22023',
            format('key_from %s is after key_to %s for denorm counter %s on %s.%s',
                   quote_literal(key_from), quote_literal(key_to), c.id, c.parent, c.counter_column),
            format('Keys are compared as values of the key type %s; no key lies in this range.', keytype),
            format('Swap the bounds: denorm_reconcile_range(%s, %L, %L).', c.id, key_to, key_from));
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_require_ordered_range(@extschema@.denorm_counters, text, text) IS
    'Internal: rejects a reversed key range of denorm_reconcile_range, comparing the bounds as key values';
REVOKE ALL ON FUNCTION @extschema@.denorm_require_ordered_range(@extschema@.denorm_counters, text, text) FROM PUBLIC;

-- One run over the given counters and key scope, in the caller's
-- transaction; each batch is its own statement and snapshot.  A counter
-- fails as a whole (its heals and drift rows are rolled back with it); when
-- a heal failed, the counter is read again without healing, so the drift
-- it found is still logged (healed false) before its failure is recorded.
-- A run over every counter covers every copy too, after the counters, and
-- a run given a copy's id covers that copy (a row each: counter_id the
-- copy id, parent the child table, counter_column the copy column); a key
-- range is a counter's only.
CREATE FUNCTION @extschema@.denorm_reconcile_scope(p_counter integer, p_heal boolean,
                                                   p_from text, p_to text,
                                                   p_range boolean)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               rows_checked bigint, rows_drifted bigint, rows_healed bigint,
               status text, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    run bigint;
    c @extschema@.denorm_counters;
    r record;
    cp record;
    alerted boolean;
    alert boolean := false;
    checked bigint;
    drifted bigint;
    healed bigint;
    err text;
    failed text;
BEGIN
    IF p_range THEN
        PERFORM @extschema@.denorm_require(p_counter, 'counter_id');
        IF p_from IS NULL AND p_to IS NULL THEN
            PERFORM @extschema@.denorm_error('22004', 'key_from and key_to cannot both be null', NULL,
                                             'Use denorm_reconcile() for a whole counter.');
        END IF;
        SELECT d.id, d.child, d.copy_column INTO cp FROM @extschema@.denorm_copies d WHERE d.id = p_counter;
        IF cp.id IS NOT NULL THEN
            PERFORM @extschema@.denorm_error('0A000',
                format('denorm copy %s in column "%s" of table "%s" cannot be reconciled by key range', cp.id, cp.copy_column, cp.child),
                'Key ranges are ranges of a counter''s parent keys; a copy is checked by blocks of its child table.',
                format('Reconcile the whole copy with denorm_reconcile(%s) or denorm_reconcile_copies(%s).', cp.id, cp.id));
        END IF;
        FOR c IN SELECT * FROM @extschema@.denorm_reconcile_targets(p_counter, p_heal) LOOP
            PERFORM @extschema@.denorm_require_ordered_range(c, p_from, p_to);
        END LOOP;
    END IF;
    INSERT INTO @extschema@.denorm_reconcile_runs DEFAULT VALUES RETURNING run_id INTO run;
    FOR c IN SELECT * FROM @extschema@.denorm_reconcile_targets(p_counter, p_heal) LOOP
        err := NULL;
        BEGIN
            r := @extschema@.denorm_reconcile_counter(run, c, p_heal, p_from, p_to);
            checked := r.rows_checked; drifted := r.rows_drifted; healed := r.rows_healed;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            checked := 0; drifted := 0; healed := 0;
            IF p_heal THEN
                BEGIN
                    r := @extschema@.denorm_reconcile_counter(run, c, false, p_from, p_to);
                    checked := r.rows_checked; drifted := r.rows_drifted;
                EXCEPTION WHEN OTHERS THEN
                    NULL;   -- the reading failed too: the first error says why
                END;
            END IF;
            failed := concat(failed || '; ', format('counter %s: %s', c.id, err));
            RAISE WARNING 'denorm reconcile of counter % on %.% failed: %',
                          c.id, c.parent, c.counter_column, err;
        END;
        alerted := @extschema@.denorm_finish_counter(run, c, checked, drifted, healed, err);
        alert := alert OR alerted;
        counter_id := c.id; parent := c.parent; counter_column := c.counter_column;
        rows_checked := checked; rows_drifted := drifted; rows_healed := healed;
        status := @extschema@.denorm_check_status(p_heal, drifted, alerted, err);
        error := err;
        RETURN NEXT;
    END LOOP;
    IF NOT p_range THEN
        FOR cp IN SELECT d.id, d.child, d.copy_column
                    FROM @extschema@.denorm_reconcile_copy_ids(p_counter) AS x(id)
                    JOIN @extschema@.denorm_copies d ON d.id = x.id ORDER BY d.id LOOP
            r := @extschema@.denorm_reconcile_copy_in_run(run, cp.id, p_heal);
            IF r.error IS NOT NULL THEN
                failed := concat(failed || '; ', format('copy %s: %s', cp.id, r.error));
            END IF;
            alert := alert OR r.alerted;
            counter_id := cp.id; parent := cp.child; counter_column := cp.copy_column;
            rows_checked := r.rows_checked; rows_drifted := r.rows_drifted; rows_healed := r.rows_healed;
            status := r.status;
            error := r.error;
            RETURN NEXT;
        END LOOP;
    END IF;
    PERFORM @extschema@.denorm_finish_run(run, p_heal, alert, failed);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_scope(integer, boolean, text, text, boolean) IS
    'Internal: one reconcile run over a set of counters and a key scope, in the caller''s transaction (which keeps the locks of every batch)';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_scope(integer, boolean, text, text, boolean) FROM PUBLIC;

-- The public entry points.
CREATE FUNCTION @extschema@.denorm_reconcile(counter_id integer DEFAULT NULL,
                                             heal boolean DEFAULT true)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               rows_checked bigint, rows_drifted bigint, rows_healed bigint,
               status text, error text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_reconcile_scope($1, $2, NULL, NULL, false)
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile(integer, boolean) IS
    'Recomputes counters (all, or one), logs every drifted row to denorm_drift_log and heals it unless heal is false; one row per counter with its status and error. Healing locks the drifted parent rows until the transaction ends';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile(integer, boolean) FROM PUBLIC;

-- By parent table and counter column (each by-name form below resolves
-- the id with denorm_counter_id and calls the id form).
CREATE FUNCTION @extschema@.denorm_reconcile(parent regclass, counter_column name,
                                             heal boolean DEFAULT true)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               rows_checked bigint, rows_drifted bigint, rows_healed bigint,
               status text, error text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_reconcile_scope(@extschema@.denorm_counter_id($1, $2), $3,
                                                     NULL, NULL, false)
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile(regclass, name, boolean) IS
    'denorm_reconcile(counter_id) for the counter kept in a parent column. Healing locks the drifted parent rows until the transaction ends';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile(regclass, name, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_reconcile_range(counter_id integer, key_from text,
                                                   key_to text, heal boolean DEFAULT true)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               rows_checked bigint, rows_drifted bigint, rows_healed bigint,
               status text, error text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_reconcile_scope($1, $4, $2, $3, true)
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_range(integer, text, text, boolean) IS
    'Reconciles the parent rows of one counter whose key lies in [key_from, key_to] (NULL: open), as denorm_reconcile does';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_range(integer, text, text, boolean) FROM PUBLIC;

-- The column is text here, not name: with four literals,
-- denorm_reconcile_range('orders', 'total', '1', '9'), a name would make
-- the call match both forms equally well (text being the preferred type
-- where the id form has it), and PostgreSQL would refuse to choose.
CREATE FUNCTION @extschema@.denorm_reconcile_range(parent regclass, counter_column text,
                                                   key_from text, key_to text,
                                                   heal boolean DEFAULT true)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               rows_checked bigint, rows_drifted bigint, rows_healed bigint,
               status text, error text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_reconcile_scope(@extschema@.denorm_counter_id($1, $2::name), $5,
                                                     $3, $4, true)
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_range(regclass, text, text, text, boolean) IS
    'denorm_reconcile_range(counter_id, ...) for the counter kept in a parent column';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_range(regclass, text, text, text, boolean) FROM PUBLIC;

-- What denorm_check reports: the drifted rows of the given counters, read
-- batch by batch (denorm.reconcile_batch_size parent rows each) with the
-- steps reconcile reads with (denorm_find_drift, denorm_find_extreme_drift),
-- in the snapshot of each of its statements, which sees the caller's own
-- changes.  It writes nothing of its own: no run, no check, no drift row,
-- no heal.  The calling transaction's commit-time deltas (mode 'commit')
-- are applied first, as denorm_apply() does (its commit would apply them
-- anyway), so a test transaction's own writes do not show as drift.
CREATE FUNCTION @extschema@.denorm_check_scope(p_parent regclass, p_column name)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               parent_key text, stored text, actual text, drift numeric)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_counters;
    one integer;
    starts text[];
    n integer;
    lo text;
    hi text;
    keys text[];
    stored_all text[];
    actual_all text[];
    is_number boolean;
    one_copy integer;
    cp record;
    cf record;
    tbls regclass[];
    los bigint[];
    his bigint[];
    bs integer := (@extschema@.denorm_settings('denorm.reconcile_batch_size')).reconcile_batch_size;
BEGIN
    IF p_parent IS NULL AND p_column IS NOT NULL THEN
        PERFORM @extschema@.denorm_error('22004', 'parent cannot be null when counter_column is given',
            NULL,
            format('Name the table too, for example denorm_check(''orders'', %L).', p_column));
    END IF;
    IF p_column IS NOT NULL THEN
        one_copy := (SELECT d.id FROM @extschema@.denorm_copies d
                      WHERE d.child = p_parent AND d.copy_column = p_column);
        IF one_copy IS NULL THEN
            one := @extschema@.denorm_counter_id(p_parent, p_column);
        END IF;
    ELSIF p_parent IS NOT NULL AND NOT EXISTS
        (SELECT 1 FROM @extschema@.denorm_counters d WHERE d.parent = p_parent)
       AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_copies d WHERE d.child = p_parent) THEN
        PERFORM @extschema@.denorm_error('42704', format('table "%s" has no denorm counters', p_parent),
            NULL,
            'The denorm_status view lists the counters there are, by table and column.');
    END IF;
    PERFORM @extschema@.denorm_apply();
    FOR c IN SELECT d.* FROM @extschema@.denorm_counters d
              WHERE (p_parent IS NULL OR d.parent = p_parent)
                AND (one IS NULL OR d.id = one) AND one_copy IS NULL
              ORDER BY d.id LOOP
        counter_id := c.id; parent := c.parent; counter_column := c.counter_column;
        is_number := c.aggregate NOT IN ('min', 'max')
                     OR @extschema@.denorm_column_type(c.parent, c.counter_column)
                        = ANY (ARRAY['int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype]::oid[]);
        starts := @extschema@.denorm_batch_starts(c, bs, NULL, NULL);
        n := coalesce(array_length(starts, 1), 0);
        FOR i IN 1 .. n LOOP
            lo := CASE WHEN i > 1 THEN starts[i] END;
            hi := starts[i + 1];
            IF c.aggregate IN ('min', 'max') THEN
                SELECT f.keys, f.stored, f.actual INTO keys, stored_all, actual_all
                  FROM @extschema@.denorm_find_extreme_drift(c.id, lo, hi, NULL, NULL) f;
            ELSE
                SELECT f.keys, f.stored::text[], f.actual::text[] INTO keys, stored_all, actual_all
                  FROM @extschema@.denorm_find_drift(c.id, lo, hi, NULL, NULL) f;
            END IF;
            CONTINUE WHEN keys IS NULL;
            FOR j IN 1 .. array_length(keys, 1) LOOP
                parent_key := keys[j];
                stored := stored_all[j];
                actual := actual_all[j];
                drift := CASE WHEN is_number THEN actual::numeric - stored::numeric END;
                RETURN NEXT;
            END LOOP;
        END LOOP;
    END LOOP;
    -- the copies kept in the table (or the one named), each wrong child
    -- row with its key; drift stays NULL
    FOR cp IN SELECT d.id, d.child, d.copy_column FROM @extschema@.denorm_copies d
               WHERE one IS NULL AND (p_parent IS NULL OR d.child = p_parent)
                 AND (one_copy IS NULL OR d.id = one_copy)
               ORDER BY d.id LOOP
        PERFORM @extschema@.denorm_copy_check(cp.id);
        SELECT b.tbls, b.los, b.his INTO tbls, los, his FROM @extschema@.denorm_copy_batch_list(cp.id, bs) b;
        FOR i IN 1 .. coalesce(array_length(tbls, 1), 0) LOOP
            SELECT x.* INTO cf FROM @extschema@.denorm_copies d,
                   LATERAL @extschema@.denorm_copy_find(d, tbls[i], los[i], his[i]) x
             WHERE d.id = cp.id;
            CONTINUE WHEN cf.tids IS NULL;
            FOR j IN 1 .. array_length(cf.tids, 1) LOOP
                counter_id := cp.id; parent := cp.child; counter_column := cp.copy_column;
                parent_key := cf.keys[j];
                stored := cf.stored[j];
                actual := cf.actual[j];
                drift := NULL;
                RETURN NEXT;
            END LOOP;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_check_scope(regclass, name) IS
    'Internal: the drifted parent rows of some counters, read as reconcile reads them (no lock but the row locks denorm_apply takes for this transaction''s commit-time deltas), recording nothing';
REVOKE ALL ON FUNCTION @extschema@.denorm_check_scope(regclass, name) FROM PUBLIC;

-- The assertion helper for tests: the drifted rows of every counter, of
-- a table's counters, or of one counter, without recording or healing
-- anything; empty when every counter is exact.  Inside a test transaction
-- it sees the transaction's own writes:
--   SELECT is_empty($$SELECT * FROM denorm_check('orders')$$, 'order totals are exact');
CREATE FUNCTION @extschema@.denorm_check(parent regclass DEFAULT NULL,
                                         counter_column name DEFAULT NULL)
RETURNS TABLE (counter_id integer, parent regclass, counter_column name,
               parent_key text, stored text, actual text, drift numeric)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_check_scope($1, $2)
$$;
COMMENT ON FUNCTION @extschema@.denorm_check(regclass, name) IS
    'The drifted parent rows of all counters, of a table''s, or of one (stored value with pending deltas, recomputed value, their difference), recording and healing nothing; empty when all are exact. Takes no lock but those of denorm_apply() for the transaction''s own commit-time deltas';
REVOKE ALL ON FUNCTION @extschema@.denorm_check(regclass, name) FROM PUBLIC;

-- Whether the calling procedure may COMMIT (see src/reconcile.c).
CREATE FUNCTION @extschema@.denorm_commit_allowed()
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_commit_allowed'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_commit_allowed() IS
    'Internal: whether the calling procedure was CALLed where it may commit';
REVOKE ALL ON FUNCTION @extschema@.denorm_commit_allowed() FROM PUBLIC;

-- The same run as denorm_reconcile, as a procedure that commits after every
-- batch, so locks and transactions stay short on big tables.  Call it with
-- CALL, outside a transaction block (pg_cron does): it checks that first,
-- before it records a run.  After every batch it writes its progress
-- into its run's row (the counter, batches done of how many, totals so
-- far), committed with the batch, for other sessions to read; NOTICE
-- progress comes at each tenth of a counter's batches (denorm_progress_due).
-- A procedure that commits cannot carry SET
-- search_path, so it pins the path itself, first thing and again after
-- every COMMIT (which ends a local setting), and names everything with its
-- schema besides; nothing is evaluated before the first statement.  A
-- batch that fails ends its counter (earlier batches stay healed and
-- logged); a failed heal's batch is read again without healing, so its
-- drift is logged.  Once the run is recorded and committed, the CALL ends
-- with an error when a counter failed (SQLSTATE 55000), or, with
-- fail_on_drift, when the run found drift or alerted (SQLSTATE 23000): a
-- scheduler that looks only at whether the command succeeded (pg_cron's
-- cron.job_run_details) sees the failure.  It ends with a COMMIT, so the
-- pinned path does not outlive it in a caller that goes on (another
-- procedure CALLing it in a loop).
CREATE PROCEDURE @extschema@.denorm_reconcile_batched(counter_id integer DEFAULT NULL,
                                                      heal boolean DEFAULT true,
                                                      fail_on_drift boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
    run bigint;
    c @extschema@.denorm_counters;
    r record;
    starts text[];
    n integer;
    checked bigint;
    drifted bigint;
    healed bigint;
    alerted boolean;
    alert boolean;
    err text;
    failed text;
    failed_counters text[];
    drift_counters text[];
    run_status text;
    totals record;
    bs integer;
    reported timestamptz;
    done_counters integer;
    done_checked bigint;
    done_drifted bigint;
    done_healed bigint;
    cp record;
    f record;
    tbls regclass[];
    los bigint[];
    his bigint[];
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF NOT @extschema@.denorm_commit_allowed() THEN
        PERFORM @extschema@.denorm_error('2D000', 'denorm_reconcile_batched() cannot run inside a transaction block',
            'It commits after every key-range batch, which it cannot do inside a transaction block, when called from a function, or inside a block with an EXCEPTION clause.',
            'Call it outside a transaction block, or use denorm_reconcile(), which runs in the caller''s transaction.');
    END IF;
    PERFORM @extschema@.denorm_require(fail_on_drift, 'fail_on_drift');
    alert := false;
    failed_counters := '{}';
    drift_counters := '{}';
    done_counters := 0; done_checked := 0; done_drifted := 0; done_healed := 0;
    reported := pg_catalog.clock_timestamp();
    bs := (@extschema@.denorm_settings()).reconcile_batch_size;
    -- arguments first, so a bad call leaves no run behind
    PERFORM pg_catalog.count(*) FROM @extschema@.denorm_reconcile_targets(counter_id, heal);
    INSERT INTO @extschema@.denorm_reconcile_runs DEFAULT VALUES RETURNING run_id INTO run;
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR c IN SELECT * FROM @extschema@.denorm_reconcile_targets(counter_id, heal) LOOP
        checked := 0; drifted := 0; healed := 0; err := NULL;
        BEGIN
            starts := @extschema@.denorm_batch_starts(c, bs, NULL, NULL);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            starts := NULL;
        END;
        n := COALESCE(pg_catalog.array_length(starts, 1), 0);
        FOR i IN 1 .. n LOOP
            BEGIN
                r := @extschema@.denorm_reconcile_key_batch(c, CASE WHEN i OPERATOR(pg_catalog.>) 1 THEN starts[i] END,
                                                   starts[i OPERATOR(pg_catalog.+) 1], NULL, heal, run);
                checked := checked OPERATOR(pg_catalog.+) r.rows_checked;
                drifted := drifted OPERATOR(pg_catalog.+) r.rows_drifted;
                healed := healed OPERATOR(pg_catalog.+) r.rows_healed;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            END;
            IF err IS NOT NULL AND heal THEN
                -- log what the failed batch found, without healing
                BEGIN
                    r := @extschema@.denorm_reconcile_key_batch(c, CASE WHEN i OPERATOR(pg_catalog.>) 1 THEN starts[i] END,
                                                       starts[i OPERATOR(pg_catalog.+) 1], NULL, false, run);
                    checked := checked OPERATOR(pg_catalog.+) r.rows_checked;
                    drifted := drifted OPERATOR(pg_catalog.+) r.rows_drifted;
                EXCEPTION WHEN OTHERS THEN
                    NULL;   -- the reading failed too: the first error says why
                END;
            END IF;
            IF @extschema@.denorm_progress_due(i, n, reported) THEN
                RAISE NOTICE 'denorm reconcile run %, counter %: batch % of %, % rows checked, % drifted so far',
                             run, c.id, i, n, checked, drifted;
                reported := pg_catalog.clock_timestamp();
            END IF;
            -- progress for other sessions, committed with the batch
            UPDATE @extschema@.denorm_reconcile_runs k
               SET current_counter = c.id, batches_done = i, batches_total = n,
                   progress_at = pg_catalog.clock_timestamp(), counters = done_counters,
                   rows_checked = done_checked OPERATOR(pg_catalog.+) checked,
                   rows_drifted = done_drifted OPERATOR(pg_catalog.+) drifted,
                   rows_healed = done_healed OPERATOR(pg_catalog.+) healed
             WHERE k.run_id OPERATOR(pg_catalog.=) run;
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            EXIT WHEN err IS NOT NULL;
        END LOOP;
        IF err IS NOT NULL THEN
            RAISE WARNING 'denorm reconcile of counter % on %.% failed: %',
                          c.id, c.parent, c.counter_column, err;
            failed := pg_catalog.concat(failed OPERATOR(pg_catalog.||) '; ',
                                        pg_catalog.format('counter %s: %s', c.id, err));
            failed_counters := failed_counters OPERATOR(pg_catalog.||)
                               pg_catalog.format('counter %s on %s.%s', c.id, c.parent, c.counter_column);
        END IF;
        alerted := @extschema@.denorm_finish_counter(run, c, checked, drifted, healed, err);
        alert := alert OR alerted;
        done_counters := done_counters OPERATOR(pg_catalog.+) 1;
        done_checked := done_checked OPERATOR(pg_catalog.+) checked;
        done_drifted := done_drifted OPERATOR(pg_catalog.+) drifted;
        done_healed := done_healed OPERATOR(pg_catalog.+) healed;
        IF err IS NULL AND (alerted OR drifted OPERATOR(pg_catalog.>) 0) THEN
            drift_counters := drift_counters OPERATOR(pg_catalog.||)
                              pg_catalog.format('counter %s on %s.%s (%s of %s rows drifted%s)',
                                                c.id, c.parent, c.counter_column, drifted, checked,
                                                CASE WHEN alerted THEN ', alerted' ELSE '' END);
        END IF;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    END LOOP;
    -- then the copies (every copy when no id was given), batch by batch
    -- with a COMMIT after each, as the counters
    FOR cp IN SELECT d.id, d.child, d.copy_column
                FROM @extschema@.denorm_reconcile_copy_ids(counter_id) AS x(id)
                JOIN @extschema@.denorm_copies d ON d.id OPERATOR(pg_catalog.=) x.id ORDER BY d.id LOOP
        checked := 0; drifted := 0; healed := 0; err := NULL;
        tbls := NULL; los := NULL; his := NULL;
        BEGIN
            PERFORM @extschema@.denorm_reconcile_copy_start(cp.id, heal);
            SELECT b.tbls, b.los, b.his INTO tbls, los, his
              FROM @extschema@.denorm_copy_batch_list(cp.id, bs) b;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
        END;
        n := COALESCE(pg_catalog.array_length(tbls, 1), 0);
        FOR i IN 1 .. n LOOP
            BEGIN
                r := @extschema@.denorm_reconcile_copy_batch(run, cp.id, tbls[i], los[i], his[i], heal);
                checked := checked OPERATOR(pg_catalog.+) r.rows_checked;
                drifted := drifted OPERATOR(pg_catalog.+) r.rows_drifted;
                healed := healed OPERATOR(pg_catalog.+) r.rows_healed;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
            END;
            IF err IS NOT NULL AND heal THEN
                BEGIN
                    r := @extschema@.denorm_reconcile_copy_batch(run, cp.id, tbls[i], los[i], his[i], false);
                    checked := checked OPERATOR(pg_catalog.+) r.rows_checked;
                    drifted := drifted OPERATOR(pg_catalog.+) r.rows_drifted;
                EXCEPTION WHEN OTHERS THEN
                    NULL;   -- the reading failed too: the first error says why
                END;
            END IF;
            IF @extschema@.denorm_progress_due(i, n, reported) THEN
                RAISE NOTICE 'denorm reconcile run %, copy %: batch % of %, % rows checked, % drifted so far',
                             run, cp.id, i, n, checked, drifted;
                reported := pg_catalog.clock_timestamp();
            END IF;
            UPDATE @extschema@.denorm_reconcile_runs k
               SET current_counter = cp.id, batches_done = i, batches_total = n,
                   progress_at = pg_catalog.clock_timestamp(), counters = done_counters,
                   rows_checked = done_checked OPERATOR(pg_catalog.+) checked,
                   rows_drifted = done_drifted OPERATOR(pg_catalog.+) drifted,
                   rows_healed = done_healed OPERATOR(pg_catalog.+) healed
             WHERE k.run_id OPERATOR(pg_catalog.=) run;
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            EXIT WHEN err IS NOT NULL;
        END LOOP;
        IF err IS NOT NULL THEN
            RAISE WARNING 'denorm reconcile of copy % in column "%" of table % failed: %',
                          cp.id, cp.copy_column, cp.child, err;
            failed := pg_catalog.concat(failed OPERATOR(pg_catalog.||) '; ',
                                        pg_catalog.format('copy %s: %s', cp.id, err));
            failed_counters := failed_counters OPERATOR(pg_catalog.||)
                               pg_catalog.format('copy %s in %s.%s', cp.id, cp.child, cp.copy_column);
        END IF;
        f := @extschema@.denorm_finish_copy(run, cp.id, heal, checked, drifted, healed, err);
        alert := alert OR f.alerted;
        done_counters := done_counters OPERATOR(pg_catalog.+) 1;
        done_checked := done_checked OPERATOR(pg_catalog.+) checked;
        done_drifted := done_drifted OPERATOR(pg_catalog.+) drifted;
        done_healed := done_healed OPERATOR(pg_catalog.+) healed;
        IF err IS NULL AND (f.alerted OR drifted OPERATOR(pg_catalog.>) 0) THEN
            drift_counters := drift_counters OPERATOR(pg_catalog.||)
                              pg_catalog.format('copy %s in %s.%s (%s of %s rows drifted%s)',
                                                cp.id, cp.child, cp.copy_column, drifted, checked,
                                                CASE WHEN f.alerted THEN ', alerted' ELSE '' END);
        END IF;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    END LOOP;
    run_status := @extschema@.denorm_finish_run(run, heal, alert, failed);
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF failed IS NOT NULL THEN
        PERFORM @extschema@.denorm_error('55000',
            pg_catalog.format('denorm reconcile run %s failed for denorm %s',
                              run, pg_catalog.array_to_string(failed_counters, ', ')),
            pg_catalog.format('%s.', failed),
            pg_catalog.format('The run is recorded: see denorm_reconcile_runs (run_id %s) and denorm_reconcile_checks for each counter''s error; the counters that did not fail were reconciled.', run));
    END IF;
    IF fail_on_drift AND run_status OPERATOR(pg_catalog.<>) 'ok' THEN
        SELECT k.rows_checked, k.rows_drifted INTO totals
          FROM @extschema@.denorm_reconcile_runs k WHERE k.run_id OPERATOR(pg_catalog.=) run;
        PERFORM @extschema@.denorm_error('23000',
            pg_catalog.format('denorm reconcile run %s ended with status "%s": %s of %s rows drifted',
                              run, run_status, totals.rows_drifted, totals.rows_checked),
            pg_catalog.format('%s%s.', pg_catalog.upper(pg_catalog.left(drift_counters[1], 1)),
                              pg_catalog.substr(pg_catalog.array_to_string(drift_counters, '; '), 2)),
            pg_catalog.format('The drifted rows are in denorm_drift_log (run_id %s)%s; the run is in denorm_reconcile_runs.',
                              run, CASE WHEN heal THEN ' and were healed' ELSE ', not healed (dry run)' END));
    END IF;
    -- an empty transaction, so the pinned path ends here and a caller's
    -- next statement resolves names with its own
    COMMIT;
END
$$;
COMMENT ON PROCEDURE @extschema@.denorm_reconcile_batched(integer, boolean, boolean) IS
    'denorm_reconcile as a procedure that commits after every key-range batch, so it holds locks one batch at a time; ends with an error when a counter failed, or with fail_on_drift when it found drift';
REVOKE ALL ON PROCEDURE @extschema@.denorm_reconcile_batched(integer, boolean, boolean) FROM PUBLIC;

-- By parent table and counter column.  A procedure that commits cannot
-- carry SET search_path, so it pins the path itself and names everything
-- with its schema; the CALL keeps the caller's right to commit.
CREATE PROCEDURE @extschema@.denorm_reconcile_batched(parent regclass, counter_column name,
                                                      heal boolean DEFAULT true,
                                                      fail_on_drift boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
    id integer;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    id := @extschema@.denorm_counter_id(parent, counter_column);
    CALL @extschema@.denorm_reconcile_batched(id, heal, fail_on_drift);
END
$$;
COMMENT ON PROCEDURE @extschema@.denorm_reconcile_batched(regclass, name, boolean, boolean) IS
    'denorm_reconcile_batched(counter_id, ...) for the counter kept in a parent column; it holds locks one batch at a time';
REVOKE ALL ON PROCEDURE @extschema@.denorm_reconcile_batched(regclass, name, boolean, boolean) FROM PUBLIC;

------------------------------------------------------------------------
-- Deferred counters: flush and exact reads
------------------------------------------------------------------------

-- Folds a deferred counter's pending deltas for some keys into its column,
-- as the parent's owner.
CREATE FUNCTION @extschema@.denorm_fold_pending(counter_id integer, keys text[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'denorm_fold_pending'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_fold_pending(integer, text[]) IS
    'Internal: folds a deferred counter''s pending deltas for some keys into its column (deletes them from denorm_pending, updates the parent rows the caller has locked)';
REVOKE ALL ON FUNCTION @extschema@.denorm_fold_pending(integer, text[]) FROM PUBLIC;

-- Folds the pending deltas of deferred counters into their parent columns.
-- Parent tables are taken in OID order and, for each, the rows with
-- pending deltas of any of its deferred counters are locked first, in
-- ascending key order (as the parent's owner): the order immediate writers
-- lock them in, so a flush and a writer cannot deadlock.  Then, per
-- counter, exactly the pending rows of those keys that this snapshot sees
-- are deleted and their sums added to the column (denorm_fold_pending).
-- Deltas that writers commit meanwhile stay pending for the next flush; a
-- concurrent flush of the same rows waits and then finds them gone.
-- Returns the pending rows folded.  One counter's failure (its column
-- would overflow, a trigger on its parent refuses) fails the whole flush:
-- nothing is folded, and denorm_flush(counter_id) flushes the others.
CREATE FUNCTION @extschema@.denorm_flush(counter_id integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    g record;
    keys text[];
    total bigint := 0;
BEGIN
    IF counter_id IS NOT NULL AND NOT EXISTS
        (SELECT 1 FROM @extschema@.denorm_counters d WHERE d.id = counter_id) THEN
        PERFORM @extschema@.denorm_error('42704', format('denorm counter %s does not exist', counter_id),
            NULL,
            'The denorm_status view lists the counters there are.');
    END IF;
    FOR g IN SELECT d.parent, d.parent_key, array_agg(d.id ORDER BY d.id) AS ids
               FROM @extschema@.denorm_counters d
              WHERE d.mode = 'deferred' AND (counter_id IS NULL OR d.id = counter_id)
              GROUP BY d.parent, d.parent_key
              ORDER BY d.parent, d.parent_key LOOP
        SELECT array_agg(DISTINCT q.parent_key) INTO keys
          FROM @extschema@.denorm_pending q
         WHERE q.counter_id = ANY (g.ids);
        CONTINUE WHEN keys IS NULL;
        PERFORM @extschema@.denorm_lock_parents(g.ids[1], keys);
        FOR i IN 1 .. array_length(g.ids, 1) LOOP
            total := total + @extschema@.denorm_fold_pending(g.ids[i], keys);
        END LOOP;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_flush(integer) IS
    'Folds pending deltas of deferred counters (all, or one) into their parent columns, locking those parent rows FOR NO KEY UPDATE (table by table, in key order) until the transaction ends; returns the pending rows folded';
REVOKE ALL ON FUNCTION @extschema@.denorm_flush(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_flush(parent regclass, counter_column name)
RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_flush(@extschema@.denorm_counter_id($1, $2))
$$;
COMMENT ON FUNCTION @extschema@.denorm_flush(regclass, name) IS
    'denorm_flush(counter_id) for the counter kept in a parent column: folds its pending deltas, locking those parent rows until the transaction ends';
REVOKE ALL ON FUNCTION @extschema@.denorm_flush(regclass, name) FROM PUBLIC;

-- The exact current value of one parent row's counter: the column plus, for
-- a deferred counter, its pending deltas, plus the calling transaction's
-- own deltas not applied yet, read in the calling query's snapshot.  NULL
-- when the caller sees no parent row with that key.  Any role may call it:
-- the parent row is read with the caller's rights (its privileges on the
-- key and counter columns and the table's row security apply, and a
-- refusal is the error a SELECT would raise), and only for a row it found
-- are that counter's pending deltas read, as the owner of denorm_pending.
CREATE FUNCTION @extschema@.denorm_value(counter_id integer, parent_key anyelement)
RETURNS numeric
AS 'MODULE_PATHNAME', 'denorm_value'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_value(integer, anyelement) IS
    'Exact current value of a counter for one parent key (column, pending deltas, this transaction''s own deltas); NULL when the caller sees no such row; needs only SELECT on the parent';
GRANT EXECUTE ON FUNCTION @extschema@.denorm_value(integer, anyelement) TO PUBLIC;

-- By parent table and counter column, for every role as the id form is:
-- it runs with the caller's rights (SECURITY INVOKER), finds the id in the
-- registry every role may read, and calls the id form, which reads the
-- parent row with the caller's rights in the calling query's snapshot (a
-- STABLE SQL function takes no snapshot of its own).
CREATE FUNCTION @extschema@.denorm_value(parent regclass, counter_column name,
                                         parent_key anyelement)
RETURNS numeric
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_value(@extschema@.denorm_counter_id($1, $2), $3)
$$;
COMMENT ON FUNCTION @extschema@.denorm_value(regclass, name, anyelement) IS
    'denorm_value(counter_id, key) for the counter kept in a parent column; needs only SELECT on the parent';
GRANT EXECUTE ON FUNCTION @extschema@.denorm_value(regclass, name, anyelement) TO PUBLIC;

-- denorm_value for many keys in one read: a row per element of the array,
-- in its order, with NULL where the caller sees no row with that key.
CREATE FUNCTION @extschema@.denorm_values(counter_id integer, parent_keys anyarray)
RETURNS TABLE (parent_key anyelement, value numeric)
AS 'MODULE_PATHNAME', 'denorm_values'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_values(integer, anyarray) IS
    'Exact current values of a counter for many parent keys in one read: a row per key, in order, value NULL when the caller sees no such row; needs only SELECT on the parent';
GRANT EXECUTE ON FUNCTION @extschema@.denorm_values(integer, anyarray) TO PUBLIC;

CREATE FUNCTION @extschema@.denorm_values(parent regclass, counter_column name,
                                          parent_keys anyarray)
RETURNS TABLE (parent_key anyelement, value numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_values(@extschema@.denorm_counter_id($1, $2), $3)
$$;
COMMENT ON FUNCTION @extschema@.denorm_values(regclass, name, anyarray) IS
    'denorm_values(counter_id, keys) for the counter kept in a parent column; needs only SELECT on the parent';
GRANT EXECUTE ON FUNCTION @extschema@.denorm_values(regclass, name, anyarray) TO PUBLIC;

------------------------------------------------------------------------
-- Scheduling with pg_cron
------------------------------------------------------------------------

-- pg_cron stays optional: these are the only functions that need it, and
-- they check for it first.  Each job has a fixed name (the reconcile's may
-- be chosen); scheduling again updates the job.

-- Raises the standard error when pg_cron is not installed here.
CREATE FUNCTION @extschema@.denorm_require_pg_cron()
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM @extschema@.denorm_error('55000',
            format('pg_cron is not installed in database "%s"', current_database()),
            NULL,
            format('Add pg_cron to shared_preload_libraries, set cron.database_name = ''%s'', restart the server and run CREATE EXTENSION pg_cron in this database.',
                   current_database()));
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_require_pg_cron() IS
    'Internal: rejects scheduling when pg_cron is not installed';
REVOKE ALL ON FUNCTION @extschema@.denorm_require_pg_cron() FROM PUBLIC;

-- Removes one of the caller's pg_cron jobs by name; false when there is none.
CREATE FUNCTION @extschema@.denorm_unschedule_job(job_name text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.denorm_require_pg_cron();
    IF NOT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = job_name
                      AND j.username = current_user) THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule(job_name);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_unschedule_job(text) IS
    'Internal: removes one of the caller''s pg_cron jobs by name';
REVOKE ALL ON FUNCTION @extschema@.denorm_unschedule_job(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_schedule_reconcile(schedule text DEFAULT '0 2 * * *',
                                                      job_name text DEFAULT 'denorm-nightly-reconcile')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.denorm_require(schedule, 'schedule');
    PERFORM @extschema@.denorm_require(job_name, 'job_name');
    PERFORM @extschema@.denorm_require_pg_cron();
    RETURN cron.schedule(job_name, schedule,
                         format('CALL %I.denorm_reconcile_batched()', '@extschema@'));
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_schedule_reconcile(text, text) IS
    'Schedules denorm_reconcile_batched() with pg_cron (5-field cron schedule, GMT); calling it again updates the job';
REVOKE ALL ON FUNCTION @extschema@.denorm_schedule_reconcile(text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_unschedule_reconcile(job_name text DEFAULT 'denorm-nightly-reconcile')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.denorm_require(job_name, 'job_name');
    PERFORM @extschema@.denorm_require_pg_cron();
    IF NOT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = job_name
                      AND j.username = current_user) THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule(job_name);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_unschedule_reconcile(text) IS
    'Removes the pg_cron job made by denorm_schedule_reconcile; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.denorm_unschedule_reconcile(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_schedule_flush(schedule text DEFAULT '* * * * *')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.denorm_require(schedule, 'schedule');
    PERFORM @extschema@.denorm_require_pg_cron();
    RETURN cron.schedule('denorm-flush', schedule,
                         format('SELECT %I.denorm_flush()', '@extschema@'));
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_schedule_flush(text) IS
    'Schedules denorm_flush() with pg_cron as job "denorm-flush"; calling it again updates the job';
REVOKE ALL ON FUNCTION @extschema@.denorm_schedule_flush(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_unschedule_flush()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.denorm_require_pg_cron();
    IF NOT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = 'denorm-flush'
                      AND j.username = current_user) THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule('denorm-flush');
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_unschedule_flush() IS
    'Removes the pg_cron job made by denorm_schedule_flush; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.denorm_unschedule_flush() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_schedule_purge(schedule text DEFAULT '30 3 * * *',
                                                  keep interval DEFAULT '90 days')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.denorm_require(schedule, 'schedule');
    PERFORM @extschema@.denorm_history_cutoff(keep);
    PERFORM @extschema@.denorm_require_pg_cron();
    RETURN cron.schedule('denorm-purge-history', schedule,
                         format('SELECT * FROM %I.denorm_purge_history(%L::interval)',
                                '@extschema@', keep::text));
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_schedule_purge(text, interval) IS
    'Schedules denorm_purge_history(keep) with pg_cron as job "denorm-purge-history"; calling it again updates the job';
REVOKE ALL ON FUNCTION @extschema@.denorm_schedule_purge(text, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_unschedule_purge()
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_unschedule_job('denorm-purge-history')
$$;
COMMENT ON FUNCTION @extschema@.denorm_unschedule_purge() IS
    'Removes the pg_cron job made by denorm_schedule_purge; false when there was none';
REVOKE ALL ON FUNCTION @extschema@.denorm_unschedule_purge() FROM PUBLIC;

------------------------------------------------------------------------
-- Reconcile history: retention and runs that can no longer finish
------------------------------------------------------------------------

-- Whether a run still marked running can no longer finish.  A run is
-- recorded and finished within one statement (the CALL of the committing
-- procedure, or the pg_cron job), so it is abandoned when it started before
-- the server did, or when its session is no longer inside that statement:
-- the session has ended (its pid is gone or belongs to a later session), or
-- it is idle or running a later statement (the CALL was cancelled or
-- failed).  When the session's details cannot be seen (statistics of
-- another role's session, without pg_read_all_stats) or it is unknown (runs
-- recorded before 1.1), the run is taken to be alive.
CREATE FUNCTION @extschema@.denorm_run_abandoned(r @extschema@.denorm_reconcile_runs)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.status = 'running'
       AND (r.started_at < pg_postmaster_start_time()
            OR (r.backend_pid IS NOT NULL
                AND NOT EXISTS (
                    SELECT 1 FROM pg_stat_activity a
                     WHERE a.pid = r.backend_pid
                       AND (a.backend_start IS NULL OR a.backend_start <= r.started_at)
                       AND (a.state IS NULL OR a.state = 'disabled'
                            OR (a.state IN ('active', 'fastpath function call')
                                AND (a.query_start IS NULL
                                     OR a.query_start <= r.started_at))))))
$$;
COMMENT ON FUNCTION @extschema@.denorm_run_abandoned(@extschema@.denorm_reconcile_runs) IS
    'Internal: whether a run marked running can no longer finish (its session ended or left the statement that started it)';
REVOKE ALL ON FUNCTION @extschema@.denorm_run_abandoned(@extschema@.denorm_reconcile_runs) FROM PUBLIC;

-- The start time before which runs are history for a retention period of
-- keep; rejects a missing period and one that reaches into the future
-- (negative, or mixed like '1 month -29 days' on some dates).  A period
-- reaching back before the calendar starts keeps everything.
CREATE FUNCTION @extschema@.denorm_history_cutoff(keep interval)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz := '-infinity';
BEGIN
    PERFORM @extschema@.denorm_require(keep, 'keep');
    IF keep >= interval '0' THEN
        BEGIN
            cutoff := now() - keep;
        EXCEPTION WHEN datetime_field_overflow THEN
            RETURN cutoff;
        END;
    END IF;
    IF keep < interval '0' OR cutoff > now() THEN
        PERFORM @extschema@.denorm_error('22023', format('keep must not be negative: %s', keep),
            NULL,
            'Give how long to keep reconcile history, for example interval ''90 days''.');
    END IF;
    RETURN cutoff;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_history_cutoff(interval) IS
    'Internal: the start time before which reconcile runs are deleted; rejects a NULL or negative retention period';
REVOKE ALL ON FUNCTION @extschema@.denorm_history_cutoff(interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_purge_history(keep interval DEFAULT '90 days')
RETURNS TABLE (runs_closed bigint, runs_deleted bigint, checks_deleted bigint,
               drift_rows_deleted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r @extschema@.denorm_reconcile_runs;
    dead bigint[];
    cutoff timestamptz;
BEGIN
    cutoff := @extschema@.denorm_history_cutoff(keep);

    -- Runs that can no longer finish: closed as failed, with the totals of
    -- the checks they did record.  The sessions are read
    -- afresh, after the runs: a view of them taken earlier in this
    -- transaction would miss the session of a run that started since.
    PERFORM pg_stat_clear_snapshot();
    runs_closed := 0;
    FOR r IN SELECT * FROM @extschema@.denorm_reconcile_runs x
              WHERE x.status = 'running' ORDER BY x.run_id FOR UPDATE LOOP
        CONTINUE WHEN NOT @extschema@.denorm_run_abandoned(r);
        PERFORM @extschema@.denorm_finish_run(r.run_id, false,
            'abandoned: its session ended, or the statement running it was cancelled or failed, before it finished');
        runs_closed := runs_closed + 1;
    END LOOP;

    -- Finished runs that started more than keep ago, except those holding
    -- a counter's latest check, which denorm_status reports.
    WITH latest AS (
        SELECT DISTINCT ON (k.counter_id) k.run_id
          FROM @extschema@.denorm_reconcile_checks k
          JOIN @extschema@.denorm_counters c ON c.id = k.counter_id
         ORDER BY k.counter_id, k.checked_at DESC, k.run_id DESC
    ), gone AS (
        DELETE FROM @extschema@.denorm_reconcile_runs x
         WHERE x.status <> 'running'
           AND x.started_at < cutoff
           AND x.run_id NOT IN (SELECT run_id FROM latest)
        RETURNING x.run_id
    )
    SELECT coalesce(array_agg(run_id), '{}') INTO dead FROM gone;
    runs_deleted := cardinality(dead);

    DELETE FROM @extschema@.denorm_reconcile_checks k WHERE k.run_id = ANY (dead);
    GET DIAGNOSTICS checks_deleted = ROW_COUNT;
    DELETE FROM @extschema@.denorm_drift_log l WHERE l.run_id = ANY (dead);
    GET DIAGNOSTICS drift_rows_deleted = ROW_COUNT;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_purge_history(interval) IS
    'Closes reconcile runs that can no longer finish (locking the runs still marked running), then deletes runs that started more than keep ago with their checks and drift rows (each counter''s latest check is kept)';
REVOKE ALL ON FUNCTION @extschema@.denorm_purge_history(interval) FROM PUBLIC;

------------------------------------------------------------------------
-- Copied columns: a parent's value kept on its children
------------------------------------------------------------------------

-- One row per copy.  Ids come from the counters' sequence, so a counter
-- and a copy never share one (reconcile's checks and drift log name
-- either by it).  Columns are also known by attribute number, so that
-- the DDL guard can follow their renames.  Everyone may read it; only
-- denorm writes it, through denorm_copy_register and
-- denorm_copy_unregister, which check the caller.
CREATE TABLE @extschema@.denorm_copies (
    id              integer     PRIMARY KEY
                                DEFAULT pg_catalog.nextval('@extschema@.denorm_counters_id_seq'::pg_catalog.regclass),
    child           regclass    NOT NULL,
    copy_column     name        NOT NULL,
    parent          regclass    NOT NULL,
    source_column   name        NOT NULL,
    foreign_key     name        NOT NULL,
    parent_key      name        NOT NULL,
    mode            text        NOT NULL DEFAULT 'sync' CHECK (mode IN ('sync', 'snapshot')),
    copy_attnum     smallint    NOT NULL,
    source_attnum   smallint    NOT NULL,
    fk_attnum       smallint    NOT NULL,
    key_attnum      smallint    NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (child, copy_column)
);
COMMENT ON TABLE @extschema@.denorm_copies IS
    'One row per denorm copy: which child column holds which parent column''s value, kept in sync or taken as a snapshot';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.denorm_copies', '');
REVOKE ALL ON TABLE @extschema@.denorm_copies FROM PUBLIC;
GRANT SELECT ON TABLE @extschema@.denorm_copies TO PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_register(child regclass, copy_column name,
                                                 parent regclass, source_column name,
                                                 foreign_key name, parent_key name, mode text)
RETURNS integer
AS 'MODULE_PATHNAME', 'denorm_copy_register'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_copy_register(regclass, name, regclass, name, name, name, text) IS
    'Internal: records a copy after checking the caller owns its tables';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_register(regclass, name, regclass, name, name, name, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_unregister(copy_id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_copy_unregister'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_copy_unregister(integer) IS
    'Internal: deletes a copy''s registry row after checking the caller owns its tables; false when there is none';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_unregister(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_follow_names(copy_id integer, copy_column name, foreign_key name,
                                                     source_column name, parent_key name)
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_copy_follow_names'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_copy_follow_names(integer, name, name, name, name) IS
    'Internal: records the names a copy''s columns have after DDL, and their numbers now';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_follow_names(integer, name, name, name, name) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_check(copy_id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_copy_check'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_copy_check(integer) IS
    'Internal: the trust checks of a copy, as its triggers make them';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_check(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_heal(copy_id integer, tbl regclass, rows tid[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'denorm_copy_heal'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_copy_heal(integer, regclass, tid[]) IS
    'Internal: sets the copy of some rows of a child table afresh from their parents, as a writer would, as the child''s owner';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_heal(integer, regclass, tid[]) FROM PUBLIC;

-- The triggers (src/copy.c)
CREATE FUNCTION @extschema@.denorm_copy_child_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_copy_child_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_copy_child_trigger() IS
    'Internal: BEFORE INSERT OR UPDATE row trigger of a copy''s child: sets the copy from the parent';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_child_trigger() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_parent_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_copy_parent_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_copy_parent_trigger() IS
    'Internal: AFTER row trigger of a sync copy''s parent: sets the copy on the children of the keys a row left, took or kept';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_parent_trigger() FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_copy_truncate_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_copy_truncate_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_copy_truncate_trigger() IS
    'Internal: AFTER TRUNCATE statement trigger of a sync copy''s parent (and each of its partitions): sets the copy to NULL on the children left without a parent row';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_truncate_trigger() FROM PUBLIC;

-- Whether a value of type src always fits a column of type dst unchanged:
-- the same type and a typmod that is the same or looser, or a widening
-- within integers, floats or strings.  A cast that may round, truncate,
-- fail, or depend on a setting (TimeZone, DateStyle) does not qualify.
CREATE FUNCTION @extschema@.denorm_copy_type_fits(src oid, srcmod integer, dst oid, dstmod integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN src = dst THEN
            dstmod = -1 OR dstmod = srcmod
            OR (src IN ('varchar'::regtype, 'bpchar'::regtype) AND srcmod <> -1 AND dstmod >= srcmod
                AND src = 'varchar'::regtype)
            OR (src = 'numeric'::regtype AND srcmod <> -1
                AND ((dstmod - 4) & 65535) >= ((srcmod - 4) & 65535)
                AND ((dstmod - 4) >> 16) - ((dstmod - 4) & 65535) >= ((srcmod - 4) >> 16) - ((srcmod - 4) & 65535))
        WHEN dstmod <> -1 THEN false
        ELSE (src, dst) IN (('int2'::regtype, 'int4'::regtype), ('int2'::regtype, 'int8'::regtype),
                            ('int4'::regtype, 'int8'::regtype), ('int2'::regtype, 'numeric'::regtype),
                            ('int4'::regtype, 'numeric'::regtype), ('int8'::regtype, 'numeric'::regtype),
                            ('float4'::regtype, 'float8'::regtype), ('varchar'::regtype, 'text'::regtype))
        END
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_type_fits(oid, integer, oid, integer) IS
    'Internal: whether every value of one column type is kept unchanged in a column of another';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_type_fits(oid, integer, oid, integer) FROM PUBLIC;

-- The rules a copy must meet, at creation and after every change of its
-- tables (the DDL guard): the first one broken, with its SQLSTATE and a
-- hint, or no row.  Both creation and the guard call this.
CREATE FUNCTION @extschema@.denorm_copy_rules(child regclass, copy_column name, parent regclass,
                                              source_column name, foreign_key name, parent_key name)
RETURNS TABLE (sqlstate text, problem text, hint text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    ca pg_attribute;
    sa pg_attribute;
    fa pg_attribute;
    ka pg_attribute;
    why text;
BEGIN
    SELECT * INTO ca FROM pg_attribute a WHERE a.attrelid = child AND a.attname = copy_column AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT * INTO fa FROM pg_attribute a WHERE a.attrelid = child AND a.attname = foreign_key AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT * INTO sa FROM pg_attribute a WHERE a.attrelid = parent AND a.attname = source_column AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT * INTO ka FROM pg_attribute a WHERE a.attrelid = parent AND a.attname = parent_key AND a.attnum > 0 AND NOT a.attisdropped;
    IF ca.attname IS NULL OR fa.attname IS NULL THEN
        RETURN QUERY SELECT '42703', format('column "%s" of table "%s" does not exist',
                                            CASE WHEN ca.attname IS NULL THEN copy_column ELSE foreign_key END, child),
                            'Name a column of the child table.';
        RETURN;
    END IF;
    IF sa.attname IS NULL OR ka.attname IS NULL THEN
        RETURN QUERY SELECT '42703', format('column "%s" of table "%s" does not exist',
                                            CASE WHEN sa.attname IS NULL THEN source_column ELSE parent_key END, parent),
                            'Name a column of the parent table.';
        RETURN;
    END IF;
    IF child = parent THEN
        RETURN QUERY SELECT '0A000', format('a denorm copy cannot copy table "%s" into itself', child),
                            'Copy between two tables.';
        RETURN;
    END IF;
    IF fa.attgenerated <> '' THEN
        RETURN QUERY SELECT '42P17', format('foreign key "%s" of table "%s" is a generated column', foreign_key, child),
                            'BEFORE triggers see a generated column before it is computed: copy by a foreign key the rows store as written.';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
                WHERE i.inhparent = child AND NOT k.relispartition) THEN
        RETURN QUERY SELECT '0A000', format('table "%s" has inheritance children', child),
                            'A copy is kept on a table and its partitions; declare one on each table of the hierarchy instead.';
        RETURN;
    END IF;
    -- Citus: a shard's writes would find no copy on its worker
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid OPERATOR(pg_catalog.=) ANY ($1))'
           INTO why USING ARRAY[child, parent]::regclass[];
        IF why::boolean THEN
            RETURN QUERY SELECT '0A000', format('a denorm copy cannot be kept on Citus tables ("%s" or "%s" is distributed)', child, parent),
                                'Keep copied columns on local tables, or copy the value in the application.';
            RETURN;
        END IF;
    END IF;
    IF copy_column = foreign_key THEN
        RETURN QUERY SELECT '42P17', format('copy column "%s" of table "%s" cannot be its foreign key', copy_column, child),
                            'Copy into a column of its own.';
        RETURN;
    END IF;
    IF ca.attgenerated <> '' OR ca.attidentity <> '' THEN
        RETURN QUERY SELECT '42P17', format('copy column "%s" of table "%s" is a generated or identity column', copy_column, child),
                            'Copy into an ordinary column.';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_partitioned_table t WHERE t.partrelid = child AND ca.attnum = ANY (t.partattrs::int2[])) THEN
        RETURN QUERY SELECT '42P17', format('copy column "%s" of table "%s" is in its partition key', copy_column, child),
                            'Copy into a column the table is not partitioned by.';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.denorm_counters d WHERE d.parent = child AND d.counter_column = copy_column) THEN
        RETURN QUERY SELECT '42P17', format('copy column "%s" of table "%s" is a denorm counter column', copy_column, child),
                            'Copy into a column of its own.';
        RETURN;
    END IF;
    IF NOT @extschema@.denorm_copy_type_fits(sa.atttypid, sa.atttypmod, ca.atttypid, ca.atttypmod) THEN
        RETURN QUERY SELECT '42804',
            format('copy column "%s" of table "%s" is of type %s, which cannot hold every value of column "%s" of table "%s" (type %s) unchanged',
                   copy_column, child, format_type(ca.atttypid, ca.atttypmod), source_column, parent,
                   format_type(sa.atttypid, sa.atttypmod)),
            format('Make the copy column of type %s: ALTER TABLE %s ALTER COLUMN %I TYPE %s;',
                   format_type(sa.atttypid, sa.atttypmod), child, copy_column, format_type(sa.atttypid, sa.atttypmod));
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod,
                                 (SELECT coalesce(nullif(t.typbasetype, 0), t.oid) AS base FROM pg_type t
                                   WHERE t.oid = ca.atttypid) b
                                 JOIN pg_type bt ON bt.oid = b.base
                    WHERE o.opcdefault AND m.amname IN ('btree', 'hash')
                      AND (o.opcintype = b.base
                           OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = b.base
                                         AND k.casttarget = o.opcintype AND k.castmethod = 'b')
                           OR (o.opcintype = 'anyarray'::regtype AND bt.typcategory = 'A')
                           OR (o.opcintype = 'anyenum'::regtype AND bt.typtype = 'e'))) THEN
        RETURN QUERY SELECT '42883', format('type %s of copy column "%s" of table "%s" has no equality operator',
                                            format_type(ca.atttypid, ca.atttypmod), copy_column, child),
                            'Copy a column of a type with an equality operator (jsonb rather than json, for example).';
        RETURN;
    END IF;
    -- (the fan-out compares with pg_catalog's "=" by name: a type whose
    -- equality lives elsewhere would need its schema on everyone's path)
    BEGIN
        EXECUTE format('SELECT NULL::%1$s OPERATOR(pg_catalog.=) NULL::%1$s', format_type(ca.atttypid, ca.atttypmod));
    EXCEPTION WHEN not_null_violation OR check_violation THEN
        -- a domain refusing NULL: the operator was found when the
        -- statement was planned, before the constant was cast
        NULL;
    WHEN undefined_function OR ambiguous_function OR datatype_mismatch THEN
        RETURN QUERY SELECT '42883', format('type %s of copy column "%s" of table "%s" has no equality operator in schema pg_catalog',
                                            format_type(ca.atttypid, ca.atttypmod), copy_column, child),
                            'Copy a column of a built-in type, or of a domain over one.';
        RETURN;
    END;
    IF NOT @extschema@.denorm_builtin_type(ka.atttypid) OR NOT @extschema@.denorm_builtin_type(fa.atttypid) THEN
        RETURN QUERY SELECT '0A000', format('parent key "%s" and foreign key "%s" of a denorm copy must be of built-in types', parent_key, foreign_key),
                            'Use the domain''s base type for the key columns.';
        RETURN;
    END IF;
    why := @extschema@.denorm_key_compare_problem(ka.atttypid::regtype, fa.atttypid::regtype);
    IF why IS NOT NULL THEN
        RETURN QUERY SELECT '42804', format('foreign key "%s" of table "%s" cannot be matched with parent key "%s" of table "%s" exactly', foreign_key, child, parent_key, parent),
                            why;
        RETURN;
    END IF;
    -- the fan-out finds children by the foreign key's collation, the child
    -- writer its parent by the key's: they must agree
    IF ka.attcollation <> fa.attcollation THEN
        RETURN QUERY SELECT '42804', format('foreign key "%s" of table "%s" and parent key "%s" of table "%s" have different collations', foreign_key, child, parent_key, parent),
                            format('Give both columns one collation: ALTER TABLE %s ALTER COLUMN %I TYPE %s COLLATE %s;',
                                   child, foreign_key, format_type(fa.atttypid, fa.atttypmod),
                                   (SELECT quote_ident(n.nspname) || '.' || quote_ident(l.collname)
                                      FROM pg_collation l JOIN pg_namespace n ON n.oid = l.collnamespace
                                     WHERE l.oid = ka.attcollation));
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                    WHERE i.indrelid = parent AND i.indisunique AND i.indnkeyatts = 1
                      AND i.indkey[0] = ka.attnum AND i.indpred IS NULL AND i.indexprs IS NULL) THEN
        RETURN QUERY SELECT '42P10', format('parent key "%s" of table "%s" has no unique index of its own', parent_key, parent),
                            format('Add one: CREATE UNIQUE INDEX ON %s (%I);', parent, parent_key);
        RETURN;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_rules(regclass, name, regclass, name, name, name) IS
    'Internal: the first rule a copy breaks (SQLSTATE, what, hint), or no row';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_rules(regclass, name, regclass, name, name, name) FROM PUBLIC;

-- Whether the child has an index that starts with the foreign key, which
-- every fan-out and every child write's lookup use
CREATE FUNCTION @extschema@.denorm_copy_fk_indexed(c @extschema@.denorm_copies)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
                       ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid = c.child AND a.attname = c.foreign_key AND i.indpred IS NULL)
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_fk_indexed(@extschema@.denorm_copies) IS
    'Internal: whether the child has an index that starts with the copy''s foreign key';

-- Missing or disabled triggers of a copy, NULL when all fire.  Triggers
-- are recognised by their function and the copy id they carry.
CREATE FUNCTION @extschema@.denorm_copy_trigger_problems(c @extschema@.denorm_copies)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('trigger "%s" on table %s is %s', e.tgname, e.rel,
                             CASE WHEN e.enabled IS NULL THEN 'missing' ELSE 'disabled' END),
                      '; ' ORDER BY e.tgname, e.rel::oid)
      FROM (SELECT r.rel, format('denorm_copy_%s', c.id) AS tgname,
                   (SELECT t.tgenabled FROM pg_trigger t
                     WHERE t.tgrelid = r.rel
                       AND t.tgfoid = '@extschema@.denorm_copy_child_trigger()'::regprocedure
                       AND t.tgnargs = 1
                       AND encode(t.tgargs, 'escape') = c.id || '\000'
                     ORDER BY t.tgenabled = 'D', t.oid LIMIT 1) AS enabled
              FROM (SELECT c.child::regclass AS rel
                    UNION SELECT p.relid FROM pg_partition_tree(c.child) p WHERE p.isleaf) r
            UNION ALL
            SELECT c.parent, format('denorm_copy_%s_source', c.id),
                   (SELECT t.tgenabled FROM pg_trigger t
                     WHERE t.tgrelid = c.parent
                       AND t.tgfoid = '@extschema@.denorm_copy_parent_trigger()'::regprocedure
                       AND t.tgnargs = 1
                       AND encode(t.tgargs, 'escape') = c.id || '\000'
                     ORDER BY t.tgenabled = 'D', t.oid LIMIT 1)
             WHERE c.mode = 'sync'
            UNION ALL
            SELECT r.rel, format('denorm_copy_%s_truncate', c.id),
                   (SELECT t.tgenabled FROM pg_trigger t
                     WHERE t.tgrelid = r.rel
                       AND t.tgfoid = '@extschema@.denorm_copy_truncate_trigger()'::regprocedure
                       AND t.tgnargs = 1
                       AND encode(t.tgargs, 'escape') = c.id || '\000'
                     ORDER BY t.tgenabled = 'D', t.oid LIMIT 1)
              FROM (SELECT c.parent::regclass AS rel
                    UNION SELECT p.relid FROM pg_partition_tree(c.parent) p) r
             WHERE c.mode = 'sync') e
     WHERE e.enabled IS NULL OR e.enabled IN ('D', 'R')
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_trigger_problems(@extschema@.denorm_copies) IS
    'Internal: missing or disabled triggers of a copy, NULL when all fire';

-- Installs a copy's triggers: on the child, and for a sync copy on the
-- parent (the row trigger, and the TRUNCATE trigger there and on each of
-- its partitions: statement triggers are not cloned onto partitions)
CREATE FUNCTION @extschema@.denorm_copy_install_triggers(c @extschema@.denorm_copies)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r regclass;
BEGIN
    -- every UPDATE, not only those that name the columns: a user BEFORE
    -- trigger may change the foreign key (any BEFORE UPDATE row trigger
    -- makes PostgreSQL lock the row first, so firing costs one call); and
    -- for a snapshot on a partitioned child DELETE too, which tells a row
    -- moving to another partition from a new row
    EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE%s ON %s FOR EACH ROW '
                   'EXECUTE FUNCTION @extschema@.denorm_copy_child_trigger(%L)',
                   'denorm_copy_' || c.id,
                   CASE WHEN c.mode = 'snapshot'
                             AND (SELECT k.relkind FROM pg_class k WHERE k.oid = c.child) = 'p'
                        THEN ' OR DELETE' ELSE '' END,
                   c.child, c.id);
    IF c.mode = 'sync' THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE OR UPDATE OF %I, %I ON %s FOR EACH ROW '
                       'EXECUTE FUNCTION @extschema@.denorm_copy_parent_trigger(%L)',
                       'denorm_copy_' || c.id || '_source', c.source_column, c.parent_key, c.parent, c.id);
        FOR r IN SELECT c.parent::regclass UNION SELECT p.relid FROM pg_partition_tree(c.parent) p LOOP
            EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT '
                           'EXECUTE FUNCTION @extschema@.denorm_copy_truncate_trigger(%L)',
                           'denorm_copy_' || c.id || '_truncate', r, c.id);
        END LOOP;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_install_triggers(@extschema@.denorm_copies) IS
    'Internal: creates a copy''s triggers';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_install_triggers(@extschema@.denorm_copies) FROM PUBLIC;

-- Drops a copy's triggers from whichever of its tables exist: those that
-- run denorm's copy trigger functions with the copy's id, whatever their
-- names
CREATE FUNCTION @extschema@.denorm_copy_remove_triggers(c @extschema@.denorm_copies)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
              WHERE (g.tgrelid IN (c.child, c.parent)
                     OR g.tgrelid IN (SELECT p.relid FROM pg_partition_tree(c.parent) p))
                AND g.tgparentid = 0
                AND g.tgfoid IN ('@extschema@.denorm_copy_child_trigger()'::regprocedure,
                                 '@extschema@.denorm_copy_parent_trigger()'::regprocedure,
                                 '@extschema@.denorm_copy_truncate_trigger()'::regprocedure)
                AND g.tgnargs = 1 AND encode(g.tgargs, 'escape') = c.id || '\000' LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_remove_triggers(@extschema@.denorm_copies) IS
    'Internal: drops a copy''s triggers';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_remove_triggers(@extschema@.denorm_copies) FROM PUBLIC;

-- The copy of a child column, or an error telling a missing table, column
-- and copy apart
CREATE FUNCTION @extschema@.denorm_copy_id(child regclass, copy_column name)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    found integer;
BEGIN
    PERFORM @extschema@.denorm_require(child, 'child');
    PERFORM @extschema@.denorm_require(copy_column, 'copy_column');
    SELECT d.id INTO found FROM @extschema@.denorm_copies d
     WHERE d.child = child AND d.copy_column = copy_column;
    IF found IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = child AND a.attname = copy_column
                          AND a.attnum > 0 AND NOT a.attisdropped) THEN
            PERFORM @extschema@.denorm_error('42703', format('column "%s" of table "%s" does not exist', copy_column, child),
                NULL, NULL);
        END IF;
        PERFORM @extschema@.denorm_error('42704', format('column "%s" of table "%s" has no denorm copy', copy_column, child),
            (SELECT 'The table''s copied columns: ' || string_agg(format('%I', d.copy_column), ', ' ORDER BY d.copy_column) || '.'
               FROM @extschema@.denorm_copies d WHERE d.child = child),
            'The denorm_copy_status view lists the copies there are.');
    END IF;
    RETURN found;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_id(regclass, name) IS
    'The id of the copy kept in a column of a child table';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_id(regclass, name) FROM PUBLIC;

-- The fill of a copy being declared, as the child's owner (src/copy.c)
CREATE FUNCTION @extschema@.denorm_copy_fill(copy_id integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'denorm_copy_fill'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_copy_fill(integer) IS
    'Internal: sets a copy column being declared from the parents, as the child''s owner; returns the rows set';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_fill(integer) FROM PUBLIC;

-- Declares a copy: validates it, records it, fills the column and
-- installs the triggers, in the calling transaction.  Both tables are
-- locked (SHARE ROW EXCLUSIVE) until commit, so that the fill sees every
-- row and no write slips between the fill and the triggers.
CREATE FUNCTION @extschema@.denorm_create_copy(child regclass, copy_column name, parent regclass,
                                               source_column name, foreign_key name,
                                               mode text DEFAULT 'sync', parent_key name DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
    r record;
    key name := parent_key;
    filled bigint;
    id integer;
BEGIN
    PERFORM @extschema@.denorm_require(child, 'child');
    PERFORM @extschema@.denorm_require(copy_column, 'copy_column');
    PERFORM @extschema@.denorm_require(parent, 'parent');
    PERFORM @extschema@.denorm_require(source_column, 'source_column');
    PERFORM @extschema@.denorm_require(foreign_key, 'foreign_key');
    PERFORM @extschema@.denorm_require(mode, 'mode');
    IF mode NOT IN ('sync', 'snapshot') THEN
        PERFORM @extschema@.denorm_error('22023', format('unknown copy mode "%s"', mode),
            NULL, 'Use mode ''sync'' (the copy follows the parent) or ''snapshot'' (the copy keeps the value it was taken with).');
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM @extschema@.denorm_error('25000', 'denorm_create_copy must run in a READ COMMITTED transaction',
            'Its fill must see every row committed before it locked the tables.', NULL);
    END IF;
    IF key IS NULL THEN
        SELECT a.attname INTO key
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = parent AND i.indisprimary AND i.indnkeyatts = 1;
        IF key IS NULL THEN
            PERFORM @extschema@.denorm_error('42P10', format('table "%s" has no single-column primary key', parent),
                NULL, 'Name the parent key: parent_key => ''column''.');
        END IF;
    END IF;
    SELECT * INTO r FROM @extschema@.denorm_copy_rules(child, copy_column, parent, source_column, foreign_key, key) LIMIT 1;
    IF r.sqlstate IS NOT NULL THEN
        PERFORM @extschema@.denorm_error(r.sqlstate, r.problem, NULL, r.hint);
    END IF;
    IF NOT pg_has_role((SELECT k.relowner FROM pg_class k WHERE k.oid = child), 'USAGE')
       OR NOT pg_has_role((SELECT k.relowner FROM pg_class k WHERE k.oid = parent), 'USAGE') THEN
        PERFORM @extschema@.denorm_error('42501',
            format('must be owner of table %s', CASE WHEN pg_has_role((SELECT k.relowner FROM pg_class k WHERE k.oid = child), 'USAGE')
                                                     THEN parent ELSE child END),
            'Only the owner of both the child and the parent table can create or drop a copy on them.',
            'Have the role that owns both tables create the copy, or give both tables one owner.');
    END IF;
    -- parent first, the order the fan-out locks in
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', parent);
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', child);
    IF EXISTS (SELECT 1 FROM @extschema@.denorm_copies d WHERE d.child = child AND d.copy_column = copy_column) THEN
        PERFORM @extschema@.denorm_error('42710', format('column "%s" of table "%s" already has a denorm copy', copy_column, child),
            NULL, format('Drop it first with denorm_drop_copy(%L, %L).', child, copy_column));
    END IF;
    id := @extschema@.denorm_copy_register(child, copy_column, parent, source_column, foreign_key, key, mode);
    SELECT * INTO c FROM @extschema@.denorm_copies d WHERE d.id = id;
    PERFORM @extschema@.denorm_copy_check(id);
    -- the fill, before the triggers exist (they would read the parent row
    -- by row), as the child's owner: user triggers on the child then run
    -- with their owner's rights, never the caller's
    filled := @extschema@.denorm_copy_fill(id);
    IF filled > 0 THEN
        RAISE NOTICE 'denorm copy %: the fill set column "%" of table "%" in % row(s)', id, copy_column, child, filled
            USING DETAIL = CASE WHEN mode = 'sync'
                                THEN 'Each row now holds its parent''s value (NULL where no parent row has its key).'
                                ELSE 'Rows whose copy was NULL now hold their parent''s value.' END;
    END IF;
    PERFORM @extschema@.denorm_copy_install_triggers(c);
    IF NOT @extschema@.denorm_copy_fk_indexed(c) THEN
        RAISE WARNING 'foreign key "%" of table "%" has no index', foreign_key, child
            USING DETAIL = 'Every change of a parent''s value, and every reconcile, looks up its children by it.',
                  HINT = format('CREATE INDEX ON %s (%I);', child, foreign_key);
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_create_copy(regclass, name, regclass, name, name, text, name) IS
    'Declares a copied column: child.copy_column holds parent.source_column of the row its foreign key names, kept in sync or taken once (snapshot); returns the copy id';
REVOKE ALL ON FUNCTION @extschema@.denorm_create_copy(regclass, name, regclass, name, name, text, name) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_drop_copy(copy_id integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
BEGIN
    PERFORM @extschema@.denorm_require(copy_id, 'copy_id');
    SELECT * INTO c FROM @extschema@.denorm_copies d WHERE d.id = copy_id;
    IF c.id IS NULL OR NOT @extschema@.denorm_copy_unregister(copy_id) THEN
        PERFORM @extschema@.denorm_error('42704', format('denorm copy %s does not exist', copy_id),
            NULL, 'The denorm_copy_status view lists the copies there are.');
    END IF;
    PERFORM @extschema@.denorm_copy_remove_triggers(c);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_drop_copy(integer) IS
    'Removes a copy''s triggers and registry row; the column keeps its values';
REVOKE ALL ON FUNCTION @extschema@.denorm_drop_copy(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_drop_copy(child regclass, copy_column name)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_drop_copy(@extschema@.denorm_copy_id($1, $2))
$$;
COMMENT ON FUNCTION @extschema@.denorm_drop_copy(regclass, name) IS
    'Removes the copy kept in a column of a child table (its triggers and registry row); the column keeps its values';
REVOKE ALL ON FUNCTION @extschema@.denorm_drop_copy(regclass, name) FROM PUBLIC;

-- The DDL guard for copies, after ALTER TABLE (and ALTER VIEW, ALTER
-- MATERIALIZED VIEW, ALTER FOREIGN TABLE, which can rename a table's
-- columns too), CREATE TABLE and index commands: follows
-- renames of the columns a copy uses, then refuses a change after which a
-- copy breaks a rule of denorm_copy_rules (a column dropped with CASCADE,
-- a type that no longer fits, the parent key's unique index gone).
CREATE FUNCTION @extschema@.denorm_on_copy_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
-- as the extension's owner: whoever changes a table need not administer denorm
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.denorm_copies;
    r record;
    touched oid[];
    everything boolean := TG_TAG = 'DROP INDEX';
    names name[];
    rels oid[];
    renamed name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.denorm_copies) THEN
        RETURN;
    END IF;
    -- the tables the command changed (a dropped index is not reported:
    -- then every copy is checked)
    SELECT array_agg(coalesce(i.indrelid, x.objid)) INTO touched
      FROM pg_event_trigger_ddl_commands() x
      LEFT JOIN pg_index i ON i.indexrelid = x.objid
     WHERE x.classid = 'pg_class'::regclass;
    -- and the tables a new or altered table now inherits from
    touched := touched || ARRAY(SELECT h.inhparent::oid FROM pg_inherits h WHERE h.inhrelid = ANY (touched));
    FOR c IN SELECT d.* FROM @extschema@.denorm_copies d
              WHERE EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = d.child)
                AND EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = d.parent)
                AND (everything OR d.child::oid = ANY (touched) OR d.parent::oid = ANY (touched))
              ORDER BY d.id LOOP
        -- a name that is no longer a column of its table was renamed by
        -- this command (which reports the column it renamed) or dropped
        names := ARRAY[c.copy_column, c.foreign_key, c.source_column, c.parent_key];
        rels := ARRAY[c.child, c.child, c.parent, c.parent]::oid[];
        FOR i IN 1 .. 4 LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = rels[i]
                                     AND a.attname = names[i] AND a.attnum > 0 AND NOT a.attisdropped);
            renamed := (SELECT a.attname FROM pg_event_trigger_ddl_commands() x
                          JOIN pg_attribute a ON a.attrelid = x.objid AND a.attnum = x.objsubid
                                             AND NOT a.attisdropped
                         WHERE x.classid = 'pg_class'::regclass AND x.objid = rels[i] AND x.objsubid > 0
                           AND NOT (a.attname = ANY (names))
                         LIMIT 1);
            IF renamed IS NULL THEN
                PERFORM @extschema@.denorm_error('2BP01', format('this change would break denorm copy %s', c.id),
                    format('It drops column "%s" of table "%s", which copy %s of column "%s" of table "%s" uses.',
                           names[i], rels[i]::regclass, c.id, c.copy_column, c.child),
                    format('Drop the copy first with denorm_drop_copy(%s).', c.id));
            END IF;
            names[i] := renamed;
        END LOOP;
        -- (the numbers are recorded again too: a restored table numbers
        -- its columns afresh)
        IF names IS DISTINCT FROM ARRAY[c.copy_column, c.foreign_key, c.source_column, c.parent_key]
           OR (SELECT array_agg(a.attnum ORDER BY x.n)
                 FROM unnest(rels, names) WITH ORDINALITY x(rel, col, n)
                 JOIN pg_attribute a ON a.attrelid = x.rel AND a.attname = x.col AND NOT a.attisdropped)
              IS DISTINCT FROM ARRAY[c.copy_attnum, c.fk_attnum, c.source_attnum, c.key_attnum]::int2[] THEN
            PERFORM @extschema@.denorm_copy_follow_names(c.id, names[1], names[2], names[3], names[4]);
            SELECT * INTO c FROM @extschema@.denorm_copies d WHERE d.id = c.id;
        END IF;
        SELECT * INTO r FROM @extschema@.denorm_copy_rules(c.child, c.copy_column, c.parent, c.source_column,
                                                           c.foreign_key, c.parent_key) LIMIT 1;
        -- (the parent key's index is the parent's: a restore adds the
        -- child's constraints before it, which must not count as losing it)
        IF r.sqlstate IS NOT NULL
           AND (r.sqlstate <> '42P10' OR everything OR c.parent::oid = ANY (touched)) THEN
            PERFORM @extschema@.denorm_error('2BP01', format('this change would break denorm copy %s', c.id),
                r.problem || '.', format('Drop the copy first with denorm_drop_copy(%s).', c.id));
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_on_copy_ddl() IS
    'Event trigger after ALTER TABLE and index commands: follows renames of the columns copies use and refuses changes that break a copy';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_copy_ddl() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_copies ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'DROP INDEX', 'ALTER INDEX', 'CREATE INDEX', 'CREATE TABLE',
                 'ALTER VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_copy_ddl();
COMMENT ON EVENT TRIGGER denorm_guard_copies IS
    'Follows renames of the columns denorm copies use and refuses changes that break a copy';

-- Copies go with their tables: a dropped child or parent takes the copy's
-- registry row and its trigger on the other table along, with a WARNING
-- naming the call that declares it again.
CREATE FUNCTION @extschema@.denorm_on_copy_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.denorm_copies;
    o record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.denorm_copies) THEN
        RETURN;
    END IF;
    FOR o IN SELECT x.objid, x.object_identity FROM pg_event_trigger_dropped_objects() x
              WHERE x.classid = 'pg_class'::regclass AND x.objsubid = 0
                AND x.object_type IN ('table', 'partitioned table') LOOP
        FOR c IN SELECT d.* FROM @extschema@.denorm_copies d
                  WHERE d.child::oid = o.objid OR d.parent::oid = o.objid ORDER BY d.id LOOP
            PERFORM @extschema@.denorm_copy_unregister(c.id);
            PERFORM @extschema@.denorm_copy_remove_triggers(c);
            RAISE WARNING 'denorm copy % in column "%" was dropped with table %', c.id, c.copy_column, o.object_identity
                USING DETAIL = format('It copied column "%s" into column "%s" by foreign key "%s" (mode %s).',
                                      c.source_column, c.copy_column, c.foreign_key, c.mode),
                      HINT = 'Declare it again with denorm_create_copy() once both tables exist.';
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_on_copy_drop() IS
    'Event trigger: drops copies with their tables, dropping their triggers on the other table, with a WARNING';
REVOKE ALL ON FUNCTION @extschema@.denorm_on_copy_drop() FROM PUBLIC;

CREATE EVENT TRIGGER denorm_guard_copy_drops ON sql_drop
    EXECUTE FUNCTION @extschema@.denorm_on_copy_drop();
COMMENT ON EVENT TRIGGER denorm_guard_copy_drops IS
    'Drops denorm copies with their tables, naming each';

-- The key a drift row names a child row by: its primary key as text (the
-- value for one column, a row literal for several), or its ctid when it
-- has none
CREATE FUNCTION @extschema@.denorm_copy_key_sql(tbl regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT CASE WHEN count(*) = 1 THEN format('c.%I::text', min(a.attname))
                                 ELSE format('ROW(%s)::text', string_agg(format('c.%I', a.attname), ', ' ORDER BY k.n)) END
                       FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n), pg_attribute a
                      WHERE i.indrelid = tbl AND i.indisprimary AND a.attrelid = tbl AND a.attnum = k.att
                      HAVING count(*) > 0),
                    'c.ctid::text')
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_key_sql(regclass) IS
    'Internal: the expression that names a row of a child table in the drift log';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_key_sql(regclass) FROM PUBLIC;

-- One batch of one table of a copy's child (the child, or a leaf
-- partition): the rows in blocks [lo, hi), how many there are, and those
-- whose copy is wrong (sync: it differs from the parent's value, NULL
-- when there is no parent; snapshot: it is NULL while the parent has a
-- value), each with its ctid, key, stored and expected value as text.
-- Read with the caller's rights, in one snapshot.
CREATE FUNCTION @extschema@.denorm_copy_find(c @extschema@.denorm_copies, tbl regclass, lo bigint, hi bigint,
                                             OUT checked bigint, OUT tids tid[], OUT keys text[],
                                             OUT stored text[], OUT actual text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    copytype text := (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                       WHERE a.attrelid = c.child AND a.attname = c.copy_column AND NOT a.attisdropped);
    drift text;
BEGIN
    drift := CASE WHEN c.mode = 'sync'
                  THEN format('c.%I IS DISTINCT FROM p.%I::%s', c.copy_column, c.source_column, copytype)
                  ELSE format('c.%I IS NULL AND p.%I IS NOT NULL', c.copy_column, c.source_column) END;
    EXECUTE format('SELECT count(*), array_agg(c.ctid ORDER BY c.ctid) FILTER (WHERE %1$s), '
                   'array_agg(%2$s ORDER BY c.ctid) FILTER (WHERE %1$s), '
                   'array_agg(c.%3$I::text ORDER BY c.ctid) FILTER (WHERE %1$s), '
                   'array_agg(p.%4$I::%5$s::text ORDER BY c.ctid) FILTER (WHERE %1$s) '
                   'FROM ONLY %6$s c LEFT JOIN %7$s p ON p.%8$I OPERATOR(pg_catalog.=) c.%9$I '
                   'WHERE c.ctid OPERATOR(pg_catalog.>=) $1 AND c.ctid OPERATOR(pg_catalog.<) $2',
                   drift, @extschema@.denorm_copy_key_sql(tbl), c.copy_column, c.source_column, copytype,
                   tbl, c.parent, c.parent_key, c.foreign_key)
       INTO checked, tids, keys, stored, actual
      USING format('(%s,0)', lo)::tid, format('(%s,0)', hi)::tid;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_find(@extschema@.denorm_copies, regclass, bigint, bigint) IS
    'Internal: the rows of one block range of a copy''s child whose copy is wrong';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_find(@extschema@.denorm_copies, regclass, bigint, bigint) FROM PUBLIC;

-- The batches of a copy: per table holding its rows (the child, or each
-- leaf partition), block ranges of about denorm.reconcile_batch_size rows
CREATE FUNCTION @extschema@.denorm_copy_batches(c @extschema@.denorm_copies, batch_size integer)
RETURNS TABLE (tbl regclass, lo bigint, hi bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tbl, b.lo, b.lo + t.per
      FROM (SELECT r.relid AS tbl, s.blocks,
                   greatest(1, ceil(batch_size::numeric * s.blocks / greatest(k.reltuples, 1)))::bigint AS per
              FROM (SELECT c.child::oid UNION SELECT p.relid FROM pg_partition_tree(c.child) p) r(relid)
              JOIN pg_class k ON k.oid = r.relid AND k.relkind = 'r'
             CROSS JOIN LATERAL (SELECT pg_relation_size(r.relid) / current_setting('block_size')::bigint AS blocks) s) t
     CROSS JOIN LATERAL generate_series(0::bigint, t.blocks - 1, t.per) AS b(lo)
     ORDER BY t.tbl::oid, b.lo
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_batches(@extschema@.denorm_copies, integer) IS
    'Internal: the block-range batches a reconcile of a copy goes through';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_batches(@extschema@.denorm_copies, integer) FROM PUBLIC;

-- A copy's reconcile comes in pieces that denorm_reconcile_copies,
-- denorm_reconcile and denorm_reconcile_batched share (the last commits
-- after every batch): the checks before the first batch, one batch, the
-- whole copy, and the record of its result in the run.  A drift row names
-- the copy by its id in counter_id, the child and its copy column in
-- parent_table and counter_column, the child row's key in parent_key and
-- both values in stored_text and actual_text.  A heal sets the copy as a
-- writer would, under the same locks: the parent row FOR SHARE, then the
-- child row.  They take copy ids, not rows of denorm_copies, so that the
-- reconcile functions declared before this section can call them.

-- Before a copy's batches: its trust checks, as its triggers make them,
-- and the caller's rights (a reconcile reads both tables with them, and
-- heals through the copy column).  Returns the copy.
CREATE FUNCTION @extschema@.denorm_reconcile_copy_start(copy_id integer, heal boolean)
RETURNS @extschema@.denorm_copies
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
BEGIN
    PERFORM @extschema@.denorm_copy_check(copy_id);
    SELECT * INTO c FROM @extschema@.denorm_copies d WHERE d.id = copy_id;
    IF NOT has_table_privilege(c.child, 'SELECT') OR NOT has_table_privilege(c.parent, 'SELECT') THEN
        PERFORM @extschema@.denorm_error('42501',
            format('permission denied to reconcile denorm copy %s in column "%s" of table "%s"', c.id, c.copy_column, c.child),
            'Reconciling a copy reads both its tables with the caller''s rights.',
            'Grant SELECT on both tables, or reconcile as their owner.');
    END IF;
    IF row_security_active(c.child) OR row_security_active(c.parent) THEN
        PERFORM @extschema@.denorm_error('42501',
            format('permission denied to reconcile denorm copy %s in column "%s" of table "%s"', c.id, c.copy_column, c.child),
            'A row security policy hides rows of its tables from the caller, whose reconcile would find drift that is not there.',
            'Reconcile as the tables'' owner, or as a role the policies do not restrict.');
    END IF;
    IF heal AND NOT has_column_privilege(c.child, c.copy_column, 'UPDATE') THEN
        PERFORM @extschema@.denorm_error('42501',
            format('permission denied to heal denorm copy %s in column "%s" of table "%s"', c.id, c.copy_column, c.child),
            'Healing a copy needs UPDATE on its column.',
            format('Grant UPDATE (%I) on the table, or run with heal => false.', c.copy_column));
    END IF;
    RETURN c;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copy_start(integer, boolean) IS
    'Internal: the checks before a copy''s reconcile (trust, the caller''s rights); returns the copy';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copy_start(integer, boolean) FROM PUBLIC;

-- The batches of a copy as arrays (table, first block, block after the
-- last), for a caller that commits between them
CREATE FUNCTION @extschema@.denorm_copy_batch_list(copy_id integer, batch_size integer,
                                                   OUT tbls regclass[], OUT los bigint[], OUT his bigint[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(b.tbl ORDER BY b.tbl::oid, b.lo), array_agg(b.lo ORDER BY b.tbl::oid, b.lo),
           array_agg(b.hi ORDER BY b.tbl::oid, b.lo)
      FROM @extschema@.denorm_copies c,
           LATERAL @extschema@.denorm_copy_batches(c, batch_size) b
     WHERE c.id OPERATOR(pg_catalog.=) copy_id
$$;
COMMENT ON FUNCTION @extschema@.denorm_copy_batch_list(integer, integer) IS
    'Internal: the block-range batches of a copy''s reconcile, as arrays';
REVOKE ALL ON FUNCTION @extschema@.denorm_copy_batch_list(integer, integer) FROM PUBLIC;

-- One batch of a copy: finds the rows whose copy is wrong, logs each in
-- run, and heals them unless heal is false
CREATE FUNCTION @extschema@.denorm_reconcile_copy_batch(run bigint, copy_id integer, tbl regclass,
                                                        lo bigint, hi bigint, heal boolean,
                                                        OUT rows_checked bigint, OUT rows_drifted bigint,
                                                        OUT rows_healed bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
    f record;
BEGIN
    SELECT * INTO c FROM @extschema@.denorm_copies d WHERE d.id = copy_id;
    f := @extschema@.denorm_copy_find(c, tbl, lo, hi);
    rows_checked := f.checked;
    rows_drifted := coalesce(array_length(f.tids, 1), 0);
    rows_healed := 0;
    IF rows_drifted = 0 THEN
        RETURN;
    END IF;
    INSERT INTO @extschema@.denorm_drift_log (run_id, counter_id, parent_table, counter_column,
                                              parent_key, stored_text, actual_text, healed, healed_at)
    SELECT run, c.id, c.child, c.copy_column, k, s, a, heal, CASE WHEN heal THEN clock_timestamp() END
      FROM unnest(f.keys, f.stored, f.actual) AS u(k, s, a);
    IF heal THEN
        rows_healed := @extschema@.denorm_copy_heal(c.id, tbl, f.tids);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copy_batch(bigint, integer, regclass, bigint, bigint, boolean) IS
    'Internal: reconciles one block-range batch of a copy: finds, logs and (with heal) sets its wrong child rows';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copy_batch(bigint, integer, regclass, bigint, bigint, boolean) FROM PUBLIC;

-- A whole copy, batch by batch, in the caller's transaction, with NOTICE
-- progress on large tables; errors propagate
CREATE FUNCTION @extschema@.denorm_reconcile_copy(run bigint, copy_id integer, heal boolean,
                                                  OUT rows_checked bigint, OUT rows_drifted bigint,
                                                  OUT rows_healed bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies := @extschema@.denorm_reconcile_copy_start(copy_id, heal);
    b record;
    r record;
    n integer;
    last_report timestamptz := clock_timestamp();
BEGIN
    rows_checked := 0; rows_drifted := 0; rows_healed := 0;
    b := @extschema@.denorm_copy_batch_list(c.id, (@extschema@.denorm_settings()).reconcile_batch_size);
    n := coalesce(array_length(b.tbls, 1), 0);
    FOR i IN 1 .. n LOOP
        r := @extschema@.denorm_reconcile_copy_batch(run, c.id, b.tbls[i], b.los[i], b.his[i], heal);
        rows_checked := rows_checked + r.rows_checked;
        rows_drifted := rows_drifted + r.rows_drifted;
        rows_healed := rows_healed + r.rows_healed;
        IF @extschema@.denorm_progress_due(i, n, last_report) THEN
            RAISE NOTICE 'denorm copy %: batch % of %, % rows checked, % drifted', c.id, i, n,
                rows_checked, rows_drifted;
            last_report := clock_timestamp();
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copy(bigint, integer, boolean) IS
    'Internal: reconciles one copy batch by batch in the caller''s transaction';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copy(bigint, integer, boolean) FROM PUBLIC;

-- Records one copy's result in a run (a denorm_reconcile_checks row under
-- its id) and raises its alerts, as denorm_finish_counter does for a
-- counter: a WARNING when its triggers do not fire, a WARNING and NOTIFY
-- denorm_drift (with copy_id, child and copy_column) when the drifted share
-- passes denorm.drift_alert_ratio.  Returns its status (denorm_check_status)
-- and whether it alerted.
CREATE FUNCTION @extschema@.denorm_finish_copy(run bigint, copy_id integer, heal boolean,
                                               checked bigint, drifted bigint, healed bigint, err text,
                                               OUT status text, OUT alerted boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
    problems text;
    ratio double precision := (@extschema@.denorm_settings()).drift_alert_ratio;
BEGIN
    alerted := false;
    SELECT * INTO c FROM @extschema@.denorm_copies d WHERE d.id = copy_id;
    IF c.id IS NOT NULL THEN
        problems := @extschema@.denorm_copy_trigger_problems(c);
    END IF;
    IF problems IS NOT NULL THEN
        alerted := true;
        RAISE WARNING 'denorm copy % in column "%" of table % does not fire: %', c.id, c.copy_column, c.child, problems
            USING HINT = 'Enable or recreate its triggers (denorm_drop_copy, then denorm_create_copy), then reconcile again.';
    END IF;
    INSERT INTO @extschema@.denorm_reconcile_checks (run_id, counter_id, rows_checked, rows_drifted,
                                                      rows_healed, trigger_problems, error)
    VALUES (run, copy_id, checked, drifted, healed, problems, err);
    IF err IS NULL AND checked > 0 AND drifted::double precision / checked > ratio THEN
        alerted := true;
        RAISE WARNING 'denorm copy % in column "%" of table %: % of % rows drifted', c.id, c.copy_column,
            c.child, drifted, checked
            USING DETAIL = format('Run %s; the rows are in denorm_drift_log.', run);
        PERFORM pg_notify('denorm_drift', json_build_object('run_id', run, 'copy_id', c.id,
            'child', c.child::text, 'copy_column', c.copy_column, 'drifted', drifted,
            'checked', checked)::text);
    END IF;
    status := @extschema@.denorm_check_status(heal, drifted, alerted, err);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_finish_copy(bigint, integer, boolean, bigint, bigint, bigint, text) IS
    'Internal: records a copy''s result in denorm_reconcile_checks and raises its alerts (WARNING, NOTIFY denorm_drift)';
REVOKE ALL ON FUNCTION @extschema@.denorm_finish_copy(bigint, integer, boolean, bigint, bigint, bigint, text) FROM PUBLIC;

-- One copy in a run that does not commit between batches (denorm_reconcile,
-- denorm_reconcile_copies): a copy fails as a whole, its heals and drift
-- rows rolled back with it; when a heal failed, the copy is read again
-- without healing, so the drift it found is still logged before its
-- failure is recorded.
CREATE FUNCTION @extschema@.denorm_reconcile_copy_in_run(run bigint, copy_id integer, heal boolean,
                                                         OUT rows_checked bigint, OUT rows_drifted bigint,
                                                         OUT rows_healed bigint, OUT status text,
                                                         OUT error text, OUT alerted boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r record;
    f record;
BEGIN
    rows_checked := 0; rows_drifted := 0; rows_healed := 0;
    BEGIN
        r := @extschema@.denorm_reconcile_copy(run, copy_id, heal);
        rows_checked := r.rows_checked; rows_drifted := r.rows_drifted; rows_healed := r.rows_healed;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS error = MESSAGE_TEXT;
        IF heal THEN
            BEGIN
                r := @extschema@.denorm_reconcile_copy(run, copy_id, false);
                rows_checked := r.rows_checked; rows_drifted := r.rows_drifted;
            EXCEPTION WHEN OTHERS THEN
                NULL;   -- the reading failed too: the first error says why
            END;
        END IF;
        RAISE WARNING 'denorm reconcile of copy % in column "%" of table % failed: %', copy_id,
                      (SELECT d.copy_column FROM @extschema@.denorm_copies d WHERE d.id = copy_id),
                      (SELECT d.child FROM @extschema@.denorm_copies d WHERE d.id = copy_id), error;
    END;
    f := @extschema@.denorm_finish_copy(run, copy_id, heal, rows_checked, rows_drifted, rows_healed, error);
    status := f.status;
    alerted := f.alerted;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copy_in_run(bigint, integer, boolean) IS
    'Internal: reconciles and records one copy in a run of denorm_reconcile or denorm_reconcile_copies';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copy_in_run(bigint, integer, boolean) FROM PUBLIC;

-- Reconciles copies (all, or one) in a run of their own, recorded as
-- denorm_reconcile records one.  denorm_reconcile() with no counter id
-- covers the copies too, in the same run as the counters.
CREATE FUNCTION @extschema@.denorm_reconcile_copies_scope(p_copy integer, heal boolean)
RETURNS TABLE (copy_id integer, child regclass, copy_column name, rows_checked bigint,
               rows_drifted bigint, rows_healed bigint, status text, error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
    r record;
    run bigint;
    alert boolean := false;
    failed text;
BEGIN
    PERFORM @extschema@.denorm_require(heal, 'heal');
    PERFORM @extschema@.denorm_settings();
    IF p_copy IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_copies d WHERE d.id = p_copy) THEN
        PERFORM @extschema@.denorm_error('42704', format('denorm copy %s does not exist', p_copy),
            NULL, 'The denorm_copy_status view lists the copies there are.');
    END IF;
    INSERT INTO @extschema@.denorm_reconcile_runs DEFAULT VALUES RETURNING run_id INTO run;
    FOR c IN SELECT d.* FROM @extschema@.denorm_copies d
              WHERE p_copy IS NULL OR d.id = p_copy ORDER BY d.id LOOP
        r := @extschema@.denorm_reconcile_copy_in_run(run, c.id, heal);
        copy_id := c.id; child := c.child; copy_column := c.copy_column;
        rows_checked := r.rows_checked; rows_drifted := r.rows_drifted; rows_healed := r.rows_healed;
        status := r.status; error := r.error;
        alert := alert OR r.alerted;
        IF r.error IS NOT NULL THEN
            failed := concat(failed || '; ', format('copy %s: %s', c.id, r.error));
        END IF;
        RETURN NEXT;
    END LOOP;
    PERFORM @extschema@.denorm_finish_run(run, heal, alert, failed);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copies_scope(integer, boolean) IS
    'Internal: denorm_reconcile_copies';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copies_scope(integer, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_reconcile_copies(copy_id integer DEFAULT NULL, heal boolean DEFAULT true)
RETURNS TABLE (copy_id integer, child regclass, copy_column name, rows_checked bigint,
               rows_drifted bigint, rows_healed bigint, status text, error text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_reconcile_copies_scope($1, $2)
$$;
COMMENT ON FUNCTION @extschema@.denorm_reconcile_copies(integer, boolean) IS
    'Checks copies (all, or one) row by row in batches, logs every wrong copy to denorm_drift_log with the child row''s key and heals it unless heal is false; one row per copy with its status and error';
REVOKE ALL ON FUNCTION @extschema@.denorm_reconcile_copies(integer, boolean) FROM PUBLIC;

-- The assertion helper for tests: the child rows whose copy is wrong, of
-- every copy or of a child table's, recording and healing nothing
CREATE FUNCTION @extschema@.denorm_check_copies_scope(p_child regclass)
RETURNS TABLE (copy_id integer, child regclass, copy_column name, child_key text, stored text, actual text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_copies;
    b record;
    f record;
    bs integer := (@extschema@.denorm_settings('denorm.reconcile_batch_size')).reconcile_batch_size;
BEGIN
    IF p_child IS NOT NULL AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_copies d WHERE d.child = p_child) THEN
        PERFORM @extschema@.denorm_error('42704', format('table "%s" has no denorm copies', p_child),
            NULL, 'The denorm_copy_status view lists the copies there are.');
    END IF;
    FOR c IN SELECT d.* FROM @extschema@.denorm_copies d
              WHERE p_child IS NULL OR d.child = p_child ORDER BY d.id LOOP
        PERFORM @extschema@.denorm_copy_check(c.id);
        copy_id := c.id; copy_column := c.copy_column;
        FOR b IN SELECT * FROM @extschema@.denorm_copy_batches(c, bs) LOOP
            f := @extschema@.denorm_copy_find(c, b.tbl, b.lo, b.hi);
            CONTINUE WHEN f.tids IS NULL;
            FOR j IN 1 .. array_length(f.tids, 1) LOOP
                child := c.child;
                child_key := f.keys[j];
                stored := f.stored[j];
                actual := f.actual[j];
                RETURN NEXT;
            END LOOP;
        END LOOP;
        child := NULL;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_check_copies_scope(regclass) IS
    'Internal: denorm_check_copies';
REVOKE ALL ON FUNCTION @extschema@.denorm_check_copies_scope(regclass) FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_check_copies(child regclass DEFAULT NULL)
RETURNS TABLE (copy_id integer, child regclass, copy_column name, child_key text, stored text, actual text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM @extschema@.denorm_check_copies_scope($1)
$$;
COMMENT ON FUNCTION @extschema@.denorm_check_copies(regclass) IS
    'The child rows whose copy is wrong (stored value, the value it should have), of all copies or of a child table''s, recording and healing nothing; empty when all are exact';
REVOKE ALL ON FUNCTION @extschema@.denorm_check_copies(regclass) FROM PUBLIC;

-- Per copy: whether its triggers fire, what its last reconcile found, and
-- whether the foreign key has an index
CREATE VIEW @extschema@.denorm_copy_status AS
SELECT c.id AS copy_id,
       c.child,
       c.copy_column,
       c.parent,
       c.source_column,
       c.foreign_key,
       c.parent_key,
       c.mode,
       p.problems IS NULL AS triggers_ok,
       p.problems AS trigger_problems,
       k.run_id AS last_run_id,
       k.checked_at AS last_checked_at,
       k.rows_checked AS last_rows_checked,
       k.rows_drifted AS last_rows_drifted,
       k.error AS last_error,
       (SELECT pg_catalog.max(l.detected_at) FROM @extschema@.denorm_drift_log l
         WHERE l.counter_id OPERATOR(pg_catalog.=) c.id) AS last_drift_at,
       @extschema@.denorm_copy_fk_indexed(c) AS fk_indexed
  FROM @extschema@.denorm_copies c
 CROSS JOIN LATERAL (SELECT @extschema@.denorm_copy_trigger_problems(c) AS problems) p
  LEFT JOIN LATERAL (SELECT * FROM @extschema@.denorm_reconcile_checks k
                      WHERE k.counter_id OPERATOR(pg_catalog.=) c.id
                      ORDER BY k.checked_at DESC, k.run_id DESC LIMIT 1) k ON true;
COMMENT ON VIEW @extschema@.denorm_copy_status IS
    'Per copy: whether its triggers fire, what its last reconcile found, and whether its foreign key has an index';
GRANT SELECT ON @extschema@.denorm_copy_status TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_copy_trigger_problems(@extschema@.denorm_copies) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_copy_fk_indexed(@extschema@.denorm_copies) TO PUBLIC;

------------------------------------------------------------------------
-- The status view
------------------------------------------------------------------------

-- Per counter: whether its triggers fire, what its last reconcile found,
-- its pending deltas, the parent's triggers that do not pin their
-- search_path, and whether the foreign key has an index.  Then one row per
-- copy (aggregate 'copy', mode 'sync' or 'snapshot', counter_column the
-- copy column on the child, source_column the parent's column it copies;
-- no pending deltas); source_column is NULL for a counter.
CREATE VIEW @extschema@.denorm_status AS
SELECT c.id AS counter_id,
       c.parent,
       c.counter_column,
       c.child,
       c.aggregate,
       c.mode,
       p.problems IS NULL AS triggers_ok,
       p.problems AS trigger_problems,
       k.run_id AS last_run_id,
       k.checked_at AS last_checked_at,
       k.rows_checked AS last_rows_checked,
       k.rows_drifted AS last_rows_drifted,
       k.error AS last_error,
       (SELECT pg_catalog.max(l.detected_at) FROM @extschema@.denorm_drift_log l
         WHERE l.counter_id OPERATOR(pg_catalog.=) c.id) AS last_drift_at,
       q.pending_rows,
       q.oldest_pending_age,
       @extschema@.denorm_unpinned_parent_triggers(c) AS unpinned_parent_triggers,
       @extschema@.denorm_fk_indexed(c) AS fk_indexed,
       NULL::name AS source_column
  FROM @extschema@.denorm_counters c
 CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS pending_rows,
                            pg_catalog.now() OPERATOR(pg_catalog.-)
                                pg_catalog.min(q.created_at) AS oldest_pending_age
                       FROM @extschema@.denorm_pending q
                      WHERE q.counter_id OPERATOR(pg_catalog.=) c.id) q
 CROSS JOIN LATERAL (SELECT @extschema@.denorm_trigger_problems(c) AS problems) p
  LEFT JOIN LATERAL (SELECT * FROM @extschema@.denorm_reconcile_checks k
                      WHERE k.counter_id OPERATOR(pg_catalog.=) c.id
                      ORDER BY k.checked_at DESC, k.run_id DESC LIMIT 1) k ON true
UNION ALL
SELECT c.id,
       c.parent,
       c.copy_column,
       c.child,
       'copy'::text,
       c.mode,
       p.problems IS NULL,
       p.problems,
       k.run_id,
       k.checked_at,
       k.rows_checked,
       k.rows_drifted,
       k.error,
       (SELECT pg_catalog.max(l.detected_at) FROM @extschema@.denorm_drift_log l
         WHERE l.counter_id OPERATOR(pg_catalog.=) c.id),
       0::bigint,
       NULL::interval,
       NULL::text,
       @extschema@.denorm_copy_fk_indexed(c),
       c.source_column
  FROM @extschema@.denorm_copies c
 CROSS JOIN LATERAL (SELECT @extschema@.denorm_copy_trigger_problems(c) AS problems) p
  LEFT JOIN LATERAL (SELECT * FROM @extschema@.denorm_reconcile_checks k
                      WHERE k.counter_id OPERATOR(pg_catalog.=) c.id
                      ORDER BY k.checked_at DESC, k.run_id DESC LIMIT 1) k ON true;
COMMENT ON VIEW @extschema@.denorm_status IS
    'Per counter and per copy: whether its triggers fire, what its last reconcile found, and (counters) its pending deltas';

-- Per counter dropped with its table: its definition, who dropped it
-- with which table, and the tables denorm_recreate_counter would put it on
-- now (NULL once it was recreated, or when no table of the record's owner
-- has the names).  Shown
-- to whoever may read denorm_status.
CREATE VIEW @extschema@.denorm_dropped WITH (security_barrier) AS
SELECT d.counter_id,
       d.parent,
       d.counter_column,
       d.child,
       d.foreign_key,
       d.parent_key,
       d.aggregate,
       d.value_column,
       d.filter,
       d.mode,
       d.parent_was,
       d.child_was,
       d.created_at,
       d.dropped_at,
       d.dropped_by,
       d.dropped_with,
       d.drop_command,
       d.recreated_as,
       d.recreated_at,
       CASE WHEN d.recreated_as IS NULL
            THEN (SELECT t.tbl FROM @extschema@.denorm_dropped_table(d.parent, d.parent_was) AS t(tbl)
                    JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) t.tbl::pg_catalog.oid
                   WHERE pg_catalog.pg_get_userbyid(k.relowner) OPERATOR(pg_catalog.=) d.parent_owner)
            END AS recreate_parent,
       CASE WHEN d.recreated_as IS NULL
            THEN (SELECT t.tbl FROM @extschema@.denorm_dropped_table(d.child, d.child_was) AS t(tbl)
                    JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) t.tbl::pg_catalog.oid
                   WHERE pg_catalog.pg_get_userbyid(k.relowner) OPERATOR(pg_catalog.=) d.child_owner)
            END AS recreate_child,
       d.parent_owner,
       d.child_owner
  FROM @extschema@.denorm_dropped_counters d
 WHERE pg_catalog.has_table_privilege('@extschema@.denorm_status'::pg_catalog.regclass, 'SELECT');
COMMENT ON VIEW @extschema@.denorm_dropped IS
    'Counters dropped with their tables: their definitions, the drop, and where denorm_recreate_counter would recreate them';

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------

-- Apart from the few granted below, no function of the extension is
-- PUBLIC's (each is revoked beside it): administration is granted with
-- denorm_grant_admin, triggers fire without EXECUTE, and trigger functions
-- being PUBLIC's would let anyone attach denorm's triggers to tables of
-- their own.
--
-- Administration runs with the caller's rights (ownership of the tables is
-- checked against the caller); denorm's own tables are written by denorm
-- itself.  An administering role gets EXECUTE on the extension's
-- functions, SELECT on its tables, and the rights on the reconcile history
-- that recording and purging runs need: nothing that changes a counter.
-- A role that does not exist (an OID such as 0::regrole, which prints as
-- "-") is refused before anything is granted.
CREATE FUNCTION @extschema@.denorm_grant_admin(admin regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
BEGIN
    PERFORM @extschema@.denorm_require(admin, 'admin');
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = admin::oid) THEN
        PERFORM @extschema@.denorm_error('42704', format('role with OID %s does not exist', admin::oid),
            NULL,
            'Name the role to grant administration to, for example SELECT denorm_grant_admin(''app_admin'').');
    END IF;
    FOR f IN SELECT p.oid::regprocedure AS proc, p.prokind
               FROM pg_proc p
               JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                               AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'denorm'
              WHERE p.prorettype <> 'event_trigger'::regtype LOOP
        EXECUTE format('GRANT EXECUTE ON %s %s TO %s',
                       CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.proc, admin);
    END LOOP;
    EXECUTE format('GRANT SELECT ON @extschema@.denorm_counters, @extschema@.denorm_pending, '
                   '@extschema@.denorm_drift_log, @extschema@.denorm_reconcile_runs, '
                   '@extschema@.denorm_reconcile_checks TO %s', admin);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE ON @extschema@.denorm_drift_log, '
                   '@extschema@.denorm_reconcile_runs, @extschema@.denorm_reconcile_checks TO %s', admin);
    EXECUTE format('GRANT USAGE ON SEQUENCE @extschema@.denorm_drift_log_log_id_seq, '
                   '@extschema@.denorm_reconcile_runs_run_id_seq TO %s', admin);
    -- recreating a dropped counter marks its record; deleting records purges them
    EXECUTE format('GRANT SELECT, DELETE ON @extschema@.denorm_dropped_counters TO %s', admin);
    EXECUTE format('GRANT UPDATE (recreated_as, recreated_at) ON @extschema@.denorm_dropped_counters TO %s', admin);
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_grant_admin(regrole) IS
    'Grants a role what administering denorm counters needs (it must still own the tables it declares counters on)';
REVOKE ALL ON FUNCTION @extschema@.denorm_grant_admin(regrole) FROM PUBLIC;

-- PUBLIC reads the registry, the status view and the dropped counters
-- (those only while it may read the status view).
GRANT SELECT ON TABLE @extschema@.denorm_counters TO PUBLIC;
GRANT SELECT ON @extschema@.denorm_status TO PUBLIC;
GRANT SELECT ON @extschema@.denorm_dropped TO PUBLIC;

-- PUBLIC may run what touches nothing but the caller's own transaction
-- (denorm_apply does now what its commit would do, and denorm_local_delta
-- reads its commit-time deltas); denorm_value and denorm_values, which
-- read only what the caller may read, are granted beside them above
GRANT EXECUTE ON FUNCTION @extschema@.denorm_apply() TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_local_delta(integer, text) TO PUBLIC;
-- and the catalog readers the status view calls
GRANT EXECUTE ON FUNCTION @extschema@.denorm_trigger_problems(@extschema@.denorm_counters) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_unpinned_parent_triggers(@extschema@.denorm_counters) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_child_trigger(regclass, regprocedure, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_is_counter_trigger(pg_catalog.pg_trigger, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_child_tables(regclass) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_fk_indexed(@extschema@.denorm_counters) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_dropped_table(text, text[]) TO PUBLIC;
