/* denorm--1.1--1.2.sql: no role gains a right through denorm.  Maintenance
 * reads and writes every table as its owner; nothing stored is executed;
 * the registry is written only through denorm's functions; event triggers
 * act on denorm's own objects only, found by OID; internals are not
 * PUBLIC's. */

\echo Use "ALTER EXTENSION denorm UPDATE TO '1.2'" to load this file. \quit

------------------------------------------------------------------------
-- C steps of maintenance: each statement runs as the owner of the table
-- it touches (see src/reconcile.c for the SQL of each)
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.denorm_read_batch(counter_id integer, lo text, hi text, upto text,
                                              keys text[],
                                              OUT rows_checked bigint, OUT keys text[],
                                              OUT stored numeric[], OUT stored_col numeric[],
                                              OUT pending numeric[], OUT actual numeric[])
AS 'MODULE_PATHNAME', 'denorm_read_batch'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_read_batch(integer, text, text, text, text[]) IS
    'Internal: compares one key range of a counter in one snapshot, reading each table as its owner';

CREATE FUNCTION @extschema@.denorm_lock_parents(counter_id integer, keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_lock_parents'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_lock_parents(integer, text[]) IS
    'Internal: locks a counter''s parent rows in key order, as the parent''s owner';

CREATE FUNCTION @extschema@.denorm_parent_batch_starts(counter_id integer, batch_size integer,
                                                       key_from text, key_to text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'denorm_parent_batch_starts'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_parent_batch_starts(integer, integer, text, text) IS
    'Internal: start keys of the key-range batches over a counter''s parent, read as its owner';

CREATE FUNCTION @extschema@.denorm_fold_pending(counter_id integer, keys text[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'denorm_fold_pending'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_fold_pending(integer, text[]) IS
    'Internal: folds a deferred counter''s pending deltas for some keys into its column';

------------------------------------------------------------------------
-- Registry writes: only through these, which check the caller
------------------------------------------------------------------------

CREATE FUNCTION @extschema@.denorm_registry_insert(parent regclass, counter_column name,
                                                   child regclass, foreign_key name,
                                                   parent_key name, aggregate text,
                                                   value_column name, filter text, mode text)
RETURNS integer
AS 'MODULE_PATHNAME', 'denorm_registry_insert'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_registry_insert(regclass, name, regclass, name, name, text, name, text, text) IS
    'Internal: records a counter after checking the caller owns its tables';

CREATE FUNCTION @extschema@.denorm_registry_lock(counter_id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'denorm_registry_lock'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_registry_lock(integer) IS
    'Internal: locks a counter''s registry row for a drop';

CREATE FUNCTION @extschema@.denorm_registry_delete(counter_id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_registry_delete'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_registry_delete(integer) IS
    'Internal: deletes a counter''s registry row and pending deltas';

-- Administrators no longer write denorm's registry or pending deltas
-- directly: take back what denorm_grant_admin gave under 1.0 and 1.1.
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT c.oid::pg_catalog.regclass AS rel, a.grantee::pg_catalog.regrole AS role,
                    c.relkind
               FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
              WHERE c.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@.denorm_counters'::pg_catalog.regclass,
                                                            '@extschema@.denorm_pending'::pg_catalog.regclass,
                                                            '@extschema@.denorm_counters_id_seq'::pg_catalog.regclass]::pg_catalog.oid[])
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
                AND a.privilege_type OPERATOR(pg_catalog.<>) 'SELECT' LOOP
        EXECUTE pg_catalog.format('REVOKE %s %s FROM %s',
                                  CASE WHEN g.relkind OPERATOR(pg_catalog.=) 'S' THEN 'USAGE, UPDATE ON SEQUENCE'
                                       ELSE 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE' END,
                                  g.rel, g.role);
    END LOOP;
END
$$;

------------------------------------------------------------------------
-- Mode 'commit': a transaction's deltas applied once, when it commits, in
-- one global order
------------------------------------------------------------------------

ALTER TABLE @extschema@.denorm_counters DROP CONSTRAINT denorm_counters_mode_check;
ALTER TABLE @extschema@.denorm_counters ADD CONSTRAINT denorm_counters_mode_check
    CHECK (mode IN ('immediate', 'commit', 'deferred'));

-- One row per transaction that has commit-time deltas: its deferred
-- constraint trigger is what applies them when the transaction commits.
-- The trigger deletes the row; the table is never read.
CREATE UNLOGGED TABLE @extschema@.denorm_commit_queue ();
COMMENT ON TABLE @extschema@.denorm_commit_queue IS
    'Internal: one row per transaction whose commit-time deltas are queued; written and emptied by denorm';
REVOKE ALL ON TABLE @extschema@.denorm_commit_queue FROM PUBLIC;

CREATE FUNCTION @extschema@.denorm_commit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'denorm_commit_trigger'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_commit_trigger() IS
    'Internal: applies a transaction''s commit-time deltas when it commits';

CREATE CONSTRAINT TRIGGER denorm_commit AFTER INSERT ON @extschema@.denorm_commit_queue
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION @extschema@.denorm_commit_trigger();

CREATE FUNCTION @extschema@.denorm_apply()
RETURNS void
AS 'MODULE_PATHNAME', 'denorm_apply'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_apply() IS
    'Applies this transaction''s commit-time counter deltas now, as commit would';

CREATE FUNCTION @extschema@.denorm_local_delta(counter_id integer, parent_key text)
RETURNS numeric
AS 'MODULE_PATHNAME', 'denorm_local_delta'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.denorm_local_delta(integer, text) IS
    'Internal: what this transaction''s commit-time deltas not yet applied add to one parent row';

------------------------------------------------------------------------
-- Reconcile and backfill through the C steps
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.denorm_batch_starts(c @extschema@.denorm_counters,
                                                           batch_size integer,
                                                           key_from text, key_to text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_parent_batch_starts(c.id, batch_size, key_from, key_to)
$$;

-- Compares and optionally heals one key range [lo, hi) (and <= upto) of one
-- counter.  Reading (denorm_read_batch): parent rows, their pending deltas
-- and their children are each read as their table's owner, in one
-- snapshot, so in-flight writers cannot cause false drift.  Healing: the
-- drifted parents are locked in ascending key order (the order writers
-- use, so the two cannot deadlock), then recounted in a new snapshot, and
-- the difference (actual - stored) is added to the current value instead of
-- writing an absolute one, so a writer or flush that committed in between
-- keeps its change.  Parents are written through denorm_apply_amounts, as
-- their owner.  Two heals of the same counter are serialized by an advisory
-- lock, or each would add the same difference.  With run_id NULL nothing is
-- logged.
CREATE OR REPLACE FUNCTION @extschema@.denorm_sync_batch(c @extschema@.denorm_counters,
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
    amounts numeric[];
    absolute boolean[];
    healed text[] := '{}';
BEGIN
    IF heal THEN
        PERFORM pg_advisory_xact_lock(1684368751, c.id);
    END IF;
    b := @extschema@.denorm_read_batch(c.id, lo, hi, upto, NULL);
    rows_checked := b.rows_checked;
    rows_drifted := 0;
    rows_healed := 0;
    IF b.keys IS NULL THEN
        RETURN;
    END IF;
    IF heal THEN
        PERFORM @extschema@.denorm_lock_parents(c.id, b.keys);
    END IF;
    -- recount under the locks: what to add (or, over a NaN or infinite
    -- stored value, to set: nothing to add to) per drifted row
    b := @extschema@.denorm_read_batch(c.id, lo, hi, upto, b.keys);
    IF b.keys IS NULL THEN
        RETURN;
    END IF;
    rows_drifted := array_length(b.keys, 1);
    SELECT array_agg(CASE WHEN f.non_finite THEN u.actual - u.pend
                          ELSE u.actual - COALESCE(u.col, 0) - u.pend END ORDER BY u.i),
           array_agg(f.non_finite ORDER BY u.i)
      INTO amounts, absolute
      FROM unnest(b.stored_col, b.pending, b.actual) WITH ORDINALITY AS u(col, pend, actual, i),
           LATERAL (SELECT COALESCE(u.col IN ('NaN', 'Infinity', '-Infinity'), false) AS non_finite) f;
    IF heal THEN
        healed := @extschema@.denorm_apply_amounts(c.id, b.keys, amounts, absolute);
        rows_healed := coalesce(array_length(healed, 1), 0);
    END IF;
    IF run_id IS NOT NULL THEN
        INSERT INTO @extschema@.denorm_drift_log
               (run_id, counter_id, parent_table, counter_column, parent_key,
                stored_value, actual_value, drift, healed, healed_at)
        SELECT run_id, c.id, c.parent, c.counter_column, u.k, u.stored, u.actual,
               u.actual - u.stored, u.k = ANY (healed),
               CASE WHEN u.k = ANY (healed) THEN clock_timestamp() END
          FROM unnest(b.keys, b.stored, b.actual) AS u(k, stored, actual);
    END IF;
END
$$;

-- Brings every parent row of a new counter to the recomputed value, batch
-- by batch, with NOTICE progress on large tables.  The caller holds a lock
-- that keeps the child's writers out.
CREATE OR REPLACE FUNCTION @extschema@.denorm_recompute(c @extschema@.denorm_counters)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    starts text[];
    n integer;
    r record;
    changed bigint := 0;
BEGIN
    starts := @extschema@.denorm_batch_starts(c, (@extschema@.denorm_settings()).reconcile_batch_size,
                                              NULL, NULL);
    n := coalesce(array_length(starts, 1), 0);
    FOR i IN 1 .. n LOOP
        r := @extschema@.denorm_sync_batch(c, CASE WHEN i > 1 THEN starts[i] END,
                                           starts[i + 1], NULL, true, NULL);
        changed := changed + r.rows_healed;
        IF n > 1 THEN
            RAISE NOTICE 'denorm counter %: batch % of % done, % rows set', c.id, i, n, changed;
        END IF;
    END LOOP;
    RETURN changed;
END
$$;

-- The same run as denorm_reconcile, as a procedure that commits after every
-- batch, so locks and transactions stay short on big tables.  Call it with
-- CALL, outside a transaction block (pg_cron does).  A procedure that
-- commits cannot carry SET search_path, so it pins the path itself, first
-- thing and again after every COMMIT (which ends a local setting), and
-- names everything with its schema besides; nothing is evaluated before the
-- first statement.
CREATE OR REPLACE PROCEDURE @extschema@.denorm_reconcile_batched(counter_id integer DEFAULT NULL,
                                                                 heal boolean DEFAULT true)
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
    alert boolean;
    err text;
    failed text;
    bs integer;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    alert := false;
    bs := (@extschema@.denorm_settings()).reconcile_batch_size;
    -- arguments first, so a bad call leaves no run behind
    PERFORM pg_catalog.count(*) FROM @extschema@.denorm_reconcile_targets(counter_id, heal);
    INSERT INTO @extschema@.denorm_reconcile_runs DEFAULT VALUES RETURNING run_id INTO run;
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR c IN SELECT * FROM @extschema@.denorm_reconcile_targets(counter_id, heal) LOOP
        checked := 0; drifted := 0; healed := 0; err := NULL;
        starts := @extschema@.denorm_batch_starts(c, bs, NULL, NULL);
        n := COALESCE(pg_catalog.array_length(starts, 1), 0);
        FOR i IN 1 .. n LOOP
            BEGIN
                r := @extschema@.denorm_sync_batch(c, CASE WHEN i OPERATOR(pg_catalog.>) 1 THEN starts[i] END,
                                                   starts[i OPERATOR(pg_catalog.+) 1], NULL, heal, run);
                checked := checked OPERATOR(pg_catalog.+) r.rows_checked;
                drifted := drifted OPERATOR(pg_catalog.+) r.rows_drifted;
                healed := healed OPERATOR(pg_catalog.+) r.rows_healed;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
                RAISE WARNING 'denorm reconcile of counter % failed: %', c.id, err;
            END;
            IF n OPERATOR(pg_catalog.>) 1 THEN
                RAISE NOTICE 'denorm reconcile run %, counter %: batch % of %, % rows checked, % drifted so far',
                             run, c.id, i, n, checked, drifted;
            END IF;
            COMMIT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            EXIT WHEN err IS NOT NULL;
        END LOOP;
        IF err IS NOT NULL THEN
            failed := pg_catalog.concat(failed OPERATOR(pg_catalog.||) '; ',
                                        pg_catalog.format('counter %s: %s', c.id, err));
        END IF;
        alert := @extschema@.denorm_finish_counter(run, c, checked, drifted, healed, err) OR alert;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    END LOOP;
    PERFORM @extschema@.denorm_finish_run(run, alert, failed);
    COMMIT;
END
$$;

------------------------------------------------------------------------
-- Creating and dropping counters
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.denorm_register_counter(
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
            RAISE EXCEPTION '"%" is not a table', tbl
                USING ERRCODE = 'wrong_object_type';
        END IF;
        IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', tbl
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only the owner of both the parent and the child table can create or drop a counter on them.';
        END IF;
    END LOOP;

    IF aggregate NOT IN ('count', 'sum') THEN
        RAISE EXCEPTION 'unknown aggregate "%"', aggregate
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The aggregate must be ''count'' or ''sum''.';
    END IF;
    IF mode NOT IN ('immediate', 'commit', 'deferred') THEN
        RAISE EXCEPTION 'unknown counter mode "%"', mode
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The mode must be ''immediate'', ''commit'' or ''deferred''.';
    END IF;

    -- counter column
    counter_type := @extschema@.denorm_column_type(parent, counter_column);
    IF counter_type <> ALL (numeric_types) THEN
        RAISE EXCEPTION 'counter column "%" of table "%" must be an integer or numeric type', counter_column, parent
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = format('Its type is %s.', format_type(counter_type, NULL));
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = parent AND attname = counter_column
                  AND attgenerated <> '') THEN
        RAISE EXCEPTION 'counter column "%" of table "%" is a generated column', counter_column, parent
            USING ERRCODE = 'invalid_column_definition';
    END IF;

    -- parent key: the given column or the single-column primary key, unique
    IF parent_key IS NULL THEN
        SELECT a.attname INTO parent_key
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = parent AND i.indisprimary AND i.indnatts = 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'table "%" has no single-column primary key', parent
                USING ERRCODE = 'invalid_foreign_key',
                      HINT = 'Name a uniquely indexed column with parent_key.';
        END IF;
    END IF;
    key_type := @extschema@.denorm_column_type(parent, parent_key);
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_attribute a
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = parent AND i.indisunique AND i.indnkeyatts = 1
           AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = parent_key) THEN
        RAISE EXCEPTION 'parent key column "%" of table "%" is not unique', parent_key, parent
            USING ERRCODE = 'invalid_foreign_key',
                  DETAIL = 'A counter''s parent key needs a unique index or constraint on exactly that column.';
    END IF;
    IF parent_key = counter_column THEN
        RAISE EXCEPTION 'counter column "%" of table "%" cannot be its parent key', counter_column, parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- foreign key: exists, comparable with the parent key, hashable and sortable
    fk_type := @extschema@.denorm_column_type(child, foreign_key);
    -- Keys are cast and compared by writers and by maintenance jobs with
    -- their own rights: only PostgreSQL's own types, whose code no table
    -- owner controls (a domain's CHECK, say, would run as the caller).
    IF NOT @extschema@.denorm_builtin_type(key_type) OR NOT @extschema@.denorm_builtin_type(fk_type) THEN
        RAISE EXCEPTION 'parent key and foreign key must be of built-in types'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('Parent key "%s" is of type %s and foreign key "%s" of type %s; domains and user-defined types are not supported.',
                                  parent_key, format_type(key_type, NULL), foreign_key, format_type(fk_type, NULL));
    END IF;
    BEGIN
        EXECUTE format('SELECT 1 FROM %s p, %s x WHERE p.%I OPERATOR(pg_catalog.=) x.%I'
                       ' AND x.%I OPERATOR(pg_catalog.>=) p.%I AND x.%I OPERATOR(pg_catalog.<) p.%I LIMIT 0',
                       parent, child, parent_key, foreign_key,
                       foreign_key, parent_key, foreign_key, parent_key);
    EXCEPTION WHEN undefined_function OR datatype_mismatch THEN
        RAISE EXCEPTION 'foreign key column "%" of type % cannot be compared with parent key column "%" of type %',
                        foreign_key, format_type(fk_type, NULL), parent_key, format_type(key_type, NULL)
            USING ERRCODE = 'datatype_mismatch';
    END;
    -- default hash and btree operator classes for the type, a domain's base
    -- type, or a type it is binary-coercible to (varchar uses text's)
    IF (SELECT count(DISTINCT m.amname) FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
         WHERE m.amname IN ('hash', 'btree') AND o.opcdefault
           AND (o.opcintype IN (fk_type, (SELECT typbasetype FROM pg_type WHERE oid = fk_type))
                OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = fk_type
                              AND k.casttarget = o.opcintype AND k.castmethod = 'b'))) < 2 THEN
        RAISE EXCEPTION 'foreign key column "%" of table "%" has a type without hash and btree support', foreign_key, child
            USING ERRCODE = 'datatype_mismatch';
    END IF;

    -- value column: required for sum, rejected for count
    IF aggregate = 'sum' THEN
        IF value_column IS NULL THEN
            RAISE EXCEPTION 'a sum counter needs a value_column'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        value_type := @extschema@.denorm_column_type(child, value_column);
        IF value_type <> ALL (numeric_types) THEN
            RAISE EXCEPTION 'value column "%" of table "%" must be an integer or numeric type', value_column, child
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = format('Its type is %s.', format_type(value_type, NULL));
        END IF;
        -- a counter column of fixed scale would round every delta on its own
        IF counter_type = 'numeric'::regtype
           AND @extschema@.denorm_sum_rounds(parent, counter_column, child, value_column) THEN
            RAISE EXCEPTION 'counter column "%" of table "%" has a smaller scale than value column "%"',
                            counter_column, parent, value_column
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'Each change would be rounded on its own and the sum would drift.',
                      HINT = 'Give the counter column at least the scale of the value column, or no fixed scale.';
        END IF;
        IF value_type = 'numeric'::regtype AND counter_type <> 'numeric'::regtype THEN
            RAISE EXCEPTION 'counter column "%" of table "%" must be numeric to hold a sum of numeric column "%"',
                            counter_column, parent, value_column
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    ELSIF value_column IS NOT NULL THEN
        RAISE EXCEPTION 'a count counter takes no value_column'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use aggregate => ''sum'' to add up a column.';
    END IF;

    -- deferred deltas are kept with the key as text: only types whose text
    -- form does not depend on session settings (DateStyle, TimeZone, ...)
    IF mode = 'deferred' AND key_type <> ALL (ARRAY['int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                                 'numeric'::regtype, 'text'::regtype, 'varchar'::regtype,
                                                 'uuid'::regtype]::oid[]) THEN
        RAISE EXCEPTION 'a deferred counter needs a parent key of an integer, numeric, text or uuid type'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('Parent key column "%s" of table "%s" is of type %s.',
                                  parent_key, parent, format_type(key_type, NULL));
    END IF;
    IF parent = child AND counter_column IN (foreign_key, value_column) THEN
        RAISE EXCEPTION 'counter column "%" of table "%" cannot count itself', counter_column, parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF filter IS NOT NULL THEN
        filter := @extschema@.denorm_normalize_filter(child, filter);
    END IF;

    IF EXISTS (SELECT 1 FROM @extschema@.denorm_counters d
                WHERE d.parent = parent AND d.counter_column = counter_column) THEN
        RAISE EXCEPTION 'column "%" of table "%" already has a denorm counter', counter_column, parent
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Drop it first with denorm_drop_counter().';
    END IF;

    -- Keep writers out until commit, so the backfill sees every child row:
    -- that takes a snapshot newer than the lock, which REPEATABLE READ and
    -- SERIALIZABLE transactions do not have.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'denorm_create_counter must run in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'Its backfill must see every child row committed before it locked the child table.';
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', child);

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
    IF NOT EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a
                       ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                    WHERE d.adrelid = parent AND a.attname = counter_column) THEN
        RAISE NOTICE 'counter column "%" of table "%" has no default', counter_column, parent
            USING HINT = format('New parent rows start at NULL, which denorm_reconcile() reports as drift; consider ALTER TABLE %s ALTER COLUMN %I SET DEFAULT 0.',
                                parent, counter_column);
    END IF;
    RETURN c.id;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.denorm_drop_counter(counter_id integer)
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
        RAISE EXCEPTION 'denorm counter % does not exist', counter_id
            USING ERRCODE = 'undefined_object';
    END IF;
    FOREACH tbl IN ARRAY ARRAY[c.parent, c.child] LOOP
        IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table %', tbl
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only the owner of both the parent and the child table can create or drop a counter on them.';
        END IF;
    END LOOP;
    -- a concurrent drop of the same counter waits here, then finds it gone
    IF NOT @extschema@.denorm_registry_lock(counter_id) THEN
        RAISE EXCEPTION 'denorm counter % does not exist', counter_id
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM @extschema@.denorm_remove_triggers(c);
    -- no new deltas can arrive now: fold the pending ones into the column
    IF c.mode = 'deferred' THEN
        PERFORM @extschema@.denorm_flush(c.id);
    END IF;
    PERFORM @extschema@.denorm_registry_delete(counter_id);
END
$$;

------------------------------------------------------------------------
-- denorm's own triggers, found by the function they run and the counter
-- id they carry, never by name alone
------------------------------------------------------------------------


-- The tables that need a counter's child triggers: its child and, when it
-- is partitioned, every partition below it (denorm_child_tables).  Each
-- table gets one set, whatever number of counters it serves: denorm_row
-- (AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW, on the child only:
-- PostgreSQL clones it onto partitions), denorm_stmt (the same events FOR
-- EACH STATEMENT) and denorm_truncate (AFTER TRUNCATE).  They carry no
-- arguments: what they serve is the registry's counters for their table.
-- A trigger counts as there when it runs the right function of denorm's,
-- whatever it is called now.
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

-- Creates the child triggers a counter needs on one of its tables, where
-- that table lacks them.
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
        EXECUTE format('CREATE TRIGGER denorm_truncate AFTER TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.denorm_truncate_trigger()', tbl);
    END IF;
END
$$;

-- Creates the counter's triggers on its parent where they are missing:
-- the key trigger (BEFORE UPDATE of the key) and, for a deferred counter,
-- the trigger for a parent row giving up its key (AFTER DELETE or UPDATE).
-- These are per counter: each carries its counter id.
CREATE OR REPLACE FUNCTION @extschema@.denorm_install_parent_triggers(c @extschema@.denorm_counters)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.parent AND t.tgparentid = 0
                      AND (t.tgtype::integer & 2) <> 0
                      AND @extschema@.denorm_is_counter_trigger(t, c.id)) THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OF %I ON %s FOR EACH ROW '
                       'WHEN (OLD.%I IS DISTINCT FROM NEW.%I) '
                       'EXECUTE FUNCTION @extschema@.denorm_parent_trigger(%L)',
                       format('denorm_%s_key', c.id), c.parent_key, c.parent,
                       c.parent_key, c.parent_key, c.id);
    END IF;
    IF c.mode = 'deferred' AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.parent
                      AND t.tgparentid = 0 AND (t.tgtype::integer & 2) = 0
                      AND @extschema@.denorm_is_counter_trigger(t, c.id)) THEN
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE OR UPDATE OF %I ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION @extschema@.denorm_parent_trigger(%L)',
                       format('denorm_%s_delete', c.id), c.parent_key, c.parent, c.id);
    END IF;
END
$$;

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
                        '@extschema@.denorm_parent_trigger()'::regprocedure)
       AND t.tgnargs > 0
       AND split_part(encode(t.tgargs, 'escape'), '\000', 1) = counter_id::text
