-- Several counters at once: count, sum and filtered count on one parent;
-- counters on two parents fed by one child; a self-referencing table
-- whose counters feed each other; and keys of other types (text, bigint
-- against int, uuid, a unique column that is not the primary key).
-- Each *_check view shows the stored values and whether they equal a full
-- recompute from the child.
SET jit = off;

------------------------------------------------------------------------
-- one child, two parents, five counters
------------------------------------------------------------------------
CREATE TABLE multi_event (
    id          int PRIMARY KEY,
    bookings    int NOT NULL DEFAULT 0,
    seats       bigint NOT NULL DEFAULT 0,
    confirmed   int NOT NULL DEFAULT 0
);
CREATE TABLE multi_user (
    id          int PRIMARY KEY,
    bookings    int NOT NULL DEFAULT 0,
    confirmed_seats bigint NOT NULL DEFAULT 0
);
CREATE TABLE multi_booking (
    id          int PRIMARY KEY,
    event_id    int,
    user_id     int,
    seats       int NOT NULL,
    status      text NOT NULL
);
INSERT INTO multi_event (id) VALUES (1), (2);
INSERT INTO multi_user (id) VALUES (10), (20), (30);
INSERT INTO multi_booking VALUES (1, 1, 10, 2, 'confirmed'), (2, 1, 20, 3, 'pending');

SELECT denorm_create_counter('multi_event', 'bookings', 'multi_booking', 'event_id') AS c1 \gset
SELECT denorm_create_counter('multi_event', 'seats', 'multi_booking', 'event_id',
                             aggregate => 'sum', value_column => 'seats') AS c2 \gset
SELECT denorm_create_counter('multi_event', 'confirmed', 'multi_booking', 'event_id',
                             filter => $$status = 'confirmed'$$) AS c3 \gset
SELECT denorm_create_counter('multi_user', 'bookings', 'multi_booking', 'user_id') AS c4 \gset
SELECT denorm_create_counter('multi_user', 'confirmed_seats', 'multi_booking', 'user_id',
                             aggregate => 'sum', value_column => 'seats',
                             filter => $$status = 'confirmed'$$) AS c5 \gset

CREATE VIEW multi_booking_check AS
SELECT 'event' AS parent, e.id, e.bookings, e.seats AS sum, e.confirmed AS filtered,
       e.bookings = count(b.id)
       AND e.seats = coalesce(sum(b.seats), 0)
       AND e.confirmed = count(b.id) FILTER (WHERE b.status = 'confirmed') AS ok
  FROM multi_event e LEFT JOIN multi_booking b ON b.event_id = e.id
 GROUP BY e.id
UNION ALL
SELECT 'user', u.id, u.bookings, u.confirmed_seats, NULL,
       u.bookings = count(b.id)
       AND u.confirmed_seats = coalesce(sum(b.seats) FILTER (WHERE b.status = 'confirmed'), 0)
  FROM multi_user u LEFT JOIN multi_booking b ON b.user_id = u.id
 GROUP BY u.id
 ORDER BY 1, 2;

SELECT * FROM multi_booking_check;
INSERT INTO multi_booking VALUES (3, 2, 10, 4, 'confirmed'), (4, 2, 30, 1, 'confirmed');
SELECT * FROM multi_booking_check;
-- one UPDATE touching every counter on both parents
UPDATE multi_booking SET status = 'confirmed', seats = seats + 1 WHERE id = 2;
SELECT * FROM multi_booking_check;
-- both foreign keys change in one row
UPDATE multi_booking SET event_id = 2, user_id = 30 WHERE id = 1;
SELECT * FROM multi_booking_check;
-- one foreign key goes NULL, the other stays
UPDATE multi_booking SET user_id = NULL WHERE id = 3;
SELECT * FROM multi_booking_check;
DELETE FROM multi_booking WHERE event_id = 2;
SELECT * FROM multi_booking_check;
-- dropping one counter leaves the others maintained
SELECT denorm_drop_counter(:c2);
INSERT INTO multi_booking VALUES (5, 1, 20, 7, 'confirmed');
SELECT e.id, e.bookings, e.seats, e.confirmed FROM multi_event e ORDER BY e.id;
SELECT * FROM multi_booking_check WHERE parent = 'user';

------------------------------------------------------------------------
-- self-referencing: comments count their replies, and the replies that
-- have replies themselves (a counter whose filter reads a column another
-- counter maintains on the same table)
------------------------------------------------------------------------
CREATE TABLE multi_comment (
    id              int PRIMARY KEY,
    parent_id       int REFERENCES multi_comment ON DELETE CASCADE,
    score           int NOT NULL DEFAULT 0,
    reply_count     int NOT NULL DEFAULT 0,
    reply_score     bigint NOT NULL DEFAULT 0,
    busy_replies    int NOT NULL DEFAULT 0
);
SELECT denorm_create_counter('multi_comment', 'reply_count', 'multi_comment', 'parent_id') AS c6 \gset
SELECT denorm_create_counter('multi_comment', 'reply_score', 'multi_comment', 'parent_id',
                             aggregate => 'sum', value_column => 'score') AS c7 \gset
