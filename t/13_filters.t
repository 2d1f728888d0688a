# django-filter (docs/decisions.md §2.5): every filterset field of every list,
# exact and case-sensitive, empty value = no filter, AND-ed, invalid values →
# 400 with Django's messages (keys in filterset order), filters on detail URLs.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json country region dataset site metric climate raw);

plan tests => 111;

# ids of a list (in order), or "HTTP <code> <body>"
sub ids {
    my ($path) = @_;
    my ($res, $d) = get_json($path);
    return 'HTTP ' . $res->code . ' ' . $res->content unless $res->code == 200 && ref $d eq 'HASH';
    return 'count mismatch' if $d->{count} != @{ $d->{results} };
    return join ',', map { $_->{id} } @{ $d->{results} };
}

reset_db();
my $ben = country(name => 'Benin', iso2 => 'BJ', iso3 => 'BEN');
my $tgo = country(name => 'Togo', iso2 => 'TG', iso3 => 'TGO');
my $ner = country(name => 'Niger', iso2 => 'NE', iso3 => 'NER');

my $atl = region(country_id => $ben, name => 'Atlantique', level => 'department');
my $bor = region(country_id => $ben, name => 'Borgou', level => 'department');
my $mar = region(country_id => $tgo, name => 'Maritime', level => 'region');
my $lit = region(country_id => $ben, name => 'Littoral', level => '');
my $atl2 = region(country_id => $tgo, name => 'Atlantique', level => 'Department');

my $phes = dataset(name => 'PHES', dataset_type => 'phes');
my $res  = dataset(name => 'Res', dataset_type => 'resource');
my $clim = dataset(name => 'Clim', dataset_type => 'climate');
my $phes2 = dataset(name => 'PHES 2', dataset_type => 'phes');

my $alpha   = site(name => 'Alpha',   country_id => $ben, region_id => $atl, dataset_id => $phes, status => 'identified');
my $bravo   = site(name => 'Bravo',   country_id => $ben, region_id => $bor, dataset_id => $phes2, status => 'study');
my $charlie = site(name => 'Charlie', country_id => $tgo, region_id => $mar, dataset_id => $phes, status => 'operational');
my $delta   = site(name => 'Delta',   country_id => $tgo, status => 'identified');
my $echo    = site(name => 'Echo',    country_id => $ner, dataset_id => $phes2, status => 'construction');
my $fox     = site(name => 'Foxtrot', country_id => $tgo, region_id => $atl2, dataset_id => $phes, status => 'study');

# metrics: created_at increasing with id, so the default -created_at is id descending
my @m;
push @m, metric(dataset_id => $res, country_id => $ben, resource_type => 'solar', year => 2023, created_at => '2025-01-01 00:00:01+00');
push @m, metric(dataset_id => $res, country_id => $ben, resource_type => 'wind',  year => 2024, created_at => '2025-01-01 00:00:02+00');
push @m, metric(dataset_id => $res, country_id => $tgo, resource_type => 'solar', year => 2023, created_at => '2025-01-01 00:00:03+00');
push @m, metric(dataset_id => $res, country_id => $ner, resource_type => 'hydro', year => undef, created_at => '2025-01-01 00:00:04+00');
push @m, metric(dataset_id => $res, country_id => $ben, resource_type => 'solar', year => 2024, metric => 'other', created_at => '2025-01-01 00:00:05+00');
push @m, metric(dataset_id => $res, country_id => $tgo, resource_type => 'biomass', year => 0, created_at => '2025-01-01 00:00:06+00');

my @c;
push @c, climate(dataset_id => $clim, country_id => $ben, variable => 'rainfall', created_at => '2025-02-01 00:00:01+00');
push @c, climate(dataset_id => $clim, country_id => $ben, variable => 'temperature', site_id => $alpha, created_at => '2025-02-01 00:00:02+00');
push @c, climate(dataset_id => $clim, country_id => $tgo, variable => 'rainfall', site_id => $charlie, created_at => '2025-02-01 00:00:03+00');
push @c, climate(dataset_id => $clim, country_id => $ben, variable => 'rainfall', site_id => $alpha, created_at => '2025-02-01 00:00:04+00');

my $CHOICE = 'Select a valid choice. That choice is not one of the available choices.';

