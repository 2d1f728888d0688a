package EaProm;

# A strict reader of the Prometheus text exposition format (version 0.0.4)
# for t/70_metrics.t: every line must be a HELP, a TYPE or a sample of the
# family announced before it; names, labels, escapes and values are checked,
# a family appears in one block, no series twice, and every histogram has
# sorted, cumulative buckets ending in +Inf equal to its _count, and a _sum.
#
#   my ($m, @errors) = EaProm::parse($text);
#   EaProm::value($m, 'ecoatlas_http_requests_total', route => 'Country List', code => '2xx');

use strict;
use warnings;

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $VALUE = qr/[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN/;

sub _key {
    my ($name, %l) = @_;
    return $name . '{' . join(',', map { "$_=$l{$_}" } sort keys %l) . '}';
}

sub _labels {
    my ($s, $err) = @_;
    my %l;
    return \%l if !defined $s || $s eq '';
    my $rest = $s;
    while (length $rest) {
        unless ($rest =~ s/^($LABEL)="((?:[^"\\\n]|\\[\\"n])*)"//) {
            push @$err, "bad label syntax in {$s}";
            return undef;
        }
        my ($k, $v) = ($1, $2);
        push @$err, "reserved label name $k" if $k =~ /^__/;
        push @$err, "label $k twice in {$s}" if exists $l{$k};
        $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
        $l{$k} = $v;
        last if $rest eq '';
        unless ($rest =~ s/^,(?=.)//) {
            push @$err, "bad separator in {$s}";
            return undef;
        }
    }
    return \%l;
}

# The family a sample belongs to, given the declared types.
sub _family {
    my ($name, $type) = @_;
    return $name if $type->{$name};
    for my $suffix (qw(_bucket _sum _count)) {
        next unless $name =~ /^(.+)\Q$suffix\E$/;
        my $f = $1;
        my $t = $type->{$f} // '';
        return $f if $t eq 'histogram' || ($t eq 'summary' && $suffix ne '_bucket');
    }
    return undef;
}

sub parse {
    my ($text) = @_;
    my (@err, %type, %help, %series, %done, %samples);
    my $current = '';
    push @err, 'empty exposition' unless length $text;
    push @err, 'the last line does not end with a newline' if length $text && $text !~ /\n\z/;
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        if ($line =~ /^# HELP ($NAME) (.*)$/) {
            push @err, "line $n: HELP $1 twice" if $help{$1}++;
            push @err, "line $n: HELP $1 after its samples" if $done{$1} || $current eq $1;
            next;
        }
        if ($line =~ /^# TYPE ($NAME) (counter|gauge|histogram|summary|untyped)$/) {
            push @err, "line $n: TYPE $1 twice" if $type{$1};
            push @err, "line $n: TYPE $1 after its samples" if $done{$1} || $current eq $1;
            $type{$1} = $2;
            push @err, "line $n: counter $1 does not end in _total" if $2 eq 'counter' && $1 !~ /_total$/;
            next;
        }
        if ($line =~ /^#/) {
            push @err, "line $n: comment that is neither HELP nor TYPE: $line";
            next;
        }
        unless ($line =~ /^($NAME)(?:\{(.*)\})? ($VALUE)$/) {
            push @err, "line $n: not a sample: $line";
            next;
        }
        my ($name, $lab, $value) = ($1, $2, $3);
        my $l = _labels($lab, \@err) or next;
        my $fam = _family($name, \%type);
        unless ($fam) {
            push @err, "line $n: sample $name of no declared family";
            next;
        }
        push @err, "line $n: no HELP for $fam" unless $help{$fam};
        if ($fam ne $current) {
            push @err, "line $n: family $fam appears in two blocks" if $done{$fam};
            $done{$current} = 1 if $current ne '';
            $current = $fam;
        }
        my $k = _key($name, %$l);
        push @err, "line $n: series $k twice" if exists $samples{$k};
        $samples{$k} = $value;
        push @err, "line $n: negative counter $k" if ($type{$fam} eq 'counter' || $name =~ /_(?:count|bucket|total)$/)
            && $value =~ /^-/;
        if ($type{$fam} eq 'histogram') {
            my %base = %$l;
            my $le = delete $base{le};
            my $sk = _key($fam, %base);
            if ($name eq "${fam}_bucket") {
                if (!defined $le) { push @err, "line $n: bucket without le"; next }
                push @{ $series{$sk}{buckets} }, [$le, $value];
            } elsif (defined $le) {
                push @err, "line $n: le on $name";
            } else {
                $series{$sk}{$name eq "${fam}_sum" ? 'sum' : 'count'} = $value;
            }
        }
    }
    for my $sk (sort keys %series) {
        my $s = $series{$sk};
        my @b = @{ $s->{buckets} || [] };
        push @err, "$sk: no buckets" unless @b;
        push @err, "$sk: no _sum" unless defined $s->{sum};
        push @err, "$sk: no _count" unless defined $s->{count};
        next unless @b;
        push @err, "$sk: the last bucket is not +Inf" unless $b[-1][0] eq '+Inf';
        for my $i (1 .. $#b) {
            my ($p, $c) = ($b[$i - 1], $b[$i]);
            my $ple = $p->[0] eq '+Inf' ? 9**9**9 : $p->[0];
            my $cle = $c->[0] eq '+Inf' ? 9**9**9 : $c->[0];
            push @err, "$sk: le $c->[0] not above $p->[0]" unless $cle > $ple;
            push @err, "$sk: bucket le=$c->[0] ($c->[1]) below le=$p->[0] ($p->[1])" if $c->[1] < $p->[1];
        }
        push @err, "$sk: +Inf bucket $b[-1][1] != _count $s->{count}"
            if defined $s->{count} && $b[-1][1] != $s->{count};
    }
    return (\%samples, @err);
}

# The value of one series (undef when absent).
sub value {
    my ($m, $name, %labels) = @_;
    return $m->{ _key($name, %labels) };
}

1;
