# PostgreSQL outage: while the database is down every read that needs it
# answers 503 with a JSON {"detail": …} body and Retry-After, quickly (no
# hang); once it is back the module recovers by itself — pooled connections
# that died with the old server included.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use LWP::UserAgent ();
use Time::HiRes qw(time sleep);
use EaTest qw(reset_db seed_fixture decode_json_body pg_stop pg_start);

my @urls = ('/api/countries/', '/api/countries/1/', '/api/regions/?country__iso3=BEN', '/api/hydro-sites/?dataset=1',
            '/api/hydro-sites/summary/', '/api/resource-metrics/timeseries/', '/api/climate-series/timeline/?variable=rainfall',
            '/api/stats/', '/api/stats/by_country/?iso3=BEN', '/small/api/datasets/');

plan tests => 2 * @urls + 6 * @urls + 2 * @urls + 2 + 2 + 2;

# A client with its own short timeout: a hanging server fails the test instead of stalling it.
my $ua = LWP::UserAgent->new(timeout => 15, max_redirect => 0);
sub fetch {
    my ($path) = @_;
    my $t0 = time;
    my $res = $ua->get(Apache::TestRequest::resolve_url($path));
    return ($res, time - $t0);
}

reset_db();
seed_fixture();

# 1. Warm up: several requests per URL, so that pooled connections exist in
#    several children (event and prefork alike).
my %body;
for my $path (@urls) {
    my @codes = map { (fetch($path))[0] } 1 .. 4;
    is join(',', map { $_->code } @codes), '200,200,200,200', "before the outage: GET $path → 200";
    $body{$path} = $codes[0]->content;
    is $codes[-1]->content, $body{$path}, "before the outage: GET $path stable";
}

# 2. Outage.
pg_stop();
for my $path (@urls) {
    my ($res, $elapsed) = fetch($path);
    is $res->code, 503, "database down: GET $path → 503";
    ok $elapsed < 5, sprintf('database down: GET %s answered in %.2f s (< 5 s)', $path, $elapsed);
    is scalar $res->header('Content-Type'), 'application/json', "database down: GET $path → application/json";
    my $d = decode_json_body($res);
    ok ref $d eq 'HASH' && defined $d->{detail} && !ref $d->{detail} && length $d->{detail} && keys(%$d) == 1,
        "database down: GET $path → {\"detail\": …}" or diag $res->content;
    like scalar $res->header('Retry-After') // '', qr/^[1-9][0-9]*$/, "database down: GET $path has Retry-After";
    my ($again) = fetch($path);
    is $again->code, 503, "database down: GET $path again → 503";
}

# 3. Recovery: each URL answers 200 again within ~5 s, with the same body.
pg_start();
for my $path (@urls) {
    my $deadline = time + 5;
    my $res;
    while (1) {
        ($res) = fetch($path);
        last if $res->code == 200 || time > $deadline;
        sleep 0.1;
    }
    is $res->code, 200, "database back: GET $path → 200 within 5 s";
    is $res->content, $body{$path}, "database back: GET $path → the same body";
}

# 4. Once recovered, no request fails: connections that died with the old
#    server (in every child's pool) are replaced without an error to the client.
{
    my @bad;
    for my $round (1 .. 6) {
        for my $path (@urls) {
            my ($res) = fetch($path);
            push @bad, "$path: " . $res->code if $res->code != 200;
        }
    }
    is scalar(@bad), 0, 'after recovery: 60 more GETs all 200' or diag join "\n", @bad;
    my ($res) = fetch('/api/countries/1/');
    like $res->content, qr/^\{"id":1,"name":"Benin"/, 'after recovery: data intact';
}

# 5. A second outage right after the first: the same behaviour.
pg_stop();
{
    my ($res, $elapsed) = fetch('/api/stats/');
    ok $res->code == 503 && $elapsed < 5, 'second outage: 503 quickly';
}
pg_start();
{
    my $deadline = time + 5;
    my $res;
    while (1) {
        ($res) = fetch('/api/stats/');
        last if $res->code == 200 || time > $deadline;
        sleep 0.1;
    }
    is $res->code, 200, 'second recovery: 200 within 5 s';
}

# 6. A restart with no request while PostgreSQL was down (docs/security.md, finding
#    9): every pooled connection is dead and nothing has noticed yet.  The
#    first request on each finds out when its statement fails, and runs it
#    again on a fresh connection: 200 at once, never 500 or 503.
for my $mode ('fast', 'immediate') {
    # warm the pools again (every child, every connection)
    fetch($_) for (@urls) x 2;
    system("$ENV{EA_PGBIN}/pg_ctl", '-D', $ENV{EA_PGDATA}, '-s', '-w', '-t', '60', '-m', $mode, 'stop') == 0
        or die "pg_ctl stop -m $mode failed";
    pg_start();
    my @bad;
    for my $path (@urls) {
        my ($res) = fetch($path);
        push @bad, "$path: " . $res->code . ' ' . $res->content if $res->code != 200;
    }
    is scalar(@bad), 0, "restart (-m $mode), first requests after it: all 200" or diag join "\n", @bad;
}