# ---- countries: iso2, iso3 ----------------------------------------------------
is ids('/api/countries/'), "$ben,$ner,$tgo", 'countries: no filter, by name';
is ids('/api/countries/?iso2=BJ'), "$ben", 'iso2=BJ';
is ids('/api/countries/?iso3=TGO'), "$tgo", 'iso3=TGO';
is ids('/api/countries/?iso3=tgo'), '', 'iso3 is case-sensitive';
is ids('/api/countries/?iso3=TG'), '', 'iso3 is exact, not a prefix';
is ids('/api/countries/?iso3='), "$ben,$ner,$tgo", 'iso3= (empty) → no filter';
is ids('/api/countries/?iso2=BJ&iso3=TGO'), '', 'filters are AND-ed';
is ids('/api/countries/?iso2=BJ&iso3=BEN'), "$ben", 'two matching filters';
is ids('/api/countries/?name=Benin&population=5&id=2'), "$ben,$ner,$tgo", 'non-filter parameters are ignored';
is ids('/api/countries/?iso3=XXX'), '', 'iso3=XXX → empty list, not an error';
is ids('/api/countries/?iso3=%FF'), '', 'iso3 with invalid UTF-8 → empty list, not an error';

# ---- regions: country__iso3, level ---------------------------------------------
is ids('/api/regions/'), "$atl,$bor,$lit,$atl2,$mar", 'regions: by country name, name';
is ids('/api/regions/?country__iso3=BEN'), "$atl,$bor,$lit", 'country__iso3=BEN';
is ids('/api/regions/?country__iso3=ben'), '', 'country__iso3 is case-sensitive';
is ids('/api/regions/?level=department'), "$atl,$bor", 'level=department (exact, case-sensitive)';
is ids('/api/regions/?level=Department'), "$atl2", 'level=Department';
is ids('/api/regions/?level='), "$atl,$bor,$lit,$atl2,$mar", 'level= → no filter';
is ids('/api/regions/?country__iso3=TGO&level=region'), "$mar", 'country__iso3 AND level';

# ---- datasets: dataset_type (choice) ---------------------------------------------
is ids('/api/datasets/?dataset_type=phes'), "$phes,$phes2", 'dataset_type=phes';
is ids('/api/datasets/?dataset_type=climate'), "$clim", 'dataset_type=climate';
is raw('/api/datasets/?dataset_type=foo'),
    '400 {"dataset_type":["Select a valid choice. foo is not one of the available choices."]}', 'dataset_type=foo → 400';
is raw('/api/datasets/?dataset_type=PHES'),
    '400 {"dataset_type":["Select a valid choice. PHES is not one of the available choices."]}', 'choices are case-sensitive';
is ids('/api/datasets/?dataset_type='), "$clim,$phes,$phes2,$res", 'dataset_type= → no filter';
is raw('/api/datasets/?dataset_type=a%20%22b%22'),
    '400 {"dataset_type":["Select a valid choice. a \"b\" is not one of the available choices."]}',
    'invalid choice quoted into the message, JSON-escaped';

# ---- hydro sites: country__iso3, region__name, status (choice), dataset (FK) -----
is ids('/api/hydro-sites/'), "$alpha,$bravo,$charlie,$delta,$echo,$fox", 'hydro sites by name';
is ids('/api/hydro-sites/?country__iso3=TGO'), "$charlie,$delta,$fox", 'country__iso3=TGO';
is ids('/api/hydro-sites/?country__iso3=Tgo'), '', 'country__iso3 case-sensitive';
is ids('/api/hydro-sites/?region__name=Borgou'), "$bravo", 'region__name=Borgou';
is ids('/api/hydro-sites/?region__name=Atlantique'), "$alpha,$fox", 'region__name matches regions of any country';
is ids('/api/hydro-sites/?region__name=atlantique'), '', 'region__name case-sensitive';
is ids('/api/hydro-sites/?region__name=Atlant'), '', 'region__name exact';
is ids('/api/hydro-sites/?status=identified'), "$alpha,$delta", 'status=identified';
is ids('/api/hydro-sites/?status=study'), "$bravo,$fox", 'status=study';
is ids('/api/hydro-sites/?status=construction'), "$echo", 'status=construction';
is ids('/api/hydro-sites/?status=operational'), "$charlie", 'status=operational';
is raw('/api/hydro-sites/?status=foo'),
    '400 {"status":["Select a valid choice. foo is not one of the available choices."]}', 'status=foo → 400';
