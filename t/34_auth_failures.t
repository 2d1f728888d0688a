# Failed credentials are rate-limited like login attempts (beyond DRF): a
# client sending unknown tokens gets 401s up to EcoAtlasRateLimitLogin,
# then DRF's 429; while it is over the limit, keys the credential cache
# does not know are refused without a database lookup, and keys it knows
# keep working.  <VirtualHost login_limit>: 3/hour.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(reset_db seed_fixture decode_json_body user_token);

plan tests => 10;

reset_db();
seed_fixture();
Apache::TestRequest::module('login_limit');
my $base = Apache::TestRequest::resolve_url('/lapi');
Apache::TestRequest::module('default');
my $ua = Apache::TestRequest::user_agent();
sub get {
    my ($key) = @_;
    return $ua->request(HTTP::Request->new(GET => "$base/countries/",
        [ defined $key ? (Authorization => "Token $key") : () ]));
}
sub random_key { join '', map { sprintf '%02x', int rand 256 } 1 .. 20 }

my $good = user_token('known');
is get($good)->code, 200, 'a valid token (now in the credential cache)';
my @codes = map { get(random_key())->code } 1 .. 3;
is "@codes", '401 401 401', 'three unknown keys: 401 each';
my $res = get(random_key());
is $res->code, 429, 'the fourth failure in the hour: 429';
my $ra = $res->header('Retry-After') // 0;
ok $ra > 3500 && $ra <= 3600, "Retry-After about an hour ($ra)";
is_deeply decode_json_body($res), { detail => "Request was throttled. Expected available in $ra seconds." },
    "DRF's message";
$res = get(random_key());
is $res->code, 429, 'further unknown keys: 429 (refused before any database lookup)';
like $res->header('Retry-After') // '', qr/^\d+$/, '... with Retry-After';
is get($good)->code, 200, 'a key the cache knows still works';
is get(undef)->code, 200, 'anonymous requests are not affected';
is $ua->request(HTTP::Request->new(GET => "$base/countries/", [Authorization => 'Token a b']))->code, 429, 'a malformed header from the same client: 429 too';
