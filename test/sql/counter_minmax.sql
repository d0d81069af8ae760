-- MIN and MAX counters: the highest bid, the first and last review time,
-- the alphabetically first tag, through every write path.  mm_wrong lists
-- every stored extreme that differs from a recompute over the children, so
-- each check below must return no rows.
SET jit = off;
-- counter ids of this file's own, so that its messages do not depend on the others
SELECT setval('denorm_counters_id_seq', 9800) AS pinned_counter_ids;

CREATE TABLE mm_auctions (id int PRIMARY KEY,
                          title text,
                          top_bid int,
                          low_bid int,
                          last_at timestamptz,
                          first_tag text COLLATE "C",
                          top_amount numeric(10,2),
                          bids int NOT NULL DEFAULT 0);
CREATE TABLE mm_bids (id int PRIMARY KEY,
                      auction_id int,
                      amount int,
                      price numeric(10,2),
                      at timestamptz,
                      tag text COLLATE "C",
                      status text NOT NULL DEFAULT 'live');
CREATE INDEX ON mm_bids (auction_id, amount);
CREATE INDEX ON mm_bids (auction_id, at);
CREATE INDEX ON mm_bids (auction_id, tag);
CREATE INDEX ON mm_bids (auction_id, price);
INSERT INTO mm_auctions (id) VALUES (1), (2), (3);
INSERT INTO mm_bids VALUES (1, 1, 10, 1.50, '2024-01-01 10:00+00', 'b'),
                           (2, 1, 20, 2.50, '2024-01-02 10:00+00', 'a'),
                           (3, 2, 5, 0.50, '2024-01-03 10:00+00', 'c');

CREATE VIEW mm_wrong AS
SELECT a.id, a.top_bid, a.low_bid, a.last_at, a.first_tag, a.top_amount, a.bids, t.*
  FROM mm_auctions a,
       LATERAL (SELECT max(b.amount) FILTER (WHERE b.status = 'live') AS top_actual,
                       min(b.amount) AS low_actual,
                       max(b.at) AS last_actual,
                       min(b.tag) AS tag_actual,
                       max(b.price) AS amount_actual,
                       count(*) AS bids_actual
                  FROM mm_bids b WHERE b.auction_id = a.id) t
 WHERE a.top_bid IS DISTINCT FROM t.top_actual OR a.low_bid IS DISTINCT FROM t.low_actual
    OR a.last_at IS DISTINCT FROM t.last_actual OR a.first_tag IS DISTINCT FROM t.tag_actual
    OR a.top_amount IS DISTINCT FROM t.amount_actual OR a.bids <> t.bids_actual;

-- creation: the backfill computes each parent's extreme
SELECT denorm_create_counter('mm_auctions', 'top_bid', 'mm_bids', 'auction_id', 'max', 'amount',
                             filter => $$status = 'live'$$) AS top_id \gset
SELECT denorm_create_counter('mm_auctions', 'low_bid', 'mm_bids', 'auction_id', 'min', 'amount');
SELECT denorm_create_counter('mm_auctions', 'last_at', 'mm_bids', 'auction_id', 'max', 'at',
                             mode => 'commit');
SELECT denorm_create_counter('mm_auctions', 'first_tag', 'mm_bids', 'auction_id', 'min', 'tag');
SELECT denorm_create_counter('mm_auctions', 'top_amount', 'mm_bids', 'auction_id', 'max', 'price');
SELECT denorm_create_counter('mm_auctions', 'bids', 'mm_bids', 'auction_id');
SELECT id, top_bid, low_bid, last_at, first_tag, top_amount, bids FROM mm_auctions ORDER BY id;
SELECT * FROM mm_wrong;

-- single-row and multi-row inserts: a new extreme, and values that do not beat it
INSERT INTO mm_bids VALUES (4, 1, 30, 3.00, '2024-01-04 10:00+00', 'aa');
INSERT INTO mm_bids VALUES (5, 1, 15, 1.00, '2023-12-31 10:00+00', 'z'),
                           (6, 2, 50, 9.99, '2024-02-01 10:00+00', 'A'),
                           (7, 3, 1, 0.01, '2024-03-01 10:00+00', NULL);