is raw('/api/hydro-sites/?status=Identified'),
    '400 {"status":["Select a valid choice. Identified is not one of the available choices."]}', 'status case-sensitive';
is ids("/api/hydro-sites/?dataset=$phes2"), "$bravo,$echo", 'dataset=<id>';
is ids("/api/hydro-sites/?dataset=$res"), '', 'dataset of an existing dataset without sites → empty';
is raw('/api/hydro-sites/?dataset=99'), qq<400 {"dataset":["$CHOICE"]}>, 'dataset=99 (no such dataset) → 400';
is raw('/api/hydro-sites/?dataset=abc'), qq<400 {"dataset":["$CHOICE"]}>, 'dataset=abc → 400';
is raw('/api/hydro-sites/?dataset=1.0'), qq<400 {"dataset":["$CHOICE"]}>, 'dataset=1.0 → 400';
is raw('/api/hydro-sites/?dataset=-1'), qq<400 {"dataset":["$CHOICE"]}>, 'dataset=-1 → 400';
is raw('/api/hydro-sites/?dataset=99999999999999999999'), qq<400 {"dataset":["$CHOICE"]}>, 'dataset beyond bigint → 400';
is ids('/api/hydro-sites/?dataset='), "$alpha,$bravo,$charlie,$delta,$echo,$fox", 'dataset= → no filter';
is ids("/api/hydro-sites/?country__iso3=BEN&status=study&dataset=$phes2&region__name=Borgou"), "$bravo", 'four filters AND-ed';
is ids("/api/hydro-sites/?country__iso3=BEN&status=operational"), '', 'AND of disjoint filters → empty';
is raw('/api/hydro-sites/?dataset=99&status=foo'),
    qq<400 {"status":["Select a valid choice. foo is not one of the available choices."],"dataset":["$CHOICE"]}>,
    'two invalid values: both reported, in filterset order (status before dataset)';
is raw('/api/hydro-sites/?status=foo&country__iso3=NOPE&dataset=x'),
    qq<400 {"status":["Select a valid choice. foo is not one of the available choices."],"dataset":["$CHOICE"]}>,
    'valid and invalid mixed: only the invalid reported';
{
    my $r = Apache::TestRequest::GET('/api/hydro-sites/?status=foo');
    is scalar $r->header('Content-Type'), 'application/json', '400 is application/json';
}

# ---- resource metrics: resource_type (choice), country__iso3, year (number) ------
my ($m1, $m2, $m3, $m4, $m5, $m6) = @m;
is ids('/api/resource-metrics/'), "$m6,$m5,$m4,$m3,$m2,$m1", 'metrics: -created_at';
is ids('/api/resource-metrics/?resource_type=solar'), "$m5,$m3,$m1", 'resource_type=solar';
is ids('/api/resource-metrics/?resource_type=biomass'), "$m6", 'resource_type=biomass';
is ids('/api/resource-metrics/?resource_type=other'), '', 'resource_type=other (valid, none)';
is raw('/api/resource-metrics/?resource_type=nuclear'),
    '400 {"resource_type":["Select a valid choice. nuclear is not one of the available choices."]}', 'resource_type=nuclear → 400';
