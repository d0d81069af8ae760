-- Copies where they are easiest to get wrong: renamed schemas, direct calls
-- of the internal functions, the fill's rights, row security, renames
-- through ALTER VIEW, values "=" calls equal, collations, keys handed from
-- row to row, generated and trigger-set foreign keys, re-keyed and moved
-- snapshots, inheritance.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
-- runs made here are removed at the end, and their ids given back
SELECT last_value AS saved_last_run, is_called AS saved_run_called FROM denorm_reconcile_runs_run_id_seq \gset
SELECT setval('denorm_counters_id_seq', 6900) AS pinned_ids;
CREATE ROLE regress_ce_alice;
CREATE ROLE regress_ce_mallory;
CREATE ROLE regress_ce_admin;
SELECT denorm_grant_admin('regress_ce_admin');
SELECT denorm_grant_admin('regress_ce_alice');
GRANT CREATE ON DATABASE :"DBNAME" TO regress_ce_alice, regress_ce_mallory;
GRANT CREATE ON SCHEMA public TO regress_ce_alice, regress_ce_mallory;

------------------------------------------------------------------------
-- A renamed schema: a session that read the copy before finds its tables
-- under their new names, not whatever takes the old schema name
------------------------------------------------------------------------
SET ROLE regress_ce_alice;
CREATE SCHEMA ce_shop;
CREATE TABLE ce_shop.customers (id int PRIMARY KEY, name text);
CREATE TABLE ce_shop.orders (id int PRIMARY KEY, customer_id int REFERENCES ce_shop.customers,
                             customer_name text);
INSERT INTO ce_shop.customers VALUES (1, 'Ann');
SELECT denorm_create_copy('ce_shop.orders', 'customer_name', 'ce_shop.customers', 'name',
                          'customer_id') AS shop_copy \gset
INSERT INTO ce_shop.orders VALUES (1, 1, NULL);
ALTER SCHEMA ce_shop RENAME TO ce_shop_v1;
RESET ROLE;
SET ROLE regress_ce_mallory;
CREATE SCHEMA ce_shop;
CREATE TABLE ce_shop.customers (id int PRIMARY KEY, name text);
INSERT INTO ce_shop.customers VALUES (1, 'chosen by mallory');
GRANT ALL ON SCHEMA ce_shop TO PUBLIC;
GRANT ALL ON ce_shop.customers TO PUBLIC;
RESET ROLE;
SET ROLE regress_ce_alice;
INSERT INTO ce_shop_v1.orders VALUES (2, 1, NULL);
UPDATE ce_shop_v1.customers SET name = 'Ann B';
SELECT id, customer_name FROM ce_shop_v1.orders ORDER BY id;
RESET ROLE;

------------------------------------------------------------------------
-- The internal heal is no way around reconcile's rights: an admin without
-- rights on the tables is refused
------------------------------------------------------------------------
SET ROLE regress_ce_alice;
CREATE TABLE ce_products (id int PRIMARY KEY, price numeric);
CREATE TABLE ce_items (id int PRIMARY KEY, product_id int REFERENCES ce_products, price_paid numeric);
INSERT INTO ce_products VALUES (1, 10);
SELECT denorm_create_copy('ce_items', 'price_paid', 'ce_products', 'price', 'product_id',
                          mode => 'snapshot') AS items_copy \gset
INSERT INTO ce_items VALUES (1, 1, NULL), (2, 1, NULL);
UPDATE ce_products SET price = 99;
RESET ROLE;
SET ROLE regress_ce_admin;
SELECT denorm_copy_heal(:items_copy, 'ce_items', ARRAY['(0,1)', '(0,2)']::tid[]);
\echo :SQLSTATE
RESET ROLE;
SELECT id, price_paid FROM ce_items ORDER BY id;

