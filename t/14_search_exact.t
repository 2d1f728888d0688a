# ?search= served by the trigram indexes of migration 0005 answers exactly
# what Django's icontains answers on PostgreSQL,
#     UPPER(field::text) LIKE UPPER('%term%')   (with \ % _ escaped),
# rows and counts, byte for byte: on a table of tricky rows (LIKE
# metacharacters, backslashes, JSON escapes, non-ASCII case folding that
# UPPER and ILIKE do differently, short terms, empty fields) every answer is
# compared with that reference SQL run as a plain scan, then again with the
# indexes dropped; the indexes are shown to be used.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json country site dataset);


sub q_ { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge; $s }

reset_db();
my $dbh = db();

# ---- tricky rows ------------------------------------------------------------------
my @names = ('Lake Volta', 'LAKE CHAD', 'lake kivu', 'lAkE Tana', '100% pure', '100 pure', 'a_b', 'axb',
    'back\\slash', 'backslash', 'C:\\temp\\%d', 'Dıyarbakır', 'İstanbul', 'Istanbul', 'Straße', 'STRAẞE',
    'ﬁeld', 'field', 'Kelvin K', 'Kelvin k', 'µ-hydro', 'Μ-hydro', 'ΣΊΣΥΦΟΣ', 'σίσυφος', 'Ouémé', 'OUÉMÉ',
    'ǅemal', 'Ⅻ falls', '💧 water', 'a', 'ab', 'Ab', 'x', '');
my $ben = country(name => 'Benin', iso3 => 'BEN', iso2 => 'BJ');
my @props = ('{}', '{"q": "say \\"hi\\""}', '{"path": "C:\\\\x"}', '{"u": "\\u00e9t\\u00e9"}',
    '{"tags": ["Lake", "ı"], "n": 12.5}', '{"k": "100%_"}', '{"basin": "Niger"}', '{"ß": true}');
my @notes = ('', 'near the lake', 'NOTE_1', '50% done', 'back\\slash note', 'ﬁne', 'K', 'ς');
my $i = 0;
for my $n (@names) {
    site(name => $n, country_id => $ben, notes => $notes[$i % @notes], properties => $props[$i % @props]);
    $i++;
}
# Filler, so that PostgreSQL prefers the indexes for selective terms.
$dbh->do(q{INSERT INTO core_hydrosite (name, country_id, status, notes, properties, created_at, updated_at)
    SELECT 'Filler site ' || g, 1, 'identified', CASE WHEN g % 3 = 0 THEN 'plain note' ELSE '' END,
           jsonb_build_object('grade', chr(65 + g % 5), 'seq', g), now(), now()
    FROM generate_series(1, 60000) g});
country(name => $_) for grep { $_ ne '' && $_ ne 'Benin' } @names;
$dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
    SELECT 'Filler country ' || g, chr(97 + g / 26) || chr(97 + g % 26), 'f' || chr(97 + g / 26) || chr(97 + g % 26),
           now(), now() FROM generate_series(0, 599) g});
$dbh->do('ANALYZE core_hydrosite');
$dbh->do('ANALYZE core_country');

# (the search as sent, the terms SearchFilter makes of it); a plain string
# is one term (no blank, comma or opening quote)
my @cases = map { ref $_ ? $_ : [$_, [$_]] } (
    'lake', 'LAKE', '%', '0%', '100%', '_', 'a_b', 'r_s', '\\', 'k\\s', '\\%', '\\\\',
    'ı', 'i', 'I', 'İ', 'Dıyar', 'DIYAR', 'dıyar', 'istanbul', 'İSTANBUL', 'ß', 'ẞ', 'SS', 'straße', 'STRASSE',
    'ﬁ', 'fi', 'FI', 'ﬁeld', 'FIELD', 'k', 'K', 'µ', 'μ', 'Μ', 'µ-h', 'Μ-HYDRO', 'σ', 'ς', 'Σ',
    'σίσυφος', 'ΣΊΣΥΦΟΣ', 'é', 'É', 'ouémé', 'OUÉMÉ', 'été', 'ǆ', 'ǅ', 'Ǆemal', 'ⅻ', 'Ⅻ', '💧',
    '"hi', '\\"', '\\\\x', 'note_', 'NOTE_1', '%_', 'a', 'ab', 'AB', 'x', 'zz', 'e', 'site', 'filler',
    'grade', '"grade":', '12.5', 'zzz', 'niger',
    ['Lake Volta', ['Lake', 'Volta']], ['KELVIN K', ['KELVIN', 'K']], ['💧 w', ['💧', 'w']],
    ['say \\"', ['say', '\\"']], ['"grade": "a"', ['"grade":', 'a']], ['"a b"', ['a b']], ['filler 12', ['filler', '12']], ['ab lake', ['ab', 'lake']],
    ['site 7 e', ['site', '7', 'e']], ['"100% pure"', ['100% pure']],
);
plan tests => 4 * @cases + 13 + 40 + 9;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

