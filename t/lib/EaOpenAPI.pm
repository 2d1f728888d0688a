package EaOpenAPI;

# A JSON reader that keeps what JSON::PP loses (key order, string vs number,
# integer vs float) and a validator for the subset of OpenAPI 3.0 schemas
# docs/openapi.yaml uses: $ref, type, nullable, required, properties (in
# order), additionalProperties, items, enum, pattern, format (date-time,
# uri, uuid, int64, double, decimal), minimum/maximum, maxItems, oneOf.
#
#   my $doc = EaOpenAPI->new($json_text_of_the_document);
#   my @errors = $doc->validate($schema_or_ref, EaOpenAPI::parse($body));

use strict;
use warnings;
use JSON::PP ();
use Encode ();

my $STR = JSON::PP->new->allow_nonref;

# ---- the reader: nodes are { t => TYPE, v => ..., keys => [...] } ----------
sub parse {
    my ($text) = @_;
    # bytes from the wire: JSON is UTF-8
    my $s = utf8::is_utf8($text) ? $text : Encode::decode('UTF-8', $text, Encode::FB_CROAK);
    pos($s) = 0;
    my $v = _value(\$s);
    $s =~ /\G\s*/gc;
    die 'trailing garbage at offset ' . pos($s) . "\n" if pos($s) < length $s;
    return $v;
}

sub _value {
    my ($r) = @_;
    $$r =~ /\G\s*/gc;
    if ($$r =~ /\G\{/gc) {
        my %o = (t => 'object', v => {}, keys => []);
        $$r =~ /\G\s*/gc;
        return \%o if $$r =~ /\G\}/gc;
        while (1) {
            $$r =~ /\G\s*/gc;
            my $k = _string($r) // die 'expected a key at offset ' . pos($$r) . "\n";
            $$r =~ /\G\s*:/gc or die 'expected : at offset ' . pos($$r) . "\n";
            die "duplicate key $k\n" if exists $o{v}{$k};
            push @{ $o{keys} }, $k;
            $o{v}{$k} = _value($r);
            $$r =~ /\G\s*/gc;
            next if $$r =~ /\G,/gc;
            last if $$r =~ /\G\}/gc;
            die 'expected , or } at offset ' . pos($$r) . "\n";
        }
        return \%o;
    }
    if ($$r =~ /\G\[/gc) {
        my %a = (t => 'array', v => []);
        $$r =~ /\G\s*/gc;
        return \%a if $$r =~ /\G\]/gc;
        while (1) {
            push @{ $a{v} }, _value($r);
            $$r =~ /\G\s*/gc;
            next if $$r =~ /\G,/gc;
            last if $$r =~ /\G\]/gc;
            die 'expected , or ] at offset ' . pos($$r) . "\n";
        }
        return \%a;
    }
    my $str = _string($r);
    return { t => 'string', v => $str } if defined $str;
    if ($$r =~ /\G(-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)/gc) {
        return { t => 'number', v => $1, int => !defined $2 && !defined $3 };
    }
    return { t => 'boolean', v => 1 } if $$r =~ /\Gtrue/gc;
    return { t => 'boolean', v => 0 } if $$r =~ /\Gfalse/gc;
    return { t => 'null' } if $$r =~ /\Gnull/gc;
    die 'unexpected input at offset ' . pos($$r) . "\n";
}

sub _string {
    my ($r) = @_;
    return undef unless $$r =~ /\G("(?:[^"\\]|\\.)*")/gcs;
    return $STR->decode($1);
}

# A node as plain Perl data; objects keep their key order in {__keys__}.
sub plain {
    my ($n) = @_;
    return { (map { $_ => plain($n->{v}{$_}) } @{ $n->{keys} }), __keys__ => $n->{keys} }
        if $n->{t} eq 'object';
    return [ map { plain($_) } @{ $n->{v} } ] if $n->{t} eq 'array';
    return undef if $n->{t} eq 'null';
    return $n->{v};
}

# ---- the document -----------------------------------------------------------
sub new {
    my ($class, $json_text) = @_;
    return bless { doc => plain(parse($json_text)) }, $class;
}

sub doc { $_[0]{doc} }