is ids('/api/resource-metrics/?country__iso3=BEN'), "$m5,$m2,$m1", 'country__iso3=BEN';
is ids('/api/resource-metrics/?year=2023'), "$m3,$m1", 'year=2023';
is ids('/api/resource-metrics/?year=0'), "$m6", 'year=0';
is ids('/api/resource-metrics/?year=1999'), '', 'year=1999 → none';
is raw('/api/resource-metrics/?year=abc'), '400 {"year":["Enter a number."]}', 'year=abc → 400 Enter a number.';
# year is a django-filter NumberFilter: a forms.DecimalField
is ids('/api/resource-metrics/?year=2023.0'), "$m3,$m1", 'year=2023.0 is the number 2023';
is ids('/api/resource-metrics/?year=%202023%20'), "$m3,$m1", 'year with surrounding blanks';
is raw('/api/resource-metrics/?year=NaN'), '400 {"year":["Enter a number."]}', 'year=NaN → 400';
is raw('/api/resource-metrics/?year=Infinity'), '400 {"year":["Enter a number."]}', 'year=Infinity → 400';
is ids('/api/resource-metrics/?year=99999999999999999999'), '', 'year beyond the integer range → no match, no error';
is ids('/api/resource-metrics/?year='), "$m6,$m5,$m4,$m3,$m2,$m1", 'year= → no filter';
is ids('/api/resource-metrics/?resource_type=solar&country__iso3=BEN&year=2024'), "$m5", 'three filters AND-ed';
is raw('/api/resource-metrics/?year=x&resource_type=y'),
    '400 {"resource_type":["Select a valid choice. y is not one of the available choices."],"year":["Enter a number."]}',
    'two invalid values in filterset order';
is raw('/api/resource-metrics/?year=2023&resource_type=y&country__iso3=BEN'),
    '400 {"resource_type":["Select a valid choice. y is not one of the available choices."]}', 'one invalid among valid ones';

# ---- climate series: variable, country__iso3, site (FK) ---------------------------
my ($c1, $c2, $c3, $c4) = @c;
is ids('/api/climate-series/'), "$c4,$c3,$c2,$c1", 'climate series: -created_at';
is ids('/api/climate-series/?variable=rainfall'), "$c4,$c3,$c1", 'variable=rainfall';
is ids('/api/climate-series/?variable=Rainfall'), '', 'variable case-sensitive';
is ids('/api/climate-series/?country__iso3=TGO'), "$c3", 'country__iso3=TGO';
is ids("/api/climate-series/?site=$alpha"), "$c4,$c2", 'site=<id>';
is ids("/api/climate-series/?site=$delta"), '', 'site of an existing site without series → empty';
is raw('/api/climate-series/?site=99'), qq<400 {"site":["$CHOICE"]}>, 'site=99 → 400';
is raw('/api/climate-series/?site=abc&variable=zzz'), qq<400 {"site":["$CHOICE"]}>, 'site=abc → 400 (variable accepts anything)';
is ids("/api/climate-series/?variable=rainfall&site=$alpha&country__iso3=BEN"), "$c4", 'three filters AND-ed';

