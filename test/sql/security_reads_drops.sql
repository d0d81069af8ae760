-- Attacks on the exact reads (denorm_value, denorm_values) and on the
-- records of dropped counters (denorm_on_drop, denorm_dropped,
-- denorm_recreate_counter), each made as the role an attacker would have:
-- an application role that row security restricts, a role that may
-- create in public, an administrator made by denorm_grant_admin.  A
-- superuser runs only what a DBA would.  Every attack must fail or read
-- nothing it should not, and leave no effect; planted code records in
-- rd_hits that it ran.  (A parent swapped under a running read is in
-- test/specs/iso_read_swapped_parent.spec: it takes two sessions.)
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT setval('denorm_counters_id_seq', 9900) AS pinned_counter_ids;
CREATE TABLE rd_hits (attack text, who name);
GRANT SELECT, INSERT ON rd_hits TO PUBLIC;
CREATE ROLE regress_rd_owner;
CREATE ROLE regress_rd_app;
CREATE ROLE regress_rd_squatter;
CREATE ROLE regress_rd_admin;
GRANT CREATE ON SCHEMA public TO regress_rd_owner, regress_rd_squatter, regress_rd_admin;
SELECT denorm_grant_admin('regress_rd_admin');

------------------------------------------------------------------------
-- 1. Exact reads of rows that row security hides.  The owner's posts are
-- forced under row security, with a policy that calls a function; the
-- application role sees post 1 only.  Pending deltas of post 2 must not
-- reach it in any form.
------------------------------------------------------------------------
SET ROLE regress_rd_owner;
CREATE TABLE rd_posts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, secret text);
CREATE TABLE rd_comments (id int, post_id int);
CREATE INDEX ON rd_comments (post_id);
INSERT INTO rd_posts VALUES (1, 0, 'a'), (2, 0, 'b');
CREATE FUNCTION rd_visible(id int) RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT id = 1 $$;
ALTER TABLE rd_posts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY rd_one ON rd_posts USING (rd_visible(id));
GRANT SELECT (id, n) ON rd_posts TO regress_rd_app;
RESET ROLE;
SET client_min_messages = warning;
SELECT denorm_create_counter('rd_posts', 'n', 'rd_comments', 'post_id', mode => 'deferred');
RESET client_min_messages;
INSERT INTO rd_comments VALUES (1, 1), (2, 2), (3, 2), (4, 2);
SELECT parent_key, delta FROM denorm_pending WHERE counter_id = 9901 ORDER BY 1;
SET ROLE regress_rd_app;
-- 1a: the row it sees, the one it does not, and one no row has: NULL alike
SELECT denorm_value(9901, 1) AS one, denorm_value(9901, 2) AS hidden, denorm_value(9901, 3) AS missing;
SELECT * FROM denorm_values(9901, ARRAY[2, 1, 3, 2]);
-- 1b: the hidden key in other types and spellings the key's type reads
SELECT denorm_value(9901, '2'::text) AS as_text, denorm_value(9901, ' 2'::varchar) AS spaced,
       denorm_value(9901, 2::bigint) AS as_bigint, denorm_value(9901, '+2'::text) AS signed;
