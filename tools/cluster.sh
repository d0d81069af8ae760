# Sourced by the test, demo and benchmark scripts: installs what denorm
# needs from Debian's packages, builds and installs it, and runs a
# throwaway PostgreSQL 15 cluster (socket only, private port, pg_cron
# preloaded) that is stopped and removed when the calling script exits.
#
# After `denorm_cluster_start DBNAME`: PGHOST, PGPORT, PGUSER and
# DENORM_CLUSTER_DIR (data directory in $DENORM_CLUSTER_DIR/data) are exported.

set -euo pipefail

PGBIN=${DENORM_PGBIN:-/usr/lib/postgresql/15/bin}
# make builds against the pg_config on PATH unless told; Debian's
# /usr/bin/pg_config picks the newest installed server, which need not be
# the one the cluster runs, so every make of these scripts gets this one.
export PG_CONFIG=${PG_CONFIG:-$PGBIN/pg_config}
DENORM_PACKAGES="build-essential git postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl"

denorm_need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "run this as root: it installs packages and starts a server as the postgres user" >&2
        exit 1
    fi
}

# Installs the Debian packages that are missing (apt-get update only then).
denorm_install_packages() {
    local missing=""
    for p in $DENORM_PACKAGES "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "== installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q $missing >/dev/null
    fi
}

denorm_build_install() {
    echo "== building and installing denorm"
    make -s clean >/dev/null
    make -s DENORM_WERROR=1 >/dev/null
    make -s install >/dev/null
}

# denorm_cluster_start CRON_DATABASE [extra postgresql.conf lines]
denorm_cluster_start() {
    local crondb="$1"; shift
    DENORM_CLUSTER_DIR=$(mktemp -d /tmp/denorm-cluster.XXXXXX)
    export DENORM_CLUSTER_DIR
    chown postgres:postgres "$DENORM_CLUSTER_DIR"
    chmod 700 "$DENORM_CLUSTER_DIR"
    export PGHOST="$DENORM_CLUSTER_DIR"
    export PGPORT="${DENORM_PORT:-54329}"
    export PGUSER=postgres
    trap denorm_cluster_stop EXIT
    runuser -u postgres -- "$PGBIN/initdb" -D "$DENORM_CLUSTER_DIR/data" -A trust -E UTF8 \
        --locale=C.UTF-8 >/dev/null
    cat >> "$DENORM_CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DENORM_CLUSTER_DIR'
port = $PGPORT
shared_preload_libraries = 'pg_cron'
cron.database_name = '$crondb'
cron.use_background_workers = on
max_worker_processes = 16
max_connections = 60
fsync = off
synchronous_commit = off
CONF
    for line in "$@"; do echo "$line" >> "$DENORM_CLUSTER_DIR/data/postgresql.conf"; done
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" \
        -l "$DENORM_CLUSTER_DIR/server.log" -w start >/dev/null
}

denorm_cluster_stop() {
    if [ -n "${DENORM_CLUSTER_DIR:-}" ] && [ -d "$DENORM_CLUSTER_DIR/data" ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DENORM_CLUSTER_DIR/data" -m fast -w stop \
            >/dev/null 2>&1 || true
        rm -rf "$DENORM_CLUSTER_DIR"
    fi
}
