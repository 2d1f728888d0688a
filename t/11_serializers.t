# Serializers (docs/decisions.md §2.3, §2.6; decisions D2, D3, D4): exact raw
# bodies of detail and list responses — key order, decimals as fixed-scale
# strings, datetimes in UTC with Z (microseconds only when non-zero), JSON
# fields round-tripped (non-ASCII kept, U+2028/U+2029 escaped), FKs as ids,
# true distinct region/site counts, region_name null without a region.
#
# JSON field values are written in jsonb's own key order (shorter keys first),
# so the expected output does not depend on insertion order.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Encode ();
use EaTest qw(db reset_db country region dataset site metric climate raw);

plan tests => 45;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

my $HP = Apache::TestRequest::hostport();

sub u8 { Encode::encode('UTF-8', $_[0]) }

my $T1 = '2025-12-03 16:00:41.123456+00';  my $Z1 = '"2025-12-03T16:00:41.123456Z"';
my $T2 = '2025-01-01 00:00:00+00';         my $Z2 = '"2025-01-01T00:00:00Z"';
my $T3 = '2025-06-01 12:00:00.5+00';       my $Z3 = '"2025-06-01T12:00:00.500000Z"';
my $T4 = '2025-03-01 10:00:00.000001+02';  my $Z4 = '"2025-03-01T08:00:00.000001Z"';

reset_db();

# ---- data ------------------------------------------------------------------------
my $d1 = dataset(name => 'Test Dataset', dataset_type => 'phes', source => 'GIS "survey"',
    description => "Line 1\nLine 2", file_name => 'sites.csv', file_checksum => 'abc123',
    metadata => '{"n": 1, "ok": true, "nil": null, "list": [1, -2.5, "x", {"a": []}], "nested": {"k": "é€😀"}}',
    created_at => $T1, updated_at => $T2);
my $d2 = dataset(name => 'Resources', dataset_type => 'resource', created_at => $T2);
my $d3 = dataset(name => 'Climate', dataset_type => 'climate', created_at => $T3, updated_at => $T4);

my $benin = country(name => 'Benin', iso2 => 'BJ', iso3 => 'BEN', population => 12345678,
    boundary => '{"type": "Polygon", "coordinates": [[[1.5, 6.25], [2, 7], [1.5, 6.25]]]}',
    created_at => $T1, updated_at => $T2);
my $civ = country(name => 'Côte d’Ivoire', iso2 => 'CI', iso3 => 'CIV',
    population => '9223372036854775807', created_at => $T3, updated_at => $T4);
my $togo = country(name => 'Togo', iso2 => 'TG', iso3 => 'TGO', population => 0, boundary => '{}',
    created_at => $T2);
my $niger = country(name => 'Niger', iso2 => 'NE', iso3 => 'NER', created_at => $T2);

my $atl = region(country_id => $benin, name => 'Atlantique', level => 'department',
    boundary => '{"type": "Point", "coordinates": [2.1, 6.4]}', created_at => $T1, updated_at => $T2);
my $bor = region(country_id => $benin, name => 'Borgou', created_at => $T3, updated_at => $T4);
region(country_id => $civ, name => 'Abidjan', level => 'district', created_at => $T2);
region(country_id => $niger, name => $_, created_at => $T2) for qw(Agadez Diffa Dosso);

my $notes = "Line 1\n\"quoted\" \\ back\tslash é\x{2028}end";
my $sa = site(name => 'Site A', country_id => $benin, region_id => $atl, dataset_id => $d1,
    latitude => '6.123456', longitude => '2.5', elevation_m => '-12.5', head_m => 100,
    storage_capacity_mwh => 50, turbine_capacity_mw => undef, notes => $notes,
    properties => '{"a": "\u2028\u2029", "tags": ["x", "y"], "basin": {"km2": 50000, "name": "Ouémé"}, "control": "\t\u0001"}',
    created_at => $T1, updated_at => $T2);
my $sb = site(name => 'Site B', country_id => $benin, latitude => -90, longitude => 180,
    head_m => 0, storage_capacity_mwh => '0.5', turbine_capacity_mw => '1234567.89',
    status => 'operational', created_at => $T3, updated_at => $T4);
