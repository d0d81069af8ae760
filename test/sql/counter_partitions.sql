-- Partitioned child tables: writes through the root and straight into
-- partitions, rows moving between partitions, TRUNCATE of one partition,
-- partitions created, attached, detached and dropped after the counter
-- exists; and a partitioned parent table.  part_check shows the stored
-- values of every parent and whether each equals a full recompute.
-- (JIT off: compiling the check query costs far more than running it.)
SET jit = off;
CREATE TABLE part_parent (
    id      int PRIMARY KEY,
    n       int NOT NULL DEFAULT 0,
    total   bigint NOT NULL DEFAULT 0,
    big     int NOT NULL DEFAULT 0,
    ranged  int NOT NULL DEFAULT 0
);
-- partitioned by a column that is not the foreign key
CREATE TABLE part_child (
    id          int,
    region      text NOT NULL,
    parent_id   int,
    qty         int
) PARTITION BY LIST (region);
CREATE TABLE part_child_eu PARTITION OF part_child FOR VALUES IN ('eu');
CREATE TABLE part_child_us PARTITION OF part_child FOR VALUES IN ('us');
-- partitioned by the foreign key itself
CREATE TABLE part_range (
    id          int,
    parent_id   int NOT NULL
) PARTITION BY RANGE (parent_id);
CREATE TABLE part_range_low PARTITION OF part_range FOR VALUES FROM (MINVALUE) TO (3);
CREATE TABLE part_range_high PARTITION OF part_range FOR VALUES FROM (3) TO (MAXVALUE);
INSERT INTO part_parent (id) VALUES (1), (2), (3), (4);
INSERT INTO part_child VALUES (1, 'eu', 1, 5), (2, 'us', 1, 20), (3, 'us', 2, 1);
INSERT INTO part_range VALUES (1, 1), (2, 3);

SELECT denorm_create_counter('part_parent', 'n', 'part_child', 'parent_id') AS n_id \gset
SELECT denorm_create_counter('part_parent', 'total', 'part_child', 'parent_id',
                             aggregate => 'sum', value_column => 'qty') AS total_id \gset
SELECT denorm_create_counter('part_parent', 'big', 'part_child', 'parent_id',
                             filter => 'qty >= 10') AS big_id \gset
SELECT denorm_create_counter('part_parent', 'ranged', 'part_range', 'parent_id') AS ranged_id \gset

CREATE VIEW part_check AS
SELECT p.id, p.n, p.total, p.big, p.ranged,
       p.n = (SELECT count(*) FROM part_child c WHERE c.parent_id = p.id)
       AND p.total = (SELECT coalesce(sum(c.qty), 0) FROM part_child c WHERE c.parent_id = p.id)
       AND p.big = (SELECT count(*) FROM part_child c WHERE c.parent_id = p.id AND c.qty >= 10)
       AND p.ranged = (SELECT count(*) FROM part_range r WHERE r.parent_id = p.id) AS ok
  FROM part_parent p
 ORDER BY p.id;
-- whether every partition carries the counters' triggers
CREATE VIEW part_triggers AS
SELECT s.child, s.triggers_ok, s.trigger_problems IS NULL AS no_problems
  FROM denorm_status s
 WHERE s.parent = 'part_parent'::regclass
 ORDER BY s.child::text, s.counter_column;

-- the backfill counted the rows of every partition
SELECT * FROM part_check;
SELECT * FROM part_triggers;

-- inserts through the root, to several partitions in one statement
INSERT INTO part_child VALUES (4, 'eu', 2, 10), (5, 'us', 3, 7), (6, 'eu', 3, 30);
INSERT INTO part_range VALUES (3, 2), (4, 4);
SELECT * FROM part_check;

-- inserts, updates and deletes straight on partitions
INSERT INTO part_child_us VALUES (7, 'us', 4, 11);
INSERT INTO part_range_high VALUES (5, 4);
UPDATE part_child_eu SET qty = qty + 1 WHERE id = 1;
DELETE FROM part_range_low WHERE id = 1;
SELECT * FROM part_check;
UPDATE part_child_us SET parent_id = 1 WHERE id = 7;
DELETE FROM part_child_eu WHERE id = 6;
SELECT * FROM part_check;

