-- Attacks on denorm's security model, each made as the role an attacker
-- would have (a superuser runs only what a DBA or pg_cron would run).
-- Every attack must fail with an error and leave no effect.  Each is
-- followed by a boolean check of its effect, and planted code records in
-- atk_hits that it ran and as whom (atk_seen: a superuser, or which role).
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set VERBOSITY default
\set SHOW_CONTEXT never
-- messages below name counter ids: pin them whatever ran before
SELECT setval('denorm_counters_id_seq', 8700) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 8700) AS pinned_run_ids;
-- no drift alerts (they name run ids)
SET denorm.drift_alert_ratio = 1;
CREATE TABLE atk_hits (attack text, who name);
GRANT SELECT, INSERT ON atk_hits TO PUBLIC;
CREATE VIEW atk_seen AS
SELECT h.attack, coalesce(r.rolsuper, false) AS as_superuser,
       CASE WHEN h.who LIKE 'regress_atk_%' THEN h.who END AS as_role
  FROM atk_hits h LEFT JOIN pg_roles r ON r.rolname = h.who GROUP BY 1, 2, 3;
-- a parent p (id, n) with row 1 and a child c (id, pid), with row (1, 1)
-- if with_child
CREATE FUNCTION atk_tables(p text, c text, with_child boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('CREATE TABLE %s (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); INSERT INTO %1$s VALUES (1);'
                     'CREATE TABLE %s (id int, pid int); INSERT INTO %2$s SELECT 1, 1 WHERE %s', p, c, with_child::text);
END$$;
GRANT EXECUTE ON FUNCTION atk_tables(text, text, boolean) TO PUBLIC;
-- whether a role became a superuser; it is made an ordinary role again
CREATE FUNCTION atk_demote(r name) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE s boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = r);
BEGIN EXECUTE format('ALTER ROLE %I NOSUPERUSER', r); RETURN s; END$$;

------------------------------------------------------------------------
-- 1. Registry text runs as SQL.  An administrator (denorm_grant_admin)
-- writes SQL into denorm_counters; a superuser's reconcile or a
-- recompute runs it.
------------------------------------------------------------------------
CREATE ROLE regress_atk_admin;
SELECT denorm_grant_admin('regress_atk_admin');
CREATE SCHEMA atk_admin_s AUTHORIZATION regress_atk_admin;
SELECT atk_tables('atk_p1', 'atk_c1', true);
SELECT denorm_create_counter('atk_p1', 'n', 'atk_c1', 'pid') AS c1 \gset
SET ROLE regress_atk_admin;
CREATE FUNCTION atk_admin_s.escalate(attack text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.atk_hits VALUES (attack, current_user);
      IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
          ALTER ROLE regress_atk_admin SUPERUSER; END IF;
      RETURN true; END$$;
-- 1a: the filter of an existing counter calls the administrator's function
UPDATE denorm_counters SET filter = $$atk_admin_s.escalate('1a filter')$$ WHERE id = :c1;
RESET ROLE;
SELECT counter_id, rows_checked FROM denorm_reconcile(:c1);
SELECT atk_demote('regress_atk_admin') AS admin_became_superuser;
-- 1b: a filter that closes the statement and appends its own.  The
-- recompute runs as the parent's owner (here the superuser who made the
-- tables), whether the administrator itself calls it or a superuser does.
SET ROLE regress_atk_admin;
UPDATE denorm_counters SET filter =
    'true) GROUP BY 1) a ON true WHERE false; ALTER ROLE regress_atk_admin SUPERUSER; '
    'INSERT INTO public.atk_hits VALUES (''1b multi-statement'', current_user); '
    'UPDATE public.atk_p1 p SET n = p.n FROM public.atk_p1 p2 LEFT JOIN (SELECT 1 AS k, 1 AS v WHERE (true'
 WHERE id = :c1;
SELECT denorm_recompute_counter(:c1);
RESET ROLE;
SELECT atk_demote('regress_atk_admin') AS admin_became_superuser;
SELECT denorm_recompute_counter(:c1);
SELECT atk_demote('regress_atk_admin') AS admin_became_superuser;
-- 1c: a registry row of the administrator's own, on its own tables
\set c1c 0
SET ROLE regress_atk_admin;
SELECT atk_tables('atk_admin_s.atk_p', 'atk_admin_s.atk_c', true);
INSERT INTO denorm_counters (parent, counter_column, child, foreign_key, parent_key, aggregate, filter)
VALUES ('atk_admin_s.atk_p', 'n', 'atk_admin_s.atk_c', 'pid', 'id', 'count',
        $$atk_admin_s.escalate('1c inserted row')$$)
