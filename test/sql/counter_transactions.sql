-- Counters follow transactions: what rolls back, to a savepoint or in an
-- exception block, takes its deltas with it; a statement that fails half
-- way changes nothing; triggers of the user that write other counted
-- tables are counted too.  tx_check shows the stored values of every
-- parent and whether each equals a full recompute.
-- (JIT off: compiling the check queries costs far more than running them.)
SET jit = off;
CREATE TABLE tx_order (
    id      int PRIMARY KEY,
    items   int NOT NULL DEFAULT 0,
    qty     bigint NOT NULL DEFAULT 0,
    audits  int NOT NULL DEFAULT 0
);
CREATE TABLE tx_item (
    id          int PRIMARY KEY,
    order_id    int,
    qty         int NOT NULL DEFAULT 1
);
CREATE TABLE tx_audit (
    id          serial PRIMARY KEY,
    order_id    int,
    note        text
);
INSERT INTO tx_order (id) VALUES (1), (2), (3);
SELECT denorm_create_counter('tx_order', 'items', 'tx_item', 'order_id') AS items_id \gset
SELECT denorm_create_counter('tx_order', 'qty', 'tx_item', 'order_id',
                             aggregate => 'sum', value_column => 'qty') AS qty_id \gset
SELECT denorm_create_counter('tx_order', 'audits', 'tx_audit', 'order_id') AS audits_id \gset

CREATE VIEW tx_check AS
SELECT o.id, o.items, o.qty, o.audits,
       o.items = (SELECT count(*) FROM tx_item i WHERE i.order_id = o.id)
       AND o.qty = (SELECT coalesce(sum(i.qty), 0) FROM tx_item i WHERE i.order_id = o.id)
       AND o.audits = (SELECT count(*) FROM tx_audit a WHERE a.order_id = o.id) AS ok
  FROM tx_order o
 ORDER BY o.id;

INSERT INTO tx_item VALUES (1, 1, 5), (2, 2, 7);
SELECT * FROM tx_check;

-- ROLLBACK undoes every change of the transaction
BEGIN;
INSERT INTO tx_item VALUES (3, 1, 10), (4, 3, 1);
UPDATE tx_item SET order_id = 3 WHERE id = 2;
DELETE FROM tx_item WHERE id = 1;
SELECT * FROM tx_check;
ROLLBACK;
SELECT * FROM tx_check;

-- ROLLBACK TO SAVEPOINT: the rolled-back part vanishes, the rest stays
BEGIN;
INSERT INTO tx_item VALUES (3, 1, 10);
SAVEPOINT a;
INSERT INTO tx_item VALUES (4, 2, 100);
UPDATE tx_item SET qty = qty + 1 WHERE id = 1;
SAVEPOINT b;
DELETE FROM tx_item WHERE id = 2;
SELECT * FROM tx_check;
ROLLBACK TO SAVEPOINT b;
SELECT * FROM tx_check;
ROLLBACK TO SAVEPOINT a;
SELECT * FROM tx_check;
SAVEPOINT c;
INSERT INTO tx_item VALUES (5, 3, 3);
RELEASE SAVEPOINT c;
COMMIT;
SELECT * FROM tx_check;

-- a PL/pgSQL exception block that catches an error after inserting
-- children: its inserts vanish, those before and after it stay
CREATE FUNCTION tx_try(fail boolean) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tx_item VALUES (10, 1, 1);
    BEGIN
        INSERT INTO tx_item VALUES (11, 2, 20), (12, 3, 30);
        UPDATE tx_item SET order_id = 2 WHERE id = 10;
        IF fail THEN
            RAISE EXCEPTION 'fail after the inserts';
        END IF;
    EXCEPTION WHEN raise_exception THEN
        INSERT INTO tx_item VALUES (13, 3, 4);
        RETURN 'caught';
    END;
    RETURN 'done';
