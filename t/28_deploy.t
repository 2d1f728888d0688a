# The deploy check (docs/operations.md): the module's [warn] lines at startup
# for the weak hosts of t/conf/extra.conf, once each, and
# `ecoatlas check --deploy` on sample configuration files (the same ids and
# texts; exit 1 with issues, 0 and Django's "no issues" line without).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);

plan tests => 22;

# Apache::Test rewrites "<VirtualHost name>" to "<VirtualHost _default_:PORT>":
# find each host's line in the generated file by its port.
my $conf = Apache::Test::vars('t_conf') . '/extra.conf';
my %line;   # vhost name => line of its <VirtualHost>
{
    my %by_port;
    for my $v (qw(cors_all cors_creds cors_list https_proxy https_untrusted deploy_weak throttle)) {
        my $port = Apache::Test::vars("${v}_port") or next;
        $by_port{$port} = $v;
    }
    open my $cfh, '<', $conf or die "$conf: $!";
    while (<$cfh>) {
        $line{ $by_port{$1} } = $. if /^\s*<VirtualHost\s+\S+:(\d+)>/ && $by_port{$1};
    }
    close $cfh;
}

open my $lfh, '<', Apache::Test::vars('t_logs') . '/error_log' or die;
my @log = grep { /ecoatlas\.W\d{3}/ } <$lfh>;
close $lfh;

sub count {
    my ($re) = @_;
    return scalar grep { /$re/ } @log;
}
# Lines for the first start only (a later graceful restart logs them again).
# Lines are logged once per start (a later graceful restart logs them again).
my $starts = count(qr/ecoatlas\.W030: vhost at \S*\/t\/conf\/extra\.conf:$line{cors_all}: /);
ok $starts >= 1 && count(qr/ecoatlas\.W009: main server/) == 0,
    "the test server's strong EcoAtlasSecretKey: no W009; $starts start(s) logged";
for my $v (qw(cors_all cors_creds https_proxy https_untrusted deploy_weak)) {
    ok exists $line{$v}, "found <VirtualHost $v> in $conf";
}
my $at = sub { my ($v) = @_; qr/vhost at \S*\/t\/conf\/extra\.conf:$line{$v}: / };
is count(qr/\[ecoatlas:warn\] .*ecoatlas\.W030: ${\ $at->('cors_all')}EcoAtlasCORSAllowAllOrigins is On/), $starts,
    'W030 for cors_all, once per start';
is count(qr/ecoatlas\.W030: ${\ $at->('cors_creds')}/), $starts, 'W030 for cors_creds';
is count(qr/ecoatlas\.W030: ${\ $at->('cors_list')}/), 0, 'no W030 for a list of origins';
for my $v (qw(https_proxy https_untrusted)) {
    is count(qr/ecoatlas\.W012: ${\ $at->($v)}.*set EcoAtlasSessionCookieSecure On$/), $starts, "W012 for $v";
    is count(qr/ecoatlas\.W016: ${\ $at->($v)}.*set EcoAtlasCSRFCookieSecure On$/), $starts, "W016 for $v";
    is count(qr/ecoatlas\.W0(04|08): ${\ $at->($v)}/), 0, "$v has HSTS and the redirect: no W004/W008";
}
my @weak = map { /ecoatlas\.(W\d+): ${\ $at->('deploy_weak')}/ ? $1 : () } @log;
is join(' ', sort @weak[0 .. 4]), 'W004 W008 W012 W016 W018', 'deploy_weak: debug, HSTS 0, no redirect, cookies';
is count(qr/ecoatlas\.W0\d\d: vhost at \S*:$line{throttle}: /), 0, 'a plain HTTP host with defaults: nothing';

# ---- ecoatlas check --deploy ---------------------------------------------------------
my $cli = $ENV{EA_CLI} or die 'EA_CLI not set';
my $dir = tempdir(CLEANUP => 1);
sub write_file { my ($p, $t) = @_; open my $f, '>', $p or die; print {$f} $t; close $f; }
sub run_check {
    my ($file) = @_;
    local $ENV{ASAN_OPTIONS} = 'detect_leaks=0';
    my $out = `'$cli' check --deploy -f '$file' 2>&1`;
    return ($? >> 8, $out);
}
my $key = 'Zq8Xw2Lp9Tr5Vn1Bm7Hc4Jd6Fg3Ks0Yu-a1b2c3d4e5f6g7h8i9j0';
mkdir "$dir/sites";
write_file("$dir/strong.conf", <<"CONF");
ServerName api.example.org
EcoAtlasSecretKey "$key"
IncludeOptional $dir/sites/*.conf
CONF
write_file("$dir/sites/api.conf", <<'CONF');
<VirtualHost *:443>
    SSLEngine on
    EcoAtlasHSTSSeconds 31536000
    EcoAtlasSSLRedirect On
    EcoAtlasSessionCookieSecure On
    EcoAtlasCSRFCookieSecure On
    EcoAtlasCORSAllowedOrigins https://app.example.org
    <Location /api>
        SetHandler ecoatlas-api
        EcoAtlasDebug Off
    </Location>
</VirtualHost>
CONF
my ($rc, $out) = run_check("$dir/strong.conf");
is $rc, 0, 'strong configuration: exit 0';
is $out, "System check identified no issues.\n", "strong configuration: Django's line";

write_file("$dir/weak.conf", <<"CONF");
EcoAtlasSecretKey short
Include $dir/weak-sites/
CONF
mkdir "$dir/weak-sites";
write_file("$dir/weak-sites/a.conf", <<'CONF');
<VirtualHost *:443>
    SSLEngine on
    <Location /api>
        SetHandler ecoatlas-api
        EcoAtlasDebug On
    </Location>
</VirtualHost>
<VirtualHost *:80>
    EcoAtlasCORSAllowAllOrigins On
</VirtualHost>
CONF
($rc, $out) = run_check("$dir/weak.conf");
is $rc, 1, 'weak configuration: exit 1';
my $a = "$dir/weak-sites/a.conf";
is $out, <<"OUT", 'weak configuration: every weakness, once, with its id, host and directive';
System check identified some issues:

WARNINGS:
ecoatlas.W009: main server: the secret key is weak (fewer than 50 characters or fewer than 5 distinct ones): set EcoAtlasSecretKey to a long random string
ecoatlas.W018: vhost at $a:1: EcoAtlasDebug is On: error responses show internal details; set EcoAtlasDebug Off in production
ecoatlas.W004: vhost at $a:1: HTTPS host without HSTS: set EcoAtlasHSTSSeconds (e.g. 31536000) once the whole site is served over HTTPS
ecoatlas.W008: vhost at $a:1: HTTPS host that does not redirect plain HTTP: set EcoAtlasSSLRedirect On
ecoatlas.W012: vhost at $a:1: HTTPS host with a session cookie sent over plain HTTP too: set EcoAtlasSessionCookieSecure On
ecoatlas.W016: vhost at $a:1: HTTPS host with a CSRF cookie sent over plain HTTP too: set EcoAtlasCSRFCookieSecure On
ecoatlas.W030: vhost at $a:8: EcoAtlasCORSAllowAllOrigins is On: every web site may read the API from its visitors' browsers; list the origins in EcoAtlasCORSAllowedOrigins instead

System check identified 7 issues.
OUT
($rc, $out) = run_check("$dir/missing.conf");
ok $rc == 1 && $out =~ /cannot read the Apache configuration: cannot open \Q$dir\E\/missing\.conf/,
    'unreadable file: exit 1 and why';