SELECT denorm_create_counter('multi_comment', 'busy_replies', 'multi_comment', 'parent_id',
                             filter => 'reply_count > 0') AS c8 \gset
CREATE VIEW multi_comment_check AS
SELECT c.id, c.parent_id, c.reply_count, c.reply_score, c.busy_replies,
       c.reply_count = (SELECT count(*) FROM multi_comment r WHERE r.parent_id = c.id)
       AND c.reply_score = (SELECT coalesce(sum(r.score), 0) FROM multi_comment r
                             WHERE r.parent_id = c.id)
       AND c.busy_replies = (SELECT count(*) FROM multi_comment r
                              WHERE r.parent_id = c.id AND r.reply_count > 0) AS ok
  FROM multi_comment c
 ORDER BY c.id;

-- a thread inserted in one statement, parents and replies together
INSERT INTO multi_comment (id, parent_id, score)
VALUES (1, NULL, 5), (2, 1, 3), (3, 1, 1), (4, 2, 7);
SELECT * FROM multi_comment_check;
-- a reply to a reply makes its parent busy, which reaches the grandparent
INSERT INTO multi_comment (id, parent_id, score) VALUES (5, 3, 2);
SELECT * FROM multi_comment_check;
-- moving a reply under another comment
UPDATE multi_comment SET parent_id = 4 WHERE id = 5;
SELECT * FROM multi_comment_check;
-- a score change reaches only the direct parent
UPDATE multi_comment SET score = 10 WHERE id = 2;
SELECT * FROM multi_comment_check;
-- deleting a subtree through ON DELETE CASCADE
DELETE FROM multi_comment WHERE id = 2;
SELECT * FROM multi_comment_check;
DELETE FROM multi_comment;
SELECT * FROM multi_comment_check;

------------------------------------------------------------------------
-- key types
------------------------------------------------------------------------
-- text keys, a long one included (stored compressed in the child row)
CREATE TABLE multi_tag (name text PRIMARY KEY, uses int NOT NULL DEFAULT 0);
CREATE TABLE multi_tagging (id int PRIMARY KEY, tag text);
INSERT INTO multi_tag (name) VALUES ('a'), ('B'), ('b'), (repeat('long', 1000));
SELECT denorm_create_counter('multi_tag', 'uses', 'multi_tagging', 'tag') AS c9 \gset
INSERT INTO multi_tagging VALUES (1, 'a'), (2, 'b'), (3, 'b'), (4, 'B'), (5, 'c'),
                                 (6, repeat('long', 1000)), (7, repeat('long', 1000));
UPDATE multi_tagging SET tag = 'a' WHERE id = 3;
DELETE FROM multi_tagging WHERE id = 7;
SELECT left(t.name, 8) AS name, t.uses,
       t.uses = (SELECT count(*) FROM multi_tagging g WHERE g.tag = t.name) AS ok
  FROM multi_tag t ORDER BY t.name;

-- varchar keys, the usual spelling of a text key: a varchar foreign key
-- to a varchar parent key, and a varchar foreign key to a text one
CREATE TABLE multi_author (name varchar(20) PRIMARY KEY, posts int NOT NULL DEFAULT 0);
CREATE TABLE multi_label (name text PRIMARY KEY, posts int NOT NULL DEFAULT 0);
CREATE TABLE multi_post (id int PRIMARY KEY, author varchar(20), label varchar(20));
INSERT INTO multi_author (name) VALUES ('ann'), ('bob');
INSERT INTO multi_label (name) VALUES ('news'), ('misc');
SELECT denorm_create_counter('multi_author', 'posts', 'multi_post', 'author') AS c15 \gset
SELECT denorm_create_counter('multi_label', 'posts', 'multi_post', 'label') AS c16 \gset
INSERT INTO multi_post VALUES (1, 'ann', 'news'), (2, 'ann', 'misc'), (3, 'bob', 'news');
UPDATE multi_post SET author = 'bob', label = 'misc' WHERE id = 1;
SELECT 'author' AS parent, a.name, a.posts,
       a.posts = (SELECT count(*) FROM multi_post p WHERE p.author = a.name) AS ok
  FROM multi_author a
UNION ALL
SELECT 'label', l.name, l.posts,
       l.posts = (SELECT count(*) FROM multi_post p WHERE p.label = l.name)
  FROM multi_label l
 ORDER BY 1, 2;

