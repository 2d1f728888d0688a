use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# Docker without a Docker engine: docker-compose (Debian's) validates
# docker-compose.yml; the image's entrypoint runs here with the environment
# the compose file gives it, against the test PostgreSQL: it waits, migrates
# a fresh database, reads *_FILE secrets without printing them, starts
# httpd in the foreground (logs on stdout/stderr) with the container's
# config; `entrypoint.sh worker` (the compose worker's command) stays up
# and runs the tasks web queues, against the test Redis; and it fails
# clearly, in time, when PostgreSQL is unreachable.

use Test::More;
use File::Temp ();
use File::Path qw(make_path);
use File::Copy qw(copy);
use LWP::UserAgent ();
use DBI ();
use YAML::PP ();
use JSON::PP ();
use EaTest qw(db);
use EaConfTest qw(httpd_cmd free_port run_cmd wait_port module_path);

plan tests => 20;

my $top = $ENV{EA_TOP};
my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $entry = "$top/docker/entrypoint.sh";

# ---- docker-compose.yml ------------------------------------------------------------
my ($rc, $out) = run_cmd("cd '$top' && HOME='$tmp' docker-compose -f docker-compose.yml config");
my $c = $rc == 0 ? eval { YAML::PP->new->load_string($out) } : undef;
ok($c, 'docker-compose config accepts docker-compose.yml') or diag($out);
$c ||= {};
my $s = $c->{services} || {};
my @e;
push @e, 'services: ' . join(' ', sort keys %$s) if join(' ', sort keys %$s) ne 'db redis web worker';
push @e, 'db is not postgres:16' unless ($s->{db}{image} // '') =~ /^postgres:16\b/;
push @e, 'db has no pg_isready healthcheck' unless "@{ $s->{db}{healthcheck}{test} || [] }" =~ /pg_isready/;
push @e, 'db data not on a named volume'
    unless grep { m{^postgres_data:/var/lib/postgresql/data} } @{ $s->{db}{volumes} || [] };
push @e, 'web does not publish 8080' unless grep { /8080/ } map { ref $_ ? "$_->{published}:$_->{target}" : $_ } @{ $s->{web}{ports} || [] };
push @e, 'web does not wait for a healthy db' unless ($s->{web}{depends_on}{db}{condition} // '') eq 'service_healthy';
push @e, 'worker does not depend on db and redis'
    unless $s->{worker}{depends_on}{db} && $s->{worker}{depends_on}{redis};
push @e, 'worker command is not "worker"' unless "@{ $s->{worker}{command} || [] }" eq 'worker';
push @e, "no secret files for $_"
    for grep { !$s->{$_}{environment}{POSTGRES_PASSWORD_FILE} } qw(web worker);
push @e, "plain password in the environment of $_"
    for grep { $s->{$_}{environment}{POSTGRES_PASSWORD} } qw(db web worker);
is_deeply(\@e, [], 'compose: db (postgres:16, named volume, pg_isready), redis, web (8080, healthy db), worker')
    or diag(join "\n", @e);

($rc, $out) = run_cmd("cd '$top' && HOME='$tmp' docker-compose -f docker-compose.yml config --services");
is(join(' ', sort split ' ', $out), 'db redis web worker', 'docker compose up worker: a service of its own');

# ---- the Dockerfile ------------------------------------------------------------------
my $df = do { local (@ARGV, $/) = "$top/docker/Dockerfile"; <> };
my @from = $df =~ /^FROM\s+(\S+)/mg;
my ($user) = $df =~ /^USER\s+(\S+)/m;
ok(@from == 2 && !grep({ !/^debian:bookworm/ } @from) && $df =~ /^FROM \S+ AS build$/m
       && $df =~ /^COPY --from=build /m && $user && $user ne 'root' && $user ne '0'
       && $df =~ /^EXPOSE 8080$/m && $df =~ /autogen\.sh.*configure.*make.*make install DESTDIR/s,
   'Dockerfile: two Debian 12 stages (build: autogen, configure, make install DESTDIR), non-root user, port 8080');

# ---- the entrypoint: POSIX sh ---------------------------------------------------------
($rc, $out) = run_cmd("sh -n '$entry' && dash -n '$entry'"
    . (system('command -v shellcheck >/dev/null') == 0 ? " && shellcheck -s sh '$entry'" : ''));
is("$rc", '0', 'entrypoint.sh: POSIX sh (dash -n, shellcheck -s sh)') or diag($out);

# The environment of the compose file, pointed at the test PostgreSQL and
# this build (module, CLI, httpd).
my $dbname = "ecoatlas_entry_$$";
db()->do(qq{DROP DATABASE IF EXISTS "$dbname"});
db()->do(qq{CREATE DATABASE "$dbname"});
my $pw = "pw-$$-s3cr3t";
my $key = "key-$$-s3cr3t-0123456789012345678901234567890123456789";
write_file("$tmp/postgres_password", "$pw\n");
write_file("$tmp/secret_key", "$key\n");
make_path("$tmp/share/openapi");
copy("$top/docs/openapi.yaml", "$tmp/share/openapi/openapi.yaml");
copy("$ENV{EA_BUILD}/docs/openapi.json", "$tmp/share/openapi/openapi.json");
my $port = free_port();
my %env = (
    POSTGRES_HOST => $ENV{EA_PGHOST}, POSTGRES_PORT => $ENV{EA_PGPORT}, POSTGRES_DB => $dbname,
    POSTGRES_USER => $ENV{EA_PGUSER}, POSTGRES_PASSWORD_FILE => "$tmp/postgres_password",
    ECOATLAS_SECRET_KEY_FILE => "$tmp/secret_key", ECOATLAS_BROKER_URL => "unix://$ENV{EA_REDIS_SOCKET}?db=7",
    ECOATLAS_IMPORT_DIR => "$tmp/imports", ECOATLAS_WORKER => $ENV{EA_WORKER},
    ECOATLAS_PORT => $port, ECOATLAS_RUN_DIR => "$tmp/run", ECOATLAS_STATIC_DIR => "$tmp/static",
    ECOATLAS_SHARE => "$tmp/share", ECOATLAS_CONF => "$top/docker/apache-ecoatlas.conf",
    ECOATLAS_MODULE => module_path(), ECOATLAS_HTTPD => httpd_cmd(), ECOATLAS_CLI => $ENV{EA_CLI},
    ECOATLAS_DB_WAIT => 10, ASAN_OPTIONS => 'detect_leaks=0',
);
my $envs = join ' ', map { "$_='$env{$_}'" } sort keys %env;

# ---- web: wait, migrate, static files, exec httpd ------------------------------------------
my $pid = fork // die "fork: $!";
if (!$pid) {
    open STDOUT, '>', "$tmp/web.out" or die;
    open STDERR, '>&', \*STDOUT or die;
    # env and sh both exec: the entrypoint keeps this pid, then httpd does
    exec('env', (map { "$_=$env{$_}" } sort keys %env), 'sh', $entry, 'web') or die "exec: $!";
}
my $up = wait_port($port, 60);
ok($up, "entrypoint.sh web: httpd listens on $port") or diag(slurp("$tmp/web.out"));
my $ua = LWP::UserAgent->new(timeout => 10);
my $res = $ua->get("http://localhost:$port/api/countries/");
is($res->code . ' ' . $res->content, '200 {"count":0,"next":null,"previous":null,"results":[]}',
   'the API answers from the migrated, empty database');
my $dbh = DBI->connect("dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$dbname",
                       $ENV{EA_PGUSER}, '', { RaiseError => 1, PrintError => 0 });
my $applied = $dbh->selectrow_array('SELECT count(*) FROM ecoatlas_migrations');
my @files = glob("$top/db/migrations/*.sql");
is($applied, scalar @files, "ecoatlas migrate applied the " . scalar(@files) . ' migrations');
$dbh->disconnect;
$res = $ua->get("http://localhost:$port/api/schema/");
ok($res->code == 200 && -s "$tmp/static/openapi.yaml" && -s "$tmp/static/openapi.json",
   'the OpenAPI documents: served, and copied to ECOATLAS_STATIC_DIR');

# ---- worker: the compose file's command, for real ------------------------------------------
# `docker compose up worker` runs `entrypoint.sh worker`; the test Redis
# stands in for the redis service.  It must stay up, take tasks from the
# web container's API and finish them (a snapshot, and an uploaded import
# through the shared EcoAtlasImportDir).
system("redis-cli -s '$ENV{EA_REDIS_SOCKET}' -n 7 FLUSHDB >/dev/null");
my $wpid = fork // die "fork: $!";
if (!$wpid) {
    open STDOUT, '>', "$tmp/worker.out" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec('env', (map { "$_=$env{$_}" } sort keys %env), 'sh', $entry, 'worker', '--concurrency', '1')
        or die "exec: $!";
}
# a staff user and its token, as `docker compose run --rm web ecoatlas ...` makes them
($rc, $out) = run_cmd("printf 'admin-pass-0123\\n' | env $envs sh '$entry' '$ENV{EA_CLI}' createuser admin "
                      . "--superuser --password-stdin");
my $token = `env $envs sh '$entry' '$ENV{EA_CLI}' token create admin 2>/dev/null`;
chomp $token;
ok($rc == 0 && $token =~ /^\w{20,}$/, 'entrypoint.sh ecoatlas createuser / token create (the CLI through the entrypoint)')
    or diag($out);
my %auth = (Authorization => "Token $token");
my @tasks;
$res = $ua->post("http://localhost:$port/api/resource-metrics/enqueue_snapshot/", %auth,
                 'Content-Type' => 'application/json', Content => '{}');
push @tasks, ['snapshot', $res->code, (eval { JSON::PP->new->decode($res->content)->{task_id} } // '')];
$res = $ua->post("http://localhost:$port/api/imports/", %auth, Content_Type => 'form-data',
                 Content => [dataset_name => 'Compose import', resource_type => 'solar',
                             file => [undef, 'metrics.csv', 'Content-Type' => 'text/csv',
                                      Content => "iso3,country,metric,value,year\nBEN,Benin,potential_kwh,12.5,2024\n"]]);
push @tasks, ['import', $res->code, (eval { JSON::PP->new->decode($res->content)->{task_id} } // '')];
my %status;
for my $t (@tasks) {
    my ($name, $code, $id) = @$t;
    $status{$name} = "$code, no task id";
    next unless $code == 202 && $id;
    for (1 .. 300) {
        my $r = $ua->get("http://localhost:$port/api/tasks/$id/", %auth);
        my $d = eval { JSON::PP->new->decode($r->content) } || {};
        $status{$name} = ($d->{status} // $r->code) . ($d->{error} ? ": $d->{error}" : '');
        last if ($d->{status} // '') =~ /^(SUCCESS|FAILURE)$/;
        select(undef, undef, undef, 0.1);
    }
}
my $worker_out = slurp("$tmp/worker.out") // '';
is_deeply(\%status, { snapshot => 'SUCCESS', import => 'SUCCESS' },
          'entrypoint.sh worker: takes the snapshot and the uploaded import the API queued, and finishes them')
    or diag($worker_out);
$dbh = DBI->connect("dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$dbname",
                              $ENV{EA_PGUSER}, '', { RaiseError => 1, PrintError => 0 });
is($dbh->selectrow_array(q{SELECT count(*) FROM core_resourcemetric m JOIN core_energydataset d ON d.id = m.dataset_id
                           WHERE d.name = 'Compose import' AND m.value = 12.5}), 1,
   'the imported row is in the database');
is(join(',', glob("$tmp/imports/*")), '', 'the uploaded file is gone from ECOATLAS_IMPORT_DIR');
$dbh->disconnect;
ok(kill(0, $wpid) && $worker_out =~ /^\[INFO\] \d{4}-\d\d-\d\d \S+ ecoatlas\.worker: EA\d{5}: Task \S+ succeeded in /m
       && $worker_out !~ /\Q$pw\E|\Q$key\E/,
   'the worker stays up, logging to stderr in the Celery-era format, no secret printed') or diag($worker_out);
kill 'TERM', $wpid;
waitpid($wpid, 0);
is($? >> 8, 0, 'SIGTERM: the worker exits 0');

# pid: the entrypoint exec'd into httpd, which runs in the foreground
my $httpd_pid = slurp("$tmp/run/httpd.pid") // '';
chomp $httpd_pid;
is($httpd_pid, $pid, 'exec apache2 -DFOREGROUND: httpd replaced the entrypoint (same pid)');
kill 'TERM', $pid;
kill 'TERM', $httpd_pid if $httpd_pid =~ /^\d+$/ && $httpd_pid != $pid;
waitpid($pid, 0);
for (1 .. 100) { last unless $httpd_pid =~ /^\d+$/ && kill 0, $httpd_pid; select(undef, undef, undef, 0.1) }
my $web_out = slurp("$tmp/web.out") // '';
# stdout and stderr share one file: their lines may come in either order
ok($web_out =~ /^\[notice\] \d{4}-\d\d-\d\d \S+ mpm_event: /m
       && $web_out =~ m{^127\.0\.0\.1 - - \[[^\]]+\] "GET /api/countries/ HTTP/1\.1" 200 }m,
   'httpd logs to stderr (errors, "[level] timestamp module: message") and stdout (access)') or diag($web_out);
my $pgpass_mode = (stat "$tmp/run/pgpass")[2] & 07777;
ok($web_out !~ /\Q$pw\E|\Q$key\E/ && sprintf('%o', $pgpass_mode) eq '600' && slurp("$tmp/run/pgpass") =~ /\Q$pw\E/,
   'secrets read from *_FILE: never printed; the password in a 0600 passfile') or diag($web_out);
eval { db()->do(qq{DROP DATABASE IF EXISTS "$dbname" WITH (FORCE)}); 1 } or diag($@);

# ---- plain variables are accepted and leave the environment --------------------------------
($rc, $out) = run_cmd("env $envs POSTGRES_PASSWORD_FILE= POSTGRES_PASSWORD='$pw' ECOATLAS_SECRET_KEY_FILE= "
    . "ECOATLAS_SECRET_KEY='$key' sh '$entry' env");
ok($rc == 0 && $out =~ /^PGPASSFILE=/m && $out !~ /\Q$pw\E|\Q$key\E|^POSTGRES_PASSWORD=|^ECOATLAS_SECRET_KEY=/m,
   'POSTGRES_PASSWORD / ECOATLAS_SECRET_KEY: moved to files, gone from the environment of the command');

# ---- PostgreSQL unreachable: a clear failure within the timeout ----------------------------------
my $t0 = time;
($rc, $out) = run_cmd("env $envs POSTGRES_HOST='$tmp/nowhere' ECOATLAS_DB_WAIT=2 sh '$entry' web");
my $took = time - $t0;
ok($rc != 0 && $took <= 8 && $out =~ /PostgreSQL at \Q$tmp\E\/nowhere:\d+ did not answer within 2s/
       && $out !~ /\Q$pw\E|\Q$key\E/,
   "PostgreSQL unreachable: exit $rc after ${took}s with a message naming it") or diag($out);

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
