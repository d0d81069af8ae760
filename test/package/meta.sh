#!/usr/bin/env bash
# META.json, the PGXN description of the distribution: it parses, has what
# the PGXN meta spec 1.0 requires, and says the same as the files it
# describes (the version of denorm.control, the newest CHANGELOG.md
# heading and debian/changelog, the control file's comment, the license,
# the PostgreSQL versions debian/pgversions builds for).  Needs no server.
# Prints TAP.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source test/tap.sh

# META.json's fields, one "key<TAB>value" line each (nested keys joined
# with "/"), or "error<TAB>why" when it does not parse.  JSON::PP ships
# with Debian's perl, which build-essential pulls in.
fields=$(perl -MJSON::PP -e '
    local $/;
    open(my $fh, "<", "META.json") or do { print "error\tcannot open META.json\n"; exit };
    my $meta = eval { JSON::PP->new->decode(<$fh>) };
    if (!$meta) { (my $e = $@) =~ s/\n//g; print "error\t$e\n"; exit }
    sub walk {
        my ($prefix, $v) = @_;
        if (ref $v eq "HASH") {
            print "$prefix\t{}\n" if $prefix ne "";
            walk($prefix eq "" ? $_ : "$prefix/$_", $v->{$_}) for sort keys %$v;
        } elsif (ref $v eq "ARRAY") {
            print "$prefix\t[", scalar(@$v), "]\n";
        } else {
            print "$prefix\t", (defined $v ? $v : "null"), "\n";
        }
    }
    walk("", $meta);')
field() { awk -F'\t' -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "(missing)" }' <<<"$fields"; }

check "META.json parses as JSON" "" "$(awk -F'\t' '$1 == "error" { print $2 }' <<<"$fields")"

missing=""
for key in name version abstract maintainer license provides meta-spec; do
    [ "$(field "$key")" = "(missing)" ] && missing="$missing $key"
done
check "META.json has every key the meta spec requires" "" "$missing"
check "meta-spec version is 1.0.x" yes \
    "$(field meta-spec/version | grep -qE '^1\.0\.[0-9]+$' && echo yes || echo "no: $(field meta-spec/version)")"
check "distribution name" denorm "$(field name)"

# The control file's default_version is the extension's version; PGXN
# wants a semantic version, so 1.3 is written 1.3.0.
control_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" denorm.control)
semver=$control_version
[[ $semver =~ ^[0-9]+\.[0-9]+$ ]] && semver="$semver.0"
check "version is denorm.control's default_version ($control_version)" "$semver" "$(field version)"
check "the extension denorm is provided, at the same version" "$semver" "$(field provides/denorm/version)"
changelog_version=$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' CHANGELOG.md | head -1)
check "the newest CHANGELOG.md heading is that version" "$control_version" "$changelog_version"
deb_version=$(sed -n '1s/^[^ ]* (\([^)-]*\).*/\1/p' debian/changelog)
check "the newest debian/changelog entry is that version" "$control_version" "$deb_version"

for key in file docfile; do
    path=$(field "provides/denorm/$key")
    check "provides/denorm/$key names a file of the tree ($path)" yes "$([ -f "$path" ] && echo yes || echo no)"
done
control_comment=$(sed -n "s/^comment = '\(.*\)'/\1/p" denorm.control)
check "abstract is denorm.control's comment" "$control_comment" "$(field abstract)"
check "the extension's abstract too" "$control_comment" "$(field provides/denorm/abstract)"

# LICENSE is the PostgreSQL License: its grant and its disclaimer.
is_pg_license=no
grep -q "Permission to use, copy, modify, and distribute this software and its" LICENSE &&
    grep -q "without a written agreement" LICENSE &&
    grep -q 'PROVIDED HEREUNDER IS ON AN "AS IS" BASIS' LICENSE && is_pg_license=yes
check "LICENSE is the PostgreSQL License" yes "$is_pg_license"
check "license is postgresql" postgresql "$(field license)"

# The runtime requirement covers exactly the majors the package builds for.
range=$(field prereqs/runtime/requires/PostgreSQL)
want=$(grep -vE '^\s*(#|$)' debian/pgversions | sort -n | tr '\n' ' ' | sed 's/ $//')
first=${want%% *}; last=${want##* }
check "prereqs: PostgreSQL $first to $last, as debian/pgversions lists" \
    ">= $first.0.0, < $((last + 1)).0.0" "$range"
check "prereqs: pg_cron is only a suggestion" "(missing)" "$(field prereqs/runtime/requires/pg_cron)"

[ "$failures" -eq 0 ]
