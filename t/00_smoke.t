# The module is loaded, configured through <Location>, reaches PostgreSQL
# and answers the API root with JSON.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(plan ok);
use Apache::TestUtil qw(t_cmp);
use EaTest qw(reset_db seed_fixture get_json);

plan tests => 6;

reset_db();
seed_fixture();

for my $root ('/api/', '/small/api/') {
    my ($res, $data) = get_json($root);
    ok t_cmp($res->code, 200, "GET $root status");
    ok t_cmp(scalar $res->header('Content-Type'), 'application/json', "GET $root content type");
    ok t_cmp(ref $data eq 'HASH' ? $data->{countries} : undef, qr{^http://[^/]+\Q${root}\Ecountries/$},
        "GET $root links to the country list");
}