------------------------------------------------------------------------
-- The fill runs the child's triggers as the child's owner, not as the
-- superuser declaring the copy, and says what it overwrote
------------------------------------------------------------------------
SET ROLE regress_ce_alice;
CREATE TABLE ce_people (id int PRIMARY KEY, name text);
CREATE TABLE ce_notes (id int PRIMARY KEY, person_id int, person_name text, written_by text);
CREATE INDEX ON ce_notes (person_id);
CREATE FUNCTION ce_who() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN NEW.written_by := current_user; RETURN NEW; END$$;
CREATE TRIGGER a_who BEFORE UPDATE ON ce_notes FOR EACH ROW EXECUTE FUNCTION ce_who();
INSERT INTO ce_people VALUES (1, 'Ann');
INSERT INTO ce_notes VALUES (1, 1, 'Ann''s office, attn. Mr Smith', NULL), (2, 99, 'Legacy', NULL);
RESET ROLE;
SET client_min_messages = notice;
SELECT denorm_create_copy('ce_notes', 'person_name', 'ce_people', 'name', 'person_id') > 0 AS declared;
SET client_min_messages = warning;
SELECT id, person_name, written_by FROM ce_notes ORDER BY id;

------------------------------------------------------------------------
-- Row security on the parent that hides rows from the child's owner
-- refuses the copy: its owner would receive values it may not read
------------------------------------------------------------------------
SET ROLE regress_ce_alice;
CREATE TABLE ce_tenants (id int PRIMARY KEY, name text, tenant text);
INSERT INTO ce_tenants VALUES (1, 'Mia', 'm'), (2, 'Secret Bob', 'b');
ALTER TABLE ce_tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON ce_tenants USING (tenant = 'm');
GRANT SELECT ON ce_tenants TO regress_ce_mallory;
RESET ROLE;
SET ROLE regress_ce_mallory;
CREATE TABLE ce_bills (id int PRIMARY KEY, tenant_id int, tenant_name text);
GRANT UPDATE (tenant_name) ON ce_bills TO regress_ce_alice;
RESET ROLE;
SELECT denorm_create_copy('ce_bills', 'tenant_name', 'ce_tenants', 'name', 'tenant_id');
\echo :SQLSTATE
SELECT count(*) AS copies_on_bills FROM denorm_copies WHERE child = 'ce_bills'::regclass;

------------------------------------------------------------------------
-- Renames through ALTER VIEW are followed as ALTER TABLE's are
------------------------------------------------------------------------
CREATE TABLE ce_cust (id int PRIMARY KEY, name text);
CREATE TABLE ce_ord (id int PRIMARY KEY, cust_id int REFERENCES ce_cust, cust_name text, note text);
INSERT INTO ce_cust VALUES (1, 'Ann');
SELECT denorm_create_copy('ce_ord', 'cust_name', 'ce_cust', 'name', 'cust_id') AS ord_copy \gset
INSERT INTO ce_ord VALUES (1, 1, NULL, 'keep me');
ALTER VIEW ce_ord RENAME COLUMN cust_name TO customer_name;
ALTER VIEW ce_ord RENAME COLUMN note TO cust_name;
UPDATE ce_cust SET name = 'Ann B';
SELECT * FROM ce_ord;
SELECT copy_column FROM denorm_copies WHERE id = :ord_copy;

------------------------------------------------------------------------
-- Values "=" calls equal are still other values: a sync copy follows
-- numeric scale, -0, and a case-insensitive collation's case
------------------------------------------------------------------------
CREATE COLLATION ce_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ce_src (id int PRIMARY KEY, name text COLLATE ce_ci, price numeric, f float8);
CREATE TABLE ce_dst (id int PRIMARY KEY, src_id int REFERENCES ce_src, name text COLLATE ce_ci,
                     price numeric, f float8);
INSERT INTO ce_src VALUES (1, 'ann smith', 10.5, 0);
SELECT denorm_create_copy('ce_dst', 'name', 'ce_src', 'name', 'src_id') > 0 AS name_copy,
       denorm_create_copy('ce_dst', 'price', 'ce_src', 'price', 'src_id') > 0 AS price_copy,
       denorm_create_copy('ce_dst', 'f', 'ce_src', 'f', 'src_id') > 0 AS f_copy;
INSERT INTO ce_dst (id, src_id) VALUES (1, 1);
UPDATE ce_src SET name = 'Ann Smith', price = 10.50, f = '-0';
SELECT name, price, f::text FROM ce_dst;