RETURNING id AS c1c \gset
RESET ROLE;
SELECT counter_id, rows_checked FROM denorm_reconcile(:c1c);
SELECT atk_demote('regress_atk_admin') AS admin_became_superuser;
-- 1d: the other registry columns carrying SQL
SET ROLE regress_atk_admin;
UPDATE denorm_counters SET filter = NULL WHERE id IN (:c1, :c1c);
\set VERBOSITY terse
UPDATE denorm_counters SET mode = $$immediate'; ALTER ROLE regress_atk_admin SUPERUSER; --$$ WHERE id = :c1;
UPDATE denorm_counters SET aggregate = $$count(*)); ALTER ROLE regress_atk_admin SUPERUSER; --$$ WHERE id = :c1;
\set VERBOSITY default
UPDATE denorm_counters SET aggregate = 'sum',
       value_column = $$id) FROM atk_p1; ALTER ROLE regress_atk_admin SUPERUSER; --$$ WHERE id = :c1;
UPDATE denorm_counters SET counter_column = $$n = 0; ALTER ROLE regress_atk_admin SUPERUSER; --$$ WHERE id = :c1c;
RESET ROLE;
SELECT counter_id, rows_checked FROM denorm_reconcile(:c1);
SELECT counter_id, rows_checked FROM denorm_reconcile(:c1c);
SELECT atk_demote('regress_atk_admin') AS admin_became_superuser;
-- 1e: a counter of the administrator's pointed at a column of a table it
-- may not write; its own reconcile is refused, a superuser's heals it
CREATE ROLE regress_atk_victim;
CREATE TABLE atk_victim (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO atk_victim VALUES (1, 1000);
ALTER TABLE atk_victim OWNER TO regress_atk_victim;
SET ROLE regress_atk_admin;
UPDATE denorm_counters SET parent = 'atk_victim', counter_column = 'balance' WHERE id = :c1c;
SELECT counter_id, rows_healed FROM denorm_reconcile(:c1c);
RESET ROLE;
SELECT counter_id, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile(:c1c);
SELECT balance = 1000 AS victim_balance_intact FROM atk_victim;
-- 1f: text that reached the registry some other way (written by a
-- superuser, restored from a dump, left from an older version) is still
-- never executed: a stored filter is parsed again with the rules of
-- creation before any statement uses it, and a counter is honoured only
-- while the owner of its child may write its column.
SET ROLE regress_atk_admin;
SELECT atk_tables('atk_admin_s.atk_p1f', 'atk_admin_s.atk_c1f', true);
SELECT denorm_create_counter('atk_admin_s.atk_p1f', 'n', 'atk_admin_s.atk_c1f', 'pid') AS c1f \gset
RESET ROLE;
UPDATE denorm_counters SET filter =
    'true) GROUP BY 1) a; ALTER ROLE regress_atk_admin SUPERUSER; '
    'INSERT INTO public.atk_hits VALUES (''1f stored statement'', current_user); SELECT (1'
 WHERE id = :c1f;
SELECT counter_id, rows_checked FROM denorm_reconcile(:c1f);
SELECT denorm_recompute_counter(:c1f);
SET ROLE regress_atk_admin;
TRUNCATE atk_admin_s.atk_c1f;
RESET ROLE;
UPDATE denorm_counters SET filter = $$atk_admin_s.escalate('1f stored function')$$ WHERE id = :c1f;
SELECT counter_id, rows_checked FROM denorm_reconcile(:c1f);
SELECT denorm_recompute_counter(:c1f);
SET ROLE regress_atk_admin;
INSERT INTO atk_admin_s.atk_c1f VALUES (2, 1);
RESET ROLE;
SELECT atk_demote('regress_atk_admin') AS admin_became_superuser;
-- pointed at a column the child's owner may not write
UPDATE denorm_counters SET filter = NULL, parent = 'atk_victim', counter_column = 'balance'
 WHERE id = :c1f;
SELECT counter_id, rows_checked, rows_healed FROM denorm_reconcile(:c1f);
SELECT denorm_recompute_counter(:c1f);
SET ROLE regress_atk_admin;
INSERT INTO atk_admin_s.atk_c1f VALUES (3, 1);
RESET ROLE;
SELECT balance = 1000 AS victim_balance_intact FROM atk_victim;
DELETE FROM denorm_counters WHERE id = :c1f;
SELECT * FROM atk_seen WHERE attack LIKE '1%' ORDER BY 1, 2, 3;
DELETE FROM denorm_counters WHERE id = :c1c;
DROP TABLE atk_victim, atk_c1, atk_p1;
DROP OWNED BY regress_atk_admin;

------------------------------------------------------------------------
-- 2. The committing procedure runs with its caller's search_path: a role
-- that may create objects in public (the database owner, say) plants
-- functions that a superuser's CALL denorm_reconcile_batched() resolves.
------------------------------------------------------------------------
CREATE ROLE regress_atk_dbowner;
GRANT CREATE ON SCHEMA public TO regress_atk_dbowner;
SELECT atk_tables('atk_p2', 'atk_c2', false);
ALTER TABLE atk_p2 OWNER TO regress_atk_dbowner;
ALTER TABLE atk_c2 OWNER TO regress_atk_dbowner;
SELECT denorm_create_counter('atk_p2', 'n', 'atk_c2', 'pid') AS c2 \gset
SET ROLE regress_atk_dbowner;
-- 2a: a better match than pg_catalog.array_length(anyarray, integer)
CREATE FUNCTION public.array_length(a text[], d integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.atk_hits VALUES ('2a array_length', current_user);
      IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
          ALTER ROLE regress_atk_dbowner SUPERUSER; END IF;
      RETURN pg_catalog.cardinality(a); END$$;
-- 2b: format(), called when a counter fails: the owner's drift, which a
-- trigger of the owner's will not let be healed
CREATE FUNCTION public.format(f text, i integer, t text) RETURNS text LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.atk_hits VALUES ('2b format', current_user); RETURN pg_catalog.format(f, i, t); END$$;
UPDATE atk_p2 SET n = 5;
CREATE FUNCTION public.atk_p2_fail() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'atk_p2 refuses updates'; END$$;
CREATE TRIGGER atk_p2_fail BEFORE UPDATE ON atk_p2 FOR EACH ROW EXECUTE FUNCTION public.atk_p2_fail();
-- 2c: an operator of a built-in's signature (pg_catalog comes first)
CREATE FUNCTION public.atk_plus(integer, integer) RETURNS integer LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.atk_hits VALUES ('2c operator +', current_user); RETURN $1 - $2; END$$;
CREATE OPERATOR public.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.atk_plus);
RESET ROLE;
SHOW search_path;
CALL denorm_reconcile_batched(:c2);
SELECT atk_demote('regress_atk_dbowner') AS dbowner_became_superuser;
SELECT * FROM atk_seen WHERE attack LIKE '2%' ORDER BY 1, 2, 3;
-- 2d: every SQL function of the extension pins its own search_path but
-- two: denorm_create_counter reads the filter with its caller's path (it
-- runs with no one else's rights, and names everything it runs with its
-- schema), and the committing procedure, which cannot carry SET, pins it
-- itself before anything else and after every COMMIT
SELECT p.oid::regprocedure AS without_set_search_path,
       p.prokind = 'p' AND p.prosrc ~ '^\s*DECLARE.*BEGIN\s*PERFORM pg_catalog\.set_config\(''search_path'', ''pg_catalog, pg_temp'', true\);' AS pins_it_first
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'denorm'
  JOIN pg_language l ON l.oid = p.prolang
 WHERE l.lanname NOT IN ('c', 'internal')
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%')
 ORDER BY 1;
