-- The user stories end to end: follower counts, confirmed seats of
-- events, review counts and rating sums behind an average, and the
-- order_total incident (a DELETE that must subtract).  Each *_check view
-- shows the stored values and whether they equal a full recompute.
SET jit = off;
-- errors show without the context of the counter's internal UPDATE
\set SHOW_CONTEXT never

------------------------------------------------------------------------
-- users.follower_count and users.following_count from follows
------------------------------------------------------------------------
CREATE TABLE seed_users (
    id              int PRIMARY KEY,
    name            text NOT NULL,
    follower_count  int NOT NULL DEFAULT 0,
    following_count int NOT NULL DEFAULT 0
);
CREATE TABLE seed_follows (
    follower_id int NOT NULL REFERENCES seed_users ON DELETE CASCADE,
    followed_id int NOT NULL REFERENCES seed_users ON DELETE CASCADE,
    PRIMARY KEY (follower_id, followed_id)
);
INSERT INTO seed_users (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cy'), (42, 'star');
SELECT denorm_create_counter('seed_users', 'follower_count', 'seed_follows', 'followed_id') AS followers_id \gset
SELECT denorm_create_counter('seed_users', 'following_count', 'seed_follows', 'follower_id') AS following_id \gset
CREATE VIEW seed_users_check AS
SELECT u.id, u.name, u.follower_count, u.following_count,
       u.follower_count = (SELECT count(*) FROM seed_follows f WHERE f.followed_id = u.id)
       AND u.following_count = (SELECT count(*) FROM seed_follows f
                                 WHERE f.follower_id = u.id) AS ok
  FROM seed_users u
 ORDER BY u.id;

-- follow
INSERT INTO seed_follows VALUES (1, 42), (2, 42), (3, 42), (1, 2);
SELECT * FROM seed_users_check;
-- following twice is a no-op
INSERT INTO seed_follows VALUES (1, 42) ON CONFLICT DO NOTHING;
SELECT * FROM seed_users_check;
-- unfollow, and follow again
DELETE FROM seed_follows WHERE follower_id = 2 AND followed_id = 42;
SELECT * FROM seed_users_check;
INSERT INTO seed_follows VALUES (2, 42);
SELECT * FROM seed_users_check;
-- a flash of new users all following the star in one statement
INSERT INTO seed_users (id, name) SELECT g, 'fan' || g FROM generate_series(1000, 1999) g;
INSERT INTO seed_follows SELECT g, 42 FROM generate_series(1000, 1999) g;
SELECT * FROM seed_users_check WHERE id < 1000;
SELECT count(*) FILTER (WHERE NOT ok) AS wrong FROM seed_users_check;
-- half of them unfollow, then their accounts are deleted (the follows go
-- with them through ON DELETE CASCADE)
DELETE FROM seed_follows WHERE followed_id = 42 AND follower_id >= 1500;
SELECT * FROM seed_users_check WHERE id < 1000;
DELETE FROM seed_users WHERE id >= 1000;
SELECT * FROM seed_users_check;
-- deleting a user removes their follows from everyone else's counts
DELETE FROM seed_users WHERE id = 1;
SELECT * FROM seed_users_check;

------------------------------------------------------------------------
-- events.confirmed_seats from reservations, counted only while
-- status = 'confirmed'; a CHECK on the counter makes overselling fail
------------------------------------------------------------------------
CREATE TABLE seed_events (
    id              int PRIMARY KEY,
    name            text NOT NULL,
    capacity        int NOT NULL,
    confirmed_seats int NOT NULL DEFAULT 0,
    CHECK (confirmed_seats <= capacity)
);
CREATE TABLE seed_reservations (
    id          int PRIMARY KEY,
    event_id    int NOT NULL REFERENCES seed_events ON DELETE CASCADE,
    user_id     int NOT NULL,
    seats       int NOT NULL CHECK (seats > 0),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'confirmed', 'cancelled'))
);
INSERT INTO seed_events (id, name, capacity) VALUES (99, 'Jazz Night', 30), (100, 'Poetry', 10);
SELECT denorm_create_counter('seed_events', 'confirmed_seats', 'seed_reservations', 'event_id',
                             aggregate => 'sum', value_column => 'seats',
                             filter => $$status = 'confirmed'$$) AS seats_id \gset
