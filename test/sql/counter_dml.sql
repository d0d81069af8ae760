-- Row-by-row semantics of INSERT, UPDATE and DELETE on a counted child:
-- which parent gains and loses what, for counts, sums and filtered
-- counters, with NULLs, missing parents and cascaded deletes.
-- dml_check shows the stored values of every parent and whether each
-- equals a full recompute from the child table.
-- (JIT off: compiling the check queries costs far more than running them.)
-- Drift is made here by writing counter columns by hand, which the guard
-- of counter columns would otherwise ignore.
SET denorm.counter_writes = 'allow';
SET jit = off;
CREATE TABLE dml_parent (
    id          int PRIMARY KEY,
    n           int DEFAULT 0,
    total       bigint DEFAULT 0,
    confirmed   int DEFAULT 0,
    seats       int DEFAULT 0
);
-- no foreign key constraint: rows may point at parents that do not exist
CREATE TABLE dml_child (
    id          int PRIMARY KEY,
    parent_id   int,
    amount      int,
    status      text NOT NULL DEFAULT 'pending'
);
INSERT INTO dml_parent (id) VALUES (1), (2), (3), (4);

SELECT denorm_create_counter('dml_parent', 'n', 'dml_child', 'parent_id') AS n_id \gset
SELECT denorm_create_counter('dml_parent', 'total', 'dml_child', 'parent_id',
                             aggregate => 'sum', value_column => 'amount') AS total_id \gset
SELECT denorm_create_counter('dml_parent', 'confirmed', 'dml_child', 'parent_id',
                             filter => $$status = 'confirmed'$$) AS confirmed_id \gset
SELECT denorm_create_counter('dml_parent', 'seats', 'dml_child', 'parent_id',
                             aggregate => 'sum', value_column => 'amount',
                             filter => $$status = 'confirmed'$$) AS seats_id \gset

CREATE VIEW dml_check AS
SELECT p.id, p.n, p.total, p.confirmed, p.seats,
       p.n IS NOT DISTINCT FROM r.n
       AND p.total IS NOT DISTINCT FROM r.total
       AND p.confirmed IS NOT DISTINCT FROM r.confirmed
       AND p.seats IS NOT DISTINCT FROM r.seats AS ok
  FROM dml_parent p
 CROSS JOIN LATERAL (
       SELECT count(*) AS n,
              coalesce(sum(c.amount), 0) AS total,
              count(*) FILTER (WHERE c.status = 'confirmed') AS confirmed,
              coalesce(sum(c.amount) FILTER (WHERE c.status = 'confirmed'), 0) AS seats
         FROM dml_child c WHERE c.parent_id = p.id) r
 ORDER BY p.id;

-- empty child: the backfill leaves every counter at 0
SELECT * FROM dml_check;

-- INSERT: +1 and +amount on the row's parent
INSERT INTO dml_child VALUES (1, 1, 10, 'pending');
INSERT INTO dml_child VALUES (2, 1, 20, 'confirmed'), (3, 2, 5, 'confirmed');
SELECT * FROM dml_check;

-- DELETE: -1 and -amount
DELETE FROM dml_child WHERE id = 1;
SELECT * FROM dml_check;

-- UPDATE moving the foreign key: the old parent loses the row, the new one gains it
UPDATE dml_child SET parent_id = 3 WHERE id = 2;
SELECT * FROM dml_check;

-- UPDATE of the summed value: the sum gets the difference, the counts stay
UPDATE dml_child SET amount = 8 WHERE id = 3;
SELECT * FROM dml_check;

-- UPDATE of an unrelated column: nothing changes
UPDATE dml_child SET status = status WHERE id IN (2, 3);
SELECT * FROM dml_check;

-- the filter turning false, then true again
UPDATE dml_child SET status = 'cancelled' WHERE id = 3;
SELECT * FROM dml_check;
UPDATE dml_child SET status = 'confirmed' WHERE id = 3;
SELECT * FROM dml_check;

-- one UPDATE that changes key, value and filter of two rows at once:
-- row 3 leaves parent 2 as a confirmed 8 and arrives at parent 4 as a
-- pending 30; row 4 leaves parent 4 as a pending 1 and arrives at parent 1
-- as a confirmed 2
INSERT INTO dml_child VALUES (4, 4, 1, 'pending');
SELECT * FROM dml_check;
UPDATE dml_child
   SET parent_id = CASE id WHEN 3 THEN 4 ELSE 1 END,
       amount    = CASE id WHEN 3 THEN 30 ELSE 2 END,
       status    = CASE id WHEN 3 THEN 'pending' ELSE 'confirmed' END
 WHERE id IN (3, 4);
SELECT * FROM dml_check;

-- NULL foreign key: no parent, no change
INSERT INTO dml_child VALUES (5, NULL, 100, 'confirmed');
SELECT * FROM dml_check;

-- foreign key from NULL to a parent: the row starts to count
UPDATE dml_child SET parent_id = 2 WHERE id = 5;
SELECT * FROM dml_check;

