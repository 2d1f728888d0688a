# The old system's acceptance tests that concern reads (docs/decisions.md §8.2:
# 2, 3, 4, 5, 9, 10, 11, 13, 14), on the §8.1 fixture (EaTest::seed_fixture),
# with the exact bodies the contract gives for that fixture (§2.6, §2.7), and
# the "suggested additional acceptance checks" of §8.2.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(db reset_db seed_fixture get_json raw);

plan tests => 44;

my $HP = Apache::TestRequest::hostport();

reset_db();
my $f = seed_fixture();
my ($country, $region, $site, $dataset, $rdataset, $cdataset, $series) =
    @$f{qw(country region site dataset resource_dataset climate_dataset climate_series)};
db()->do(qq{UPDATE $_ SET created_at = '2025-12-03 16:00:41.123456+00', updated_at = '2025-12-03 16:00:41.123456+00'})
    for qw(core_country core_region core_energydataset core_hydrosite core_climateseries);
db()->do(q{UPDATE core_resourcemetric SET created_at = '2025-12-03 16:00:41.123456+00'::timestamptz + id * interval '1 second',
           updated_at = '2025-12-03 16:00:41.123456+00'::timestamptz + id * interval '1 second'});
my $Z = '"2025-12-03T16:00:41.123456Z"';

# 2. test_list_countries_returns_data
{
    my ($res, $d) = get_json('/api/countries/');
    is $res->code, 200, '§8.2 #2: GET /api/countries/ → 200';
    ok ref $d eq 'HASH' && $d->{count} >= 1, '§8.2 #2: count >= 1';
    is ref $d eq 'HASH' ? $d->{results}[0]{iso3} : undef, 'BEN', '§8.2 #2: results[0].iso3 == BEN';
}
# 3. test_filter_hydro_sites_by_country
{
    my ($res, $d) = get_json('/api/hydro-sites/?country__iso3=BEN');
    is $res->code, 200, '§8.2 #3: GET /api/hydro-sites/?country__iso3=BEN → 200';
    is ref $d eq 'HASH' ? $d->{count} : undef, 1, '§8.2 #3: count == 1';
}
# 4. test_stats_endpoint_returns_totals
{
    my ($res, $d) = get_json('/api/stats/');
    is $res->code, 200, '§8.2 #4: GET /api/stats/ → 200';
    is ref $d eq 'HASH' ? $d->{dataset_count} : undef, 3, '§8.2 #4: dataset_count 3';
    is $res->content, '{"countries":[{"iso3":"BEN","name":"Benin","site_count":1}],'
        . '"resources":[{"resource_type":"solar","total":346.8,"metrics":2}],"dataset_count":3}', '§2.7 stats example, exact';
}
# 5. test_hydro_site_summary_action
{
    my ($res, $d) = get_json('/api/hydro-sites/summary/');
    is $res->code, 200, '§8.2 #5: GET /api/hydro-sites/summary/ → 200';
    is ref $d eq 'HASH' ? $d->{total_sites} : undef, 1, '§8.2 #5: total_sites == 1';
    is $res->content, '{"total_sites":1,"total_storage_mwh":50.0,"total_capacity_mw":0.0,'
        . '"top_countries":[{"country__iso3":"BEN","country__name":"Benin","site_count":1}]}', '§2.7 summary example, exact';
}
# 9. test_resource_metric_timeseries_endpoint
{
    my ($res, $d) = get_json('/api/resource-metrics/timeseries/?country__iso3=BEN');
    is $res->code, 200, '§8.2 #9: timeseries → 200';
    ok ref $d eq 'HASH' && ref $d->{results} eq 'ARRAY' && @{ $d->{results} } >= 1, '§8.2 #9: len(results) >= 1';
    is $res->content, '{"results":[{"year":2023,"total_value":123.4,"data_points":1},'
        . '{"year":2024,"total_value":223.4,"data_points":1}]}', '§2.7 timeseries example, exact';
}
# 10. test_climate_series_timeline_endpoint
{
    my ($res, $d) = get_json('/api/climate-series/timeline/?variable=rainfall');
    is $res->code, 200, '§8.2 #10: timeline → 200';
    is ref $d eq 'HASH' ? $d->{limit} : undef, 500, '§8.2 #10: limit == 500';
    is ref $d eq 'HASH' ? $d->{results}[0]{variable} : undef, 'rainfall', '§8.2 #10: results[0].variable == rainfall';
    # jsonb keeps object keys shortest first: "value" before "timestamp"
    is $res->content, qq<{"results":[{"id":$series,"country_iso3":"BEN","variable":"rainfall","unit":"mm",>
        . q<"site":null,"points":[{"value":12.5,"timestamp":"2024-01-01"},{"value":15.0,"timestamp":"2024-02-01"}]}],"limit":500}>,
        '§2.7 timeline example, exact (jsonb key order in points)';
}
# 13., 14. test_stats_by_country_*
is raw('/api/stats/by_country/'), '400 {"detail":"Paramètre iso3 requis."}', '§8.2 #13: by_country without iso3 → 400';
{
    my ($res, $d) = get_json('/api/stats/by_country/?iso3=BEN');
    is $res->code, 200, '§8.2 #14: by_country?iso3=BEN → 200';
    is ref $d eq 'HASH' ? $d->{country} : undef, 'Benin', '§8.2 #14: country == Benin';
    is $res->content, '{"country":"Benin","site_summary":{"total_sites":1,"total_storage_mwh":50.0,"total_capacity_mw":0.0},'
        . '"resource_summary":[{"resource_type":"solar","total":346.8,"metrics":2}]}', '§2.7 by_country example, exact';
}

