-- A counter declared on one partition: rows routed to it through the
-- partitioned root (COPY and INSERT) are counted, although the statement
-- trigger that applies deltas fires only for the table a statement names.
\set SHOW_CONTEXT never
-- the closing NOTICE names the counter id: pin it whatever ran before
SELECT setval('denorm_counters_id_seq', 8600) AS pinned_counter_ids;
CREATE TABLE cpr_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE cpr_root (id int, pid int, r int) PARTITION BY RANGE (r);
CREATE TABLE cpr_low PARTITION OF cpr_root FOR VALUES FROM (0) TO (10);
CREATE TABLE cpr_high PARTITION OF cpr_root FOR VALUES FROM (10) TO (20);
INSERT INTO cpr_parent VALUES (1), (2);
SELECT denorm_create_counter('cpr_parent', 'n', 'cpr_low', 'pid') > 0 AS created;
COPY cpr_root (id, pid, r) FROM stdin;
1	1	1
2	1	15
3	2	2
4	2	3
\.
SELECT id, n, n = (SELECT count(*) FROM cpr_low WHERE pid = p.id) AS ok FROM cpr_parent p ORDER BY id;
INSERT INTO cpr_root VALUES (5, 1, 4), (6, 1, 14);
BEGIN;
COPY cpr_root (id, pid, r) FROM stdin;
7	2	5
\.
UPDATE cpr_root SET r = 12 WHERE id = 3;
COMMIT;
SELECT id, n, n = (SELECT count(*) FROM cpr_low WHERE pid = p.id) AS ok FROM cpr_parent p ORDER BY id;
DROP TABLE cpr_root, cpr_parent;
SELECT count(*) AS counters_left FROM denorm_counters;
