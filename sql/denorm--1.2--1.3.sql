/* denorm--1.2--1.3.sql: robustness.  Recomputes that raced with writers
 * become relative corrections; declarations that could overwrite data or
 * break writes are refused, by one rule set shared by creation and the
 * DDL guard; failures of maintenance show as failures. */

\echo Use "ALTER EXTENSION denorm UPDATE TO '1.3'" to load this file. \quit

------------------------------------------------------------------------
-- Partitions and TRUNCATE: relative corrections
------------------------------------------------------------------------

-- A partition dropped or detached is taken off its counters before the
-- command (denorm_on_drop_start); one attached is added to them when it
-- ends (denorm_shift_attached, from the DDL guard).  Both are corrections
-- under the lock the command holds, so writers of other partitions lose
-- nothing; the recompute from all children that 1.2 ran raced with them.
CREATE FUNCTION @extschema@.denorm_shift_attached()
RETURNS bigint
AS 'MODULE_PATHNAME', 'denorm_shift_attached'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_shift_attached() IS
    'Internal: adds to the counters above it what each table the ending ALTER TABLE attached adds up to';
REVOKE ALL ON FUNCTION @extschema@.denorm_shift_attached() FROM PUBLIC;

DROP EVENT TRIGGER denorm_guard_drop_start;
CREATE EVENT TRIGGER denorm_guard_drop_start ON ddl_command_start
    WHEN TAG IN ('DROP TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_drop_start();
COMMENT ON EVENT TRIGGER denorm_guard_drop_start IS
    'Takes off the denorm counters above it what a partition being dropped or detached adds up to';
COMMENT ON FUNCTION @extschema@.denorm_on_drop_start() IS
    'Event trigger: corrects the counters whose child loses a partition to DROP TABLE or DETACH PARTITION';


-- The DDL guard: tables that left a counted tree lose denorm's triggers,
-- tables that joined it get them, and what attached tables bring in is
-- added (denorm_shift_attached) rather than recomputed from all children.
CREATE OR REPLACE FUNCTION @extschema@.denorm_on_ddl()
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
                                   '@extschema@.denorm_truncate_trigger()'::regprocedure)
                  AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_counters d
                                   WHERE t.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(d.child)))
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS denorm_stmt ON %s', tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS denorm_truncate ON %s', tbl);
    END LOOP;

    FOR c IN SELECT d.* FROM @extschema@.denorm_counters d
              WHERE (@extschema@.denorm_child_trigger(d.child, '@extschema@.denorm_row_trigger()', true)).oid
                    IS NOT NULL
                AND EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() e
                             WHERE e.classid = 'pg_class'::regclass
                               AND (e.objid = d.parent OR e.objid IN
                                    (SELECT * FROM @extschema@.denorm_child_tables(d.child))))
              ORDER BY d.id LOOP
        problem := @extschema@.denorm_counter_problem(c);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'this change would break denorm counter % on %.%', c.id, c.parent, c.counter_column
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = format('After it, %s.', problem),
                      HINT = format('Drop the counter first with denorm_drop_counter(%s), make the change, then create the counter again.', c.id);
        END IF;
        FOR tbl IN SELECT * FROM @extschema@.denorm_child_tables(c.child) LOOP
            PERFORM @extschema@.denorm_install_triggers(c, tbl);
        END LOOP;
        PERFORM @extschema@.denorm_install_parent_triggers(c);
    END LOOP;
END
$$;

-- A dropped partition was taken off its counters when the DROP started.
CREATE OR REPLACE FUNCTION @extschema@.denorm_on_drop()
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
                RAISE EXCEPTION 'cannot drop column % because denorm counter % uses it', o.object_identity, c.id
                    USING ERRCODE = 'dependent_objects_still_exist',
                          HINT = format('Drop the counter first with denorm_drop_counter(%s).', c.id);
            END IF;
            CONTINUE;
        END IF;
        FOR c IN SELECT * FROM @extschema@.denorm_counters d
                  WHERE d.parent = o.objid OR d.child = o.objid LOOP
            -- the triggers on the table that went went with it; those on
            -- the other table must go too
            PERFORM @extschema@.denorm_remove_triggers(c);
            DELETE FROM @extschema@.denorm_counters d WHERE d.id = c.id;
            DELETE FROM @extschema@.denorm_pending q WHERE q.counter_id = c.id;
            RAISE NOTICE 'dropped denorm counter % with table %', c.id, o.object_identity;
        END LOOP;
    END LOOP;
END
$$;

DROP FUNCTION @extschema@.denorm_recompute_dropped(oid[]);

-- TRUNCATE: the trigger fires BEFORE, while the rows are still there to be
-- taken off (a partition) or the whole child is known to go.
CREATE OR REPLACE FUNCTION @extschema@.denorm_install_triggers(c @extschema@.denorm_counters, tbl regclass)
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
END
$$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT g.tgrelid::pg_catalog.regclass AS tbl, g.tgname, g.tgenabled
               FROM pg_catalog.pg_trigger g
              WHERE g.tgfoid OPERATOR(pg_catalog.=) '@extschema@.denorm_truncate_trigger()'::pg_catalog.regprocedure
                AND g.tgnargs OPERATOR(pg_catalog.=) 0
                AND (g.tgtype::integer OPERATOR(pg_catalog.&) 2) OPERATOR(pg_catalog.=) 0
              ORDER BY g.tgrelid LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.tbl);
        EXECUTE pg_catalog.format('CREATE TRIGGER denorm_truncate BEFORE TRUNCATE ON %s '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.denorm_truncate_trigger()', t.tbl);
        IF t.tgenabled OPERATOR(pg_catalog.<>) 'O' THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s %s TRIGGER denorm_truncate', t.tbl,
                                      CASE t.tgenabled WHEN 'D' THEN 'DISABLE'
                                                       WHEN 'A' THEN 'ENABLE ALWAYS'
                                                       ELSE 'ENABLE REPLICA' END);
        END IF;
    END LOOP;
END
$$;


------------------------------------------------------------------------
-- The rules of what can be counted (creation and the DDL guard)
------------------------------------------------------------------------


------------------------------------------------------------------------
-- Reconcile results
------------------------------------------------------------------------


------------------------------------------------------------------------
-- DROP EXTENSION
------------------------------------------------------------------------


