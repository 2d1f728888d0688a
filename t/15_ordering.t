# OrderingFilter (docs/decisions.md §2.5): ?ordering=f1,-f2 with only the
# ordering_fields of each viewset; invalid names dropped; none valid → the
# default order of the viewset; a valid ordering replaces the default.
# PostgreSQL puts NULLs last ascending and first descending (no NULLS clause).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(reset_db country region dataset site metric climate col);

plan tests => 63;

reset_db();

# ---- countries: name, population, created_at; default name ----------------------
country(name => 'Benin',    iso2 => 'BJ', iso3 => 'BEN', population => 100,   created_at => '2025-01-01 00:00:00+00');
country(name => 'Chad',     iso2 => 'TD', iso3 => 'TCD', population => undef, created_at => '2025-01-02 00:00:00+00');
country(name => 'Angola',   iso2 => 'AO', iso3 => 'AGO', population => 300,   created_at => '2025-01-03 00:00:00+00');
country(name => 'Djibouti', iso2 => 'DJ', iso3 => 'DJI', population => 200,   created_at => '2025-01-04 00:00:00+00');
my $C = '/api/countries/?ordering=';
is col('/api/countries/', 'name'), 'Angola,Benin,Chad,Djibouti', 'default: name';
is col($C . 'name', 'name'), 'Angola,Benin,Chad,Djibouti', 'name';
is col($C . '-name', 'name'), 'Djibouti,Chad,Benin,Angola', '-name';
is col($C . 'population', 'name'), 'Benin,Djibouti,Angola,Chad', 'population (NULL last)';
is col($C . '-population', 'name'), 'Chad,Angola,Djibouti,Benin', '-population (NULL first)';
is col($C . 'created_at', 'name'), 'Benin,Chad,Angola,Djibouti', 'created_at';
is col($C . '-created_at', 'name'), 'Djibouti,Angola,Chad,Benin', '-created_at';
is col($C . 'foo', 'name'), 'Angola,Benin,Chad,Djibouti', 'unknown field ignored → default';
is col($C . 'id', 'name'), 'Angola,Benin,Chad,Djibouti', 'id is not an ordering field → default';
is col($C . '-iso3', 'name'), 'Angola,Benin,Chad,Djibouti', 'iso3 is not an ordering field → default';
is col($C . 'foo,-population', 'name'), 'Chad,Angola,Djibouti,Benin', 'invalid dropped, valid kept';
is col($C . '-foo,population,bar', 'name'), 'Benin,Djibouti,Angola,Chad', 'valid between invalid ones';
is col($C, 'name'), 'Angola,Benin,Chad,Djibouti', 'empty ordering → default';
is col($C . '%20-name,%20population', 'name'), 'Djibouti,Chad,Benin,Angola', 'blanks around field names are stripped';
is col($C . 'Name', 'name'), 'Angola,Benin,Chad,Djibouti', 'field names are case-sensitive';
is col($C . '--name', 'name'), 'Angola,Benin,Chad,Djibouti', '--name is not valid → default';
is col($C . 'region_count', 'name'), 'Angola,Benin,Chad,Djibouti', 'annotation not orderable → default';

# ---- regions: name, country__name; default country__name, name -------------------
reset_db();
my $ben = country(name => 'Benin', iso2 => 'BJ', iso3 => 'BEN');
my $ago = country(name => 'Angola', iso2 => 'AO', iso3 => 'AGO');
region(country_id => $ben, name => 'Zou');
region(country_id => $ben, name => 'Alibori');
region(country_id => $ago, name => 'Zaire');
region(country_id => $ago, name => 'Bengo');
my $R = '/api/regions/?ordering=';
is col('/api/regions/', 'name'), 'Bengo,Zaire,Alibori,Zou', 'default: country name, name';
is col($R . 'name', 'name'), 'Alibori,Bengo,Zaire,Zou', 'name';
is col($R . '-name', 'name'), 'Zou,Zaire,Bengo,Alibori', '-name';
is col($R . '-country__name,name', 'name'), 'Alibori,Zou,Bengo,Zaire', '-country__name,name';
is col($R . 'country__name,-name', 'name'), 'Zaire,Bengo,Zou,Alibori', 'country__name,-name';
is col($R . '-country__name', 'country_name'), 'Benin,Benin,Angola,Angola', '-country__name alone: countries in order';
is col($R . 'level,name', 'name'), 'Alibori,Bengo,Zaire,Zou', 'level is not orderable: dropped, name kept';
is col($R . 'country', 'name'), 'Bengo,Zaire,Alibori,Zou', 'country (the FK) is not orderable → default';

