-- Counters are maintained like foreign keys: with the parent owner's rights
-- and immune to objects planted on the search_path.
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
\set SHOW_CONTEXT never
-- messages below name counter and run ids: pin them whatever ran before
SELECT setval('denorm_counters_id_seq', 8100) AS pinned_counter_ids,
       setval('denorm_reconcile_runs_run_id_seq', 8100) AS pinned_run_ids;

CREATE TABLE sec_accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0,
                           entries int NOT NULL DEFAULT 0);
CREATE TABLE sec_entries (id serial PRIMARY KEY, account_id int REFERENCES sec_accounts,
                          amount int NOT NULL, kind text NOT NULL DEFAULT 'normal');
INSERT INTO sec_accounts (id) VALUES (1), (2);
SELECT denorm_create_counter('sec_accounts', 'balance', 'sec_entries', 'account_id',
                             'sum', 'amount') AS balance_id \gset
SELECT denorm_create_counter('sec_accounts', 'entries', 'sec_entries', 'account_id',
                             filter => $$kind <> 'void'$$) AS entries_id \gset

------------------------------------------------------------------------
-- Owner rights: a writer with INSERT on the child and no rights on the
-- parent moves the counter, and gains no way to write the parent.
------------------------------------------------------------------------
CREATE ROLE regress_sec_writer;
GRANT INSERT, UPDATE, DELETE, SELECT ON sec_entries TO regress_sec_writer;
GRANT USAGE ON SEQUENCE sec_entries_id_seq TO regress_sec_writer;
-- the foreign key check itself needs nothing on the parent either
SET ROLE regress_sec_writer;
INSERT INTO sec_entries (account_id, amount) VALUES (1, 100), (1, 50), (2, 7);
UPDATE sec_entries SET account_id = 2 WHERE amount = 50;
DELETE FROM sec_entries WHERE amount = 7;
-- no direct way in
UPDATE sec_accounts SET balance = 1000000 WHERE id = 1;
SELECT balance FROM sec_accounts;
RESET ROLE;
SELECT id, balance, entries FROM sec_accounts ORDER BY id;

-- row security on the parent does not stop maintenance either (the owner
-- bypasses it, as for foreign keys), and does not open the parent
ALTER TABLE sec_accounts ENABLE ROW LEVEL SECURITY;
SET ROLE regress_sec_writer;
INSERT INTO sec_entries (account_id, amount) VALUES (2, 5);
RESET ROLE;
SELECT id, balance, entries FROM sec_accounts ORDER BY id;
ALTER TABLE sec_accounts DISABLE ROW LEVEL SECURITY;

------------------------------------------------------------------------
-- search_path: a schema earlier on the path with a hostile "+" and "="
-- and functions named like built-ins changes nothing.
------------------------------------------------------------------------
CREATE SCHEMA sec_evil;
CREATE TABLE sec_evil.hits (what text);
CREATE FUNCTION sec_evil.bad_plus(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN INSERT INTO sec_evil.hits VALUES ('plus'); RETURN 999999; END$$;
CREATE FUNCTION sec_evil.bad_int_plus(integer, bigint) RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN INSERT INTO sec_evil.hits VALUES ('int plus'); RETURN 999999; END$$;
CREATE FUNCTION sec_evil.bad_eq(integer, integer) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO sec_evil.hits VALUES ('eq'); RETURN true; END$$;
CREATE OPERATOR sec_evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sec_evil.bad_plus);
CREATE OPERATOR sec_evil.+ (LEFTARG = integer, RIGHTARG = bigint, FUNCTION = sec_evil.bad_int_plus);
CREATE OPERATOR sec_evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = sec_evil.bad_eq);
CREATE FUNCTION sec_evil.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN INSERT INTO sec_evil.hits VALUES ('count'); RETURN 999999; END$$;
CREATE FUNCTION sec_evil.sum(integer) RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN INSERT INTO sec_evil.hits VALUES ('sum'); RETURN 999999; END$$;
GRANT USAGE ON SCHEMA sec_evil TO PUBLIC;
GRANT INSERT ON sec_evil.hits TO PUBLIC;