------------------------------------------------------------------------
-- Creation refuses what the triggers cannot keep exact
------------------------------------------------------------------------
-- a domain that refuses NULL is a type like another
CREATE DOMAIN ce_name AS text NOT NULL CHECK (VALUE <> '');
CREATE TABLE ce_dom_p (id int PRIMARY KEY, name ce_name);
CREATE TABLE ce_dom_c (id int PRIMARY KEY, p_id int REFERENCES ce_dom_p, name ce_name DEFAULT 'x');
INSERT INTO ce_dom_p VALUES (1, 'Ann');
INSERT INTO ce_dom_c VALUES (1, 1);
SELECT denorm_create_copy('ce_dom_c', 'name', 'ce_dom_p', 'name', 'p_id') > 0 AS domain_copy;
SELECT * FROM ce_dom_c;
-- a foreign key of another collation than the parent key's
CREATE TABLE ce_codes (code text COLLATE ce_ci PRIMARY KEY, name text);
CREATE TABLE ce_uses (id int PRIMARY KEY, code text, code_name text);
SELECT denorm_create_copy('ce_uses', 'code_name', 'ce_codes', 'name', 'code');
\echo :SQLSTATE
-- a generated foreign key (BEFORE triggers see it before it is computed)
CREATE TABLE ce_gen (id int PRIMARY KEY, raw int, cust_id int GENERATED ALWAYS AS (raw / 100) STORED,
                     cust_name text);
SELECT denorm_create_copy('ce_gen', 'cust_name', 'ce_cust', 'name', 'cust_id');
\echo :SQLSTATE
-- inheritance children (the copy is kept on partitions only), also later
CREATE TABLE ce_inh (id int PRIMARY KEY, cust_id int, cust_name text);
CREATE TABLE ce_inh_2020 () INHERITS (ce_inh);
SELECT denorm_create_copy('ce_inh', 'cust_name', 'ce_cust', 'name', 'cust_id');
\echo :SQLSTATE
DROP TABLE ce_inh_2020;
SELECT denorm_create_copy('ce_inh', 'cust_name', 'ce_cust', 'name', 'cust_id') > 0 AS inh_copy;
CREATE TABLE ce_inh_2021 () INHERITS (ce_inh);
\echo :SQLSTATE
CREATE TABLE ce_inh_2022 (id int NOT NULL, cust_id int, cust_name text);
ALTER TABLE ce_inh_2022 INHERIT ce_inh;
\echo :SQLSTATE
SELECT count(*) AS inheritance_children FROM pg_inherits WHERE inhparent = 'ce_inh'::regclass;

------------------------------------------------------------------------
-- One UPDATE that hands each key to the next row: every child ends with
-- the value of the row that holds its key now
------------------------------------------------------------------------
CREATE TABLE ce_seat (id int, name text, CONSTRAINT ce_seat_pkey PRIMARY KEY (id) DEFERRABLE);
CREATE TABLE ce_guest (id int PRIMARY KEY, seat_id int, seat_name text);
INSERT INTO ce_seat VALUES (1, 'Ann'), (2, 'Bob');
SELECT denorm_create_copy('ce_guest', 'seat_name', 'ce_seat', 'name', 'seat_id') > 0 AS seat_copy;
INSERT INTO ce_guest VALUES (1, 1, NULL), (2, 2, NULL), (3, 3, NULL);
UPDATE ce_seat SET id = id + 1;
SELECT * FROM ce_guest ORDER BY id;
SELECT * FROM denorm_check_copies('ce_guest');

------------------------------------------------------------------------
-- A user BEFORE trigger that sets the foreign key: the copy follows it
------------------------------------------------------------------------
CREATE TABLE ce_mail (id int PRIMARY KEY, email text, cust_id int REFERENCES ce_cust, cust_name text);
INSERT INTO ce_cust VALUES (2, 'Bob');
CREATE FUNCTION ce_by_mail() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN NEW.cust_id := CASE NEW.email WHEN 'ann@x' THEN 1 WHEN 'bob@x' THEN 2 END; RETURN NEW; END$$;
CREATE TRIGGER a_by_mail BEFORE INSERT OR UPDATE ON ce_mail FOR EACH ROW EXECUTE FUNCTION ce_by_mail();
SELECT denorm_create_copy('ce_mail', 'cust_name', 'ce_cust', 'name', 'cust_id') > 0 AS mail_copy;
INSERT INTO ce_mail (id, email) VALUES (1, 'ann@x');
UPDATE ce_mail SET email = 'bob@x';
SELECT * FROM ce_mail;