$$;
COMMENT ON FUNCTION @extschema@.denorm_is_counter_trigger(pg_catalog.pg_trigger, integer) IS
    'Internal: whether a trigger is one of a counter''s own, by the function it runs and its counter id';

-- Drops a counter's triggers: its own (on the parent, and any of 1.1's on
-- its tables, wherever they are), and the child triggers of each of its
-- tables that no other counter still needs.
CREATE OR REPLACE FUNCTION @extschema@.denorm_remove_triggers(c @extschema@.denorm_counters)
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
                                           '@extschema@.denorm_truncate_trigger()'::regprocedure)
                         AND tg.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(c.child))
                         AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_counters o
                                          WHERE o.id <> c.id
                                            AND tg.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(o.child))
                                            AND (tg.tgfoid <> '@extschema@.denorm_row_trigger()'::regprocedure
                                                 OR o.child = c.child))))
                AND NOT tg.tgisinternal AND tg.tgparentid = 0
              ORDER BY tg.tgrelid = c.child DESC, tg.tgname LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$$;

-- What is wrong with a counter's triggers, or NULL when they are all there
-- and fire in normal operation (a trigger enabled only for replica mode
-- does not).  A trigger is found by the function it runs (and, on the
-- parent, the counter id it carries), whatever it is called; the expected
-- name is reported.
CREATE OR REPLACE FUNCTION @extschema@.denorm_trigger_problems(c @extschema@.denorm_counters)
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
                           ('truncate', '@extschema@.denorm_truncate_trigger()'::regprocedure)) AS f(kind, fn)
            UNION ALL
            SELECT c.parent, format('denorm_%s_%s', c.id, kind),
                   (SELECT t.tgenabled FROM pg_trigger t
                     WHERE t.tgrelid = c.parent AND @extschema@.denorm_is_counter_trigger(t, c.id)
                       AND ((t.tgtype::integer & 2) <> 0) = (kind = 'key')
                     ORDER BY t.tgenabled = 'D', t.oid LIMIT 1)
              FROM unnest(CASE WHEN c.mode = 'deferred' THEN ARRAY['key', 'delete']
                               ELSE ARRAY['key'] END) AS kind) e
      JOIN pg_class k ON k.oid = e.rel
      JOIN pg_namespace n ON n.oid = k.relnamespace
     WHERE e.enabled IS NULL OR e.enabled IN ('D', 'R')