SET search_path = sec_evil, public, pg_catalog;
-- the planted operator is what an unqualified query would use
SELECT 1 + 1::bigint AS planted_plus;
-- (this file's own statements qualify their operators: unqualified, they
-- would run the planted ones)
SET ROLE regress_sec_writer;
SET search_path = sec_evil, public, pg_catalog;
INSERT INTO sec_entries (account_id, amount) VALUES (1, 1), (2, 2);
UPDATE sec_entries SET account_id = 1 WHERE amount OPERATOR(pg_catalog.=) 2;
DELETE FROM sec_entries WHERE amount OPERATOR(pg_catalog.=) 1;
RESET ROLE;
SET search_path = sec_evil, public, pg_catalog;
-- reconcile, backfill and the status view also ignore the planted objects
SELECT denorm_drop_counter(:entries_id);
SELECT denorm_create_counter('sec_accounts', 'entries', 'sec_entries', 'account_id',
                             filter => $$kind <> 'void'$$) > 0 AS recreated;
UPDATE sec_accounts SET balance = balance OPERATOR(pg_catalog.+) 3 WHERE id OPERATOR(pg_catalog.=) 2;
SELECT counter_column, rows_checked, rows_drifted, rows_healed FROM denorm_reconcile() ORDER BY 1;
SELECT counter_column, triggers_ok FROM denorm_status ORDER BY 1;
RESET search_path;
-- only the one deliberate call above reached the planted objects
SELECT what, count(*) FROM sec_evil.hits GROUP BY what ORDER BY what;
SELECT a.id, a.balance, a.entries,
       a.balance = (SELECT coalesce(sum(amount), 0) FROM sec_entries e WHERE e.account_id = a.id) AS balance_ok,
       a.entries = (SELECT count(*) FROM sec_entries e WHERE e.account_id = a.id AND kind <> 'void') AS entries_ok
  FROM sec_accounts a ORDER BY a.id;

------------------------------------------------------------------------
-- Identifiers that need quoting are handled as names, never as SQL.
------------------------------------------------------------------------
CREATE TABLE "sec Odd ""Parent""" ("the id" int PRIMARY KEY, "n; DROP TABLE sec_accounts" int NOT NULL DEFAULT 0);
CREATE TABLE "sec odd child" (id int, "fk)" int);
INSERT INTO "sec Odd ""Parent""" VALUES (1), (2);
INSERT INTO "sec odd child" VALUES (1, 1), (2, 1), (3, 2);
SELECT denorm_create_counter('"sec Odd ""Parent"""', 'n; DROP TABLE sec_accounts',
                             '"sec odd child"', 'fk)') AS odd_id \gset
INSERT INTO "sec odd child" VALUES (4, 2);
DELETE FROM "sec odd child" WHERE id = 1;
SELECT * FROM "sec Odd ""Parent""" ORDER BY 1;
SELECT counter_column, rows_drifted FROM denorm_reconcile(:odd_id);
SELECT count(*) AS accounts_still_there FROM sec_accounts;

------------------------------------------------------------------------
-- Jobs run by a superuser (pg_cron, a DBA) write parents as their owner:
-- user code on a parent never runs with the job's rights.
------------------------------------------------------------------------
CREATE ROLE regress_sec_owner;
CREATE TABLE sec_shop (id int PRIMARY KEY, orders int NOT NULL DEFAULT 0,
                       hot int NOT NULL DEFAULT 0);