# ---- filters on detail URLs -------------------------------------------------------
is raw("/api/countries/$ben/?iso3=XXX"), '404 {"detail":"No Country matches the given query."}', 'detail + non-matching filter → 404';
like raw("/api/countries/$ben/?iso3=BEN"), qr/^200 \{"id":$ben,"name":"Benin"/, 'detail + matching filter → 200';
like raw("/api/countries/$ben/?iso3="), qr/^200 \{"id":$ben,/, 'detail + empty filter → 200';
is raw("/api/regions/$atl/?country__iso3=TGO"), '404 {"detail":"No Region matches the given query."}', 'region detail + filter → 404';
is raw("/api/datasets/$phes/?dataset_type=climate"), '404 {"detail":"No EnergyDataset matches the given query."}', 'dataset detail + filter → 404';
is raw("/api/datasets/$phes/?dataset_type=bad"),
    '400 {"dataset_type":["Select a valid choice. bad is not one of the available choices."]}', 'dataset detail + invalid filter → 400';
is raw("/api/hydro-sites/$alpha/?status=study"), '404 {"detail":"No HydroSite matches the given query."}', 'site detail + filter → 404';
like raw("/api/hydro-sites/$bravo/?status=study"), qr/^200 \{"id":$bravo,"name":"Bravo"/, 'site detail + matching filter → 200';
is raw("/api/hydro-sites/$alpha/?status=foo"),
    '400 {"status":["Select a valid choice. foo is not one of the available choices."]}', 'site detail + invalid filter → 400';
is raw("/api/hydro-sites/$alpha/?dataset=99"), qq<400 {"dataset":["$CHOICE"]}>, 'site detail + invalid FK filter → 400';
is raw("/api/resource-metrics/$m1/?year=2024"), '404 {"detail":"No ResourceMetric matches the given query."}', 'metric detail + filter → 404';
is raw("/api/resource-metrics/$m1/?year=y"), '400 {"year":["Enter a number."]}', 'metric detail + invalid year → 400';
is raw("/api/climate-series/$c1/?variable=temperature"), '404 {"detail":"No ClimateSeries matches the given query."}', 'climate detail + filter → 404';
is raw("/api/climate-series/$c1/?site=$alpha"), '404 {"detail":"No ClimateSeries matches the given query."}', 'climate detail + site filter → 404';

# ---- repeated parameters: the last value counts (Django's QueryDict.get())
is ids('/api/countries/?iso3=XXX&iso3=BEN'), "$ben", 'iso3=XXX&iso3=BEN → BEN';
is ids('/api/countries/?iso3=BEN&iso3=XXX'), '', 'iso3=BEN&iso3=XXX → XXX';
is raw('/api/hydro-sites/?status=foo&status=study') =~ s/^200 .*/200/sr, '200', 'status=foo&status=study → valid';
is ids('/api/countries/?search=zzz&search=togo'), "$tgo", 'search: the last value';
is ids('/api/countries/?ordering=name&ordering=-name'), "$tgo,$ner,$ben", 'ordering: the last value';
is raw('/api/stats/by_country/?iso3=XXX&iso3=TGO') =~ s/,.*//sr, '200 {"country":"Togo"', 'by_country iso3: the last value';

# ---- filters + /small/api + pagination count --------------------------------------
is ids('/small/api/hydro-sites/?status=identified'), "$alpha,$delta", 'filters under /small/api';
{
    my ($r, $d) = get_json('/api/hydro-sites/?country__iso3=TGO&page_size=2');
    is $d && $d->{count}, 3, 'count is the filtered count';
    is $d && $d->{next}, 'http://' . Apache::TestRequest::hostport() . '/api/hydro-sites/?country__iso3=TGO&page=2&page_size=2',
        'next keeps the filter';
}
# data changes are visible at once (no caching under /api)
db()->do('UPDATE core_hydrosite SET status = ? WHERE id = ?', undef, 'operational', $delta);
is ids('/api/hydro-sites/?status=operational'), "$charlie,$delta", 'filter sees an update immediately';
db()->do('UPDATE core_country SET iso3 = ? WHERE id = ?', undef, 'NIG', $ner);
is ids('/api/hydro-sites/?country__iso3=NIG'), "$echo", 'country__iso3 follows the related row';

# ---- a country's code or a region's name is looked up first -----------------------
# (docs/operations.md, section 4): where the cache is on, the ids it names are
# kept until the next change; a code that names nothing is an empty set, also
# with other parameters beside it.
is ids('/api/hydro-sites/?country__iso3=XXX&search=a'), '', 'unknown country + search → empty, not an error';
is raw('/api/resource-metrics/?year=99999999999999999999&search=a') =~ s/,.*//sr, '200 {"count":0',
    'a year no row can hold + search → empty, not an error';
is raw('/api/resource-metrics/timeseries/?year=99999999999999999999&country__iso3=BEN'), '200 {"results":[]}',
    'timeseries: a year no row can hold + country → empty results';
is ids('/api/hydro-sites/?region__name=Nowhere&status=study'), '', 'unknown region + status → empty';
{
    my $C = '/cached/api';
    my $settles = sub {
        my ($path, $want) = @_;
        for (1 .. 150) {
            my $got = ids("$path&t=" . rand());
            return $got if $got eq $want;
            select undef, undef, undef, 0.02;
        }
        return ids("$path&t=" . rand());
    };
    is $settles->("$C/hydro-sites/?country__iso3=NIG", "$echo"), "$echo", 'cached API: country__iso3=NIG';
    is ids("$C/hydro-sites/?country__iso3=NIG&again=1"), "$echo", 'cached API: again (the ids kept)';
    db()->do('UPDATE core_country SET iso3 = ? WHERE id = ?', undef, 'NGR', $ner);
    is $settles->("$C/hydro-sites/?country__iso3=NGR", "$echo"), "$echo", 'cached API: the new code finds its sites once the change is heard';
    is ids("$C/hydro-sites/?country__iso3=NIG&after=1"), '', 'cached API: and the old code finds none';
}
