# climate-series/timeline/ (docs/decisions.md §2.7): variable required, limit
# parsing and clamping to [10, 2000], at most 5 series in queryset order,
# points sliced to limit, filters/search/ordering applied.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json country dataset site climate raw_decoded);

plan tests => 41;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

# "limit|id:npoints,id:npoints…" of a timeline, or the status and body
sub shape {
    my ($path) = @_;
    my ($res, $d) = get_json($path);
    return $res->code . ' ' . $res->content unless $res->code == 200 && ref $d eq 'HASH';
    return $d->{limit} . '|' . join ',', map { "$_->{id}:" . scalar @{ $_->{points} } } @{ $d->{results} };
}
sub points_json { my ($n, $from) = @_; $from //= 1;
    return '[' . join(', ', map { sprintf '{"value": %d, "timestamp": "2024-%02d-%02d"}', $_, 1 + int(($_ - 1) / 28), 1 + ($_ - 1) % 28 } $from .. $from + $n - 1) . ']' }

reset_db();
my $ben = country(name => 'Benin', iso2 => 'BJ', iso3 => 'BEN');
my $tgo = country(name => 'Togo', iso2 => 'TG', iso3 => 'TGO');
my $ds = dataset(name => 'Climate', dataset_type => 'climate');
my $s1 = site(name => 'S1', country_id => $ben);
my $s2 = site(name => 'S2', country_id => $tgo);

# seven rainfall series, created one second apart (r[0] oldest), 30 points each except r[6]
my @r;
for my $i (0 .. 6) {
    push @r, climate(dataset_id => $ds, country_id => $i % 2 ? $tgo : $ben,
        site_id => $i == 2 ? $s1 : $i == 3 ? $s2 : undef, variable => 'rainfall', unit => 'mm',
        statistics => '{}', series => $i == 6 ? '[]' : points_json(30, 100 * $i + 1),
        created_at => sprintf('2025-03-01 00:00:%02d+00', $i));
}
my $temp = climate(dataset_id => $ds, country_id => $ben, site_id => $s1,
    variable => 'temperature', unit => '°C', statistics => '{"mean": 27.5}',
    series => '[{"value": 26.5, "timestamp": "2024-01-01"}, {"note": "é\u2028", "value": null, "timestamp": "2024-01-02"}]',
    created_at => '2025-01-01 00:00:00+00');
# 2500 points
my $long = climate(dataset_id => $ds, country_id => $tgo, variable => 'flow', unit => 'm3/s',
    statistics => '{}', series => '[' . join(',', 1 .. 2500) . ']');

my $TL = '/api/climate-series/timeline/';

# ---- required variable, limit parsing -------------------------------------------
my $NOVAR = '400 {"detail":"Paramètre variable requis."}';
my $BADLIMIT = '400 {"detail":"Paramètre limit invalide."}';
is raw_decoded($TL), $NOVAR, 'no variable → 400';
is raw_decoded("$TL?variable="), $NOVAR, 'empty variable → 400';
is raw_decoded("$TL?limit=50"), $NOVAR, 'limit without variable → 400 variable requis';
is raw_decoded("$TL?country__iso3=BEN"), $NOVAR, 'filter without variable → 400 variable requis';
is raw_decoded("$TL?variable=rainfall&limit=abc"), $BADLIMIT, 'limit=abc → 400';
is raw_decoded("$TL?variable=rainfall&limit="), $BADLIMIT, 'empty limit → 400';
is raw_decoded("$TL?variable=rainfall&limit=1.5"), $BADLIMIT, 'limit=1.5 → 400';
is raw_decoded("$TL?variable=rainfall&limit=10x"), $BADLIMIT, 'limit=10x → 400';
{
    my $res = Apache::TestRequest::GET("$TL?variable=rainfall&limit=abc");
    is scalar $res->header('Content-Type'), 'application/json', '400 is application/json';
}
is shape("$TL?variable=rainfall"), "500|$r[6]:0,$r[5]:30,$r[4]:30,$r[3]:30,$r[2]:30", 'default limit 500; 5 newest series';
is shape("$TL?variable=rainfall&limit=5"), "10|$r[6]:0,$r[5]:10,$r[4]:10,$r[3]:10,$r[2]:10", 'limit=5 → clamped to 10';
is shape("$TL?variable=rainfall&limit=-5"), "10|$r[6]:0,$r[5]:10,$r[4]:10,$r[3]:10,$r[2]:10", 'limit=-5 → 10';
is shape("$TL?variable=rainfall&limit=0"), "10|$r[6]:0,$r[5]:10,$r[4]:10,$r[3]:10,$r[2]:10", 'limit=0 → 10';
is shape("$TL?variable=rainfall&limit=%2011%20"), "11|$r[6]:0,$r[5]:11,$r[4]:11,$r[3]:11,$r[2]:11", 'limit=" 11 " (Python int())';
is shape("$TL?variable=rainfall&limit=12"), "12|$r[6]:0,$r[5]:12,$r[4]:12,$r[3]:12,$r[2]:12", 'limit=12 slices points';

