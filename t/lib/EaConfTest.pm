package EaConfTest;

# Helpers for the tests that run httpd themselves, outside Apache::Test's
# server (t/61_debian.t, t/62_conf_errors.t, t/63_docker.t, t/67, t/68): the
# httpd binary (with the ASan runtime preloaded when the module needs it), a
# free port, a shell command's output and status, the module's directive
# names; a one-child event httpd's configuration, and clients slow to read.

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes ();
use File::Temp ();

our @EXPORT_OK = qw(httpd_cmd free_port run_cmd directives module_path wait_port
                    write_event_conf slow_request read_all parse_response);

sub module_path { return $ENV{EA_MODULE} // "$ENV{EA_BUILD}/mod_ecoatlas/.libs/mod_ecoatlas.so" }

my $wrapper;

# The httpd to run: /usr/sbin/apache2, or a wrapper that preloads libasan
# when the module was built with sanitizers (as t/apache-tests does).
sub httpd_cmd {
    my $httpd = $ENV{EA_HTTPD} // '/usr/sbin/apache2';
    return $wrapper if $wrapper;
    my ($asan) = `ldd '${\ module_path()}' 2>/dev/null` =~ /(\S*libasan\S*)\s+=>\s+(\S+)/ ? ($2) : ();
    return $httpd unless $asan;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    $wrapper = "$dir/httpd-asan";
    open my $fh, '>', $wrapper or die "$wrapper: $!";
    print $fh "#!/bin/sh\nexport LD_PRELOAD=\"$asan\${LD_PRELOAD:+:\$LD_PRELOAD}\"\n",
              "export ASAN_OPTIONS=\"detect_leaks=0\${ASAN_OPTIONS:+:\$ASAN_OPTIONS}\"\n",
              "exec '$httpd' \"\$@\"\n";
    close $fh;
    chmod 0755, $wrapper;
    return $wrapper;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Run a shell command; returns (exit status, stdout+stderr).
sub run_cmd {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# Wait until something listens on 127.0.0.1:$port (at most $secs seconds).
sub wait_port {
    my ($port, $secs) = @_;
    for (1 .. ($secs // 20) * 10) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
        if ($s) { close $s; return 1 }
        select(undef, undef, undef, 0.1);
    }
    return 0;
}

# Every directive the module's sources declare (AP_INIT_* lines).
sub directives {
    my %d;
    for my $f (glob "$ENV{EA_TOP}/mod_ecoatlas/*.c") {
        open my $fh, '<', $f or die "$f: $!";
        local $/;
        my $src = <$fh>;
        $d{$1} = 1 while $src =~ /AP_INIT_[A-Z0-9_]+\(\s*"(EcoAtlas\w+)"/g;
    }
    return sort keys %d;
}

# $dir/httpd.conf for an httpd of one event child with $threads threads, a
# 16 KB send buffer (smaller than a page: a client that does not read
# blocks the writer), the API on /api of the test database without cache
# lookups or rate limits, and $pool: mod_dbd's pool directives.
sub write_event_conf {
    my ($dir, $port, $threads, $pool) = @_;
    my $mods = $ENV{EA_HTTPD_MODULES} // '/usr/lib/apache2/modules';
    my $module = module_path();
    open my $fh, '>', "$dir/httpd.conf" or die "$dir/httpd.conf: $!";
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName 127.0.0.1
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error.log"
LogLevel warn
Listen 127.0.0.1:$port
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule dbd_module $mods/mod_dbd.so
LoadModule ecoatlas_module "$module"
StartServers 1
ServerLimit 1
ThreadsPerChild $threads
MaxRequestWorkers $threads
MinSpareThreads 1
MaxSpareThreads $threads
SendBufferSize 16384
Timeout 60
DBDriver pgsql
DBDParams "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}"
DBDMin 0
$pool
EcoAtlasSecretKey "$ENV{EA_SECRET_KEY}"
EcoAtlasRateLimitAnon off
<Location /api>
    SetHandler ecoatlas-api
    EcoAtlasAllowedHosts 127.0.0.1
    EcoAtlasCache Off
</Location>
CONF
    close $fh;
    return "$dir/httpd.conf";
}

# A request to 127.0.0.1:$port from a client with a 2 KB receive buffer,
# whose answer is not read until read_all().
sub slow_request {
    my ($port, $path, $method) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die $!;
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 2048) or die $!;
    $s->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1'))) or die "connect: $!";
    print {$s} ($method // 'GET') . " $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    return $s;
}

# Everything the server sends until it closes, within $secs.
sub read_all {
    my ($s, $secs) = @_;
    my ($data, $until, $sel) = ('', Time::HiRes::time() + $secs, IO::Select->new($s));
    while (Time::HiRes::time() < $until) {
        last unless $sel->can_read($until - Time::HiRes::time());
        my $n = sysread($s, my $chunk, 65536);
        last unless $n;
        $data .= $chunk;
    }
    return $data;
}

# Status, headers (lower-case names) and body of a response read whole,
# with a chunked body decoded; the body is undef when its chunks are cut off.
sub parse_response {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my ($out, $rest, $done) = ('', $body // '', 0);
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
            my $n = hex $1;
            if ($n == 0) { $done = 1; last }
            last if length $rest < $n + 2;
            $out .= substr($rest, 0, $n);
            $rest = substr($rest, $n + 2);
        }
        $body = $done ? $out : undef;
    }
    return ($status // 0, \%h, $body);
}

1;
