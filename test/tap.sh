# Sourced by the shell tests: TAP checks and waiting on the database.
# Set DB (the database q talks to) before using q, wait_until or hold_lock.

q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

n=0
failures=0
check() {  # check DESCRIPTION EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1 (expected '$2', got '$3')"
        failures=$((failures + 1))
    fi
}

# wait_until SQL EXPECTED TRIES PAUSE: polls until SQL returns EXPECTED, at
# most TRIES times PAUSE seconds; the caller checks the outcome.
wait_until() {
    local i
    for i in $(seq 1 "$3"); do
        [ "$(q "$1")" = "$2" ] && return 0
        sleep "$4"
    done
    return 0
}

# hold_lock TABLE SECONDS: a session (application_name denorm_test_locker)
# holds TABLE in ACCESS EXCLUSIVE mode for SECONDS, in the background; returns
# once the lock is granted, with the client's pid in lock_pid.
hold_lock() {
    PGAPPNAME=denorm_test_locker psql -X -q -d "$DB" \
        -c "BEGIN; LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($2)" >/dev/null 2>&1 &
    lock_pid=$!
    wait_until "SELECT count(*) FROM pg_locks WHERE relation = '$1'::regclass
                   AND mode = 'AccessExclusiveLock' AND granted" 1 100 0.1
}
