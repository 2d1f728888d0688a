use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# `apache2 -t` with a wrong value for EACH directive of the module fails
# with a message naming it; every directive is in the example site (active)
# and in docs/directives.md.  The list of directives is read from the
# module's sources, so a new directive without a bad value here fails.

use Test::More;
use File::Temp ();
use EaConfTest qw(httpd_cmd run_cmd directives module_path);

my @directives = directives();

# A key file with mode $mode (group or other access is refused: docs/security.md).
my $keydir = File::Temp::tempdir(CLEANUP => 1);
sub keyfile {
    my ($mode) = @_;
    my $f = sprintf '%s/key-%04o', $keydir, $mode;
    open my $fh, '>', $f or die $!;
    print {$fh} 'k' . join('', map { ('a' .. 'z', 0 .. 9)[$_ % 36] } 1 .. 60), "\n";
    close $fh;
    chmod $mode, $f or die $!;
    return $f;
}

# Bad values: one or more per directive (each must be refused).
my %bad = (
    EcoAtlasPageSize => ['0', '10001', 'ten'],
    EcoAtlasMaxPageSize => ['-1', '1e3'],
    EcoAtlasDebug => ['maybe'],
    EcoAtlasQueryTimeout => ['0', 'soon', '3601'],
    EcoAtlasMaxExports => ['0', '-2', 'few', '100001'],
    EcoAtlasSearchTimeout => ['0', '0.001', 'fast', '3601'],
    EcoAtlasRateLimitAnon => ['5/fortnight', 'many/day', '5'],
    EcoAtlasRateLimitUser => ['0/day/x', 'x'],
    EcoAtlasThrottleEntries => ['3', 'lots'],
    EcoAtlasProxySSLHeader => ['X-Forwarded-Proto', 'X-Forwarded-Proto https 300.1.1.1'],
    EcoAtlasSSLRedirect => ['yes'],
    EcoAtlasHSTSSeconds => ['-1', 'year'],
    EcoAtlasHSTSIncludeSubdomains => ['1'],
    EcoAtlasHSTSPreload => ['true'],
    EcoAtlasAllowedHosts => ['"bad host"', 'a/b'],
    EcoAtlasCORSAllowAllOrigins => ['all'],
    EcoAtlasCORSAllowedOrigins => ['ftp://x.example', 'not-an-origin'],
    EcoAtlasCORSAllowCredentials => ['sometimes'],
    EcoAtlasCache => ['perhaps'],
    EcoAtlasCacheSize => ['12Q', '100K'],
    EcoAtlasCacheMaxEntry => ['big', '100', '2G'],
    # directives other work adds (used once they are in the module)
    EcoAtlasMaxBodySize => ['lots', '-1'],
    EcoAtlasSecretKey => ['short'],
    EcoAtlasSecretKeyFile => ['/nonexistent/ecoatlas-secret', keyfile(0640), keyfile(0620), keyfile(0604),
                              keyfile(0602), keyfile(0610)],
    EcoAtlasTokenName => ['""'],
    EcoAtlasSessionCookieSecure => ['maybe'],
    EcoAtlasCSRFCookieSecure => ['maybe'],
    EcoAtlasCSRFTrustedOrigins => ['not-an-origin'],
    EcoAtlasRateLimitLogin => ['5/fortnight'],
    EcoAtlasThrottleBackend => ['http://redis.example'],
    EcoAtlasThrottleBackendFailure => ['sometimes'],
    EcoAtlasBrokerURL => ['http://redis.example'],
    EcoAtlasResultBackend => ['http://redis.example'],
    EcoAtlasTaskAlwaysEager => ['maybe'],
    EcoAtlasTaskTimeLimit => ['-1', 'forever'],
    EcoAtlasImportDir => ['relative/imports', '/nonexistent/ecoatlas-imports'],
    EcoAtlasMetrics => ['sometimes'],
);

plan tests => 6 + @directives;

my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $httpd = httpd_cmd();
my $mods = $ENV{EA_HTTPD_MODULES} // '/usr/lib/apache2/modules';
my $module = module_path();
my $head = <<"EOF";
ServerRoot "$tmp"
ServerName localhost
PidFile "$tmp/httpd.pid"
ErrorLog "$tmp/error.log"
Listen 127.0.0.1:1
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule dbd_module $mods/mod_dbd.so
LoadModule ecoatlas_module "$module"
DBDriver pgsql
DBDParams "host=/nonexistent dbname=x"
EOF