$$;

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

-- Counters made under 1.1 have a set of child triggers each, carrying the
-- counter's definition; they are replaced by the shared set.
DO $$
DECLARE
    c @extschema@.denorm_counters;
    t record;
    tbl regclass;
BEGIN
    FOR c IN SELECT * FROM @extschema@.denorm_counters ORDER BY id LOOP
        FOR t IN SELECT tg.tgrelid::regclass AS rel, tg.tgname FROM pg_catalog.pg_trigger tg
                  WHERE @extschema@.denorm_is_counter_trigger(tg, c.id)
                    AND tg.tgfoid OPERATOR(pg_catalog.<>) '@extschema@.denorm_parent_trigger()'::pg_catalog.regprocedure
                    AND tg.tgparentid OPERATOR(pg_catalog.=) 0 LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
        END LOOP;
        FOR tbl IN SELECT * FROM @extschema@.denorm_child_tables(c.child) LOOP
            PERFORM @extschema@.denorm_install_triggers(c, tbl);
        END LOOP;
    END LOOP;
END
$$;

------------------------------------------------------------------------
-- Event triggers: act on denorm's own objects only, found by OID
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.denorm_on_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
-- as the extension's owner: whoever changes a counted table need not
-- administer denorm; recomputes run as the tables' owners
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c @extschema@.denorm_counters;
    tbl regclass;
    problem text;
    detached regclass[];
    attached regclass[];
    has_rows boolean;