-- and back to NULL: it stops counting
UPDATE dml_child SET parent_id = NULL WHERE id = 5;
SELECT * FROM dml_check;
DELETE FROM dml_child WHERE id = 5;
SELECT * FROM dml_check;

-- NULL summed value: counted, adds nothing to the sums
INSERT INTO dml_child VALUES (6, 2, NULL, 'confirmed');
SELECT * FROM dml_check;
-- the value becomes known, then NULL again
UPDATE dml_child SET amount = 7 WHERE id = 6;
SELECT * FROM dml_check;
UPDATE dml_child SET amount = NULL WHERE id = 6;
SELECT * FROM dml_check;
DELETE FROM dml_child WHERE id = 6;
SELECT * FROM dml_check;

-- a parent row that does not exist: no error, no parent changes
INSERT INTO dml_child VALUES (7, 99, 50, 'confirmed');
UPDATE dml_child SET amount = 51 WHERE id = 7;
SELECT * FROM dml_check;
-- moving the row from the missing parent to a real one counts it there only
UPDATE dml_child SET parent_id = 3 WHERE id = 7;
SELECT * FROM dml_check;
-- and moving it away to a missing parent takes it off
UPDATE dml_child SET parent_id = 98 WHERE id = 7;
SELECT * FROM dml_check;
DELETE FROM dml_child WHERE id = 7;
SELECT * FROM dml_check;

-- a counter column that is NULL on a parent counts as 0 when a delta
-- arrives; until then it stays NULL (the check shows it as not ok).
-- Parent 2 has no children, so 0 is its true value.
UPDATE dml_parent SET n = NULL, total = NULL WHERE id = 2;
SELECT * FROM dml_check WHERE id = 2;
INSERT INTO dml_child VALUES (8, 2, 3, 'pending');
SELECT * FROM dml_check;
-- a parent inserted with NULL counters starts from its children: 0 each
INSERT INTO dml_parent (id, n, total, confirmed, seats) VALUES (5, NULL, NULL, NULL, NULL);
SELECT * FROM dml_parent WHERE id = 5;
-- a pending child adds to the columns it counts in; the filtered ones
-- stay 0
INSERT INTO dml_child VALUES (9, 5, 4, 'pending');
SELECT * FROM dml_check WHERE id = 5;
-- until the child is confirmed
UPDATE dml_child SET status = 'confirmed' WHERE id = 9;
SELECT * FROM dml_check;

-- deleting every child brings the counters back to 0
DELETE FROM dml_child;
SELECT * FROM dml_check;

-- ON DELETE CASCADE: deleting a parent deletes its children, and the
-- counters of another parent those children also feed follow
CREATE TABLE dml_cart (id int PRIMARY KEY, items int NOT NULL DEFAULT 0);
CREATE TABLE dml_shop (id int PRIMARY KEY, items int NOT NULL DEFAULT 0);
CREATE TABLE dml_cart_item (
    id      int PRIMARY KEY,
    cart_id int REFERENCES dml_cart ON DELETE CASCADE,
    shop_id int REFERENCES dml_shop ON DELETE CASCADE
);
INSERT INTO dml_cart (id) VALUES (1), (2);
INSERT INTO dml_shop (id) VALUES (10), (20);
SELECT denorm_create_counter('dml_cart', 'items', 'dml_cart_item', 'cart_id') AS cart_id \gset
SELECT denorm_create_counter('dml_shop', 'items', 'dml_cart_item', 'shop_id') AS shop_id \gset
INSERT INTO dml_cart_item VALUES (1, 1, 10), (2, 1, 20), (3, 2, 20), (4, 2, 20);
CREATE VIEW dml_cart_check AS
SELECT 'cart' AS parent, k.id, k.items,
       k.items = (SELECT count(*) FROM dml_cart_item i WHERE i.cart_id = k.id) AS ok
  FROM dml_cart k
UNION ALL
SELECT 'shop', s.id, s.items,
       s.items = (SELECT count(*) FROM dml_cart_item i WHERE i.shop_id = s.id)
  FROM dml_shop s
 ORDER BY 1, 2;
SELECT * FROM dml_cart_check;
DELETE FROM dml_cart WHERE id = 1;
SELECT * FROM dml_cart_check;
DELETE FROM dml_shop WHERE id = 20;
SELECT * FROM dml_cart_check;

SELECT denorm_drop_counter(:cart_id);
SELECT denorm_drop_counter(:shop_id);
SELECT denorm_drop_counter(:n_id);
SELECT denorm_drop_counter(:total_id);
SELECT denorm_drop_counter(:confirmed_id);
SELECT denorm_drop_counter(:seats_id);
SELECT count(*) AS counters_left FROM denorm_counters
 WHERE parent IN ('dml_parent'::regclass, 'dml_cart'::regclass, 'dml_shop'::regclass);
DROP VIEW dml_check, dml_cart_check;
DROP TABLE dml_child, dml_parent, dml_cart_item, dml_cart, dml_shop;