-- (a COMMIT ends the pinning: every one is followed by it, or ends the body)
SELECT count(*) AS commits_not_followed_by_pinning
  FROM pg_proc p, regexp_matches(p.prosrc,
           'COMMIT;(?!\s*(PERFORM pg_catalog\.set_config\(''search_path''|END\s*$))', 'g')
 WHERE p.oid = 'denorm_reconcile_batched(integer, boolean, boolean)'::regprocedure;
DROP OWNED BY regress_atk_dbowner;

------------------------------------------------------------------------
-- 3. The owner of a child (or of a parent) drops denorm's triggers on it
-- and turns it into a view: a reconcile then runs the owner's function as
-- whoever runs the reconcile.
------------------------------------------------------------------------
CREATE ROLE regress_atk_owner;
CREATE SCHEMA atk_owner_s AUTHORIZATION regress_atk_owner;
-- 3a: the owner owns only the child, and may update the counter column
SELECT atk_tables('atk_p3', 'atk_c3', true);
ALTER TABLE atk_c3 OWNER TO regress_atk_owner;
GRANT UPDATE (n) ON atk_p3 TO regress_atk_owner;
SELECT denorm_create_counter('atk_p3', 'n', 'atk_c3', 'pid') AS c3 \gset
-- 3b: the owner owns both tables, and turns the parent into a view
SELECT atk_tables('atk_p3b', 'atk_c3b', false);
ALTER TABLE atk_p3b OWNER TO regress_atk_owner;
ALTER TABLE atk_c3b OWNER TO regress_atk_owner;
SELECT denorm_create_counter('atk_p3b', 'n', 'atk_c3b', 'pid') AS c3b \gset
SELECT format('denorm_%s_row', :c3) AS t3_row, format('denorm_%s_stmt', :c3) AS t3_stmt,
       format('denorm_%s_truncate', :c3) AS t3_truncate, format('denorm_%s_key', :c3b) AS t3b_key \gset
