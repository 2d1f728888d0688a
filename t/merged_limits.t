# Configuration merging of the rate-limit directives of docs/directives.md
# (EcoAtlasRateLimitLogin, EcoAtlasThrottleBackend,
# EcoAtlasThrottleBackendFailure): server level vs <VirtualHost>
# (t/conf/extra.conf.in, "merged_limits" and "merged_limits_local"), and
# refused inside <Location> (server-level directives), checked with
# `httpd -t` on a small configuration.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use File::Temp qw(tempdir);

plan tests => 12;

my $sock = $ENV{EA_REDIS_SOCKET} or die;
sub rkeys { my ($db) = @_; my @k = split /\n/, `redis-cli -s '$sock' -n $db --scan --pattern 'ecoatlas:rl:*'`; scalar @k }
sub dbsizes { join ' ', map { `redis-cli -s '$sock' -n $_ DBSIZE` =~ s/\s+//gr } 0 .. 15 }

system('redis-cli', '-s', $sock, '-n', '6', 'FLUSHDB');

# merged_limits: its own backend (Redis db 6) and rate
Apache::TestRequest::module('merged_limits');
my $res = Apache::TestRequest::GET('/mapi/');
is $res->code, 200, 'merged_limits: answered';
is $res->header('RateLimit-Limit'), 4, 'EcoAtlasRateLimitAnon 4/min from the vhost';
is rkeys(6), 1, 'EcoAtlasThrottleBackend in the vhost: counted in Redis db 6';
my @rem = map { Apache::TestRequest::GET('/mapi/')->header('RateLimit-Remaining') } 1 .. 3;
is "@rem", '2 1 0', 'the Redis count goes on';

# merged_limits_local: same rate, EcoAtlasThrottleBackend local: nothing in Redis
Apache::TestRequest::module('merged_limits_local');
my $before = dbsizes();
$res = Apache::TestRequest::GET('/mapi/');
is $res->header('RateLimit-Limit'), 4, 'merged_limits_local: 4/min';
is $res->header('RateLimit-Remaining'), 3, 'its own count (the key is the same, the table another)';
is dbsizes(), $before, 'EcoAtlasThrottleBackend local: no Redis key written';

# the main server: local (default), its own generous rate
Apache::TestRequest::module('default');
$before = dbsizes();
is Apache::TestRequest::GET('/api/')->header('RateLimit-Limit'), 1000000, 'main server: its rate';
is dbsizes(), $before, 'main server: the default backend is local';

# server-level only: refused inside <Location>, with the directive named
my $dir = tempdir(CLEANUP => 1);
my $httpd = -x "$ENV{EA_BUILD}/t-run/httpd-asan" ? "$ENV{EA_BUILD}/t-run/httpd-asan" : ($ENV{EA_HTTPD} || '/usr/sbin/apache2');
my $mods = `bash '$ENV{EA_TOP}/t/services' loadmodules prefork`;
for my $d ('EcoAtlasThrottleBackend local', 'EcoAtlasThrottleBackendFailure closed', 'EcoAtlasRateLimitLogin 5/min') {
    open my $f, '>', "$dir/t.conf" or die;
    print {$f} "ServerRoot $dir\nPidFile $dir/p\nErrorLog $dir/e\n$mods\nLoadModule ecoatlas_module \"$ENV{EA_MODULE}\"\n"
        . "Listen 127.0.0.1:1\n<Location /api>\n    $d\n</Location>\n";
    close $f;
    my $out = `ASAN_OPTIONS=detect_leaks=0 '$httpd' -t -f '$dir/t.conf' 2>&1`;
    my ($name) = split ' ', $d;
    like $out, qr/\Q$name\E not allowed in <Location> context/, "$name is refused in <Location>";
}
