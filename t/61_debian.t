use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# docs/operations.md section 11 (installing on Debian 12), followed
# literally: its ```sh blocks are run as they are written, in order, by
# bash with `set -e`, in a scratch root.  Nothing the guide does not say is
# prepared beforehand.  What differs from a real machine, and only that:
#
#  - paths: /etc/apache2, /etc/ecoatlas, /etc/systemd, /var/lib/ecoatlas,
#    /usr/local, /root, /tmp and the module's install path live under the
#    scratch root ($root); the PostgreSQL socket directory /run/postgresql
#    is a scratch cluster's (initdb -U postgres, like Debian's); Redis at
#    127.0.0.1:6379 is the test Redis; port 80 is a free port;
#  - the tests run unprivileged, so: apt-get checks that the packages named
#    are the ones the guide needs (the machine has them: ./dev installs
#    them); useradd and chown do nothing; `su postgres -c CMD` and
#    `runuser -u USER -- CMD` run CMD as this user connecting to PostgreSQL
#    as that role (PGUSER: trust authentication stands in for peer);
#    install drops -o/-g; systemctl starts the unit's ExecStart= as its
#    User= (PGUSER) in the background; apache2ctl and a2enmod work on the
#    scratch /etc/apache2 (APACHE_CONFDIR), whose envvars run httpd as
#    this user with its runtime directories in the scratch root;
#  - the build line: the tree is already built (make install DESTDIR=$root).

use Test::More;
use File::Temp ();
use File::Path qw(make_path);
use File::Find ();
use DBI ();
use EaTest qw(root_body);
use EaConfTest qw(httpd_cmd free_port run_cmd);

plan tests => 17;

my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $root = "$tmp/root";
my $etc = "$root/etc/apache2";
my $pgsock = "$tmp/pgsock";
my $port = free_port();
my $redis = "unix://$ENV{EA_REDIS_SOCKET}?db=9";
# What any Debian 12 system with systemd has (the rest comes from the guide)
make_path("$root/etc/systemd/system", "$root/var/lib", "$root/root", "$root/tmp",
          "$tmp/run", "$tmp/lock", "$tmp/log", "$tmp/state", $pgsock);