# ---- datasets: name, created_at; default name --------------------------------------
dataset(name => 'Beta',  created_at => '2025-01-01 00:00:00+00');
dataset(name => 'Alpha', created_at => '2025-01-03 00:00:00+00');
dataset(name => 'Gamma', created_at => '2025-01-02 00:00:00+00');
my $D = '/api/datasets/?ordering=';
is col('/api/datasets/', 'name'), 'Alpha,Beta,Gamma', 'default: name';
is col($D . '-name', 'name'), 'Gamma,Beta,Alpha', '-name';
is col($D . 'created_at', 'name'), 'Beta,Gamma,Alpha', 'created_at';
is col($D . '-created_at', 'name'), 'Alpha,Gamma,Beta', '-created_at';
is col($D . 'dataset_type', 'name'), 'Alpha,Beta,Gamma', 'dataset_type not orderable → default';
is col($D . 'source,-created_at', 'name'), 'Alpha,Gamma,Beta', 'invalid then valid';

# ---- hydro sites: name, head_m, storage_capacity_mwh, turbine_capacity_mw; default name
# 'Bravo' is in Angola: the default is by name only, not by country name first.
site(name => 'Charlie', country_id => $ben, head_m => 50,    storage_capacity_mwh => 10,   turbine_capacity_mw => undef);
site(name => 'Alpha',   country_id => $ben, head_m => 200,   storage_capacity_mwh => undef, turbine_capacity_mw => 5);
site(name => 'Bravo',   country_id => $ago, head_m => undef, storage_capacity_mwh => 30,   turbine_capacity_mw => 1);
site(name => 'Delta',   country_id => $ago, head_m => 9.5,   storage_capacity_mwh => 20,   turbine_capacity_mw => 100);
my $H = '/api/hydro-sites/?ordering=';
is col('/api/hydro-sites/', 'name'), 'Alpha,Bravo,Charlie,Delta', 'default: name (not country)';
is col($H . 'name', 'name'), 'Alpha,Bravo,Charlie,Delta', 'name';
is col($H . '-name', 'name'), 'Delta,Charlie,Bravo,Alpha', '-name';
is col($H . 'head_m', 'name'), 'Delta,Charlie,Alpha,Bravo', 'head_m (numeric, NULL last)';
is col($H . '-head_m', 'name'), 'Bravo,Alpha,Charlie,Delta', '-head_m (NULL first)';
is col($H . 'head_m', 'head_m'), '9.50,50.00,200.00,null', 'head_m values';
is col($H . 'storage_capacity_mwh', 'name'), 'Charlie,Delta,Bravo,Alpha', 'storage_capacity_mwh';
is col($H . '-storage_capacity_mwh', 'name'), 'Alpha,Bravo,Delta,Charlie', '-storage_capacity_mwh';
is col($H . 'turbine_capacity_mw', 'name'), 'Bravo,Alpha,Delta,Charlie', 'turbine_capacity_mw';
is col($H . '-turbine_capacity_mw', 'name'), 'Charlie,Delta,Alpha,Bravo', '-turbine_capacity_mw';
is col($H . 'country__name', 'name'), 'Alpha,Bravo,Charlie,Delta', 'country__name not orderable here → default';
is col($H . 'status,-head_m', 'name'), 'Bravo,Alpha,Charlie,Delta', 'invalid dropped';
is col($H . 'latitude', 'name'), 'Alpha,Bravo,Charlie,Delta', 'latitude not orderable → default';
site(name => 'Echo', country_id => $ben, head_m => 50, storage_capacity_mwh => 1);
is col($H . 'head_m,-storage_capacity_mwh', 'name'), 'Delta,Charlie,Echo,Alpha,Bravo', 'two keys: tie on head_m broken by storage';
is col($H . 'head_m,storage_capacity_mwh', 'name'), 'Delta,Echo,Charlie,Alpha,Bravo', 'two keys ascending';

