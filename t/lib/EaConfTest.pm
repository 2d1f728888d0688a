package EaConfTest;

# Helpers for the tests that run httpd themselves, outside Apache::Test's
# server (t/61_debian.t, t/62_conf_errors.t, t/63_docker.t): the httpd
# binary (with the ASan runtime preloaded when the module needs it), a free
# port, a shell command's output and status, the module's directive names.

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET ();
use File::Temp ();

our @EXPORT_OK = qw(httpd_cmd free_port run_cmd directives module_path wait_port);

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

1;