------------------------------------------------------------------------
-- A snapshot stays with the same parent row: re-keyed by ON UPDATE
-- CASCADE, or a foreign key rewritten to an equal value
------------------------------------------------------------------------
CREATE TABLE ce_sku (sku text PRIMARY KEY, price numeric);
CREATE TABLE ce_line (id int PRIMARY KEY, sku text REFERENCES ce_sku ON UPDATE CASCADE, price_paid numeric);
CREATE TABLE ce_num (code numeric PRIMARY KEY, price numeric);
CREATE TABLE ce_numline (id int PRIMARY KEY, code numeric REFERENCES ce_num, price_paid numeric);
INSERT INTO ce_sku VALUES ('A-1', 10), ('B-1', 20);
INSERT INTO ce_num VALUES (1.0, 10), (2, 20);
SELECT denorm_create_copy('ce_line', 'price_paid', 'ce_sku', 'price', 'sku', mode => 'snapshot') > 0 AS line_copy,
       denorm_create_copy('ce_numline', 'price_paid', 'ce_num', 'price', 'code', mode => 'snapshot') > 0 AS num_copy;
INSERT INTO ce_line VALUES (1, 'A-1', NULL), (2, 'A-1', NULL);
INSERT INTO ce_numline VALUES (1, 1.0, NULL);
UPDATE ce_sku SET price = 99;
UPDATE ce_num SET price = 99;
UPDATE ce_sku SET sku = 'A-0001' WHERE sku = 'A-1';
UPDATE ce_numline SET code = 1.00;
-- a move to another parent takes a new snapshot
UPDATE ce_line SET sku = 'B-1' WHERE id = 2;
SELECT * FROM ce_line ORDER BY id;
SELECT * FROM ce_numline;

------------------------------------------------------------------------
-- A snapshot on a partitioned child stays with a row that moves between
-- partitions; a new row, and a move to another parent, take a new one
------------------------------------------------------------------------
CREATE TABLE ce_goods (id int PRIMARY KEY, price numeric);
CREATE TABLE ce_cart (id int, status text, goods_id int REFERENCES ce_goods, price_paid numeric,
                      PRIMARY KEY (id, status)) PARTITION BY LIST (status);
CREATE TABLE ce_cart_open PARTITION OF ce_cart FOR VALUES IN ('open');
CREATE TABLE ce_cart_done PARTITION OF ce_cart FOR VALUES IN ('done');
CREATE INDEX ON ce_cart (goods_id);
INSERT INTO ce_goods VALUES (1, 10), (2, 20);
SELECT denorm_create_copy('ce_cart', 'price_paid', 'ce_goods', 'price', 'goods_id',
                          mode => 'snapshot') > 0 AS cart_copy;
INSERT INTO ce_cart VALUES (1, 'open', 1, NULL), (2, 'open', 1, NULL), (3, 'open', 2, NULL);
UPDATE ce_goods SET price = price * 10;
-- two rows move; one of them also to another parent
UPDATE ce_cart SET status = 'done' WHERE id = 1;
UPDATE ce_cart SET status = 'done', goods_id = 2 WHERE id = 2;
-- a row deleted and a new one inserted are not a move
DELETE FROM ce_cart WHERE id = 3;
INSERT INTO ce_cart VALUES (3, 'done', 2, 20);
SELECT tableoid::regclass AS part, id, goods_id, price_paid FROM ce_cart ORDER BY id;