SELECT id, top_bid, low_bid, first_tag, top_amount FROM mm_auctions ORDER BY id;
SELECT * FROM mm_wrong;

-- DELETE of the extreme: recomputed from the rest; of another: unchanged
DELETE FROM mm_bids WHERE id = 4;
SELECT id, top_bid FROM mm_auctions WHERE id = 1;
DELETE FROM mm_bids WHERE id = 5;
SELECT * FROM mm_wrong;
-- the last child of a key: NULL
DELETE FROM mm_bids WHERE id = 7;
SELECT id, top_bid, low_bid, last_at, first_tag, top_amount FROM mm_auctions WHERE id = 3;
SELECT * FROM mm_wrong;

-- UPDATE lowering a maximum, raising a minimum, raising a maximum, and
-- moving rows between parents (both sides change)
UPDATE mm_bids SET amount = 1 WHERE id = 2;
SELECT id, top_bid, low_bid FROM mm_auctions WHERE id = 1;
UPDATE mm_bids SET amount = 100 WHERE id = 1;
SELECT id, top_bid, low_bid FROM mm_auctions WHERE id = 1;
UPDATE mm_bids SET auction_id = 3 WHERE id = 1;
SELECT id, top_bid, low_bid FROM mm_auctions ORDER BY id;
SELECT * FROM mm_wrong;
UPDATE mm_bids SET amount = amount + 1;
SELECT * FROM mm_wrong;

-- NULL values count for nothing; a filter turning false then true again
UPDATE mm_bids SET amount = NULL WHERE id = 1;
SELECT id, top_bid, low_bid FROM mm_auctions WHERE id = 3;
UPDATE mm_bids SET amount = 7 WHERE id = 1;
UPDATE mm_bids SET status = 'withdrawn' WHERE id = 6;
SELECT id, top_bid, low_bid FROM mm_auctions WHERE id = 2;
UPDATE mm_bids SET status = 'live' WHERE id = 6;
SELECT id, top_bid FROM mm_auctions WHERE id = 2;
SELECT * FROM mm_wrong;

-- ON CONFLICT DO UPDATE, MERGE, COPY
INSERT INTO mm_bids VALUES (6, 2, 2, 0.02, '2020-01-01 00:00+00', 'x')
    ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, price = excluded.price;
SELECT id, top_bid, low_bid, top_amount FROM mm_auctions WHERE id = 2;
SELECT * FROM mm_wrong;
MERGE INTO mm_bids b
USING (VALUES (3, 2, 70), (8, 2, 60), (9, 1, 0)) v(id, auction_id, amount) ON b.id = v.id
WHEN MATCHED THEN DELETE
WHEN NOT MATCHED THEN INSERT (id, auction_id, amount, at, tag)
     VALUES (v.id, v.auction_id, v.amount, '2025-01-01 00:00+00', 'm');
SELECT id, top_bid, low_bid, last_at, first_tag FROM mm_auctions ORDER BY id;
SELECT * FROM mm_wrong;
COPY mm_bids (id, auction_id, amount, price, at, tag) FROM stdin;
10	1	500	5.00	2026-01-01 00:00+00	0
11	3	-5	\N	\N	\N
\.
SELECT id, top_bid, low_bid, last_at, first_tag FROM mm_auctions ORDER BY id;
SELECT * FROM mm_wrong;

-- savepoints rolled back: their values go with them (a removal and an insert)
BEGIN;
SAVEPOINT a;
DELETE FROM mm_bids WHERE id = 10;
INSERT INTO mm_bids VALUES (12, 1, 900, 9.00, '2027-01-01 00:00+00', '!');
ROLLBACK TO SAVEPOINT a;
SELECT id, top_bid, first_tag FROM mm_auctions WHERE id = 1;
SAVEPOINT b;
DELETE FROM mm_bids WHERE id = 10;
RELEASE SAVEPOINT b;
COMMIT;
SELECT * FROM mm_wrong;