sub resolve {
    my ($self, $s) = @_;
    my $seen = 0;
    while (ref $s eq 'HASH' && defined $s->{'$ref'}) {
        my $ref = $s->{'$ref'};
        die "only local refs: $ref\n" unless $ref =~ m{^#/(.*)};
        $s = $self->{doc};
        for my $part (split m{/}, $1) {
            $s = $s->{$part} // die "unresolved \$ref $ref\n";
        }
        die "\$ref loop at $ref\n" if ++$seen > 20;
    }
    return $s;
}

my %FORMAT = (
    'date-time' => qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)$/,
    'uri'       => qr{^https?://[^\s/]+(?:/\S*)?$},
    'uuid'      => qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
);

# Errors (strings naming the JSON path) of node $n against schema $s.
sub validate {
    my ($self, $s, $n, $path) = @_;
    $path //= '$';
    $s = $self->resolve($s);
    my @e;
    if ($s->{oneOf}) {
        my $ok = grep { !$self->validate($_, $n, $path) } @{ $s->{oneOf} };
        return $ok == 1 ? () : ("$path: matches $ok of the oneOf schemas, not exactly 1");
    }
    if ($n->{t} eq 'null') {
        return () if $s->{nullable} || !%{ { map { $_ => 1 } grep { $_ ne '__keys__' && $_ ne 'description' } keys %$s } };
        return ("$path: null, but the schema is not nullable");
    }
    if (my $type = $s->{type}) {
        my $t = $n->{t};
        my $ok = $type eq $t
            || ($type eq 'integer' && $t eq 'number' && $n->{int})
            || 0;
        if ($type eq 'integer' && $t eq 'number' && !$n->{int}) { $ok = 0 }
        return ("$path: $t " . _show($n) . ", expected $type") unless $ok;
    }
    if ($s->{enum}) {
        my $v = plain($n);
        return ("$path: " . _show($n) . ' is not one of ' . join(', ', @{ $s->{enum} }))
            unless grep { defined $v && !ref $v && $_ eq $v } @{ $s->{enum} };
    }
    if ($n->{t} eq 'string') {
        push @e, "$path: '$n->{v}' does not match /$s->{pattern}/"
            if defined $s->{pattern} && $n->{v} !~ /$s->{pattern}/;
        push @e, "$path: '$n->{v}' is not a $s->{format}"
            if $s->{format} && $FORMAT{ $s->{format} } && $n->{v} !~ $FORMAT{ $s->{format} };
        push @e, "$path: longer than $s->{maxLength}"
            if defined $s->{maxLength} && length($n->{v}) > $s->{maxLength};
    }
    if ($n->{t} eq 'number') {
        push @e, "$path: $n->{v} < $s->{minimum}" if defined $s->{minimum} && $n->{v} < $s->{minimum};
        push @e, "$path: $n->{v} > $s->{maximum}" if defined $s->{maximum} && $n->{v} > $s->{maximum};
    }
    if ($n->{t} eq 'array') {
        push @e, "$path: more than $s->{maxItems} items" if defined $s->{maxItems} && @{ $n->{v} } > $s->{maxItems};
        if ($s->{items}) {
            my $i = 0;
            push @e, $self->validate($s->{items}, $_, $path . '[' . $i++ . ']') for @{ $n->{v} };
        }
    }
    if ($n->{t} eq 'object') {
        my $props = $s->{properties} || {};
        for my $req (@{ $s->{required} || [] }) {
            push @e, "$path: required key '$req' missing" unless exists $n->{v}{$req};
        }
        my $addl = $s->{additionalProperties};
        for my $k (@{ $n->{keys} }) {
            if ($props->{$k}) {
                push @e, $self->validate($props->{$k}, $n->{v}{$k}, "$path.$k");
            }
            elsif (defined $addl && !ref $addl && !$addl) {
                push @e, "$path: key '$k' is not in the schema";
            }
            elsif (ref $addl eq 'HASH') {
                push @e, $self->validate($addl, $n->{v}{$k}, "$path.$k");
            }
        }
        # key order = the order of the schema's properties (DRF's field order)
        if ($props->{__keys__}) {
            my %rank;
            @rank{ @{ $props->{__keys__} } } = 0 .. $#{ $props->{__keys__} };
            my @got = grep { exists $rank{$_} } @{ $n->{keys} };
            my @want = sort { $rank{$a} <=> $rank{$b} } @got;
            push @e, "$path: keys in the order (@got), the schema says (@want)" if "@got" ne "@want";
        }
    }
    return @e;
}

sub _show {
    my ($n) = @_;
    return $n->{t} eq 'string' ? "'$n->{v}'" : defined $n->{v} && !ref $n->{v} ? $n->{v} : $n->{t};
}

1;