BEGIN
    -- tables that carry denorm's child triggers but are in no counter's
    -- tree any more (detached partitions: their rows left the counters),
    -- and partitions in a counter's tree that lack them (new or attached:
    -- attached with rows, they bring them in)
    SELECT array_agg(DISTINCT t.tgrelid::regclass) INTO detached
      FROM pg_trigger t
     WHERE t.tgnargs = 0 AND t.tgparentid = 0
       AND t.tgfoid IN ('@extschema@.denorm_stmt_trigger()'::regprocedure,
                        '@extschema@.denorm_truncate_trigger()'::regprocedure)
       AND NOT EXISTS (SELECT 1 FROM @extschema@.denorm_counters d
                        WHERE t.tgrelid IN (SELECT * FROM @extschema@.denorm_child_tables(d.child)));
    SELECT array_agg(DISTINCT rel) INTO attached
      FROM @extschema@.denorm_counters d, @extschema@.denorm_child_tables(d.child) rel
     WHERE rel <> d.child
       AND (@extschema@.denorm_child_trigger(rel, '@extschema@.denorm_stmt_trigger()', false)).oid IS NULL;
    FOREACH tbl IN ARRAY coalesce(detached, '{}') LOOP
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
        has_rows := detached IS NOT NULL;
        FOR tbl IN SELECT * FROM @extschema@.denorm_child_tables(c.child) LOOP
            IF tbl = ANY (coalesce(attached, '{}')) AND NOT has_rows THEN
                -- (one that is not a table is refused by the recompute)
                IF EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = tbl AND k.relkind IN ('r', 'p')) THEN
                    EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s)', tbl) INTO has_rows;
                ELSE
                    has_rows := true;
                END IF;
            END IF;
            PERFORM @extschema@.denorm_install_triggers(c, tbl);
        END LOOP;
        PERFORM @extschema@.denorm_install_parent_triggers(c);
        IF has_rows THEN
            RAISE NOTICE 'recomputing the denorm counter on %.% after a change of partitions',
                         c.parent, c.counter_column;
            PERFORM @extschema@.denorm_recompute_counter(c.id);
        END IF;
    END LOOP;
