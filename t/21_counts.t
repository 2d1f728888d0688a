# Counts and aggregates against the database itself: list counts (pages of
# one object, so the count cannot come from the page), summary, timeseries
# and stats totals for many filter combinations, before and after updates,
# deletes (with SET NULL / CASCADE) and inserts.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json);

my @ISO = qw(BEN TGO NER GHA);
my @STATUS = qw(identified study construction operational);
my @TYPES = qw(solar wind hydro biomass other);

# (label, query string, SQL condition on s = core_hydrosite, c = its country, r = its region)
my @site_cases = (
    ['all', '', 'true'],
    (map { ["country $_", "country__iso3=$_", "c.iso3 = '$_'"] } @ISO),
    (map { ["status $_", "status=$_", "s.status = '$_'"] } @STATUS),
    (map { ["dataset $_", "dataset=$_", "s.dataset_id = $_"] } 1 .. 2),   # D3 is deleted below
    (map { ["region R$_", "region__name=R$_", "r.name = 'R$_'"] } 1 .. 3),
    ['BEN + study', 'country__iso3=BEN&status=study', "c.iso3 = 'BEN' AND s.status = 'study'"],
    ['TGO + dataset 2', 'country__iso3=TGO&dataset=2', "c.iso3 = 'TGO' AND s.dataset_id = 2"],
    ['R2 + operational + dataset 1', 'region__name=R2&status=operational&dataset=1',
        "r.name = 'R2' AND s.status = 'operational' AND s.dataset_id = 1"],
    ['search 7', 'search=7', "(s.name ILIKE '%7%' OR s.notes ILIKE '%7%' OR s.properties::text ILIKE '%7%')"],
    ['search 1 + status identified', 'search=1&status=identified',
        "(s.name ILIKE '%1%' OR s.notes ILIKE '%1%' OR s.properties::text ILIKE '%1%') AND s.status = 'identified'"],
);
my @metric_cases = (
    ['all', '', 'true'],
    (map { ["type $_", "resource_type=$_", "m.resource_type = '$_'"] } @TYPES),
    (map { ["country $_", "country__iso3=$_", "c.iso3 = '$_'"] } @ISO),
    (map { ["year $_", "year=$_", "m.year = $_"] } 2020, 2021, 2022),
    ['BEN + solar', 'country__iso3=BEN&resource_type=solar', "c.iso3 = 'BEN' AND m.resource_type = 'solar'"],
    ['wind + 2021', 'resource_type=wind&year=2021', "m.resource_type = 'wind' AND m.year = 2021"],
    ['search m1', 'search=m1', "m.metric ILIKE '%m1%'"],
);

plan tests => 3 * (2 * @site_cases + 2 * @metric_cases + 2);

reset_db();
my $dbh = db();
$dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES
    ('Benin', 'BJ', 'BEN', now(), now()), ('Togo', 'TG', 'TGO', now(), now()),
    ('Niger', 'NE', 'NER', now(), now()), ('Ghana', 'GH', 'GHA', now(), now())});
$dbh->do(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at)
           SELECT c, 'R' || r, '', now(), now() FROM generate_series(1, 3) c, generate_series(1, 3) r});
$dbh->do(q{INSERT INTO core_energydataset (name, dataset_type, source, description, file_name, file_checksum, metadata, created_at, updated_at)
           SELECT 'D' || i, 'phes', '', '', '', '', '{}', now(), now() FROM generate_series(1, 3) i});
# 300 sites: country, region (of that country, or null), dataset (or null), status, decimals, some nulls
$dbh->do(q{INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties,
                                       storage_capacity_mwh, turbine_capacity_mw, created_at, updated_at)
    SELECT 'S' || i, 1 + i % 4,
           CASE WHEN i % 4 = 3 OR i % 5 = 0 THEN NULL ELSE (i % 4) * 3 + 1 + i % 3 END,
           CASE WHEN i % 7 = 0 THEN NULL ELSE 1 + i % 3 END,
           (ARRAY['identified', 'study', 'construction', 'operational'])[1 + (i / 3) % 4],
           CASE WHEN i % 11 = 0 THEN 'n' || i ELSE '' END,
           (CASE WHEN i % 13 = 0 THEN '{"k": ' || i || '}' ELSE '{}' END)::jsonb,
           CASE WHEN i % 6 = 0 THEN NULL ELSE (i % 97) + 0.25 END,
           CASE WHEN i % 4 = 0 THEN NULL ELSE (i % 13) + 0.1 END,
           now(), now()
    FROM generate_series(1, 300) i});
# 400 metrics
$dbh->do(q{INSERT INTO core_resourcemetric (dataset_id, country_id, region_id, resource_type, metric, value, unit, year, created_at, updated_at)
    SELECT 1 + i % 3, 1 + i % 4, NULL, (ARRAY['solar', 'wind', 'hydro', 'biomass', 'other'])[1 + i % 5],
           'm' || i, (i % 50) + 0.0125, 'u', CASE WHEN i % 9 = 0 THEN NULL ELSE 2020 + i % 3 END,
           now() + i * interval '1 millisecond', now()
    FROM generate_series(1, 400) i});

sub api_count {
    my ($path) = @_;
    my ($res, $d) = get_json($path);
    return $res->code == 200 && ref $d eq 'HASH' ? $d->{count} : 'HTTP ' . $res->code;
}
sub float_eq { my ($a, $b) = @_; return defined $a && defined $b && abs($a - $b) < 1e-6 }

