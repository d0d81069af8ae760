-- MIN and MAX counters over a partitioned child: rows moving between
-- partitions, TRUNCATE of one partition, of part of the tree and of all of
-- it, DROP, DETACH and ATTACH PARTITION.  mmp_wrong lists every stored
-- value that differs from a recompute over the children, so each check
-- below must return no rows.
SET jit = off;
-- counter ids of this file's own, so that its messages do not depend on the others
SELECT setval('denorm_counters_id_seq', 9900) AS pinned_counter_ids;

CREATE TABLE mmp_auctions (id int PRIMARY KEY,
                           top_bid int,
                           low_bid int,
                           first_tag text COLLATE "C",
                           bids int NOT NULL DEFAULT 0);
-- two levels: eu is itself partitioned by id
CREATE TABLE mmp_bids (id int, auction_id int, amount int, tag text COLLATE "C",
                       status text NOT NULL DEFAULT 'live', region text NOT NULL)
    PARTITION BY LIST (region);
CREATE TABLE mmp_bids_eu PARTITION OF mmp_bids FOR VALUES IN ('eu') PARTITION BY RANGE (id);
CREATE TABLE mmp_bids_eu1 PARTITION OF mmp_bids_eu FOR VALUES FROM (0) TO (100);
CREATE TABLE mmp_bids_eu2 PARTITION OF mmp_bids_eu FOR VALUES FROM (100) TO (1000);
CREATE TABLE mmp_bids_us PARTITION OF mmp_bids FOR VALUES IN ('us');
CREATE TABLE mmp_bids_asia PARTITION OF mmp_bids FOR VALUES IN ('asia');
CREATE INDEX ON mmp_bids (auction_id, amount);
CREATE INDEX ON mmp_bids (auction_id, tag);
INSERT INTO mmp_auctions (id) VALUES (1), (2), (3);
INSERT INTO mmp_bids VALUES (1, 1, 10, 'm', 'live', 'eu'),
                            (101, 1, 40, 'k', 'live', 'eu'),
                            (2, 1, 30, 'p', 'live', 'us'),
                            (3, 1, 20, 'q', 'live', 'asia'),
                            (4, 2, 5, 'c', 'live', 'us'),
                            (5, 2, 8, 'd', 'live', 'asia'),
                            (102, 2, 90, 'z', 'gone', 'eu');

CREATE VIEW mmp_wrong AS
SELECT a.id, a.top_bid, a.low_bid, a.first_tag, a.bids, t.*
  FROM mmp_auctions a,
       LATERAL (SELECT max(b.amount) FILTER (WHERE b.status = 'live') AS top_actual,
                       min(b.amount) AS low_actual,
                       min(b.tag) AS tag_actual,
                       count(*) AS bids_actual
                  FROM mmp_bids b WHERE b.auction_id = a.id) t
 WHERE a.top_bid IS DISTINCT FROM t.top_actual OR a.low_bid IS DISTINCT FROM t.low_actual
    OR a.first_tag IS DISTINCT FROM t.tag_actual OR a.bids <> t.bids_actual;

-- creation is no longer refused for a partitioned child; the backfill
-- reads every partition
SELECT denorm_create_counter('mmp_auctions', 'top_bid', 'mmp_bids', 'auction_id', 'max', 'amount',
                             filter => $$status = 'live'$$);
SELECT denorm_create_counter('mmp_auctions', 'low_bid', 'mmp_bids', 'auction_id', 'min', 'amount',
                             mode => 'commit');
SELECT denorm_create_counter('mmp_auctions', 'first_tag', 'mmp_bids', 'auction_id', 'min', 'tag');
SELECT denorm_create_counter('mmp_auctions', 'bids', 'mmp_bids', 'auction_id');
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- every table of the tree has the AFTER TRUNCATE trigger of min and max
SELECT tgrelid::regclass AS tbl, string_agg(tgname, ', ' ORDER BY tgname) AS triggers
  FROM pg_trigger WHERE tgname LIKE 'denorm%' AND tgrelid::regclass::text LIKE 'mmp_bids%'
 GROUP BY 1 ORDER BY tgrelid::regclass::text COLLATE "C";
SELECT counter_column, triggers_ok FROM denorm_status WHERE counter_id > 9900 ORDER BY counter_id;

-- rows moving between partitions are a delete and an insert: the top moves
-- from eu2 to us, a row moves between eu's partitions, the minimum leaves
-- its key
UPDATE mmp_bids SET region = 'us', id = 6 WHERE id = 101;
UPDATE mmp_bids SET id = 150 WHERE id = 1;
UPDATE mmp_bids SET auction_id = 3, region = 'asia' WHERE id = 4;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- a move that lowers the top on its way
UPDATE mmp_bids SET region = 'eu', id = 160, amount = 35 WHERE id = 6;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;

-- TRUNCATE of the one leaf that holds auction 1's top, minimum and first
-- tag: recomputed from the other partitions once its rows are gone
TRUNCATE mmp_bids_eu2;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- in mode 'commit' the minimum follows at commit; a rolled back savepoint's
-- TRUNCATE takes nothing
INSERT INTO mmp_bids VALUES (103, 1, 1, 'a', 'live', 'eu'), (104, 3, 2, 'b', 'live', 'eu');
BEGIN;
SAVEPOINT s;
TRUNCATE mmp_bids_eu2;
ROLLBACK TO SAVEPOINT s;
TRUNCATE mmp_bids_asia;
SELECT id, low_bid FROM mmp_auctions ORDER BY id;
COMMIT;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- two tables in one TRUNCATE: the keys of the first are recomputed when
-- the second's rows are gone too
INSERT INTO mmp_bids VALUES (7, 1, 70, 'b', 'live', 'asia'), (8, 2, 60, 'a', 'live', 'asia'),
                            (9, 3, 3, 'e', 'live', 'asia');
