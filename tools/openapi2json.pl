#!/usr/bin/perl
# docs/openapi.yaml -> JSON with the same key order (the YAML is the source;
# the module serves both).  Needs YAML::PP (Debian: libyaml-pp-perl).
#   openapi2json.pl IN.yaml OUT.json
use strict;
use warnings;
use YAML::PP ();
use YAML::PP::Common qw(PRESERVE_ORDER);
use JSON::PP ();

my ($in, $out) = @ARGV;
die "usage: $0 IN.yaml OUT.json\n" unless $in && $out;
# YAML 1.2 core schema: only true/false are booleans ("on", "no" stay strings).
my $yp = YAML::PP->new(schema => ['Core'], preserve => PRESERVE_ORDER, duplicate_keys => 0);
my $doc = eval { $yp->load_file($in) };
die "$in: $@" unless defined $doc;
my $json = JSON::PP->new->utf8->indent->space_after->indent_length(2);
open my $fh, '>:raw', "$out.tmp" or die "$out.tmp: $!\n";
print $fh $json->encode($doc);
close $fh or die "$out.tmp: $!\n";
rename "$out.tmp", $out or die "$out: $!\n";