my $sc = site(name => 'Site C', country_id => $benin, region_id => $bor, dataset_id => $d1, created_at => $T2);
site(name => $_, country_id => $niger, created_at => $T2) for qw(N1 N2);

my $m1 = metric(dataset_id => $d2, country_id => $benin, resource_type => 'solar', metric => 'potential',
    value => '123.4', unit => 'kWh/m2', year => 2023, created_at => $T1, updated_at => $T2);
my $m2 = metric(dataset_id => $d2, country_id => $benin, region_id => $atl, resource_type => 'wind',
    metric => 'capacity factor', value => '9999999999.9999', unit => 'MW', year => undef,
    created_at => $T3, updated_at => $T4);
my $m3 = metric(dataset_id => $d2, country_id => $benin, resource_type => 'hydro', metric => 'x',
    value => 0, unit => 'GWh', year => 0, created_at => $T2);

my $c1 = climate(dataset_id => $d3, country_id => $benin, variable => 'rainfall', unit => 'mm',
    statistics => '{"p90": 30.5, "mean": 13.75}',
    series => '[{"value": 12.5, "timestamp": "2024-01-01"}, {"value": 15.0, "timestamp": "2024-02-01"}]',
    created_at => $T1, updated_at => $T2);
my $c2 = climate(dataset_id => $d3, country_id => $benin, region_id => $atl, site_id => $sa,
    variable => 'temperature', unit => '°C', created_at => $T3, updated_at => $T4);

# ---- expected objects ------------------------------------------------------------
# (q<>/qq<> quoting: the JSON text has unbalanced braces across the pieces)
my %country = (
    $benin => qq<{"id":$benin,"name":"Benin","iso2":"BJ","iso3":"BEN","population":12345678,>
        . q<"boundary":{"type":"Polygon","coordinates":[[[1.5,6.25],[2,7],[1.5,6.25]]]},>
        . qq<"region_count":2,"site_count":3,"created_at":$Z1,"updated_at":$Z2}>,
    $civ => qq<{"id":$civ,"name":"Côte d’Ivoire","iso2":"CI","iso3":"CIV","population":9223372036854775807,>
        . qq<"boundary":null,"region_count":1,"site_count":0,"created_at":$Z3,"updated_at":$Z4}>,
    $togo => qq<{"id":$togo,"name":"Togo","iso2":"TG","iso3":"TGO","population":0,"boundary":{},>
        . qq<"region_count":0,"site_count":0,"created_at":$Z2,"updated_at":$Z2}>,
    $niger => qq<{"id":$niger,"name":"Niger","iso2":"NE","iso3":"NER","population":null,"boundary":null,>
        . qq<"region_count":3,"site_count":2,"created_at":$Z2,"updated_at":$Z2}>,
);
my $region_atl = qq<{"id":$atl,"country":$benin,"country_name":"Benin","name":"Atlantique","level":"department",>
    . qq<"boundary":{"type":"Point","coordinates":[2.1,6.4]},"created_at":$Z1,"updated_at":$Z2}>;
my $region_bor = qq<{"id":$bor,"country":$benin,"country_name":"Benin","name":"Borgou","level":"",>
    . qq<"boundary":null,"created_at":$Z3,"updated_at":$Z4}>;
my $dataset1 = qq<{"id":$d1,"created_at":$Z1,"updated_at":$Z2,"name":"Test Dataset","dataset_type":"phes",>
    . q<"source":"GIS \"survey\"","description":"Line 1\nLine 2","file_name":"sites.csv","file_checksum":"abc123",>
    . q<"metadata":{"n":1,"ok":true,"nil":null,"list":[1,-2.5,"x",{"a":[]}],"nested":{"k":"é€😀"}}}>;
my $dataset3 = qq<{"id":$d3,"created_at":$Z3,"updated_at":$Z4,"name":"Climate","dataset_type":"climate",>
    . q<"source":"","description":"","file_name":"","file_checksum":"","metadata":{}}>;
