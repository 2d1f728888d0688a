# CORS as django-cors-headers behaved (docs/decisions.md §4): Vary: Origin always;
# allow headers only for allowed origins (exact match after normalisation);
# preflights answered with an empty 200 before anything else; the headers on
# error responses too, so that a browser can read them.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(reset_db seed_fixture);

plan tests => 41;

reset_db();
seed_fixture();

sub req {
    my ($module, $method, $path, @headers) = @_;
    Apache::TestRequest::module($module);
    my $req = HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), [@headers]);
    $req->header('Content-Length' => 0) if $method eq 'POST';
    my $res = Apache::TestRequest::user_agent()->request($req);
    Apache::TestRequest::module('default');
    return $res;
}
sub acao { $_[0]->header('Access-Control-Allow-Origin') // '(none)' }
sub vary_origin { (($_[0]->header('Vary') // '') =~ /\bOrigin\b/i) ? 1 : 0 }

# default server: CORS off, Vary still there
{
    my $res = req('default', GET => '/api/countries/', Origin => 'http://localhost:5173');
    is $res->code, 200, 'off: 200';
    is acao($res), '(none)', 'off: no Access-Control-Allow-Origin';
    is vary_origin($res), 1, 'off: Vary: Origin';
}

# a list of origins
{
    my $res = req('cors_list', GET => '/api/countries/', Origin => 'http://localhost:5173');
    is acao($res), 'http://localhost:5173', 'list: allowed origin echoed';
    is $res->header('Access-Control-Allow-Credentials'), undef, 'list: no credentials header';
    is vary_origin($res), 1, 'list: Vary: Origin';
    $res = req('cors_list', GET => '/api/countries/', Origin => 'https://app.example.org');
    is acao($res), 'https://app.example.org', 'list: normalised config entry (case, default port, slash) matches';
    for my $o ('http://localhost:5174', 'http://localhost', 'https://localhost:5173',
               'http://localhost:5173.evil.com', 'https://app.example.org.evil.com',
               'https://evil.com/https://app.example.org', 'null') {
        $res = req('cors_list', GET => '/api/countries/', Origin => $o);
        is acao($res), '(none)', "list: '$o' refused (no substring or prefix match)";
    }
    $res = req('cors_list', GET => '/api/countries/');
    is acao($res), '(none)', 'list: no Origin, no CORS headers';
    is $res->code, 200, 'list: no Origin, normal answer';
}

# preflight: answered with an empty 200, allow headers only for allowed origins
{
    my @pf = ('Access-Control-Request-Method' => 'POST', 'Access-Control-Request-Headers' => 'authorization, content-type');
    my $res = req('cors_list', OPTIONS => '/api/hydro-sites/', Origin => 'http://localhost:5173', @pf);
    is $res->code, 200, 'preflight: 200';
    is $res->content, '', 'preflight: empty body';
    is $res->header('Content-Length'), 0, 'preflight: Content-Length 0';
    is acao($res), 'http://localhost:5173', 'preflight: origin echoed';
    is $res->header('Access-Control-Allow-Methods'), 'DELETE, GET, OPTIONS, PATCH, POST, PUT', 'preflight: methods';
    like $res->header('Access-Control-Allow-Headers') // '', qr/authorization/, 'preflight: allow-headers include authorization';
    like $res->header('Access-Control-Allow-Headers') // '', qr/content-type/, 'preflight: allow-headers include content-type';
    is $res->header('Access-Control-Max-Age'), 86400, 'preflight: max-age 86400';
    $res = req('cors_list', OPTIONS => '/api/hydro-sites/', Origin => 'http://evil.example', @pf);
    is $res->code, 200, 'preflight from a refused origin: 200 as django-cors-headers';
    is acao($res), '(none)', 'preflight from a refused origin: no allow-origin';
    is $res->header('Access-Control-Allow-Methods'), undef, 'preflight from a refused origin: no allow-methods';
    $res = req('cors_list', OPTIONS => '/api/nowhere/', Origin => 'http://localhost:5173', @pf);
    is $res->code, 200, 'preflight on any path under the API: 200';
    $res = req('cors_list', OPTIONS => '/api/countries/', Origin => 'http://localhost:5173');
    is $res->code, 200, 'plain OPTIONS (no request method): DRF metadata';
    like $res->content, qr/"name":"Country List"/, 'plain OPTIONS: metadata body';
}

# allow-all, with and without credentials
{
    my $res = req('cors_all', GET => '/api/stats/', Origin => 'https://anything.example');
    is acao($res), '*', 'allow-all: *';
    is $res->header('Access-Control-Allow-Credentials'), undef, 'allow-all: no credentials header';
    $res = req('cors_creds', GET => '/api/stats/', Origin => 'https://anything.example');
    is acao($res), 'https://anything.example', 'allow-all + credentials: origin echoed, never *';
    is $res->header('Access-Control-Allow-Credentials'), 'true', 'allow-all + credentials: true';
}

# error responses keep the headers (a browser must be able to read them)
{
    my $res = req('cors_list', POST => '/api/countries/', Origin => 'http://localhost:5173');
    is $res->code, 401, 'error: 401';
    is acao($res), 'http://localhost:5173', 'error 401: allow-origin present';
    $res = req('cors_list', GET => '/api/countries/999/', Origin => 'http://localhost:5173');
    is $res->code, 404, 'error: 404';
    is acao($res), 'http://localhost:5173', 'error 404: allow-origin present';
    $res = req('cors_list', GET => '/api/countries/?page=99', Origin => 'http://localhost:5173');
    is vary_origin($res), 1, 'error: Vary: Origin';
    $res = req('cors_list', GET => '/api/countries/%zz/', Origin => 'http://localhost:5173');
    is $res->code, 400, "httpd's own 400 under the API";
    is acao($res), 'http://localhost:5173', "httpd's own 400: allow-origin present";
}
