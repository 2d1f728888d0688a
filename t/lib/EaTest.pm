package EaTest;

# Shared helpers for the Apache::Test suite (t/*.t).  The database comes from
# the EA_* variables that t/apache-tests exports (EA_PGHOST is the socket
# directory of the private PostgreSQL it started).
#
#   use FindBin; use lib "$FindBin::Bin/lib";
#   use EaTest qw(reset_db seed_fixture get_json);
#   reset_db(); my $f = seed_fixture();
#   my ($res, $data) = get_json('/api/countries/');
#
# Row helpers (insert_row, country, region, dataset, site, metric, climate)
# take column => value pairs that override their defaults and return the id.

use strict;
use warnings;

use Exporter 'import';
use DBI ();
use Encode ();
use JSON::PP ();
use Apache::TestRequest ();
use Digest::SHA ();

our @EXPORT_OK = qw(db reset_db seed_fixture get_json decode_json_body pg_stop pg_start
    insert_row country region dataset site metric climate raw raw_decoded col root_body
    user_token staff_token auth_header create_user);
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

# The rows of docs/decisions.md §8.1 (APITestBase.setUp), in the same order.
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

# INSERT a row (column => value) into $table; created_at defaults to 2025-01-01 UTC, updated_at to created_at.
sub insert_row {
    my ($table, %r) = @_;
    $r{created_at} //= '2025-01-01 00:00:00+00';
    $r{updated_at} //= $r{created_at};
    my @c = sort keys %r;
    my ($id) = db()->selectrow_array(
        sprintf('INSERT INTO %s (%s) VALUES (%s) RETURNING id',
            $table, join(', ', @c), join(', ', ('?') x @c)),
        undef, @r{@c});
    return $id;
}

my $countries = 0;

# A core_country row; iso2/iso3 default to "NN"/"ZNN", NN counting the calls of this process.
sub country {
    $countries++;
    return insert_row('core_country', iso2 => sprintf('%02d', $countries), iso3 => sprintf('Z%02d', $countries), @_);
}

# A core_region row (level '').
sub region { return insert_row('core_region', level => '', @_) }

# A core_energydataset row (type phes, empty source/description/file fields, metadata {}).
sub dataset {
    return insert_row('core_energydataset', dataset_type => 'phes', source => '', description => '',
        file_name => '', file_checksum => '', metadata => '{}', @_);
}

# A core_hydrosite row (status identified, notes '', properties {}).
sub site { return insert_row('core_hydrosite', status => 'identified', notes => '', properties => '{}', @_) }

# A core_resourcemetric row (solar, potential, value 1, unit kWh/m2).
sub metric {
    return insert_row('core_resourcemetric', resource_type => 'solar', metric => 'potential', value => 1,
        unit => 'kWh/m2', @_);
}

# A core_climateseries row (unit mm, statistics {}, series []).
sub climate { return insert_row('core_climateseries', unit => 'mm', statistics => '{}', series => '[]', @_) }

# "STATUS BODY" of a GET (extra headers as key/value pairs), the body as bytes.
sub raw {
    my ($path, @headers) = @_;
    my $res = Apache::TestRequest::GET($path, @headers);
    return $res->code . ' ' . $res->content;
}

# "STATUS BODY" of a GET (extra headers as key/value pairs), the body decoded from UTF-8.
sub raw_decoded {
    my ($path, @headers) = @_;
    my $res = Apache::TestRequest::GET($path, @headers);
    return $res->code . ' ' . Encode::decode('UTF-8', $res->content);
}

# Field $key of each result of the list at $path ('null' when undef), joined by $sep (default ','), or "HTTP <code> <body>".
sub col {
    my ($path, $key, $sep) = @_;
    my ($res, $d) = get_json($path);
    return 'HTTP ' . $res->code . ' ' . $res->content unless $res->code == 200 && ref $d eq 'HASH';
    return join $sep // ',', map { $_->{$key} // 'null' } @{ $d->{results} };
}

# The exact compact body of the API root mounted at the absolute URL $base (router registration order).
sub root_body {
    my ($base) = @_;
    return '{' . join(',', map { qq{"$_":"$base/$_/"} }
        qw(countries regions datasets hydro-sites resource-metrics climate-series stats)) . '}';
}

# A user (created, or updated to these flags and made active) and its id.
# Options: staff => 0|1, active => 0|1, password_hash => '...' (default: unusable).
sub create_user {
    my ($username, %o) = @_;
    my ($id) = db()->selectrow_array(q{
        INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, last_name,
                               email, is_staff, is_active, date_joined)
        VALUES (?, NULL, false, ?, '', '', '', ?, ?, now())
        ON CONFLICT (username) DO UPDATE SET is_staff = EXCLUDED.is_staff,
            is_active = EXCLUDED.is_active, password = EXCLUDED.password
        RETURNING id}, undef, $o{password_hash} // '!unusable', $username,
        $o{staff} ? 1 : 0, ($o{active} // 1) ? 1 : 0);
    return $id;
}

# A new API token for $username (created by create_user with %o), stored
# as the module stores them (SHA-256 only); returns the key.
sub user_token {
    my ($username, %o) = @_;
    my $uid = create_user($username, %o);
    my $key = join '', map { sprintf '%02x', int rand 256 } 1 .. 20;
    db()->do(q{INSERT INTO ecoatlas_token (user_id, key_sha256, prefix, name, created, expires)
               VALUES (?, decode(?, 'hex'), ?, 'test', now(), ?)}, undef,
        $uid, Digest::SHA::sha256_hex($key), substr($key, 0, 8), $o{expires});
    return $key;
}

# A token of the active staff user "staff".
sub staff_token { return user_token('staff', staff => 1) }

# The request header pair for a token: GET($url, auth_header($key)).
sub auth_header { return (Authorization => "Token $_[0]") }

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