------------------------------------------------------------------------
-- A reconciler whom row security restricts on a copy's table is refused:
-- it would find drift that is not there, and heal it
------------------------------------------------------------------------
CREATE TABLE ce_rls_p (id int PRIMARY KEY, name text);
CREATE TABLE ce_rls_c (id int PRIMARY KEY, p_id int REFERENCES ce_rls_p, p_name text);
INSERT INTO ce_rls_p VALUES (1, 'Ann'), (2, 'Bob');
SELECT denorm_create_copy('ce_rls_c', 'p_name', 'ce_rls_p', 'name', 'p_id') AS rls_copy \gset
INSERT INTO ce_rls_c VALUES (1, 1, NULL), (2, 2, NULL);
ALTER TABLE ce_rls_p ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_ann ON ce_rls_p USING (name = 'Ann');
GRANT SELECT ON ce_rls_p, ce_rls_c TO regress_ce_admin;
GRANT UPDATE (p_name) ON ce_rls_c TO regress_ce_admin;
SET ROLE regress_ce_admin;
SELECT * FROM denorm_reconcile_copies(:rls_copy);
\echo :SQLSTATE
RESET ROLE;
SELECT id, p_name FROM ce_rls_c ORDER BY id;

------------------------------------------------------------------------
-- A role taken away: a session that read the copy checks its rights again
------------------------------------------------------------------------
CREATE ROLE regress_ce_readers;
SET ROLE regress_ce_alice;
CREATE TABLE ce_vip (id int PRIMARY KEY, name text);
INSERT INTO ce_vip VALUES (1, 'Bob');
GRANT SELECT ON ce_vip TO regress_ce_readers;
RESET ROLE;
GRANT regress_ce_readers TO regress_ce_mallory;
SET ROLE regress_ce_mallory;
CREATE TABLE ce_fans (id int PRIMARY KEY, vip_id int, vip_name text);
GRANT UPDATE (vip_name) ON ce_fans TO regress_ce_alice;
RESET ROLE;
SELECT denorm_create_copy('ce_fans', 'vip_name', 'ce_vip', 'name', 'vip_id') > 0 AS fans_copy;
SET ROLE regress_ce_mallory;
INSERT INTO ce_fans VALUES (1, 1, NULL);
RESET ROLE;
REVOKE regress_ce_readers FROM regress_ce_mallory;
SET ROLE regress_ce_mallory;
INSERT INTO ce_fans VALUES (2, 1, NULL);
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM ce_fans ORDER BY id;

------------------------------------------------------------------------
SELECT denorm_drop_copy(id) FROM denorm_copies WHERE id > 6900 AND id < 7000 ORDER BY id;
DROP TABLE ce_rls_c, ce_rls_p, ce_dom_c, ce_dom_p, ce_cart, ce_goods, ce_fans, ce_vip, ce_line, ce_sku, ce_numline, ce_num, ce_mail, ce_guest, ce_seat,
           ce_inh, ce_inh_2022, ce_gen, ce_uses, ce_codes, ce_dst, ce_src, ce_ord, ce_cust, ce_bills,
           ce_tenants, ce_notes, ce_people, ce_items, ce_products;
DROP FUNCTION ce_by_mail();
DROP COLLATION ce_ci;
DROP DOMAIN ce_name;
DROP SCHEMA ce_shop CASCADE;
DROP SCHEMA ce_shop_v1 CASCADE;
DROP ROLE regress_ce_readers;
REVOKE CREATE ON DATABASE :"DBNAME" FROM regress_ce_alice, regress_ce_mallory;
REVOKE CREATE ON SCHEMA public FROM regress_ce_alice, regress_ce_mallory;
DROP OWNED BY regress_ce_admin, regress_ce_alice, regress_ce_mallory;
DROP ROLE regress_ce_alice, regress_ce_mallory, regress_ce_admin;
DELETE FROM denorm_drift_log WHERE counter_id > 6900 AND counter_id < 7000;
DELETE FROM denorm_reconcile_checks WHERE counter_id > 6900 AND counter_id < 7000;
DELETE FROM denorm_reconcile_runs WHERE run_id > :saved_last_run OR (:'saved_run_called' = 'f' AND run_id >= :saved_last_run);
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') > 0 AS ids_restored,
       setval('denorm_reconcile_runs_run_id_seq', :saved_last_run, :'saved_run_called') > 0 AS run_ids_restored;
