-- TRUNCATE removes rows without row triggers: the counter's TRUNCATE
-- trigger recomputes it from what remains.  trunc_check shows the stored
-- values of every parent and whether each equals a full recompute.
-- (JIT off: compiling the check queries costs far more than running them.)
SET jit = off;
CREATE TABLE trunc_owner (id int PRIMARY KEY);
CREATE TABLE trunc_parent (
    id      int PRIMARY KEY,
    n       int NOT NULL DEFAULT 0,
    total   numeric NOT NULL DEFAULT 0,
    paid    int NOT NULL DEFAULT 0
);
-- the child references both tables; TRUNCATE trunc_owner CASCADE reaches it
CREATE TABLE trunc_child (
    id          int PRIMARY KEY,
    parent_id   int REFERENCES trunc_parent,
    owner_id    int REFERENCES trunc_owner,
    amount      numeric,
    paid        boolean NOT NULL DEFAULT false
);
-- a second child of the same parent, not truncated in most steps
CREATE TABLE trunc_note (
    id          int PRIMARY KEY,
    parent_id   int REFERENCES trunc_parent
);
ALTER TABLE trunc_parent ADD COLUMN notes int NOT NULL DEFAULT 0;
INSERT INTO trunc_owner VALUES (1), (2);
INSERT INTO trunc_parent (id) VALUES (1), (2), (3);

SELECT denorm_create_counter('trunc_parent', 'n', 'trunc_child', 'parent_id') AS n_id \gset
SELECT denorm_create_counter('trunc_parent', 'total', 'trunc_child', 'parent_id',
                             aggregate => 'sum', value_column => 'amount') AS total_id \gset
SELECT denorm_create_counter('trunc_parent', 'paid', 'trunc_child', 'parent_id',
                             filter => 'paid') AS paid_id \gset
SELECT denorm_create_counter('trunc_parent', 'notes', 'trunc_note', 'parent_id') AS notes_id \gset

CREATE VIEW trunc_check AS
SELECT p.id, p.n, trim_scale(p.total) AS total, p.paid, p.notes,
       p.n = (SELECT count(*) FROM trunc_child c WHERE c.parent_id = p.id)
       AND p.total = (SELECT coalesce(sum(c.amount), 0) FROM trunc_child c
                       WHERE c.parent_id = p.id)
       AND p.paid = (SELECT count(*) FROM trunc_child c WHERE c.parent_id = p.id AND c.paid)
       AND p.notes = (SELECT count(*) FROM trunc_note t WHERE t.parent_id = p.id) AS ok
  FROM trunc_parent p
 ORDER BY p.id;

-- replaces the rows of both children with the same 30 + 10 rows
CREATE FUNCTION trunc_fill() RETURNS void LANGUAGE sql AS $$
    DELETE FROM trunc_child;
    DELETE FROM trunc_note;
    INSERT INTO trunc_child
    SELECT g, g % 3 + 1, g % 2 + 1, g * 1.5, g % 4 = 0 FROM generate_series(1, 30) g;
    INSERT INTO trunc_note SELECT g, g % 2 + 1 FROM generate_series(1, 10) g;
$$;
SELECT trunc_fill();
SELECT * FROM trunc_check;

-- TRUNCATE of the child resets its counters to 0; the other child's
-- counter keeps its values
TRUNCATE trunc_child;
SELECT * FROM trunc_check;

-- the counters work normally after the TRUNCATE
INSERT INTO trunc_child (id, parent_id, amount, paid) VALUES (100, 2, 2.25, true), (101, 2, 1, false);
SELECT * FROM trunc_check;

-- TRUNCATE inside a transaction that rolls back leaves the counters as they were
BEGIN;
TRUNCATE trunc_child;
SELECT * FROM trunc_check;
ROLLBACK;
SELECT * FROM trunc_check;