-- int foreign key, bigint parent key beyond the int range for other rows
CREATE TABLE multi_bigparent (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE multi_smallchild (id int PRIMARY KEY, parent_id int);
INSERT INTO multi_bigparent (id) VALUES (1), (2), (4294967297);
SELECT denorm_create_counter('multi_bigparent', 'n', 'multi_smallchild', 'parent_id') AS c10 \gset
INSERT INTO multi_smallchild VALUES (1, 1), (2, 1), (3, 2);
UPDATE multi_smallchild SET parent_id = 2 WHERE id = 1;
SELECT p.id, p.n, p.n = (SELECT count(*) FROM multi_smallchild c WHERE c.parent_id = p.id) AS ok
  FROM multi_bigparent p ORDER BY p.id;

-- bigint foreign key, int parent key: keys beyond the int range match nothing
CREATE TABLE multi_intparent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE multi_bigchild (id int PRIMARY KEY, parent_id bigint);
INSERT INTO multi_intparent (id) VALUES (1), (2);
SELECT denorm_create_counter('multi_intparent', 'n', 'multi_bigchild', 'parent_id') AS c11 \gset
INSERT INTO multi_bigchild VALUES (1, 1), (2, 2), (3, 2), (4, 4294967297);
UPDATE multi_bigchild SET parent_id = 1 WHERE id = 4;
UPDATE multi_bigchild SET parent_id = 4294967298 WHERE id = 2;
SELECT p.id, p.n, p.n = (SELECT count(*) FROM multi_bigchild c WHERE c.parent_id = p.id) AS ok
  FROM multi_intparent p ORDER BY p.id;

-- uuid keys
CREATE TABLE multi_doc (id uuid PRIMARY KEY, pages int NOT NULL DEFAULT 0,
                        words bigint NOT NULL DEFAULT 0);
CREATE TABLE multi_page (id int PRIMARY KEY, doc_id uuid, words int);
INSERT INTO multi_doc (id) VALUES ('00000000-0000-0000-0000-000000000001'),
                                  ('ffffffff-0000-0000-0000-000000000002');
SELECT denorm_create_counter('multi_doc', 'pages', 'multi_page', 'doc_id') AS c12 \gset
SELECT denorm_create_counter('multi_doc', 'words', 'multi_page', 'doc_id',
                             aggregate => 'sum', value_column => 'words') AS c13 \gset
INSERT INTO multi_page VALUES (1, '00000000-0000-0000-0000-000000000001', 100),
                              (2, 'ffffffff-0000-0000-0000-000000000002', 250),
                              (3, 'ffffffff-0000-0000-0000-000000000002', 50);
UPDATE multi_page SET doc_id = '00000000-0000-0000-0000-000000000001', words = 60 WHERE id = 3;
SELECT d.id, d.pages, d.words,
       d.pages = (SELECT count(*) FROM multi_page p WHERE p.doc_id = d.id)
       AND d.words = (SELECT coalesce(sum(p.words), 0) FROM multi_page p WHERE p.doc_id = d.id) AS ok
  FROM multi_doc d ORDER BY d.id;

-- a unique column that is not the primary key as the parent key
CREATE TABLE multi_account (
    id      int PRIMARY KEY,
    code    text NOT NULL UNIQUE,
    orders  int NOT NULL DEFAULT 0
);
CREATE TABLE multi_order (id int PRIMARY KEY, account_code text, account_id int);
INSERT INTO multi_account VALUES (1, 'zz', 0), (2, 'aa', 0);
SELECT denorm_create_counter('multi_account', 'orders', 'multi_order', 'account_code',
                             parent_key => 'code') AS c14 \gset
-- account_id happens to equal the other account's primary key: it must not be used
INSERT INTO multi_order VALUES (1, 'zz', 2), (2, 'zz', 2), (3, 'aa', 1);
UPDATE multi_order SET account_code = 'aa' WHERE id = 2;
DELETE FROM multi_order WHERE id = 3;
SELECT a.id, a.code, a.orders,
       a.orders = (SELECT count(*) FROM multi_order o WHERE o.account_code = a.code) AS ok
  FROM multi_account a ORDER BY a.id;
SELECT denorm_drop_counter(id) FROM denorm_counters
 WHERE parent IN ('multi_event'::regclass, 'multi_user'::regclass, 'multi_comment'::regclass,
                  'multi_tag'::regclass, 'multi_bigparent'::regclass,
                  'multi_intparent'::regclass, 'multi_doc'::regclass,
                  'multi_account'::regclass, 'multi_author'::regclass,
                  'multi_label'::regclass)
 ORDER BY id;
SELECT count(*) AS counters_left FROM denorm_counters
 WHERE child::text LIKE 'multi\_%';
DROP VIEW multi_booking_check, multi_comment_check;
DROP TABLE multi_booking, multi_event, multi_user, multi_comment, multi_tagging, multi_tag,
           multi_smallchild, multi_bigparent, multi_bigchild, multi_intparent,
           multi_page, multi_doc, multi_order, multi_account,
           multi_post, multi_author, multi_label;
