#!/usr/bin/env bash
# The Debian package, as a user gets it: builds postgresql-15-denorm from a
# copy of this tree with dpkg-buildpackage (debian/, pg_buildext), installs
# it with dpkg, checks what it holds and depends on, and runs a smoke test
# on the installed files: CREATE EXTENSION, a counter through inserts,
# moves and deletes, reconcile, the update from 1.0 with ALTER EXTENSION,
# DROP EXTENSION.
#
# As root.  Uses the cluster of test/run-all.sh when there is one
# (DENORM_CLUSTER_DIR), else starts its own with tools/cluster.sh.  The
# tree is left as it was (the build happens in a temporary copy).  A
# package that was not installed before is removed again at the end and
# `make install` puts the build of this tree back, so what test/run-all.sh
# installed is still what the later tests load.  Prints TAP.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source tools/cluster.sh            # PGBIN, PG_CONFIG, denorm_install_packages
set +e                             # checks report failures; the script goes on
denorm_need_root
denorm_install_packages debhelper postgresql-server-dev-all
own_cluster=no
if [ -z "${DENORM_CLUSTER_DIR:-}" ]; then
    denorm_cluster_start postgres
    own_cluster=yes
fi
source test/tap.sh

MAJOR=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
PKG=postgresql-$MAJOR-denorm
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" denorm.control)
LIBDIR=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
# the package installs into Debian's PostgreSQL; a run against another
# installation (PG_CONFIG or DENORM_PGBIN naming a copy elsewhere) could
# neither find its files there nor load them
if [ "$LIBDIR" != "/usr/lib/postgresql/$MAJOR/lib" ]; then
    [ "$own_cluster" = no ] || denorm_cluster_stop
    echo "1..0 # SKIP PG_CONFIG names $LIBDIR, not Debian's PostgreSQL $MAJOR, which the package installs into"
    exit 0
fi
WORK=$(mktemp -d /tmp/denorm-deb.XXXXXX)
chmod 755 "$WORK"
was_installed=no
dpkg-query -W -f '${db:Status-Status}' "$PKG" 2>/dev/null | grep -qx installed && was_installed=yes

finish() {
    if [ "$was_installed" = no ] &&
        dpkg-query -W -f '${db:Status-Status}' "$PKG" 2>/dev/null | grep -qx installed; then
        dpkg -r "$PKG" >/dev/null 2>&1
        make -C "$ROOT" -s install >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    # never the cluster of test/run-all.sh, which its later tests use
    [ "$own_cluster" = no ] || denorm_cluster_stop
}
trap finish EXIT

# The tree as it is on disk (tracked and new files, no build artefacts).
mkdir "$WORK/denorm"
if git -c safe.directory="$ROOT" -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -c safe.directory="$ROOT" -C "$ROOT" ls-files -z --cached --others --exclude-standard |
        tar -c --null -T - | tar -x -C "$WORK/denorm"
else
    tar -c --exclude=.git . | tar -x -C "$WORK/denorm"
    make -C "$WORK/denorm" -s clean >/dev/null 2>&1
fi
status_before=$(git -c safe.directory="$ROOT" -C "$ROOT" status --porcelain 2>/dev/null)

# debian/control is generated from debian/control.in; the build refuses a
# stale one (pg_buildext checkcontrol), so this is checked first, alone.
(cd "$WORK/denorm" && pg_buildext checkcontrol) > "$WORK/checkcontrol.log" 2>&1
check "debian/control is up to date with debian/control.in" 0 "$?"

(cd "$WORK/denorm" && dpkg-buildpackage -us -uc -b) > "$WORK/build.log" 2>&1
rc=$?
check "dpkg-buildpackage -us -uc -b builds the package" 0 "$rc"
[ "$rc" -eq 0 ] || tail -30 "$WORK/build.log" | sed 's/^/# /'
deb=$(ls "$WORK"/${PKG}_${VERSION}_*.deb 2>/dev/null | head -1)
check "it is named ${PKG}_${VERSION}_<arch>.deb" yes "$([ -n "$deb" ] && echo yes || echo no)"
check "the tree is left as it was" "$status_before" \
    "$(git -c safe.directory="$ROOT" -C "$ROOT" status --porcelain 2>/dev/null)"

dpkg -i "$deb" > "$WORK/dpkg.log" 2>&1
rc=$?
check "dpkg -i installs it" 0 "$rc"
[ "$rc" -eq 0 ] || sed 's/^/# /' "$WORK/dpkg.log"

# What it holds: the library and every extension file a CREATE EXTENSION
# or an update can ask for, the same bytes as this tree's.
listed=$(dpkg -L "$PKG" 2>/dev/null)
missing=""
for f in "$LIBDIR/denorm.so" "$EXTDIR/denorm.control" "$EXTDIR/denorm--$VERSION.sql" \
         "$EXTDIR/denorm--1.0.sql" $(ls sql/denorm--*--*.sql | sed "s|^sql/|$EXTDIR/|"); do
    grep -qxF "$f" <<<"$listed" || missing="$missing $f"
done
check "dpkg -L lists the library, the control file, the install and upgrade scripts" "" "$missing"
differ=""
cmp -s sql/denorm.sql "$EXTDIR/denorm--$VERSION.sql" || differ="$differ denorm--$VERSION.sql"
cmp -s denorm.control "$EXTDIR/denorm.control" || differ="$differ denorm.control"
for f in sql/denorm--1.0.sql sql/denorm--*--*.sql; do
    cmp -s "$f" "$EXTDIR/$(basename "$f")" || differ="$differ $(basename "$f")"
