-- The public API of denorm as a contract: every function with its exact
-- argument types, names, defaults and result type; the registry and log
-- tables with their column types; the status view; and who may run or
-- read what.  Changing any of these is an API change and must fail here.
BEGIN;
SELECT plan(211);

------------------------------------------------------------------------
-- Functions: exact signatures and result types
------------------------------------------------------------------------
SELECT has_function(f, args::name[], format('function %s(%s) exists', f, translate(args, '{}', '')))
  FROM (VALUES
    ('denorm_create_counter', '{regclass,name,regclass,name,text,name,text,name,text}'),
    ('denorm_drop_counter', '{integer}'),
    ('denorm_drop_counter', '{regclass,name}'),
    ('denorm_reconcile', '{integer,boolean}'),
    ('denorm_reconcile_range', '{integer,text,text,boolean}'),
    ('denorm_schedule_reconcile', '{text,text}'),
    ('denorm_unschedule_reconcile', '{text}'),
    ('denorm_flush', '{integer}'),
    ('denorm_value', '{integer,anyelement}'),
    ('denorm_values', '{integer,anyarray}'),
    ('denorm_schedule_flush', '{text}'),
    ('denorm_unschedule_flush', '{}'),
    ('denorm_purge_history', '{interval}'),
    ('denorm_schedule_purge', '{text,interval}'),
    ('denorm_unschedule_purge', '{}'),
    ('denorm_recreate_counter', '{integer,regclass,regclass}'),
    ('denorm_row_trigger', '{}'),
    ('denorm_stmt_trigger', '{}'),
    -- by parent table and counter column (since 1.3)
    ('denorm_counter_id', '{regclass,name}'),
    ('denorm_reconcile', '{regclass,name,boolean}'),
    ('denorm_reconcile_range', '{regclass,text,text,text,boolean}'),
    ('denorm_flush', '{regclass,name}'),
    ('denorm_value', '{regclass,name,anyelement}'),
    ('denorm_values', '{regclass,name,anyarray}'),
    ('denorm_check', '{regclass,name}')
  ) AS v(f, args);

SELECT function_returns(f, args::name[], ret, format('function %s(%s) returns %s', f, translate(args, '{}', ''), ret))
  FROM (VALUES
    ('denorm_create_counter', '{regclass,name,regclass,name,text,name,text,name,text}', 'integer'),
    ('denorm_drop_counter', '{integer}', 'void'),
    ('denorm_drop_counter', '{regclass,name}', 'void'),
    ('denorm_reconcile', '{integer,boolean}', 'setof record'),
    ('denorm_reconcile_range', '{integer,text,text,boolean}', 'setof record'),
    ('denorm_schedule_reconcile', '{text,text}', 'bigint'),
    ('denorm_unschedule_reconcile', '{text}', 'boolean'),
    ('denorm_flush', '{integer}', 'bigint'),
    ('denorm_value', '{integer,anyelement}', 'numeric'),
    ('denorm_values', '{integer,anyarray}', 'setof record'),
    ('denorm_schedule_flush', '{text}', 'bigint'),
    ('denorm_unschedule_flush', '{}', 'boolean'),
    ('denorm_purge_history', '{interval}', 'setof record'),
    ('denorm_schedule_purge', '{text,interval}', 'bigint'),
    ('denorm_unschedule_purge', '{}', 'boolean'),
    ('denorm_recreate_counter', '{integer,regclass,regclass}', 'integer'),
    ('denorm_row_trigger', '{}', 'trigger'),
    ('denorm_stmt_trigger', '{}', 'trigger')
  ) AS v(f, args, ret);

SELECT is_procedure('denorm_reconcile_batched', ARRAY['integer', 'boolean', 'boolean']::name[],
                    'denorm_reconcile_batched(integer, boolean, boolean) is a procedure');
SELECT is_procedure('denorm_reconcile_batched', ARRAY['regclass', 'name', 'boolean', 'boolean']::name[],
                    'denorm_reconcile_batched(regclass, name, boolean, boolean) is a procedure');

