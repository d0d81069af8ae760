#!/usr/bin/env bash
# pg_cron and failures, for real: a reconcile job whose counter fails is
# recorded by pg_cron as failed (the CALL ends with an error naming the
# counter), and DROP EXTENSION denorm folds pending deltas into their
# columns and unschedules the jobs denorm scheduled, leaving other jobs.
# Needs the test cluster of test/run-all.sh (pg_cron preloaded,
# cron.database_name = denorm_cron, background workers on); runs before
# cron_reconcile.sh and leaves denorm uninstalled.  Prints TAP.
set -euo pipefail
DB=denorm_cron
source "$(dirname "$0")/../tap.sh"

q "CREATE EXTENSION IF NOT EXISTS pg_cron"
q "DROP EXTENSION IF EXISTS denorm CASCADE" >/dev/null 2>&1
q "CREATE EXTENSION denorm"
q "CREATE TABLE cf_orders (id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0)"
q "CREATE TABLE cf_lines (id serial PRIMARY KEY, order_id int REFERENCES cf_orders, price numeric)"
q "CREATE INDEX ON cf_lines (order_id)"
q "INSERT INTO cf_orders SELECT g FROM generate_series(1, 5) g"
q "INSERT INTO cf_lines (order_id, price) SELECT 1 + g % 5, g FROM generate_series(1, 20) g"
q "SELECT denorm_create_counter('cf_orders', 'total', 'cf_lines', 'order_id', 'sum', 'price')" >/dev/null
# drift the triggers cannot see, and a parent trigger that refuses its heal
q "SET session_replication_role = replica; INSERT INTO cf_lines (order_id, price) VALUES (2, 100)"
q "CREATE FUNCTION cf_refuse() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS
   \$\$BEGIN RAISE EXCEPTION 'order % is closed', NEW.id; END\$\$"
q "CREATE TRIGGER cf_refuse BEFORE UPDATE ON cf_orders FOR EACH ROW EXECUTE FUNCTION cf_refuse()"

job=$(q "SELECT denorm_schedule_reconcile('* * * * *', 'cf-reconcile')")
# a job scheduled every minute starts within about 60 s
wait_until "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job
              AND status IN ('succeeded', 'failed')" 1 90 1
check "pg_cron ran the reconcile job" "1" \
      "$(q "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed')")"
check "pg_cron recorded the run with a failed counter as failed" "failed" \
      "$(q "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")"
check "its message names the counter and the run" "t" \
      "$(q "SELECT return_message ~ 'denorm reconcile run [0-9]+ failed for denorm counter [0-9]+ on public.cf_orders.total'
              FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")"
check "the run is recorded as failed, with the error" "failed|counter 1: order 2 is closed" \
      "$(q "SELECT status, error FROM denorm_reconcile_runs ORDER BY run_id LIMIT 1")"
check "the drift the failed heal found is logged, unhealed" "2|100|f" \
      "$(q "SELECT parent_key, drift, healed FROM denorm_drift_log ORDER BY log_id LIMIT 1")"
q "SELECT cron.unschedule($job)" >/dev/null
q "DROP TRIGGER cf_refuse ON cf_orders"

# DROP EXTENSION: a deferred counter with pending deltas, the three kinds
# of denorm job, and a job of the user's own that calls denorm
q "CREATE TABLE cf_hot (id int PRIMARY KEY, likes int NOT NULL DEFAULT 0)"
q "CREATE TABLE cf_likes (id serial PRIMARY KEY, hot_id int REFERENCES cf_hot)"
q "CREATE INDEX ON cf_likes (hot_id)"
q "INSERT INTO cf_hot VALUES (1), (2)"
q "SELECT denorm_create_counter('cf_hot', 'likes', 'cf_likes', 'hot_id', mode => 'deferred')" >/dev/null
q "INSERT INTO cf_likes (hot_id) VALUES (1), (1), (2)"
check "deltas are pending" "2" "$(q "SELECT count(*) FROM denorm_pending")"
q "SELECT denorm_schedule_reconcile('0 2 * * *', 'cf-nightly')" >/dev/null
q "SELECT denorm_schedule_flush()" >/dev/null
q "SELECT denorm_schedule_purge()" >/dev/null
own=$(q "SELECT cron.schedule('cf-own', '0 5 * * *', 'SELECT public.denorm_flush(2)')")
out=$(psql -X -q -d "$DB" -c "DROP EXTENSION denorm CASCADE" 2>&1)
check "DROP EXTENSION names the pending deltas it folded" "t" \
      "$(grep -q 'NOTICE:  denorm: folded 2 pending deltas into their columns before the drop' <<<"$out" && echo t || echo f)"
check "and the jobs it unscheduled" "t" \
      "$(grep -q "NOTICE:  denorm: unscheduled pg_cron jobs .*'cf-nightly'.*'denorm-flush'.*'denorm-purge-history'" <<<"$out" && echo t || echo f)"
check "and warns of the job that calls denorm but is not denorm's" "t" \
      "$(grep -q "WARNING:  denorm: pg_cron jobs $own ('cf-own') mention denorm" <<<"$out" && echo t || echo f)"
check "the extension is gone" "0" "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'denorm'")"
check "the deferred column holds the folded deltas" "1|2,2|1" \
      "$(q "SELECT string_agg(id || '|' || likes, ',' ORDER BY id) FROM cf_hot")"
check "only the user's own job is left" "cf-own" \
      "$(q "SELECT string_agg(jobname, ',') FROM cron.job WHERE database = current_database()")"

q "SELECT cron.unschedule($own)" >/dev/null
q "DROP TABLE cf_likes, cf_hot, cf_lines, cf_orders"
q "DROP FUNCTION cf_refuse()"
echo "1..$n"
[ "$failures" -eq 0 ]
