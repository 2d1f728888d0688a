# Rate limits (decision D7): DRF's 429 body and Retry-After, RateLimit-*
# headers, a fresh client's whole allowance at once, and never more than N
# admitted in the window however many httpd children and threads serve the
# requests (several client processes hitting the server at once).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(reset_db seed_fixture decode_json_body);

plan tests => 25;

reset_db();
seed_fixture();

sub get_on {
    my ($module, $path) = @_;
    Apache::TestRequest::module($module);
    my $res = Apache::TestRequest::GET($path);
    Apache::TestRequest::module('default');
    return $res;
}

# 5/min: the whole allowance at once, then 429
{
    my @codes;
    my @remaining;
    for (1 .. 5) {
        my $res = get_on('throttle', '/tapi/stats/');
        push @codes, $res->code;
        push @remaining, $res->header('RateLimit-Remaining') // 'none';
    }
    is "@codes", '200 200 200 200 200', 'a fresh client gets its 5 at once';
    is "@remaining", '4 3 2 1 0', 'RateLimit-Remaining counts down';
    my $res = get_on('throttle', '/tapi/stats/');
    is $res->code, 429, 'the 6th in the minute: 429';
    my $ra = $res->header('Retry-After') // 0;
    ok $ra >= 1 && $ra <= 60, "Retry-After in whole seconds, 1..60 ($ra)";
    is_deeply decode_json_body($res),
        { detail => "Request was throttled. Expected available in $ra second" . ($ra == 1 ? '' : 's') . '.' },
        "DRF's message with the same number of seconds";
    is $res->header('Content-Type'), 'application/json', '429: JSON';
    is $res->header('RateLimit-Limit'), 5, '429: RateLimit-Limit';
    is $res->header('RateLimit-Remaining'), 0, '429: RateLimit-Remaining 0';
    ok(($res->header('RateLimit-Reset') // 0) >= 1, '429: RateLimit-Reset');
    is $res->header('X-Frame-Options'), 'DENY', '429: security headers too';
    is get_on('throttle', '/tapi/countries/')->code, 429, 'every route of the host is throttled';
    is get_on('throttle', '/tapi/nothing-here/')->code, 429, 'even unknown paths count';
}

# the main server has its own (generous) limit: its count is another one
{
    my $res = Apache::TestRequest::GET('/api/stats/');
    is $res->code, 200, 'another host with another limit: not throttled';
    is $res->header('RateLimit-Limit'), 1000000, 'its own RateLimit-Limit';
}

# concurrent clients: 4 processes × 8 requests against 12/hour → exactly 12 admitted
{
    my $url = do {
        Apache::TestRequest::module('throttle_par');
        my $u = Apache::TestRequest::resolve_url('/tapi/stats/');
        Apache::TestRequest::module('default');
        $u;
    };
    pipe my $rd, my $wr or die;
    my @pids;
    for my $p (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            require LWP::UserAgent;
            my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
            my @c = map { $ua->get($url)->code } 1 .. 8;
            print {$wr} "@c\n";
            close $wr;
            require POSIX;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    close $wr;
    my @all = map { split ' ' } <$rd>;
    waitpid $_, 0 for @pids;
    is scalar @all, 32, '32 answers from 4 concurrent clients';
    is scalar(grep { $_ == 200 } @all), 12, 'exactly 12 admitted, whatever the children and threads';
    is scalar(grep { $_ == 429 } @all), 20, 'the other 20 refused with 429';
    is join(' ', grep { $_ != 200 && $_ != 429 } @all), '', 'nothing else';
}

# a preflight is answered before the limits and is not counted
{
    Apache::TestRequest::module('throttle');
    my $req = HTTP::Request->new(OPTIONS => Apache::TestRequest::resolve_url('/tapi/stats/'),
        [ Origin => 'http://x.example', 'Access-Control-Request-Method' => 'GET' ]);
    my $res = Apache::TestRequest::user_agent()->request($req);
    Apache::TestRequest::module('default');
    is $res->code, 200, 'a throttled client still gets its preflight answered';
    is $res->header('RateLimit-Limit'), undef, 'the preflight did not go through the limits';
    is get_on('throttle', '/tapi/stats/')->code, 429, 'and the client is still throttled';
}

# apachectl graceful keeps the counts: the shared table outlives the generation
{
    my $before = Apache::TestRequest::GET('/api/stats/')->header('RateLimit-Remaining');
    my $pidfile = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $pid = <$fh>);
    ok kill('USR1', $pid), 'graceful restart signalled';
    sleep 1;   # let the old generation stop taking connections
    my $after;
    for (1 .. 50) {   # until the new generation answers
        select undef, undef, undef, 0.1;
        my $res = Apache::TestRequest::GET('/api/stats/');
        next unless $res->code == 200;
        $after = $res->header('RateLimit-Remaining');
        last;
    }
    ok defined $after, 'answers after the graceful restart';
    ok defined $after && $after < $before, "the count went on ($before before, $after after), not reset";
    open my $log, '<', Apache::Test::vars('t_logs') . '/error_log' or die;
    ok scalar(grep { /rate limits: counts kept over the restart/ } <$log>), 'the new generation reused the table';
}
