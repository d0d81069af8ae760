#!/usr/bin/env bash
# Checks that sql/denorm.sql installs what the chain of versioned scripts
# installs, object for object.
#
#   PG_CONFIG=.../pg_config PGHOST=... PGPORT=... tools/compare-install.sh [VERSION]
#
# One database runs CREATE EXTENSION denorm VERSION 'VERSION' (default 1.2:
# the 1.0 script and the upgrades after it); the other installs
# sql/denorm.sql, placed for the time of the run as the script of a
# version 9.9 in the extension directory of PG_CONFIG (which must be
# writable, and have this build of denorm installed: make install
# PG_CONFIG=...).  Both databases are then listed member by member of the
# extension: function definitions, privileges and settings; table columns
# in order, constraints, indexes, triggers, storage and privileges; views;
# sequences; event triggers; comments; initial privileges; and the tables
# pg_dump keeps.  The listings must be equal: prints the difference and
# exits 1 when not.  The databases are dropped and the 9.9 script removed
# when it ends.
set -euo pipefail
: "${PG_CONFIG:?set PG_CONFIG to the pg_config of the server to use}"
VERSION=${1:-1.2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PSQL="$("$PG_CONFIG" --bindir)/psql"
EXTDIR="$("$PG_CONFIG" --sharedir)/extension"
SINGLE_VERSION=9.9
CHAIN_DB=denorm_compare_chain
SINGLE_DB=denorm_compare_single
WORK=$(mktemp -d -t denorm-compare.XXXXXX)

if [ ! -f "$EXTDIR/denorm.control" ]; then
    echo "denorm is not installed in $EXTDIR: run make install PG_CONFIG=$PG_CONFIG" >&2
    exit 2
fi
if [ -e "$EXTDIR/denorm--$SINGLE_VERSION.sql" ]; then
    echo "$EXTDIR/denorm--$SINGLE_VERSION.sql exists already; not overwriting it" >&2
    exit 2
fi

psql_() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
finish() {
    rm -f "$EXTDIR/denorm--$SINGLE_VERSION.sql"
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $CHAIN_DB" \
          -c "DROP DATABASE IF EXISTS $SINGLE_DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap finish EXIT

install -m 644 "$ROOT/sql/denorm.sql" "$EXTDIR/denorm--$SINGLE_VERSION.sql"
psql_ -d postgres -c "SET client_min_messages = warning" \
      -c "DROP DATABASE IF EXISTS $CHAIN_DB" -c "DROP DATABASE IF EXISTS $SINGLE_DB" \
      -c "CREATE DATABASE $CHAIN_DB" -c "CREATE DATABASE $SINGLE_DB" >/dev/null
for install in "$CHAIN_DB $VERSION chain" "$SINGLE_DB $SINGLE_VERSION single"; do
    set -- $install
    if ! psql_ -d "$1" -c "CREATE EXTENSION denorm VERSION '$2'" 2> "$WORK/$3.err"; then
        cat "$WORK/$3.err" >&2
        echo "CREATE EXTENSION denorm VERSION '$2' failed" >&2
        exit 2
    fi
done

# One line (or block) per property, each starting with what it is about,
# sorted: the order objects were created in does not matter, OIDs never
# appear.
cat > "$WORK/objects.sql" <<'SQL'
WITH ext AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND e.extname = 'denorm'),
rels AS (SELECT c.* FROM pg_class c JOIN ext ON ext.classid = 'pg_class'::regclass
                                               AND ext.objid = c.oid),
procs AS (SELECT p.* FROM pg_proc p JOIN ext ON ext.classid = 'pg_proc'::regclass
                                              AND ext.objid = p.oid),
lines(line) AS (
    SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM ext
    UNION ALL
    -- functions and procedures
    SELECT format(E'function %s\n%s', p.oid::regprocedure, pg_get_functiondef(p.oid)) FROM procs p
    UNION ALL
    SELECT format('function %s owner %s acl %s config %s secdef %s', p.oid::regprocedure,
                  pg_get_userbyid(p.proowner), p.proacl, p.proconfig, p.prosecdef) FROM procs p
    UNION ALL
    -- tables, views, sequences, indexes
    SELECT format('relation %s kind %s persistence %s options %s owner %s acl %s',
                  c.oid::regclass, c.relkind, c.relpersistence, c.reloptions,
                  pg_get_userbyid(c.relowner), c.relacl) FROM rels c
    UNION ALL
    SELECT format('relation %s column %s %s %s notnull %s default %s identity %s generated %s collation %s',
                  a.attrelid::regclass, lpad(a.attnum::text, 3, '0'), a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attcollation::regcollation)
      FROM pg_attribute a JOIN rels c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('relation %s constraint %s %s deferrable %s deferred %s validated %s',
                  k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid),
                  k.condeferrable, k.condeferred, k.convalidated)
      FROM pg_constraint k JOIN rels c ON c.oid = k.conrelid
    UNION ALL
    SELECT format('relation %s index %s', i.indrelid::regclass, pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN rels c ON c.oid = i.indrelid
    UNION ALL
    SELECT format('relation %s trigger %s enabled %s', t.tgrelid::regclass,
                  pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid
    UNION ALL
    SELECT format(E'relation %s view\n%s', c.oid::regclass, pg_get_viewdef(c.oid))
      FROM rels c WHERE c.relkind = 'v'
    UNION ALL
    SELECT format('relation %s sequence %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
                  s.seqrelid::regclass, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                  s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                  (SELECT format('%s.%s', d.refobjid::regclass, a.attname)
                     FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
      FROM pg_sequence s JOIN rels c ON c.oid = s.seqrelid
    UNION ALL
    -- event triggers
    SELECT format('event trigger %s on %s tags %s function %s enabled %s owner %s',
                  t.evtname, t.evtevent, t.evttags, t.evtfoid::regprocedure, t.evtenabled,
                  pg_get_userbyid(t.evtowner))
      FROM pg_event_trigger t JOIN ext ON ext.classid = 'pg_event_trigger'::regclass AND ext.objid = t.oid
    UNION ALL
    -- comments: on members, and on the columns of member relations
    SELECT format('comment on %s: %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
      FROM pg_description d
     WHERE EXISTS (SELECT 1 FROM ext WHERE ext.classid = d.classoid AND ext.objid = d.objoid)
    UNION ALL
    -- the privileges pg_dump takes as the extension's own
    SELECT format('initial privileges of %s: %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid),
                  i.privtype, i.initprivs)
      FROM pg_init_privs i
     WHERE EXISTS (SELECT 1 FROM ext WHERE ext.classid = i.classoid AND ext.objid = i.objoid)
    UNION ALL
    -- the tables pg_dump keeps the rows of
    SELECT format('dumped %s where %s', u.rel::regclass, u.cond)
      FROM pg_extension e,
           unnest(e.extconfig, e.extcondition) AS u(rel, cond)
     WHERE e.extname = 'denorm'
    UNION ALL
    SELECT format('extension schema %s relocatable %s owner %s', e.extnamespace::regnamespace,
                  e.extrelocatable, pg_get_userbyid(e.extowner))
      FROM pg_extension e WHERE e.extname = 'denorm')
SELECT line FROM lines ORDER BY line COLLATE "C";
SQL
psql_ -t -A -d "$CHAIN_DB" -f "$WORK/objects.sql" > "$WORK/chain.txt"
psql_ -t -A -d "$SINGLE_DB" -f "$WORK/objects.sql" > "$WORK/single.txt"

members=$(grep -c '^member ' "$WORK/chain.txt" || true)
if [ "$members" -lt 40 ]; then
    echo "the listing of version $VERSION has only $members members: the query missed the extension" >&2
    exit 2
fi
status=0
# what each install said (warnings, notices) must match too
if ! diff -u --label "CREATE EXTENSION denorm VERSION '$VERSION' (messages)" \
             --label "sql/denorm.sql (messages)" "$WORK/chain.err" "$WORK/single.err"; then
    echo "the two installs printed different messages" >&2
    status=1
fi
if diff -u --label "CREATE EXTENSION denorm VERSION '$VERSION'" --label "sql/denorm.sql" \
        "$WORK/chain.txt" "$WORK/single.txt"; then
    echo "identical: $members members, $(wc -l < "$WORK/chain.txt") lines of definitions"
else
    echo "sql/denorm.sql differs from version $VERSION" >&2
    status=1
fi
exit $status