-- mode 'commit': the column moves when the transaction commits; a rolled
-- back savepoint's values never arrive
BEGIN;
INSERT INTO mm_bids VALUES (13, 2, 3, 0.03, '2030-01-01 00:00+00', 'q');
SELECT id, last_at FROM mm_auctions WHERE id = 2;
SAVEPOINT c;
INSERT INTO mm_bids VALUES (14, 2, 3, 0.03, '2031-01-01 00:00+00', 'q');
ROLLBACK TO SAVEPOINT c;
DELETE FROM mm_bids WHERE id = 13;
INSERT INTO mm_bids VALUES (15, 2, 3, 0.03, '2029-06-01 00:00+00', 'q');
COMMIT;
SELECT id, last_at FROM mm_auctions WHERE id = 2;
SELECT * FROM mm_wrong;
-- denorm_apply() shows it before commit
BEGIN;
DELETE FROM mm_bids WHERE id = 15;
SELECT denorm_apply();
SELECT id, last_at FROM mm_auctions WHERE id = 2;
COMMIT;
SELECT * FROM mm_wrong;

-- text under its collation: "C" puts upper case first
INSERT INTO mm_bids VALUES (16, 3, 1, 0.01, '2024-01-01 00:00+00', 'Zebra'),
                           (17, 3, 1, 0.01, '2024-01-01 00:00+00', 'apple');
SELECT id, first_tag FROM mm_auctions WHERE id = 3;
DELETE FROM mm_bids WHERE id = 16;
SELECT id, first_tag FROM mm_auctions WHERE id = 3;
SELECT * FROM mm_wrong;

