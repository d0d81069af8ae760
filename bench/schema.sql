-- Benchmark schema for one variant: :v is the variant name.  The child
-- references its parent with a foreign key, as in every real schema.
--   none       no trigger (the limit)
--   plpgsql    hand-written PL/pgSQL row trigger with atomic increments
--   recompute  PL/pgSQL trigger that recomputes the parent's values
--   immediate  denorm counters (a count and a sum), immediate mode
--   commit     the same, mode 'commit'
--   deferred   the same, deferred mode
--   c1, c2, c4 1, 2 or 4 immediate denorm counters on the one child (the
--              marginal cost of a counter)
-- and, for the max workloads, all with an index on (parent_id, amount):
--   max_none       no trigger (the limit)
--   max_plpgsql    hand-written PL/pgSQL row trigger keeping amount_max:
--                  GREATEST on insert, a recompute from the children when
--                  a row whose amount equals the stored max is deleted,
--                  moved out or lowered (the usual hand-written trigger)
--   max_immediate  a denorm max counter, immediate mode
--   max_commit     the same, mode 'commit'
DROP TABLE IF EXISTS bench_children, bench_parents CASCADE;
CREATE TABLE bench_parents (id int PRIMARY KEY, child_count int NOT NULL DEFAULT 0,
                            amount_sum bigint NOT NULL DEFAULT 0);
ALTER TABLE bench_parents ADD COLUMN big_count int NOT NULL DEFAULT 0,
                          ADD COLUMN big_sum bigint NOT NULL DEFAULT 0,
                          ADD COLUMN amount_max int;
CREATE TABLE bench_children (id bigserial PRIMARY KEY,
                             parent_id int NOT NULL REFERENCES bench_parents,
                             amount int NOT NULL);
CREATE INDEX ON bench_children (parent_id);
SELECT CASE WHEN :'v' LIKE 'max%' THEN 'CREATE INDEX ON bench_children (parent_id, amount)'
            ELSE 'SELECT 1' END AS max_index \gset
:max_index;
INSERT INTO bench_parents (id) SELECT g FROM generate_series(1, :parents) g;

CREATE OR REPLACE FUNCTION bench_atomic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE bench_parents SET child_count = child_count - 1, amount_sum = amount_sum - OLD.amount
         WHERE id = OLD.parent_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE bench_parents SET child_count = child_count + 1, amount_sum = amount_sum + NEW.amount
         WHERE id = NEW.parent_id;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bench_recompute() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p int;
BEGIN
    FOREACH p IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.parent_id END,
                             CASE WHEN TG_OP <> 'DELETE' THEN NEW.parent_id END] LOOP
        CONTINUE WHEN p IS NULL;
        UPDATE bench_parents SET (child_count, amount_sum) =
               (SELECT count(*), coalesce(sum(amount), 0) FROM bench_children WHERE parent_id = p)
         WHERE id = p;
    END LOOP;
    RETURN NULL;
END $$;

-- What a hand-written max trigger looks like: the new value wins by
-- GREATEST (no read); when the row leaving (deleted, moved out, lowered)
-- holds the stored max, the max is recomputed from the remaining children
-- in the UPDATE.  Under concurrent deletes of the top rows its subquery
-- reads with the statement's snapshot, which may still see the other
-- writer's deleted row: bench/run.sh reports what it leaves wrong.
CREATE OR REPLACE FUNCTION bench_max() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND (TG_OP = 'DELETE' OR NEW.parent_id IS DISTINCT FROM OLD.parent_id
            OR NEW.amount < OLD.amount) THEN
        UPDATE bench_parents
           SET amount_max = (SELECT max(amount) FROM bench_children WHERE parent_id = OLD.parent_id)
         WHERE id = OLD.parent_id AND amount_max <= OLD.amount;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.parent_id IS DISTINCT FROM OLD.parent_id)
       OR (TG_OP = 'UPDATE' AND NEW.amount > OLD.amount) THEN
        UPDATE bench_parents SET amount_max = GREATEST(amount_max, NEW.amount)
         WHERE id = NEW.parent_id AND amount_max IS DISTINCT FROM GREATEST(amount_max, NEW.amount);
    END IF;
    RETURN NULL;
END $$;

SELECT CASE :'v'
    WHEN 'plpgsql' THEN 'CREATE TRIGGER bench_t AFTER INSERT OR UPDATE OR DELETE ON bench_children FOR EACH ROW EXECUTE FUNCTION bench_atomic()'
    WHEN 'recompute' THEN 'CREATE TRIGGER bench_t AFTER INSERT OR UPDATE OR DELETE ON bench_children FOR EACH ROW EXECUTE FUNCTION bench_recompute()'
    WHEN 'immediate' THEN 'SELECT denorm_create_counter(''bench_parents'', ''child_count'', ''bench_children'', ''parent_id''), denorm_create_counter(''bench_parents'', ''amount_sum'', ''bench_children'', ''parent_id'', ''sum'', ''amount'')'
    WHEN 'commit' THEN 'SELECT denorm_create_counter(''bench_parents'', ''child_count'', ''bench_children'', ''parent_id'', mode => ''commit''), denorm_create_counter(''bench_parents'', ''amount_sum'', ''bench_children'', ''parent_id'', ''sum'', ''amount'', mode => ''commit'')'
    WHEN 'deferred' THEN 'SELECT denorm_create_counter(''bench_parents'', ''child_count'', ''bench_children'', ''parent_id'', mode => ''deferred''), denorm_create_counter(''bench_parents'', ''amount_sum'', ''bench_children'', ''parent_id'', ''sum'', ''amount'', mode => ''deferred'')'
    WHEN 'c1' THEN 'SELECT denorm_create_counter(''bench_parents'', ''child_count'', ''bench_children'', ''parent_id'')'
    WHEN 'c2' THEN 'SELECT denorm_create_counter(''bench_parents'', ''child_count'', ''bench_children'', ''parent_id''), denorm_create_counter(''bench_parents'', ''amount_sum'', ''bench_children'', ''parent_id'', ''sum'', ''amount'')'
    WHEN 'c4' THEN 'SELECT denorm_create_counter(''bench_parents'', ''child_count'', ''bench_children'', ''parent_id''), denorm_create_counter(''bench_parents'', ''amount_sum'', ''bench_children'', ''parent_id'', ''sum'', ''amount''), denorm_create_counter(''bench_parents'', ''big_count'', ''bench_children'', ''parent_id'', filter => ''amount > 50''), denorm_create_counter(''bench_parents'', ''big_sum'', ''bench_children'', ''parent_id'', ''sum'', ''amount'', filter => ''amount > 50'')'
    WHEN 'max_plpgsql' THEN 'CREATE TRIGGER bench_t AFTER INSERT OR UPDATE OR DELETE ON bench_children FOR EACH ROW EXECUTE FUNCTION bench_max()'
    WHEN 'max_immediate' THEN 'SELECT denorm_create_counter(''bench_parents'', ''amount_max'', ''bench_children'', ''parent_id'', ''max'', ''amount'')'
    WHEN 'max_commit' THEN 'SELECT denorm_create_counter(''bench_parents'', ''amount_max'', ''bench_children'', ''parent_id'', ''max'', ''amount'', mode => ''commit'')'
    ELSE 'SELECT 1' END AS ddl \gset
:ddl;
VACUUM ANALYZE bench_parents;
