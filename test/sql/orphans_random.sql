-- Random write sequences against counted tables whose children may come
-- before their parents, compared with a recompute after every transaction.
--
-- Each configuration is a child table (plain, or partitioned in three) with
-- or without a foreign key to its parent (ON DELETE / ON UPDATE CASCADE),
-- three counters on it (a count, a sum, a filtered count) in one mode.  A
-- run is a seeded sequence of transactions; each does a few random writes:
-- child inserts (a key whose parent row may be absent), deletes, moves to
-- another key or partition, value and filter changes, upserts, MERGE,
-- TRUNCATE of a partition or the whole child, DETACH and ATTACH of a
-- partition, parent deletes, inserts and key changes, flushes, savepoints
-- that roll back; then commits, or rolls back.  After each, every parent
-- row is compared with what its children add up to (deferred: the column
-- plus its pending deltas).  A run stops at the first mismatch and says
-- where; orphan_fuzz(seed, ...) replays exactly the same sequence.
--
-- The seed and the number of transactions can be given on the command
-- line: psql -v seed=7 -v txns=5000 -f test/sql/orphans_random.sql
SET client_min_messages = warning;
\if :{?seed}
\else
\set seed 20261201
\endif
\if :{?txns}
\else
\set txns 3000
\endif

CREATE TABLE fz_runs (config text, mode text, txns int, writes int, refused int, mismatch text);

-- one configuration's tables and counters
CREATE PROCEDURE fz_setup(partitioned boolean, fk boolean, mode text)
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS fz_child, fz_c2_out, fz_parent CASCADE;
    CREATE TABLE fz_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
                            s numeric NOT NULL DEFAULT 0, f int NOT NULL DEFAULT 0);
    IF partitioned THEN
        EXECUTE format('CREATE TABLE fz_child (id int, k int NOT NULL, pid int %s, v numeric, ok boolean, '
                       'PRIMARY KEY (id, k)) PARTITION BY LIST (k)',
                       CASE WHEN fk THEN 'REFERENCES fz_parent ON DELETE CASCADE ON UPDATE CASCADE' ELSE '' END);
        CREATE TABLE fz_c0 PARTITION OF fz_child FOR VALUES IN (0);
        CREATE TABLE fz_c1 PARTITION OF fz_child FOR VALUES IN (1);
        CREATE TABLE fz_c2 PARTITION OF fz_child FOR VALUES IN (2);
    ELSE
        EXECUTE format('CREATE TABLE fz_child (id int, k int NOT NULL, pid int %s, v numeric, ok boolean, '
                       'PRIMARY KEY (id, k))',
                       CASE WHEN fk THEN 'REFERENCES fz_parent ON DELETE CASCADE ON UPDATE CASCADE' ELSE '' END);
    END IF;
    CREATE INDEX ON fz_child (pid);
    INSERT INTO fz_parent (id) SELECT g FROM generate_series(1, 4) g;
    PERFORM denorm_create_counter('fz_parent', 'n', 'fz_child', 'pid', mode => mode);
    PERFORM denorm_create_counter('fz_parent', 's', 'fz_child', 'pid', aggregate => 'sum',
                                  value_column => 'v', mode => mode);
    PERFORM denorm_create_counter('fz_parent', 'f', 'fz_child', 'pid', filter => 'ok', mode => mode);
END
$$;

-- parent rows whose counters differ from their children, as text
CREATE FUNCTION fz_mismatch() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT string_agg(format('parent %s: n %s/%s, s %s/%s, f %s/%s', p.id, p.n + pn, t.n,
                             p.s + ps, t.s, p.f + pf, t.f), '; ' ORDER BY p.id)
      FROM fz_parent p
      CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(c.v), 0) AS s,
                                 count(*) FILTER (WHERE c.ok) AS f
                            FROM fz_child c WHERE c.pid = p.id) t
      CROSS JOIN LATERAL (SELECT coalesce(sum(q.delta) FILTER (WHERE d.counter_column = 'n'), 0) AS pn,
                                 coalesce(sum(q.delta) FILTER (WHERE d.counter_column = 's'), 0) AS ps,
                                 coalesce(sum(q.delta) FILTER (WHERE d.counter_column = 'f'), 0) AS pf
                            FROM denorm_pending q JOIN denorm_counters d ON d.id = q.counter_id
                           WHERE d.parent = 'fz_parent'::regclass AND q.parent_key = p.id::text) q
     WHERE p.n + pn <> t.n OR p.s + ps <> t.s OR p.f + pf <> t.f);
