# The headers Django's security middleware put on every response (contract
# §4): on successes and on every kind of error under /api, including the
# errors httpd raises itself before the module's handler runs.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(reset_db seed_fixture);

my %want = (
    'X-Content-Type-Options'     => 'nosniff',
    'Referrer-Policy'            => 'same-origin',
    'Cross-Origin-Opener-Policy' => 'same-origin',
    'X-Frame-Options'            => 'DENY',
);
my @cases = (
    [ GET  => '/api/countries/',                  {},                            200 ],
    [ GET  => '/api/hydro-sites/export/',         {},                            200 ],
    [ GET  => '/api/hydro-sites/?status=nope',    {},                            400 ],
    [ GET  => '/api/countries/999/',              {},                            404 ],
    [ GET  => '/api/no-such-route/',              {},                            404 ],
    [ GET  => '/api/countries/',                  { Accept => 'application/pdf' }, 406 ],
    [ POST => '/api/stats/',                      {},                            405 ],
    [ POST => '/api/countries/',                  {},                            401 ],
    [ GET  => '/api/countries',                   {},                            301 ],
    [ GET  => '/api/countries/%zz/',              {},                            400 ],
);
plan tests => @cases * (1 + keys %want);

reset_db();
seed_fixture();
for my $c (@cases) {
    my ($method, $path, $headers, $status) = @$c;
    local $Apache::TestRequest::RedirectOK = 0;
    my $req = HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), [ %$headers ]);
    $req->header('Content-Length' => 0) if $method eq 'POST';
    my $res = Apache::TestRequest::user_agent()->request($req);
    is $res->code, $status, "$method $path → $status";
    for my $h (sort keys %want) {
        is $res->header($h), $want{$h}, "$method $path: $h";
    }
}
