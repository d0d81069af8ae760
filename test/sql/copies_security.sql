-- Copies run with table owners' rights, like counters: the parent is read
-- as its owner, the children written as theirs.  Writers need no rights on
-- the other table, nobody gains a right through a copy, and nothing a
-- writer plants on its search_path is picked up.
\set SHOW_CONTEXT never
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
-- runs made here are removed at the end, and their ids given back
SELECT last_value AS saved_last_run, is_called AS saved_run_called FROM denorm_reconcile_runs_run_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9400) AS pinned_ids;

CREATE SCHEMA "Shop Data";
CREATE TABLE "Shop Data"."Products" ("SKU" text PRIMARY KEY, "Display Name" text, cost numeric);
CREATE TABLE "Shop Data"."Order Items" (id serial PRIMARY KEY, "SKU" text REFERENCES "Shop Data"."Products",
                                        "Product Name" text, qty int);
CREATE INDEX ON "Shop Data"."Order Items" ("SKU");
INSERT INTO "Shop Data"."Products" VALUES ('a', 'Apple', 1), ('b', 'Banana', 2);
-- names that need quotes, everywhere
SELECT denorm_create_copy('"Shop Data"."Order Items"', 'Product Name', '"Shop Data"."Products"',
                          'Display Name', 'SKU');

------------------------------------------------------------------------
-- A writer with INSERT on the child only, no rights on the parent (not
-- even its schema's USAGE beyond the child): the copy is still set
------------------------------------------------------------------------
CREATE ROLE regress_cp_writer;
GRANT USAGE ON SCHEMA "Shop Data" TO regress_cp_writer;
GRANT INSERT ON "Shop Data"."Order Items" TO regress_cp_writer;
GRANT SELECT (id, qty), UPDATE ("SKU", qty) ON "Shop Data"."Order Items" TO regress_cp_writer;
GRANT USAGE ON SEQUENCE "Shop Data"."Order Items_id_seq" TO regress_cp_writer;
-- (the foreign key check runs as the parent's owner too)
SET ROLE regress_cp_writer;
INSERT INTO "Shop Data"."Order Items" ("SKU", qty) VALUES ('a', 1), ('b', 2);
-- a value it writes into the copy column is replaced
INSERT INTO "Shop Data"."Order Items" ("SKU", "Product Name") VALUES ('a', 'forged');
SELECT * FROM "Shop Data"."Products";
RESET ROLE;
SELECT "SKU", "Product Name", qty FROM "Shop Data"."Order Items" ORDER BY id;

------------------------------------------------------------------------
-- A role that may rename products but not read or write order items:
-- its rename reaches them, as the items' owner
------------------------------------------------------------------------
CREATE ROLE regress_cp_renamer;
GRANT USAGE ON SCHEMA "Shop Data" TO regress_cp_renamer;
GRANT SELECT ("SKU"), UPDATE ("Display Name") ON "Shop Data"."Products" TO regress_cp_renamer;
SET ROLE regress_cp_renamer;
UPDATE "Shop Data"."Products" SET "Display Name" = 'Green apple' WHERE "SKU" = 'a';
SELECT * FROM "Shop Data"."Order Items";
RESET ROLE;
SELECT "SKU", "Product Name" FROM "Shop Data"."Order Items" ORDER BY id;

------------------------------------------------------------------------
-- search_path attacks: a writer's tables, functions and operators of the
-- names denorm uses are never picked up (every name is qualified, the
-- path pinned)
------------------------------------------------------------------------
CREATE SCHEMA regress_cp_evil;
GRANT USAGE, CREATE ON SCHEMA regress_cp_evil TO regress_cp_writer;
SET ROLE regress_cp_writer;
CREATE TABLE regress_cp_evil."Products" ("SKU" text, "Display Name" text);
INSERT INTO regress_cp_evil."Products" VALUES ('a', 'planted'), ('b', 'planted');
CREATE FUNCTION regress_cp_evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_cp_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_cp_evil.texteq);
CREATE TEMP TABLE "Products" ("SKU" text, "Display Name" text);
INSERT INTO "Products" VALUES ('b', 'temp');
SET search_path = regress_cp_evil, pg_temp, public;
INSERT INTO "Shop Data"."Order Items" ("SKU") VALUES ('b');
UPDATE "Shop Data"."Order Items" SET "SKU" = 'a' WHERE qty = 2;
RESET search_path;
RESET ROLE;
SELECT "SKU", "Product Name", qty FROM "Shop Data"."Order Items" ORDER BY id;
SELECT * FROM denorm_check_copies();

------------------------------------------------------------------------
-- Creating a copy needs ownership of both tables
------------------------------------------------------------------------
CREATE ROLE regress_cp_owner;
SELECT denorm_grant_admin('regress_cp_owner');
CREATE TABLE cps_mine (id int PRIMARY KEY, pid text, pname text);
ALTER TABLE cps_mine OWNER TO regress_cp_owner;
GRANT USAGE ON SCHEMA "Shop Data" TO regress_cp_owner;
SET ROLE regress_cp_owner;
SELECT denorm_create_copy('cps_mine', 'pname', '"Shop Data"."Products"', 'Display Name', 'pid');
-- nor can it call the registry write directly
SELECT denorm_copy_register('cps_mine', 'pname', '"Shop Data"."Products"', 'Display Name', 'pid', 'SKU', 'sync');
-- nor drop a copy on tables it does not own
SELECT denorm_drop_copy('"Shop Data"."Order Items"', 'Product Name');
RESET ROLE;

------------------------------------------------------------------------
-- Forged triggers: a role that may not execute denorm's trigger functions
-- cannot attach them; one that can (a superuser) gets a trigger that
-- serves nothing the registry does not say
------------------------------------------------------------------------
-- a role that may not execute them
SET ROLE regress_cp_writer;
CREATE TABLE regress_cp_evil.mine (id int, pid text, pname text);
CREATE TRIGGER forged BEFORE INSERT ON regress_cp_evil.mine FOR EACH ROW
    EXECUTE FUNCTION denorm_copy_child_trigger('9401');
RESET ROLE;
SELECT has_function_privilege('public', 'denorm_copy_child_trigger()', 'EXECUTE') AS public_may_attach;
-- an administrator may (denorm_grant_admin grants EXECUTE), but the
-- trigger acts only as the registry says: copy 9401 is not on this table
SET ROLE regress_cp_owner;
CREATE TRIGGER forged BEFORE INSERT ON cps_mine FOR EACH ROW
    EXECUTE FUNCTION denorm_copy_child_trigger('9401');
INSERT INTO cps_mine VALUES (1, 'a');
DROP TRIGGER forged ON cps_mine;
RESET ROLE;
CREATE TRIGGER forged BEFORE INSERT ON cps_mine FOR EACH ROW
    EXECUTE FUNCTION denorm_copy_child_trigger('x');
INSERT INTO cps_mine VALUES (1, 'a');
DROP TRIGGER forged ON cps_mine;
CREATE TRIGGER forged AFTER UPDATE ON cps_mine FOR EACH ROW
    EXECUTE FUNCTION denorm_copy_parent_trigger('9401');
INSERT INTO cps_mine VALUES (1, 'a');
UPDATE cps_mine SET pname = 'x';
DROP TRIGGER forged ON cps_mine;
-- copy 9401's own id, on its parent, as a child trigger (after the parent's
-- real trigger was trusted there): still refused
CREATE TRIGGER forged BEFORE INSERT ON "Shop Data"."Products" FOR EACH ROW
    EXECUTE FUNCTION denorm_copy_child_trigger('9401');