my $site_a = qq<{"id":$sa,"name":"Site A","country":$benin,"country_name":"Benin","region":$atl,>
    . qq<"region_name":"Atlantique","dataset":$d1,"latitude":"6.123456","longitude":"2.500000",>
    . q<"elevation_m":"-12.50","head_m":"100.00","storage_capacity_mwh":"50.00","turbine_capacity_mw":null,>
    . q<"status":"identified","notes":"Line 1\n\"quoted\" \\\\ back\tslash é\u2028end",>
    . q<"properties":{"a":"\u2028\u2029","tags":["x","y"],"basin":{"km2":50000,"name":"Ouémé"},"control":"\t\u0001"},>
    . qq<"created_at":$Z1,"updated_at":$Z2}>;
my $site_b = qq<{"id":$sb,"name":"Site B","country":$benin,"country_name":"Benin","region":null,>
    . q<"region_name":null,"dataset":null,"latitude":"-90.000000","longitude":"180.000000",>
    . q<"elevation_m":null,"head_m":"0.00","storage_capacity_mwh":"0.50","turbine_capacity_mw":"1234567.89",>
    . q<"status":"operational","notes":"","properties":{},>
    . qq<"created_at":$Z3,"updated_at":$Z4}>;
my $site_c = qq<{"id":$sc,"name":"Site C","country":$benin,"country_name":"Benin","region":$bor,>
    . qq<"region_name":"Borgou","dataset":$d1,"latitude":null,"longitude":null,"elevation_m":null,>
    . q<"head_m":null,"storage_capacity_mwh":null,"turbine_capacity_mw":null,"status":"identified",>
    . qq<"notes":"","properties":{},"created_at":$Z2,"updated_at":$Z2}>;
my $metric1 = qq<{"id":$m1,"dataset":$d2,"country":$benin,"country_name":"Benin","region":null,"region_name":null,>
    . q<"resource_type":"solar","metric":"potential","value":"123.4000","unit":"kWh/m2","year":2023,>
    . qq<"created_at":$Z1,"updated_at":$Z2}>;
my $metric2 = qq<{"id":$m2,"dataset":$d2,"country":$benin,"country_name":"Benin","region":$atl,"region_name":"Atlantique",>
    . q<"resource_type":"wind","metric":"capacity factor","value":"9999999999.9999","unit":"MW","year":null,>
    . qq<"created_at":$Z3,"updated_at":$Z4}>;
my $metric3 = qq<{"id":$m3,"dataset":$d2,"country":$benin,"country_name":"Benin","region":null,"region_name":null,>
    . q<"resource_type":"hydro","metric":"x","value":"0.0000","unit":"GWh","year":0,>
    . qq<"created_at":$Z2,"updated_at":$Z2}>;
my $climate1 = qq<{"id":$c1,"created_at":$Z1,"updated_at":$Z2,"variable":"rainfall","unit":"mm",>
    . q<"statistics":{"p90":30.5,"mean":13.75},>
    . q<"series":[{"value":12.5,"timestamp":"2024-01-01"},{"value":15.0,"timestamp":"2024-02-01"}],>
    . qq<"dataset":$d3,"country":$benin,"region":null,"site":null}>;
my $climate2 = qq<{"id":$c2,"created_at":$Z3,"updated_at":$Z4,"variable":"temperature","unit":"°C",>
    . q<"statistics":{},"series":[],>
    . qq<"dataset":$d3,"country":$benin,"region":$atl,"site":$sa}>;
my $dataset2 = qq<{"id":$d2,"created_at":$Z2,"updated_at":$Z2,"name":"Resources","dataset_type":"resource",>
    . q<"source":"","description":"","file_name":"","file_checksum":"","metadata":{}}>;
# ---- details --------------------------------------------------------------
for my $id ($benin, $civ, $togo, $niger) {
    is raw("/api/countries/$id/"), '200 ' . u8($country{$id}), "country $id detail (D2 counts)";
}
is raw("/api/regions/$atl/"), '200 ' . u8($region_atl), 'region detail with boundary';
is raw("/api/regions/$bor/"), '200 ' . u8($region_bor), 'region detail, blank level, null boundary';
is raw("/api/datasets/$d1/"), '200 ' . u8($dataset1), 'dataset detail (fields __all__ order, metadata JSON)';
is raw("/api/datasets/$d3/"), '200 ' . u8($dataset3), 'dataset detail with defaults';
is raw("/api/hydro-sites/$sa/"), '200 ' . u8($site_a), 'hydro site detail: decimals, escapes, properties';
is raw("/api/hydro-sites/$sb/"), '200 ' . u8($site_b), 'hydro site without region: region_name null (D3)';
is raw("/api/resource-metrics/$m1/"), '200 ' . u8($metric1), 'resource metric without region: region_name null (D3)';
is raw("/api/resource-metrics/$m2/"), '200 ' . u8($metric2), 'resource metric with region, year null, 14,4 decimal';
is raw("/api/resource-metrics/$m3/"), '200 ' . u8($metric3), 'resource metric value 0 and year 0';
is raw("/api/climate-series/$c1/"), '200 ' . u8($climate1), 'climate series detail (series, statistics)';
is raw("/api/climate-series/$c2/"), '200 ' . u8($climate2), 'climate series with region and site, unicode unit';

