-- Parent rows whose key changes, and parents deleted and inserted again.
\set SHOW_CONTEXT never
-- the closing NOTICEs name counter ids: pin them whatever ran before
SELECT setval('denorm_counters_id_seq', 8500) AS pinned_counter_ids;

CREATE TABLE pk_tags (name text PRIMARY KEY, uses int NOT NULL DEFAULT 0,
                      pending_uses int NOT NULL DEFAULT 0);
CREATE TABLE pk_posts (id serial PRIMARY KEY,
                       tag text REFERENCES pk_tags ON UPDATE CASCADE ON DELETE CASCADE);
INSERT INTO pk_tags (name) VALUES ('Beta'), ('gamma');
INSERT INTO pk_posts (tag) VALUES ('Beta'), ('Beta'), ('gamma');
SELECT denorm_create_counter('pk_tags', 'uses', 'pk_posts', 'tag') AS uses_id \gset
SELECT denorm_create_counter('pk_tags', 'pending_uses', 'pk_posts', 'tag',
                             mode => 'deferred') AS pend_id \gset
CREATE FUNCTION pk_check(OUT name text, OUT uses int, OUT exact_uses bigint, OUT deferred_value numeric,
                         OUT ok boolean)
RETURNS SETOF record LANGUAGE sql AS $$
SELECT t.name, t.uses, (SELECT count(*) FROM pk_posts p WHERE p.tag = t.name),
       denorm_value((SELECT id FROM denorm_counters WHERE counter_column = 'pending_uses'), t.name),
       t.uses = (SELECT count(*) FROM pk_posts p WHERE p.tag = t.name)
       AND denorm_value((SELECT id FROM denorm_counters WHERE counter_column = 'pending_uses'), t.name)
           = (SELECT count(*) FROM pk_posts p WHERE p.tag = t.name)
  FROM pk_tags t ORDER BY t.name
$$;
INSERT INTO pk_posts (tag) VALUES ('Beta');
SELECT * FROM pk_check();

-- renaming a key with ON UPDATE CASCADE: the row takes its new key's count
-- and the cascaded children add exactly their own
UPDATE pk_tags SET name = 'beta' WHERE name = 'Beta';
SELECT * FROM pk_check();
SELECT denorm_flush(:pend_id) > 0 AS flushed;
SELECT name, uses, pending_uses FROM pk_tags ORDER BY name;

-- without a cascade the children keep the old key: the renamed row counts
-- the children of its new key (none)
ALTER TABLE pk_posts DROP CONSTRAINT pk_posts_tag_fkey;
UPDATE pk_tags SET name = 'delta' WHERE name = 'gamma';
SELECT * FROM pk_check();
-- and renaming it back counts them again
UPDATE pk_tags SET name = 'gamma' WHERE name = 'delta';
SELECT * FROM pk_check();

-- a deferred parent deleted with pending deltas, then inserted again before
-- any flush, starts from what its children add up to, not from old deltas:
-- the deleted row's column comes back as a pending delta, so the key's
-- pending deltas net to what its remaining children add up to (none)
ALTER TABLE pk_posts ADD FOREIGN KEY (tag) REFERENCES pk_tags ON UPDATE CASCADE ON DELETE CASCADE;
INSERT INTO pk_posts (tag) VALUES ('gamma'), ('gamma');
SELECT coalesce(sum(delta), 0) AS pending_for_gamma FROM denorm_pending
 WHERE counter_id = :pend_id AND parent_key = 'gamma';
DELETE FROM pk_tags WHERE name = 'gamma';
SELECT coalesce(sum(delta), 0) AS pending_for_gamma FROM denorm_pending
 WHERE counter_id = :pend_id AND parent_key = 'gamma';
INSERT INTO pk_tags (name) VALUES ('gamma');
INSERT INTO pk_posts (tag) VALUES ('gamma');
SELECT denorm_flush(:pend_id) >= 0 AS flushed;
SELECT name, uses, pending_uses FROM pk_tags ORDER BY name;
SELECT * FROM pk_check();
SELECT counter_column, rows_drifted FROM denorm_reconcile() ORDER BY 1;

-- deferred: a parent deleted and inserted again in one transaction, and a
-- key given up by a rename and taken again, settle exactly at commit
SELECT denorm_flush(:pend_id) >= 0 AS flushed;
INSERT INTO pk_posts (tag) VALUES ('gamma');
BEGIN;
DELETE FROM pk_tags WHERE name = 'gamma';
INSERT INTO pk_tags (name) VALUES ('gamma');
COMMIT;
SELECT * FROM pk_check();
INSERT INTO pk_posts (tag) VALUES ('beta');
UPDATE pk_tags SET name = 'omega' WHERE name = 'beta';
INSERT INTO pk_tags (name) VALUES ('beta');
SELECT * FROM pk_check();
SELECT denorm_flush(:pend_id) >= 0 AS flushed;
SELECT name, uses, pending_uses FROM pk_tags ORDER BY name;
SELECT count(*) AS pending_rows FROM denorm_pending WHERE counter_id = :pend_id;
SELECT counter_column, rows_drifted FROM denorm_reconcile() ORDER BY 1;

DROP FUNCTION pk_check();
DROP TABLE pk_posts, pk_tags;
SELECT count(*) AS counters_left FROM denorm_counters;
