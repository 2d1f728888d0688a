use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# Exports keep their pooled connection while the client reads, so at most
# EcoAtlasMaxExports of them stream at once per child and pool (default:
# half of DBDMax); one more is answered 503 at once, and the rest of the
# pool keeps serving other requests (docs/operations.md §5,
# docs/directives.md "EcoAtlasMaxExports").
#
# Its own httpd (event MPM, one child of 16 threads, a 16 KB send buffer),
# twice, with DBDMax 4: the default bound, then EcoAtlasMaxExports 2.  The
# response cache's change listener holds one of the four connections (this
# httpd's only child listens), so the default is half of three: 1 export.  Clients that read nothing ask for a CSV export of
# 5,001 sites (about 700 KB, far more than the send buffer and their 2 KB
# receive buffer take), so their exports stay blocked writing.

use Test::More;
use File::Temp ();
use Time::HiRes qw(time sleep);
use JSON::PP ();
use EaConfTest qw(httpd_cmd free_port module_path wait_port write_event_conf slow_request read_all
                  parse_response);
use EaTest ();

plan tests => 21;

EaTest::reset_db();
my $ids = EaTest::seed_fixture();
# 5,000 more sites with names of about 120 characters (the fixture's site makes 5,001)
EaTest::db()->do(q{
    INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties,
                                created_at, updated_at)
    SELECT 'Export ' || g || ' ' || repeat('x', 110), ?, ?, ?, 'identified', '', '{}', now(), now()
      FROM generate_series(1, 5000) g}, undef, $ids->{country}, $ids->{region}, $ids->{dataset});

my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $port = free_port();
my $httpd = httpd_cmd();

sub start_httpd {
    my ($pool) = @_;
    write_event_conf($tmp, $port, 16, $pool);
    system($httpd, '-f', "$tmp/httpd.conf", '-k', 'start') == 0 or die "httpd did not start";
    return wait_port($port, 30);
}

sub stop_httpd {
    system($httpd, '-f', "$tmp/httpd.conf", '-k', 'stop');
    for (1 .. 50) {
        last unless -e "$tmp/httpd.pid";
        sleep 0.1;
    }
}

# A request whose answer is not read until read_all().
sub slow_req { return slow_request($port, @_) }

# A request read at once: status, headers, body, seconds it took.
sub fetch {
    my ($path, $method) = @_;
    my $t0 = time;
    my @r = parse_response(read_all(slow_req($path, $method), 20));
    return (@r, time - $t0);
}

my $busy = 'Too many exports are running. Try again in a few seconds.';

# The CSV export of every site: a header line and 5,001 rows, whole.
sub whole_export {
    my ($body) = @_;
    return 0 unless defined $body && $body =~ /\r\n\z/;
    my @lines = split /\r\n/, $body;
    return @lines == 5002 && $lines[0] =~ /^id,name,country_iso3,/;
}

# --- DBDMax 4, the default bound: one export at a time -------------------------
ok(start_httpd("DBDKeep 4\nDBDMax 4"), 'httpd listens (DBDMax 4)');

my $slow = slow_req('/api/hydro-sites/export/');
sleep 2;   # streaming, and blocked in the write

