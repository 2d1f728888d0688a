# ecoatlas import-resources / import-geojson on valid, invalid and hostile
# files (docs/decisions.md §6, D13), checking the database afterwards: each file
# is all or nothing unless --skip-invalid, rejected rows are reported with
# their line numbers, and the counts kept by the triggers stay exact.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use EaTest qw(db reset_db);

plan tests => 51;

my $cli = $ENV{EA_CLI} or die 'EA_CLI';
my $samples = -d '/work/shared/data/seed-samples' ? '/work/shared/data/seed-samples' : "$ENV{EA_TOP}/t/cli";
my $dir = tempdir(CLEANUP => 1);
my $conninfo = "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}";
$ENV{ASAN_OPTIONS} = 'detect_leaks=0';

sub slurp { my ($p) = @_; local $/; open my $f, '<', $p or return ''; my $t = <$f>; close $f; return $t }
sub file { my ($name, $bytes) = @_; my $p = "$dir/$name"; open my $f, '>:raw', $p or die; print {$f} $bytes; close $f; return $p }
sub run {
    my @args = @_;
    my $cmd = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } $cli, '--db', $conninfo, @args;
    system("$cmd >'$dir/out' 2>'$dir/err'");
    return ($? >> 8, slurp("$dir/out"), slurp("$dir/err"));
}
sub one { my ($sql, @b) = @_; return scalar db()->selectrow_array($sql, undef, @b) }
sub metrics { return one(q{SELECT count(*) FROM core_resourcemetric}) }
sub counted { return one(q{SELECT n FROM ecoatlas_rowcount WHERE tbl = 'core_resourcemetric'}) }
sub grouped { return one(q{SELECT coalesce(sum(n), 0) FROM ecoatlas_resourcemetric_count}) }

reset_db();
my ($rc, $out, $err);

# ---- the samples, as the README flow --------------------------------------------------------
($rc) = run('loaddata', "$samples/minimal_core.json");
is $rc, 0, 'fixture loaded';
($rc, $out) = run('import-resources', "$samples/resource_metrics_sample.csv", '--dataset-name', 'Potential 2024');
is $rc, 0, 'import-resources of the sample: exit 0';
is $out, "3 métriques importées vers Potential 2024.\n", '... the contract message';
is one(q{SELECT string_agg(iso3 || ':' || iso2, ' ' ORDER BY iso3) FROM core_country}), 'BEN:BJ CMR:CM NER:NE',
    'Benin kept (BJ), Niger and Cameroon created';
is one(q{SELECT string_agg(resource_type || '/' || metric || '/' || value || '/' || unit || '/' || year, ' ' ORDER BY value)
         FROM core_resourcemetric}),
    'solar/solar_potential_kwh_m2/2100.0000/kWh/m2/2024 solar/solar_potential_kwh_m2/2300.0000/kWh/m2/2024 solar/hydro_capacity_mw/6500.0000/MW/2023',
    'the three metrics';
($rc, $out) = run('import-resources', "$samples/resource_metrics_sample.csv", '--dataset-name', 'Potential 2024');
is $out . metrics(), "3 métriques importées vers Potential 2024.\n3", 'imported again: updated, not duplicated';
($rc, $out) = run('import-geojson', "$samples/countries_sample.geojson");
is $rc . ' ' . $out, "0 2 géométries importées.\n", 'import-geojson of the sample';
is one(q{SELECT iso2 FROM core_country WHERE iso3 = 'BEN'}), 'BJ', 'D13: the iso2 property is read (BJ, not BE)';
is one(q{SELECT boundary->>'type' FROM core_country WHERE iso3 = 'NER'}), 'Polygon', 'the boundary is stored';

# ---- D13: the year is part of the key; NULL years match; per-row resource_type --------------
my $f = file('years.csv', "iso3,metric,value,year,resource_type\r\nBEN,m,1,2023,wind\r\nBEN,m,2,2024,wind\r\nBEN,m,3,,hydro\r\n");
($rc, $out) = run('import-resources', $f, '--dataset-name', 'Years');
is $rc, 0, 'CRLF file with a resource_type column: exit 0';
is one(q{SELECT string_agg(resource_type || ':' || coalesce(year::text, '-') || ':' || value, ' ' ORDER BY value)
         FROM core_resourcemetric m JOIN core_energydataset d ON d.id = m.dataset_id WHERE d.name = 'Years'}),
    'wind:2023:1.0000 wind:2024:2.0000 hydro:-:3.0000', 'rows differing by year are kept apart; resource_type per row';
$f = file('years2.csv', "iso3,metric,value,year,resource_type\nBEN,m,30,,hydro\n");
run('import-resources', $f, '--dataset-name', 'Years');
is one(q{SELECT string_agg(value::text, ' ') FROM core_resourcemetric m JOIN core_energydataset d ON d.id = m.dataset_id
         WHERE d.name = 'Years' AND year IS NULL}), '30.0000', 'a NULL year matches the NULL year (updated, no duplicate)';