# ---- the guide's section 11 ------------------------------------------------------------------
my $ops = slurp("$ENV{EA_TOP}/docs/operations.md") // '';
my ($sec) = $ops =~ /^## 11\. [^\n]*\n(.*?)^## 12\. /ms;
my @blocks = ($sec // '') =~ /^ *```sh\n(.*?)^ *```\n/msg;
s/^   //mg for @blocks;              # the blocks are indented in a list
ok(@blocks >= 5, scalar(@blocks) . ' shell blocks in section 11');
my $script = join "\n", @blocks;

# Packages: the ones the rest of the guide (and the example files) rely on.
my ($apt) = $script =~ /^apt-get install -y ((?:[^\n\\]|\\\n)*)$/m;
my %apt = map { $_ => 1 } split ' ', ($apt // '') =~ s/\\\n/ /gr;
my @need = qw(apache2 apache2-dev libaprutil1-dbd-pgsql postgresql redis-server curl libcairo2-dev
              libfontconfig-dev libyaml-pp-perl nodejs npm check autoconf automake libtool pkg-config);
is_deeply([grep { !$apt{$_} } @need], [], 'step 1 installs every package the installation needs (redis-server, postgresql, curl, ...)');

# The build line becomes make install into the scratch root.
my $build = './autogen.sh && ./configure && make && make install';
ok($script =~ s/^\Q$build\E$/ea_make_install/m, 'step 1 builds and installs with autogen, configure, make, make install');

# ---- the scratch root: /etc/apache2 as the apache2 package leaves it --------------------------------
my ($rc, $out) = run_cmd("cp -R /etc/apache2 '$root/etc/' && chmod -R u+w '$etc'");
die "scratch copy of /etc/apache2: $out" if $rc;
edit("$etc/envvars", sub {
    my %d = (RUN_DIR => "$tmp/run", LOCK_DIR => "$tmp/lock", LOG_DIR => "$tmp/log", PID_FILE => "$tmp/run/apache2.pid");
    s{^export APACHE_(RUN_DIR|LOCK_DIR|LOG_DIR|PID_FILE)=.*$}{export APACHE_$1=$d{$1}}gm;
    # apache2ctl makes its runtime directories for the run user: this one
    my ($u, $g) = (scalar getpwuid($<), scalar getgrgid($());
    s{^export APACHE_RUN_USER=.*$}{export APACHE_RUN_USER=$u}m;
    s{^export APACHE_RUN_GROUP=.*$}{export APACHE_RUN_GROUP=$g}m;
});

# A scratch PostgreSQL cluster like Debian's: superuser postgres, a socket
# in its own directory (the port only names the socket file).
($rc, $out) = run_cmd("'$ENV{EA_PGBIN}/initdb' -D '$tmp/pg' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync"
                      . " && printf \"listen_addresses = ''\\nunix_socket_directories = '$pgsock'\\nfsync = off\\n\""
                      . " >>'$tmp/pg/postgresql.conf'"
                      . " && '$ENV{EA_PGBIN}/pg_ctl' -D '$tmp/pg' -l '$tmp/pg.log' -w -t 60 start");
die "scratch PostgreSQL: $out" if $rc;

# Paths and addresses of a real machine -> the scratch root's.
my $libexec = `apxs -q LIBEXECDIR 2>/dev/null` =~ s/\s+//gr;
my @map = (
    [qr{(?<![\w/])/etc/(apache2|ecoatlas|systemd)\b}, sub { "$root/etc/$1" }],
    [qr{(?<![\w/])/var/lib/ecoatlas\b},               sub { "$root/var/lib/ecoatlas" }],
    [qr{(?<![\w/])/usr/local/},                       sub { "$root/usr/local/" }],
    [qr{(?<![\w/])\Q$libexec\E/mod_ecoatlas\.so},     sub { "$root$libexec/mod_ecoatlas.so" }],
    [qr{(?<![\w/])/root/},                            sub { "$root/root/" }],
    [qr{(?<![\w/])/run/postgresql\b},                 sub { $pgsock }],
    [qr{redis://127\.0\.0\.1:6379/0},                 sub { $redis }],
    [qr{http://127\.0\.0\.1/},                        sub { "http://127.0.0.1:$port/" }],
    [qr{<VirtualHost \*:80>},                         sub { "<VirtualHost *:$port>" }],
    [qr{^Listen 80$}m,                                sub { "Listen 127.0.0.1:$port" }],
);
sub map_paths { my ($t) = @_; for my $m (@map) { my ($re, $to) = @$m; $t =~ s/$re/$to->()/ge } return $t }
$script =~ s{(?<![\w/])/tmp/}{$root/tmp/}g;      # (in the guide only: $tmp is under /tmp)
$script = map_paths($script);

# The stand-ins (see the top of this file), then the guide's blocks.
my $httpd = httpd_cmd();
my $prelude = <<"EOF";
set -e
export PATH='$root/usr/local/sbin:$root/usr/local/bin':"\$PATH"
export APACHE_CONFDIR='$etc' APACHE_STATE_DIRECTORY='$tmp/state' APACHE_HTTPD='$httpd'
export ECOATLAS_MIGRATIONS_DIR='$root/usr/local/share/mod_ecoatlas/migrations'
export PGHOST='$pgsock'
unset PGUSER PGDATABASE PGPORT ECOATLAS_CONFIG
ea_make_install() { :; }          # done by the test before (make install DESTDIR)
apt-get() { :; }
useradd() { :; }
chown() { :; }
su() { [ "\$1" = postgres ] && [ "\$2" = -c ] && PGUSER=postgres sh -c "\$3"; }
runuser() { [ "\$1" = -u ] && [ "\$3" = -- ] || return 1; local u=\$2; shift 3; PGUSER=\$u "\$@"; }
install() {
    local a=()
    while [ \$# -gt 0 ]; do case \$1 in -o|-g) shift 2 ;; *) a+=("\$1"); shift ;; esac; done
    command install "\${a[@]}"
}
systemctl() {
    case "\$*" in
        daemon-reload) ;;
        "enable --now "*)
            local unit='$root/etc/systemd/system/'\$3.service user exec
            user=\$(sed -n 's/^User=//p' "\$unit")
            exec=\$(sed -n 's/^ExecStart=//p' "\$unit")
            echo "\$user" >'$tmp/worker.user'
            PGUSER=\$user \$exec >'$tmp/worker.log' 2>&1 &
            echo \$! >'$tmp/worker.pid' ;;
        *) echo "systemctl \$*: no stand-in" >&2; return 1 ;;
    esac
}
EOF
# make install (the build line), then the installed files and the scratch
# /etc/apache2 get the scratch root's paths too.
($rc, $out) = run_cmd("make -s -C '$ENV{EA_BUILD}' install DESTDIR='$root'");
die "make install: $out" if $rc;
File::Find::find({ no_chdir => 1, wanted => sub {
    return unless -f $_ && !-l $_ && -T $_;
    my $t = slurp($_) // return;
    my $n = map_paths($t);
    return if $n eq $t;
    my $mode = (stat $_)[2] & 07777;
    write_file($_, $n);
    chmod $mode, $_;
} }, $root);

write_file("$tmp/install.sh", "$prelude\n$script");
($rc, $out) = run_cmd("cd '$ENV{EA_TOP}' && bash '$tmp/install.sh'");
is("$rc", '0', 'section 11 runs to its end (set -e)') or diag($out, slurp("$tmp/log/error.log") // '',
                                                             slurp("$tmp/worker.log") // '');

# ---- what it did --------------------------------------------------------------------------------------
my $load = slurp("$etc/mods-available/ecoatlas.load") // '';
like($load, qr{\A# Depends: dbd\n(?:#.*\n)*LoadModule ecoatlas_module \Q$root$libexec\E/mod_ecoatlas\.so\n}m,
     'make install: ecoatlas.load ("# Depends: dbd" first, LoadModule with the installed path) in mods-available');
ok((grep { -e "$etc/mods-enabled/$_.load" } qw(dbd ecoatlas remoteip)) == 3 && -l "$etc/mods-enabled/ecoatlas.conf"
       && -l "$etc/sites-enabled/ecoatlas.conf",
   'a2enmod dbd ecoatlas remoteip, a2ensite ecoatlas');

my @out = split /\n/, $out;
my ($root_line) = grep { /^\{"countries":/ } @out;
is($root_line // $out, root_body('https://atlas.example.org/api'),
   "step 6's curl (Host, X-Forwarded-Proto: https from the proxy): the API root");
my @records = grep { /^\{"task_id":/ } @out;
is(join("\n", map { /"name":"(\w+)".*"status":"(\w+)"/ ? "$1 $2" : $_ } @records),
   "generate_metric_snapshot SUCCESS\nimport_resources SUCCESS",
   'a snapshot and an uploaded import, queued through the API, run by the worker: SUCCESS')
    or diag($out, slurp("$tmp/worker.log") // '');

my ($owner, $n, $admin) = ('-', '-', 0);
eval {
    my $pg = DBI->connect("dbi:Pg:host=$pgsock;dbname=ecopower", 'postgres', '', { RaiseError => 1, PrintError => 0 });
    ($owner) = $pg->selectrow_array(q{SELECT tableowner FROM pg_tables WHERE tablename = 'core_resourcemetric'});
    ($n) = $pg->selectrow_array(q{SELECT count(*) FROM core_resourcemetric m JOIN core_energydataset d ON d.id = m.dataset_id
                                  WHERE d.name = 'First' AND m.value = 12.5});
    ($admin) = $pg->selectrow_array(q{SELECT is_superuser AND is_staff FROM auth_user WHERE username = 'admin'});
    $pg->disconnect;
    1;
} or diag($@);
my $pw = slurp("$root/root/ecoatlas-admin-password") // '';
is(join(' ', $owner // '-', $n, $admin ? 'admin' : '-'), 'ecoatlas 1 admin',
   'migrations as the role ecoatlas (owner of the tables); the imported row; the superuser admin');
ok(length($pw) > 16 && ((stat "$root/root/ecoatlas-admin-password")[2] & 0777) == 0600,
   "the admin's password: generated, in a root-only file");

# The worker: as the unit says, with its own file, which holds no password
my $unit = slurp("$root/etc/systemd/system/ecoatlas-worker.service") // '';
my $wconf = slurp("$root/etc/ecoatlas/worker.conf") // '';
my $wlog = slurp("$tmp/worker.log") // '';
ok((slurp("$tmp/worker.user") // '') eq "ecoatlas\n" && $unit =~ /^User=ecoatlas$/m && $unit =~ /^Group=ecoatlas$/m
       && $unit =~ m{^ExecStart=\S+/ecoatlas-worker -f \S+/etc/ecoatlas/worker\.conf --foreground }m
       && $wconf !~ /password=/ && $wlog =~ /ecoatlas\.worker: EA\d{5}: Task import_resources\[\S+\] succeeded/,
   'the worker ran as the unit says (User=ecoatlas, -f /etc/ecoatlas/worker.conf), no password in its file')
    or diag($wlog);
my ($doc) = $unit =~ m{^Documentation=file://(\S+)$}m;
ok($doc && -s map_paths($doc), "the unit's Documentation= is installed ($doc)");
ok(!glob("$root/var/lib/ecoatlas/imports/*") && ((stat "$root/var/lib/ecoatlas/imports")[2] & 07777) == 02770,
   'the import directory: 2770, empty once the import ran');
ok(((stat "$etc/ecoatlas-secrets.conf")[2] & 07777) == 0600 && ((stat "$etc/ecoatlas-secret-key")[2] & 07777) == 0600
       && (slurp("$etc/ecoatlas-secrets.conf") // '') =~ /^DBDParams "host=\S+ dbname=ecopower user=www-data"$/m,
   "httpd's secrets: 0600 file with peer-authenticated DBDParams, 0600 key file");

# ---- stop everything -------------------------------------------------------------------------------
($rc, $out) = run_cmd("APACHE_CONFDIR='$etc' APACHE_HTTPD='$httpd' /usr/sbin/apache2ctl stop");
for (1 .. 100) { last unless -e "$tmp/run/apache2.pid"; select(undef, undef, undef, 0.1) }
my $wpid = slurp("$tmp/worker.pid") // '';
chomp $wpid;
if ($wpid =~ /^\d+$/) {
    kill 'TERM', $wpid;
    for (1 .. 100) { last unless kill 0, $wpid; select(undef, undef, undef, 0.1) }
}
ok(!-e "$tmp/run/apache2.pid" && !($wpid =~ /^\d+$/ && kill 0, $wpid), 'httpd and the worker stopped') or diag($out);
run_cmd("'$ENV{EA_PGBIN}/pg_ctl' -D '$tmp/pg' -m fast -w stop");

# The example's ErrorLogFormat gives the old "[LEVEL] timestamp logger: message".
my $log = slurp("$tmp/log/error.log") // '';
my $vlog = slurp("$tmp/log/ecoatlas-error.log") // '';
my @bad = grep { /\[(?:warn|error|crit|alert|emerg)\]/ && !/AH00558/ } split /\n/, "$log\n$vlog";
like($log, qr/^\[notice\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} mpm_event: /m,
     'error log lines as "[level] timestamp module: message"') or diag($log);
is_deeply(\@bad, [], 'no warning or error in the error logs');

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
