-- Declarations that would overwrite data or break writes are refused, by
-- the same rules at creation and after DDL; values no parent key can
-- equal count for nothing; corrections for partitions leave drift alone.
\set VERBOSITY default
SELECT setval('denorm_counters_id_seq', 9100) AS pinned_counter_ids;

------------------------------------------------------------------------
-- Creation
------------------------------------------------------------------------
CREATE TABLE rb_authors (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rb_books (id int PRIMARY KEY, author_id int);
INSERT INTO rb_authors VALUES (1), (2);
INSERT INTO rb_books VALUES (1, 2), (2, 2), (3, 1);
-- swapped arguments, no foreign key constraint: refused, books untouched
SELECT denorm_create_counter('rb_books', 'author_id', 'rb_authors', 'id');
-- swapped arguments with the constraint: the counter column is in it
ALTER TABLE rb_books ADD FOREIGN KEY (author_id) REFERENCES rb_authors;
SELECT denorm_create_counter('rb_books', 'author_id', 'rb_authors', 'id');
SELECT * FROM rb_books ORDER BY id;

-- a counter column in a composite primary key, with a unique parent key
CREATE TABLE rb_pk2 (a int UNIQUE, cnt int NOT NULL DEFAULT 0, PRIMARY KEY (a, cnt));
CREATE TABLE rb_ch (id int, a int, at timestamptz, flag boolean);
INSERT INTO rb_pk2 VALUES (1, 7);
INSERT INTO rb_ch VALUES (1, 1, now(), true);
SELECT denorm_create_counter('rb_pk2', 'cnt', 'rb_ch', 'a', parent_key => 'a');
SELECT * FROM rb_pk2;
-- in a unique index of its own, or an expression index
CREATE TABLE rb_uq (id int PRIMARY KEY, cnt int NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX rb_uq_cnt ON rb_uq ((cnt + 0));
SELECT denorm_create_counter('rb_uq', 'cnt', 'rb_ch', 'a');
-- referenced by another table's foreign key
CREATE TABLE rb_ref (id int PRIMARY KEY, cnt int NOT NULL DEFAULT 0 UNIQUE);
CREATE TABLE rb_ref_user (c int REFERENCES rb_ref (cnt));
SELECT denorm_create_counter('rb_ref', 'cnt', 'rb_ch', 'a');
-- identity and generated columns
CREATE TABLE rb_ident (id int PRIMARY KEY, cnt int GENERATED ALWAYS AS IDENTITY);
SELECT denorm_create_counter('rb_ident', 'cnt', 'rb_ch', 'a');
CREATE TABLE rb_gen (id int PRIMARY KEY, cnt int GENERATED ALWAYS AS (id * 2) STORED);
SELECT denorm_create_counter('rb_gen', 'cnt', 'rb_ch', 'a');
-- a self-referencing table whose filter reads its own counter column
CREATE TABLE rb_tree (id int PRIMARY KEY, parent_id int REFERENCES rb_tree,
                      cnt int NOT NULL DEFAULT 0, big int NOT NULL DEFAULT 0);
CREATE INDEX ON rb_tree (parent_id);
SELECT denorm_create_counter('rb_tree', 'cnt', 'rb_tree', 'parent_id', filter => 'cnt > 0');
-- (a count of children is fine, and so is a counter reading it: what
-- that one changes feeds nothing)
SELECT denorm_create_counter('rb_tree', 'cnt', 'rb_tree', 'parent_id') AS tree_cnt \gset
SELECT denorm_create_counter('rb_tree', 'big', 'rb_tree', 'parent_id', filter => 'cnt > 0') AS tree_big \gset
-- but a third that reads big and feeds cnt's rows closes a cycle through them
SELECT denorm_drop_counter(:tree_cnt);
SELECT denorm_create_counter('rb_tree', 'cnt', 'rb_tree', 'parent_id', filter => 'big >= 0');
SELECT denorm_create_counter('rb_tree', 'cnt', 'rb_tree', 'parent_id') AS tree_cnt \gset
INSERT INTO rb_tree VALUES (1, NULL), (2, 1), (3, 2);
SELECT id, cnt FROM rb_tree ORDER BY id;
-- a key comparison that depends on TimeZone
CREATE TABLE rb_days (d timestamp PRIMARY KEY, n int NOT NULL DEFAULT 0);
SELECT denorm_create_counter('rb_days', 'n', 'rb_ch', 'at');
-- a child with an inheritance child
CREATE TABLE rb_inh_p (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rb_inh_c (id int, pid int);
CREATE TABLE rb_inh_cc () INHERITS (rb_inh_c);
SELECT denorm_create_counter('rb_inh_p', 'n', 'rb_inh_c', 'pid');
DROP TABLE rb_inh_cc;
-- temporary tables on either side
CREATE TEMP TABLE rb_tmp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
SELECT denorm_create_counter('rb_tmp', 'n', 'rb_ch', 'a');
CREATE TEMP TABLE rb_tmpc (id int, pid int);
SELECT denorm_create_counter('rb_authors', 'n', 'pg_temp.rb_tmpc', 'pid');
-- a working counter: the backfill says what it changed, the missing index
-- is named
SELECT denorm_create_counter('rb_inh_p', 'n', 'rb_inh_c', 'pid') AS inh \gset
INSERT INTO rb_inh_p VALUES (1), (2);
INSERT INTO rb_inh_c VALUES (1, 1), (2, 1), (3, 2);
CREATE TABLE rb_c3 (id int PRIMARY KEY, author_id int REFERENCES rb_authors);
INSERT INTO rb_c3 VALUES (1, 1), (2, 1), (3, 2);
SELECT denorm_create_counter('rb_authors', 'n', 'rb_c3', 'author_id') AS authors_n \gset
SELECT counter_id, fk_indexed FROM denorm_status WHERE counter_id = :authors_n;
CREATE INDEX ON rb_c3 (author_id);
SELECT counter_id, fk_indexed FROM denorm_status WHERE counter_id = :authors_n;

------------------------------------------------------------------------
-- The DDL guard runs the same rules
------------------------------------------------------------------------
ALTER TABLE rb_authors ALTER COLUMN n DROP DEFAULT, ALTER COLUMN n ADD GENERATED ALWAYS AS IDENTITY;
ALTER TABLE rb_authors ADD UNIQUE (n);
ALTER TABLE rb_authors DROP CONSTRAINT rb_authors_pkey CASCADE;
CREATE TABLE rb_c3_more () INHERITS (rb_c3);
ALTER TABLE rb_inh_c ALTER COLUMN pid TYPE text;
CREATE TABLE rb_f (id int, pid int, status text);
CREATE TABLE rb_fp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
SELECT denorm_create_counter('rb_fp', 'n', 'rb_f', 'pid', filter => 'status = ''ok''') AS fp \gset
ALTER TABLE rb_f ALTER COLUMN status TYPE int USING 0;
-- writes still work and are exact after the refusals
INSERT INTO rb_c3 VALUES (4, 2);
SELECT a.id, a.n, (SELECT count(*) FROM rb_c3 c WHERE c.author_id = a.id) AS truth
  FROM rb_authors a ORDER BY a.id;

------------------------------------------------------------------------
-- Deferred keys: what no parent key can equal counts for nothing
------------------------------------------------------------------------
CREATE TABLE rb_kp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rb_kc (id int, pid bigint, part int NOT NULL) PARTITION BY LIST (part);
CREATE TABLE rb_kc0 PARTITION OF rb_kc FOR VALUES IN (0);
CREATE TABLE rb_kc1 PARTITION OF rb_kc FOR VALUES IN (1);
CREATE INDEX ON rb_kc (pid);
INSERT INTO rb_kp VALUES (1), (2);
SELECT denorm_create_counter('rb_kp', 'n', 'rb_kc', 'pid', mode => 'deferred') AS kp \gset
INSERT INTO rb_kc VALUES (1, 1, 0), (2, 3000000000, 0), (3, 2, 1), (4, -3000000000, 1);
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :kp;
TRUNCATE rb_kc0;
SELECT denorm_flush(:kp) >= 0 AS flushed;
SELECT id, n, denorm_value(:kp, id) AS value FROM rb_kp ORDER BY id;
CREATE TABLE rb_vp (k varchar(5) PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rb_vc (id int, k text);
CREATE INDEX ON rb_vc (k);
INSERT INTO rb_vp VALUES ('abcde');
SELECT denorm_create_counter('rb_vp', 'n', 'rb_vc', 'k', mode => 'deferred') AS vp \gset
INSERT INTO rb_vc VALUES (1, 'abcdeXYZ'), (2, 'abcde');
SELECT denorm_flush(:vp) >= 0 AS flushed;
SELECT * FROM rb_vp;
CREATE TABLE rb_np (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE rb_nc (id int, pid numeric);
CREATE INDEX ON rb_nc (pid);
INSERT INTO rb_np VALUES (1), (2);
SELECT denorm_create_counter('rb_np', 'n', 'rb_nc', 'pid', mode => 'deferred') AS np \gset
INSERT INTO rb_nc VALUES (1, 1.5), (2, 2), (3, 'NaN'), (4, 1e30);
SELECT denorm_flush(:np) >= 0 AS flushed;
SELECT * FROM rb_np ORDER BY id;
SELECT counter_id, rows_drifted FROM denorm_reconcile(:kp) UNION ALL
SELECT counter_id, rows_drifted FROM denorm_reconcile(:vp) UNION ALL
SELECT counter_id, rows_drifted FROM denorm_reconcile(:np) ORDER BY 1;

------------------------------------------------------------------------
-- Dropping a child drops its counters with every trigger, on both tables
------------------------------------------------------------------------
SELECT count(*) AS parent_triggers_before FROM pg_trigger WHERE tgrelid = 'rb_kp'::regclass AND NOT tgisinternal;
DROP TABLE rb_kc;
SELECT count(*) AS parent_triggers_after FROM pg_trigger WHERE tgrelid = 'rb_kp'::regclass AND NOT tgisinternal;
UPDATE rb_kp SET id = id + 10;
DELETE FROM rb_kp;

DROP TABLE rb_books, rb_c3, rb_authors, rb_pk2, rb_ch, rb_uq, rb_ref_user, rb_ref, rb_ident, rb_gen,
           rb_tree, rb_days, rb_inh_c, rb_inh_p, rb_f, rb_fp, rb_kp,
           rb_vc, rb_vp, rb_nc, rb_np CASCADE;