# Django's pattern: prep_for_like_query, then %...%
sub pattern { my $t = shift; $t =~ s/([\\%_])/\\$1/g; return "%$t%" }

my %res = (
    'hydro-sites' => { table => 'core_hydrosite', fields => [qw(name notes properties)], key => 'id' },
    countries => { table => 'core_country', fields => ['name'], key => 'id' },
);

# The reference answer, as a sequential scan: (count, ids of the first page)
sub reference {
    my ($r, $terms) = @_;
    my $d = $res{$r};
    my $where = join ' AND ', map {
        '(' . join(' OR ', map { "UPPER(t.$_\::text) LIKE UPPER(?)" } @{ $d->{fields} }) . ')' } @$terms;
    my @bind = map { my $p = pattern($_); ($p) x @{ $d->{fields} } } @$terms;
    $dbh->begin_work;
    $dbh->do('SET LOCAL enable_indexscan = off');
    $dbh->do('SET LOCAL enable_bitmapscan = off');
    my ($n) = $dbh->selectrow_array("SELECT count(*) FROM $d->{table} t WHERE $where", undef, @bind);
    my $ids = $dbh->selectcol_arrayref(
        "SELECT t.id FROM $d->{table} t WHERE $where ORDER BY t.name, t.id LIMIT 200", undef, @bind);
    $dbh->commit;
    return "$n: " . join(',', @$ids);
}

