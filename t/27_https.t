# HTTPS behind a proxy: EcoAtlasProxySSLHeader (trusted peers only),
# EcoAtlasSSLRedirect (301, query kept), HSTS on secure responses only, and
# absolute links with the scheme the client used (docs/decisions.md §2.4).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(reset_db seed_fixture country decode_json_body);

plan tests => 17;

reset_db();
seed_fixture();
country(name => "Country $_", iso2 => sprintf('%02d', $_), iso3 => sprintf('Y%02d', $_)) for 1 .. 3;

sub req {
    my ($module, $path, @headers) = @_;
    Apache::TestRequest::module($module);
    local $Apache::TestRequest::RedirectOK = 0;
    my %h = (Host => 'api.test', @headers);
    my $r = HTTP::Request->new(GET => Apache::TestRequest::resolve_url($path), [ %h ]);
    my $res = Apache::TestRequest::user_agent()->request($r);
    Apache::TestRequest::module('default');
    return $res;
}

# insecure request: redirected, no HSTS
{
    my $res = req('https_proxy', '/sapi/countries/?page_size=1&page=2');
    is $res->code, 301, 'plain http with EcoAtlasSSLRedirect: 301';
    is $res->header('Location'), 'https://api.test/sapi/countries/?page_size=1&page=2', 'to https, path and query kept';
    is $res->header('Strict-Transport-Security'), undef, 'no HSTS on an insecure response';
    is $res->header('X-Frame-Options'), 'DENY', 'security headers on the redirect too';
}

# the trusted proxy says https
{
    my $res = req('https_proxy', '/sapi/countries/?page_size=1&page=2', 'X-Forwarded-Proto' => 'https');
    is $res->code, 200, 'X-Forwarded-Proto: https from a trusted proxy: served';
    is $res->header('Strict-Transport-Security'), 'max-age=3600; includeSubDomains; preload', 'HSTS with both flags';
    my $d = decode_json_body($res);
    is $d->{next}, 'https://api.test/sapi/countries/?page=3&page_size=1', 'next link uses https';
    is $d->{previous}, 'https://api.test/sapi/countries/?page_size=1', 'previous link uses https';
    $res = req('https_proxy', '/sapi/', 'X-Forwarded-Proto' => 'HTTPS');
    like decode_json_body($res)->{countries} // '', qr{^https://api\.test/sapi/countries/$}, 'API root links use https (value case-insensitive)';
    $res = req('https_proxy', '/sapi/countries/', 'X-Forwarded-Proto' => 'http');
    is $res->code, 301, 'X-Forwarded-Proto: http → still redirected';
}

# the same header from a peer that is not a trusted proxy counts for nothing
{
    my $res = req('https_untrusted', '/sapi/countries/', 'X-Forwarded-Proto' => 'https');
    is $res->code, 301, 'header from an untrusted peer: redirected';
    is $res->header('Strict-Transport-Security'), undef, 'and no HSTS';
}

# the default server: no proxy header configured, nothing changes
{
    my $res = req('default', '/api/countries/?page_size=1', 'X-Forwarded-Proto' => 'https', Host => 'localhost');
    is $res->code, 200, 'default: 200';
    is $res->header('Strict-Transport-Security'), undef, 'default: no HSTS';
    like decode_json_body($res)->{next} // '', qr{^http://}, 'default: the header is not trusted, links stay http';
    $res = req('default', '/api/countries/', Host => 'localhost');
    is $res->code, 200, 'default: no redirect';
    is $res->header('Location'), undef, 'default: no Location';
}
