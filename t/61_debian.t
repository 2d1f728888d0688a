use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# What docs/operations.md tells a newcomer on Debian 12, done in a scratch
# copy of /etc/apache2: make install (DESTDIR), a2enmod ecoatlas (Debian's
# own script, pointed at the copy by its APACHE_CONFDIR variables), a site
# from the installed example vhost, apache2ctl configtest, httpd started as
# this unprivileged user on a free port, the API called, httpd stopped.

use Test::More;
use File::Temp ();
use File::Path qw(make_path);
use LWP::UserAgent ();
use JSON::PP ();
use EaTest qw(reset_db seed_fixture root_body);
use EaConfTest qw(httpd_cmd free_port run_cmd wait_port);

plan tests => 14;

my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $root = "$tmp/root";                  # DESTDIR: the machine's / after make install
my $etc = "$root/etc/apache2";           # the scratch copy of /etc/apache2
make_path("$root/etc", "$tmp/run", "$tmp/lock", "$tmp/log", "$tmp/state");
my ($rc, $out) = run_cmd("cp -R /etc/apache2 '$root/etc/' && chmod -R u+w '$etc'");
is("$rc", '0', 'a scratch copy of /etc/apache2') or diag($out);

# ---- make install ------------------------------------------------------------------
($rc, $out) = run_cmd("make -C '$ENV{EA_BUILD}' install DESTDIR='$root' 2>&1");
my ($apxs_sysconf) = `apxs -q SYSCONFDIR 2>/dev/null` =~ /(\S+)/;
my ($apxs_libexec) = `apxs -q LIBEXECDIR 2>/dev/null` =~ /(\S+)/;
my $load = slurp("$root$apxs_sysconf/mods-available/ecoatlas.load") // '';
ok($rc == 0 && $apxs_sysconf eq '/etc/apache2' && -f "$root$apxs_libexec/mod_ecoatlas.so"
       && -f "$root$apxs_sysconf/mods-available/ecoatlas.conf",
   "make install: the module into $apxs_libexec, ecoatlas.load/.conf into $apxs_sysconf/mods-available "
   . '(where a2enmod looks by default)') or diag($out);