-- Argument names and defaults are part of the API: callers use
-- aggregate => 'sum', value_column => ..., filter => ... .
SELECT is(pg_get_function_arguments(p), args, format('arguments of %s', p))
  FROM (VALUES
    ('denorm_create_counter(regclass,name,regclass,name,text,name,text,name,text)'::regprocedure,
     'parent regclass, counter_column name, child regclass, foreign_key name, '
     'aggregate text DEFAULT ''count''::text, value_column name DEFAULT NULL::name, '
     'filter text DEFAULT NULL::text, parent_key name DEFAULT NULL::name, '
     'mode text DEFAULT ''immediate''::text'),
    ('denorm_drop_counter(integer)'::regprocedure, 'counter_id integer'),
    ('denorm_drop_counter(regclass,name)'::regprocedure, 'parent regclass, counter_column name'),
    ('denorm_reconcile(integer,boolean)'::regprocedure,
     'counter_id integer DEFAULT NULL::integer, heal boolean DEFAULT true'),
    ('denorm_reconcile_range(integer,text,text,boolean)'::regprocedure,
     'counter_id integer, key_from text, key_to text, heal boolean DEFAULT true'),
    ('denorm_reconcile_batched(integer,boolean,boolean)'::regprocedure,
     'IN counter_id integer DEFAULT NULL::integer, IN heal boolean DEFAULT true, '
     'IN fail_on_drift boolean DEFAULT false'),
    ('denorm_schedule_reconcile(text,text)'::regprocedure,
     'schedule text DEFAULT ''0 2 * * *''::text, '
     'job_name text DEFAULT ''denorm-nightly-reconcile''::text'),
    ('denorm_unschedule_reconcile(text)'::regprocedure,
     'job_name text DEFAULT ''denorm-nightly-reconcile''::text'),
    ('denorm_flush(integer)'::regprocedure, 'counter_id integer DEFAULT NULL::integer'),
    ('denorm_value(integer,anyelement)'::regprocedure, 'counter_id integer, parent_key anyelement'),
    ('denorm_values(integer,anyarray)'::regprocedure, 'counter_id integer, parent_keys anyarray'),
    ('denorm_purge_history(interval)'::regprocedure, 'keep interval DEFAULT ''90 days''::interval'),
    ('denorm_schedule_purge(text,interval)'::regprocedure,
     'schedule text DEFAULT ''30 3 * * *''::text, keep interval DEFAULT ''90 days''::interval'),
    ('denorm_recreate_counter(integer,regclass,regclass)'::regprocedure,
     'dropped_id integer, parent regclass DEFAULT NULL::regclass, child regclass DEFAULT NULL::regclass')
  ) AS v(p, args);

-- the rows a reconcile returns
SELECT is(pg_get_function_result(p),
          'TABLE(counter_id integer, parent regclass, counter_column name, '
          'rows_checked bigint, rows_drifted bigint, rows_healed bigint, '
          'status text, error text)',
          format('result columns of %s', p))
  FROM (VALUES ('denorm_reconcile(integer,boolean)'::regprocedure),
               ('denorm_reconcile_range(integer,text,text,boolean)'::regprocedure)) AS v(p);
SELECT is(pg_get_function_result('denorm_values(integer,anyarray)'::regprocedure),
          'TABLE(parent_key anyelement, value numeric)',
          'result columns of denorm_values(integer,anyarray)');
SELECT is(pg_get_function_result('denorm_purge_history(interval)'::regprocedure),
          'TABLE(runs_closed bigint, runs_deleted bigint, checks_deleted bigint, '
          'drift_rows_deleted bigint)',
          'result columns of denorm_purge_history(interval)');

------------------------------------------------------------------------
-- Tables and the status view
------------------------------------------------------------------------
SELECT has_table(t::name, format('table %s exists', t))
  FROM (VALUES ('denorm_counters'), ('denorm_drift_log'), ('denorm_reconcile_runs'),
               ('denorm_reconcile_checks'), ('denorm_pending'),
               ('denorm_dropped_counters')) AS v(t);

