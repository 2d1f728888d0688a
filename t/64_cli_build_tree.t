use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# `ecoatlas` run from its build tree (make, no make install) finds the
# tree's migrations by itself; a copy anywhere else that finds none says
# exactly what to pass.

use Test::More;
use File::Temp ();
use File::Copy qw(copy);
use EaConfTest qw(run_cmd);

plan tests => 2;

my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $conninfo = "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}";
my @want = map { m{/(\d{4}_\w+)\.sql$} ? $1 : () } glob("$ENV{EA_TOP}/db/migrations/*.sql");

my ($rc, $out) = run_cmd("env -u ECOATLAS_MIGRATIONS_DIR ASAN_OPTIONS=detect_leaks=0 '$ENV{EA_CLI}' --db '$conninfo' migrate --list");
is(join("\n", $rc, $out =~ /^ \[X\] (\S+)$/mg), join("\n", 0, @want),
   'from the build tree, without ECOATLAS_MIGRATIONS_DIR: the tree\'s ' . scalar(@want) . ' migrations, all applied')
    or diag($out);

# A copy outside the build tree looks in the install directory; where that
# does not exist, the error says what to give.
copy($ENV{EA_CLI}, "$tmp/ecoatlas") or die "copy: $!";
chmod 0755, "$tmp/ecoatlas";
($rc, $out) = run_cmd("env -u ECOATLAS_MIGRATIONS_DIR ASAN_OPTIONS=detect_leaks=0 '$tmp/ecoatlas' --db '$conninfo' migrate --list");
ok(($rc == 0 && $out =~ /^ \[X\] 0001_core_schema$/m)
       || ($rc != 0 && $out =~ /cannot open the migrations directory \S+: .*--migrations DIR or ECOATLAS_MIGRATIONS_DIR; a source tree has them in db\/migrations/),
   'installed elsewhere: its install directory, or an error naming --migrations and ECOATLAS_MIGRATIONS_DIR')
    or diag($out);