END
$$;

-- one random write; r() is the seeded generator
CREATE FUNCTION fz_r(n int) RETURNS int LANGUAGE sql AS $$ SELECT 1 + floor(random() * n)::int $$;

CREATE PROCEDURE fz_write(partitioned boolean, fk boolean, mode text)
LANGUAGE plpgsql AS $$
DECLARE
    op int := fz_r(20);
    key int;
    a int := fz_r(8);
    b int := fz_r(4);
    nextid int;
BEGIN
    -- a key: with a foreign key one whose parent row exists (or NULL)
    IF fk THEN
        SELECT id INTO key FROM fz_parent ORDER BY id OFFSET fz_r(8) - 1 LIMIT 1;
    ELSE
        key := fz_r(8);
    END IF;
    SELECT coalesce(max(id), 0) + 1 INTO nextid FROM fz_child;
    IF op <= 5 THEN        -- insert one to three children
        INSERT INTO fz_child SELECT nextid + g, fz_r(3) - 1, CASE WHEN g = 2 AND fz_r(4) = 1 THEN NULL ELSE key END,
                                    fz_r(100), fz_r(2) = 1
          FROM generate_series(0, fz_r(3) - 1) g;
    ELSIF op = 6 THEN      -- delete one child
        DELETE FROM fz_child WHERE id = (SELECT id FROM fz_child ORDER BY id OFFSET a - 1 LIMIT 1);
    ELSIF op = 7 THEN      -- move children of one key to another
        UPDATE fz_child SET pid = key WHERE pid = a AND id % 2 = b % 2;
    ELSIF op = 8 THEN      -- change values and filter
        UPDATE fz_child SET v = v + a, ok = NOT ok WHERE id % 5 = b;
    ELSIF op = 9 THEN      -- move between partitions
        UPDATE fz_child SET k = (k + 1) % 3 WHERE id % 4 = b - 1;
    ELSIF op = 10 THEN     -- upsert
        INSERT INTO fz_child VALUES (nextid - a, b % 3, key, a * 10, true)
            ON CONFLICT (id, k) DO UPDATE SET pid = excluded.pid, v = excluded.v;
    ELSIF op = 11 THEN     -- MERGE
        MERGE INTO fz_child c
        USING (SELECT nextid - a AS id, key AS pid, b * 20 AS v) m ON c.id = m.id
        WHEN MATCHED AND m.v > 50 THEN DELETE
        WHEN MATCHED THEN UPDATE SET pid = m.pid, v = m.v
        WHEN NOT MATCHED THEN INSERT VALUES (m.id, 1, m.pid, m.v, false);
    ELSIF op = 12 THEN     -- TRUNCATE a partition (or, rarely, everything)
        IF partitioned AND b > 1 THEN
            IF to_regclass(format('fz_c%s', a % 3)) IS NOT NULL THEN
                EXECUTE format('TRUNCATE fz_c%s', a % 3);
            END IF;
        ELSIF a = 1 THEN
            TRUNCATE fz_child;
        END IF;
    ELSIF op = 13 THEN     -- DETACH a partition, and later ATTACH it back
        IF partitioned THEN
            IF to_regclass('fz_c2_out') IS NULL THEN
                ALTER TABLE fz_child DETACH PARTITION fz_c2;
                ALTER TABLE fz_c2 RENAME TO fz_c2_out;
            ELSE
                ALTER TABLE fz_c2_out RENAME TO fz_c2;
                IF fk THEN  -- its rows may reference parents deleted meanwhile
                    DELETE FROM fz_c2 c WHERE NOT EXISTS (SELECT 1 FROM fz_parent p WHERE p.id = c.pid);
                END IF;
                DELETE FROM fz_c2 c WHERE EXISTS (SELECT 1 FROM fz_child x WHERE x.id = c.id AND x.k = c.k);
                ALTER TABLE fz_child ATTACH PARTITION fz_c2 FOR VALUES IN (2);
            END IF;
        END IF;
    ELSIF op IN (14, 15) THEN  -- delete a parent row
        DELETE FROM fz_parent WHERE id = a;
    ELSIF op IN (16, 17) THEN  -- insert a parent row (its children may be there already)
        INSERT INTO fz_parent (id, n, s) VALUES (a, b, b) ON CONFLICT DO NOTHING;
    ELSIF op = 18 THEN     -- give a parent row another key
        UPDATE fz_parent SET id = a WHERE id = 1 + (a + b) % 8
           AND NOT EXISTS (SELECT 1 FROM fz_parent WHERE id = a);
    ELSIF op = 19 THEN     -- flush
        IF mode = 'deferred' THEN
            PERFORM denorm_flush();
        END IF;
    ELSE                   -- a savepoint that rolls back
        BEGIN
            INSERT INTO fz_child VALUES (nextid, 0, key, 1, true);
            DELETE FROM fz_parent WHERE id = a;
            RAISE EXCEPTION USING ERRCODE = 'P0001';
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    END IF;
END
$$;