SELECT * FROM denorm_values(9901, ARRAY['2', '02', ' 2 ']::text[]);
-- 1c: a key whose text is SQL
SELECT denorm_value(9901, $$1' OR true --$$::text);
\echo :SQLSTATE
SELECT denorm_value(9901, $$1) OR (true$$::text);
\echo :SQLSTATE
-- 1d: a domain of the role's own over the key
RESET ROLE;
GRANT CREATE ON SCHEMA public TO regress_rd_app;
SET ROLE regress_rd_app;
CREATE DOMAIN rd_key AS int CHECK (VALUE > 0);
SELECT denorm_value(9901, 2::rd_key) AS via_domain;
SELECT * FROM denorm_values(9901, ARRAY[1, 2]::rd_key[]);
-- (a base type of its own, whose output function could say anything,
-- takes a superuser to create; its output would only choose the parent
-- row the role's own SELECT finds)
DROP DOMAIN rd_key;
-- 1e: without the counter column, or without the key: refused as SELECT is
RESET ROLE;
REVOKE SELECT (n) ON rd_posts FROM regress_rd_app;
SET ROLE regress_rd_app;
SELECT denorm_value(9901, 1);
\echo :SQLSTATE
RESET ROLE;
GRANT SELECT (n) ON rd_posts TO regress_rd_app;
REVOKE SELECT (id) ON rd_posts FROM regress_rd_app;
SET ROLE regress_rd_app;
SELECT * FROM denorm_values(9901, ARRAY[1]);
\echo :SQLSTATE
RESET ROLE;
GRANT SELECT (id) ON rd_posts TO regress_rd_app;
-- 1f: the owner itself is under its forced policy, as its SELECT is
SET ROLE regress_rd_owner;
SELECT denorm_value(9901, 1) AS one, denorm_value(9901, 2) AS hidden;
RESET ROLE;
-- and a superuser sees both
SELECT denorm_value(9901, 1) AS one, denorm_value(9901, 2) AS two;

------------------------------------------------------------------------
-- 2. A role that may create in public plants objects that the reads'
-- statements would resolve unqualified: an = of (integer, text), an
-- unnest of text[], a sum of numeric and a text(integer), in public.  A
-- superuser reads with public first on its path.
------------------------------------------------------------------------
SET ROLE regress_rd_squatter;
CREATE FUNCTION public.rd_planted(attack text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.rd_hits VALUES (attack, current_user); RETURN true; END $$;
CREATE FUNCTION public.rd_eq(integer, text) RETURNS boolean LANGUAGE sql AS $$ SELECT public.rd_planted('=') $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = text, FUNCTION = public.rd_eq);
CREATE FUNCTION public.rd_eqn(numeric, numeric) RETURNS boolean LANGUAGE sql AS $$ SELECT public.rd_planted('numeric =') $$;
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'x' WHERE public.rd_planted('unnest') $$;
CREATE FUNCTION public.sum(numeric) RETURNS numeric LANGUAGE sql AS $$ SELECT 0 WHERE public.rd_planted('sum') $$;
CREATE FUNCTION public.text(integer) RETURNS text LANGUAGE sql AS $$ SELECT 'x' WHERE public.rd_planted('text()') $$;
RESET ROLE;
SET search_path = public, pg_catalog;
SELECT denorm_value(9901, 1) AS one, denorm_value(9901, 2) AS two;
SELECT * FROM denorm_values(9901, ARRAY[1, 2]);
RESET search_path;
SELECT count(*) AS planted_code_ran FROM rd_hits;
SET ROLE regress_rd_squatter;
DROP OPERATOR public.= (integer, text);
DROP FUNCTION public.rd_eq(integer, text), public.rd_eqn(numeric, numeric),
              public.unnest(text[]), public.sum(numeric), public.text(integer);
RESET ROLE;

------------------------------------------------------------------------
-- 3. Records of dropped counters are written by denorm alone.  An
-- application role and an administrator try to forge or alter them.
------------------------------------------------------------------------
SET ROLE regress_rd_owner;
DROP TABLE rd_posts;
RESET ROLE;
SELECT counter_id, parent, child, dropped_by, parent_owner, child_owner FROM denorm_dropped
 WHERE counter_id BETWEEN 9900 AND 9999;
SET ROLE regress_rd_app;
INSERT INTO denorm_dropped_counters (counter_id, parent, counter_column, child, foreign_key,
                                     parent_key, aggregate, mode, dropped_with)
VALUES (9999, 'public.rd_posts', 'n', 'public.rd_comments', 'post_id', 'id', 'count', 'immediate', 'x');
\echo :SQLSTATE
UPDATE denorm_dropped_counters SET parent = 'public.rd_other';
\echo :SQLSTATE
INSERT INTO denorm_renamed_tables VALUES ('rd_comments', '{public.rd_secret}');
\echo :SQLSTATE
SET ROLE regress_rd_admin;
INSERT INTO denorm_dropped_counters (counter_id, parent, counter_column, child, foreign_key,
                                     parent_key, aggregate, mode, dropped_with)
VALUES (9999, 'public.rd_posts', 'n', 'public.rd_comments', 'post_id', 'id', 'count', 'immediate', 'x');
\echo :SQLSTATE
UPDATE denorm_dropped_counters SET parent = 'public.rd_other', filter = 'true' WHERE counter_id = 9901;
\echo :SQLSTATE
UPDATE denorm_dropped_counters SET parent_owner = 'regress_rd_admin' WHERE counter_id = 9901;
\echo :SQLSTATE
UPDATE denorm_renamed_tables SET former_names = '{public.rd_secret}';
\echo :SQLSTATE
RESET ROLE;
-- the view is a security barrier: a leaky function sees no row its
-- WHERE clause would hide
REVOKE SELECT ON denorm_status FROM PUBLIC;
SET ROLE regress_rd_app;
SELECT count(*) AS rows_seen FROM denorm_dropped WHERE public.rd_planted('view ' || parent);
RESET ROLE;
GRANT SELECT ON denorm_status TO PUBLIC;
SELECT count(*) AS planted_code_ran FROM rd_hits;

------------------------------------------------------------------------
-- 4. A role that may create in public takes the name of a dropped
-- parent first, lets the child's owner write its column, and waits for
-- an administrator's denorm_recreate_counter: the counter would count the
-- owner's comments into the squatter's table.  Recreation by name takes a
-- table only when the role that owned (or dropped) the table owns it.
------------------------------------------------------------------------
SET ROLE regress_rd_squatter;
CREATE TABLE public.rd_posts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO public.rd_posts VALUES (1), (2), (3);
GRANT SELECT, UPDATE (n) ON public.rd_posts TO regress_rd_owner;
RESET ROLE;
SELECT recreate_parent, recreate_child, parent_owner, child_owner FROM denorm_dropped WHERE counter_id = 9901;
SELECT denorm_recreate_counter(9901);
\echo :SQLSTATE
SET ROLE regress_rd_squatter;
SELECT id, n FROM rd_posts ORDER BY id;
DROP TABLE rd_posts;
-- the owner's successor is taken, and counts what its comments add up to
SET ROLE regress_rd_owner;
CREATE TABLE public.rd_posts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO public.rd_posts VALUES (1), (2), (3);
RESET ROLE;
SET client_min_messages = warning;
SELECT denorm_recreate_counter(9901);
RESET client_min_messages;
SELECT id, n FROM rd_posts ORDER BY id;

------------------------------------------------------------------------
-- 5. The same through the rename notes.  An administrator owns a counter
-- on its own two tables; its child once had a name (rd_staff) that the
-- owner's table has now, and was renamed before it was dropped.  A
-- superuser's recreation by name must not take the owner's rd_staff for
-- the child (it would count the owner's rows, here salaries, into the
-- administrator's parent, whose column it lets the owner write).
------------------------------------------------------------------------
SET ROLE regress_rd_admin;
CREATE TABLE rd_depts (id int PRIMARY KEY, total bigint NOT NULL DEFAULT 0);
CREATE TABLE rd_staff (id int, dept int, salary int);
CREATE INDEX ON rd_staff (dept);
INSERT INTO rd_depts VALUES (1), (2);
SET client_min_messages = warning;
SELECT denorm_create_counter('rd_depts', 'total', 'rd_staff', 'dept',
                             aggregate => 'sum', value_column => 'salary');
RESET client_min_messages;
ALTER TABLE rd_staff RENAME TO rd_staff_mine;
GRANT SELECT, UPDATE (total) ON rd_depts TO regress_rd_owner;
SET ROLE regress_rd_owner;
CREATE TABLE rd_staff (id int, dept int, salary int);
INSERT INTO rd_staff VALUES (1, 1, 5000), (2, 2, 7000), (3, 2, 9000);
SET ROLE regress_rd_admin;
DROP TABLE rd_staff_mine;
RESET ROLE;
SELECT counter_id, child, child_was, recreate_child, child_owner FROM denorm_dropped WHERE counter_id = 9903;
SELECT denorm_recreate_counter(9903);
\echo :SQLSTATE
SELECT id, total FROM rd_depts ORDER BY id;
-- the administrator's own call is refused anyway: it does not own rd_staff
SET ROLE regress_rd_admin;
SELECT denorm_recreate_counter(9903);
\echo :SQLSTATE
RESET ROLE;

------------------------------------------------------------------------
-- 6. Names with quotes and dots.  A table owner who is not an
-- administrator drops its counted table: a WARNING, a record, no error;
-- the record's names lead back to the tables.
------------------------------------------------------------------------
CREATE SCHEMA "rd.s ""q""" AUTHORIZATION regress_rd_owner;
SET ROLE regress_rd_owner;
CREATE TABLE "rd.s ""q"""."p.1 ""x""" (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE "rd.s ""q"""."c.1" (id int, pid int);
CREATE INDEX ON "rd.s ""q"""."c.1" (pid);
RESET ROLE;
SELECT denorm_create_counter('"rd.s ""q"""."p.1 ""x"""', 'n', '"rd.s ""q"""."c.1"', 'pid');
SET ROLE regress_rd_owner;
DROP TABLE "rd.s ""q"""."p.1 ""x""";
CREATE TABLE "rd.s ""q"""."p.1 ""x""" (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
RESET ROLE;
SELECT parent, child, recreate_parent, recreate_child, dropped_by, parent_owner, child_owner
  FROM denorm_dropped WHERE counter_id = 9904;
SELECT denorm_recreate_counter(9904);

------------------------------------------------------------------------
-- 7. Commit-time deltas at REPEATABLE READ lock the parent rows at their
-- latest versions in C, as the writer, after the parent owner's SELECT
-- found them.  A writer with INSERT on the child alone, on a partitioned
-- parent: only the rows of the keys it wrote are locked (a row locked and
-- not updated keeps this transaction's xmax), in the partition that holds
-- them, and the rows it may not read stay unread by it.
------------------------------------------------------------------------
CREATE TABLE rd_pp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0) PARTITION BY RANGE (id);
CREATE TABLE rd_pp1 PARTITION OF rd_pp FOR VALUES FROM (1) TO (10);
CREATE TABLE rd_pp2 PARTITION OF rd_pp FOR VALUES FROM (10) TO (20);
CREATE TABLE rd_pc (id int, pid int);
CREATE INDEX ON rd_pc (pid);
INSERT INTO rd_pp SELECT generate_series(1, 19);
ALTER TABLE rd_pp OWNER TO regress_rd_owner;
ALTER TABLE rd_pp1 OWNER TO regress_rd_owner;
ALTER TABLE rd_pp2 OWNER TO regress_rd_owner;
ALTER TABLE rd_pc OWNER TO regress_rd_owner;
GRANT INSERT ON rd_pc TO regress_rd_app;
SET client_min_messages = warning;
SELECT denorm_create_counter('rd_pp', 'n', 'rd_pc', 'pid', mode => 'commit');
RESET client_min_messages;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL ROLE regress_rd_app;
INSERT INTO rd_pc VALUES (1, 3), (2, 12), (3, 12), (4, 99);
SELECT denorm_apply();
SELECT count(*) FROM rd_pp;
\echo :SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL ROLE regress_rd_app;
INSERT INTO rd_pc VALUES (1, 3), (2, 12), (3, 12), (4, 99);
SELECT denorm_apply();
RESET ROLE;
SELECT tableoid::regclass AS partition, id, n, xmax <> 0 AS locked
  FROM rd_pp WHERE n <> 0 OR xmax <> 0 ORDER BY id;
COMMIT;
SELECT id, n FROM rd_pp WHERE n <> 0 ORDER BY id;
SELECT denorm_drop_counter(9906);
DROP TABLE rd_pc, rd_pp;

------------------------------------------------------------------------
-- 8. The schema denorm is installed in keeps its name.  Its functions name
-- their objects with it, and three run as the extension's owner whenever
-- anyone changes a table: the owner of the schema (for public, the
-- database owner) who renamed it could create a schema of the old name
-- with a denorm_shift_attached() of its own, which the next CREATE TABLE
-- by anyone would run with the extension owner's rights.  The rename is
-- refused, whoever makes it; other schemas rename as ever.
------------------------------------------------------------------------
SELECT extnamespace::regnamespace AS denorm_schema FROM pg_extension WHERE extname = 'denorm';
ALTER SCHEMA public RENAME TO rd_public_old;
\echo :SQLSTATE
SELECT extnamespace::regnamespace AS denorm_schema FROM pg_extension WHERE extname = 'denorm';
CREATE SCHEMA rd_other;
ALTER SCHEMA rd_other RENAME TO rd_other2;
DROP SCHEMA rd_other2;

------------------------------------------------------------------------
-- 9. A table owner renames its counted table over and over: its former
-- names, which the record of a drop keeps and the denorm_dropped view
-- (every role's) looks up one by one, stay at the last 16.
------------------------------------------------------------------------
SET ROLE regress_rd_owner;
CREATE TABLE rd_many (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rd_many_c (id int, pid int);
CREATE INDEX ON rd_many_c (pid);
RESET ROLE;
SELECT denorm_create_counter('rd_many', 'n', 'rd_many_c', 'pid') AS many \gset
SET ROLE regress_rd_owner;
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', CASE WHEN i = 1 THEN 'rd_many' ELSE 'rd_many_' || (i - 1) END,
                       'rd_many_' || i);
    END LOOP;
END $$;
RESET ROLE;
SELECT cardinality(former_names) AS kept, former_names[1] AS latest, former_names[16] AS oldest_kept
  FROM denorm_renamed_tables WHERE tbl = 'rd_many_40'::regclass;
SET ROLE regress_rd_owner;
DROP TABLE rd_many_40;
RESET ROLE;
SELECT cardinality(parent_was) AS kept FROM denorm_dropped WHERE counter_id = :many;
DROP TABLE rd_many_c;

------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------
SELECT denorm_drop_counter(9902);
SELECT denorm_drop_counter(9905);
DROP TABLE rd_comments, rd_posts, rd_depts, rd_staff;
DROP SCHEMA "rd.s ""q""" CASCADE;
DELETE FROM denorm_dropped_counters WHERE counter_id BETWEEN 9900 AND 9999;
DROP FUNCTION rd_planted(text);
DROP TABLE rd_hits;
REVOKE CREATE ON SCHEMA public FROM regress_rd_owner, regress_rd_squatter, regress_rd_admin, regress_rd_app;
DROP OWNED BY regress_rd_owner, regress_rd_app, regress_rd_squatter, regress_rd_admin;
DROP ROLE regress_rd_owner, regress_rd_app, regress_rd_squatter, regress_rd_admin;