END
$$;

-- Partitions dropped with their rows: noted by OID when DROP TABLE starts,
-- recomputed by denorm_on_drop when they are gone.
CREATE FUNCTION @extschema@.denorm_on_drop_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'denorm_on_drop_start'
LANGUAGE C;
COMMENT ON FUNCTION @extschema@.denorm_on_drop_start() IS
    'Event trigger: notes the counters whose child loses a partition to a DROP TABLE';

CREATE FUNCTION @extschema@.denorm_recompute_dropped(dropped oid[])
RETURNS integer
AS 'MODULE_PATHNAME', 'denorm_recompute_dropped'
LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.denorm_recompute_dropped(oid[]) IS
    'Internal: recomputes the counters whose child lost a partition to the DROP TABLE now ending';

CREATE EVENT TRIGGER denorm_guard_drop_start ON ddl_command_start
    WHEN TAG IN ('DROP TABLE')
    EXECUTE FUNCTION @extschema@.denorm_on_drop_start();
COMMENT ON EVENT TRIGGER denorm_guard_drop_start IS
    'Notes the denorm counters whose child loses a partition to a DROP TABLE';

CREATE OR REPLACE FUNCTION @extschema@.denorm_on_drop()
RETURNS event_trigger
LANGUAGE plpgsql
-- as the extension's owner: whoever changes a counted table need not
-- administer denorm; recomputes run as the tables' owners
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
            -- (those of the table that went, went with it)
            PERFORM @extschema@.denorm_remove_triggers(c);
            DELETE FROM @extschema@.denorm_counters d WHERE d.id = c.id;
            DELETE FROM @extschema@.denorm_pending q WHERE q.counter_id = c.id;
            RAISE NOTICE 'dropped denorm counter % with table %', c.id, o.object_identity;
        END LOOP;
    END LOOP;
    -- a dropped partition takes its rows out of its counters
    PERFORM @extschema@.denorm_recompute_dropped(
        ARRAY(SELECT d.objid FROM pg_event_trigger_dropped_objects() d
               WHERE d.object_type = 'table'));