like($load, qr{\A# Depends: dbd\n(?:#.*\n)*LoadModule ecoatlas_module \Q$apxs_libexec\E/mod_ecoatlas\.so\n}m,
     'ecoatlas.load: "# Depends: dbd" first, LoadModule with the installed path');

# The copy's runtime directories, port and module path point into $tmp.
my $port = free_port();
edit("$etc/envvars", sub {
    s{^export APACHE_(RUN_DIR|LOCK_DIR|LOG_DIR|PID_FILE)=.*$}{
        my %d = (RUN_DIR => "$tmp/run", LOCK_DIR => "$tmp/lock", LOG_DIR => "$tmp/log",
                 PID_FILE => "$tmp/run/apache2.pid");
        "export APACHE_$1=$d{$1}" }gem;
    # apache2ctl chowns its runtime directories to the run user: this one
    my ($u, $g) = (scalar getpwuid($<), scalar getgrgid($());
    s{^export APACHE_RUN_USER=.*$}{export APACHE_RUN_USER=$u}m;
    s{^export APACHE_RUN_GROUP=.*$}{export APACHE_RUN_GROUP=$g}m;
});
write_file("$etc/ports.conf", "Listen 127.0.0.1:$port\n");
edit("$etc/mods-available/ecoatlas.load", sub {
    s{^LoadModule ecoatlas_module \S+}{LoadModule ecoatlas_module $root$apxs_libexec/mod_ecoatlas.so}m });

# ---- a2enmod ecoatlas (Debian's script, on the copy) ----------------------------------
my $env = "APACHE_CONFDIR='$etc' APACHE_STATE_DIRECTORY='$tmp/state'";
($rc, $out) = run_cmd("$env /usr/sbin/a2enmod ecoatlas");
ok($rc == 0 && readlink("$etc/mods-enabled/ecoatlas.load") eq '../mods-available/ecoatlas.load'
       && -l "$etc/mods-enabled/ecoatlas.conf" && -e "$etc/mods-enabled/dbd.load",
   'a2enmod ecoatlas: ecoatlas.load and .conf enabled, and mod_dbd with them (Depends)') or diag($out);

# ---- a site from the installed example -------------------------------------------------
my $prefix_examples = (glob("$root/*/share/mod_ecoatlas/conf"), glob("$root/*/*/share/mod_ecoatlas/conf"))[0];
my $site = slurp("$prefix_examples/ecoatlas-site.conf.example");
my $secrets = slurp("$prefix_examples/ecoatlas-secrets.conf.example");
ok(defined $site && defined $secrets, "examples installed ($prefix_examples)");
$site //= '';
$secrets //= '';
# As the operations guide says: the secrets file with your DBDParams, the
# site with your port; /etc/apache2 is the copy here.
$secrets =~ s{^DBDParams .*$}{DBDParams "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}"}m;
$secrets =~ s{/etc/apache2/}{$etc/}g;
write_file("$etc/ecoatlas-secrets.conf", $secrets);
# the secret key file, as the secrets example says
write_file("$etc/ecoatlas-secret-key", join('', map { ('a'..'z', 'A'..'Z', 0..9)[rand 62] } 1 .. 64));
chmod 0600, "$etc/ecoatlas-secret-key";
chmod 0600, "$etc/ecoatlas-secrets.conf";
$site =~ s{/etc/apache2/}{$etc/}g;
$site =~ s{<VirtualHost \*:80>}{<VirtualHost *:$port>};
write_file("$etc/sites-available/ecoatlas.conf", $site);
($rc, $out) = run_cmd("$env /usr/sbin/a2dissite 000-default; $env /usr/sbin/a2ensite ecoatlas");
ok(-l "$etc/sites-enabled/ecoatlas.conf" && !-e "$etc/sites-enabled/000-default.conf",
   'a2ensite ecoatlas (000-default disabled)') or diag($out);

# ---- apache2ctl configtest ----------------------------------------------------------------
my $httpd = httpd_cmd();
($rc, $out) = run_cmd("$env APACHE_HTTPD='$httpd' /usr/sbin/apache2ctl configtest");
like("$rc $out", qr/^0 .*Syntax OK/s, 'apache2ctl configtest: Syntax OK') or diag($out);

# ---- start as this user, call the API, stop ------------------------------------------------
reset_db();
my $f = seed_fixture();
my $start = ". '$etc/envvars' && exec '$httpd' -d '$etc' -k";
($rc, $out) = run_cmd("$env sh -c \"$start start\"");
my $up = $rc == 0 && wait_port($port, 30);
ok($up, "httpd started from the copy on 127.0.0.1:$port") or diag($out, slurp("$tmp/log/error.log") // '');

# The example site sits behind a TLS proxy: requests come as the proxy
# sends them (127.0.0.1 is a trusted proxy there).
my $ua = LWP::UserAgent->new(timeout => 10, max_redirect => 0);
$ua->default_header('X-Forwarded-Proto' => 'https');
my $res = $ua->get("http://localhost:$port/api/countries/");
my $data = eval { JSON::PP->new->utf8->decode($res->content) } || {};
is(join(' ', $res->code, $data->{count} // '-', $data->{results}[0]{iso3} // '-'), '200 1 BEN',
   'GET /api/countries/ through the Debian site');
$res = $ua->get("http://localhost:$port/api/");
is($res->code . ' ' . $res->content, '200 ' . root_body("https://localhost:$port/api"), 'the API root');
$res = $ua->get("http://localhost:$port/api/schema/", 'Host' => 'evil.example');
my $plain = LWP::UserAgent->new(timeout => 10, max_redirect => 0)->get("http://localhost:$port/api/stats/");
is(join(' ', $res->code, $plain->code, $plain->header('Location') // '-'),
   "400 301 https://localhost:$port/api/stats/",
   "a Host outside the example's EcoAtlasAllowedHosts: 400; plain http: 301 to https");

($rc, $out) = run_cmd("$env sh -c \"$start stop\"");
my $pidfile = "$tmp/run/apache2.pid";
for (1 .. 100) { last unless -e $pidfile; select(undef, undef, undef, 0.1) }
ok(!-e $pidfile, 'httpd stopped') or diag($out);

# The example's ErrorLogFormat gives the old "[LEVEL] timestamp logger: message".
my $log = slurp("$tmp/log/error.log") // '';
my $vlog = slurp("$tmp/log/ecoatlas-error.log") // '';
my @bad = grep { /\[(?:warn|error|crit|alert|emerg)\]/ && !/AH00558/ && !/refused Host header 'evil\.example'/ } split /\n/, "$log\n$vlog";
like($log, qr/^\[notice\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} mpm_event: /m,
     'error log lines as "[level] timestamp module: message"') or diag($log);
is_deeply(\@bad, [], 'no warning or error in the error log');

sub slurp {
    my ($p) = @_;
    open my $fh, '<', $p or return undef;
    local $/;
    return <$fh>;
}

sub write_file {
    my ($p, $text) = @_;
    open my $fh, '>', $p or die "$p: $!";
    print $fh $text;
    close $fh or die "$p: $!";
}

sub edit {
    my ($p, $code) = @_;
    local $_ = slurp($p) // die "$p: $!";
    $code->();
    write_file($p, $_);
}