SELECT * FROM mmp_auctions ORDER BY id;
TRUNCATE mmp_bids_asia, mmp_bids_us;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- part of the tree: the eu table and both its partitions
INSERT INTO mmp_bids VALUES (10, 1, 15, 'x', 'live', 'us'), (11, 2, 25, 'y', 'live', 'us'),
                            (12, 1, 99, 'a', 'live', 'eu'), (105, 2, 1, 'b', 'live', 'eu');
SELECT * FROM mmp_auctions ORDER BY id;
TRUNCATE mmp_bids_eu;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- a leaf that holds no extreme: nothing to recompute, nothing changes
INSERT INTO mmp_bids VALUES (13, 1, 12, 'z', 'live', 'eu');
TRUNCATE mmp_bids_eu1;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;

-- DETACH PARTITION of the partition that holds the tops: the detached
-- table keeps its rows and loses its denorm triggers
INSERT INTO mmp_bids VALUES (14, 1, 80, 'a', 'live', 'asia'), (15, 2, 81, 'a', 'live', 'asia'),
                            (16, 3, 82, 'a', 'live', 'asia');
SELECT * FROM mmp_auctions ORDER BY id;
ALTER TABLE mmp_bids DETACH PARTITION mmp_bids_asia;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
SELECT count(*) AS denorm_triggers_left FROM pg_trigger
 WHERE tgrelid = 'mmp_bids_asia'::regclass AND tgname LIKE 'denorm%';
-- ATTACH PARTITION brings its extremes in as candidates
ALTER TABLE mmp_bids ATTACH PARTITION mmp_bids_asia FOR VALUES IN ('asia');
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- DROP of a partition
DROP TABLE mmp_bids_asia;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- a partitioned table attached with its own partition, then detached
CREATE TABLE mmp_bids_sa (LIKE mmp_bids) PARTITION BY RANGE (id);
CREATE TABLE mmp_bids_sa1 PARTITION OF mmp_bids_sa FOR VALUES FROM (0) TO (1000);
INSERT INTO mmp_bids_sa VALUES (17, 1, 95, '0', 'live', 'sa'), (18, 3, -1, 'b', 'gone', 'sa');
ALTER TABLE mmp_bids ATTACH PARTITION mmp_bids_sa FOR VALUES IN ('sa');
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
ALTER TABLE mmp_bids DETACH PARTITION mmp_bids_sa;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- DROP of the eu table takes its partitions with it
INSERT INTO mmp_bids VALUES (19, 1, 96, '1', 'live', 'eu'), (106, 2, 97, '2', 'live', 'eu');
SELECT * FROM mmp_auctions ORDER BY id;
DROP TABLE mmp_bids_eu;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- a DROP that fails (in a savepoint rolled back) takes nothing
CREATE TABLE mmp_bids_eu PARTITION OF mmp_bids FOR VALUES IN ('eu');
INSERT INTO mmp_bids VALUES (20, 1, 98, '3', 'live', 'eu');
CREATE VIEW mmp_eu_view AS SELECT * FROM mmp_bids_eu;
BEGIN;
SAVEPOINT s;
DROP TABLE mmp_bids_eu;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
DROP VIEW mmp_eu_view;
-- DETACH ... CONCURRENTLY stays refused
ALTER TABLE mmp_bids DETACH PARTITION mmp_bids_eu CONCURRENTLY;

-- TRUNCATE of the whole tree: every extreme is NULL
TRUNCATE mmp_bids;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;

-- without the AFTER TRUNCATE trigger, a TRUNCATE of a partition cannot
-- recompute: its transaction is refused rather than left wrong
INSERT INTO mmp_bids VALUES (21, 1, 50, 'a', 'live', 'eu'), (22, 1, 40, 'b', 'live', 'us');
DROP TRIGGER denorm_truncate_end ON mmp_bids_eu;
SELECT counter_column, triggers_ok FROM denorm_status WHERE counter_id > 9900 ORDER BY counter_id;
TRUNCATE mmp_bids_eu;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;
-- the DDL guard puts the trigger back when the tree changes
CREATE TABLE mmp_bids_au PARTITION OF mmp_bids FOR VALUES IN ('au');
SELECT counter_column, triggers_ok FROM denorm_status WHERE counter_id > 9900 ORDER BY counter_id;
TRUNCATE mmp_bids_eu;
SELECT * FROM mmp_auctions ORDER BY id;
SELECT * FROM mmp_wrong;

-- dropping the min and max counters takes the AFTER TRUNCATE triggers away;
-- the count keeps its own
SELECT denorm_drop_counter('mmp_auctions', 'top_bid');
SELECT denorm_drop_counter('mmp_auctions', 'low_bid');
SELECT count(*) AS truncate_end_triggers FROM pg_trigger WHERE tgname = 'denorm_truncate_end';
SELECT denorm_drop_counter('mmp_auctions', 'first_tag');
SELECT tgrelid::regclass AS tbl, string_agg(tgname, ', ' ORDER BY tgname) AS triggers
  FROM pg_trigger WHERE tgname LIKE 'denorm%' AND tgrelid::regclass::text LIKE 'mmp_bids%'
 GROUP BY 1 ORDER BY tgrelid::regclass::text COLLATE "C";

DROP VIEW mmp_wrong;
SELECT denorm_drop_counter('mmp_auctions', 'bids');
DROP TABLE mmp_bids, mmp_auctions, mmp_bids_sa;
