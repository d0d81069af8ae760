#!/usr/bin/env bash
# Runs every denorm test on a fresh Debian 12 machine, as root: installs the
# Debian packages that are missing, builds and installs the extension,
# starts a throwaway PostgreSQL 15 cluster with pg_cron preloaded, runs the
# pg_regress, isolation, pgTAP, packaging (META.json, the Debian package
# built, installed and tried), pg_cron, reliability, Citus (skipped when
# Citus is not installed), upgrade and soak tests, and removes the cluster.
# Ends with a "N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/cluster.sh
set +e
denorm_need_root
denorm_install_packages debhelper postgresql-server-dev-all   # these two for test/package/deb.sh
denorm_build_install
denorm_cluster_start denorm_cron
# pg_cron's launcher waits for this database (see test/cron)
psql -X -q -d postgres -c "CREATE DATABASE denorm_cron" >/dev/null

passed=0
failed=0
count() {  # count LOGFILE: tallies pg_regress/isolation result lines
    local ok bad
    ok=$(grep -cE '^(ok|test|    ) .*\.\.\. ok|^ok [0-9]+ ' "$1")
    bad=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$1")
    passed=$((passed + ok)); failed=$((failed + bad))
}
log=$(mktemp -d /tmp/denorm-test-log.XXXXXX)

echo "== pg_regress and isolation tests"
make -s installcheck 2>&1 | tee "$log/installcheck.txt"
count "$log/installcheck.txt"
if [ -s regression.diffs ]; then
    echo "---- regression.diffs"; cat regression.diffs
fi

echo "== pgTAP tests"
make -s prove PROVE_FLAGS=-v > "$log/pgtap.txt" 2>&1
grep -vE '^ok [0-9]+ ' "$log/pgtap.txt"
ok=$(grep -cE '^ok [0-9]+ ' "$log/pgtap.txt"); bad=$(grep -cE '^not ok [0-9]+ ' "$log/pgtap.txt")
grep -q '^Result: PASS' "$log/pgtap.txt" || bad=$((bad > 0 ? bad : 1))
echo "pgTAP assertions: $ok passed, $bad failed"
passed=$((passed + ok)); failed=$((failed + bad))

for t in test/package/*.sh test/cron/*.sh test/reliability/*.sh test/citus/*.sh test/upgrade/*.sh test/soak/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    bash "$t" 2>&1 | tee "$log/$(basename "$t").txt"
    rc=${PIPESTATUS[0]}
    ok=$(grep -cE '^ok [0-9]+ ' "$log/$(basename "$t").txt")
    bad=$(grep -cE '^not ok [0-9]+ ' "$log/$(basename "$t").txt")
    [ "$rc" -eq 0 ] || bad=$((bad > 0 ? bad : 1))
    passed=$((passed + ok)); failed=$((failed + bad))
done

rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
