-- Parent rows that appear after their children.  Without a foreign key
-- children may reference a key whose parent row does not exist yet, or no
-- longer exists; a parent row that takes the key (INSERT, or UPDATE of its
-- key) starts with what those children add up to, in every mode, whatever
-- happened to the children while the row was absent.
SET client_min_messages = warning;

CREATE TABLE orph_p (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, s numeric NOT NULL DEFAULT 0);
CREATE TABLE orph_c (id serial, pid int, k int NOT NULL, v numeric NOT NULL DEFAULT 1)
    PARTITION BY LIST (k);
CREATE TABLE orph_c0 PARTITION OF orph_c FOR VALUES IN (0);
CREATE TABLE orph_c1 PARTITION OF orph_c FOR VALUES IN (1);
CREATE INDEX ON orph_c (pid);

-- stored (with pending deltas) next to the children's count and sum
CREATE VIEW orph_state AS
SELECT p.id, p.n + coalesce(q.n, 0) AS n, t.n AS n_true, p.s + coalesce(q.s, 0) AS s, t.s AS s_true,
       p.n + coalesce(q.n, 0) = t.n AND p.s + coalesce(q.s, 0) = t.s AS ok
  FROM orph_p p
  CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(c.v), 0) AS s FROM orph_c c WHERE c.pid = p.id) t
  LEFT JOIN LATERAL (SELECT sum(d.delta) FILTER (WHERE k.counter_column = 'n') AS n,
                            sum(d.delta) FILTER (WHERE k.counter_column = 's') AS s
                       FROM denorm_pending d JOIN denorm_counters k ON k.id = d.counter_id
                      WHERE k.parent = 'orph_p'::regclass AND d.parent_key = p.id::text) q ON true;

