-- Copied columns: every write path on both tables keeps a sync copy equal
-- to its parent's value (NULL without a parent) and a snapshot copy at the
-- value it was taken with.  denorm_check_copies() lists the rows that are
-- wrong, so an empty result after each step is the proof.
\set SHOW_CONTEXT never
-- messages below name copy ids: pin them, and put the sequence back at the end
SELECT last_value AS saved_last_id, is_called AS saved_id_called FROM denorm_counters_id_seq \gset
SELECT setval('denorm_counters_id_seq', 9500) AS pinned_ids;

CREATE TABLE cp_customers (id int PRIMARY KEY, full_name text, tier smallint);
CREATE TABLE cp_orders (id serial PRIMARY KEY,
                        customer_id int REFERENCES cp_customers ON DELETE SET NULL ON UPDATE CASCADE,
                        customer_name text, name_at_order text, tier bigint, note text);
CREATE INDEX ON cp_orders (customer_id);
INSERT INTO cp_customers VALUES (1, 'Ann', 1), (2, 'Bob', 2), (3, 'Cy', NULL);
-- rows that exist before the copies: a wrong value, a missing one, no parent
INSERT INTO cp_orders (customer_id, customer_name, name_at_order) VALUES
    (1, 'stale', 'Ann at the time'), (2, NULL, NULL), (NULL, 'orphan', NULL);

-- a sync copy (the default mode), a snapshot copy and a widening sync copy
SELECT denorm_create_copy('cp_orders', 'customer_name', 'cp_customers', 'full_name', 'customer_id');
SELECT denorm_create_copy('cp_orders', 'name_at_order', 'cp_customers', 'full_name', 'customer_id',
                          mode => 'snapshot');
SELECT denorm_create_copy('cp_orders', 'tier', 'cp_customers', 'tier', 'customer_id');
-- the fill: sync copies take the parent's value, NULL without one; the
-- snapshot keeps the value a row already had and fills the missing one
SELECT id, customer_id, customer_name, name_at_order, tier FROM cp_orders ORDER BY id;
SELECT * FROM denorm_check_copies();
SELECT copy_id, child, copy_column, parent, source_column, foreign_key, parent_key, mode,
       triggers_ok, fk_indexed FROM denorm_copy_status WHERE copy_id > 9500 ORDER BY copy_id;

CREATE VIEW cp_state AS
SELECT id, customer_id, customer_name, name_at_order, tier FROM cp_orders ORDER BY id;

-- INSERT: the value written into a copy column is replaced
INSERT INTO cp_orders (customer_id, customer_name, name_at_order, tier)
VALUES (1, 'forged', 'forged', 99), (NULL, 'forged', 'forged', 99);
-- INSERT ... SELECT and COPY
INSERT INTO cp_orders (customer_id) SELECT g % 3 + 1 FROM generate_series(1, 6) g;
COPY cp_orders (customer_id, customer_name, note) FROM stdin;
2	typed by hand	copy
3	\N	copy
\.
SELECT * FROM cp_state WHERE id > 3;
SELECT * FROM denorm_check_copies();

-- UPDATE of the copy column alone: the sync copy is set back from the
-- parent, the snapshot keeps what it was taken as
UPDATE cp_orders SET customer_name = 'edited', name_at_order = 'edited', tier = 7 WHERE id = 1;
SELECT * FROM cp_state WHERE id = 1;
-- UPDATE of another column leaves the copies alone
UPDATE cp_orders SET note = 'touched' WHERE id = 2;
-- UPDATE of the foreign key: both copies are taken from the new parent
UPDATE cp_orders SET customer_id = 2 WHERE id = 1;
UPDATE cp_orders SET customer_id = NULL WHERE id = 4;
SELECT * FROM cp_state WHERE id IN (1, 2, 4);
UPDATE cp_orders SET customer_id = 1 WHERE id = 4;
SELECT * FROM denorm_check_copies();

-- parent UPDATE of the source: every child follows (sync), snapshots stay
UPDATE cp_customers SET full_name = 'Bobby', tier = 3 WHERE id = 2;
SELECT * FROM cp_state WHERE customer_id = 2;
-- a parent UPDATE of another value, or to the same value, writes no child
UPDATE cp_customers SET full_name = 'Bobby' WHERE id = 2;
SELECT * FROM denorm_check_copies();
-- parent UPDATE of its key: ON UPDATE CASCADE moves the children, their
-- sync copies come from the row under its new key, and their snapshots stay
-- what they were taken as (the row they point at is the same row)
UPDATE cp_customers SET id = 20 WHERE id = 2;
SELECT * FROM cp_state WHERE customer_id = 20;
SELECT * FROM denorm_check_copies();
-- parent DELETE: ON DELETE SET NULL empties the foreign key, and the sync
-- copies with it; the snapshots keep the value they were taken with
-- (also when a user empties the foreign key)
DELETE FROM cp_customers WHERE id = 3;
SELECT * FROM cp_state WHERE id IN (7, 10, 13);
SELECT * FROM denorm_check_copies();

-- upsert: the INSERT and the DO UPDATE paths
CREATE UNIQUE INDEX cp_orders_note ON cp_orders (note) WHERE note LIKE 'u%';
INSERT INTO cp_orders (customer_id, note) VALUES (1, 'u1')
    ON CONFLICT (note) WHERE note LIKE 'u%' DO UPDATE SET customer_id = EXCLUDED.customer_id;
