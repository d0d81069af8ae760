-- Statements that change many child rows at once: INSERT ... SELECT,
-- multi-row UPDATE and DELETE, ON CONFLICT, MERGE, COPY, writable CTEs.
-- bulk_check shows totals of the stored values (which pin them) and how
-- many parents differ from a full recompute (must be 0).
-- (JIT off: compiling the check queries costs far more than running them.)
SET jit = off;
CREATE TABLE bulk_parent (
    id      int PRIMARY KEY,
    n       int NOT NULL DEFAULT 0,
    total   bigint NOT NULL DEFAULT 0,
    big     int NOT NULL DEFAULT 0
);
CREATE TABLE bulk_child (
    id          int PRIMARY KEY,
    parent_id   int,
    qty         int
);
INSERT INTO bulk_parent (id) SELECT g FROM generate_series(1, 200) g;

SELECT denorm_create_counter('bulk_parent', 'n', 'bulk_child', 'parent_id') AS n_id \gset
SELECT denorm_create_counter('bulk_parent', 'total', 'bulk_child', 'parent_id',
                             aggregate => 'sum', value_column => 'qty') AS total_id \gset
SELECT denorm_create_counter('bulk_parent', 'big', 'bulk_child', 'parent_id',
                             filter => 'qty >= 5') AS big_id \gset

CREATE VIEW bulk_recomputed AS
SELECT p.id, p.n, p.total, p.big,
       count(c.id) AS n_actual,
       coalesce(sum(c.qty), 0) AS total_actual,
       count(c.id) FILTER (WHERE c.qty >= 5) AS big_actual
  FROM bulk_parent p LEFT JOIN bulk_child c ON c.parent_id = p.id
 GROUP BY p.id;
CREATE VIEW bulk_check AS
SELECT (SELECT count(*) FROM bulk_child) AS children,
       sum(n) AS n, sum(total) AS total, sum(big) AS big,
       min(n) AS min_n, max(n) AS max_n,
       count(*) FILTER (WHERE n <> n_actual OR total <> total_actual
                           OR big <> big_actual) AS wrong
  FROM bulk_recomputed;

-- 5000 rows over 200 parents in one statement
INSERT INTO bulk_child SELECT g, g % 200 + 1, g % 7 FROM generate_series(1, 5000) g;
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id IN (1, 2, 200) ORDER BY id;

-- multi-row UPDATE moving a third of the rows to the next parent
UPDATE bulk_child SET parent_id = parent_id % 200 + 1 WHERE id % 3 = 0;
SELECT * FROM bulk_check;
-- multi-row UPDATE of values only, some crossing the filter
UPDATE bulk_child SET qty = qty * 2 WHERE parent_id <= 50;
SELECT * FROM bulk_check;
-- multi-row UPDATE of keys and values together, some keys to NULL
UPDATE bulk_child
   SET parent_id = CASE WHEN id % 11 = 0 THEN NULL ELSE 201 - parent_id END,
       qty = qty + 1
 WHERE id BETWEEN 1000 AND 2999;
SELECT * FROM bulk_check;

-- multi-row DELETE, and DELETE ... USING a join
DELETE FROM bulk_child WHERE id % 5 = 0;
SELECT * FROM bulk_check;
DELETE FROM bulk_child c USING bulk_parent p
 WHERE c.parent_id = p.id AND p.id BETWEEN 100 AND 109;
SELECT * FROM bulk_check;

-- INSERT ... ON CONFLICT DO NOTHING: only the new ids count
INSERT INTO bulk_child SELECT g, 1, 100 FROM generate_series(4990, 5010) g
ON CONFLICT (id) DO NOTHING;
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id = 1;

-- INSERT ... ON CONFLICT DO UPDATE moving existing rows to another parent
-- with another value, and inserting the rest
INSERT INTO bulk_child SELECT g, 2, 3 FROM generate_series(5001, 5030) g
ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id,
                               qty = bulk_child.qty + excluded.qty;
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id IN (1, 2) ORDER BY id;

-- MERGE with insert, update and delete branches in one statement
CREATE TABLE bulk_source (id int, parent_id int, qty int, op text);
INSERT INTO bulk_source
SELECT g, 3, 9, CASE WHEN g % 2 = 0 THEN 'delete' ELSE 'update' END
  FROM generate_series(5021, 5030) g
UNION ALL
SELECT g, 4, 6, 'insert' FROM generate_series(6001, 6010) g;
MERGE INTO bulk_child c
USING bulk_source s ON c.id = s.id
WHEN MATCHED AND s.op = 'delete' THEN DELETE
WHEN MATCHED THEN UPDATE SET parent_id = s.parent_id, qty = s.qty
WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.parent_id, s.qty);
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id IN (2, 3, 4) ORDER BY id;

-- COPY FROM STDIN fires the counters too
COPY bulk_child (id, parent_id, qty) FROM STDIN;
7001	5	10
7002	5	1
7003	\N	10
7004	999	10
7005	6	\N
\.
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id IN (5, 6) ORDER BY id;

-- writable CTEs that touch the child twice in one statement: move rows
-- by deleting and re-inserting them, and update some while inserting others
WITH moved AS (
    DELETE FROM bulk_child WHERE parent_id = 5 RETURNING id, qty
)
INSERT INTO bulk_child SELECT id + 10000, 7, qty FROM moved;
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id IN (5, 7) ORDER BY id;
WITH bumped AS (
    UPDATE bulk_child SET qty = qty + 100 WHERE parent_id = 7 RETURNING id
), added AS (
    INSERT INTO bulk_child SELECT id + 20000, 8, 1 FROM bumped RETURNING parent_id
)
DELETE FROM bulk_child WHERE parent_id = 8 AND id < 20000;
SELECT * FROM bulk_check;
SELECT id, n, total, big FROM bulk_parent WHERE id IN (7, 8) ORDER BY id;

-- one statement hitting a few parents many times: one parent UPDATE per
-- parent row, in ascending key order, none where the net change is zero
CREATE FUNCTION bulk_parent_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'bulk_parent %: n % -> %, total % -> %, big % -> %', new.id,
                 old.n, new.n, old.total, new.total, old.big, new.big;
    RETURN NULL;
END
$$;
CREATE TRIGGER bulk_parent_notice AFTER UPDATE ON bulk_parent
    FOR EACH ROW EXECUTE FUNCTION bulk_parent_notice();
INSERT INTO bulk_child
SELECT 40000 + g, (ARRAY[12, 10, 11])[g % 3 + 1], 1 FROM generate_series(1, 3000) g;
-- rows move between parents 10 and 11 both ways with equal values: no updates
UPDATE bulk_child SET parent_id = CASE parent_id WHEN 10 THEN 11 ELSE 10 END
 WHERE id > 40000 AND parent_id IN (10, 11);
-- and a no-op update of every row of parent 12
UPDATE bulk_child SET qty = qty WHERE parent_id = 12;
DROP TRIGGER bulk_parent_notice ON bulk_parent;
DROP FUNCTION bulk_parent_notice();
SELECT * FROM bulk_check;

-- everything deleted in one statement
DELETE FROM bulk_child;
SELECT * FROM bulk_check;

SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter(:total_id);
SELECT denorm_drop_counter(:big_id);
SELECT count(*) AS counters_left FROM denorm_counters WHERE parent = 'bulk_parent'::regclass;
DROP VIEW bulk_check, bulk_recomputed;
DROP TABLE bulk_child, bulk_parent, bulk_source;