END
$$;
SELECT tx_try(true);
SELECT * FROM tx_check;
SELECT array_agg(id ORDER BY id) AS item_ids FROM tx_item;
DELETE FROM tx_item WHERE id >= 10;
SELECT tx_try(false);
SELECT * FROM tx_check;
DELETE FROM tx_item WHERE id >= 10;
SELECT * FROM tx_check;

-- statements that fail half way change nothing
-- a unique violation in the middle of a multi-row INSERT
INSERT INTO tx_item VALUES (20, 1, 1), (21, 2, 1), (1, 3, 1), (22, 3, 1);
SELECT * FROM tx_check;
-- an error while computing the new rows of a multi-row UPDATE
UPDATE tx_item SET qty = 100 / (qty - 3), order_id = 3;
SELECT * FROM tx_check;
-- the same failures inside a transaction, rolled back to a savepoint
BEGIN;
INSERT INTO tx_item VALUES (20, 1, 1);
SAVEPOINT s;
INSERT INTO tx_item SELECT g, 2, 1 FROM generate_series(21, 30) g
UNION ALL SELECT 20, 2, 1;
ROLLBACK TO SAVEPOINT s;
INSERT INTO tx_item VALUES (21, 2, 2);
COMMIT;
SELECT * FROM tx_check;

-- an error raised by an AFTER ROW trigger of the user that fires after the
-- counter's row trigger has seen some of the rows
CREATE FUNCTION tx_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF new.qty < 0 THEN
        RAISE EXCEPTION 'negative quantity %', new.qty;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER zz_refuse AFTER INSERT OR UPDATE ON tx_item
    FOR EACH ROW EXECUTE FUNCTION tx_refuse();
INSERT INTO tx_item VALUES (30, 1, 1), (31, 2, 1), (32, 3, -1), (33, 3, 1);
SELECT * FROM tx_check;
BEGIN;
SAVEPOINT s;
UPDATE tx_item SET qty = qty - 2, order_id = 1;
ROLLBACK TO SAVEPOINT s;
INSERT INTO tx_item VALUES (30, 1, 1);
COMMIT;
SELECT * FROM tx_check;
-- the same failure caught by an exception block, then more changes
CREATE FUNCTION tx_catch() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO tx_item VALUES (40, 1, 5), (41, 2, -5), (42, 3, 5);
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    INSERT INTO tx_item VALUES (43, 3, 6);
    RETURN 'ok';
END
$$;
SELECT tx_catch();
SELECT * FROM tx_check;
DROP TRIGGER zz_refuse ON tx_item;

-- a deferred constraint that fails at COMMIT undoes the applied deltas
CREATE TABLE tx_shelf (id int PRIMARY KEY);
ALTER TABLE tx_item ADD COLUMN shelf_id int
    REFERENCES tx_shelf DEFERRABLE INITIALLY DEFERRED;
BEGIN;
INSERT INTO tx_item VALUES (50, 1, 50, 999);
SELECT * FROM tx_check;
COMMIT;
SELECT * FROM tx_check;

-- AFTER triggers of the user on the child that write children of another
-- counter (tx_audit feeds tx_order.audits), row and statement level; the
-- row trigger fires after the counter's row trigger (zz_ sorts after
-- denorm_), the statement trigger before the counter's (aa_ sorts first)
CREATE FUNCTION tx_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF tg_op IN ('UPDATE', 'DELETE') THEN
        INSERT INTO tx_audit (order_id, note) VALUES (old.order_id, tg_op || ' old');
    END IF;
    IF tg_op IN ('INSERT', 'UPDATE') THEN
        INSERT INTO tx_audit (order_id, note) VALUES (new.order_id, tg_op || ' new');
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION tx_audit_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tx_audit (order_id, note) VALUES (1, tg_op || ' statement');
    RETURN NULL;
END
$$;
CREATE TRIGGER zz_audit_row AFTER INSERT OR UPDATE OR DELETE ON tx_item
    FOR EACH ROW EXECUTE FUNCTION tx_audit_row();