CREATE VIEW seed_events_check AS
SELECT e.id, e.name, e.capacity, e.confirmed_seats,
       e.confirmed_seats = (SELECT coalesce(sum(r.seats), 0) FROM seed_reservations r
                             WHERE r.event_id = e.id AND r.status = 'confirmed') AS ok
  FROM seed_events e
 ORDER BY e.id;

-- pending reservations hold no seats
INSERT INTO seed_reservations (id, event_id, user_id, seats)
VALUES (1, 99, 1, 4), (2, 99, 2, 2), (3, 100, 3, 5);
SELECT * FROM seed_events_check;
-- confirming takes the seats
UPDATE seed_reservations SET status = 'confirmed' WHERE id IN (1, 3);
SELECT * FROM seed_events_check;
-- more seats on a confirmed reservation, fewer on a pending one
UPDATE seed_reservations SET seats = 6 WHERE id = 1;
UPDATE seed_reservations SET seats = 1 WHERE id = 2;
SELECT * FROM seed_events_check;
-- cancelling gives them back
UPDATE seed_reservations SET status = 'cancelled' WHERE id = 3;
SELECT * FROM seed_events_check;
-- a reservation confirmed straight away, and one moved to another event
INSERT INTO seed_reservations VALUES (4, 99, 4, 20, 'confirmed');
UPDATE seed_reservations SET event_id = 100, status = 'confirmed' WHERE id = 2;
SELECT * FROM seed_events_check;
-- the incident: concurrent sales oversold the event.  Here a confirmation
-- past the capacity fails as a whole, and the counter keeps its value
INSERT INTO seed_reservations VALUES (5, 99, 5, 5, 'confirmed');
SELECT * FROM seed_events_check;
-- one statement confirming several: all or nothing
INSERT INTO seed_reservations (id, event_id, user_id, seats)
VALUES (6, 99, 6, 2), (7, 99, 7, 2), (8, 99, 8, 2);
UPDATE seed_reservations SET status = 'confirmed' WHERE id IN (6, 7, 8);
SELECT * FROM seed_events_check;
UPDATE seed_reservations SET status = 'confirmed' WHERE id IN (6, 7);
SELECT * FROM seed_events_check;
-- the atomic check-and-reserve of the post-mortem, on the counter
INSERT INTO seed_reservations
SELECT 9, e.id, 9, 1, 'confirmed' FROM seed_events e
 WHERE e.id = 99 AND e.confirmed_seats + 1 <= e.capacity;
SELECT * FROM seed_events_check;
SELECT count(*) AS reservations FROM seed_reservations WHERE id = 9;
-- deleting the event deletes its reservations
DELETE FROM seed_events WHERE id = 99;
SELECT * FROM seed_events_check;

------------------------------------------------------------------------
-- products.review_count and products.rating_sum behind a generated average
------------------------------------------------------------------------
CREATE TABLE seed_products (
    id              int PRIMARY KEY,
    name            text NOT NULL,
    review_count    int NOT NULL DEFAULT 0,
    rating_sum      int NOT NULL DEFAULT 0,
    avg_rating      numeric GENERATED ALWAYS AS
                        (rating_sum::numeric / NULLIF(review_count, 0)) STORED
);
CREATE TABLE seed_reviews (
    id          int PRIMARY KEY,
    product_id  int NOT NULL REFERENCES seed_products ON DELETE CASCADE,
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5)
);
INSERT INTO seed_products (id, name) VALUES (42, 'Wireless Mouse'), (43, 'Bluetooth Speaker');
INSERT INTO seed_reviews VALUES (1, 42, 5), (2, 42, 4);
-- the counters backfill from the reviews already there
SELECT denorm_create_counter('seed_products', 'review_count', 'seed_reviews', 'product_id') AS reviews_id \gset
SELECT denorm_create_counter('seed_products', 'rating_sum', 'seed_reviews', 'product_id',
                             aggregate => 'sum', value_column => 'rating') AS ratings_id \gset
