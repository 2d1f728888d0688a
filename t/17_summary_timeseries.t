# hydro-sites/summary/ and resource-metrics/timeseries/ (docs/decisions.md §2.7):
# exact bodies, aggregates as JSON floats (Python repr of float(Decimal)),
# filters/search applied, top_countries at most 5 by site count, timeseries
# ascending by year without null years.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db country region dataset site metric raw_decoded);

plan tests => 42;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

sub top { return join ',', map { sprintf '{"country__iso3":"%s","country__name":"%s","site_count":%d}', @$_ } @_ }

my $EMPTY = '200 {"total_sites":0,"total_storage_mwh":0.0,"total_capacity_mw":0.0,"top_countries":[]}';

# ---- summary on an empty database ---------------------------------------------------
reset_db();
is raw_decoded('/api/hydro-sites/summary/'), $EMPTY, 'summary of an empty database';
is raw_decoded('/small/api/hydro-sites/summary/'), $EMPTY, 'same under /small/api';

# ---- data ---------------------------------------------------------------------------------
my %c;
my @countries = (['SEN', 'Senegal', 6], ['BEN', 'Benin', 5], ['TGO', 'Togo', 4], ['NER', 'Niger', 3],
                 ['GHA', 'Ghana', 2], ['CIV', 'Côte d’Ivoire', 1], ['MLI', 'Mali', 0]);
for my $x (@countries) {
    my ($iso3, $name, $n) = @$x;
    $c{$iso3} = country(name => $name, iso2 => substr($iso3, 0, 2), iso3 => $iso3);
}
my $atl = region(country_id => $c{BEN}, name => 'Atlantique');
my $ds = dataset(name => 'PHES');
for my $x (@countries) {
    my ($iso3, $name, $n) = @$x;
    for my $i (1 .. $n) {
        site(name => "$iso3-$i", country_id => $c{$iso3}, storage_capacity_mwh => '1.5',
            status => $i == 1 ? 'study' : 'identified',
            turbine_capacity_mw => $iso3 eq 'BEN' && $i <= 2 ? ('0.1', '0.2')[$i - 1] : undef,
            region_id => $iso3 eq 'BEN' && $i <= 2 ? $atl : undef,
            dataset_id => $iso3 eq 'TGO' ? $ds : undef,
            notes => $iso3 eq 'NER' ? 'desert' : '');
    }
}

# ---- summary -----------------------------------------------------------------------
my $ALL = '200 {"total_sites":21,"total_storage_mwh":31.5,"total_capacity_mw":0.3,"top_countries":['
    . top(['SEN', 'Senegal', 6], ['BEN', 'Benin', 5], ['TGO', 'Togo', 4], ['NER', 'Niger', 3], ['GHA', 'Ghana', 2]) . ']}';
is raw_decoded('/api/hydro-sites/summary/'), $ALL, 'summary: totals, floats, top 5 of 6 countries by site count';
is raw_decoded('/api/hydro-sites/summary/?page=9&page_size=1'), $ALL, 'summary is not paginated';
is raw_decoded('/api/hydro-sites/summary/?ordering=-name'), $ALL, 'ordering does not change the summary';
is raw_decoded('/api/hydro-sites/summary/?country__iso3=BEN'),
    '200 {"total_sites":5,"total_storage_mwh":7.5,"total_capacity_mw":0.3,"top_countries":[' . top(['BEN', 'Benin', 5]) . ']}',
    'country__iso3=BEN: sum 0.1 + 0.2 is exactly 0.3';
is raw_decoded('/api/hydro-sites/summary/?country__iso3=TGO'),
    '200 {"total_sites":4,"total_storage_mwh":6.0,"total_capacity_mw":0.0,"top_countries":[' . top(['TGO', 'Togo', 4]) . ']}',
    'country__iso3=TGO: all turbine capacities null → 0.0';
is raw_decoded('/api/hydro-sites/summary/?country__iso3=CIV'),
    '200 {"total_sites":1,"total_storage_mwh":1.5,"total_capacity_mw":0.0,"top_countries":[' . top(['CIV', 'Côte d’Ivoire', 1]) . ']}',
    'non-ASCII country name';
is raw_decoded('/api/hydro-sites/summary/?country__iso3=MLI'), $EMPTY, 'country without sites → empty summary';
is raw_decoded('/api/hydro-sites/summary/?country__iso3=ben'), $EMPTY, 'country__iso3 is case-sensitive';
is raw_decoded('/api/hydro-sites/summary/?status=study&country__iso3=SEN'),
    '200 {"total_sites":1,"total_storage_mwh":1.5,"total_capacity_mw":0.0,"top_countries":[' . top(['SEN', 'Senegal', 1]) . ']}',
    'status AND country__iso3';
