# EcoAtlasThrottleBackend (docs/directives.md): two more httpd instances
# ("nodes"), started here on free ports with the same module, share one
# limit through the test Redis ($EA_REDIS_SOCKET): exactly N admitted in
# total, then 429 on both.  Redis stopped: each node counts locally (fail
# open), a host with EcoAtlasThrottleBackendFailure closed answers 503; the
# outage is logged once.  Redis back: the shared limit again, on every
# child at once (the back-off is the node's, not each child's).  Redis
# restarted between two requests: the children's pooled connections are
# stale, and no request falls back to local counting for it.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use EaTest qw(decode_json_body);
use IO::Socket::INET ();
use LWP::UserAgent ();
use File::Path qw(make_path);
use Time::HiRes qw(sleep time);

plan tests => 33;

my $top = $ENV{EA_TOP} or die 'EA_TOP';
my $build = $ENV{EA_BUILD} or die 'EA_BUILD';
my $sock = $ENV{EA_REDIS_SOCKET} or die 'EA_REDIS_SOCKET';
my $redis_dir = "$build/t-run/redis";
my $mpm = eval { Apache::Test::config()->{server}{mpm} } || 'event';
my $httpd = -x "$build/t-run/httpd-asan" ? "$build/t-run/httpd-asan" : ($ENV{EA_HTTPD} || '/usr/sbin/apache2');
my $run = "$build/t-run/nodes-$mpm";
make_path($run);

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1) or die;
    my $p = $s->sockport;
    close $s;
    return $p;
}
sub redis { system('redis-cli', '-s', $sock, @_) == 0 }
sub services { system('bash', "$top/t/services", @_) == 0 }

my $modules = `bash '$top/t/services' loadmodules $mpm`;
my @nodes;
for my $n (1, 2) {
    my %node = (name => "node$n", open => free_port(), closed => free_port(), dir => "$run/node$n");
    make_path("$node{dir}/logs");
    my $conf = "$node{dir}/httpd.conf";
    open my $f, '>', $conf or die;
    print {$f} <<"CONF";
ServerRoot $node{dir}
PidFile $node{dir}/httpd.pid
ErrorLog $node{dir}/logs/error_log
LogLevel warn ecoatlas:notice
ServerName 127.0.0.1
$modules
LoadModule ecoatlas_module "$ENV{EA_MODULE}"
TypesConfig /etc/mime.types
DBDriver pgsql
DBDParams "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}"
DBDMin 0
DBDKeep 1
DBDMax 4
StartServers 2
EcoAtlasSecretKey "$ENV{EA_SECRET_KEY}"
EcoAtlasThrottleBackend unix://$sock?db=5
EcoAtlasRateLimitAnon 7/min
Listen 127.0.0.1:$node{open}
Listen 127.0.0.1:$node{closed}
<Location /api>
    SetHandler ecoatlas-api
    EcoAtlasAllowedHosts *
    EcoAtlasCache Off
</Location>
<VirtualHost 127.0.0.1:$node{closed}>
    EcoAtlasThrottleBackendFailure closed
</VirtualHost>
CONF
    close $f;
    $node{conf} = $conf;
    push @nodes, \%node;
}

my $ua = LWP::UserAgent->new(timeout => 10, keep_alive => 0);
sub get { my ($node, $which) = @_; $ua->get("http://127.0.0.1:$node->{$which}/api/") }
sub error_log { my ($node) = @_; open my $f, '<', "$node->{dir}/logs/error_log" or return ''; local $/; <$f> }

ok redis('-n', '5', 'FLUSHDB'), 'a clean Redis database for the nodes';
for my $node (@nodes) {
    system($httpd, '-f', $node->{conf}, '-k', 'start');
    my $up = 0;
    for (1 .. 100) { if (get($node, 'open')->code == 200) { $up = 1; last } sleep 0.1 }
    ok $up, "$node->{name} started (ports $node->{open}, $node->{closed})";
}
# the probes above were counted: start from a clean window
redis('-n', '5', 'FLUSHDB');