-- an UPDATE through the root that moves rows between partitions by
-- changing the partition key, together with key and value changes
UPDATE part_child SET region = 'us' WHERE id = 1;
SELECT * FROM part_check;
UPDATE part_child SET region = 'eu', parent_id = 4, qty = 12 WHERE id = 2;
SELECT * FROM part_check;
-- moving rows between partitions by changing the foreign key
UPDATE part_range SET parent_id = 4 WHERE id = 3;
UPDATE part_range SET parent_id = parent_id - 3 WHERE parent_id = 4;
SELECT * FROM part_check;

-- TRUNCATE of one partition: the counter is recomputed from the rest
TRUNCATE part_child_us;
SELECT * FROM part_check;
TRUNCATE part_range_low;
SELECT * FROM part_check;

-- a partition created after the counter exists gets the triggers and is
-- maintained through the root and directly
CREATE TABLE part_child_asia PARTITION OF part_child FOR VALUES IN ('asia');
SELECT * FROM part_triggers;
INSERT INTO part_child VALUES (10, 'asia', 1, 100), (11, 'asia', 2, 3);
INSERT INTO part_child_asia VALUES (12, 'asia', 2, 4);
UPDATE part_child_asia SET qty = 40 WHERE id = 12;
SELECT * FROM part_check;
-- a row moving into and out of the new partition
UPDATE part_child SET region = 'asia' WHERE id = 4;
UPDATE part_child SET region = 'us', parent_id = 3 WHERE id = 11;
SELECT * FROM part_check;
-- TRUNCATE of the new partition
TRUNCATE part_child_asia;
SELECT * FROM part_check;

-- a sub-partitioned partition created afterwards: every level is maintained
CREATE TABLE part_child_af PARTITION OF part_child FOR VALUES IN ('af')
    PARTITION BY RANGE (id);
CREATE TABLE part_child_af_1 PARTITION OF part_child_af FOR VALUES FROM (0) TO (100);
CREATE TABLE part_child_af_2 PARTITION OF part_child_af FOR VALUES FROM (100) TO (200);
SELECT * FROM part_triggers;
INSERT INTO part_child VALUES (20, 'af', 1, 10), (120, 'af', 2, 10);
INSERT INTO part_child_af VALUES (21, 'af', 3, 1);
INSERT INTO part_child_af_2 VALUES (121, 'af', 3, 2);
UPDATE part_child_af SET id = id + 100 WHERE id = 20;
SELECT * FROM part_check;
TRUNCATE part_child_af_1;
SELECT * FROM part_check;
TRUNCATE part_child_af;
SELECT * FROM part_check;

-- a partitioned table attached as a partition: its own partitions get
-- the triggers too; COPY through the root and straight into a leaf
CREATE TABLE part_child_oc (id int, region text NOT NULL, parent_id int, qty int)
    PARTITION BY RANGE (id);
CREATE TABLE part_child_oc_1 PARTITION OF part_child_oc FOR VALUES FROM (0) TO (1000);
ALTER TABLE part_child ATTACH PARTITION part_child_oc FOR VALUES IN ('oc');
SELECT * FROM part_triggers;
COPY part_child FROM STDIN;
60	oc	1	10
61	eu	2	1
\.
COPY part_child_oc_1 FROM STDIN;
62	oc	2	20
\.
SELECT * FROM part_check;
TRUNCATE part_child_oc_1;
SELECT * FROM part_check;
DELETE FROM part_child WHERE id = 61;
SELECT * FROM part_check;