# same bodies under /small/api
is raw("/small/api/countries/$benin/"), '200 ' . u8($country{$benin}), '/small/api country detail';
is raw("/small/api/hydro-sites/$sa/"), '200 ' . u8($site_a), '/small/api hydro site detail';

# Accept: text/html gets the same JSON (D11)
{
    my $res = Apache::TestRequest::GET("/api/hydro-sites/$sa/", Accept => 'text/html');
    is $res->code . ' ' . $res->content, '200 ' . u8($site_a), 'Accept: text/html → same JSON (D11)';
    is scalar $res->header('Content-Type'), 'application/json', 'Accept: text/html → application/json';
    is raw("/api/hydro-sites/$sa/", Accept => 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'),
        '200 ' . u8($site_a), 'browser Accept header → same JSON';
}

# ---- lists ---------------------------------------------------------------
sub page_of { my ($n, @items) = @_; return qq<{"count":$n,"next":null,"previous":null,"results":[> . join(',', @items) . ']}' }

is raw('/api/countries/'), '200 ' . u8(page_of(4, @country{$benin, $civ, $niger, $togo})),
    'country list: exact body, ordered by name, D2 counts';
is raw('/api/datasets/'), '200 ' . u8(page_of(3, $dataset3, $dataset2, $dataset1)),
    'dataset list: exact body, ordered by name';
is raw('/api/resource-metrics/'), '200 ' . u8(page_of(3, $metric1, $metric2, $metric3)),
    'metric list: exact body, -created_at';
is raw('/api/climate-series/'), '200 ' . u8(page_of(2, $climate1, $climate2)),
    'climate series list: exact body, -created_at';
is raw("/api/hydro-sites/?country__iso3=BEN"), '200 ' . u8(page_of(3, $site_a, $site_b, $site_c)),
    'hydro site list: exact body, all-null decimals';
is raw("/api/regions/?country__iso3=BEN"), '200 ' . u8(page_of(2, $region_atl, $region_bor)),
    'region list: exact body';
{
    my ($body) = raw('/api/regions/') =~ /^200 (.*)$/s;
    my @names = ($body // '') =~ /"name":"([^"]*)"/g;
    is join(',', @names), 'Atlantique,Borgou,Abidjan,Agadez,Diffa,Dosso', 'region list ordered by country name, name';
    my @cn = ($body // '') =~ /"country_name":"([^"]*)"/g;
    is scalar(@cn), 6, 'every region carries country_name';
}

# ---- counts after changes: D2 stays exact -------------------------------------
site(name => 'Site D', country_id => $civ, created_at => $T2);
like raw("/api/countries/$civ/"), qr/^200 .*"region_count":1,"site_count":1,/s, '1 region × 1 site → 1, 1';
region(country_id => $togo, name => "R$_") for 1 .. 4;
site(name => "S$_", country_id => $togo) for 1 .. 5;
like raw("/api/countries/$togo/"), qr/^200 .*"region_count":4,"site_count":5,/s, '4 regions × 5 sites → 4, 5';
db()->do('DELETE FROM core_hydrosite WHERE country_id = ?', undef, $togo);
like raw("/api/countries/$togo/"), qr/^200 .*"region_count":4,"site_count":0,/s, 'after deleting the sites → 4, 0';
db()->do('DELETE FROM core_region WHERE country_id = ?', undef, $benin);
like raw("/api/countries/$benin/"), qr/^200 .*"region_count":0,"site_count":3,/s, 'after deleting the regions → 0, 3';

# ---- region deleted: site's region null, region_name null ----------------------
like raw("/api/hydro-sites/$sa/"), qr/^200 .*"region":null,"region_name":null,"dataset":$d1,/s,
    'site whose region was deleted: region null, region_name null';
like raw("/api/resource-metrics/$m2/"), qr/^200 .*"region":null,"region_name":null,"resource_type":"wind"/s,
    'metric whose region was deleted: region_name null';

# ---- more JSON round trips -----------------------------------------------------
{
    my $id = country(name => 'Json Land', iso2 => 'JL', iso3 => 'JSL',
        boundary => '[1, "two", 3.5, null, true, false, {"k": [[]]}, "\"\\\\/"]');
    my $b = raw("/api/countries/$id/");
    ok $b =~ /^200 / && index($b, q{"boundary":[1,"two",3.5,null,true,false,{"k":[[]]},"\"\\\\/"],}) > 0,
        'boundary: a JSON array with every value type' or diag $b;
    my $id2 = country(name => 'Scalar Land', iso2 => 'SL', iso3 => 'SCL', boundary => '"just a string"');
    like raw("/api/countries/$id2/"), qr/^200 .*"boundary":"just a string",/s, 'boundary: a JSON string';
    my $id3 = country(name => 'Number Land', iso2 => 'NL', iso3 => 'NML', boundary => '-42');
    like raw("/api/countries/$id3/"), qr/^200 .*"boundary":-42,/s, 'boundary: a JSON number';
    my $id4 = country(name => 'Null Land', iso2 => 'UL', iso3 => 'NUL', boundary => 'null');
    like raw("/api/countries/$id4/"), qr/^200 .*"boundary":null,/s, 'boundary: JSON null';
    my $deep = ('[' x 30) . '1' . (']' x 30);
    my $id5 = country(name => 'Deep Land', iso2 => 'DL', iso3 => 'DPL', boundary => $deep);
    like raw("/api/countries/$id5/"), qr/^200 .*"boundary":\Q$deep\E,/s, 'boundary: 30 nested arrays';
    my $id6 = country(name => "Tab\tand \x{1F600} Land", iso2 => 'TL', iso3 => 'TBL');
    is raw("/api/countries/$id6/") =~ /"name":"([^"]*)"/ ? $1 : '', u8("Tab\\tand \x{1F600} Land"),
        'control character escaped, astral character kept as UTF-8';
}

# JSON numbers come back as the old system rendered them: Django's JSONField
# loads jsonb's text output with Python's json module, so numbers with a
# fraction become floats printed with repr (shortest round trip, exponent
# form below 1e-4), integers stay exact; jsonb itself has already turned
# 1e2 into 100 and 1e22 into an integer.
{
    my $id = country(name => 'Numbers', iso2 => 'NU', iso3 => 'NUM',
        boundary => '[2.123456789012345678, 1.50, 1e2, 100, -0.5e-3, 1e-7, 1e22, 12345678901234567890, 0.1]');
    my $b = raw("/api/countries/$id/");
    ok $b =~ /^200 / && index($b, '"boundary":[2.1234567890123457,1.5,100,100,-0.0005,1e-07,10000000000000000000000,12345678901234567890,0.1],') > 0,
        'JSON numbers rendered as Python floats/ints' or diag $b;
}

# ---- a large list page stays valid JSON -----------------------------------------
{
    my $big = '{"blob": "' . ('x' x 100_000) . '"}';
    my $id = site(name => 'Big', country_id => $niger, properties => $big);
    my $res = Apache::TestRequest::GET("/api/hydro-sites/$id/");
    is $res->code, 200, 'site with a 100 kB properties value → 200';
    ok index($res->content, '"properties":{"blob":"' . ('x' x 100_000) . '"},"created_at"') > 0,
        'large JSON value complete';
    my ($r2, $d) = (Apache::TestRequest::GET('/api/hydro-sites/?page_size=200'));
    is $r2->code, 200, 'list including it → 200';
    my $decoded = EaTest::decode_json_body($r2);
    is ref $decoded eq 'HASH' ? $decoded->{count} : undef, 7, 'list including it is valid JSON with count 7';
}
