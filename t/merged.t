# Configuration merging (docs/directives.md: inner sections override, the
# rest is inherited) on the "merged" virtual host of t/conf/extra.conf.in:
#   vhost level        EcoAtlasPageSize 7, EcoAtlasMaxPageSize 8, EcoAtlasCache Off
#   <Location /api>    SetHandler only            → 7 / 8
#   <Location /api2>   EcoAtlasPageSize 3         → 3 / 8, routes below /api2
#   server-level <Location /small/api> (10 / 20) applies in the vhost too.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(db reset_db get_json root_body);

plan tests => 29;

reset_db();
db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
           SELECT 'Country ' || lpad(i::text, 2, '0'), lpad(i::text, 2, '0'), 'X' || lpad(i::text, 2, '0'),
                  '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00'
           FROM generate_series(1, 25) AS i ORDER BY i});

# "count n next previous" of a list page
sub page {
    my ($path) = @_;
    my ($res, $d) = get_json($path);
    return 'HTTP ' . $res->code . ' ' . $res->content unless $res->code == 200 && ref $d eq 'HASH';
    return join ' ', $d->{count}, scalar @{ $d->{results} }, $d->{next} // '-', $d->{previous} // '-';
}

# ---- the main server first: defaults --------------------------------------------------
Apache::TestRequest::module('default');
is page('/api/countries/'), '25 25 - -', 'main server /api: default page size 50';
is page('/small/api/countries/?page_size=50'), '25 20 ' . 'http://' . Apache::TestRequest::hostport()
    . '/small/api/countries/?page=2&page_size=50 -', 'main server /small/api: max 20';

# ---- the merged vhost ------------------------------------------------------------------------
Apache::TestRequest::module('merged');
my $V = 'http://' . Apache::TestRequest::hostport();
isnt $V, 'http://' . do { local $Apache::TestRequest::Module = 'default'; Apache::TestRequest::hostport() },
    'the merged vhost has its own address';

# /api: inherits 7 and 8 from the vhost
is page('/api/countries/'), "25 7 $V/api/countries/?page=2 -", '/api: page size 7 from the vhost';
is page('/api/countries/?page=4'), "25 4 - $V/api/countries/?page=3", '/api: last page (25 = 3×7 + 4)';
is page('/api/countries/?page_size=5'), "25 5 $V/api/countries/?page=2&page_size=5 -", '/api: page_size below the max';
is page('/api/countries/?page_size=50'), "25 8 $V/api/countries/?page=2&page_size=50 -", '/api: max 8 from the vhost';
is page('/api/countries/?page_size=0'), "25 7 $V/api/countries/?page=2&page_size=0 -", '/api: invalid page_size → 7';
is page('/api/countries/?page=5'), 'HTTP 404 {"detail":"Invalid page."}', '/api: page 5 of 4 → 404';
is page('/api/regions/'), '0 0 - -', '/api: other lists served too';

# /api2: own page size 3, max 8 inherited, routes below /api2
is page('/api2/countries/'), "25 3 $V/api2/countries/?page=2 -", '/api2: page size 3 overrides 7';
is page('/api2/countries/?page=last'), "25 1 - $V/api2/countries/?page=8", '/api2: page=last is page 9';
is page('/api2/countries/?page_size=50'), "25 8 $V/api2/countries/?page=2&page_size=50 -", '/api2: max 8 inherited';
is page('/api2/countries/?page_size=abc'), "25 3 $V/api2/countries/?page=2&page_size=abc -", '/api2: invalid page_size → 3';
{
    my $res = Apache::TestRequest::GET('/api2/');
    is $res->code . ' ' . $res->content, '200 ' . root_body("$V/api2"), '/api2/: root links below /api2';
    my ($r, $d) = get_json('/api2/countries/1/');
    is $r->code . ' ' . ($d && $d->{name} // ''), '200 Country 01', '/api2: detail route';
    ($r) = get_json('/api2/stats/');
    like $r->content, qr/^\{"countries":\[/, '/api2: stats route';
    is Apache::TestRequest::GET('/api2/nothing/')->content, '{"detail":"Not found."}', '/api2: unknown path → JSON 404';
    my $ua = Apache::TestRequest::user_agent();
    local $Apache::TestRequest::RedirectOK = 0;
    my $redir = $ua->request(HTTP::Request->new(GET => "$V/api2/countries?page=2"));
    is $redir->code . ' ' . (($redir->header('Location') // '') =~ s{^http://[^/]+}{}r), '301 /api2/countries/?page=2',
        '/api2: trailing-slash redirect stays below /api2';
    my $p = Apache::TestRequest::GET('/api2/countries/', Accept => 'application/json; indent=2');
    like $p->content, qr/^\{\n  "count": 25,\n  "next": "\Q$V\E\/api2\/countries\/\?page=2",\n/, '/api2: indent applies';
    is Apache::TestRequest::GET('/api2/countries/')->header('X-EcoAtlas-Cache'), undef,
        '/api2: EcoAtlasCache Off inherited from the vhost (no cache header)';
    is Apache::TestRequest::GET('/api/countries/')->header('X-EcoAtlas-Cache'), undef, '/api: no cache header';
}

# /small/api in the vhost: the server-level <Location> applies
is page('/small/api/countries/'), "25 10 $V/small/api/countries/?page=2 -", 'server-level /small/api in the vhost: 10';
is page('/small/api/countries/?page_size=50'), "25 20 $V/small/api/countries/?page=2&page_size=50 -",
    'server-level /small/api in the vhost: max 20';
is page('/small/api/countries/?page_size=15'), "25 15 $V/small/api/countries/?page=2&page_size=15 -",
    'server-level /small/api in the vhost: 15 allowed (max 20, not the vhost 8)';

# data is shared: a change is visible through every mount
db()->do(q{DELETE FROM core_country WHERE name > 'Country 20'});
is page('/api/countries/?page=3'), "20 6 - $V/api/countries/?page=2", 'vhost /api after a delete';
is page('/api2/countries/?page=last'), "20 2 - $V/api2/countries/?page=6", 'vhost /api2 after a delete';
Apache::TestRequest::module('default');
is page('/api/countries/'), '20 20 - -', 'main server after a delete';
is page('/small/api/countries/?page=2'), '20 10 - http://' . Apache::TestRequest::hostport() . '/small/api/countries/',
    'main server /small/api after a delete';