is raw_decoded('/api/hydro-sites/summary/?region__name=Atlantique'),
    '200 {"total_sites":2,"total_storage_mwh":3.0,"total_capacity_mw":0.3,"top_countries":[' . top(['BEN', 'Benin', 2]) . ']}',
    'region__name filter';
is raw_decoded("/api/hydro-sites/summary/?dataset=$ds"),
    '200 {"total_sites":4,"total_storage_mwh":6.0,"total_capacity_mw":0.0,"top_countries":[' . top(['TGO', 'Togo', 4]) . ']}',
    'dataset filter';
is raw_decoded('/api/hydro-sites/summary/?search=desert'),
    '200 {"total_sites":3,"total_storage_mwh":4.5,"total_capacity_mw":0.0,"top_countries":[' . top(['NER', 'Niger', 3]) . ']}',
    'search (notes)';
is raw_decoded('/api/hydro-sites/summary/?search=GHA-%20,-2'),
    '200 {"total_sites":1,"total_storage_mwh":1.5,"total_capacity_mw":0.0,"top_countries":[' . top(['GHA', 'Ghana', 1]) . ']}',
    'search with two terms';
is raw_decoded('/api/hydro-sites/summary/?status=foo'),
    '400 {"status":["Select a valid choice. foo is not one of the available choices."]}', 'invalid status → 400';
is raw_decoded('/api/hydro-sites/summary/?dataset=999'),
    '400 {"dataset":["Select a valid choice. That choice is not one of the available choices."]}', 'invalid dataset → 400';
is raw_decoded('/api/hydro-sites/summary/?status=identified&search=SEN'),
    '200 {"total_sites":5,"total_storage_mwh":7.5,"total_capacity_mw":0.0,"top_countries":[' . top(['SEN', 'Senegal', 5]) . ']}',
    'filter AND search';
# fewer than 5 groups: all of them, by count
is raw_decoded('/api/hydro-sites/summary/?search=E'),
    '200 {"total_sites":14,"total_storage_mwh":21.0,"total_capacity_mw":0.3,"top_countries":['
    . top(['SEN', 'Senegal', 6], ['BEN', 'Benin', 5], ['NER', 'Niger', 3]) . ']}',
    'three groups (search=E matches SEN, BEN, NER)';
db()->do(q{UPDATE core_hydrosite SET storage_capacity_mwh = NULL WHERE name LIKE 'NER-%'});
is raw_decoded('/api/hydro-sites/summary/?country__iso3=NER'),
    '200 {"total_sites":3,"total_storage_mwh":0.0,"total_capacity_mw":0.0,"top_countries":[' . top(['NER', 'Niger', 3]) . ']}',
    'all storage null → 0.0';

# ---- large and exact sums ---------------------------------------------------------
my $big = country(name => 'Big Land', iso2 => 'BG', iso3 => 'BIG');
site(name => "B$_", country_id => $big, storage_capacity_mwh => '99999999.99', turbine_capacity_mw => '9999999.99') for 1 .. 3;
is raw_decoded('/api/hydro-sites/summary/?country__iso3=BIG'),
    '200 {"total_sites":3,"total_storage_mwh":299999999.97,"total_capacity_mw":29999999.97,"top_countries":['
    . top(['BIG', 'Big Land', 3]) . ']}', 'large sums, shortest round-trip floats';
db()->do(q{UPDATE core_hydrosite SET storage_capacity_mwh = 10000000, turbine_capacity_mw = 0.01 WHERE country_id = ?}, undef, $big);
is raw_decoded('/api/hydro-sites/summary/?country__iso3=BIG'),
    '200 {"total_sites":3,"total_storage_mwh":30000000.0,"total_capacity_mw":0.03,"top_countries":['
    . top(['BIG', 'Big Land', 3]) . ']}', 'integral float keeps .0; 0.03';
db()->do(q{UPDATE core_hydrosite SET storage_capacity_mwh = 0, turbine_capacity_mw = 0 WHERE country_id = ?}, undef, $big);
is raw_decoded('/api/hydro-sites/summary/?country__iso3=BIG'),
    '200 {"total_sites":3,"total_storage_mwh":0.0,"total_capacity_mw":0.0,"top_countries":['
    . top(['BIG', 'Big Land', 3]) . ']}', 'zero sums → 0.0';
