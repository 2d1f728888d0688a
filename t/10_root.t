# API root (docs/decisions.md §2.2): exact body, absolute URLs from the request's
# Host header, key order = router registration order; the same under
# /small/api (routes are relative to the <Location>).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(reset_db seed_fixture root_body);

plan tests => 16;

reset_db();
seed_fixture();

my $HP = Apache::TestRequest::hostport();

# /api/
{
    my $res = Apache::TestRequest::GET('/api/');
    is $res->code, 200, 'GET /api/ → 200';
    is $res->content, root_body("http://$HP/api"), 'GET /api/: exact body, registration order';
    is scalar $res->header('Content-Type'), 'application/json', 'GET /api/: Content-Type application/json, no charset';
    like scalar $res->header('Vary') // '', qr/(^|,\s*)Accept(\s*,|$)/i, 'GET /api/: Vary includes Accept';
    is scalar $res->header('Allow'), 'GET, HEAD, OPTIONS', 'GET /api/: Allow';
    is $res->header('Content-Length'), length($res->content), 'GET /api/: Content-Length';
}

# /small/api/
{
    my $res = Apache::TestRequest::GET('/small/api/');
    is $res->code, 200, 'GET /small/api/ → 200';
    is $res->content, root_body("http://$HP/small/api"), 'GET /small/api/: links below /small/api';
}

# the Host header names the host of every link; scheme http
{
    my $res = Apache::TestRequest::GET('/api/', Host => 'atlas.example.org:8000');
    is $res->code, 200, 'GET /api/ with Host: atlas.example.org:8000 → 200';
    is $res->content, root_body('http://atlas.example.org:8000/api'), 'links use the Host header';
}

# a query string does not change the root
{
    my $res = Apache::TestRequest::GET('/api/?page=7&search=x');
    is $res->code, 200, 'GET /api/?page=7&search=x → 200';
    is $res->content, root_body("http://$HP/api"), 'query string ignored by the root';
}

# the root answers without any data too
reset_db();
{
    my $res = Apache::TestRequest::GET('/api/');
    is $res->code, 200, 'GET /api/ on an empty database → 200';
    is $res->content, root_body("http://$HP/api"), 'same body on an empty database';
}

# Accept: application/json; indent=4 pretty-prints the root
{
    my $res = Apache::TestRequest::GET('/api/', Accept => 'application/json; indent=4');
    is $res->code, 200, 'GET /api/ indent=4 → 200';
    my $exp = "{\n" . join(",\n", map { qq{    "$_": "http://$HP/api/$_/"} }
        qw(countries regions datasets hydro-sites resource-metrics climate-series stats)) . "\n}";
    is $res->content, $exp, 'GET /api/ indent=4: DRF json.dumps(indent=4, separators=(",", ": "))';
}