# §2.6 example objects for this fixture
is raw("/api/hydro-sites/$site/"),
    qq<200 {"id":$site,"name":"Site A","country":$country,"country_name":"Benin","region":$region,>
  . qq<"region_name":"Atlantique","dataset":$dataset,"latitude":null,"longitude":null,"elevation_m":null,>
  . q<"head_m":"100.00","storage_capacity_mwh":"50.00","turbine_capacity_mw":null,"status":"identified","notes":"",>
  . qq<"properties":{},"created_at":$Z,"updated_at":$Z}>, '§2.6 HydroSite example';
my ($m1, $m2) = @{ $f->{metrics} };
is raw("/api/resource-metrics/$m1/"),
    qq<200 {"id":$m1,"dataset":$rdataset,"country":$country,"country_name":"Benin","region":null,>
  . q<"region_name":null,"resource_type":"solar","metric":"potential","value":"123.4000","unit":"kWh/m2","year":2023,>
  . q<"created_at":"2025-12-03T16:00:42.123456Z","updated_at":"2025-12-03T16:00:42.123456Z"}>,
    '§2.6 ResourceMetric example (D3: region_name null)';
is raw("/api/climate-series/$series/"),
    qq<200 {"id":$series,"created_at":$Z,"updated_at":$Z,"variable":"rainfall","unit":"mm","statistics":{},>
  . q<"series":[{"value":12.5,"timestamp":"2024-01-01"},{"value":15.0,"timestamp":"2024-02-01"}],>
  . qq<"dataset":$cdataset,"country":$country,"region":null,"site":null}>, '§2.6 ClimateSeries example';
is raw('/api/resource-metrics/'),
    qq<200 {"count":2,"next":null,"previous":null,"results":[{"id":$m2,"dataset":$rdataset,"country":$country,>
  . q<"country_name":"Benin","region":null,"region_name":null,"resource_type":"solar","metric":"potential","value":"223.4000",>
  . q<"unit":"kWh/m2","year":2024,"created_at":"2025-12-03T16:00:43.123456Z","updated_at":"2025-12-03T16:00:43.123456Z"},>
  . qq<{"id":$m1,"dataset":$rdataset,"country":$country,"country_name":"Benin","region":null,"region_name":null,>
  . q<"resource_type":"solar","metric":"potential","value":"123.4000","unit":"kWh/m2","year":2023,>
  . q<"created_at":"2025-12-03T16:00:42.123456Z","updated_at":"2025-12-03T16:00:42.123456Z"}]}>,
    'metric list: newest first';

# §8.2 suggested checks
{
    my $ua = Apache::TestRequest::user_agent();
    my $req = HTTP::Request->new(POST => Apache::TestRequest::resolve_url('/api/hydro-sites/'),
        ['Content-Type' => 'application/json'], qq<{"name":"Site B","country":$country,"head_m":50}>);
    my $res = $ua->request($req);
    is $res->code . ' ' . $res->content, '401 {"detail":"Authentication credentials were not provided."}',
        'anonymous POST /api/hydro-sites/ → 401';
    is scalar $res->header('WWW-Authenticate'), 'Token', 'WWW-Authenticate: Token';
    my ($n) = db()->selectrow_array('SELECT count(*) FROM core_hydrosite');
    is $n, 1, 'no site created';
}
is raw('/api/climate-series/timeline/'), '400 {"detail":"Paramètre variable requis."}', 'timeline without variable → 400';
is raw('/api/climate-series/timeline/?variable=rainfall&limit=x'), '400 {"detail":"Paramètre limit invalide."}', 'bad limit → 400';
is raw('/api/stats/by_country/?iso3=XXX'), '404 {"detail":"Pays introuvable."}', 'by_country unknown iso3 → 404';
is raw('/api/countries/?page=2'), '404 {"detail":"Invalid page."}', 'invalid page → 404';
is raw('/api/countries/?page=x'), '404 {"detail":"Invalid page."}', 'non-integer page → 404';
is raw('/api/resource-metrics/?year=2023') =~ /"count":(\d+)/ ? $1 : '', 1, 'year filter on the fixture';
is raw('/api/countries/?search=ben') =~ /"count":(\d+)/ ? $1 : '', 1, 'search on the fixture';

# 11. test_custom_page_size_parameter
db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
           SELECT 'Country ' || i, lpad(i::text, 2, '0'), 'X' || lpad(i::text, 2, '0'), now(), now()
           FROM generate_series(0, 24) AS i ORDER BY i});
{
    my ($res, $d) = get_json('/api/countries/?page_size=10');
    is $res->code, 200, '§8.2 #11: GET /api/countries/?page_size=10 → 200';
    is ref $d eq 'HASH' ? scalar @{ $d->{results} } : undef, 10, '§8.2 #11: 10 results';
    is ref $d eq 'HASH' ? $d->{count} : undef, 26, '§8.2 #11: count 26';
    is ref $d eq 'HASH' ? $d->{next} : undef, "http://$HP/api/countries/?page=2&page_size=10", '§8.2 #11: next';
    ($res, $d) = get_json('/api/countries/?page_size=500');
    is ref $d eq 'HASH' ? scalar @{ $d->{results} } : undef, 26, 'page_size=500 (capped at 200): all 26';
    ($res, $d) = get_json('/api/stats/');
    is ref $d eq 'HASH' ? scalar @{ $d->{countries} } : undef, 5, 'stats: 5 countries of 26';
    is ref $d eq 'HASH' ? $d->{countries}[0]{iso3} : undef, 'BEN', 'stats: Benin (1 site) first';
    ok ref $d eq 'HASH' && !grep({ $_->{site_count} != 0 } @{ $d->{countries} }[1 .. 4]), 'stats: the others have 0 sites';
}