done
check "the installed scripts are this tree's (denorm--$VERSION.sql built from sql/denorm.sql)" "" "$differ"
check "pg_cron is not a dependency" "" \
    "$(dpkg-query -W -f '${Depends}\n${Pre-Depends}\n${Recommends}\n' "$PKG" | grep -o 'postgresql-[0-9]*-cron')"
check "pg_cron is suggested" "postgresql-$MAJOR-cron" \
    "$(dpkg-query -W -f '${Suggests}' "$PKG" | grep -o "postgresql-$MAJOR-cron")"
check "it depends on PostgreSQL $MAJOR" yes \
    "$(dpkg-query -W -f '${Depends}' "$PKG" | grep -qE "(^|, )postgresql-$MAJOR( |,|$)" && echo yes || echo no)"

check "the files on disk are the package's (dpkg --verify)" "" "$(dpkg --verify "$PKG" 2>&1)"

# A smoke test on the installed files, in databases of its own.
DB=denorm_package
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" \
    -c "CREATE DATABASE $DB" >/dev/null
q "CREATE EXTENSION denorm" >/dev/null
check "CREATE EXTENSION denorm installs version $VERSION" "$VERSION" \
    "$(q "SELECT extversion FROM pg_extension WHERE extname = 'denorm'")"
q "CREATE TABLE orders (id int PRIMARY KEY, item_count int NOT NULL DEFAULT 0,
                        total numeric NOT NULL DEFAULT 0);
   CREATE TABLE order_items (id serial PRIMARY KEY, order_id int REFERENCES orders,
                             price numeric NOT NULL);
   CREATE INDEX ON order_items (order_id);
   INSERT INTO orders (id) VALUES (1), (2);" >/dev/null
q "SELECT denorm_create_counter('orders', 'item_count', 'order_items', 'order_id')" >/dev/null
q "SELECT denorm_create_counter('orders', 'total', 'order_items', 'order_id',
                                aggregate => 'sum', value_column => 'price')" >/dev/null
q "INSERT INTO order_items (order_id, price) VALUES (1, 10), (1, 5.50), (1, 2), (2, 7)" >/dev/null
check "inserts are counted" "3|17.50 1|7" \
    "$(q "SELECT item_count || '|' || total FROM orders ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
q "DELETE FROM order_items WHERE price = 2;
   UPDATE order_items SET order_id = 2 WHERE price = 10" >/dev/null
check "a delete and a move are counted" "1|5.50 2|17" \
    "$(q "SELECT item_count || '|' || total FROM orders ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
check "reconcile finds no drift" 0 "$(q "SELECT sum(rows_drifted) FROM denorm_reconcile()")"
q "SELECT denorm_drop_counter('orders', 'item_count'); SELECT denorm_drop_counter('orders', 'total')" >/dev/null
q "DROP EXTENSION denorm" >/dev/null
check "DROP EXTENSION removes it and leaves the tables" "0 2" \
    "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'denorm'") $(q "SELECT count(*) FROM orders")"

# From the first release to this one with the packaged scripts.
DB=denorm_package_upgrade
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" \
    -c "CREATE DATABASE $DB" >/dev/null
q "CREATE EXTENSION denorm VERSION '1.0'" >/dev/null
q "CREATE TABLE posts (id int PRIMARY KEY, comment_count int NOT NULL DEFAULT 0);
   CREATE TABLE comments (id serial PRIMARY KEY, post_id int REFERENCES posts);
   CREATE INDEX ON comments (post_id);
   INSERT INTO posts VALUES (1), (2);
   SELECT denorm_create_counter('posts', 'comment_count', 'comments', 'post_id');
   INSERT INTO comments (post_id) VALUES (1), (1), (2);" >/dev/null
check "a 1.0 database counts" "2 1" "$(q "SELECT comment_count FROM posts ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
q "ALTER EXTENSION denorm UPDATE" >/dev/null 2>"$WORK/update.err"
check "ALTER EXTENSION denorm UPDATE goes from 1.0 to $VERSION" "$VERSION" \
    "$(q "SELECT extversion FROM pg_extension WHERE extname = 'denorm'")"
q "INSERT INTO comments (post_id) VALUES (2); DELETE FROM comments WHERE id = 1" >/dev/null
check "the updated counter stays exact" "1 2" "$(q "SELECT comment_count FROM posts ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
check "reconcile after the update finds no drift" 0 "$(q "SELECT sum(rows_drifted) FROM denorm_reconcile()")"
q "DROP EXTENSION denorm CASCADE" >/dev/null 2>&1
check "DROP EXTENSION ... CASCADE removes it" 0 "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'denorm'")"
psql -X -q -d postgres -c "DROP DATABASE denorm_package" -c "DROP DATABASE denorm_package_upgrade" >/dev/null

# Leave the system as it was: a package that was not installed before is
# removed, and this tree's build goes back where dpkg -r took the files.
if [ "$was_installed" = no ]; then
    dpkg -r "$PKG" > "$WORK/remove.log" 2>&1
    check "dpkg -r removes the package and its files" "0 no"         "$? $([ -e "$EXTDIR/denorm.control" ] && echo yes || echo no)"
    make -C "$ROOT" -s install >/dev/null 2>&1
    same=yes
    cmp -s "$ROOT/denorm.so" "$LIBDIR/denorm.so" || same=no
    cmp -s "$ROOT/sql/denorm.sql" "$EXTDIR/denorm--$VERSION.sql" || same=no
    check "make install puts this tree's build back" yes "$same"
fi

[ "$failures" -eq 0 ]
