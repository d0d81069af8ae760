-- DROP EXTENSION: refused while counters exist unless CASCADE, which takes
-- every denorm trigger with it and leaves the tables and their data.
BEGIN;
SELECT plan(7);

CREATE TABLE tap_dx_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE tap_dx_child (id int PRIMARY KEY, parent_id int) PARTITION BY RANGE (id);
CREATE TABLE tap_dx_child_1 PARTITION OF tap_dx_child FOR VALUES FROM (0) TO (100);
INSERT INTO tap_dx_parent VALUES (1);
INSERT INTO tap_dx_child VALUES (1, 1), (2, 1);
SELECT denorm_create_counter('tap_dx_parent', 'n', 'tap_dx_child', 'parent_id');

SELECT throws_ok('DROP EXTENSION denorm', '2BP01', NULL,
                 'DROP EXTENSION without CASCADE is refused while counters exist');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname LIKE 'denorm%'
              AND tgrelid IN ('tap_dx_parent'::regclass, 'tap_dx_child'::regclass,
                              'tap_dx_child_1'::regclass)), 9,
          'the refused drop left the triggers (3 on the child, 3 on its partition, 3 on the parent: guard, key and insert)');

DROP EXTENSION denorm CASCADE;
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname LIKE 'denorm%'
              AND tgrelid IN ('tap_dx_parent'::regclass, 'tap_dx_child'::regclass,
                              'tap_dx_child_1'::regclass)), 0,
          'DROP EXTENSION ... CASCADE removes every denorm trigger');
SELECT is((SELECT count(*)::int FROM pg_event_trigger WHERE evtname LIKE 'denorm%'), 0,
          'and its event triggers');
SELECT is((SELECT n FROM tap_dx_parent), 2, 'the counter column keeps its data');
SELECT lives_ok($$INSERT INTO tap_dx_child VALUES (3, 1)$$,
                'the child is writable afterwards');
SELECT is((SELECT n FROM tap_dx_parent), 2, 'and no longer counted');

SELECT * FROM finish();
ROLLBACK;