CREATE TABLE sec_orders (id serial PRIMARY KEY, shop_id int);
CREATE TABLE sec_seen (who name, what text);
CREATE FUNCTION sec_spy() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.sec_seen VALUES (current_user, TG_OP); RETURN NEW; END$$;
CREATE TRIGGER sec_spy BEFORE UPDATE ON sec_shop FOR EACH ROW EXECUTE FUNCTION sec_spy();
INSERT INTO sec_shop (id) VALUES (1), (2);
ALTER TABLE sec_shop OWNER TO regress_sec_owner;
ALTER TABLE sec_orders OWNER TO regress_sec_owner;
GRANT INSERT ON sec_seen TO regress_sec_owner;
SELECT denorm_create_counter('sec_shop', 'orders', 'sec_orders', 'shop_id') AS shop_id \gset
SELECT denorm_create_counter('sec_shop', 'hot', 'sec_orders', 'shop_id', mode => 'deferred') AS hot_id \gset
INSERT INTO sec_orders (shop_id) VALUES (1), (2), (2);
-- drift, then a reconcile and a flush by the superuser running this test
UPDATE sec_shop SET orders = 0 WHERE id = 2;
TRUNCATE sec_seen;
SELECT counter_column, rows_drifted, rows_healed FROM denorm_reconcile(:shop_id);
SELECT denorm_flush(:hot_id) AS folded;
SELECT who, count(*) FROM sec_seen GROUP BY who ORDER BY who;
SELECT id, orders, hot FROM sec_shop ORDER BY id;
-- applying amounts needs the owner's rights; a plain administrator is refused
CREATE ROLE regress_sec_admin;
SELECT denorm_grant_admin('regress_sec_admin');
SET ROLE regress_sec_admin;
SELECT denorm_apply_amounts(:shop_id, '{1}', '{100}', '{f}');
\echo :SQLSTATE
RESET ROLE;
SELECT id, orders FROM sec_shop ORDER BY id;
DROP TABLE sec_orders, sec_shop, sec_seen;
DROP FUNCTION sec_spy();
DROP OWNED BY regress_sec_admin;
DROP ROLE regress_sec_admin, regress_sec_owner;

------------------------------------------------------------------------
-- Settings changed by a parent's own code do not outlive it: a trigger
-- that moves search_path cannot capture the names of whoever wrote the
-- child or ran the job.
------------------------------------------------------------------------
CREATE SCHEMA sec_leak;
CREATE TABLE sec_lp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, d int NOT NULL DEFAULT 0);
CREATE TABLE sec_lc (id serial PRIMARY KEY, pid int);
CREATE FUNCTION sec_mover() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN PERFORM set_config('search_path', 'sec_leak, public', false); RETURN NEW; END$$;
CREATE TRIGGER sec_mover BEFORE UPDATE ON sec_lp FOR EACH ROW EXECUTE FUNCTION sec_mover();
INSERT INTO sec_lp (id) VALUES (1);
SELECT denorm_create_counter('sec_lp', 'n', 'sec_lc', 'pid') > 0 AS created;
SELECT denorm_create_counter('sec_lp', 'd', 'sec_lc', 'pid', mode => 'deferred') > 0 AS created;
SET search_path = public;
INSERT INTO sec_lc (pid) VALUES (1);
SHOW search_path;
-- drift made with triggers off, so only denorm's own writes fire the mover
SET session_replication_role = replica;
UPDATE sec_lp SET n = 7;
RESET session_replication_role;
SET denorm.drift_alert_ratio = 1;
SELECT count(*) > 0 AS reconciled FROM denorm_reconcile();
RESET denorm.drift_alert_ratio;
SELECT denorm_flush() >= 0 AS flushed;
SHOW search_path;
SELECT n, d FROM sec_lp;
RESET search_path;
DROP TABLE sec_lc, sec_lp;
DROP FUNCTION sec_mover();
DROP SCHEMA sec_leak;