-- a parent row inserted after its children starts at their extreme (an
-- INSERT's own value replaced), and a parent key change takes the new key's
INSERT INTO mm_bids VALUES (18, 4, 40, 4.00, '2024-04-01 00:00+00', 'k'),
                           (19, 4, 44, 4.40, '2024-04-02 00:00+00', 'j'),
                           (20, 5, 55, 5.50, '2024-05-01 00:00+00', 'e');
INSERT INTO mm_auctions (id, top_bid) VALUES (4, 1000);
SELECT id, top_bid, low_bid, last_at, first_tag, top_amount, bids FROM mm_auctions WHERE id = 4;
UPDATE mm_auctions SET id = 5 WHERE id = 4;
SELECT id, top_bid, low_bid, last_at, first_tag, top_amount, bids FROM mm_auctions WHERE id = 5;
UPDATE mm_bids SET auction_id = 5 WHERE auction_id = 4;
SELECT * FROM mm_wrong;
-- a write to the column itself is ignored by its guard
UPDATE mm_auctions SET top_bid = -1, title = 'renamed' WHERE id = 5;
SELECT id, title, top_bid FROM mm_auctions WHERE id = 5;

-- a write that touches many parents at once (row by row for min/max)
INSERT INTO mm_auctions (id) SELECT g FROM generate_series(100, 119) g;
INSERT INTO mm_bids (id, auction_id, amount, price, at, tag)
SELECT 1000 + g, 100 + g % 20, g, g / 10.0, '2024-01-01 00:00+00'::timestamptz + g * interval '1 hour', 't' || g
  FROM generate_series(1, 200) g;
DELETE FROM mm_bids WHERE id > 1000 AND id % 3 = 0;
UPDATE mm_bids SET amount = amount * 2 WHERE id > 1000 AND id % 5 = 0;
SELECT * FROM mm_wrong;

-- reconcile: drift planted behind the guard is found, logged and healed;
-- a timestamp is logged as text, an integer as a number too
SET denorm.counter_writes = 'allow';
UPDATE mm_auctions SET top_bid = 7, last_at = '1999-01-01 00:00+00', first_tag = NULL WHERE id = 1;
RESET denorm.counter_writes;
-- (terse: the alerts' DETAIL names run ids, which depend on the tests before)
\set VERBOSITY terse
SELECT counter_column, rows_checked, rows_drifted, rows_healed, status
  FROM denorm_reconcile(heal => false) WHERE counter_column IN ('top_bid', 'last_at', 'first_tag', 'low_bid')
 ORDER BY counter_column;
SELECT counter_column, parent_key, stored_value, actual_value, drift, stored_text, actual_text, healed
  FROM denorm_drift_log WHERE counter_id >= 9800 ORDER BY log_id;
SELECT counter_column, rows_drifted, rows_healed, status
  FROM denorm_reconcile() WHERE rows_drifted > 0 ORDER BY counter_column;
\set VERBOSITY default
SELECT * FROM mm_wrong;

-- an UPDATE that changes nothing a min or max reads (key, value, filter)
-- leaves its parent alone: a value planted behind the guard, below the
-- children's maximum, stays, where the row's value leaving (at least as
-- high as the stored one) and coming back would have had it recomputed
SET denorm.counter_writes = 'allow';
UPDATE mm_auctions SET top_amount = 1.00 WHERE id = 1;
RESET denorm.counter_writes;
UPDATE mm_bids SET status = status WHERE auction_id = 1;
SELECT top_amount AS still_planted FROM mm_auctions WHERE id = 1;
UPDATE mm_bids SET price = price + 0 WHERE auction_id = 1;
SELECT top_amount AS same_binary_value_still_planted FROM mm_auctions WHERE id = 1;
SET denorm.counter_writes = 'allow';
UPDATE mm_auctions SET top_amount = (SELECT max(price) FROM mm_bids WHERE auction_id = 1) WHERE id = 1;
RESET denorm.counter_writes;
SELECT * FROM mm_wrong;

-- TRUNCATE: every extreme is NULL
TRUNCATE mm_bids;
SELECT id, top_bid, low_bid, last_at, first_tag, top_amount, bids FROM mm_auctions WHERE id < 10 ORDER BY id;
SELECT * FROM mm_wrong;

-- what creation refuses
CREATE TABLE mm_other (id int PRIMARY KEY, hi bigint, label varchar(3), flag boolean, doc json);
CREATE TABLE mm_docs (id int PRIMARY KEY, auction_id int, doc json);
SELECT denorm_create_counter('mm_other', 'hi', 'mm_bids', 'auction_id', 'max', 'amount');
SELECT denorm_create_counter('mm_other', 'label', 'mm_bids', 'auction_id', 'min', 'tag');
SELECT denorm_create_counter('mm_other', 'flag', 'mm_bids', 'auction_id', 'max', 'status');
SELECT denorm_create_counter('mm_other', 'doc', 'mm_docs', 'auction_id', 'max', 'doc');
SELECT denorm_create_counter('mm_auctions', 'top_bid', 'mm_bids', 'auction_id', 'max');
DO $$ BEGIN PERFORM denorm_drop_counter('mm_auctions', 'low_bid'); END $$;
SELECT denorm_create_counter('mm_auctions', 'low_bid', 'mm_bids', 'auction_id', 'min', 'amount',
                             mode => 'deferred');
-- denorm_value and denorm_values read sums of deltas: a minimum or maximum
-- is read from its column
SELECT denorm_value(:top_id, 1);
SELECT * FROM denorm_values(:top_id, ARRAY[1, 2]);
-- creation warns without an index on (foreign key, value)
DROP INDEX mm_bids_auction_id_amount_idx;
SELECT denorm_create_counter('mm_auctions', 'low_bid', 'mm_bids', 'auction_id', 'min', 'amount') > 0 AS created;
-- the DDL guard keeps the types in line
DROP VIEW mm_wrong;
ALTER TABLE mm_bids ALTER COLUMN amount TYPE bigint;
ALTER TABLE mm_bids ALTER COLUMN at TYPE timestamp;

DROP TABLE mm_bids, mm_auctions, mm_other, mm_docs;