# ---- all or nothing, with line numbers ------------------------------------------------------
my $before = metrics();
$f = file('bad.csv', "iso3,metric,value,year\nBEN,ok,1,2020\n,m,1,2020\nNER,m,abc,2020\nCMR,\"multi\nline\",5,20x0\nBEN,ok2,2,2021\n");
($rc, $out, $err) = run('import-resources', $f, '--dataset-name', 'Bad');
is $rc, 1, 'invalid rows: exit 1';
like $err, qr/^Ligne 3: iso3 manquant\.$/m, 'line 3 reported: iso3 manquant';
like $err, qr/^Ligne 4: Valeur invalide pour NER\/m, ligne ignorée\.$/m, 'line 4 reported: the contract message';
like $err, qr/^Ligne 5: année/m, 'line 5 reported (a quoted field spanning lines 5-6)';
like $err, qr/Import annulé: 3 lignes rejetées, aucune donnée écrite/, 'the summary says nothing was written';
is metrics() . ' ' . one(q{SELECT count(*) FROM core_energydataset WHERE name = 'Bad'}), "$before 0",
    'nothing written: no metric, no dataset';
($rc, $out, $err) = run('import-resources', $f, '--dataset-name', 'Bad', '--skip-invalid');
is $rc . ' ' . $out, "0 2 métriques importées vers Bad.\n", '--skip-invalid: the valid rows are imported';
like $err, qr/3 lignes ignorées/, '... and the others counted';

# ---- hostile files ---------------------------------------------------------------------------
$before = metrics();
my %hostile = (
    'latin1.csv' => ["iso3,country,value\nBEN,B\xe9nin,1\n", qr/Ligne 2: encodage invalide/],
    'huge.csv'   => ["iso3,value\nBEN," . ('9' x (3 * 1024 * 1024)) . "\nNER,1\n", qr/Ligne 2: ligne trop longue/],
    'empty.csv'  => ['', qr/Fichier vide/],
    'binary.csv' => [join('', map { chr(($_ * 7919) % 256) } 1 .. 4096), qr/illisible|encodage invalide|absente/],
    'nul.csv'    => ["iso3,value\nBEN,1\0\n", qr/octet NUL/],
    'quote.csv'  => ["iso3,value\n\"BEN,1\n", qr/guillemet/],
);
for my $name (sort keys %hostile) {
    my $p = file($name, $hostile{$name}[0]);
    ($rc, $out, $err) = run('import-resources', $p, '--dataset-name', "H $name");
    is $rc, 1, "$name: exit 1";
    like $err, $hostile{$name}[1], "$name: reported";
    is metrics() . ' ' . one(q{SELECT count(*) FROM core_energydataset WHERE name = ?}, "H $name"), "$before 0",
        "$name: nothing written";
}

# formula-injection cells are data, stored as they are
$f = file('formula.csv', qq{iso3,metric,value,unit\nBEN,"=cmd|' /C calc'!A0",1,\@SUM(1+1)\nBEN,+x,2,-y\n});
($rc, $out) = run('import-resources', $f, '--dataset-name', 'Formula');
is $rc, 0, 'formula-looking cells: imported';
is one(q{SELECT string_agg(metric || ' ' || unit, ' | ' ORDER BY value) FROM core_resourcemetric m
         JOIN core_energydataset d ON d.id = m.dataset_id WHERE d.name = 'Formula'}),
    q{=cmd|' /C calc'!A0 @SUM(1+1) | +x -y}, '... stored verbatim, as text';

# ---- messages of the contract ------------------------------------------------------------------
($rc, undef, $err) = run('import-resources', "$dir/missing.csv");
like $err, qr/Fichier introuvable: \Q$dir\E\/missing\.csv/, 'missing file: Fichier introuvable';
$f = file('data.json', '{}');
($rc, undef, $err) = run('import-resources', $f);
like $err, qr/Extension de fichier non supportée: \.json/, '.json: Extension de fichier non supportée';
($rc, undef, $err) = run('import-geojson', file('none.geojson', '{"type":"FeatureCollection","features":[]}'));
like $err, qr/Aucune entité trouvée dans le GeoJSON\./, 'no features: Aucune entité trouvée';
($rc, undef, $err) = run('import-geojson', file('broken.geojson', "{\n\"features\": [\n,]}"));
is $rc, 1, 'broken GeoJSON: exit 1';
like $err, qr/ligne 3/, '... with the line of the error';
$f = file('regions.geojson', '{"features":[{"properties":{"name":"Alibori","country_iso3":"BEN"},"geometry":null},'
                           . '{"properties":{"name":"Nowhere","country_iso3":"ZZZ"},"geometry":null}]}');
($rc, undef, $err) = run('import-geojson', $f, '--target', 'region');
like $err, qr/Entité 2: Pays ZZZ introuvable, région ignorée\./, 'a region of an unknown country is reported';
is one(q{SELECT count(*) FROM core_region}), 0, '... and nothing is written';
($rc, $out) = run('import-geojson', $f, '--target', 'region', '--skip-invalid', '--level', 'department');
is $out . one(q{SELECT level FROM core_region WHERE name = 'Alibori'}), "1 géométries importées.\ndepartment",
    '--skip-invalid imports the other region';
($rc) = run('import-resources', '--help');
is $rc, 0, 'import-resources --help';

# the counts the triggers keep followed every import
is counted(), metrics(), 'ecoatlas_rowcount matches core_resourcemetric';
is grouped(), metrics(), 'ecoatlas_resourcemetric_count matches core_resourcemetric';
