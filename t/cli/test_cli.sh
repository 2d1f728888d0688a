#!/bin/sh
# Smoke test of the `ecoatlas` command.  Without a database it checks the
# help and usage errors; with ECOATLAS_TEST_DB set to the conninfo of an
# EMPTY scratch database it also runs migrate (twice at once), loaddata
# and generate-sample.  It drops nothing: use a throw-away database.
#
#   ECOATLAS_TEST_DB="host=/tmp/eapgsock port=55432 dbname=scratch user=eatest" \
#       sh t/cli/test_cli.sh [path/to/ecoatlas]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
E=${1:-$top/cli/ecoatlas}
export ECOATLAS_MIGRATIONS_DIR="${ECOATLAS_MIGRATIONS_DIR:-$top/db/migrations}"
fixture=/work/shared/data/seed-samples/minimal_core.json
[ -f "$fixture" ] || fixture=$top/t/cli/minimal_core.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
# expect CODE DESCRIPTION COMMAND...: run, compare the exit status
expect() {
    code=$1; what=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq "$code" ]; then ok "$what"; else not_ok "$what (exit $rc, want $code)"; cat "$tmp/err"; fi
}
has() { grep -q -- "$1" "$tmp/$2" && ok "$3" || { not_ok "$3"; cat "$tmp/$2"; }; }

expect 0 "--help" "$E" --help
has "generate-sample" out "--help lists the commands"
expect 0 "--version" "$E" --version
for cmd in migrate loaddata generate-sample; do
    expect 0 "$cmd --help" "$E" "$cmd" --help
    has "Usage: ecoatlas" out "$cmd --help prints usage"
    expect 0 "help $cmd" "$E" help "$cmd"
    expect 2 "$cmd with an unknown option" "$E" "$cmd" --no-such-option
done
expect 2 "no command" "$E"
expect 2 "unknown command" "$E" frobnicate
expect 2 "generate-sample without --sites" "$E" generate-sample
expect 2 "generate-sample --sites abc" "$E" generate-sample --sites abc
expect 2 "loaddata without files" "$E" loaddata
expect 1 "unreachable database" "$E" --db "host=/nonexistent dbname=x password=s3cret" migrate --list
if grep -q s3cret "$tmp/err"; then not_ok "password hidden in errors"; else ok "password hidden in errors"; fi

if [ -z "${ECOATLAS_TEST_DB:-}" ]; then
    echo "# ECOATLAS_TEST_DB not set: database tests skipped"
else
    D="$ECOATLAS_TEST_DB"
    "$E" --db "$D" migrate >"$tmp/m1" 2>&1 & p1=$!
    "$E" --db "$D" migrate >"$tmp/m2" 2>&1 & p2=$!
    wait $p1; r1=$?
    wait $p2; r2=$?
    [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && ok "two migrates at once" || not_ok "two migrates at once"
    applied=$(cat "$tmp/m1" "$tmp/m2" | grep -c "Applying 0001_core_schema")
    [ "$applied" -eq 1 ] && ok "0001 applied exactly once" || not_ok "0001 applied $applied times"
    expect 0 "migrate again" "$E" --db "$D" migrate
    has "No migrations to apply." out "second migrate has nothing to do"
    expect 0 "migrate --list" "$E" --db "$D" migrate --list
    has "\[X\] 0001_core_schema" out "--list marks applied migrations"
    expect 0 "loaddata" "$E" --db "$D" loaddata "$fixture"
    has "Installed 2 object(s) from 1 fixture(s)" out "loaddata reports like Django"
    expect 0 "loaddata is idempotent" "$E" --db "$D" loaddata "$fixture"
    printf '[{"model": "core.country", "pk": 1, "fields": {"name": "X",}}]' >"$tmp/bad.json"
    expect 1 "loaddata rejects invalid JSON" "$E" --db "$D" loaddata "$tmp/bad.json"
    has "bad.json:1:" err "the error names file and line"
    printf '[{"model": "core.country", "pk": 1, "fields": {"nme": "X"}}]' >"$tmp/bad2.json"
    expect 1 "loaddata rejects an unknown field" "$E" --db "$D" loaddata "$tmp/bad2.json"
    has "object at index 0" err "the error names the object"
    expect 1 "generate-sample refuses a database with data" "$E" --db "$D" generate-sample --sites 10
    has "--truncate" err "refusal mentions --truncate"
    expect 0 "generate-sample --truncate" "$E" --db "$D" generate-sample --sites 2000 --seed 1 --truncate
    has "2000 hydro sites" out "generate-sample summary"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