END
$$;

------------------------------------------------------------------------
-- Deferred counters: flush and exact values
------------------------------------------------------------------------

-- Folds the pending deltas of deferred counters into their parent columns.
-- Parent tables are taken in OID order and, for each, the rows with
-- pending deltas of any of its deferred counters are locked first, in
-- ascending key order (as the parent's owner): the order immediate writers
-- lock them in, so a flush and a writer cannot deadlock.  Then, per
-- counter, exactly the pending rows of those keys that this snapshot sees
-- are deleted and their sums added to the column (denorm_fold_pending).
-- Deltas that writers commit meanwhile stay pending for the next flush; a
-- concurrent flush of the same rows waits and then finds them gone.
-- Returns the pending rows folded.
CREATE OR REPLACE FUNCTION @extschema@.denorm_flush(counter_id integer DEFAULT NULL)
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
        RAISE EXCEPTION 'denorm counter % does not exist', counter_id
            USING ERRCODE = 'undefined_object';
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

-- The exact current value of one parent row's counter: the column plus, for
-- a deferred counter, its pending deltas, read in one snapshot, plus the
-- calling transaction's own commit-time deltas not applied yet.  NULL when
-- the parent row does not exist.  The parent is read with the caller's
-- rights, and only while it is a table.
CREATE OR REPLACE FUNCTION @extschema@.denorm_value(counter_id integer, parent_key anyelement)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    c @extschema@.denorm_counters;
    keytype text;
    result numeric;
BEGIN
    -- (calls no other function of denorm's: a role may be granted this alone)
    IF counter_id IS NULL THEN
        RAISE EXCEPTION 'argument "%" must not be null', 'counter_id'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO c FROM @extschema@.denorm_counters d WHERE d.id = counter_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'denorm counter % does not exist', counter_id
            USING ERRCODE = 'undefined_object';
    END IF;
    IF parent_key IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = c.parent AND k.relkind IN ('r', 'p')) THEN
        RAISE EXCEPTION 'parent table "%" of denorm counter % is not a table', c.parent, c.id
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('Drop the counter with denorm_drop_counter(%s).', c.id);
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO keytype
      FROM pg_attribute a WHERE a.attrelid = c.parent AND a.attname = c.parent_key;
    EXECUTE format('SELECT COALESCE(p.%1$I, 0) OPERATOR(pg_catalog.+) COALESCE('
                   '(SELECT pg_catalog.sum(q.delta) FROM @extschema@.denorm_pending q'
                   '  WHERE q.counter_id OPERATOR(pg_catalog.=) $1'
                   '    AND q.parent_key::%4$s OPERATOR(pg_catalog.=) p.%2$I), 0)'
                   '  FROM %3$s p WHERE p.%2$I OPERATOR(pg_catalog.=) $2::text::%4$s',
                   c.counter_column, c.parent_key, c.parent, keytype)
      INTO result USING c.id, parent_key::text;
    -- and this transaction's own commit-time deltas, not applied yet
    RETURN result + @extschema@.denorm_local_delta(c.id, parent_key::text);
END
$$;

------------------------------------------------------------------------
-- The status view
------------------------------------------------------------------------

CREATE OR REPLACE VIEW @extschema@.denorm_status AS
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
       @extschema@.denorm_unpinned_parent_triggers(c) AS unpinned_parent_triggers
  FROM @extschema@.denorm_counters c
 CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS pending_rows,
                            pg_catalog.now() OPERATOR(pg_catalog.-)
                                pg_catalog.min(q.created_at) AS oldest_pending_age
                       FROM @extschema@.denorm_pending q
                      WHERE q.counter_id OPERATOR(pg_catalog.=) c.id) q
 CROSS JOIN LATERAL (SELECT @extschema@.denorm_trigger_problems(c) AS problems) p
  LEFT JOIN LATERAL (SELECT * FROM @extschema@.denorm_reconcile_checks k
                      WHERE k.counter_id OPERATOR(pg_catalog.=) c.id
                      ORDER BY k.checked_at DESC, k.run_id DESC LIMIT 1) k ON true;

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------

