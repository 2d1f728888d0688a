# EcoAtlasRateLimitLogin (docs/directives.md): the login endpoints count
# attempts per client address and per username; over the limit, the same
# 429 as the other limits.  <VirtualHost login_limit>: 3/hour.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(reset_db decode_json_body);

plan tests => 11;

reset_db();
Apache::TestRequest::module('login_limit');
my $base = Apache::TestRequest::resolve_url('/lapi');
Apache::TestRequest::module('default');
my $ua = Apache::TestRequest::user_agent();
sub login {
    my ($path, $user) = @_;
    my $req = HTTP::Request->new(POST => "$base$path", [ 'Content-Type' => 'application/json' ],
        qq({"username":"$user","password":"wrong"}));
    return $ua->request($req);
}

my @codes = map { login('/auth/token/', 'alice')->code } 1 .. 3;
is "@codes", '400 400 400', '3 attempts within the limit: invalid credentials (400)';
my $res = login('/auth/token/', 'alice');
is $res->code, 429, 'the 4th in the hour: 429';
my $ra = $res->header('Retry-After') // 0;
ok $ra > 3500 && $ra <= 3600, "Retry-After about an hour ($ra)";
is_deeply decode_json_body($res),
    { detail => "Request was throttled. Expected available in $ra seconds." }, "DRF's message";
is $res->header('RateLimit-Limit'), 3, 'RateLimit-Limit of the login limit';
is $res->header('RateLimit-Remaining'), 0, 'RateLimit-Remaining 0';
is $res->header('Content-Type'), 'application/json', '429: JSON';
# the client address is over its limit: another username does not help
is login('/auth/token/', 'bob')->code, 429, 'same client, another username: still 429';
is login('/auth/login/', 'carol')->code, 429, 'the session login endpoint shares the limit';
# other API routes are not login attempts
is Apache::TestRequest::GET("$base/countries/")->code, 200, 'reads are not limited by the login limit';
# the main server: its own (default 10/min) count
is login_main(), 400, 'another host: its own login count';
sub login_main {
    my $req = HTTP::Request->new(POST => Apache::TestRequest::resolve_url('/api/auth/token/'),
        [ 'Content-Type' => 'application/json' ], '{"username":"alice","password":"wrong"}');
    return $ua->request($req)->code;
}