SET ROLE regress_atk_owner;
CREATE FUNCTION atk_owner_s.spy(attack text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.atk_hits VALUES (attack, current_user); RETURN true; END$$;
DELETE FROM atk_c3;
DROP TRIGGER :"t3_row" ON atk_c3;
DROP TRIGGER :"t3_stmt" ON atk_c3;
DROP TRIGGER :"t3_truncate" ON atk_c3;
-- (VACUUM clears relhastriggers, which DROP TRIGGER leaves set)
VACUUM atk_c3;
CREATE RULE "_RETURN" AS ON SELECT TO atk_c3 DO INSTEAD
    SELECT 1 AS id, 1 AS pid WHERE atk_owner_s.spy('3a child view');
SELECT relkind AS atk_c3_relkind FROM pg_class WHERE oid = 'atk_c3'::regclass;
DELETE FROM atk_p3b;
-- (in this order: after the ALTER TABLE denorm puts its trigger back;
-- since 1.3 the DDL guard refuses to drop the parent's key, so the rest
-- fails and the parent stays a table)
ALTER TABLE atk_p3b DROP CONSTRAINT atk_p3b_pkey;
DROP TRIGGER :"t3b_key" ON atk_p3b;
VACUUM atk_p3b;
CREATE RULE "_RETURN" AS ON SELECT TO atk_p3b DO INSTEAD
    SELECT 1 AS id, 0 AS n WHERE atk_owner_s.spy('3b parent view');
SELECT relkind AS atk_p3b_relkind FROM pg_class WHERE oid = 'atk_p3b'::regclass;
RESET ROLE;
SELECT counter_id, rows_checked FROM denorm_reconcile(:c3);
SELECT counter_id, rows_checked FROM denorm_reconcile(:c3b);
SELECT * FROM atk_seen WHERE attack LIKE '3%' ORDER BY 1, 2, 3;
DELETE FROM denorm_counters WHERE id IN (:c3, :c3b);
DROP OWNED BY regress_atk_owner;
DROP TABLE atk_p3;

------------------------------------------------------------------------
-- 4. A writer with only INSERT on the child plants temporary objects that
-- the parent owner's trigger code resolves while denorm updates the
-- parent as that owner.
------------------------------------------------------------------------
CREATE ROLE regress_atk_powner;
CREATE ROLE regress_atk_writer;
SELECT atk_tables('atk_p4', 'atk_c4', false);
CREATE TABLE atk_audit_log (who name, what text);
CREATE TYPE atk_kind AS ENUM ('counted');
-- the owner's audit trigger names its table unqualified, as code written
-- for the default search_path ("$user", public) does
CREATE FUNCTION atk_p4_audit() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO atk_audit_log VALUES (current_user, 'n = ' || NEW.n); RETURN NEW; END$$;
CREATE TRIGGER atk_p4_audit AFTER UPDATE ON atk_p4 FOR EACH ROW EXECUTE FUNCTION atk_p4_audit();
ALTER TABLE atk_p4 OWNER TO regress_atk_powner;
ALTER TABLE atk_c4 OWNER TO regress_atk_powner;
ALTER TABLE atk_audit_log OWNER TO regress_atk_powner;
SELECT denorm_create_counter('atk_p4', 'n', 'atk_c4', 'pid') > 0 AS created;
GRANT INSERT ON atk_c4 TO regress_atk_writer;
-- 4a: nothing planted: the owner's trigger must simply work
SET ROLE regress_atk_writer;
INSERT INTO atk_c4 VALUES (1, 1);
\echo :SQLSTATE
RESET ROLE;
SELECT n FROM atk_p4;
SELECT who, what FROM public.atk_audit_log;
-- 4b: a temporary table of that name, with a trigger of the writer's
SET ROLE regress_atk_writer;
CREATE TEMP TABLE atk_audit_log (who name, what text);
GRANT INSERT ON atk_audit_log TO PUBLIC;
CREATE FUNCTION pg_temp.atk_grab() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.atk_hits VALUES ('4b temp table', current_user);
      GRANT UPDATE, SELECT ON public.atk_p4 TO regress_atk_writer; RETURN NEW; END$$;
CREATE TRIGGER atk_grab BEFORE INSERT ON pg_temp.atk_audit_log
    FOR EACH ROW EXECUTE FUNCTION pg_temp.atk_grab();
INSERT INTO atk_c4 VALUES (2, 1);
\echo :SQLSTATE
RESET ROLE;
SELECT has_table_privilege('regress_atk_writer', 'atk_p4', 'UPDATE') AS writer_gained_update;
SELECT n FROM atk_p4;
SELECT 'public' AS audit_log, who, what FROM public.atk_audit_log
UNION ALL SELECT 'pg_temp', who, what FROM pg_temp.atk_audit_log ORDER BY 1, 2, 3;
DROP TABLE pg_temp.atk_audit_log;
DROP FUNCTION pg_temp.atk_grab();
-- 4c: the owner's code names a type unqualified; a temporary type of that
-- name has a CHECK of the writer's (functions are never looked up in
-- pg_temp, types are)
CREATE OR REPLACE FUNCTION atk_p4_audit() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.atk_audit_log VALUES (current_user, 'counted'::atk_kind::text); RETURN NEW; END$$;
SET ROLE regress_atk_writer;
CREATE FUNCTION pg_temp.atk_check(v text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.atk_hits VALUES ('4c temp type', current_user); RETURN true; END$$;
CREATE DOMAIN pg_temp.atk_kind AS text CHECK (pg_temp.atk_check(VALUE));
INSERT INTO atk_c4 VALUES (3, 1);
\echo :SQLSTATE
RESET ROLE;
SELECT n FROM atk_p4;
SELECT who, what FROM public.atk_audit_log ORDER BY 1, 2;
SELECT * FROM atk_seen WHERE attack LIKE '4%' ORDER BY 1, 2, 3;
-- 4d: denorm_status names the owner's trigger functions that leave name
-- lookup to the path they run with
SELECT unpinned_parent_triggers FROM denorm_status WHERE parent = 'atk_p4'::regclass;
ALTER FUNCTION atk_p4_audit() SET search_path = public, pg_temp;
SELECT unpinned_parent_triggers IS NULL AS all_pinned FROM denorm_status WHERE parent = 'atk_p4'::regclass;
DROP DOMAIN pg_temp.atk_kind;
DROP FUNCTION pg_temp.atk_check(text);
DROP TABLE atk_c4, atk_p4, atk_audit_log;
DROP FUNCTION atk_p4_audit();
DROP TYPE atk_kind;

------------------------------------------------------------------------
-- 5. Any role makes the drop event trigger recompute any counter: it
-- drops a table of its own with a trigger named like denorm's.
------------------------------------------------------------------------
CREATE ROLE regress_atk_nobody;
CREATE SCHEMA atk_nobody_s AUTHORIZATION regress_atk_nobody;
SELECT atk_tables('atk_p5', 'atk_c5', true);
SELECT denorm_create_counter('atk_p5', 'n', 'atk_c5', 'pid') AS c5 \gset
SELECT format('denorm_%s_stmt', :c5) AS t5_stmt, format('denorm_%s_row', :c5) AS t5_row,
       format('denorm_%s_truncate', :c5) AS t5_truncate \gset
-- drift that only a recompute would remove
UPDATE atk_p5 SET n = 42;
-- 5a: a temporary table
SET ROLE regress_atk_nobody;
BEGIN;
CREATE TEMP TABLE atk_x ();
CREATE TRIGGER :"t5_stmt" AFTER INSERT ON atk_x
    FOR EACH STATEMENT EXECUTE FUNCTION suppress_redundant_updates_trigger();
DROP TABLE atk_x;
SELECT count(*) > 0 AS parent_locked FROM pg_locks
 WHERE locktype = 'relation' AND relation = 'atk_p5'::regclass AND pid = pg_backend_pid();
COMMIT;
RESET ROLE;
SELECT n = 42 AS drift_still_there FROM atk_p5;
UPDATE atk_p5 SET n = 42;
-- 5b: the other trigger names
SET ROLE regress_atk_nobody;
CREATE TEMP TABLE atk_x ();
CREATE TRIGGER :"t5_row" AFTER INSERT ON atk_x
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE TRIGGER :"t5_truncate" AFTER TRUNCATE ON atk_x
    FOR EACH STATEMENT EXECUTE FUNCTION suppress_redundant_updates_trigger();
DROP TABLE atk_x;
RESET ROLE;
SELECT n = 42 AS drift_still_there FROM atk_p5;
-- 5c: a permanent table, altered, then dropped
SET ROLE regress_atk_nobody;
CREATE TABLE atk_nobody_s.atk_x (a int);
CREATE TRIGGER :"t5_stmt" AFTER INSERT ON atk_nobody_s.atk_x
    FOR EACH STATEMENT EXECUTE FUNCTION suppress_redundant_updates_trigger();
ALTER TABLE atk_nobody_s.atk_x ADD COLUMN b int;
RESET ROLE;
SELECT n = 42 AS drift_still_there FROM atk_p5;
SET ROLE regress_atk_nobody;
DROP TABLE atk_nobody_s.atk_x;
RESET ROLE;
SELECT n = 42 AS drift_still_there FROM atk_p5;
DROP TABLE atk_c5, atk_p5;

------------------------------------------------------------------------
-- 6. A writer with only INSERT on the child reads parent columns it may
-- not SELECT, in the error a parent constraint raises.
------------------------------------------------------------------------
CREATE TABLE atk_p6 (id int PRIMARY KEY, n int NOT NULL DEFAULT 0 CHECK (n < 3), secret text);
CREATE TABLE atk_c6 (id int, pid int);
INSERT INTO atk_p6 VALUES (1, 0, 'topsecret-6');
SELECT denorm_create_counter('atk_p6', 'n', 'atk_c6', 'pid') > 0 AS created;
GRANT INSERT ON atk_c6 TO regress_atk_writer;
SET ROLE regress_atk_writer;
SELECT secret FROM atk_p6;
INSERT INTO atk_c6 VALUES (1, 1), (2, 1);
INSERT INTO atk_c6 VALUES (3, 1);
DO $$DECLARE d text;
BEGIN INSERT INTO public.atk_c6 VALUES (4, 1);
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'SQLSTATE %, secret in the error: %', SQLSTATE,
                 strpos(SQLERRM || ' ' || coalesce(d, ''), 'topsecret') > 0;
END$$;
RESET ROLE;
SELECT n FROM atk_p6;
DROP TABLE atk_c6, atk_p6;

------------------------------------------------------------------------
-- 7. A counter that the child's owner could not maintain is refused when
-- it is created, not on every later write.
------------------------------------------------------------------------
CREATE ROLE regress_atk_childowner;
SELECT atk_tables('atk_p7', 'atk_c7', true);
ALTER TABLE atk_c7 OWNER TO regress_atk_childowner;
SELECT denorm_create_counter('atk_p7', 'n', 'atk_c7', 'pid') > 0 AS created;
\echo :SQLSTATE
SELECT n AS backfilled_n FROM atk_p7;
SET ROLE regress_atk_childowner;
INSERT INTO atk_c7 VALUES (2, 1);
\echo :SQLSTATE
RESET ROLE;
SELECT count(*) AS atk_c7_counters FROM denorm_counters WHERE child = 'atk_c7'::regclass;

------------------------------------------------------------------------
-- 8. Internal helpers are not for PUBLIC.
------------------------------------------------------------------------
-- (atk_p7 is a table it has no rights on)
SET ROLE regress_atk_nobody;
DO $$DECLARE q text;
BEGIN
    FOREACH q IN ARRAY ARRAY['SELECT denorm_normalize_filter(999999::oid::regclass, ''true'')',
                             'SELECT denorm_normalize_filter(''atk_p7'', ''n > 0'')',
                             'SELECT denorm_recompute_counter(1)',
                             'SELECT denorm_apply_amounts(1, ''{1}'', ''{1}'', ''{f}'')',
                             'SELECT denorm_child_tables(''atk_p7'')',
                             'SELECT denorm_settings()'] LOOP
        BEGIN EXECUTE q; RAISE NOTICE '%: succeeded', q;
        EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%: % %', q, SQLSTATE, SQLERRM; END;
    END LOOP;
END$$;
RESET ROLE;
-- (and for those who may call it, an unknown table is reported as such)
SELECT denorm_normalize_filter(999999::oid::regclass, 'true');
\echo :SQLSTATE
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS public_may_execute
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'denorm'
 WHERE has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

DROP TABLE atk_c7, atk_p7;
------------------------------------------------------------------------
-- 9. A table owner's types: keys of a domain type, and filter constants
-- whose type input runs a domain CHECK, never run the owner's code with
-- anyone else's rights.
------------------------------------------------------------------------
CREATE ROLE regress_atk_towner;
CREATE SCHEMA atk_towner_s AUTHORIZATION regress_atk_towner;
SELECT denorm_grant_admin('regress_atk_towner');
SET ROLE regress_atk_towner;
CREATE FUNCTION atk_towner_s.spy(v int) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.atk_hits VALUES ('9 domain check', current_user); RETURN true; END$$;
CREATE DOMAIN atk_towner_s.evd AS int CHECK (atk_towner_s.spy(VALUE));
SELECT atk_tables('atk_towner_s.p9', 'atk_towner_s.c9', true);
-- 9a: a deferred counter on a domain key, registered directly, is refused
SELECT atk_tables('atk_towner_s.p9a', 'atk_towner_s.c9a', false);
ALTER TABLE atk_towner_s.c9a ALTER COLUMN pid TYPE atk_towner_s.evd;
SELECT denorm_registry_insert('atk_towner_s.p9a', 'n', 'atk_towner_s.c9a', 'pid', 'id', 'count',
                              NULL, NULL, 'deferred');
-- 9b: a key retyped to the domain after the counter's row trigger was
-- renamed (the DDL guard finds the counter by its triggers' function)
SELECT denorm_create_counter('atk_towner_s.p9', 'n', 'atk_towner_s.c9', 'pid',
                             mode => 'deferred') AS c9 \gset
SELECT format('denorm_%s_row', :c9) AS t9_row, format('denorm_%s_key', :c9) AS t9_key,
       format('denorm_%s_delete', :c9) AS t9_delete \gset
INSERT INTO atk_towner_s.c9 VALUES (2, 1);
ALTER TRIGGER :"t9_row" ON atk_towner_s.c9 RENAME TO hidden;
DROP TRIGGER :"t9_key" ON atk_towner_s.p9;
DROP TRIGGER :"t9_delete" ON atk_towner_s.p9;
ALTER TABLE atk_towner_s.p9 ALTER COLUMN id TYPE atk_towner_s.evd;
\echo :SQLSTATE
-- 9c: a filter constant of the owner's domain: parsed as the owner
ALTER TABLE atk_towner_s.p9 ADD COLUMN n2 int NOT NULL DEFAULT 0;
SELECT denorm_create_counter('atk_towner_s.p9', 'n2', 'atk_towner_s.c9', 'pid',
                             filter => $$pid = ANY ('{1,2}'::atk_towner_s.evd[])$$) > 0 AS created;
GRANT INSERT ON atk_towner_s.c9 TO regress_atk_writer;
GRANT USAGE ON SCHEMA atk_towner_s TO regress_atk_writer;
RESET ROLE;
-- a writer (new session state: the counter is trusted afresh), a
-- superuser's reconcile and flush
SET ROLE regress_atk_writer;
INSERT INTO atk_towner_s.c9 VALUES (3, 1);
RESET ROLE;
SELECT counter_column, rows_drifted FROM denorm_reconcile() WHERE parent = 'atk_towner_s.p9'::regclass ORDER BY 1;
SELECT denorm_flush() >= 0 AS flushed;
SELECT * FROM atk_seen WHERE attack LIKE '9%' ORDER BY 1, 2, 3;
-- 9d: a failed DROP of someone else's partition, then a DROP of one's own
-- table: nothing of the other's is recomputed
CREATE TABLE atk_p9d (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE atk_c9d (id int, pid int) PARTITION BY RANGE (id);
CREATE TABLE atk_c9d1 PARTITION OF atk_c9d FOR VALUES FROM (0) TO (100);
INSERT INTO atk_p9d VALUES (1);
INSERT INTO atk_c9d VALUES (1, 1);
SELECT denorm_create_counter('atk_p9d', 'n', 'atk_c9d', 'pid') > 0 AS created;
UPDATE atk_p9d SET n = 42;
SET ROLE regress_atk_nobody;
BEGIN;
DO $$BEGIN DROP TABLE public.atk_c9d1; EXCEPTION WHEN insufficient_privilege THEN NULL; END$$;
CREATE TEMP TABLE atk_mine ();
DROP TABLE atk_mine;
COMMIT;
RESET ROLE;
SELECT n = 42 AS drift_still_there FROM atk_p9d;
-- (and a real DROP of the partition by its owner takes its one row off:
-- a correction, so the drift stays for reconcile to find)
DROP TABLE atk_c9d1;
SELECT n AS corrected_n FROM atk_p9d;
DROP TABLE atk_c9d, atk_p9d;
------------------------------------------------------------------------
-- 10. Row security: an error shows no row that a policy hides from the
-- writer, and a reconcile by a role that policies restrict is refused
------------------------------------------------------------------------
CREATE TABLE atk_p10 (id int PRIMARY KEY, n int NOT NULL DEFAULT 0 CHECK (n < 2), secret text,
                      tenant name);
CREATE TABLE atk_c10 (id int, pid int);
INSERT INTO atk_p10 VALUES (1, 0, 'mine', 'regress_atk_writer'), (2, 0, 'topsecret-10', 'other');
INSERT INTO atk_c10 VALUES (1, 2);
SELECT denorm_create_counter('atk_p10', 'n', 'atk_c10', 'pid') AS c10 \gset
ALTER TABLE atk_p10 ENABLE ROW LEVEL SECURITY;
CREATE POLICY atk_p10_own ON atk_p10 USING (tenant = current_user);
GRANT SELECT ON atk_p10 TO regress_atk_writer, regress_atk_towner;
GRANT SELECT ON atk_c10 TO regress_atk_towner;
GRANT INSERT ON atk_c10 TO regress_atk_writer;
SET ROLE regress_atk_writer;
SELECT id, secret FROM atk_p10;
INSERT INTO atk_c10 VALUES (2, 2);
-- (an administrator whom the policy shows no row)
SET ROLE regress_atk_towner;
SELECT rows_checked FROM denorm_find_drift(:c10, NULL, NULL, NULL, NULL);
SELECT counter_id, rows_checked FROM denorm_reconcile(:c10);
RESET ROLE;
DROP TABLE atk_c10, atk_p10;
-- (the order in which its counters go is not fixed)
SET client_min_messages = warning;
DROP OWNED BY regress_atk_towner;
RESET client_min_messages;
DROP VIEW atk_seen;
DROP TABLE atk_hits;
DROP FUNCTION atk_demote(name), atk_tables(text, text, boolean);
DROP OWNED BY regress_atk_admin, regress_atk_victim, regress_atk_dbowner, regress_atk_owner,
              regress_atk_powner, regress_atk_writer, regress_atk_nobody, regress_atk_childowner,
              regress_atk_towner;
DROP ROLE regress_atk_admin, regress_atk_victim, regress_atk_dbowner, regress_atk_owner,
          regress_atk_powner, regress_atk_writer, regress_atk_nobody, regress_atk_childowner,
          regress_atk_towner;
RESET denorm.drift_alert_ratio;
SELECT count(*) AS registry_rows FROM denorm_counters;
