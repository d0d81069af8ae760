#!/usr/bin/env bash
# compare-install.sh: does a fresh install of denorm create exactly what an
# updated one has?  Run it against a running server that has this build
# installed (make install), as a superuser; it connects with the usual
# PGHOST, PGPORT and PGUSER, and takes psql from the bindir of PG_CONFIG
# when that is set, else from PATH.
#
#   tools/compare-install.sh [FROM_VERSION]
#       Makes two scratch databases and installs denorm in each: "chain"
#       runs CREATE EXTENSION denorm VERSION 'FROM_VERSION' (default 1.0)
#       and ALTER EXTENSION denorm UPDATE, that is the frozen scripts one
#       after the other up to the default version; "direct" runs CREATE
#       EXTENSION denorm, the default version's install script (built from
#       sql/denorm.sql).  Compares them and drops both databases.
#
#   tools/compare-install.sh --databases DB_A DB_B [--ignore-role ROLE]
#       Compares the denorm extensions already in two databases (one of
#       them updated with data in it, say).  Privileges given to ROLE are
#       left out of both listings.
#
#   tools/compare-install.sh --list DB [--ignore-role ROLE]
#       Prints the listing of one database, to read or diff by hand.
#
# The listing has one entry per property of each member of the extension:
# every function's full definition (pg_get_functiondef: arguments, result,
# language, volatility, settings, body), owner, privileges and security
# (a missing ACL shown as the default it stands for);
# every table's columns in order with types, defaults and NOT NULL, its
# constraints, indexes, triggers, options and privileges; views; sequences;
# event triggers; comments; initial privileges; the tables pg_dump keeps.
# Entries are sorted, so the order of creation does not matter and OIDs
# never appear.  The two listings (and, in the first form, what the two
# installs printed) must be equal: the differences are printed as a
# unified diff, "-" the chain or DB_A, "+" the direct install or DB_B.
# Exit status 0 when equal, 1 when they differ, 2 when it could not
# compare.
#
# Folding a later section of the newest upgrade script into sql/denorm.sql:
# make install, run tools/compare-install.sh, and carry each difference
# over to the feature section of sql/denorm.sql where that object lives;
# make install and run it again until it prints "identical".
set -euo pipefail

if [ -n "${PG_CONFIG:-}" ]; then
    PSQL="$("$PG_CONFIG" --bindir)/psql"
else
    PSQL=psql
fi
psql_() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

mode=installs
from=1.0
ignore_role=""
dbs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --databases) mode=databases; [ $# -ge 3 ] || usage; dbs=("$2" "$3"); shift 3 ;;
        --list) mode=list; [ $# -ge 2 ] || usage; dbs=("$2"); shift 2 ;;
        --ignore-role) [ $# -ge 2 ] || usage; ignore_role=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) from=$1; shift ;;
    esac
done

WORK=$(mktemp -d -t denorm-compare.XXXXXX)
CHAIN_DB=denorm_compare_chain
DIRECT_DB=denorm_compare_direct
finish() {
    if [ "$mode" = installs ]; then
        psql_ -d postgres -c "DROP DATABASE IF EXISTS $CHAIN_DB" \
              -c "DROP DATABASE IF EXISTS $DIRECT_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap finish EXIT

# One line (or block) per property, each starting with what it is about.
# :'ignore' is a role whose privileges are left out ('' for none).
cat > "$WORK/objects.sql" <<'SQL'
-- Privileges as a sorted list, a NULL ACL spelled out as the default it
-- stands for (a GRANT and its REVOKE leave the default written out), and
-- without the ignored role's.
CREATE FUNCTION pg_temp.acl(a aclitem[], dflt aclitem[]) RETURNS text LANGUAGE sql AS
$$ SELECT coalesce(string_agg(x::text, ',' ORDER BY x::text), '')
     FROM unnest(coalesce(a, dflt)) x
    WHERE (SELECT current_setting('denorm_compare.ignore') = ''
               OR x::text !~ ('^' || quote_ident(current_setting('denorm_compare.ignore')) || '=')) $$;
-- The default privileges of an object of the extension (no ACL of its own)
CREATE FUNCTION pg_temp.acl_default(classid oid, objid oid, objsubid integer) RETURNS aclitem[]
LANGUAGE sql AS
$$ SELECT CASE WHEN objsubid <> 0 THEN '{}'::aclitem[]
               WHEN classid = 'pg_proc'::regclass THEN
                   (SELECT acldefault('f', p.proowner) FROM pg_proc p WHERE p.oid = objid)
               WHEN classid = 'pg_class'::regclass THEN
                   (SELECT acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner)
                      FROM pg_class c WHERE c.oid = objid) END $$;
CREATE FUNCTION pg_temp.lines(what text, def text) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(what || ' | ' || l, E'\n' ORDER BY n)
     FROM regexp_split_to_table(rtrim(def, E'\n'), E'\n') WITH ORDINALITY AS t(l, n) $$;
SELECT set_config('denorm_compare.ignore', :'ignore', false) \g /dev/null
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
    -- (each line of a definition starts with its object, so that a
    -- difference shows whose it is)
    SELECT pg_temp.lines('function ' || p.oid::regprocedure, pg_get_functiondef(p.oid)) FROM procs p
    UNION ALL
    SELECT format('function %s owner %s acl %s config %s secdef %s', p.oid::regprocedure,
                  pg_get_userbyid(p.proowner), pg_temp.acl(p.proacl, acldefault('f', p.proowner)),
                  p.proconfig, p.prosecdef) FROM procs p
    UNION ALL
    -- tables, views, sequences, indexes
    SELECT format('relation %s kind %s persistence %s options %s owner %s acl %s',
                  c.oid::regclass, c.relkind, c.relpersistence, c.reloptions,
                  pg_get_userbyid(c.relowner),
                  pg_temp.acl(c.relacl, pg_temp.acl_default('pg_class'::regclass, c.oid, 0))) FROM rels c
    UNION ALL
    SELECT format('relation %s column %s %s %s notnull %s default %s identity %s generated %s collation %s acl %s',
                  a.attrelid::regclass, lpad(a.attnum::text, 3, '0'), a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  a.attcollation::regcollation, pg_temp.acl(a.attacl, '{}'))
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
    SELECT pg_temp.lines(format('relation %s view', c.oid::regclass), pg_get_viewdef(c.oid))
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
    -- the privileges pg_dump takes as the extension's own (those that are
    -- the object's default say no more than no entry)
    SELECT format('initial privileges of %s: %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid),
                  i.privtype, pg_temp.acl(i.initprivs, NULL))
      FROM pg_init_privs i
     WHERE EXISTS (SELECT 1 FROM ext WHERE ext.classid = i.classoid AND ext.objid = i.objoid)
       AND pg_temp.acl(i.initprivs, NULL)
           IS DISTINCT FROM pg_temp.acl(pg_temp.acl_default(i.classoid, i.objoid, i.objsubid), NULL)
    UNION ALL
    -- the tables pg_dump keeps the rows of
    SELECT format('dumped %s where %s', u.rel::regclass, u.cond)
      FROM pg_extension e,
           unnest(e.extconfig, e.extcondition) AS u(rel, cond)
     WHERE e.extname = 'denorm'
    UNION ALL
    SELECT format('extension version %s schema %s relocatable %s owner %s', e.extversion,
                  e.extnamespace::regnamespace, e.extrelocatable, pg_get_userbyid(e.extowner))
      FROM pg_extension e WHERE e.extname = 'denorm')