# ---- resource metrics: value, year; default -created_at ------------------------------
my ($ds) = dataset(name => 'M', created_at => '2025-01-01 00:00:00+00');
metric(dataset_id => $ds, country_id => $ben, metric => 'a', unit => 'u', value => 10,      year => 2020, created_at => '2025-03-01 00:00:00+00');
metric(dataset_id => $ds, country_id => $ben, metric => 'b', unit => 'u', value => 2.5,     year => undef, created_at => '2025-03-03 00:00:00+00');
metric(dataset_id => $ds, country_id => $ben, metric => 'c', unit => 'u', value => 100,     year => 2010, created_at => '2025-03-02 00:00:00+00');
metric(dataset_id => $ds, country_id => $ago, metric => 'd', unit => 'u', value => 0.0001,  year => 2030, created_at => '2025-03-04 00:00:00+00');
my $M = '/api/resource-metrics/?ordering=';
is col('/api/resource-metrics/', 'metric'), 'd,b,c,a', 'default: -created_at';
is col($M . 'value', 'metric'), 'd,b,a,c', 'value (numeric, not text)';
is col($M . '-value', 'metric'), 'c,a,b,d', '-value';
is col($M . 'year', 'metric'), 'c,a,d,b', 'year (NULL last)';
is col($M . '-year', 'metric'), 'b,d,a,c', '-year (NULL first)';
is col($M . 'created_at', 'metric'), 'd,b,c,a', 'created_at not orderable for metrics → default';
is col($M . 'metric', 'metric'), 'd,b,c,a', 'metric not orderable → default';
is col($M . 'nope,-value', 'metric'), 'c,a,b,d', 'invalid dropped';
is col($M . 'value', 'value'), '0.0001,2.5000,10.0000,100.0000', 'value strings in order';
is col($M . '-year&resource_type=solar', 'metric'), 'b,d,a,c', 'ordering with a filter';

# ---- climate series: created_at; default -created_at --------------------------------
climate(dataset_id => $ds, country_id => $ben, variable => 'v1', created_at => '2025-04-02 00:00:00+00');
climate(dataset_id => $ds, country_id => $ben, variable => 'v2', created_at => '2025-04-03 00:00:00+00');
climate(dataset_id => $ds, country_id => $ben, variable => 'v3', created_at => '2025-04-01 00:00:00+00');
my $V = '/api/climate-series/?ordering=';
is col('/api/climate-series/', 'variable'), 'v2,v1,v3', 'default: -created_at';
is col($V . 'created_at', 'variable'), 'v3,v1,v2', 'created_at';
is col($V . '-created_at', 'variable'), 'v2,v1,v3', '-created_at';
is col($V . 'variable', 'variable'), 'v2,v1,v3', 'variable not orderable → default';
is col($V . '-variable,created_at', 'variable'), 'v3,v1,v2', 'invalid dropped, created_at kept';

# ---- ordering and pagination together -----------------------------------------------
is col('/api/hydro-sites/?ordering=-head_m,name&page_size=2&page=2', 'name'), 'Charlie,Echo', 'page 2 of an ordering';
is col('/small/api/hydro-sites/?ordering=-name', 'name'), 'Echo,Delta,Charlie,Bravo,Alpha', 'ordering under /small/api';