sub answer {
    my ($r, $q, $extra) = @_;
    my ($res, $d) = get_json("/api/$r/?page_size=200&search=" . q_($q) . ($extra // ''));
    return "HTTP " . $res->code . ' ' . $res->content unless $res->code == 200;
    return "$d->{count}: " . join(',', map { $_->{id} } @{ $d->{results} });
}

sub trgm_scans {
    my ($n) = $dbh->selectrow_array(q{SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes
        WHERE indexrelname LIKE 'ecoatlas\_%\_trgm'});
    return $n;
}

# ---- with the indexes ---------------------------------------------------------------
is $dbh->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 0, 'every search index exists';
my $scans0 = trgm_scans();
my %with;
for my $c (@cases) {
    my ($q, $terms) = @$c;
    for my $r ('hydro-sites', 'countries') {
        $with{$r}{$q} = answer($r, $q);
        is $with{$r}{$q}, reference($r, $terms), "$r ?search=$q: as Django's UPPER() LIKE UPPER(), with the indexes";
    }
}
# Django's folding, where ILIKE (lower-casing) answers otherwise
sub names_of {
    my ($res, $d) = get_json('/api/countries/?page_size=200&search=' . q_(shift));
    return join '|', map { $_->{name} } @{ $d->{results} };
}
is names_of('DIYAR'), 'Dıyarbakır', 'DIYAR finds Dıyarbakır (UPPER(ı) is I)';
is names_of('ß'), 'Straße', 'ß finds Straße, not STRAẞE (UPPER(ß) is ß)';
is names_of('µ-'), 'µ-hydro|Μ-hydro', 'µ- finds µ-hydro and Μ-hydro (UPPER(µ) is Μ)';
is names_of('İstan'), 'İstanbul', 'İstan finds İstanbul only';

# pg_stat counters arrive when the backends go idle (within ~10 s)
my $used = 0;
for (1 .. 40) { $used = trgm_scans() > $scans0 and last; select undef, undef, undef, 0.5 }
ok $used, 'the API\'s searches used the trigram indexes';

# The expressions the API writes are the indexed ones: UPPER(name::text) LIKE
# UPPER($1) for countries, the stored document of migration 0006 for sites.
$dbh->begin_work;
$dbh->do('SET LOCAL enable_seqscan = off');
my $plan = join "\n", @{ $dbh->selectcol_arrayref(
    q{EXPLAIN SELECT t.id FROM core_hydrosite t WHERE (t.ecoatlas_search LIKE UPPER($1))}, undef, '%ouém%') };
$plan .= "\n" . join "\n", @{ $dbh->selectcol_arrayref(
    q{EXPLAIN SELECT t.id FROM core_country t WHERE (UPPER(t.name::text) LIKE UPPER($1))}, undef, '%ouém%') };
$dbh->commit;
like $plan, qr/Bitmap Index Scan on ecoatlas_hydrosite_search_trgm.*Bitmap Index Scan on ecoatlas_country_name_trgm/s,
    'each search expression is the one indexed';

# The document follows every write (PostgreSQL computes it): a site's notes
# changed, then its name, are found by the new text only.
my $a_id = $dbh->selectrow_array(q{SELECT id FROM core_hydrosite WHERE name = 'axb'});
$dbh->do(q{UPDATE core_hydrosite SET notes = 'Zebra crossing' WHERE id = ?}, undef, $a_id);
is answer('hydro-sites', 'ZEBRA cross'), "1: $a_id", 'a changed note is searched';
$dbh->do(q{UPDATE core_hydrosite SET notes = '', name = 'Quokka weir' WHERE id = ?}, undef, $a_id);
is answer('hydro-sites', 'zebra'), '0: ', '... and the old one no more';
is answer('hydro-sites', 'okka W'), "1: $a_id", '... a changed name too';
$dbh->do(q{UPDATE core_hydrosite SET notes = ?, name = 'axb' WHERE id = ?}, undef,
         $notes[7 % @notes], $a_id);

# ---- without them ---------------------------------------------------------------------
my $idx = $dbh->selectcol_arrayref(q{SELECT index_name FROM ecoatlas_search_index_specs()
                                     WHERE table_name IN ('core_hydrosite', 'core_country')});
$dbh->do("DROP INDEX $_") for @$idx;
is $dbh->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), scalar @$idx, 'indexes dropped';
for my $c (@cases) {
    my ($q) = @$c;
    # another query string: not the cached answer
    is answer($_, $q, '&noindex=1'), $with{$_}{$q}, "$_ ?search=$q: the same without the indexes"
        for 'hydro-sites', 'countries';
}
is $dbh->selectrow_array('SELECT ecoatlas_search_indexes()'), undef, 'ecoatlas_search_indexes() rebuilds them';
is $dbh->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 0, '... all of them';

# ---- without the search document ------------------------------------------------------
# docs/operations.md has the operator drop it before a Django migration of
# its fields: meanwhile every search of hydro sites tests each field, and
# answers exactly as before (never a 500); the error log says so once.
my $elog = Apache::Test::vars('t_logs') . '/error_log';
my $elog_at = -s $elog;
$dbh->do('ALTER TABLE core_hydrosite DROP COLUMN ecoatlas_search');
my @nodoc = @cases[0 .. 39];
for my $c (@nodoc) {
    my ($q) = @$c;
    is answer('hydro-sites', $q, '&nodoc=1'), $with{'hydro-sites'}{$q}, "hydro-sites ?search=$q: the same without the document";
}
my ($res_nd, $d_nd) = get_json('/api/hydro-sites/?page_size=1&search=lake&page=last&nodoc=2');
is $res_nd->code . ' ' . ($d_nd->{count} // '-'), '200 ' . (split /:/, $with{'hydro-sites'}{lake})[0],
    '... the last page (its count asked alone) too';
{
    my $r = Apache::TestRequest::GET('/api/hydro-sites/export/?search=lake&nodoc=3');
    my @lines = split /\r\n/, $r->content;
    is $r->code . ' ' . (@lines - 1), '200 ' . (split /:/, $with{'hydro-sites'}{lake})[0],
        '... the export (streamed) too: a header and a line per match';
}
open my $elf, '<', $elog or die "$elog: $!";
seek $elf, $elog_at, 0;
my @elines = <$elf>;
close $elf;
my @gone = grep { /EA00082: the search document is missing \(column t\.ecoatlas_search does not exist\)/ } @elines;
ok @gone >= 1 && @gone <= 4, 'the error log says the document is missing, once per process (' . scalar(@gone) . ')';
is scalar(grep { /EA00018/ } @elines), 0, '... and no statement failed';
is $dbh->selectrow_array('SELECT ecoatlas_search_indexes()'), undef, 'ecoatlas_search_indexes() adds the document back';
is $dbh->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 0, '... with its index';
is answer('hydro-sites', $_, '&doc=1'), $with{'hydro-sites'}{$_}, "hydro-sites ?search=$_: the same with it back"
    for 'lake', 'ab', 'Dıyar';
