package EaTest;

# Shared helpers for the Apache::Test suite (t/*.t).  The database comes from
# the EA_* variables that t/apache-tests exports (EA_PGHOST is the socket
# directory of the private PostgreSQL it started).
#
#   use FindBin; use lib "$FindBin::Bin/lib";
#   use EaTest qw(reset_db seed_fixture get_json);
#   reset_db(); my $f = seed_fixture();
#   my ($res, $data) = get_json('/api/countries/');

use strict;
use warnings;

use Exporter 'import';
use DBI ();
use JSON::PP ();
use Apache::TestRequest ();

our @EXPORT_OK = qw(db reset_db seed_fixture get_json decode_json_body pg_stop pg_start);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

for my $var (qw(EA_PGHOST EA_PGPORT EA_PGDATABASE EA_PGUSER)) {
    die "EaTest: $var is not set; run the suite through `make check` or ./dev test\n"
        unless defined $ENV{$var};
}

my $dbh;

# A DBI handle on the test database (reconnects after pg_stop/pg_start).
sub db {
    return $dbh if $dbh && $dbh->ping;
    $dbh = DBI->connect(
        "dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$ENV{EA_PGDATABASE}",
        $ENV{EA_PGUSER}, '',
        { RaiseError => 1, PrintError => 0, AutoCommit => 1, pg_enable_utf8 => 1 });
    $dbh->do('SET client_min_messages = warning');
    return $dbh;
}

# Empty every core_*, auth_* and authtoken_* table (and, through CASCADE, any
# table referencing them) and restart their id sequences, so ids start at 1.
sub reset_db {
    my $tables = db()->selectcol_arrayref(q{
        SELECT quote_ident(tablename) FROM pg_tables
         WHERE schemaname = current_schema()
           AND (tablename LIKE 'core\_%' OR tablename LIKE 'auth\_%'
                OR tablename LIKE 'authtoken\_%')
         ORDER BY tablename});
    die "EaTest::reset_db: no core_* tables; did `ecoatlas migrate` run?\n" unless @$tables;
    db()->do('TRUNCATE ' . join(', ', @$tables) . ' RESTART IDENTITY CASCADE');
    return;
}

sub _insert {
    my ($table, %row) = @_;
    my @cols = sort keys %row;
    # Explicit timestamps: the schema, like Django's, has no SQL defaults.
    # Each statement commits alone, so every row gets its own now().
    my $sql = sprintf 'INSERT INTO %s (created_at, updated_at, %s) VALUES (now(), now(), %s) RETURNING id',
        $table, join(', ', @cols), join(', ', ('?') x @cols);
    my ($id) = db()->selectrow_array($sql, undef, @row{@cols});
    return $id;
}

sub _dataset {
    my ($name, $type) = @_;
    return _insert('core_energydataset', name => $name, dataset_type => $type, source => '',
        description => '', file_name => '', file_checksum => '', metadata => '{}');
}

# The rows of API-CONTRACT §8.1 (APITestBase.setUp), in the same order.
# Returns their ids: { dataset, country, region, site, resource_dataset,
# metrics => [2023, 2024], climate_dataset, climate_series }.
sub seed_fixture {
    my %id;
    $id{dataset} = _dataset('Test Dataset', 'phes');
    $id{country} = _insert('core_country', name => 'Benin', iso2 => 'BJ', iso3 => 'BEN',
        population => undef, boundary => undef);
    $id{region} = _insert('core_region', country_id => $id{country}, name => 'Atlantique',
        level => '', boundary => undef);
    $id{site} = _insert('core_hydrosite', name => 'Site A', country_id => $id{country},
        region_id => $id{region}, dataset_id => $id{dataset}, latitude => undef,
        longitude => undef, elevation_m => undef, head_m => 100, storage_capacity_mwh => 50,
        turbine_capacity_mw => undef, status => 'identified', notes => '', properties => '{}');
    $id{resource_dataset} = _dataset('Resources', 'resource');
    $id{metrics} = [ map {
        _insert('core_resourcemetric', dataset_id => $id{resource_dataset},
            country_id => $id{country}, region_id => undef, resource_type => 'solar',
            metric => 'potential', value => $_->[0], unit => 'kWh/m2', year => $_->[1])
    } [123.4, 2023], [223.4, 2024] ];
    $id{climate_dataset} = _dataset('Climate', 'climate');
    $id{climate_series} = _insert('core_climateseries', dataset_id => $id{climate_dataset},
        country_id => $id{country}, region_id => undef, site_id => undef,
        variable => 'rainfall', unit => 'mm', statistics => '{}',
        series => '[{"timestamp": "2024-01-01", "value": 12.5}, '
                . '{"timestamp": "2024-02-01", "value": 15.0}]');
    return \%id;
}

# The decoded JSON body of an HTTP::Response, or undef when it is not JSON.
sub decode_json_body {
    my ($res) = @_;
    return eval { JSON::PP->new->utf8->allow_nonref->decode($res->content) };
}

# GET a URL (path on the test server, extra headers as key/value pairs):
# returns (HTTP::Response, decoded JSON or undef).  Key order is lost in the
# decoded value: compare $res->content for order-sensitive assertions.
sub get_json {
    my ($url, @headers) = @_;
    my $res = Apache::TestRequest::GET($url, @headers);
    return ($res, decode_json_body($res));
}

my $pg_stopped = 0;

sub _pg_ctl {
    my @cmd = ("$ENV{EA_PGBIN}/pg_ctl", '-D', $ENV{EA_PGDATA}, '-s', '-w', '-t', '60', @_);
    system(@cmd) == 0 or die "EaTest: @cmd failed\n";
}

# Stop / start the test PostgreSQL (database-outage tests).  A test that dies
# between the two still gets its database back (END block below).
sub pg_stop {
    undef $dbh;
    _pg_ctl('-m', 'fast', 'stop');
    $pg_stopped = 1;
    return;
}

sub pg_start {
    _pg_ctl('-l', "$ENV{EA_PGDATA}/server.log", 'start');
    $pg_stopped = 0;
    return;
}

END {
    if ($pg_stopped) {
        local $?;
        eval { pg_start(); 1 } or warn $@;
    }
}

1;
