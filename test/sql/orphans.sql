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

-- 6. Children written by the statement that inserts their parent, or by
--    a trigger it fires, in each mode, with and without a foreign key; and
--    keys of types whose equal values print differently.
CREATE TABLE orph_sp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE orph_sc (id serial PRIMARY KEY, pid int);
CREATE INDEX ON orph_sc (pid);
CREATE TABLE orph_tree (id int PRIMARY KEY, up int, n int NOT NULL DEFAULT 0);
CREATE INDEX ON orph_tree (up);
CREATE FUNCTION orph_sp_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id >= 100 THEN
        INSERT INTO orph_sc (pid) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER orph_sp_child AFTER INSERT ON orph_sp FOR EACH ROW EXECUTE FUNCTION orph_sp_child();
CREATE PROCEDURE orph_same_statement(m text, fk boolean) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM denorm_drop_counter(id) FROM denorm_counters
      WHERE parent IN ('orph_sp'::regclass, 'orph_tree'::regclass);
    ALTER TABLE orph_sc DROP CONSTRAINT IF EXISTS orph_sc_pid_fkey;
    ALTER TABLE orph_tree DROP CONSTRAINT IF EXISTS orph_tree_up_fkey;
    TRUNCATE orph_sp, orph_sc, orph_tree;
    IF fk THEN
        ALTER TABLE orph_sc ADD FOREIGN KEY (pid) REFERENCES orph_sp;
        ALTER TABLE orph_tree ADD FOREIGN KEY (up) REFERENCES orph_tree;
    END IF;
    PERFORM denorm_create_counter('orph_sp', 'n', 'orph_sc', 'pid', mode => m);
    PERFORM denorm_create_counter('orph_tree', 'n', 'orph_tree', 'up', mode => m);
    COMMIT;
    WITH x AS (INSERT INTO orph_sp VALUES (1, 7) RETURNING id)
    INSERT INTO orph_sc (pid) SELECT id FROM x UNION ALL SELECT id FROM x;
    INSERT INTO orph_sp VALUES (100, 5);
    INSERT INTO orph_tree (id, up) VALUES (1, NULL), (2, 1), (3, 1), (4, 2);
    IF NOT fk THEN
        WITH x AS (INSERT INTO orph_sc (pid) VALUES (2), (2) RETURNING pid)
        INSERT INTO orph_sp SELECT DISTINCT pid, 2 FROM x;
        INSERT INTO orph_tree (id, up) VALUES (6, 5), (5, NULL);
    END IF;
    COMMIT;
    PERFORM denorm_flush();
END $$;
CREATE FUNCTION orph_same_show(m text, fk boolean) RETURNS TABLE (mode text, fk boolean, wrong bigint)
LANGUAGE sql AS $$
    SELECT m, fk, (SELECT count(*) FROM orph_sp p WHERE p.n <> (SELECT count(*) FROM orph_sc c WHERE c.pid = p.id))
                + (SELECT count(*) FROM orph_tree t WHERE t.n <> (SELECT count(*) FROM orph_tree r WHERE r.up = t.id))
$$;
CALL orph_same_statement('immediate', false);
SELECT * FROM orph_same_show('immediate', false);
CALL orph_same_statement('commit', false);
SELECT * FROM orph_same_show('commit', false);
CALL orph_same_statement('deferred', false);
SELECT * FROM orph_same_show('deferred', false);
CALL orph_same_statement('immediate', true);
SELECT * FROM orph_same_show('immediate', true);
CALL orph_same_statement('commit', true);
SELECT * FROM orph_same_show('commit', true);
CALL orph_same_statement('deferred', true);
SELECT * FROM orph_same_show('deferred', true);
SELECT count(*) AS parents FROM orph_sp;

CREATE TABLE orph_kc (id char(4) PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE orph_kcc (id serial, pid char(4));
CREATE TABLE orph_ki (id interval PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE orph_kic (id serial, pid interval);
CREATE TABLE orph_kf (id float4 PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE orph_kfc (id serial, pid float8);
CREATE INDEX ON orph_kcc (pid);
CREATE INDEX ON orph_kic (pid);
CREATE INDEX ON orph_kfc (pid);
SELECT denorm_create_counter('orph_kc', 'n', 'orph_kcc', 'pid') > 0 AS created;
SELECT denorm_create_counter('orph_ki', 'n', 'orph_kic', 'pid') > 0 AS created;
SELECT denorm_create_counter('orph_kf', 'n', 'orph_kfc', 'pid') > 0 AS created;
INSERT INTO orph_kcc (pid) VALUES ('a'), ('a '), ('bb');
INSERT INTO orph_kic (pid) VALUES ('24 hours'), ('1 day');
INSERT INTO orph_kfc (pid) VALUES (0.5), (0.5::float4);
INSERT INTO orph_kc VALUES ('a'), ('bb');
INSERT INTO orph_ki VALUES ('1 day');
INSERT INTO orph_kf VALUES (0.5);
SELECT 'char' AS key, p.id::text, p.n, (SELECT count(*) FROM orph_kcc c WHERE c.pid = p.id) AS n_true FROM orph_kc p
UNION ALL
SELECT 'interval', p.id::text, p.n, (SELECT count(*) FROM orph_kic c WHERE c.pid = p.id) FROM orph_ki p
UNION ALL
SELECT 'float', p.id::text, p.n, (SELECT count(*) FROM orph_kfc c WHERE c.pid = p.id) FROM orph_kf p
ORDER BY 1, 2;

DROP TABLE orph_kcc, orph_kc, orph_kic, orph_ki, orph_kfc, orph_kf;
DROP PROCEDURE orph_same_statement;
DROP FUNCTION orph_same_show;
DROP TABLE orph_sc, orph_sp, orph_tree;
DROP FUNCTION orph_sp_child;
DROP TABLE orph_fc, orph_fp;
DROP VIEW orph_state;
DROP FUNCTION orph_show;
DROP PROCEDURE orph_mode, orph_variants;
DROP TABLE orph_c, orph_p;
