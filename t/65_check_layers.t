use strict;
use warnings;

# tools/check-layers, the build step of ./dev test that keeps SQL text out
# of the httpd glue and the worker and httpd headers out of lib/: it
# passes on the tree, and on a planted tree reports each violation by
# file and line, and nothing else (comments, HTTP method lists, includes).

use Test::More;
use File::Temp ();
use File::Copy qw(copy);
use File::Path qw(make_path);

plan tests => 4;

my $top = $ENV{EA_TOP} or die "EA_TOP unset\n";
my $out = `perl '$top/tools/check-layers' 2>&1`;
my $rc = $? >> 8;
# ./dev test runs it on a copy without .git: give it the file list
if ($rc != 0 && -f "$top.files") {
    $out = `perl '$top/tools/check-layers' --files '$top.files' 2>&1`;
    $rc = $? >> 8;
}
is($rc, 0, 'the tree passes') or diag($out);

my $tmp = File::Temp::tempdir(CLEANUP => 1);
make_path("$tmp/tools", "$tmp/mod_ecoatlas", "$tmp/worker", "$tmp/lib");
copy("$top/tools/check-layers", "$tmp/tools/check-layers") or die "copy: $!";
sub put { my ($f, $t) = @_; open my $fh, '>', "$tmp/$f" or die "$f: $!"; print $fh $t; close $fh }
put('mod_ecoatlas/glue.c', <<'C');
#include "httpd.h"
#include "http_log.h"
/* A comment may say SELECT id FROM t WHERE x = 1; "even quoted WHERE x". */
#define ALLOW "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
static const char *a = "SELECT 1 FROM %s WHERE id = $1";
static const char *b = x ? " WHERE false" : "";
static char c = '"';
static const char *d = "LISTEN ecoatlas_data";
static const char *e = "rows " /* "ORDER BY x" */ "done";
static const char *f = "SET statement_timeout = %d";
C
put('worker/w.c', qq{int main(void) { return run("ROLLBACK"); }\n});
put('lib/core.h', qq{#include "ea_buf.h"\n#include "http_protocol.h"\n});
put('lib/ea_sql.c', qq{static const char *s = "SELECT 1";\n});
open my $fh, '>', "$tmp/list0" or die;
print $fh join("\0", qw(mod_ecoatlas/glue.c worker/w.c lib/core.h lib/ea_sql.c)), "\0";
close $fh;
$out = `perl '$tmp/tools/check-layers' --files '$tmp/list0' 2>&1`;
$rc = $? >> 8;
is($rc, 1, 'a planted tree fails');
my @where = $out =~ /^(\S+:\d+):/mg;
is(join(' ', @where), 'lib/core.h:2 mod_ecoatlas/glue.c:5 mod_ecoatlas/glue.c:6 mod_ecoatlas/glue.c:8 '
                       . 'mod_ecoatlas/glue.c:10 worker/w.c:1',
   'each violation by file and line; comments, method lists, includes and lib/\'s SQL pass')
    or diag($out);
like($out, qr/^mod_ecoatlas\/glue\.c:5: SQL text in the glue .*"SELECT 1 FROM %s WHERE id = \$1"$/m,
     'the line shows the literal') or diag($out);
