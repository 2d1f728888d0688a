# stats/ and stats/by_country/ (docs/decisions.md §2.7): top 5 countries by site
# count including countries without sites, resources by type with float
# totals, dataset_count; by_country with its 400/404 messages and
# case-insensitive iso3.  No filters, no pagination.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json country dataset site metric raw_decoded);

plan tests => 38;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

my $NOISO = '400 {"detail":"Paramètre iso3 requis."}';
my $NOCTRY = '404 {"detail":"Pays introuvable."}';

# ---- empty database ------------------------------------------------------------------
reset_db();
is raw_decoded('/api/stats/'), '200 {"countries":[],"resources":[],"dataset_count":0}', 'stats of an empty database';
is raw_decoded('/api/stats/by_country/'), $NOISO, 'by_country without iso3 → 400';
is raw_decoded('/api/stats/by_country/?iso3='), $NOISO, 'by_country with empty iso3 → 400';
is raw_decoded('/api/stats/by_country/?iso3=BEN'), $NOCTRY, 'by_country of an unknown country → 404';

# ---- four countries: a deterministic top list -------------------------------------------
my %c;
for (['BEN', 'BJ', 'Benin'], ['TGO', 'TG', 'Togo'], ['NER', 'NE', 'Niger'], ['GHA', 'GH', 'Ghana']) {
    $c{ $_->[0] } = country(name => $_->[2], iso2 => $_->[1], iso3 => $_->[0]);
}
my $d1 = dataset(name => 'R1', dataset_type => 'resource');
my $d2 = dataset(name => 'R2', dataset_type => 'phes');
site(name => "BEN$_", country_id => $c{BEN}, storage_capacity_mwh => '12.25', turbine_capacity_mw => ($_ == 1 ? '0.1' : '0.2')) for 1 .. 3;
site(name => "TGO$_", country_id => $c{TGO}) for 1 .. 2;
site(name => 'NER1', country_id => $c{NER}, storage_capacity_mwh => 0);
metric(dataset_id => $d1, country_id => $c{BEN}, resource_type => 'solar', metric => 'potential', unit => 'u', value => '123.4', year => 2023);
metric(dataset_id => $d1, country_id => $c{BEN}, resource_type => 'solar', metric => 'potential', unit => 'u', value => '223.4', year => 2024);
metric(dataset_id => $d1, country_id => $c{TGO}, resource_type => 'wind', metric => 'w', unit => 'u', value => 1000000, year => 2024);
metric(dataset_id => $d1, country_id => $c{BEN}, resource_type => 'hydro', metric => 'a', unit => 'u', value => '0.1', year => undef);
metric(dataset_id => $d1, country_id => $c{NER}, resource_type => 'hydro', metric => 'b', unit => 'u', value => '0.2', year => 1);
metric(dataset_id => $d2, country_id => $c{BEN}, resource_type => 'biomass', metric => 'c', unit => 'u', value => 0, year => 2);

my $STATS = '200 {"countries":[{"iso3":"BEN","name":"Benin","site_count":3},{"iso3":"TGO","name":"Togo","site_count":2},'
    . '{"iso3":"NER","name":"Niger","site_count":1},{"iso3":"GHA","name":"Ghana","site_count":0}],'
    . '"resources":[{"resource_type":"biomass","total":0.0,"metrics":1},{"resource_type":"hydro","total":0.3,"metrics":2},'
    . '{"resource_type":"solar","total":346.8,"metrics":2},{"resource_type":"wind","total":1000000.0,"metrics":1}],'
    . '"dataset_count":2}';
is raw_decoded('/api/stats/'), $STATS, 'stats: exact body; country without sites included; resources by type';
is raw_decoded('/api/stats/?country__iso3=TGO&resource_type=solar&search=x'), $STATS, 'stats ignores filters and search';
is raw_decoded('/api/stats/?page=3&page_size=1&ordering=name'), $STATS, 'stats is not paginated or ordered';
is raw_decoded('/small/api/stats/'), $STATS, 'same under /small/api';
{
    my $res = Apache::TestRequest::GET('/api/stats/');
    is scalar $res->header('Content-Type'), 'application/json', 'stats: application/json';
}
is raw_decoded('/api/stats/by_country/?iso3=BEN'),
    '200 {"country":"Benin","site_summary":{"total_sites":3,"total_storage_mwh":36.75,"total_capacity_mw":0.5},'
  . '"resource_summary":[{"resource_type":"biomass","total":0.0,"metrics":1},{"resource_type":"hydro","total":0.1,"metrics":1},'
  . '{"resource_type":"solar","total":346.8,"metrics":2}]}', 'by_country BEN: exact body';
is raw_decoded('/api/stats/by_country/?iso3=GHA'),
    '200 {"country":"Ghana","site_summary":{"total_sites":0,"total_storage_mwh":0.0,"total_capacity_mw":0.0},"resource_summary":[]}',
    'by_country of a country without sites or metrics';
is raw_decoded('/api/stats/by_country/?iso3=TGO'),
    '200 {"country":"Togo","site_summary":{"total_sites":2,"total_storage_mwh":0.0,"total_capacity_mw":0.0},'
  . '"resource_summary":[{"resource_type":"wind","total":1000000.0,"metrics":1}]}', 'by_country TGO: null storage → 0.0';