-- a table attached as a partition after the counter exists, with rows
-- already in it and its columns in another physical order (one dropped):
-- its rows count from the attach on, and the filter reads its own layout
CREATE TABLE part_child_sa (qty int, junk text, parent_id int, region text NOT NULL, id int);
ALTER TABLE part_child_sa DROP COLUMN junk;
INSERT INTO part_child_sa (id, region, parent_id, qty) VALUES (30, 'sa', 1, 50), (31, 'sa', 2, 2);
ALTER TABLE part_child ATTACH PARTITION part_child_sa FOR VALUES IN ('sa');
SELECT * FROM part_triggers;
SELECT * FROM part_check;
INSERT INTO part_child VALUES (32, 'sa', 3, 15);
INSERT INTO part_child_sa (id, region, parent_id, qty) VALUES (33, 'sa', 3, 9);
UPDATE part_child_sa SET qty = qty + 1;
UPDATE part_child SET region = 'eu' WHERE id = 31;
SELECT * FROM part_check;
TRUNCATE part_child_sa;
SELECT * FROM part_check;

-- a detached partition's rows no longer belong to the child, and writes
-- to the detached table no longer count
INSERT INTO part_child VALUES (40, 'sa', 4, 10), (41, 'sa', 1, 1);
SELECT * FROM part_check;
ALTER TABLE part_child DETACH PARTITION part_child_sa;
SELECT * FROM part_check;
INSERT INTO part_child_sa (id, region, parent_id, qty) VALUES (42, 'sa', 4, 10);
DELETE FROM part_child_sa WHERE id = 40;
SELECT * FROM part_check;

-- dropping a partition removes its rows from the child (the TRUNCATE of
-- the root first starts every counter afresh from an empty child)
TRUNCATE part_child;
SELECT * FROM part_check;
INSERT INTO part_child VALUES (50, 'asia', 4, 10), (51, 'asia', 2, 5);
SELECT * FROM part_check;
DROP TABLE part_child_asia;
SELECT * FROM part_check;
SELECT * FROM part_triggers;

-- a partitioned parent table: the parent rows are found through its root
CREATE TABLE part_pparent (
    id      int PRIMARY KEY,
    n       int NOT NULL DEFAULT 0,
    total   bigint NOT NULL DEFAULT 0
) PARTITION BY RANGE (id);
CREATE TABLE part_pparent_1 PARTITION OF part_pparent FOR VALUES FROM (0) TO (10);
CREATE TABLE part_pparent_2 PARTITION OF part_pparent FOR VALUES FROM (10) TO (20);
CREATE TABLE part_pchild (id int PRIMARY KEY, parent_id int, qty int);
INSERT INTO part_pparent (id) VALUES (1), (2), (11), (12);
INSERT INTO part_pchild VALUES (1, 1, 5), (2, 11, 7);
SELECT denorm_create_counter('part_pparent', 'n', 'part_pchild', 'parent_id') AS pn_id \gset
SELECT denorm_create_counter('part_pparent', 'total', 'part_pchild', 'parent_id',
                             aggregate => 'sum', value_column => 'qty') AS ptotal_id \gset
CREATE VIEW part_pcheck AS
SELECT p.id, p.n, p.total,
       p.n = (SELECT count(*) FROM part_pchild c WHERE c.parent_id = p.id)
       AND p.total = (SELECT coalesce(sum(c.qty), 0) FROM part_pchild c
                       WHERE c.parent_id = p.id) AS ok
  FROM part_pparent p
 ORDER BY p.id;
SELECT * FROM part_pcheck;
INSERT INTO part_pchild VALUES (3, 2, 1), (4, 12, 2), (5, 12, 3);
UPDATE part_pchild SET parent_id = 2 WHERE id = 2;
DELETE FROM part_pchild WHERE id = 1;
SELECT * FROM part_pcheck;
TRUNCATE part_pchild;
SELECT * FROM part_pcheck;

SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter(:total_id);
SELECT denorm_drop_counter(:big_id);
SELECT denorm_drop_counter(:ranged_id);
SELECT denorm_drop_counter(:pn_id);
SELECT denorm_drop_counter(:ptotal_id);
SELECT count(*) AS counters_left FROM denorm_counters
 WHERE parent IN ('part_parent'::regclass, 'part_pparent'::regclass);