sub configtest {
    my ($body) = @_;
    open my $fh, '>', "$tmp/httpd.conf" or die $!;
    print $fh $head, $body;
    close $fh;
    return run_cmd("'$httpd' -t -f '$tmp/httpd.conf'");
}

my ($rc, $out) = configtest("<Location /api>\n    SetHandler ecoatlas-api\n</Location>\n");
is("$rc", '0', 'the base configuration passes') or diag($out);

for my $d (@directives) {
    my $values = $bad{$d};
    if (!$values) {
        fail("$d: no bad value known: add one to %bad in t/62_conf_errors.t");
        next;
    }
    my @e;
    for my $v (@$values) {
        # server-wide first, then (when that passed) inside <Location> for
        # directives allowed there
        my ($rc, $out) = configtest("$d $v\n");
        if ($rc == 0 || $out !~ /\Q$d\E/) {
            push @e, "'$d $v': exit $rc, " . ($out =~ s/\s+/ /gr);
        }
    }
    is_deeply(\@e, [], "$d: " . join(', ', @$values) . ' refused with a message naming it') or diag(join "\n", @e);
}

# EcoAtlasImportDir is checked when httpd starts and in configtest: it
# must exist and be writable by the children (here: this user).
{
    mkdir "$tmp/ro", 0555 or die "$tmp/ro: $!";
    chmod 0555, "$tmp/ro";
    mkdir "$tmp/rw", 0750 or die "$tmp/rw: $!";
    my @got;
    for my $d ("$tmp/nope", "$tmp/ro", "$tmp/rw") {
        my ($rc, $out) = configtest("EcoAtlasImportDir $d\n");
        my ($why) = $out =~ /^EA\d{5}: EcoAtlasImportDir \Q$d\E: ([^;]*);/m;
        push @got, $rc == 0 ? 'ok' : "refused: " . ($why // $out =~ s/\s+/ /gr);
    }
    is_deeply(\@got, ['refused: No such file or directory', 'refused: not writable by this user (Permission denied)', 'ok'],
              'EcoAtlasImportDir: a missing or unwritable directory fails configtest, naming the directive');
}

# A key file its owner alone can read is accepted (0600 and 0400).
{
    my @e;
    for my $mode (0600, 0400) {
        my ($rc, $out) = configtest("EcoAtlasSecretKeyFile " . keyfile($mode) . "\n");
        push @e, sprintf('%04o: exit %d, %s', $mode, $rc, $out) if $rc != 0;
    }
    is_deeply(\@e, [], 'EcoAtlasSecretKeyFile: an owner-only key file (0600, 0400) is accepted') or diag(join "\n", @e);
}

# Every directive: active in the example site, documented in directives.md.
my $site = do { local (@ARGV, $/) = "$ENV{EA_TOP}/conf/ecoatlas-site.conf.example"; <> };
# the secrets file holds the key; EcoAtlasSecretKey is the alternative to the file
my $secrets = do { local (@ARGV, $/) = "$ENV{EA_TOP}/conf/ecoatlas-secrets.conf.example"; <> };
my %alternative = (EcoAtlasSecretKey => 'EcoAtlasSecretKeyFile');
my $docs = do { local (@ARGV, $/) = "$ENV{EA_TOP}/docs/directives.md"; <> };
is_deeply([grep { my $d = $alternative{$_} // $_; "$site$secrets" !~ /^\s*\Q$d\E\s/m } @directives], [],
          'every directive of the module is set (not commented out) in the example site or secrets file');
is_deeply([grep { $docs !~ /^## .*\b\Q$_\E\b/m } @directives], [], 'every directive has a section in docs/directives.md');

# The example's commented-out directives are the ones still to come; once
# the module has one, the line above fails until it is uncommented.
my @commented = "$site$secrets" =~ /^\s*#(EcoAtlas\w+)/mg;
is_deeply([grep { !$bad{$_} } @commented], [],
          'every commented-out directive of the example has bad values ready here');
