# ecoatlas-worker with the real Redis and PostgreSQL of the test run: a task
# goes through enqueue -> worker -> SUCCESS record; a worker killed with -9
# mid-task -> another worker completes it after the visibility timeout; the
# time limit cancels the running SQL (FAILURE); SIGTERM finishes or hands
# back; a lost database connection -> RETRY, then the dead-letter list;
# Redis or PostgreSQL down -> quick errors, then recovery by itself.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use EaTest qw(db reset_db seed_fixture pg_stop pg_start);

plan tests => 52;

my $top = $ENV{EA_TOP} or die 'EA_TOP';
my $build = $ENV{EA_BUILD} or die 'EA_BUILD';
my $sock = $ENV{EA_REDIS_SOCKET} or die 'EA_REDIS_SOCKET';
my $cli = $ENV{EA_CLI} or die 'EA_CLI';
my $worker = $ENV{EA_WORKER} || "$build/worker/ecoatlas-worker";
my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/imports" or die $!;
my $conninfo = "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}";
# sanitizer builds: leaks at exit are not what this file tests
$ENV{ASAN_OPTIONS} = 'detect_leaks=0';
my $json = JSON::PP->new->utf8;

sub redis { system('redis-cli', '-s', $sock, '-n', '3', @_) == 0 }
sub services { system('bash', "$top/t/services", @_) == 0 }

my $nconf = 0;
sub conf {
    my (%o) = @_;
    my $path = "$dir/worker" . ++$nconf . '.conf';
    open my $f, '>', $path or die $!;
    print {$f} <<"CONF";
# as httpd's: the worker reads the same directives
DBDriver pgsql
DBDParams "$conninfo"
EcoAtlasBrokerURL "unix://$sock?db=3"
EcoAtlasTaskTimeLimit @{[ $o{limit} // 30 ]}
EcoAtlasImportDir "$dir/imports"
LogLevel warn ecoatlas:debug
CONF
    close $f;
    return $path;
}

my $nlog = 0;
sub start_worker {
    my ($conf, @opts) = @_;
    my $log = "$dir/worker" . ++$nlog . '.log';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $log or die;
        open STDERR, '>&', \*STDOUT or die;
        exec $worker, '-f', $conf, '--foreground', '--enable-test-tasks', @opts or die "exec: $!";
    }
    return ($pid, $log);
}

# Exit status of pid within $secs, or undef.
sub wait_exit {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return $? >> 8 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    return undef;
}

sub stop_worker {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $rc = wait_exit($pid, 40);
    unless (defined $rc) { kill 'KILL', $pid; waitpid $pid, 0; }
    return $rc;
}

sub slurp { my ($p) = @_; local $/; open my $f, '<', $p or return ''; my $t = <$f>; close $f; return $t }

sub cli {
    my ($conf, @args) = @_;
    my $cmd = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } $cli, '-f', $conf, @args;
    my $out = `$cmd 2>'$dir/cli.err'`;
    my $rc = $? >> 8;
    chomp $out;
    return ($rc, $out, slurp("$dir/cli.err"));
}

sub enqueue {
    my ($conf, $name, @args) = @_;
    my ($rc, $id, $err) = cli($conf, 'task', 'enqueue', $name, map { ('--arg', $_) } @args);
    diag "enqueue $name: $err" if $rc;
    return $id;
}

sub status {
    my ($conf, $id) = @_;
    my ($rc, $out) = cli($conf, 'task', 'status', $id);
    return $rc == 0 ? $json->decode($out) : undef;
}

# The record once its status is one of @want (within $secs), else the last one seen.
sub wait_status {
    my ($conf, $id, $secs, @want) = @_;
    my $deadline = time + $secs;
    my $rec;
    while (time < $deadline) {
        $rec = status($conf, $id);
        return $rec if $rec && grep { $rec->{status} eq $_ } @want;
        sleep 0.1;
    }
    return $rec;
}

reset_db();
my $fx = seed_fixture();
redis('FLUSHDB');
my $conf = conf();

# ---- 1. enqueue -> worker -> SUCCESS ------------------------------------------------
my ($w, $log) = start_worker($conf, '--concurrency', '2');
my $id = enqueue($conf, 'generate_metric_snapshot', 'country_iso3=ben');
like $id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'enqueue prints a UUID4 task id';
my $rec = wait_status($conf, $id, 10, 'SUCCESS', 'FAILURE');
is $rec->{status}, 'SUCCESS', 'the worker ran the snapshot: SUCCESS';
is_deeply $rec->{result}{resource_types}, [{ resource_type => 'solar', metrics => 2, total => 346.8 }],
    'D5: resource_types distinct, with metrics and total';