------------------------------------------------------------------------
-- Administrators cannot write denorm_counters, and a registry row pointed
-- (by one who can) at a table its child's owner may not update is refused.
------------------------------------------------------------------------
CREATE ROLE regress_sec_dave;
CREATE ROLE regress_sec_victim;
CREATE TABLE sec_victim (id int PRIMARY KEY, n int NOT NULL DEFAULT 100);
INSERT INTO sec_victim VALUES (1);
ALTER TABLE sec_victim OWNER TO regress_sec_victim;
CREATE TABLE sec_dave_p (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE sec_dave_c (id int, pid int);
INSERT INTO sec_dave_p VALUES (1);
ALTER TABLE sec_dave_p OWNER TO regress_sec_dave;
ALTER TABLE sec_dave_c OWNER TO regress_sec_dave;
SELECT denorm_grant_admin('regress_sec_dave');
SET ROLE regress_sec_dave;
SELECT denorm_create_counter('sec_dave_p', 'n', 'sec_dave_c', 'pid') AS dave_id \gset
UPDATE denorm_counters SET parent = 'sec_victim'::regclass WHERE id = :dave_id;
\echo :SQLSTATE
RESET ROLE;
UPDATE denorm_counters SET parent = 'sec_victim'::regclass WHERE id = :dave_id;
SET ROLE regress_sec_dave;
INSERT INTO sec_dave_c VALUES (1, 1);
\echo :SQLSTATE
RESET ROLE;
SELECT n AS victim_n FROM sec_victim;
UPDATE denorm_counters SET parent = 'sec_dave_p'::regclass WHERE id = :dave_id;
SELECT denorm_drop_counter(:dave_id);
DROP TABLE sec_dave_c, sec_dave_p, sec_victim;
DROP OWNED BY regress_sec_dave;
DROP ROLE regress_sec_dave, regress_sec_victim;

------------------------------------------------------------------------
-- Writers need no rights on the parent's schema either.
------------------------------------------------------------------------
CREATE SCHEMA sec_private;
CREATE TABLE sec_private.totals (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE sec_public_items (id serial PRIMARY KEY, total_id int);
INSERT INTO sec_private.totals VALUES (1);
SELECT denorm_create_counter('sec_private.totals', 'n', 'sec_public_items', 'total_id') > 0 AS created;
CREATE ROLE regress_sec_app;
GRANT INSERT ON sec_public_items TO regress_sec_app;
GRANT USAGE ON SEQUENCE sec_public_items_id_seq TO regress_sec_app;
SET ROLE regress_sec_app;
INSERT INTO sec_public_items (total_id) VALUES (1), (1);
SELECT * FROM sec_private.totals;
RESET ROLE;
SELECT * FROM sec_private.totals;
DROP TABLE sec_public_items, sec_private.totals;
DROP SCHEMA sec_private;
DROP OWNED BY regress_sec_app;
DROP ROLE regress_sec_app;

------------------------------------------------------------------------
-- A parent's trigger runs as a restricted operation during child writes:
-- it cannot leave temporary objects behind to capture the writer's later
-- queries.  Keys of domain types, whose CHECK is its owner's code, are
-- refused outright.
------------------------------------------------------------------------
CREATE TABLE sec_tp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE sec_tc (id serial PRIMARY KEY, pid int);
INSERT INTO sec_tp VALUES (1);
CREATE FUNCTION sec_temp_maker() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN CREATE TEMP VIEW pg_settings AS SELECT 1 AS trap; RETURN NEW; END$$;
CREATE TRIGGER sec_temp_maker BEFORE UPDATE ON sec_tp FOR EACH ROW EXECUTE FUNCTION sec_temp_maker();
SELECT denorm_create_counter('sec_tp', 'n', 'sec_tc', 'pid') > 0 AS created;
INSERT INTO sec_tc (pid) VALUES (1);
\echo :SQLSTATE
SELECT count(*) AS temp_views FROM pg_class WHERE relname = 'pg_settings' AND relpersistence = 't';
DROP TABLE sec_tc, sec_tp;
DROP FUNCTION sec_temp_maker();
CREATE DOMAIN sec_key AS int CHECK (VALUE > 0);
CREATE TABLE sec_dp (id sec_key PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE sec_dc (id int, pid int);
SELECT denorm_create_counter('sec_dp', 'n', 'sec_dc', 'pid');
\echo :SQLSTATE
DROP TABLE sec_dc, sec_dp;
DROP DOMAIN sec_key;

DROP TABLE "sec odd child", "sec Odd ""Parent""";
DROP TABLE sec_entries, sec_accounts;
DROP SCHEMA sec_evil CASCADE;
DROP OWNED BY regress_sec_writer;
DROP ROLE regress_sec_writer;
SELECT count(*) AS registry_rows FROM denorm_counters;