# ---- one limit for both nodes ---------------------------------------------------------
{
    my (@codes, @remaining);
    for my $i (0 .. 11) {
        my $res = get($nodes[$i % 2], 'open');
        push @codes, $res->code;
        push @remaining, $res->header('RateLimit-Remaining') // '-';
    }
    is "@codes", '200 200 200 200 200 200 200 429 429 429 429 429', 'exactly 7 admitted across both nodes, then 429 on both';
    is "@remaining", '6 5 4 3 2 1 0 0 0 0 0 0', 'one count: RateLimit-Remaining goes down across nodes';
    my $res = get($nodes[1], 'open');
    my $ra = $res->header('Retry-After') // 0;
    ok $ra >= 1 && $ra <= 60, "Retry-After 1..60 ($ra)";
    is_deeply decode_json_body($res),
        { detail => "Request was throttled. Expected available in $ra second" . ($ra == 1 ? '' : 's') . '.' },
        "the local backend's DRF body";
    is $res->header('RateLimit-Limit'), 7, 'RateLimit-Limit';
    ok(($res->header('RateLimit-Reset') // 0) >= 1, 'RateLimit-Reset');
    is get($nodes[0], 'closed')->code, 429, 'the closed-mode host shares the count while Redis is up';
    my $keys = `redis-cli -s '$sock' -n 5 --scan --pattern 'ecoatlas:rl:*'`;
    my @k = split /\n/, $keys;
    is scalar(@k), 1, 'one Redis key for the client';
    like $k[0] // '', qr/^ecoatlas:rl:[0-9a-f]{32}$/, 'the key name is a hash, not the address';
    my $ttl = `redis-cli -s '$sock' -n 5 PTTL '$k[0]'`;
    ok $ttl > 0 && $ttl <= 60000, "the key expires with the window ($ttl ms)";
}

# ---- Redis down -------------------------------------------------------------------------
ok services('redis-down', $redis_dir), 'Redis stopped';
{
    my $t0 = time;
    my @r = map { get($nodes[0], 'open') } 1 .. 3;
    my $spent = time - $t0;
    is join(' ', map { $_->code } @r), '200 200 200', 'fail open: node1 admits with its local limits';
    is join(' ', map { $_->header('RateLimit-Remaining') // '-' } @r), '6 5 4', "node1's own local count";
    ok $spent < 3, sprintf('no request hangs on the dead backend (3 requests in %.2f s)', $spent);
    is get($nodes[1], 'open')->header('RateLimit-Remaining'), 6, "node2 counts on its own";
    my $res = get($nodes[0], 'closed');
    is $res->code, 503, 'EcoAtlasThrottleBackendFailure closed: 503';
    is $res->header('Retry-After'), 5, '503 with Retry-After';
    is_deeply decode_json_body($res),
        { detail => 'The rate-limit service is unavailable. Try again in a few seconds.' }, '503: JSON detail';
    is $res->header('Content-Type'), 'application/json', '503: JSON';
    get($nodes[$_ % 2], 'open') for 1 .. 20;
    my $warned = () = error_log($nodes[0]) =~ /\[ecoatlas:warn\] .*Redis backend unix:\S+ unreachable/g;
    is $warned, 1, 'node1 logged the outage once (not per request, not per child)';
}

# ---- Redis back -------------------------------------------------------------------------
ok services('redis-up', $redis_dir, $sock), 'Redis restarted';
{
    # the back-off is at most 5 s: wait until node1's answers come from Redis
    # (an empty database: 6 left, where node1's local count is lower)
    my $back = 0;
    for (1 .. 80) {
        my $res = get($nodes[0], 'closed');
        if ($res->code == 200) { $back = 1; last }
        sleep 0.1;
    }
    ok $back, 'the closed-mode host answers again once Redis is back';
    # node2 has not been asked since: its back-off (at most 5 s) may still run
    my $back2 = 0;
    for (1 .. 80) {
        redis('-n', '5', 'FLUSHDB');
        if ((get($nodes[1], 'open')->header('RateLimit-Remaining') // -1) == 6) { $back2 = 1; last }
        sleep 0.1;
    }
    ok $back2, "node2 counts in Redis again (6 left, where its local count is spent)";
    # the first child that reached Redis ended the back-off for its node:
    # every child of both nodes counts in Redis now
    redis('-n', '5', 'FLUSHDB');
    my @codes = map { get($nodes[$_ % 2], 'open')->code } 0 .. 9;
    is "@codes", '200 200 200 200 200 200 200 429 429 429', 'shared limit again: 7 across both nodes';
    like error_log($nodes[0]), qr/\[ecoatlas:notice\] .*Redis backend unix:\S+ answers again/, 'the recovery is logged';
}

# ---- Redis restarted between two requests ------------------------------------------------
{
    # every child now holds pooled connections to the Redis that goes away
    get($nodes[$_ % 2], 'open') for 1 .. 16;
    ok services('redis-down', $redis_dir) && services('redis-up', $redis_dir, $sock),
        'Redis restarted while no request was running';
    my @codes = map { get($nodes[$_ % 2], 'open') } 0 .. 7;
    is join(' ', map { $_->code } @codes), '200 200 200 200 200 200 200 429',
        'stale pooled connections are replaced at once: the shared count of an empty Redis';
    is join(' ', map { $_->header('RateLimit-Remaining') // '-' } @codes), '6 5 4 3 2 1 0 0',
        'no request counted locally';
    my $warned = () = error_log($nodes[0]) =~ /\[ecoatlas:warn\] .*Redis backend unix:\S+ unreachable/g;
    $warned += () = error_log($nodes[1]) =~ /\[ecoatlas:warn\] .*Redis backend unix:\S+ unreachable/g;
    is $warned, 2, 'no outage logged for the restart (one per node, from the real outage above)';
}

for my $node (@nodes) {
    system($httpd, '-f', $node->{conf}, '-k', 'stop');
}
sleep 0.5;
my $bad = 0;
for my $node (@nodes) {
    my @lines = grep { /\[(\w+:)?(error|crit|alert|emerg)\]|AddressSanitizer|runtime error/ } split /\n/, error_log($node);
    $bad += @lines;
    diag $_ for @lines;
}
is $bad, 0, 'no errors in the nodes\' logs';
