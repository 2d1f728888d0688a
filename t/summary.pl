#!/usr/bin/env perl
# Count test results: t/summary.pl LABEL=DIR ...
#
# In each DIR (searched recursively):
#   *.trs        automake test results (unit tests); the matching .log is read
#                for libcheck's "Checks: N, Failures: F, Errors: E" so that
#                every check counts, not just every program;
#   *.t, *.tap   TAP (Apache::Test spools from PERL_TEST_HARNESS_DUMP_TAP, and
#                the harness's own checks).
# Prints "LABEL: N passed, N failed" per DIR, what failed (with each failed
# TAP test's "not ok" line and its diagnostics, so that a CI log's tail says
# why), then the total as the last line: "N passed, N failed".  Exit status 1
# when anything failed.
use strict;
use warnings;

use File::Find ();
use TAP::Parser ();

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

# (passed, failed) of one automake .trs (+ .log) pair.
sub count_trs {
    my ($trs) = @_;
    my ($result) = slurp($trs) =~ /^:test-result:\s*(\S+)/m;
    $result //= 'ERROR';
    my $ok = $result eq 'PASS' || $result eq 'XFAIL';
    (my $log = $trs) =~ s/\.trs$/.log/;
    my @checks = slurp($log) =~ /Checks: (\d+), Failures: (\d+), Errors: (\d+)/g;
    return ($ok ? 1 : 0, $ok ? 0 : 1) unless @checks;
    my ($passed, $failed) = (0, 0);
    while (my ($n, $f, $e) = splice @checks, 0, 3) {
        $passed += $n - $f - $e;
        $failed += $f + $e;
    }
    # The program failed although every check passed: valgrind errors, a
    # crash after the run, a sanitizer report at exit.
    $failed++ if !$ok && !$failed;
    return ($passed, $failed);
}

# (passed, failed, details) of one TAP stream; missing tests and a missing
# plan fail.  details: the failed tests' lines and the comments after them.
sub count_tap {
    my ($file) = @_;
    my $tap = slurp($file);
    # A script that died before printing anything (e.g. a compile error):
    # TAP::Parser refuses empty input ("could not determine iterator").
    return (0, 1, ['    (no output)']) if $tap eq '';
    my $parser = TAP::Parser->new({ tap => $tap });
    my (@details, $after_failure);
    while (my $result = $parser->next) {
        if ($result->is_test) {
            $after_failure = !$result->is_ok;
            push @details, '    ' . $result->as_string if $after_failure;
        } elsif ($result->is_comment && $after_failure) {
            push @details, '    ' . $result->as_string;
        }
    }
    splice @details, 40, @details - 40, '    ...' if @details > 40;
    my $passed = scalar $parser->passed;
    my $failed = scalar $parser->failed;
    my $planned = $parser->tests_planned;
    if (defined $planned && $parser->tests_run < $planned) {
        $failed += $planned - $parser->tests_run;
    } elsif (!defined $planned || $parser->parse_errors) {
        $failed++;
    }
    push @details, sprintf('    planned %d, ran %d', $planned, $parser->tests_run)
        if defined $planned && $parser->tests_run < $planned;
    return ($passed, $failed, \@details);
}

my ($total_passed, $total_failed) = (0, 0);
my @lines;
for my $arg (@ARGV) {
    my ($label, $dir) = $arg =~ /^([^=]+)=(.*)$/ or die "usage: $0 LABEL=DIR ...\n";
    my @files;
    File::Find::find({ no_chdir => 1, wanted => sub {
        push @files, $_ if -f $_ && /\.(?:trs|t|tap)$/;
    } }, $dir) if -d $dir;
    my ($passed, $failed) = (0, 0);
    for my $file (sort @files) {
        my ($p, $f, $details) = $file =~ /\.trs$/ ? count_trs($file) : count_tap($file);
        $passed += $p;
        $failed += $f;
        (my $name = $file) =~ s{^\Q$dir\E/?}{};
        push @lines, "  FAILED $label: $name ($f failed)", @{ $details // [] } if $f;
    }
    printf "%s: %d passed, %d failed\n", $label, $passed, $failed;
    $total_passed += $passed;
    $total_failed += $failed;
}
print "$_\n" for @lines;
printf "%d passed, %d failed\n", $total_passed, $total_failed;
exit($total_failed ? 1 : 0);