-- TRUNCATE rolled back to a savepoint, then more changes that commit
BEGIN;
SAVEPOINT s;
TRUNCATE trunc_child, trunc_note;
SELECT * FROM trunc_check;
ROLLBACK TO SAVEPOINT s;
INSERT INTO trunc_child (id, parent_id, amount, paid) VALUES (102, 3, 10, true);
COMMIT;
SELECT * FROM trunc_check;

-- TRUNCATE followed by inserts in the same transaction
BEGIN;
TRUNCATE trunc_child;
INSERT INTO trunc_child (id, parent_id, amount, paid) VALUES (200, 1, 5, true);
COMMIT;
SELECT * FROM trunc_check;

-- TRUNCATE ... CASCADE from a table the child references: the child is
-- emptied along with it and its counters go to 0
SELECT trunc_fill();
SELECT * FROM trunc_check;
TRUNCATE trunc_owner CASCADE;
SELECT * FROM trunc_check;
SELECT count(*) AS children FROM trunc_child;

-- TRUNCATE ... CASCADE of the parent empties it and both children; new
-- parents start from their defaults and count again
INSERT INTO trunc_owner VALUES (1), (2);
SELECT trunc_fill();
TRUNCATE trunc_parent CASCADE;
SELECT count(*) AS children FROM trunc_child;
SELECT count(*) AS notes FROM trunc_note;
INSERT INTO trunc_parent (id) VALUES (1), (2), (3);
INSERT INTO trunc_child (id, parent_id, amount, paid) VALUES (300, 3, 7, true);
SELECT * FROM trunc_check;

-- TRUNCATE ... CASCADE of the parent, rolled back
SELECT trunc_fill();
SELECT * FROM trunc_check;
BEGIN;
TRUNCATE trunc_parent CASCADE;
ROLLBACK;
SELECT * FROM trunc_check;

SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter(:total_id);
SELECT denorm_drop_counter(:paid_id);
SELECT denorm_drop_counter(:notes_id);
SELECT count(*) AS counters_left FROM denorm_counters WHERE parent = 'trunc_parent'::regclass;
DROP VIEW trunc_check;
DROP FUNCTION trunc_fill();
DROP TABLE trunc_child, trunc_note, trunc_parent, trunc_owner;

-- A partition named before its root in one TRUNCATE has fired its own
-- correction before the root set the counter to 0: a later TRUNCATE of it
-- in the same transaction must correct again
CREATE TABLE trn_par (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE trn_ch (id int, pid int REFERENCES trn_par, k int) PARTITION BY RANGE (k);
CREATE TABLE trn_ch1 PARTITION OF trn_ch FOR VALUES FROM (0) TO (10);
CREATE TABLE trn_ch2 PARTITION OF trn_ch FOR VALUES FROM (10) TO (20);
INSERT INTO trn_par VALUES (1);
SELECT denorm_create_counter('trn_par', 'n', 'trn_ch', 'pid') > 0 AS created;
INSERT INTO trn_ch SELECT g, 1, g % 20 FROM generate_series(1, 40) g;
BEGIN;
TRUNCATE trn_ch1, trn_ch;
SELECT n, (SELECT count(*) FROM trn_ch) AS actual FROM trn_par;
INSERT INTO trn_ch SELECT g, 1, g % 20 FROM generate_series(1, 40) g;
TRUNCATE trn_ch1;
SELECT n, (SELECT count(*) FROM trn_ch) AS actual FROM trn_par;
-- and a TRUNCATE run by a function, twice in one statement
CREATE FUNCTION trn_twice() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE trn_ch2, trn_ch;
    INSERT INTO trn_ch SELECT g, 1, g % 20 FROM generate_series(1, 40) g;
    TRUNCATE trn_ch2;
END
$$;
SELECT trn_twice();
SELECT n, (SELECT count(*) FROM trn_ch) AS actual FROM trn_par;
COMMIT;
SELECT n, (SELECT count(*) FROM trn_ch) AS actual FROM trn_par;
DROP FUNCTION trn_twice();
SET client_min_messages = error;
DROP TABLE trn_ch, trn_par;
RESET client_min_messages;