# ---- by_country parameters ------------------------------------------------------------
is raw_decoded('/api/stats/by_country/?iso3=ben'), raw_decoded('/api/stats/by_country/?iso3=BEN'), 'iso3 is case-insensitive (ben)';
is raw_decoded('/api/stats/by_country/?iso3=bEn'), raw_decoded('/api/stats/by_country/?iso3=BEN'), 'iso3 is case-insensitive (bEn)';
is raw_decoded('/api/stats/by_country/?iso3=XXX'), $NOCTRY, 'unknown iso3 → 404 Pays introuvable.';
is raw_decoded('/api/stats/by_country/?iso3=BE'), $NOCTRY, 'iso3 is exact, not a prefix';
is raw_decoded('/api/stats/by_country/?iso3=%25'), $NOCTRY, 'iso3=% is no wildcard';
is raw_decoded('/api/stats/by_country/?iso3=B_N'), $NOCTRY, 'iso3=B_N is no wildcard';
is raw_decoded('/api/stats/by_country/?country__iso3=BEN'), $NOISO, 'country__iso3 is not iso3 → 400';
is raw_decoded('/api/stats/by_country/?iso3=BEN&country__iso3=TGO&resource_type=wind'),
    raw_decoded('/api/stats/by_country/?iso3=BEN'), 'filters ignored by by_country';
is raw_decoded('/api/stats/by_country/?iso3=NER'),
    '200 {"country":"Niger","site_summary":{"total_sites":1,"total_storage_mwh":0.0,"total_capacity_mw":0.0},'
  . '"resource_summary":[{"resource_type":"hydro","total":0.2,"metrics":1}]}', 'by_country NER';
{
    my $res = Apache::TestRequest::GET('/api/stats/by_country/?iso3=XXX');
    is scalar $res->header('Content-Type'), 'application/json', '404 Pays introuvable. is application/json';
}

# ---- seven countries: top 5 includes countries with 0 sites --------------------------
$c{CIV} = country(name => 'Côte d’Ivoire', iso2 => 'CI', iso3 => 'CIV');
$c{SEN} = country(name => 'Senegal', iso2 => 'SN', iso3 => 'SEN');
$c{MLI} = country(name => 'Mali', iso2 => 'ML', iso3 => 'MLI');
{
    my ($res, $d) = get_json('/api/stats/');
    my @top = @{ $d->{countries} // [] };
    is scalar @top, 5, 'at most 5 countries';
    is join(',', map { "$_->{iso3}:$_->{site_count}" } @top[0 .. 2]), 'BEN:3,TGO:2,NER:1', 'top 3 by site count';
    is join(',', map { $_->{site_count} } @top[3, 4]), '0,0', 'then two countries without sites';
    my %zero = map { $_ => 1 } qw(GHA CIV SEN MLI);
    ok(($zero{ $top[3]{iso3} // '' } && $zero{ $top[4]{iso3} // '' } && $top[3]{iso3} ne $top[4]{iso3}),
        'the zero-site entries are distinct countries without sites');
    is join(',', map { join '|', sort keys %$_ } @top), join(',', ('iso3|name|site_count') x 5), 'entry keys';
    like $res->content, qr/^\{"countries":\[\{"iso3":"BEN","name":"Benin","site_count":3\},/, 'key order iso3, name, site_count';
}
site(name => "CIV$_", country_id => $c{CIV}) for 1 .. 4;
site(name => "SEN$_", country_id => $c{SEN}) for 1 .. 5;
{
    my ($res, $d) = get_json('/api/stats/');
    is join(',', map { "$_->{iso3}:$_->{site_count}" } @{ $d->{countries} // [] }),
        'SEN:5,CIV:4,BEN:3,TGO:2,NER:1', 'top 5 follows new sites';
    is raw_decoded('/api/stats/by_country/?iso3=civ') =~ /"site_summary":\{"total_sites":(\d+)/ ? $1 : '', 4, 'by_country civ';
}

# ---- dataset_count and resources follow changes ----------------------------------------
dataset(name => 'R3', dataset_type => 'climate');
like raw_decoded('/api/stats/'), qr/"dataset_count":3\}$/, 'dataset_count counts every dataset';
db()->do('DELETE FROM core_energydataset WHERE id = ?', undef, $d2);
like raw_decoded('/api/stats/'), qr/"dataset_count":2\}$/, 'after deleting one (its metrics cascade)';
like raw_decoded('/api/stats/'), qr/"resources":\[\{"resource_type":"hydro","total":0.3,"metrics":2\},/, 'biomass gone with its dataset';
db()->do(q{UPDATE core_resourcemetric SET value = 0.07 WHERE resource_type = 'hydro'});
like raw_decoded('/api/stats/'), qr/\{"resource_type":"hydro","total":0.14,"metrics":2\}/, '0.07 + 0.07 = 0.14 (decimal sum)';
db()->do(q{UPDATE core_resourcemetric SET value = 99999999.9999 WHERE resource_type = 'wind'});
like raw_decoded('/api/stats/'), qr/\{"resource_type":"wind","total":99999999.9999,"metrics":1\}/, 'large total';
db()->do('DELETE FROM core_resourcemetric');
like raw_decoded('/api/stats/'), qr/"resources":\[\],"dataset_count":2\}$/, 'no metrics → resources []';
db()->do('DELETE FROM core_hydrosite');
{
    my ($res, $d) = get_json('/api/stats/');
    is join(',', map { $_->{site_count} } @{ $d->{countries} // [] }), '0,0,0,0,0', 'no sites: 5 countries with 0';
}
is raw_decoded('/api/stats/by_country/?iso3=SEN'),
    '200 {"country":"Senegal","site_summary":{"total_sites":0,"total_storage_mwh":0.0,"total_capacity_mw":0.0},"resource_summary":[]}',
    'by_country after deleting everything';