INSERT INTO cp_orders (customer_id, customer_name, note) VALUES (20, 'forged', 'u1')
    ON CONFLICT (note) WHERE note LIKE 'u%'
    DO UPDATE SET customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name;
SELECT customer_id, customer_name, name_at_order FROM cp_orders WHERE note = 'u1';
-- MERGE: update, insert and delete actions
MERGE INTO cp_orders o
USING (VALUES (1, 20), (100, 1)) AS s(id, customer_id) ON o.id = s.id
 WHEN MATCHED THEN UPDATE SET customer_id = s.customer_id, customer_name = 'merged'
 WHEN NOT MATCHED THEN INSERT (customer_id, customer_name) VALUES (s.customer_id, 'merged');
MERGE INTO cp_orders o USING (VALUES (2)) AS s(id) ON o.id = s.id WHEN MATCHED THEN DELETE;
SELECT * FROM denorm_check_copies();
-- DELETE of children changes nothing elsewhere
DELETE FROM cp_orders WHERE customer_id IS NULL;
SELECT * FROM denorm_check_copies();
-- a rolled-back savepoint takes its rename and fan-out back together
BEGIN;
SAVEPOINT a;
UPDATE cp_customers SET full_name = 'Nobody' WHERE id = 1;
ROLLBACK TO SAVEPOINT a;
SELECT DISTINCT customer_name FROM cp_orders WHERE customer_id = 1;
COMMIT;
-- a multi-row parent UPDATE: each row fans out to its own children
UPDATE cp_customers SET full_name = upper(full_name);
SELECT customer_id, customer_name, count(*) FROM cp_orders GROUP BY 1, 2 ORDER BY 1;
SELECT * FROM denorm_check_copies();

------------------------------------------------------------------------
-- Without a foreign key: a child of a key no parent row has holds NULL
-- until a row takes the key (INSERT, or UPDATE of its key), and NULL again
-- when the row leaves it
------------------------------------------------------------------------
CREATE TABLE cp_products (sku text PRIMARY KEY, name varchar(20), price numeric(8,2));
CREATE TABLE cp_items (id int PRIMARY KEY, sku varchar(12), product_name varchar(40),
                       price_paid numeric(10,2));
CREATE INDEX ON cp_items (sku);
SELECT denorm_create_copy('cp_items', 'product_name', 'cp_products', 'name', 'sku');
SELECT denorm_create_copy('cp_items', 'price_paid', 'cp_products', 'price', 'sku', 'snapshot');
INSERT INTO cp_items VALUES (1, 'A-1'), (2, 'B-2');
INSERT INTO cp_products VALUES ('A-1', 'apple', 1.50);
-- (the snapshot of a child written before its parent stays NULL: reconcile
-- reports it, below)
SELECT * FROM cp_items ORDER BY id;
SELECT copy_id, child_key, stored, actual FROM denorm_check_copies('cp_items');
UPDATE cp_products SET sku = 'B-2', price = 2.00 WHERE sku = 'A-1';
SELECT * FROM cp_items ORDER BY id;
INSERT INTO cp_items VALUES (3, 'B-2');
DELETE FROM cp_products;
SELECT * FROM cp_items ORDER BY id;
SELECT * FROM denorm_check_copies('cp_items');

------------------------------------------------------------------------
-- Partitioned children: the child trigger is cloned onto every partition,
-- including ones attached later, and a row moving between partitions is
-- set on its way in
------------------------------------------------------------------------
CREATE TABLE cp_events (id int, region text, customer_id int, customer_name text,
                        PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE cp_events_eu PARTITION OF cp_events FOR VALUES IN ('eu');
CREATE TABLE cp_events_us PARTITION OF cp_events FOR VALUES IN ('us');
CREATE INDEX ON cp_events (customer_id);
INSERT INTO cp_events VALUES (1, 'eu', 1), (2, 'us', 20);
SELECT denorm_create_copy('cp_events', 'customer_name', 'cp_customers', 'full_name', 'customer_id');
CREATE TABLE cp_events_ap (LIKE cp_events);
ALTER TABLE cp_events ATTACH PARTITION cp_events_ap FOR VALUES IN ('ap');
INSERT INTO cp_events VALUES (3, 'ap', 1, 'forged'), (4, 'eu', 20, NULL);
UPDATE cp_events SET region = 'us', customer_name = 'forged' WHERE id = 1;
UPDATE cp_customers SET full_name = 'Ann B.' WHERE id = 1;
SELECT tableoid::regclass AS part, * FROM cp_events ORDER BY id;
SELECT * FROM denorm_check_copies('cp_events');

------------------------------------------------------------------------
-- Drop: the triggers go, the column keeps its values
------------------------------------------------------------------------
SELECT denorm_drop_copy('cp_events', 'customer_name');
SELECT count(*) AS copy_triggers_left FROM pg_trigger
 WHERE tgfoid IN ('denorm_copy_child_trigger()'::regprocedure, 'denorm_copy_parent_trigger()'::regprocedure)
   AND tgrelid IN ('cp_events'::regclass, 'cp_events_eu'::regclass, 'cp_events_ap'::regclass);
UPDATE cp_customers SET full_name = 'Ann C.' WHERE id = 1;
SELECT id, customer_name FROM cp_events ORDER BY id;

DROP VIEW cp_state;
DROP TABLE cp_events, cp_items, cp_products, cp_orders, cp_customers;
SELECT count(*) AS copies_left FROM denorm_copies;
SELECT setval('denorm_counters_id_seq', :saved_last_id, :'saved_id_called') > 0 AS ids_restored;