is $rec->{result}{total_metrics}, 2, 'total_metrics';
is $rec->{result}{task_id}, $id, 'the result carries the task id';
is $rec->{result}{country_iso3}, 'ben', 'country_iso3 echoed as given';
like $rec->{result}{generated_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'generated_at in UTC with Z';
is $rec->{attempts}, 1, 'one attempt';
ok $rec->{created} && $rec->{started} && $rec->{finished}, 'created, started and finished timestamps';
like slurp($log), qr/^\[INFO\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ecoatlas\.worker: EA00001: Generated metric snapshot/m,
    'the worker logs "EA00001: Generated metric snapshot" in the [LEVEL] timestamp logger: format';

# A task that fails for good: FAILURE at once, and a dead letter with its error.
$id = enqueue($conf, 'import_resources', "path=$dir/imports/none.csv");
$rec = wait_status($conf, $id, 10, 'SUCCESS', 'FAILURE');
is $rec->{status}, 'FAILURE', 'a missing import file: FAILURE';
like $rec->{error}, qr/^Fichier introuvable: /, '... with the import error';
my ($rc, $dead) = cli($conf, 'task', 'dead-letters');
my ($entry) = grep { $_->{task_id} eq $id } @{ $json->decode($dead) };
ok $entry && $entry->{error} =~ /Fichier introuvable/, 'the failed task is in the dead-letter list with its error';

# Task paths are confined to EcoAtlasImportDir (docs/security.md): a path outside,
# through "..", or through a symlink is refused, not read, not removed.
{
    my $victim = "$dir/victim.csv";
    open my $v, '>', $victim or die $!;
    print {$v} "country_iso3,resource_type,metric,value,unit,year\nBEN,solar,stolen,1,MW,2020\n";
    close $v;
    symlink $victim, "$dir/imports/link.csv" or die $!;
    my @cases = ([outside => $victim], [dotdot => "$dir/imports/../victim.csv"], [symlink => "$dir/imports/link.csv"],
                 [system => '/etc/passwd']);
    for my $c (@cases) {
        my ($what, $path) = @$c;
        my $tid = enqueue($conf, 'import_resources', "path=$path", 'remove_file=true', 'dataset_name=Stolen');
        my $r = wait_status($conf, $tid, 10, 'SUCCESS', 'FAILURE');
        ok $r->{status} eq 'FAILURE' && $r->{error} =~ /^Import refused: the path is outside the import directory/,
            "task path $what: refused" or diag explain $r;
    }
    ok -f $victim, 'the file outside was not removed';
    ok -l "$dir/imports/link.csv", 'the symlink was not removed';
    is db()->selectrow_array(q{SELECT count(*) FROM core_energydataset WHERE name = 'Stolen'}), 0, 'nothing was imported';
}

# ---- 2. the time limit cancels the running statement ------------------------------------
my $short = conf(limit => 2);
my ($w2, $log2) = start_worker($short, '--concurrency', '1');
stop_worker($w);
my $t0 = time;
$id = enqueue($short, 'sleep', 'seconds=20');
$rec = wait_status($short, $id, 12, 'SUCCESS', 'FAILURE');
is $rec->{status}, 'FAILURE', 'a task over its time limit: FAILURE';
like $rec->{error}, qr/Time limit exceeded: the task ran longer than 2 s/, '... with a clear error';
ok time - $t0 < 8, sprintf('... within %.1f s, not after the 20 s sleep', time - $t0);
is db()->selectrow_array(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'}),
    0, 'its statement was cancelled in PostgreSQL';
is stop_worker($w2), 0, 'SIGTERM on an idle worker: exit 0';

# ---- 3. kill -9 mid-task: another worker completes it ---------------------------------------
my ($wa) = start_worker($conf, '--concurrency', '1', '--visibility', '2', '--name', 'A');
$id = enqueue($conf, 'sleep', 'seconds=2');
$rec = wait_status($conf, $id, 10, 'STARTED');
is $rec->{status}, 'STARTED', 'worker A started the task';
kill 'KILL', $wa;
waitpid $wa, 0;
my ($wb, $logb) = start_worker($conf, '--concurrency', '1', '--visibility', '2', '--name', 'B');
$rec = wait_status($conf, $id, 20, 'SUCCESS', 'FAILURE');
is $rec->{status}, 'SUCCESS', 'after kill -9 of A, the task completed on worker B';
is $rec->{attempts}, 2, '... on its second delivery';

# ---- 4. a lost database connection: RETRY with backoff, then FAILURE and a dead letter -------
sub kill_sleep_backend {
    my $deadline = time + 10;
    while (time < $deadline) {
        my $n = db()->selectrow_array(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                                         WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'});
        return 1 if $n;
        sleep 0.1;
    }
    return 0;
}
stop_worker($wb);
my ($wr, $logr) = start_worker($conf, '--concurrency', '1', '--max-retries', '1');
$id = enqueue($conf, 'sleep', 'seconds=30');
ok kill_sleep_backend(), 'the running task lost its database connection';
$rec = wait_status($conf, $id, 10, 'RETRY', 'FAILURE');
is $rec->{status}, 'RETRY', 'a lost connection is transient: RETRY';
$rec = wait_status($conf, $id, 10, 'STARTED');
is $rec->{attempts}, 2, 'the task ran again after its backoff (attempt 2)';
ok kill_sleep_backend(), 'and lost its connection again';
$rec = wait_status($conf, $id, 10, 'FAILURE');
is $rec->{status}, 'FAILURE', 'past --max-retries: FAILURE';
($rc, $dead) = cli($conf, 'task', 'dead-letters');
ok scalar(grep { $_->{task_id} eq $id } @{ $json->decode($dead) }), '... and a dead letter';

# ---- 5. SIGTERM: the running task finishes, or is handed back after --grace ------------------
$id = enqueue($conf, 'sleep', 'seconds=2');
wait_status($conf, $id, 10, 'STARTED');
kill 'TERM', $wr;
is wait_exit($wr, 15), 0, 'SIGTERM while a task runs: exit 0 once it finished';
is status($conf, $id)->{status}, 'SUCCESS', '... and the task completed';
like slurp($logr), qr/SIGTERM received/, 'the worker logged the shutdown';

my ($wg) = start_worker($conf, '--concurrency', '1', '--grace', '1');
$id = enqueue($conf, 'sleep', 'seconds=60');
wait_status($conf, $id, 10, 'STARTED');
$t0 = time;
kill 'TERM', $wg;
is wait_exit($wg, 10), 0, 'SIGTERM with a long task and --grace 1: exit 0';
ok time - $t0 < 6, sprintf('... in %.1f s', time - $t0);
($rc, my $stats) = cli($conf, 'task', 'stats');
is $json->decode($stats)->{queued} . ' ' . status($conf, $id)->{status}, '1 PENDING',
    'the running task was handed back to the queue (PENDING again)';
redis('FLUSHDB');

# ---- 6. Redis down: a quick error, then everything recovers by itself ------------------------
my ($wd, $logd) = start_worker($conf, '--concurrency', '1');
ok services('redis-down', "$build/t-run/redis"), 'Redis stopped';
$t0 = time;
($rc, undef, my $err) = cli($conf, 'task', 'enqueue', 'noop');
is $rc, 1, 'enqueue with Redis down fails';
ok time - $t0 < 3, sprintf('... quickly (%.2f s)', time - $t0);
like $err, qr/cannot connect to Redis/, '... saying why';
sleep 1.5;
ok services('redis-up', "$build/t-run/redis", $sock), 'Redis restarted';
$id = enqueue($conf, 'generate_metric_snapshot');
ok $id, 'enqueue works again';
$rec = wait_status($conf, $id, 20, 'SUCCESS', 'FAILURE');
is $rec && $rec->{status}, 'SUCCESS', 'the worker reconnected to Redis by itself and ran the task';
like slurp($logd), qr/Redis unavailable.*\n(.*\n)*.*Redis connection restored/, 'it logged the outage and the recovery';

# ---- 7. PostgreSQL down: tasks wait, then run ------------------------------------------------
pg_stop();
$id = enqueue($conf, 'generate_metric_snapshot');
sleep 1;
like status($conf, $id)->{status}, qr/^(PENDING|RETRY)$/, 'database down: the task waits (PENDING, or RETRY after one attempt)';
pg_start();
$rec = wait_status($conf, $id, 30, 'SUCCESS', 'FAILURE');
is $rec && $rec->{status}, 'SUCCESS', 'database back: the worker reconnected and ran it';

# SIGHUP reopens the log (the worker keeps running)
kill 'HUP', $wd;
sleep 0.5;
ok kill(0, $wd), 'SIGHUP: the worker keeps running';
is stop_worker($wd), 0, 'and stops with exit 0';
redis('FLUSHDB');
