/* denorm--1.0--1.1.sql: reconcile history retention; runs that can no
 * longer finish are closed */

\echo Use "ALTER EXTENSION denorm UPDATE TO '1.1'" to load this file. \quit

------------------------------------------------------------------------
-- Which session runs a reconcile
------------------------------------------------------------------------

-- Rows from before this version keep NULL: their session is unknown.  The
-- default is set in a second step so that existing rows do not take the pid
-- of the session running the update.
ALTER TABLE @extschema@.denorm_reconcile_runs ADD COLUMN backend_pid integer;
ALTER TABLE @extschema@.denorm_reconcile_runs
    ALTER COLUMN backend_pid SET DEFAULT pg_catalog.pg_backend_pid();
COMMENT ON COLUMN @extschema@.denorm_reconcile_runs.backend_pid IS
    'Process id of the session that ran the reconcile (NULL for runs recorded before denorm 1.1)';

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

------------------------------------------------------------------------
-- History retention
------------------------------------------------------------------------

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
        RAISE EXCEPTION 'keep must not be negative: %', keep
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give how long to keep reconcile history, for example interval ''90 days''.';
    END IF;
    RETURN cutoff;
END
$$;
COMMENT ON FUNCTION @extschema@.denorm_history_cutoff(interval) IS
    'Internal: the start time before which reconcile runs are deleted; rejects a NULL or negative retention period';

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
    'Closes reconcile runs that can no longer finish, then deletes runs that started more than keep ago with their checks and drift rows (each counter''s latest check is kept)';

------------------------------------------------------------------------
-- Scheduling the purge
------------------------------------------------------------------------

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

CREATE FUNCTION @extschema@.denorm_unschedule_purge()
RETURNS boolean
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT @extschema@.denorm_unschedule_job('denorm-purge-history')
$$;
COMMENT ON FUNCTION @extschema@.denorm_unschedule_purge() IS
    'Removes the pg_cron job made by denorm_schedule_purge; false when there was none';

REVOKE ALL ON FUNCTION @extschema@.denorm_purge_history(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.denorm_schedule_purge(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.denorm_unschedule_purge() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.denorm_unschedule_job(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.denorm_history_cutoff(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.denorm_run_abandoned(@extschema@.denorm_reconcile_runs) FROM PUBLIC;

------------------------------------------------------------------------
-- Roles given administration under 1.0
------------------------------------------------------------------------

-- denorm_grant_admin grants the functions that exist when it runs, so
-- roles granted under 1.0 lack the ones above.  They are named here (as
-- WARNINGs: an extension script's NOTICEs are not shown) rather than granted: rights given by an extension script count as the
-- extension's own and would be missing from a pg_dump.
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::regrole AS role
               FROM pg_catalog.pg_proc p,
                    LATERAL pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid = '@extschema@.denorm_reconcile(integer,boolean)'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
              ORDER BY 1 LOOP
        RAISE WARNING 'role % may administer denorm: run SELECT @extschema@.denorm_grant_admin(%) to grant it the functions new in 1.1',
                     g.role, pg_catalog.quote_literal(g.role::text);
    END LOOP;
END
$$;
