#!/usr/bin/env bash
# pg_cron, for real: a job scheduled with denorm_schedule_reconcile() every
# minute runs the reconcile procedure in the pg_cron database and heals
# drift, of counters and copies in the same run; the history purge job is scheduled with its retention period.
# Needs the test cluster of test/run-all.sh (pg_cron preloaded,
# cron.database_name = denorm_cron, background workers on).  Prints TAP.
set -euo pipefail
DB=denorm_cron
source "$(dirname "$0")/../tap.sh"

q "CREATE EXTENSION IF NOT EXISTS pg_cron"
q "CREATE EXTENSION IF NOT EXISTS denorm"
q "CREATE TABLE cron_authors (id int PRIMARY KEY, name text)"
q "INSERT INTO cron_authors SELECT g, 'author ' || g FROM generate_series(1, 4) g"
q "CREATE TABLE cron_posts (id int PRIMARY KEY, comment_count int NOT NULL DEFAULT 0, author_id int, author_name text)"
q "CREATE INDEX ON cron_posts (author_id)"
q "CREATE TABLE cron_comments (id serial PRIMARY KEY, post_id int REFERENCES cron_posts)"
q "INSERT INTO cron_posts SELECT g, 0, g % 4 + 1 FROM generate_series(1, 20) g"
q "INSERT INTO cron_comments (post_id) SELECT 1 + g % 20 FROM generate_series(1, 200) g"
counter=$(q "SELECT denorm_create_counter('cron_posts', 'comment_count', 'cron_comments', 'post_id')")
copy=$(q "SELECT denorm_create_copy('cron_posts', 'author_name', 'cron_authors', 'name', 'author_id')")
# drift that the triggers cannot see, of the counter and of the copy
q "SET session_replication_role = replica; INSERT INTO cron_comments (post_id) VALUES (3), (3), (4)"
q "SET session_replication_role = replica; UPDATE cron_posts SET author_name = 'stale' WHERE id IN (5, 6, 7)"

# The first job run is held up by a lock on the child, so that it is seen
# in progress.
hold_lock cron_comments 120
trap 'kill $lock_pid 2>/dev/null || true' EXIT

job=$(q "SELECT denorm_schedule_reconcile('* * * * *')")
again=$(q "SELECT denorm_schedule_reconcile('*/1 * * * *')")
check "scheduling again updates the same job" "$job" "$again"
check "the job has the new schedule" "*/1 * * * *" "$(q "SELECT schedule FROM cron.job WHERE jobid = $job")"
check "the job calls the reconcile procedure" "CALL public.denorm_reconcile_batched()" \
      "$(q "SELECT command FROM cron.job WHERE jobid = $job")"

# a job scheduled every minute starts within about 60 s; while it waits for
# the lock its run is in progress, and the purge must leave it alone
wait_until "SELECT count(*) FROM denorm_reconcile_runs WHERE status = 'running'" 1 80 1
check "the pg_cron job's reconcile is under way" "1" \
      "$(q "SELECT count(*) FROM denorm_reconcile_runs WHERE status = 'running'")"
check "the purge does not take the job's run for abandoned" "0" \
      "$(q "SELECT runs_closed FROM denorm_purge_history()")"
check "the job's run is still in progress after the purge" "running" \
      "$(q "SELECT string_agg(status, ',') FROM denorm_reconcile_runs")"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'denorm_test_locker'" >/dev/null
for _ in $(seq 1 80); do
    done_runs=$(q "SELECT count(*) FROM denorm_reconcile_runs WHERE status <> 'running'")
    [ "$done_runs" -gt 0 ] && break
    sleep 1
done
check "pg_cron ran a reconcile that finished" "1" "$([ "$done_runs" -gt 0 ] && echo 1 || echo 0)"
check "pg_cron recorded the run as succeeded" "succeeded" \
      "$(q "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")"
first_run=$(q "SELECT min(run_id) FROM denorm_reconcile_runs")
check "the run found the two drifted posts" "2" \
      "$(q "SELECT rows_drifted FROM denorm_reconcile_checks WHERE run_id = $first_run AND counter_id = $counter")"
check "the same run found the three drifted copies" "3|3" \
      "$(q "SELECT rows_drifted, rows_healed FROM denorm_reconcile_checks WHERE run_id = $first_run AND counter_id = $copy")"
check "the run's totals include the copy" "2|5" \
      "$(q "SELECT counters, rows_drifted FROM denorm_reconcile_runs WHERE run_id = $first_run")"
check "the copy's drift rows name the posts" "5,6,7" \
      "$(q "SELECT string_agg(parent_key, ',' ORDER BY parent_key::int) FROM denorm_drift_log WHERE run_id = $first_run AND counter_id = $copy")"
check "the copy drift was healed" "0" \
      "$(q "SELECT count(*) FROM cron_posts p JOIN cron_authors a ON a.id = p.author_id WHERE p.author_name IS DISTINCT FROM a.name")"
check "the drift was healed" "0" \
      "$(q "SELECT count(*) FROM cron_posts p WHERE comment_count <> (SELECT count(*) FROM cron_comments c WHERE c.post_id = p.id)")"
check "unschedule removes the job" "t" "$(q "SELECT denorm_unschedule_reconcile()")"
check "unschedule of a missing job says false" "f" "$(q "SELECT denorm_unschedule_reconcile()")"

# the history purge job: its command is stored with the retention period
pjob=$(q "SELECT denorm_schedule_purge('15 4 * * *', interval '30 days')")
check "the purge job runs denorm_purge_history with its keep" \
      "SELECT * FROM public.denorm_purge_history('30 days'::interval)" \
      "$(q "SELECT command FROM cron.job WHERE jobid = $pjob AND jobname = 'denorm-purge-history'")"
check "scheduling the purge again updates the same job" "$pjob" \
      "$(q "SELECT denorm_schedule_purge('15 5 * * *', interval '60 days')")"
# what pg_cron will run: the run above is recent, so it is kept
check "the purge job's command runs and keeps recent runs" "0|0|0|0" \
      "$(q "$(q "SELECT command FROM cron.job WHERE jobid = $pjob")")"
check "unschedule removes the purge job" "t" "$(q "SELECT denorm_unschedule_purge()")"
check "unschedule of a missing purge job says false" "f" "$(q "SELECT denorm_unschedule_purge()")"
echo "1..$n"