CREATE TEMP TABLE tap_api_columns (t name, c name, ty text);
INSERT INTO tap_api_columns VALUES
    ('denorm_counters', 'id', 'integer'),
    ('denorm_counters', 'parent', 'regclass'),
    ('denorm_counters', 'counter_column', 'name'),
    ('denorm_counters', 'child', 'regclass'),
    ('denorm_counters', 'foreign_key', 'name'),
    ('denorm_counters', 'parent_key', 'name'),
    ('denorm_counters', 'aggregate', 'text'),
    ('denorm_counters', 'value_column', 'name'),
    ('denorm_counters', 'filter', 'text'),
    ('denorm_counters', 'mode', 'text'),
    ('denorm_counters', 'created_at', 'timestamp with time zone'),
    ('denorm_drift_log', 'log_id', 'bigint'),
    ('denorm_drift_log', 'run_id', 'bigint'),
    ('denorm_drift_log', 'counter_id', 'integer'),
    ('denorm_drift_log', 'parent_table', 'regclass'),
    ('denorm_drift_log', 'counter_column', 'name'),
    ('denorm_drift_log', 'parent_key', 'text'),
    ('denorm_drift_log', 'stored_value', 'numeric'),
    ('denorm_drift_log', 'actual_value', 'numeric'),
    ('denorm_drift_log', 'drift', 'numeric'),
    ('denorm_drift_log', 'detected_at', 'timestamp with time zone'),
    ('denorm_drift_log', 'healed', 'boolean'),
    ('denorm_drift_log', 'healed_at', 'timestamp with time zone'),
    ('denorm_reconcile_runs', 'run_id', 'bigint'),
    ('denorm_reconcile_runs', 'started_at', 'timestamp with time zone'),
    ('denorm_reconcile_runs', 'finished_at', 'timestamp with time zone'),
    ('denorm_reconcile_runs', 'counters', 'integer'),
    ('denorm_reconcile_runs', 'rows_checked', 'bigint'),
    ('denorm_reconcile_runs', 'rows_drifted', 'bigint'),
    ('denorm_reconcile_runs', 'rows_healed', 'bigint'),
    ('denorm_reconcile_runs', 'drift_ratio', 'double precision'),
    ('denorm_reconcile_runs', 'status', 'text'),
    ('denorm_reconcile_runs', 'error', 'text'),
    ('denorm_reconcile_runs', 'backend_pid', 'integer');
SELECT has_column(t, c, format('%s.%s exists', t, c))
  FROM tap_api_columns ORDER BY t, c;
SELECT col_type_is(t, c, ty, format('%s.%s is %s', t, c, ty))
  FROM tap_api_columns ORDER BY t, c;

SELECT col_is_pk('denorm_counters', 'id', 'denorm_counters is keyed by id');
SELECT col_is_pk('denorm_drift_log', 'log_id', 'denorm_drift_log is keyed by log_id');
SELECT col_is_pk('denorm_reconcile_runs', 'run_id', 'denorm_reconcile_runs is keyed by run_id');
-- one counter per parent column
SELECT col_is_unique('denorm_counters', ARRAY['parent', 'counter_column']::name[],
                     'a parent column has at most one counter');

SELECT has_view('denorm_status', 'view denorm_status exists');
SELECT has_view('denorm_dropped', 'view denorm_dropped exists');
SELECT has_column('denorm_status', c::name, format('denorm_status.%s exists', c))
  FROM unnest(ARRAY['counter_id', 'parent', 'counter_column', 'child', 'aggregate', 'mode',
                    'triggers_ok', 'trigger_problems', 'last_run_id', 'last_checked_at',
                    'last_rows_checked', 'last_rows_drifted', 'last_error',
                    'last_drift_at']) AS c;