CREATE PROCEDURE orphan_fuzz(seed int, txns int, partitioned boolean, fk boolean, mode text)
LANGUAGE plpgsql AS $$
DECLARE
    bad text;
    i int := 0;
    writes int := 0;
    refused int := 0;
    config text := format('%s child, %s', CASE WHEN partitioned THEN 'partitioned' ELSE 'plain' END,
                          CASE WHEN fk THEN 'with FK' ELSE 'no FK' END);
BEGIN
    CALL fz_setup(partitioned, fk, mode);
    COMMIT;
    PERFORM setseed(mod(seed, 1000003)::float8 / 1000003);
    WHILE i < txns AND bad IS NULL LOOP
        i := i + 1;
        FOR w IN 1 .. fz_r(4) LOOP
            -- a write the schema refuses (a row for a detached partition, a
            -- key taken twice, a child of a missing parent under the FK)
            -- is rolled back to before it; anything else ends the run
            BEGIN
                CALL fz_write(partitioned, fk, mode);
                writes := writes + 1;
            EXCEPTION WHEN check_violation OR unique_violation OR foreign_key_violation THEN
                refused := refused + 1;
            END;
        END LOOP;
        IF fz_r(10) = 1 THEN
            ROLLBACK;
        ELSE
            COMMIT;
        END IF;
        bad := fz_mismatch();
    END LOOP;
    INSERT INTO fz_runs VALUES (config, mode, i, writes, refused,
        CASE WHEN bad IS NULL THEN 'none'
             ELSE format('after transaction %s of seed %s: %s', i, seed, bad) END);
    COMMIT;
END
$$;

\set seed_hint 'seed ' :seed
SELECT :'seed_hint' AS run;
CALL orphan_fuzz(:seed,     :txns, false, false, 'immediate');
CALL orphan_fuzz(:seed + 1, :txns, false, false, 'commit');
CALL orphan_fuzz(:seed + 2, :txns, false, false, 'deferred');
CALL orphan_fuzz(:seed + 3, :txns, true,  false, 'immediate');
CALL orphan_fuzz(:seed + 4, :txns, true,  false, 'commit');
CALL orphan_fuzz(:seed + 5, :txns, true,  false, 'deferred');
CALL orphan_fuzz(:seed + 6, :txns, false, true,  'immediate');
CALL orphan_fuzz(:seed + 7, :txns, false, true,  'commit');
CALL orphan_fuzz(:seed + 8, :txns, false, true,  'deferred');
CALL orphan_fuzz(:seed + 9, :txns, true,  true,  'immediate');
CALL orphan_fuzz(:seed + 10, :txns, true, true,  'commit');
CALL orphan_fuzz(:seed + 11, :txns, true, true,  'deferred');

-- every configuration ran all its transactions without a mismatch
-- (and most writes went through)
SELECT config, mode, txns = :txns AS all_ran, writes > 2 * refused AS mostly_written, mismatch
  FROM fz_runs ORDER BY config, mode;

DROP TABLE fz_child, fz_parent, fz_runs CASCADE;
DROP TABLE IF EXISTS fz_c2_out;
DROP PROCEDURE orphan_fuzz, fz_write, fz_setup;
DROP FUNCTION fz_mismatch, fz_r;
