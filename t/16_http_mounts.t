# The errors httpd itself raises are JSON under every kind of API mount
# (docs/decisions.md D12): here a <LocationMatch> (t/conf/extra.conf.in), whose
# routes are not served (the mount path is not known) but whose errors are
# the API's; outside any mount they stay httpd's own pages.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(decode_json_body);

plan tests => 4;

sub req {
    my ($method, $path) = @_;
    my $ua = Apache::TestRequest::user_agent();
    local $Apache::TestRequest::RedirectOK = 0;
    return $ua->request(HTTP::Request->new($method => Apache::TestRequest::resolve_url($path)));
}

for my $case (['/rx/api/countries/%zz/', 400], ['/rx/api/countries/a%2Fb/', 404]) {
    my ($path, $code) = @$case;
    my $res = req(GET => $path);
    my $d = decode_json_body($res);
    ok $res->code == $code && ($res->header('Content-Type') // '') eq 'application/json'
        && ref $d eq 'HASH' && defined $d->{detail} && keys(%$d) == 1,
        "GET $path → $code with a JSON {\"detail\"} body (<LocationMatch>)"
        or diag $res->code . ' ' . $res->content;
}
my $res = req(GET => '/elsewhere/%zz/');
is $res->code, 400, 'GET /elsewhere/%zz/ → 400';
isnt $res->header('Content-Type') // '', 'application/json', "... with httpd's own page outside the API";