sub check_all {
    my ($phase) = @_;
    for my $case (@site_cases) {
        my ($label, $qs, $cond) = @$case;
        my ($n, $storage, $turbine) = $dbh->selectrow_array(
            "SELECT count(*), coalesce(sum(s.storage_capacity_mwh), 0), coalesce(sum(s.turbine_capacity_mw), 0)
               FROM core_hydrosite s JOIN core_country c ON c.id = s.country_id
               LEFT JOIN core_region r ON r.id = s.region_id WHERE $cond");
        is api_count("/api/hydro-sites/?page_size=1&$qs"), $n, "$phase: hydro-sites count, $label";
        my ($res, $d) = get_json("/api/hydro-sites/summary/?$qs");
        ok $res->code == 200 && ref $d eq 'HASH' && $d->{total_sites} == $n
            && float_eq($d->{total_storage_mwh}, $storage) && float_eq($d->{total_capacity_mw}, $turbine),
            "$phase: summary totals, $label" or diag "expected $n/$storage/$turbine, got " . $res->content;
    }
    for my $case (@metric_cases) {
        my ($label, $qs, $cond) = @$case;
        my ($n) = $dbh->selectrow_array(
            "SELECT count(*) FROM core_resourcemetric m JOIN core_country c ON c.id = m.country_id WHERE $cond");
        is api_count("/api/resource-metrics/?page_size=1&$qs"), $n, "$phase: metrics count, $label";
        my $rows = $dbh->selectall_arrayref(
            "SELECT m.year, sum(m.value), count(*) FROM core_resourcemetric m JOIN core_country c ON c.id = m.country_id
              WHERE $cond AND m.year IS NOT NULL GROUP BY m.year ORDER BY m.year");
        my ($res, $d) = get_json("/api/resource-metrics/timeseries/?$qs");
        my $got = ref $d eq 'HASH' ? $d->{results} : [];
        ok $res->code == 200 && @$got == @$rows && !grep({
                $got->[$_]{year} != $rows->[$_][0] || !float_eq($got->[$_]{total_value}, $rows->[$_][1])
                || $got->[$_]{data_points} != $rows->[$_][2] } 0 .. $#$rows),
            "$phase: timeseries, $label" or diag $res->content;
    }
    my $types = $dbh->selectall_arrayref(
        'SELECT resource_type, sum(value), count(*) FROM core_resourcemetric GROUP BY 1 ORDER BY 1');
    my ($res, $d) = get_json('/api/stats/');
    my $got = ref $d eq 'HASH' ? $d->{resources} : [];
    ok @$got == @$types && !grep({ $got->[$_]{resource_type} ne $types->[$_][0]
            || !float_eq($got->[$_]{total}, $types->[$_][1]) || $got->[$_]{metrics} != $types->[$_][2] } 0 .. $#$types),
        "$phase: stats resources" or diag $res->content;
    my $top = $dbh->selectcol_arrayref(
        'SELECT count(s.id) FROM core_country c LEFT JOIN core_hydrosite s ON s.country_id = c.id
          GROUP BY c.id ORDER BY 1 DESC LIMIT 5');
    is join(',', map { $_->{site_count} } @{ ref $d eq 'HASH' ? $d->{countries} : [] }), join(',', @$top),
        "$phase: stats site counts";
}

check_all('initial');

# updates, deletes with SET NULL / CASCADE, inserts
$dbh->do(q{UPDATE core_hydrosite SET status = 'operational' WHERE id % 5 = 1});
$dbh->do(q{UPDATE core_hydrosite SET storage_capacity_mwh = storage_capacity_mwh * 2 WHERE id % 3 = 0});
$dbh->do(q{UPDATE core_hydrosite SET country_id = 2, region_id = NULL WHERE id % 17 = 0});
$dbh->do(q{DELETE FROM core_hydrosite WHERE id % 8 = 0});
$dbh->do(q{DELETE FROM core_region WHERE name = 'R2' AND country_id = 1});         # sites: region → NULL
$dbh->do(q{DELETE FROM core_energydataset WHERE name = 'D3'});                      # sites: dataset → NULL; metrics cascade
$dbh->do(q{UPDATE core_resourcemetric SET year = NULL WHERE id % 10 = 0});
$dbh->do(q{UPDATE core_resourcemetric SET resource_type = 'wind', value = value + 1 WHERE id % 10 = 1});
$dbh->do(q{UPDATE core_country SET iso3 = 'GHA' || '' WHERE iso3 = 'GHA'});
$dbh->do(q{INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties,
                                       storage_capacity_mwh, created_at, updated_at)
           SELECT 'X' || i, 4, NULL, 1, 'study', '', '{}', 1.5, now(), now() FROM generate_series(1, 25) i});
check_all('after changes');

# one transaction mixing everything, then a country with sites moved away
$dbh->begin_work;
$dbh->do(q{UPDATE core_hydrosite SET status = 'construction', dataset_id = 2 WHERE status = 'study'});
$dbh->do(q{DELETE FROM core_resourcemetric WHERE resource_type = 'other'});
$dbh->do(q{INSERT INTO core_resourcemetric (dataset_id, country_id, resource_type, metric, value, unit, year, created_at, updated_at)
           SELECT 1, 3, 'biomass', 'z' || i, 0.5, 'u', 2022, now(), now() FROM generate_series(1, 30) i});
$dbh->commit;
check_all('after a transaction');
