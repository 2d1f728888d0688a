# The names of countries and regions on list pages of hydro sites and
# resource metrics: each httpd process keeps them (migration 0008) instead
# of joining their tables for every page.  Every page must still show the
# names of its own snapshot: after renames, inserts, deletes (region set
# NULL) and a TRUNCATE, on first pages, deep pages (ids first), searched
# and filtered pages, whichever process answers; and with migration 0008's
# objects gone the pages are joined again, then lean once they are back.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json);
use DBI;

my $migration = "$FindBin::Bin/../db/migrations/0008_ecoatlas_names_version.sql";
my $dbh = db();

# Whatever happens below, the database keeps migration 0008 for the tests
# that follow this one.
END { eval { db()->do(slurp($migration)) } if $dbh }

sub slurp { my ($p) = @_; open my $fh, '<', $p or die "$p: $!"; local $/; return <$fh> }

# id -> [country_name, region_name] of the database itself
sub truth {
    my ($table) = @_;
    my $rows = db()->selectall_arrayref(
        "SELECT t.id, c.name, r.name FROM $table t JOIN core_country c ON c.id = t.country_id
                LEFT JOIN core_region r ON r.id = t.region_id");
    return { map { $_->[0] => [$_->[1], $_->[2]] } @$rows };
}

# Every row of every page of path (query string qs) shows the names of the
# database; requests spread over the server's processes: each page is
# asked for twice.
my $n = 0;
sub names_right {
    my ($label, $resource, $table, $qs) = @_;
    my $want = truth($table);
    my ($seen, @wrong, $count) = (0);
    for my $page (1 .. 1000) {
        for my $again (1, 2) {
            my ($res, $body) = get_json("/api/$resource/?page_size=40&page=$page" . ($qs ? "&$qs" : '') . '&r=' . ++$n);
            unless ($res->code == 200 && $body) {
                push @wrong, "page $page: HTTP " . $res->code . ' ' . substr($res->content, 0, 200);
                last;
            }
            $count = $body->{count};
            for my $row (@{ $body->{results} }) {
                $seen++ if $again == 1;
                my $w = $want->{ $row->{id} } or do { push @wrong, "id $row->{id}: not in the table"; next };
                my $got = [ $row->{country_name}, $row->{region_name} ];
                push @wrong, sprintf('id %d: %s / %s, not %s / %s', $row->{id},
                    map { $_ // 'null' } @$got, @$w)
                    if ($got->[0] // '') ne ($w->[0] // '') || defined $got->[1] != defined $w->[1]
                        || ($got->[1] // '') ne ($w->[1] // '');
            }
        }
        last if !defined $count || $page * 40 >= $count;
    }
    ok(!@wrong && $seen == ($count // -1), "$label: $seen rows, every name right")
        or diag(join "\n", (@wrong)[0 .. ($#wrong < 9 ? $#wrong : 9)]);
}

plan tests => 18;

reset_db();
$dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
           SELECT 'Country ' || i, 'C' || i, 'C' || lpad(i::text, 2, '0'), now(), now() FROM generate_series(1, 6) i});
$dbh->do(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at)
           SELECT 1 + i % 6, 'Region ' || i, '', now(), now() FROM generate_series(1, 12) i});
$dbh->do(q{INSERT INTO core_energydataset (name, dataset_type, source, description, file_name, file_checksum, metadata, created_at, updated_at)
           VALUES ('D', 'phes', '', '', '', '', '{}', now(), now())});
# 300 sites, a third without a region; names with ties (page order by name, id)
$dbh->do(q{INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties,
                                       head_m, created_at, updated_at)
    SELECT 'Site ' || (i % 97) || ' ' || i, 1 + i % 6, CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + i % 12 END, 1,
           CASE WHEN i % 2 = 0 THEN 'study' ELSE 'identified' END, 'lake ' || i, '{}', i % 41, now(), now()
      FROM generate_series(1, 300) i});
$dbh->do(q{INSERT INTO core_resourcemetric (dataset_id, country_id, region_id, resource_type, metric, value, unit, year,
                                            created_at, updated_at)
    SELECT 1, 1 + i % 6, CASE WHEN i % 2 = 0 THEN NULL ELSE 1 + i % 12 END, 'solar', 'm' || i, i, 'u', 2020,
           now() - i * interval '1 second', now() FROM generate_series(1, 150) i});

names_right('sites, fresh', 'hydro-sites', 'core_hydrosite');
names_right('metrics, fresh', 'resource-metrics', 'core_resourcemetric');

# Lean pages read neither core_country nor core_region: while another
# transaction holds both locked, a page answered by a child that keeps the
# names comes at once (a joined page would wait for the lock).  One
# keep-alive connection, so the same child answers before and during.
{
    my $ua = Apache::TestRequest::user_agent(keep_alive => 1);
    my $url = Apache::TestRequest::resolve_url('/api/hydro-sites/?page_size=60&ordering=head_m');
    $ua->get($url) for 1 .. 2;
    my $locker = DBI->connect("dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$ENV{EA_PGDATABASE}",
        $ENV{EA_PGUSER}, '', { RaiseError => 1, PrintError => 0, AutoCommit => 0 });
    $locker->do('LOCK TABLE core_country, core_region IN ACCESS EXCLUSIVE MODE');
    my $timeout = $ua->timeout(5);
    my $res = $ua->get($url);
    $ua->timeout($timeout);
    $locker->rollback;
    $locker->disconnect;
    ok($res->code == 200 && $res->content =~ /"country_name":"Country \d"/,
       'a lean page reads neither countries nor regions (answered while both are locked)')
        or diag($res->status_line);
}

# renames: every page after them shows the new names
$dbh->do(q{UPDATE core_country SET name = name || ' (renamed)' WHERE id IN (2, 5)});
$dbh->do(q{UPDATE core_region SET name = 'Région ' || id WHERE id % 4 = 1});
names_right('sites, after renames', 'hydro-sites', 'core_hydrosite');
names_right('sites by head, after renames', 'hydro-sites', 'core_hydrosite', 'ordering=-head_m');
names_right('searched sites, after renames', 'hydro-sites', 'core_hydrosite', 'search=lake&ordering=head_m');
names_right('filtered sites, after renames', 'hydro-sites', 'core_hydrosite', 'status=study&country__iso3=C05');
names_right('metrics, after renames', 'resource-metrics', 'core_resourcemetric');

# a new country and region, and sites of them; a region deleted (its sites
# keep no region)
my ($c) = $dbh->selectrow_array(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
                                  VALUES ('Newland', 'NL', 'NLX', now(), now()) RETURNING id});
my ($r) = $dbh->selectrow_array(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at)
                                  VALUES (?, 'New Region', '', now(), now()) RETURNING id}, undef, $c);
$dbh->do(q{INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties, created_at, updated_at)
           SELECT 'Aaa ' || i, ?, ?, 1, 'study', '', '{}', now(), now() FROM generate_series(1, 5) i}, undef, $c, $r);
$dbh->do(q{UPDATE core_hydrosite SET region_id = NULL WHERE region_id = 7});
$dbh->do(q{DELETE FROM core_region WHERE id = 7});
names_right('sites, after inserts and a deleted region', 'hydro-sites', 'core_hydrosite');
my ($res, $body) = get_json('/api/hydro-sites/?search=Aaa&page_size=5');
is_deeply([ map { "$_->{country_name}/$_->{region_name}" } @{ $body->{results} } ],
          [ ('Newland/New Region') x 5 ], 'the new country and region by name at once');

# renamed between two requests of one keep-alive connection: the second
# shows the new name (the names were read at the first one's version)
my $ua = Apache::TestRequest::user_agent(keep_alive => 1);
my $url = Apache::TestRequest::resolve_url('/api/hydro-sites/?search=Aaa&page_size=1');
my $before = $ua->get($url)->content;
$dbh->do(q{UPDATE core_country SET name = 'Newerland' WHERE name = 'Newland'});
my $after = $ua->get($url)->content;
ok($before =~ /"country_name":"Newland"/ && $after =~ /"country_name":"Newerland"/,
   'a rename shows on the next request of the same connection');

# Without migration 0008's objects (a database restored without them):
# pages are joined, with the names of the moment.
$dbh->do(q{DROP TRIGGER ecoatlas_names ON core_country; DROP TRIGGER ecoatlas_names_truncate ON core_country;
           DROP TRIGGER ecoatlas_names ON core_region; DROP TRIGGER ecoatlas_names_truncate ON core_region;
           DROP FUNCTION ecoatlas_names_bump(); DROP TABLE ecoatlas_names_version});
names_right('sites, without 0008', 'hydro-sites', 'core_hydrosite');
$dbh->do(q{UPDATE core_country SET name = 'Country three' WHERE id = 3});
names_right('sites, without 0008, after a rename', 'hydro-sites', 'core_hydrosite', 'ordering=name');
names_right('metrics, without 0008, after a rename', 'resource-metrics', 'core_resourcemetric');

# back: the table is made again, at a version above any before (a process
# that answered nothing meanwhile still keeps the names of before the drop)
$dbh->do(slurp($migration));
$dbh->do(q{UPDATE core_country SET name = 'Country 3 again' WHERE id = 3});
names_right('sites, 0008 back, after a rename', 'hydro-sites', 'core_hydrosite');

# TRUNCATE of the countries (and, by CASCADE, of everything that refers to
# them), then new rows with the same ids: new names
$dbh->do(q{TRUNCATE core_country RESTART IDENTITY CASCADE});
$dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('Solo', 'SO', 'SOL', now(), now())});
$dbh->do(q{INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties, created_at, updated_at)
           SELECT 'After ' || i, 1, NULL, NULL, 'study', '', '{}', now(), now() FROM generate_series(1, 3) i});
names_right('sites, after TRUNCATE', 'hydro-sites', 'core_hydrosite');
($res, $body) = get_json('/api/hydro-sites/');
is(join(',', map { $_->{country_name} } @{ $body->{results} }), 'Solo,Solo,Solo', 'the new country\'s name');
is($res->code, 200, 'no error meanwhile');