db()->do(q{UPDATE core_hydrosite SET storage_capacity_mwh = 0.07 WHERE country_id = ?}, undef, $big);
is raw_decoded('/api/hydro-sites/summary/?country__iso3=BIG') =~ /"total_storage_mwh":([^,]*),/ ? $1 : '', '0.21',
    '0.07 × 3 = 0.21 (decimal sum, not binary)';

# ---- timeseries -------------------------------------------------------------------
my $rd = dataset(name => 'Resources', dataset_type => 'resource');
my $t = 0;
my $ts = sub { sprintf '2025-02-01 00:00:%02d+00', ++$t };
metric(dataset_id => $rd, country_id => $c{BEN}, resource_type => 'solar', metric => 'potential', unit => 'u', value => '123.4', year => 2023, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{BEN}, resource_type => 'solar', metric => 'potential', unit => 'u', value => '223.4', year => 2024, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{BEN}, resource_type => 'wind', metric => 'capacity', unit => 'u', value => '0.1', year => 2023, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{BEN}, resource_type => 'wind', metric => 'capacity2', unit => 'u', value => '0.2', year => 2023, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{BEN}, resource_type => 'hydro', metric => 'x', unit => 'u', value => 50, year => undef, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{TGO}, resource_type => 'solar', metric => 'potential', unit => 'u', value => 1000, year => 2022, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{TGO}, resource_type => 'solar', metric => 'potential', unit => 'u', value => '0.0001', year => 2023, created_at => $ts->());
metric(dataset_id => $rd, country_id => $c{TGO}, resource_type => 'biomass', metric => 'y', unit => 'u', value => 5, year => 0, created_at => $ts->());

sub pts { return '200 {"results":[' . join(',', map { sprintf '{"year":%d,"total_value":%s,"data_points":%d}', @$_ } @_) . ']}' }
my $TS = '/api/resource-metrics/timeseries/';
is raw_decoded($TS), pts([0, '5.0', 1], [2022, '1000.0', 1], [2023, '123.7001', 4], [2024, '223.4', 1]),
    'timeseries: all years ascending, year 0 included, null year excluded';
is raw_decoded("$TS?country__iso3=BEN"), pts([2023, '123.7', 3], [2024, '223.4', 1]), 'country__iso3=BEN';
is raw_decoded("$TS?country__iso3=BEN&resource_type=wind"), pts([2023, '0.3', 2]), 'country__iso3 + resource_type';
is raw_decoded("$TS?resource_type=solar"), pts([2022, '1000.0', 1], [2023, '123.4001', 2], [2024, '223.4', 1]), 'resource_type=solar';
is raw_decoded("$TS?resource_type=hydro"), '200 {"results":[]}', 'only null years → empty results';
is raw_decoded("$TS?country__iso3=ben"), '200 {"results":[]}', 'country__iso3=ben: the exact filter applies first (A5)';
is raw_decoded("$TS?country__iso3=XXX"), '200 {"results":[]}', 'unknown country → empty results';
is raw_decoded("$TS?resource_type=foo"),
    '400 {"resource_type":["Select a valid choice. foo is not one of the available choices."]}', 'invalid resource_type → 400';
is raw_decoded("$TS?year=2023"), pts([2023, '123.7001', 4]), 'year filter';
is raw_decoded("$TS?year=abc"), '400 {"year":["Enter a number."]}', 'invalid year → 400';
is raw_decoded("$TS?search=capacity"), pts([2023, '0.3', 2]), 'search (metric)';
is raw_decoded("$TS?ordering=-year"), raw_decoded($TS), 'ordering does not change the year order';
is raw_decoded("$TS?page=5"), raw_decoded($TS), 'not paginated';
is raw_decoded("$TS?resource_type="), raw_decoded($TS), 'empty resource_type → no filter';
is raw_decoded('/small/api/resource-metrics/timeseries/?country__iso3=TGO'), pts([0, '5.0', 1], [2022, '1000.0', 1], [2023, '0.0001', 1]),
    'under /small/api';
db()->do('UPDATE core_resourcemetric SET value = 99999999.9999 WHERE year = 2024');
is raw_decoded("$TS?year=2024"), pts([2024, '99999999.9999', 1]), 'large value';
db()->do('DELETE FROM core_resourcemetric');
is raw_decoded($TS), '200 {"results":[]}', 'no metrics → {"results":[]}';
{
    my $res = Apache::TestRequest::GET($TS);
    is scalar $res->header('Content-Type'), 'application/json', 'timeseries is application/json';
}