CREATE VIEW seed_products_check AS
SELECT p.id, p.name, p.review_count, p.rating_sum, round(p.avg_rating, 2) AS avg_rating,
       p.review_count = count(r.id)
       AND p.rating_sum = coalesce(sum(r.rating), 0)
       AND p.avg_rating IS NOT DISTINCT FROM avg(r.rating) AS ok
  FROM seed_products p LEFT JOIN seed_reviews r ON r.product_id = p.id
 GROUP BY p.id
 ORDER BY p.id;
SELECT * FROM seed_products_check;
INSERT INTO seed_reviews VALUES (3, 42, 5), (4, 43, 4), (5, 43, 5), (6, 43, 4), (7, 43, 4);
SELECT * FROM seed_products_check;
-- a rating changed, a review moved, a review deleted
UPDATE seed_reviews SET rating = 1 WHERE id = 3;
UPDATE seed_reviews SET product_id = 42 WHERE id = 7;
DELETE FROM seed_reviews WHERE id = 1;
SELECT * FROM seed_products_check;
-- the last review goes: the average is NULL again, not a division by zero
DELETE FROM seed_reviews WHERE product_id = 43;
SELECT * FROM seed_products_check;

------------------------------------------------------------------------
-- the order_total incident: deleting a line item must subtract it
------------------------------------------------------------------------
CREATE TABLE seed_orders (
    order_id    int PRIMARY KEY,
    order_total numeric(10,2) DEFAULT 0.00,
    item_count  int NOT NULL DEFAULT 0
);
CREATE TABLE seed_order_items (
    item_id     int PRIMARY KEY,
    order_id    int NOT NULL REFERENCES seed_orders ON DELETE CASCADE,
    line_total  numeric(10,2) NOT NULL
);
INSERT INTO seed_orders (order_id) VALUES (4821), (4822);
SELECT denorm_create_counter('seed_orders', 'order_total', 'seed_order_items', 'order_id',
                             aggregate => 'sum', value_column => 'line_total') AS total_id \gset
SELECT denorm_create_counter('seed_orders', 'item_count', 'seed_order_items', 'order_id') AS count_id \gset
CREATE VIEW seed_orders_check AS
SELECT o.order_id, o.order_total, o.item_count,
       o.order_total = coalesce(sum(i.line_total), 0)
       AND o.item_count = count(i.item_id) AS ok
  FROM seed_orders o LEFT JOIN seed_order_items i ON i.order_id = o.order_id
 GROUP BY o.order_id
 ORDER BY o.order_id;
INSERT INTO seed_order_items VALUES (1, 4821, 59.99), (2, 4821, 42.51), (3, 4821, 25.00),
                                    (4, 4822, 10.00);
SELECT * FROM seed_orders_check;
-- the DELETE the hand-written trigger forgot
DELETE FROM seed_order_items WHERE item_id = 2;
SELECT * FROM seed_orders_check;
-- a price correction and an item moved to the other order
UPDATE seed_order_items SET line_total = 19.99 WHERE item_id = 3;
UPDATE seed_order_items SET order_id = 4822 WHERE item_id = 1;
SELECT * FROM seed_orders_check;
-- a zero-item order: the total is 0.00, not NULL
DELETE FROM seed_order_items WHERE order_id = 4821;
SELECT * FROM seed_orders_check;
-- many deletes in one statement
INSERT INTO seed_order_items SELECT g, 4821, g / 100.0 FROM generate_series(100, 199) g;
SELECT * FROM seed_orders_check;
DELETE FROM seed_order_items WHERE item_id % 2 = 1;
SELECT * FROM seed_orders_check;

SELECT denorm_drop_counter(id) FROM denorm_counters
 WHERE parent IN ('seed_users'::regclass, 'seed_events'::regclass,
                  'seed_products'::regclass, 'seed_orders'::regclass)
 ORDER BY id;
SELECT count(*) AS counters_left FROM denorm_counters WHERE child::text LIKE 'seed\_%';
DROP VIEW seed_users_check, seed_events_check, seed_products_check, seed_orders_check;
DROP TABLE seed_follows, seed_users, seed_reservations, seed_events, seed_reviews,
           seed_products, seed_order_items, seed_orders;
