-- The order_total incident: a sum cache that must subtract on DELETE.
-- CONTEXT lines would pin line numbers of the install script
\set SHOW_CONTEXT never
CREATE TABLE orders (id int PRIMARY KEY, order_total numeric NOT NULL DEFAULT 0,
                     item_count int NOT NULL DEFAULT 0);
CREATE TABLE order_items (id serial PRIMARY KEY,
                          order_id int REFERENCES orders ON DELETE CASCADE,
                          price numeric);
INSERT INTO orders (id) VALUES (1), (2), (3);
INSERT INTO order_items (order_id, price) VALUES (1, 10.50), (1, 4.50), (2, 99);

SELECT denorm_create_counter('orders', 'order_total', 'order_items', 'order_id',
                             aggregate => 'sum', value_column => 'price') AS total_id;
SELECT denorm_create_counter('orders', 'item_count', 'order_items', 'order_id') AS count_id;
-- the backfill set both columns from the existing rows
SELECT * FROM orders ORDER BY id;

INSERT INTO order_items (order_id, price) VALUES (3, 1), (3, 2), (3, 3);
DELETE FROM order_items WHERE order_id = 1 AND price = 4.50;
UPDATE order_items SET price = price * 2 WHERE order_id = 3;
UPDATE order_items SET order_id = 1 WHERE order_id = 2;
SELECT * FROM orders ORDER BY id;

-- stored equals recomputed
SELECT o.id, o.order_total = coalesce(sum(i.price), 0) AS total_ok,
       o.item_count = count(i.id) AS count_ok
  FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
 GROUP BY o.id ORDER BY o.id;

DROP TABLE order_items, orders;