-- the same sequences in each mode
CREATE PROCEDURE orph_mode(m text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM denorm_drop_counter(id) FROM denorm_counters WHERE parent = 'orph_p'::regclass;
    TRUNCATE orph_p, orph_c;
    PERFORM denorm_create_counter('orph_p', 'n', 'orph_c', 'pid', mode => m);
    PERFORM denorm_create_counter('orph_p', 's', 'orph_c', 'pid', aggregate => 'sum',
                                  value_column => 'v', mode => m);
END
$$;

CREATE FUNCTION orph_show(m text) RETURNS TABLE (mode text, id int, n numeric, n_true bigint,
                                                 s numeric, s_true numeric, ok boolean)
LANGUAGE sql AS $$ SELECT m, * FROM orph_state ORDER BY id $$;

-- 1. The issue's sequence: children, parent deleted, one partition
--    truncated, parent back.
CALL orph_mode('immediate');
INSERT INTO orph_p VALUES (3);
INSERT INTO orph_c (pid, k) VALUES (3, 0), (3, 0), (3, 1);
DELETE FROM orph_p WHERE id = 3;
TRUNCATE orph_c0;
INSERT INTO orph_p VALUES (3);
SELECT * FROM orph_show('immediate');

CALL orph_mode('commit');
INSERT INTO orph_p VALUES (3);
INSERT INTO orph_c (pid, k) VALUES (3, 0), (3, 0), (3, 1);
DELETE FROM orph_p WHERE id = 3;
TRUNCATE orph_c0;
INSERT INTO orph_p VALUES (3);
SELECT * FROM orph_show('commit');

CALL orph_mode('deferred');
INSERT INTO orph_p VALUES (3);
INSERT INTO orph_c (pid, k) VALUES (3, 0), (3, 0), (3, 1);
DELETE FROM orph_p WHERE id = 3;
TRUNCATE orph_c0;
INSERT INTO orph_p VALUES (3);
SELECT * FROM orph_show('deferred');
SELECT denorm_flush() > 0 AS flushed;
SELECT * FROM orph_show('deferred');

-- 2. Variants while the parent row is absent, in one transaction each:
--    children moved between partitions, MERGE, a partition detached and
--    attached again, an upsert; then the parent inserted with a wrong value
--    of its own (it is replaced by the children's), and a parent taking the
--    key by UPDATE.
CREATE PROCEDURE orph_variants(m text) LANGUAGE plpgsql AS $$
BEGIN
    CALL orph_mode(m);
    INSERT INTO orph_p VALUES (9);
    COMMIT;
    INSERT INTO orph_c (pid, k, v) VALUES (4, 0, 10), (4, 1, 20), (5, 0, 30), (6, 1, 40);
    UPDATE orph_c SET k = 1 - k WHERE pid = 4;
    MERGE INTO orph_c c USING (VALUES (5, 7), (6, 8)) AS x(pid, v) ON c.pid = x.pid
      WHEN MATCHED AND x.pid = 5 THEN UPDATE SET v = c.v + x.v
      WHEN MATCHED THEN DELETE;
    MERGE INTO orph_c c USING (VALUES (6, 50)) AS x(pid, v) ON c.pid = x.pid
      WHEN NOT MATCHED THEN INSERT (pid, k, v) VALUES (x.pid, 0, x.v);
    COMMIT;
    ALTER TABLE orph_c DETACH PARTITION orph_c1;
    INSERT INTO orph_c (pid, k, v) VALUES (4, 0, 1);
    ALTER TABLE orph_c ATTACH PARTITION orph_c1 FOR VALUES IN (1);
    COMMIT;
    INSERT INTO orph_p (id, n, s) VALUES (4, 99, 99), (5, -1, -1);
    UPDATE orph_p SET id = 6 WHERE id = 9;
    COMMIT;
END
$$;

CALL orph_variants('immediate');
SELECT * FROM orph_show('immediate');
CALL orph_variants('commit');
SELECT * FROM orph_show('commit');
CALL orph_variants('deferred');
SELECT * FROM orph_show('deferred');
SELECT denorm_flush() > 0 AS flushed;
SELECT * FROM orph_show('deferred');

-- 3. Within one transaction: children first, then their parent, in mode
--    'commit' whose deltas are still waiting for the commit, and in a
--    savepoint that rolls back.
CALL orph_mode('commit');
BEGIN;
INSERT INTO orph_c (pid, k) VALUES (7, 0), (7, 1);
INSERT INTO orph_p VALUES (7);
-- 0: the children's deltas, applied at commit, will add them
SELECT n, s FROM orph_p WHERE id = 7;
SAVEPOINT a;
INSERT INTO orph_c (pid, k) VALUES (7, 0);
ROLLBACK TO a;
COMMIT;
SELECT * FROM orph_show('commit');

-- 4. A deferred key without a parent row keeps one pending row, whatever
--    the number of its children's writes; its parent then starts from the
--    children and takes the pending sum at the next flush.
CALL orph_mode('deferred');
INSERT INTO orph_c (pid, k) SELECT 8, g % 2 FROM generate_series(1, 5) g;
INSERT INTO orph_c (pid, k) VALUES (8, 0);
INSERT INTO orph_c (pid, k) VALUES (8, 1);
SELECT denorm_flush() >= 0 AS flushed;
SELECT count(*) AS pending_rows, sum(delta) AS pending FROM denorm_pending d
  JOIN denorm_counters k ON k.id = d.counter_id
 WHERE k.parent = 'orph_p'::regclass AND k.counter_column = 'n' AND d.parent_key = '8';
INSERT INTO orph_p VALUES (8);
SELECT n FROM orph_p WHERE id = 8;
SELECT denorm_flush() > 0 AS flushed;
SELECT * FROM orph_show('deferred');

-- 5. With a foreign key nothing changes: the parent row has no children
--    when it is inserted, and children's deltas find it.
CREATE TABLE orph_fp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE orph_fc (id serial PRIMARY KEY, pid int REFERENCES orph_fp ON UPDATE CASCADE);
CREATE INDEX ON orph_fc (pid);
SELECT denorm_create_counter('orph_fp', 'n', 'orph_fc', 'pid') > 0 AS created;
INSERT INTO orph_fp VALUES (1, 5), (2, 0);
INSERT INTO orph_fc (pid) VALUES (1), (1), (2);
UPDATE orph_fp SET id = 3 WHERE id = 1;
SELECT p.id, p.n, (SELECT count(*) FROM orph_fc c WHERE c.pid = p.id) AS n_true FROM orph_fp p ORDER BY id;

DROP TABLE orph_fc, orph_fp;
DROP VIEW orph_state;
DROP FUNCTION orph_show;
DROP PROCEDURE orph_mode, orph_variants;
DROP TABLE orph_c, orph_p;
