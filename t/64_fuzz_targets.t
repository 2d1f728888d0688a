# Every libFuzzer target builds and links (`make t/fuzz/fuzz_<name>`, clang
# with -fsanitize=fuzzer; the hostile-input targets (docs/security.md): fuzz_edge, fuzz_query, fuzz_csv and
# fuzz_geojson did not link) and runs a few hundred inputs grown from the
# committed corpus without a crash.  The long campaign is bench/fuzz.
use strict;
use warnings;

use Test::More;
use File::Temp ();

my @targets = qw(json query edge body csv geojson);
plan tests => 2 * @targets;

my $build = $ENV{EA_BUILD} or die 'EA_BUILD';
my $top = $ENV{EA_TOP} or die 'EA_TOP';
$ENV{ASAN_OPTIONS} = 'detect_leaks=0';

for my $t (@targets) {
    my $out = `make -s -C '$build' t/fuzz/fuzz_$t 2>&1`;
    my $bin = "$build/t/fuzz/fuzz_$t";
    ok $? == 0 && -x $bin, "fuzz_$t builds and links" or diag $out;
    # new inputs go to a scratch directory; the committed corpus is only read
    my $work = File::Temp::tempdir(CLEANUP => 1);
    my $log = `'$bin' -runs=300 -max_len=4096 -seed=1 '$work' '$top/t/fuzz/corpus/$t' 2>&1`;
    ok $? == 0 && $log =~ /Done \d+ runs/, "fuzz_$t runs 300 inputs without a crash" or diag substr($log, -2000);
}