INSERT INTO "Shop Data"."Products" VALUES ('c', 'Cherry');
DROP TRIGGER forged ON "Shop Data"."Products";
-- a real child trigger fired the wrong way round
CREATE TRIGGER forged AFTER INSERT ON cps_mine FOR EACH ROW
    EXECUTE FUNCTION denorm_copy_child_trigger('9401');
INSERT INTO cps_mine VALUES (2, 'a');
DROP TRIGGER forged ON cps_mine;

------------------------------------------------------------------------
-- Ownership moved to a role without the rights a copy rests on: the copy
-- stops with an error instead of showing that role what it may not read
------------------------------------------------------------------------
CREATE ROLE regress_cp_other;
ALTER TABLE "Shop Data"."Order Items" OWNER TO regress_cp_other;
INSERT INTO "Shop Data"."Order Items" ("SKU") VALUES ('a');
UPDATE "Shop Data"."Products" SET "Display Name" = 'Red apple' WHERE "SKU" = 'a';
SELECT * FROM denorm_reconcile_copies() r WHERE r.copy_id = 9401;
-- granted what it needs, it works again
GRANT SELECT ON "Shop Data"."Products" TO regress_cp_other;
GRANT USAGE ON SCHEMA "Shop Data" TO regress_cp_other;
INSERT INTO "Shop Data"."Order Items" ("SKU") VALUES ('a');
UPDATE "Shop Data"."Products" SET "Display Name" = 'Red apple' WHERE "SKU" = 'a';
SELECT "SKU", "Product Name" FROM "Shop Data"."Order Items" ORDER BY id;
-- the fan-out runs with the child owner's own search_path (its triggers
-- expect it): one that names a schema others write in before pg_catalog
-- still compares with pg_catalog's "=", not the planted one (which says
-- every value equals every other, so it would skip every row)
GRANT USAGE ON SCHEMA regress_cp_evil TO regress_cp_other;
ALTER ROLE regress_cp_other SET search_path = regress_cp_evil, pg_catalog, public;
UPDATE "Shop Data"."Products" SET "Display Name" = 'Ripe apple' WHERE "SKU" = 'a';
ALTER ROLE regress_cp_other RESET search_path;
SELECT "SKU", "Product Name" FROM "Shop Data"."Order Items" ORDER BY id;
SELECT * FROM denorm_check_copies();
ALTER TABLE "Shop Data"."Order Items" OWNER TO CURRENT_USER;

DROP TABLE cps_mine;
DROP SCHEMA "Shop Data" CASCADE;
DROP SCHEMA regress_cp_evil CASCADE;
SET client_min_messages = warning;
DROP OWNED BY regress_cp_writer, regress_cp_renamer, regress_cp_owner, regress_cp_other;
DROP ROLE regress_cp_writer, regress_cp_renamer, regress_cp_owner, regress_cp_other;
RESET client_min_messages;
SELECT count(*) AS copies_left FROM denorm_copies;
DELETE FROM denorm_drift_log WHERE counter_id > 9400 AND counter_id < 9500;
DELETE FROM denorm_reconcile_checks WHERE counter_id > 9400 AND counter_id < 9500;
DELETE FROM denorm_reconcile_runs WHERE run_id > :saved_last_run OR (:'saved_run_called' = 'f' AND run_id >= :saved_last_run);
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') > 0 AS ids_restored,
       setval('denorm_reconcile_runs_run_id_seq', :saved_last_run, :'saved_run_called') > 0 AS run_ids_restored;
