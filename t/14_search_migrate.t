# Migration 0005 where the extension pg_trgm may not be created: `ecoatlas
# migrate` succeeds and says why the search indexes are missing, `ecoatlas
# check --deploy` reports ecoatlas.W102, search answers as before; once a
# superuser has created the extension, the next migrate builds the indexes.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use DBI ();
use EaTest qw(db);

plan tests => 23;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

my $cli = $ENV{EA_CLI} or die 'EA_CLI not set';
my ($role, $dbname) = ('ea_search_noext', 'ea_search_noext');
my $su = db();
$su->do("DROP DATABASE IF EXISTS $dbname");
$su->do("DROP ROLE IF EXISTS $role");
$su->do("CREATE ROLE $role LOGIN");
# owned by the superuser: the role has no CREATE on the database (so no
# trusted extension), but owns the schema its tables go in
$su->do("CREATE DATABASE $dbname TEMPLATE template0 ENCODING 'UTF8'");
my $dsn = "dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$dbname";
{
    my $d = DBI->connect($dsn, $ENV{EA_PGUSER}, '', { RaiseError => 1, PrintError => 0 });
    $d->do("ALTER SCHEMA public OWNER TO $role");
    $d->disconnect;
}
my $conninfo = "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$dbname user=$role";

sub run {
    local $ENV{ASAN_OPTIONS} = 'detect_leaks=0';
    my $out = `'$cli' --db '$conninfo' @_ 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run('migrate');
is $rc, 0, 'migrate without the right to create pg_trgm: exit 0';
like $out, qr/Applying 0005_ecoatlas_search\.\.\. OK/, '0005 is applied';
like $out, qr/Building the search indexes \(pg_trgm\)\.\.\. NOT POSSIBLE/, 'says the indexes cannot be built';
like $out, qr/warning: the search indexes are missing: the PostgreSQL extension pg_trgm cannot be created \(permission denied to create extension "pg_trgm"\)/,
    '... and why';
like $out, qr/A superuser can run CREATE EXTENSION pg_trgm;/, '... and what to do';

my $d = DBI->connect($dsn, $role, '', { RaiseError => 1, PrintError => 0, AutoCommit => 1, pg_enable_utf8 => 1 });
is $d->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 7, 'none of the 7 search indexes exists';
# search as before: the same SQL works without the indexes
$d->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
         VALUES ('Dıyarbakır', 'DY', 'DYB', now(), now()), ('Benin', 'BJ', 'BEN', now(), now())});
is $d->selectrow_array(q{SELECT string_agg(name, ',') FROM core_country t WHERE UPPER(t.name::text) LIKE UPPER($1)},
    undef, '%diyar%'), 'Dıyarbakır', 'search works without the indexes';

my $dir = tempdir(CLEANUP => 1);
open my $f, '>', "$dir/strong.conf" or die;
print {$f} qq{ServerName api.example.org\nEcoAtlasSecretKey "Zq8Xw2Lp9Tr5Vn1Bm7Hc4Jd6Fg3Ks0Yu-a1b2c3d4e5f6g7h8i9j0"\n};
close $f;
($rc, $out) = run('check', '--deploy', '-f', "$dir/strong.conf");
is $rc, 1, 'check --deploy: exit 1';
like $out, qr/^ecoatlas\.W102: database: \?search= scans whole tables: search indexes missing \(ecoatlas_climateseries_variable_trgm, .*\); the extension pg_trgm is not installed: a superuser can run CREATE EXTENSION pg_trgm; in this database, then run ecoatlas migrate$/m,
    'check --deploy: W102, pg_trgm not installed';

($rc, $out) = run('migrate');
is $rc, 0, 'migrate again: exit 0';
like $out, qr/NOT POSSIBLE.*No migrations to apply/s, 'tries again, still not possible';

# a superuser creates the extension
{
    my $s = DBI->connect($dsn, $ENV{EA_PGUSER}, '', { RaiseError => 1, PrintError => 0 });
    $s->do('CREATE EXTENSION pg_trgm');
    $s->disconnect;
}
($rc, $out) = run('check', '--deploy', '-f', "$dir/strong.conf");
like $out, qr/^ecoatlas\.W102: .*search indexes missing .*; run ecoatlas migrate$/m,
    'check --deploy: W102, the extension is there: run migrate';
($rc, $out) = run('migrate');
is $rc, 0, 'migrate after CREATE EXTENSION: exit 0';
like $out, qr/Building the search indexes \(pg_trgm\)\.\.\. OK/, 'builds the indexes';
is $d->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 0, 'all of them';
($rc, $out) = run('check', '--deploy', '-f', "$dir/strong.conf");
is "$rc $out", "0 System check identified no issues.\n", 'check --deploy: no issues';
($rc, $out) = run('migrate');
like "$rc $out", qr/\A0 Operations to perform:\n  Apply all migrations: \S+ \(\d+ file\(s\)\)\nRunning migrations:\n  No migrations to apply\.\n\z/,
    'migrate once more: nothing to say';

# Before a Django migration alters name, notes or properties, the operator
# drops the search document (docs/operations.md); the next migrate adds it
# back with its index, and search answers as before.
$d->do(q{INSERT INTO core_hydrosite (name, country_id, status, notes, properties, created_at, updated_at)
         SELECT 'Oueme gorge', id, 'identified', 'near Bohicon', '{"basin": "Oueme"}', now(), now()
         FROM core_country WHERE iso3 = 'BEN'});
my $doc_of = q{SELECT ecoatlas_search FROM core_hydrosite WHERE name = 'Oueme gorge'};
is $d->selectrow_array($doc_of), qq{OUEME GORGE\nNEAR BOHICON\n{"BASIN": "OUEME"}},
    'the document: the three fields upper-cased, joined by line feeds';
$d->do('ALTER TABLE core_hydrosite DROP COLUMN ecoatlas_search');
$d->do(q{ALTER TABLE core_hydrosite ALTER COLUMN notes TYPE varchar(4000)});
is $d->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 1, 'document dropped: its index is missing';
($rc, $out) = run('migrate');
like "$rc $out", qr/^0 .*Building the search indexes \(pg_trgm\)\.\.\. OK/s, 'migrate: builds it again';
is $d->selectrow_array($doc_of), qq{OUEME GORGE\nNEAR BOHICON\n{"BASIN": "OUEME"}}, '... the document is back';
is $d->selectrow_array('SELECT count(*) FROM ecoatlas_search_missing()'), 0, '... with its index';
($rc, $out) = run('migrate');
like "$rc $out", qr/No migrations to apply\.\n\z/, 'migrate once more: nothing to do';
$d->disconnect;
$su->do("DROP DATABASE $dbname");
$su->do("DROP ROLE $role");