------------------------------------------------------------------------
-- Privileges: administration is revoked from PUBLIC
------------------------------------------------------------------------
SELECT function_privs_are(f, args::name[], 'public', ARRAY[]::name[],
                          format('PUBLIC may not run %s(%s)', f, translate(args, '{}', '')))
  FROM (VALUES
    ('denorm_create_counter', '{regclass,name,regclass,name,text,name,text,name,text}'),
    ('denorm_drop_counter', '{integer}'),
    ('denorm_drop_counter', '{regclass,name}'),
    ('denorm_reconcile', '{integer,boolean}'),
    ('denorm_reconcile_range', '{integer,text,text,boolean}'),
    ('denorm_reconcile_batched', '{integer,boolean,boolean}'),
    ('denorm_schedule_reconcile', '{text,text}'),
    ('denorm_unschedule_reconcile', '{text}'),
    ('denorm_flush', '{integer}'),
    ('denorm_schedule_flush', '{text}'),
    ('denorm_unschedule_flush', '{}'),
    ('denorm_purge_history', '{interval}'),
    ('denorm_schedule_purge', '{text,interval}'),
    ('denorm_unschedule_purge', '{}'),
    ('denorm_recreate_counter', '{integer,regclass,regclass}'),
    ('denorm_reconcile', '{regclass,name,boolean}'),
    ('denorm_reconcile_range', '{regclass,text,text,text,boolean}'),
    ('denorm_reconcile_batched', '{regclass,name,boolean,boolean}'),
    ('denorm_flush', '{regclass,name}'),
    ('denorm_check', '{regclass,name}'),
    -- internals that write parent tables or the logs
    ('denorm_recompute', '{denorm_counters}'),
    ('denorm_reconcile_key_batch', '{denorm_counters,text,text,text,boolean,bigint}'),
    ('denorm_reconcile_scope', '{integer,boolean,text,text,boolean}'),
    ('denorm_reconcile_counter', '{bigint,denorm_counters,boolean,text,text}'),
    ('denorm_apply_amounts', '{integer,text[],numeric[],boolean[]}'),
    ('denorm_fold_pending', '{integer,text[]}'),
    ('denorm_lock_parents', '{integer,text[]}'),
    ('denorm_finish_run', '{bigint,boolean,boolean,text}'),
    ('denorm_before_drop_extension', '{boolean}')
  ) AS v(f, args);

-- exact reads are for every role: they read only what the caller may read
SELECT function_privs_are(f, args::name[], 'public', ARRAY['EXECUTE']::name[],
                          format('PUBLIC may run %s(%s)', f, translate(args, '{}', '')))
  FROM (VALUES
    ('denorm_value', '{integer,anyelement}'),
    ('denorm_values', '{integer,anyarray}'),
    ('denorm_value', '{regclass,name,anyelement}'),
    ('denorm_values', '{regclass,name,anyarray}'),
    ('denorm_counter_id', '{regclass,name}')
  ) AS v(f, args);

-- the registry and the status view can be read by all; the logs and the
-- pending deltas by nobody but their owner and those granted them
SELECT table_privs_are(t::name, 'public', privs::name[], CASE privs WHEN '{}' THEN format('PUBLIC has no rights on %s', t) ELSE format('PUBLIC may only %s %s', translate(privs, '{}', ''), t) END)
  FROM (VALUES ('denorm_counters', '{SELECT}'),
               ('denorm_status', '{SELECT}'),
               ('denorm_dropped', '{SELECT}'),
               ('denorm_dropped_counters', '{}'),
               ('denorm_drift_log', '{}'),
               ('denorm_reconcile_runs', '{}'),
               ('denorm_reconcile_checks', '{}'),
               ('denorm_pending', '{}')) AS v(t, privs);