-- Administration runs with the caller's rights (ownership of the tables is
-- checked against the caller); denorm's own tables are written by denorm
-- itself.  An administering role gets EXECUTE on the extension's functions,
-- SELECT on its tables, and the rights on the reconcile history that
-- recording and purging runs need: nothing that changes a counter.
CREATE OR REPLACE FUNCTION @extschema@.denorm_grant_admin(admin regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
BEGIN
    PERFORM @extschema@.denorm_require(admin, 'admin');
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
END
$$;

-- No function of the extension is PUBLIC's: administration is granted with
-- denorm_grant_admin, triggers fire without EXECUTE, and the status view
-- calls none.  (Trigger functions being PUBLIC's would let anyone attach
-- denorm's triggers to tables of their own.)
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::pg_catalog.regprocedure AS proc, p.prokind
               FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                                          AND d.objid OPERATOR(pg_catalog.=) p.oid
                                          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                                          AND d.deptype OPERATOR(pg_catalog.=) 'e'
               JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
                                             AND e.extname OPERATOR(pg_catalog.=) 'denorm' LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM PUBLIC',
                                  CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.proc);
    END LOOP;
END
$$;
-- but those that touch nothing but the caller's own transaction
-- (denorm_apply does now what its commit would do, and denorm_local_delta,
-- which denorm_value calls, reads its commit-time deltas) or read the
-- catalogs
GRANT EXECUTE ON FUNCTION @extschema@.denorm_apply() TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_local_delta(integer, text) TO PUBLIC;
-- and the catalog readers the status view (readable by PUBLIC) calls
GRANT EXECUTE ON FUNCTION @extschema@.denorm_trigger_problems(@extschema@.denorm_counters) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_unpinned_parent_triggers(@extschema@.denorm_counters) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_child_trigger(regclass, regprocedure, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_is_counter_trigger(pg_catalog.pg_trigger, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.denorm_child_tables(regclass) TO PUBLIC;

-- denorm_grant_admin grants the functions that exist when it runs, so
-- roles granted administration before 1.2 lack the new ones, and have lost
-- their rights to write the registry above.  They are named here rather
-- than granted (rights given by an extension script would be missing from a
-- pg_dump).
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::pg_catalog.regrole AS role
               FROM pg_catalog.pg_proc p,
                    LATERAL pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.denorm_reconcile(integer,boolean)'::pg_catalog.regprocedure
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
              ORDER BY 1 LOOP
        RAISE WARNING 'role % may administer denorm: run SELECT @extschema@.denorm_grant_admin(%) to grant it the functions new in 1.2',
                     g.role, pg_catalog.quote_literal(g.role::text);
    END LOOP;
END
$$;