{
    my ($status, $h, $body, $took) = fetch('/api/hydro-sites/export/');
    my $json = eval { JSON::PP::decode_json($body // '') };
    is($status, 503, 'a second export while one streams: 503');
    ok($took < 5, sprintf 'answered at once (%.1f s)', $took);
    is_deeply($json, { detail => $busy }, 'with a JSON body saying why');
    is($h->{'retry-after'}, '10', 'and Retry-After: 10');
    ok(!exists $h->{'content-disposition'}, 'no attachment header on the refusal');
}
{
    my ($status, undef, $body) = fetch('/api/resource-metrics/export_pdf/');
    my $json = eval { JSON::PP::decode_json($body // '') };
    ok($status == 503 && ($json->{detail} // '') eq $busy, 'the PDF export shares the bound: 503');
}
{
    my @st = map { (fetch('/api/resource-metrics/export/'))[0] } 1 .. 3;
    is("@st", '503 503 503', 'and so does every export while it streams');
}
{
    my ($status, $h) = fetch('/api/hydro-sites/export/', 'HEAD');
    ok($status == 200 && ($h->{'content-disposition'} // '') =~ /hydro_sites\.csv/,
       'HEAD of an export reads no rows: 200 meanwhile');
}
# The pool's other connections serve the other requests.
my @late;
for my $path ('/api/hydro-sites/?page_size=1', "/api/hydro-sites/$ids->{site}/", '/api/countries/') {
    my ($status, undef, undef, $took) = fetch($path);
    push @late, sprintf '%s: %s after %.1f s', $path, $status, $took unless $status == 200 && $took < 5;
}
ok(!@late, 'lists and details are answered while the export client is slow') or diag(join "\n", @late);

{
    my ($status, undef, $body) = parse_response(read_all($slow, 60));
    ok($status == 200 && whole_export($body), 'the slow client then reads the whole export (5,001 rows)');
}
{
    my ($status, undef, $body) = fetch('/api/hydro-sites/export/');
    ok($status == 200 && whole_export($body), 'once it is done, the next export is served whole');
}
stop_httpd();
{
    # five refusals within seconds: a line, or two across a minute's turn
    open my $log, '<', "$tmp/error.log" or die $!;
    my @lines = grep { /\[(?:[a-z_]+:)?warn\].*EA00084: 1 exports already stream/ } <$log>;
    ok(@lines >= 1 && @lines <= 2, 'refusals are logged (EA00084), not one line each')
        or diag(scalar(@lines) . " lines");
}

# --- DBDMax 4, EcoAtlasMaxExports 2 -----------------------------------------------
ok(start_httpd("DBDKeep 4\nDBDMax 4\nEcoAtlasMaxExports 2"), 'httpd listens (DBDMax 4, EcoAtlasMaxExports 2)');
my @slow = map { slow_req('/api/hydro-sites/export/') } 1 .. 2;
sleep 2;
{
    my ($status, $h, $body, $took) = fetch('/api/resource-metrics/export/');
    my $json = eval { JSON::PP::decode_json($body // '') };
    ok($status == 503 && ($json->{detail} // '') eq $busy && $took < 5, 'two stream: the third export gets 503');
}
{
    my ($status, undef, $body, $took) = fetch('/api/hydro-sites/?page_size=1');
    my $json = eval { JSON::PP::decode_json($body // '') };
    ok($status == 200 && $took < 5 && ($json->{count} // 0) == 5001, 'a list is answered meanwhile');
}
my @bad;
for my $s (@slow) {
    my ($status, undef, $body) = parse_response(read_all($s, 60));
    push @bad, $status unless $status == 200 && whole_export($body);
}
ok(!@bad, 'both slow clients read their whole export') or diag("statuses: @bad");

# A client that leaves mid-export gives its slot back.
{
    my $s = slow_req('/api/hydro-sites/export/');
    my $s2 = slow_req('/api/hydro-sites/export/');
    sleep 1;
    close $s;
    close $s2;
    my ($status, undef, $body);
    for (1 .. 40) {   # the blocked writes notice the closed sockets
        ($status, undef, $body) = fetch('/api/hydro-sites/export/');
        last if $status == 200;
        sleep 0.25;
    }
    ok($status == 200 && whole_export($body), 'clients that left mid-export give their slots back');
}
{
    my ($status) = fetch('/api/hydro-sites/export/?ordering=name');
    is($status, 200, 'and exports go on');
}
stop_httpd();

open my $log, '<', "$tmp/error.log" or die $!;
my @errors = grep { /\[(?:[a-z_]+:)?(?:error|crit|alert|emerg)\]/ } <$log>;
ok(!@errors, 'no errors logged') or diag(join '', @errors);

# A wrong value stops the configuration test.
{
    my $mods = $ENV{EA_HTTPD_MODULES} // '/usr/lib/apache2/modules';
    my $module = module_path();
    open my $fh, '>', "$tmp/bad.conf" or die $!;
    print $fh "ServerRoot \"$tmp\"\nLoadModule mpm_event_module $mods/mod_mpm_event.so\n"
        . "LoadModule dbd_module $mods/mod_dbd.so\nLoadModule ecoatlas_module \"$module\"\n"
        . "EcoAtlasMaxExports 0\n";
    close $fh;
    my $out = `$httpd -t -f $tmp/bad.conf 2>&1`;
    like($out, qr/Invalid value for directive 'EcoAtlasMaxExports': '0'/, 'EcoAtlasMaxExports 0 is refused');
}