# ---- clamping at 2000 --------------------------------------------------------------
is shape("$TL?variable=flow"), "500|$long:500", 'default: first 500 points';
is shape("$TL?variable=flow&limit=3000"), "2000|$long:2000", 'limit=3000 → 2000';
is shape("$TL?variable=flow&limit=2000"), "2000|$long:2000", 'limit=2000';
is shape("$TL?variable=flow&limit=1999"), "1999|$long:1999", 'limit=1999';

# ---- exact bodies --------------------------------------------------------------------
is raw_decoded("$TL?variable=temperature"),
    qq<200 {"results":[{"id":$temp,"country_iso3":"BEN","variable":"temperature","unit":"°C","site":$s1,>
  . q<"points":[{"value":26.5,"timestamp":"2024-01-01"},{"note":"é\u2028","value":null,"timestamp":"2024-01-02"}]}],"limit":500}>,
    'exact body: key order, site id, points as stored';
is raw_decoded("$TL?variable=flow&limit=10"),
    qq<200 {"results":[{"id":$long,"country_iso3":"TGO","variable":"flow","unit":"m3/s","site":null,"points":[1,2,3,4,5,6,7,8,9,10]}],"limit":10}>,
    'exact body with limit 10: first 10 points';
is raw_decoded("$TL?variable=nothing"), '200 {"results":[],"limit":500}', 'no such variable → empty results';
is raw_decoded("$TL?variable=Rainfall"), '200 {"results":[],"limit":500}', 'variable is case-sensitive';
is raw_decoded("$TL?variable=nothing&limit=99999"), '200 {"results":[],"limit":2000}', 'limit reported clamped with no results';

# ---- points are the first elements, in order ----------------------------------------
{
    my ($res, $d) = get_json("$TL?variable=rainfall&limit=11&country__iso3=BEN&site=$s1");
    is join(',', map { $_->{value} } @{ $d->{results}[0]{points} // [] }), join(',', 201 .. 211), 'first 11 points in order';
    is $d->{results}[0]{points}[0]{timestamp}, '2024-08-05', 'point objects kept';
}

# ---- filters, search, ordering -------------------------------------------------------
is shape("$TL?variable=rainfall&country__iso3=TGO"), "500|$r[5]:30,$r[3]:30,$r[1]:30", 'country__iso3=TGO';
is shape("$TL?variable=rainfall&country__iso3=tgo"), '500|', 'country__iso3 exact filter first (A5): tgo → none';
is shape("$TL?variable=rainfall&site=$s1"), "500|$r[2]:30", 'site filter';
is shape("$TL?variable=rainfall&site=$s2&country__iso3=TGO"), "500|$r[3]:30", 'site AND country';
is shape("$TL?variable=rainfall&site=$s2&country__iso3=BEN"), '500|', 'site AND another country → none';
is raw_decoded("$TL?variable=rainfall&site=99"),
    '400 {"site":["Select a valid choice. That choice is not one of the available choices."]}', 'invalid site → 400';
is shape("$TL?variable=rainfall&ordering=created_at"), "500|$r[0]:30,$r[1]:30,$r[2]:30,$r[3]:30,$r[4]:30",
    'ordering=created_at → the 5 oldest';
is shape("$TL?variable=rainfall&ordering=-created_at&limit=10"), "10|$r[6]:0,$r[5]:10,$r[4]:10,$r[3]:10,$r[2]:10",
    'ordering=-created_at';
is shape("$TL?variable=rainfall&search=temp"), '500|', 'search AND variable: nothing';
is shape("$TL?variable=temperature&search=TEMP"), "500|$temp:2", 'search on variable, case-insensitive';
is shape("$TL?variable=rainfall&page=3&page_size=1"), "500|$r[6]:0,$r[5]:30,$r[4]:30,$r[3]:30,$r[2]:30", 'not paginated';

# ---- fewer than 5, then more after inserts --------------------------------------------
db()->do('DELETE FROM core_climateseries WHERE id IN (?, ?, ?, ?)', undef, @r[3 .. 6]);
is shape("$TL?variable=rainfall"), "500|$r[2]:30,$r[1]:30,$r[0]:30", 'three series left';
my $new = climate(dataset_id => $ds, country_id => $ben, variable => 'rainfall', unit => 'mm',
    statistics => '{}', series => '[{"value": 1}]', created_at => '2026-01-01 00:00:00+00');
is shape("$TL?variable=rainfall"), "500|$new:1,$r[2]:30,$r[1]:30,$r[0]:30", 'the newest series comes first';
is raw_decoded('/small/api/climate-series/timeline/?variable=rainfall&country__iso3=BEN&limit=10&site=' . $s1) =~ s/"points":\[.*?\]\}/P}/r,
    qq<200 {"results":[{"id":$r[2],"country_iso3":"BEN","variable":"rainfall","unit":"mm","site":$s1,P}],"limit":10}>,
    'under /small/api';
db()->do('DELETE FROM core_climateseries');
is raw_decoded("$TL?variable=rainfall"), '200 {"results":[],"limit":500}', 'no series → empty results';