-- A role without grants is stopped before any work is done.
CREATE ROLE regress_tap_api_nobody;
CREATE FUNCTION pg_temp.tap_as(r name, q text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', r, true);
    EXECUTE q;
    RESET ROLE;
END
$$;
CREATE TABLE tap_api_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE tap_api_child (id int PRIMARY KEY, parent_id int);
SELECT throws_ok(
    $$SELECT pg_temp.tap_as('regress_tap_api_nobody',
        'SELECT denorm_create_counter(''tap_api_parent'', ''n'', ''tap_api_child'', ''parent_id'')')$$,
    '42501', 'permission denied for function denorm_create_counter',
    'a role without EXECUTE cannot create a counter');
SELECT throws_ok(
    $$SELECT pg_temp.tap_as('regress_tap_api_nobody', 'SELECT * FROM denorm_reconcile()')$$,
    '42501', 'permission denied for function denorm_reconcile',
    'a role without EXECUTE cannot reconcile');
-- with the administration rights, owning both tables is still required
SELECT denorm_grant_admin('regress_tap_api_nobody');
SELECT throws_ok(
    $$SELECT pg_temp.tap_as('regress_tap_api_nobody',
        'SELECT denorm_create_counter(''tap_api_parent'', ''n'', ''tap_api_child'', ''parent_id'')')$$,
    '42501', 'must be owner of table public.tap_api_parent',
    'a role granted administration must own the tables');
SELECT is((SELECT count(*) FROM denorm_counters WHERE parent = 'tap_api_parent'::regclass),
          0::bigint, 'the refused calls registered nothing');
-- administration rights plus owning both tables is all a role needs
ALTER TABLE tap_api_parent OWNER TO regress_tap_api_nobody;
ALTER TABLE tap_api_child OWNER TO regress_tap_api_nobody;
SELECT lives_ok(
    $$SELECT pg_temp.tap_as('regress_tap_api_nobody',
        'SELECT denorm_create_counter(''tap_api_parent'', ''n'', ''tap_api_child'', ''parent_id'')')$$,
    'a role granted administration that owns both tables can create a counter on them');

-- a role that may read the parent table, and has no rights on
-- denorm_pending, reads the exact value, pending deltas included
CREATE ROLE regress_tap_api_reader;
CREATE TABLE tap_api_rparent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE tap_api_rchild (id int PRIMARY KEY, parent_id int);
INSERT INTO tap_api_rparent VALUES (1);
INSERT INTO tap_api_rchild VALUES (1, 1), (2, 1);
SELECT denorm_create_counter('tap_api_rparent', 'n', 'tap_api_rchild', 'parent_id',
                             mode => 'deferred') AS rid \gset
INSERT INTO tap_api_rchild VALUES (3, 1);
SELECT throws_ok(
    format($$SELECT pg_temp.tap_as('regress_tap_api_reader', 'SELECT denorm_value(%s, 1)')$$, :rid),
    '42501', 'permission denied for table tap_api_rparent',
    'a role that may not read the parent table gets the error a SELECT gives');
GRANT SELECT ON tap_api_rparent TO regress_tap_api_reader;
SELECT lives_ok(
    format($$SELECT pg_temp.tap_as('regress_tap_api_reader', 'SELECT denorm_value(%s, 1)')$$, :rid),
    'a role that may read the parent table can call denorm_value');
SELECT is(denorm_value(:rid, 1), 3::numeric, 'denorm_value counts the pending delta');
SELECT results_eq(format('SELECT parent_key, value FROM denorm_values(%s, ARRAY[1, 2])', :rid),
                  $$VALUES (1, 3::numeric), (2, NULL)$$,
                  'denorm_values returns a row per key, NULL for a key without a row');

------------------------------------------------------------------------
-- \df+ denorm_*: every function says what it does, those that lock say so
------------------------------------------------------------------------
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1)
             FROM pg_proc p
             JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                             AND d.deptype = 'e'
                             AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'denorm')
            WHERE coalesce(obj_description(p.oid, 'pg_proc'), '') = ''),
          NULL, 'every function of the extension has a COMMENT');
-- the steps of reconcile, flush, creation, drops, triggers and DDL that
-- take row or table locks name them in their COMMENT
SELECT is((SELECT array_agg(f ORDER BY f) FROM unnest(ARRAY[
               'denorm_lock_parents', 'denorm_reconcile_key_batch', 'denorm_reconcile_counter',
               'denorm_reconcile_scope', 'denorm_reconcile', 'denorm_reconcile_batched',
               'denorm_apply_amounts', 'denorm_fold_pending', 'denorm_flush', 'denorm_recompute',
               'denorm_create_counter', 'denorm_register_counter', 'denorm_drop_counter',
               'denorm_registry_lock', 'denorm_stmt_trigger', 'denorm_apply', 'denorm_truncate_trigger',
               'denorm_parent_trigger',
               'denorm_install_triggers', 'denorm_install_parent_triggers', 'denorm_remove_triggers',
               'denorm_on_drop_start', 'denorm_shift_attached', 'denorm_before_drop_extension',
               'denorm_purge_history', 'denorm_recreate_counter', 'denorm_on_table_rename']) f
            WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.proname = f
                                 AND obj_description(p.oid, 'pg_proc') ~* 'lock')),
          NULL, 'the functions that take locks say which in their COMMENT');
SELECT is((SELECT array_agg(proname::text ORDER BY proname) FROM pg_proc
            WHERE proname IN ('denorm_sync_batch', 'denorm_read_batch', 'denorm_check_counter',
                              'denorm_check_range')),
          NULL, 'the reconcile steps of 1.2 go by the names that say what they do');

SELECT * FROM finish();
ROLLBACK;