CREATE TRIGGER aa_audit_stmt AFTER INSERT OR UPDATE OR DELETE ON tx_item
    FOR EACH STATEMENT EXECUTE FUNCTION tx_audit_stmt();
INSERT INTO tx_item VALUES (60, 2, 1), (61, 3, 1), (62, 3, 1);
SELECT * FROM tx_check;
UPDATE tx_item SET order_id = 1 WHERE id IN (60, 61);
SELECT * FROM tx_check;
DELETE FROM tx_item WHERE id >= 60;
SELECT * FROM tx_check;
-- and rolled back to a savepoint: the audit rows and their counts vanish too
BEGIN;
SAVEPOINT s;
INSERT INTO tx_item VALUES (63, 2, 1);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM tx_check;
-- a row trigger of the user whose own exception block rolls back the
-- audit row it wrote for one of the rows
CREATE FUNCTION tx_audit_try() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO tx_audit (order_id, note) VALUES (new.order_id, 'try');
        IF new.qty = 13 THEN
            RAISE EXCEPTION 'unlucky';
        END IF;
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN NULL;
END
$$;
CREATE TRIGGER zz_audit_try AFTER INSERT ON tx_item
    FOR EACH ROW EXECUTE FUNCTION tx_audit_try();
INSERT INTO tx_item VALUES (64, 2, 1), (65, 3, 13), (66, 3, 1);
SELECT * FROM tx_check;
SELECT order_id, note, count(*) FROM tx_audit WHERE note = 'try' GROUP BY 1, 2 ORDER BY 1;
DELETE FROM tx_item WHERE id >= 64;
SELECT * FROM tx_check;
DROP TRIGGER zz_audit_try ON tx_item;
DROP TRIGGER zz_audit_row ON tx_item;
DROP TRIGGER aa_audit_stmt ON tx_item;

-- an AFTER trigger of the user that writes the same child again
CREATE FUNCTION tx_bonus() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF new.qty >= 100 THEN
        INSERT INTO tx_item VALUES (new.id + 1000, new.order_id, 0);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER aa_bonus AFTER INSERT ON tx_item
    FOR EACH ROW EXECUTE FUNCTION tx_bonus();
INSERT INTO tx_item VALUES (70, 2, 100), (71, 3, 5), (72, 3, 200);
SELECT * FROM tx_check;
DROP TRIGGER aa_bonus ON tx_item;

-- BEFORE triggers: the counter sees the row as stored, and a skipped row
-- is not counted
CREATE FUNCTION tx_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF new.qty = 0 THEN
        RETURN NULL;
    END IF;
    new.order_id := coalesce(new.order_id, 3);
    new.qty := new.qty * 10;
    RETURN new;
END
$$;
CREATE TRIGGER tx_before BEFORE INSERT OR UPDATE ON tx_item
    FOR EACH ROW EXECUTE FUNCTION tx_before();
INSERT INTO tx_item VALUES (80, NULL, 1), (81, 1, 0), (82, 2, 2);
UPDATE tx_item SET qty = 0 WHERE id = 82;
SELECT * FROM tx_check;
SELECT id, order_id, qty FROM tx_item WHERE id >= 80 ORDER BY id;
DROP TRIGGER tx_before ON tx_item;

SELECT denorm_drop_counter(:items_id);
SELECT denorm_drop_counter(:qty_id);
SELECT denorm_drop_counter(:audits_id);
SELECT count(*) AS counters_left FROM denorm_counters WHERE parent = 'tx_order'::regclass;
DROP VIEW tx_check;
DROP TABLE tx_item, tx_audit, tx_order, tx_shelf;
DROP FUNCTION tx_try(boolean), tx_refuse(), tx_catch(), tx_audit_row(), tx_audit_stmt(),
              tx_audit_try(),
              tx_bonus(), tx_before();