-- no denorm trigger is left behind on any of the tables, the detached
-- partition included
SELECT tgrelid::regclass AS rel, regexp_replace(tgname, '[0-9]+', 'N') AS trigger
  FROM pg_trigger
 WHERE tgrelid::regclass::text LIKE 'part\_%' AND tgname LIKE 'denorm\_%'
 ORDER BY 1, 2;
DROP VIEW part_check, part_triggers, part_pcheck;
DROP TABLE part_child, part_child_sa, part_range, part_parent, part_pchild, part_pparent;

------------------------------------------------------------------------
-- Partitions that go without being named: DROP SCHEMA ... CASCADE and
-- DROP OWNED take their rows off the counters, as DROP TABLE does
------------------------------------------------------------------------
CREATE ROLE regress_part_owner;
CREATE SCHEMA part_sch;
CREATE TABLE part_gparent (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0,
                           total bigint NOT NULL DEFAULT 0, top int);
CREATE TABLE part_gchild (id int, parent_id int REFERENCES part_gparent, k int, qty int)
    PARTITION BY LIST (k);
CREATE INDEX ON part_gchild (parent_id, id);
CREATE TABLE part_gchild_1 PARTITION OF part_gchild FOR VALUES IN (1);
CREATE TABLE part_sch.part_gchild_2 PARTITION OF part_gchild FOR VALUES IN (2);
CREATE TABLE part_gchild_3 PARTITION OF part_gchild FOR VALUES IN (3);
-- a sub-partitioned partition in the schema: counted once, with its own
CREATE TABLE part_sch.part_gchild_4 PARTITION OF part_gchild FOR VALUES IN (4)
    PARTITION BY RANGE (id);
CREATE TABLE part_gchild_4a PARTITION OF part_sch.part_gchild_4 FOR VALUES FROM (0) TO (1000);
ALTER TABLE part_gchild_3 OWNER TO regress_part_owner;
INSERT INTO part_gparent (id) VALUES (1), (2), (3);
SELECT denorm_create_counter('part_gparent', 'n', 'part_gchild', 'parent_id') AS gn_id \gset
SELECT denorm_create_counter('part_gparent', 'total', 'part_gchild', 'parent_id',
                             aggregate => 'sum', value_column => 'qty') AS gtotal_id \gset
SELECT denorm_create_counter('part_gparent', 'top', 'part_gchild', 'parent_id',
                             aggregate => 'max', value_column => 'id') AS gtop_id \gset
-- every partition holds rows of every parent, and each holds some maximum
INSERT INTO part_gchild
SELECT g, 1 + g % 3, 1 + (g / 3) % 4, g % 7 FROM generate_series(1, 120) g;
CREATE VIEW part_gcheck AS
SELECT p.id, p.n, p.total, p.top,
       p.n = (SELECT count(*) FROM part_gchild c WHERE c.parent_id = p.id)
       AND p.total = (SELECT coalesce(sum(c.qty), 0) FROM part_gchild c
                       WHERE c.parent_id = p.id)
       AND p.top IS NOT DISTINCT FROM (SELECT max(c.id) FROM part_gchild c
                                         WHERE c.parent_id = p.id) AS ok
  FROM part_gparent p
 ORDER BY p.id;
SELECT * FROM part_gcheck;
-- rolled back, the correction goes with the drop
BEGIN;
DROP SCHEMA part_sch CASCADE;
SELECT * FROM part_gcheck;
ROLLBACK;
SELECT * FROM part_gcheck;
-- without CASCADE the command fails and nothing moves
DROP SCHEMA part_sch;
SELECT * FROM part_gcheck;
DROP SCHEMA part_sch CASCADE;
SELECT * FROM part_gcheck;
SELECT count(*) AS partitions_left FROM pg_inherits WHERE inhparent = 'part_gchild'::regclass;
-- DROP OWNED BY the role that owns one partition
DROP OWNED BY regress_part_owner;
SELECT * FROM part_gcheck;
SELECT denorm_drop_counter(:gn_id);
SELECT denorm_drop_counter(:gtotal_id);
SELECT denorm_drop_counter(:gtop_id);
DROP VIEW part_gcheck;
DROP TABLE part_gchild, part_gparent;
DROP ROLE regress_part_owner;