SELECT line FROM lines ORDER BY line COLLATE "C";
SQL

list() {  # list DB OUTFILE
    if ! psql_ -t -A -v ignore="$ignore_role" -d "$1" -f "$WORK/objects.sql" > "$2" 2> "$WORK/list.err"; then
        cat "$WORK/list.err" >&2
        echo "could not list the denorm extension of database $1" >&2
        exit 2
    fi
    local members
    members=$(grep -c '^member ' "$2" || true)
    if [ "$members" -lt 40 ]; then
        echo "the listing of database $1 has only $members members: is denorm installed there?" >&2
        exit 2
    fi
}

case "$mode" in
list)
    list "${dbs[0]}" "$WORK/a.txt"
    cat "$WORK/a.txt"
    exit 0
    ;;
databases)
    a=${dbs[0]}; b=${dbs[1]}
    label_a="database $a"; label_b="database $b"
    ;;
installs)
    a=$CHAIN_DB; b=$DIRECT_DB
    label_a="CREATE EXTENSION denorm VERSION '$from' + ALTER EXTENSION denorm UPDATE"
    label_b="CREATE EXTENSION denorm"
    psql_ -d postgres -c "SET client_min_messages = warning" \
          -c "DROP DATABASE IF EXISTS $CHAIN_DB" -c "DROP DATABASE IF EXISTS $DIRECT_DB" \
          -c "CREATE DATABASE $CHAIN_DB" -c "CREATE DATABASE $DIRECT_DB" >/dev/null
    if ! psql_ -d "$CHAIN_DB" -c "CREATE EXTENSION denorm VERSION '$from'" \
               -c "ALTER EXTENSION denorm UPDATE" 2> "$WORK/a.err"; then
        cat "$WORK/a.err" >&2
        echo "$label_a failed" >&2
        exit 2
    fi
    if ! psql_ -d "$DIRECT_DB" -c "CREATE EXTENSION denorm" 2> "$WORK/b.err"; then
        cat "$WORK/b.err" >&2
        echo "$label_b failed" >&2
        exit 2
    fi
    ;;
esac

list "$a" "$WORK/a.txt"
list "$b" "$WORK/b.txt"
status=0
if [ "$mode" = installs ] &&
   ! diff -u --label "$label_a (messages)" --label "$label_b (messages)" "$WORK/a.err" "$WORK/b.err"; then
    echo "the two installs printed different messages" >&2
    status=1
fi
if diff -u --label "$label_a" --label "$label_b" "$WORK/a.txt" "$WORK/b.txt"; then
    echo "identical: $(grep -c '^member ' "$WORK/a.txt") members, $(wc -l < "$WORK/a.txt") lines of definitions"
else
    echo "the denorm of $label_a differs from that of $label_b" >&2
    status=1
fi
exit $status
