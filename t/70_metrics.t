# Metrics (docs/operations.md): the Prometheus handler (<Location /metrics>, SetHandler
# ecoatlas-metrics) and the mod_ecoatlas section of server-status.  Each
# family moves as it should after real requests, tasks and faults (the
# database stopped and restarted, a statement timeout, Redis backends that
# do not answer), the counts survive a graceful restart, and every scrape
# is valid text exposition format (t/lib/EaProm.pm, a strict reader).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use DBI ();
use File::Temp qw(tempdir);
use HTTP::Request::Common ();
use LWP::UserAgent ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use EaProm ();
use EaTest qw(db reset_db seed_fixture decode_json_body pg_stop pg_start staff_token auth_header);

plan tests => 83;

my $build = $ENV{EA_BUILD} or die 'EA_BUILD';
my $sock = $ENV{EA_REDIS_SOCKET} or die 'EA_REDIS_SOCKET';
my $worker = $ENV{EA_WORKER} || "$build/worker/ecoatlas-worker";
my $dir = tempdir(CLEANUP => 1);
my $ua = LWP::UserAgent->new(timeout => 20, max_redirect => 0);
$ENV{ASAN_OPTIONS} = 'detect_leaks=0';

sub url {
    my ($module, $path) = @_;
    Apache::TestRequest::module($module);
    my $u = Apache::TestRequest::resolve_url($path);
    Apache::TestRequest::module('default');
    return $u;
}
sub get_ { my ($module, $path, @h) = @_; return $ua->get(url($module, $path), @h) }
sub post_ {
    my ($module, $path, $body, @h) = @_;
    return $ua->post(url($module, $path), 'Content-Type' => 'application/json', Content => $body, @h);
}

# Every scrape is parsed strictly; a scrape with errors fails its own test.
my $scrapes = 0;
sub scrape {
    my ($module) = @_;
    my $res = get_($module // 'default', '/metrics');
    my ($m, @err) = EaProm::parse($res->code == 200 ? $res->content : '');
    $scrapes++;
    diag join "\n", @err[0 .. ($#err > 9 ? 9 : $#err)] if @err;
    return ($m, $res, scalar @err);
}
my @parse_errors;
sub m_ {
    my ($m, $res, $nerr) = scrape(@_);
    push @parse_errors, $nerr;
    return $m;
}
sub v { my ($m, $name, @l) = @_; return EaProm::value($m, $name, @l) // 0 }
sub req { my ($m, $route, $code) = @_; return v($m, 'ecoatlas_http_requests_total', route => $route, code => $code) }
sub hcount { my ($m, $route) = @_; return v($m, 'ecoatlas_http_request_duration_seconds_count', route => $route) }

# Poll a scrape until cond holds (or secs pass); returns the last scrape.
sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time + $secs;
    my $m;
    while (1) {
        $m = m_();
        return $m if $cond->($m) || time > $deadline;
        sleep 0.1;
    }
}

reset_db();
my $fx = seed_fixture();
system('redis-cli', '-s', $sock, '-n', '3', 'FLUSHDB');
my $staff = staff_token();

# ---- the handler itself -----------------------------------------------------------------
my ($m0, $res0) = scrape();
is $res0->code, 200, 'GET /metrics: 200';
is $res0->header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8', '... in the text exposition format';
is $ua->post(url('default', '/metrics'))->code, 405, 'POST /metrics: 405';
unlike $res0->content, qr/route="[^"]*[\/?&]/, 'no label holds a path or a query string';

# ---- requests by route and status class, latency -----------------------------------------
my $m = m_();
ok $ua->get(url('default', '/api/countries/'))->is_success, 'a country list';
$ua->get(url('default', '/api/countries/')) for 1 .. 2;
is $ua->get(url('default', '/api/no-such-thing/'))->code, 404, 'an unknown path: 404';
is $ua->get(url('default', '/api/countries'))->code, 301, 'the missing slash: 301';
is $ua->get(url('default', "/api/hydro-sites/$fx->{site}/"))->code, 200, 'a hydro site';
my $m1 = m_();
is req($m1, 'Country List', '2xx') - req($m, 'Country List', '2xx'), 3, 'Country List 2xx: +3';
is hcount($m1, 'Country List') - hcount($m, 'Country List'), 3, 'its latency histogram: +3';
is req($m1, 'unmatched', '4xx') - req($m, 'unmatched', '4xx'), 1, 'no route, 4xx: +1';
is req($m1, 'redirect', '3xx') - req($m, 'redirect', '3xx'), 1, 'the slash redirect, 3xx: +1';
is req($m1, 'Hydro Site Instance', '2xx') - req($m, 'Hydro Site Instance', '2xx'), 1, 'Hydro Site Instance 2xx: +1';
ok v($m1, 'ecoatlas_http_request_duration_seconds_sum', route => 'Country List')
    > v($m, 'ecoatlas_http_request_duration_seconds_sum', route => 'Country List'), 'the latency sum grew';
ok v($m1, 'ecoatlas_db_statements_total') > v($m, 'ecoatlas_db_statements_total'), 'database statements counted';
ok v($m1, 'ecoatlas_db_pool_wait_seconds_count') > v($m, 'ecoatlas_db_pool_wait_seconds_count'),
    'pooled-connection waits observed';

# EcoAtlasMetrics Off: that host's requests are not counted.
$ua->get(url('metrics_off', '/api/countries/')) for 1 .. 2;
is req(m_(), 'Country List', '2xx'), req($m1, 'Country List', '2xx'), 'EcoAtlasMetrics Off: not counted';

# ---- response cache ---------------------------------------------------------------------------
$m = wait_for(10, sub { v($_[0], 'ecoatlas_cache_listener_up', database => '0') == 1 });
is v($m, 'ecoatlas_cache_listener_up', database => '0'), 1, 'the change listener is up';
ok v($m, 'ecoatlas_cache_slots') > 0, 'the cache has slots';
my $lpid = v($m, 'ecoatlas_cache_listener_pid', database => '0');
ok $lpid > 0 && kill(0, $lpid), 'the listening child is named and runs';
ok v($m, 'ecoatlas_cache_listener_starts_total', database => '0') >= 1, 'its start is counted';
my $path = "/cached/api/countries/$fx->{country}/";
is $ua->get(url('default', $path))->header('X-EcoAtlas-Cache'), 'miss', 'a cached route: miss';
is $ua->get(url('default', $path))->header('X-EcoAtlas-Cache'), 'hit', '... then hit';
$m1 = m_();
# (at least: another test client on the same machine may use /cached/api meanwhile)
cmp_ok v($m1, 'ecoatlas_cache_lookups_total', result => 'miss') - v($m, 'ecoatlas_cache_lookups_total', result => 'miss'),
    '>=', 1, 'cache misses: +1';
cmp_ok v($m1, 'ecoatlas_cache_lookups_total', result => 'hit') - v($m, 'ecoatlas_cache_lookups_total', result => 'hit'),
    '>=', 1, 'cache hits: +1';
cmp_ok v($m1, 'ecoatlas_cache_stores_total') - v($m, 'ecoatlas_cache_stores_total'), '>=', 1, 'cache stores: +1';
my $res = post_('default', '/cached/api/countries/', '{"name":"Metricland","iso2":"MX","iso3":"MTX"}', auth_header($staff));
is $res->code, 201, 'a write through the cached API';
$m = wait_for(5, sub { v($_[0], 'ecoatlas_cache_invalidations_total', cause => 'notify')
                       > v($m1, 'ecoatlas_cache_invalidations_total', cause => 'notify') });
is v($m, 'ecoatlas_cache_invalidations_total', cause => 'write') - v($m1, 'ecoatlas_cache_invalidations_total', cause => 'write'),
    1, 'invalidations by a write: +1';
ok v($m, 'ecoatlas_cache_invalidations_total', cause => 'notify') > v($m1, 'ecoatlas_cache_invalidations_total', cause => 'notify'),
    'invalidations by the NOTIFY that the commit sent';

# ---- authentication ---------------------------------------------------------------------------
$m = m_();
is $ua->get(url('default', '/api/countries/'), auth_header($staff))->code, 200, 'a request with a token';
is $ua->get(url('default', '/api/countries/'), auth_header('0' x 40))->code, 401, 'an unknown token: 401';
is $ua->get(url('default', '/api/countries/'), Authorization => 'Token a b')->code, 401, 'a malformed header: 401';
is post_('default', '/api/auth/login/', '{"username":"staff","password":"wrong"}')->code, 400, 'a refused login: 400';
$m1 = m_();
is v($m1, 'ecoatlas_auth_success_total', method => 'token') - v($m, 'ecoatlas_auth_success_total', method => 'token'), 1,
    'token authentications: +1';
is v($m1, 'ecoatlas_auth_failures_total', reason => 'invalid_token') - v($m, 'ecoatlas_auth_failures_total', reason => 'invalid_token'),
    1, 'failures, invalid_token: +1';
is v($m1, 'ecoatlas_auth_failures_total', reason => 'malformed_header')
    - v($m, 'ecoatlas_auth_failures_total', reason => 'malformed_header'), 1, 'failures, malformed_header: +1';
is v($m1, 'ecoatlas_auth_failures_total', reason => 'bad_credentials')
    - v($m, 'ecoatlas_auth_failures_total', reason => 'bad_credentials'), 1, 'failures, bad_credentials: +1';
is v($m1, 'ecoatlas_ratelimit_decisions_total', scope => 'login', result => 'admitted')
    - v($m, 'ecoatlas_ratelimit_decisions_total', scope => 'login', result => 'admitted'), 1, 'login limit admitted: +1';
is v($m1, 'ecoatlas_ratelimit_decisions_total', scope => 'credentials', result => 'admitted')
    - v($m, 'ecoatlas_ratelimit_decisions_total', scope => 'credentials', result => 'admitted'), 2,
    'failed-credential limit admitted: +2';

# ---- rate limits: local table, and Redis backends that do not answer ------------------------------
$m = m_();
my @codes = map { get_('metrics_limits', '/api/stats/')->code } 1 .. 3;
is "@codes", '200 200 429', 'EcoAtlasRateLimitAnon 2/hour: 200 200 429';
is get_('metrics_redis_open', '/api/stats/')->code, 200, 'Redis backend down, failing open: 200';
is get_('metrics_redis_closed', '/api/stats/')->code, 503, 'Redis backend down, failing closed: 503';
$m1 = m_();
is v($m1, 'ecoatlas_ratelimit_decisions_total', scope => 'anon', result => 'refused')
    - v($m, 'ecoatlas_ratelimit_decisions_total', scope => 'anon', result => 'refused'), 1, 'anon refused: +1';
ok v($m1, 'ecoatlas_ratelimit_decisions_total', scope => 'anon', result => 'admitted')
    - v($m, 'ecoatlas_ratelimit_decisions_total', scope => 'anon', result => 'admitted') >= 3, 'anon admitted: +3 or more';
ok v($m1, 'ecoatlas_ratelimit_backend_errors_total') > v($m, 'ecoatlas_ratelimit_backend_errors_total'),
    'Redis backend errors counted';
is v($m1, 'ecoatlas_ratelimit_backend_fallbacks_total', mode => 'open') - v($m, 'ecoatlas_ratelimit_backend_fallbacks_total', mode => 'open'),
    1, 'fail-open decisions: +1';
is v($m1, 'ecoatlas_ratelimit_backend_fallbacks_total', mode => 'closed')
    - v($m, 'ecoatlas_ratelimit_backend_fallbacks_total', mode => 'closed'), 1, 'fail-closed decisions: +1';
is req($m1, 'Stats List', '5xx') - req($m, 'Stats List', '5xx'), 1, 'the 503 counted as Stats List 5xx';

# ---- exports ------------------------------------------------------------------------------------
$m = m_();
$res = $ua->get(url('default', '/api/hydro-sites/export/'));
is $res->code, 200, 'a CSV export';
$m1 = m_();
is v($m1, 'ecoatlas_export_rows_total', export => 'hydro_sites_csv') - v($m, 'ecoatlas_export_rows_total', export => 'hydro_sites_csv'),
    1, 'export rows: +1 (one site)';
is v($m1, 'ecoatlas_export_bytes_total', export => 'hydro_sites_csv') - v($m, 'ecoatlas_export_bytes_total', export => 'hydro_sites_csv'),
    length($res->content), 'export bytes: the body length';
is v($m1, 'ecoatlas_export_duration_seconds_count', export => 'hydro_sites_csv')
    - v($m, 'ecoatlas_export_duration_seconds_count', export => 'hydro_sites_csv'), 1, 'export durations: +1';

# ---- the database: a statement timeout, then PostgreSQL stopped and restarted ----------------------
$m = m_();
{
    my $lock = DBI->connect("dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$ENV{EA_PGDATABASE}",
                            $ENV{EA_PGUSER}, '', { RaiseError => 1, AutoCommit => 0 });
    $lock->do('LOCK TABLE core_country IN ACCESS EXCLUSIVE MODE');
    is get_('metrics_timeout', '/api/countries/?metrics=timeout')->code, 503, 'a statement over EcoAtlasQueryTimeout: 503';
    $lock->rollback;
    $lock->disconnect;
}
$m1 = m_();
is v($m1, 'ecoatlas_db_errors_total', kind => 'timeout') - v($m, 'ecoatlas_db_errors_total', kind => 'timeout'), 1,
    'statement timeouts: +1';
$ua->get(url('default', '/api/countries/')) for 1 .. 8;   # pooled connections in the children
pg_stop();
is $ua->get(url('default', '/api/countries/'))->code, 503, 'database down: 503';
my $mdown = m_();
ok v($mdown, 'ecoatlas_db_errors_total', kind => 'unavailable') > v($m1, 'ecoatlas_db_errors_total', kind => 'unavailable'),
    'database unavailable: counted';
pg_start();
my $deadline = time + 10;
$ua->get(url('default', '/api/countries/')) while time < $deadline && !$ua->get(url('default', '/api/countries/'))->is_success;
$ua->get(url('default', '/api/countries/')) for 1 .. 8;
my $mup = m_();
ok v($mup, 'ecoatlas_db_reconnects_total') > v($m1, 'ecoatlas_db_reconnects_total'),
    'pooled connections re-established after the restart: counted';

# ---- tasks: queued, run by the worker (success, failure, time limit), eager, broker down -----------
my $conninfo = "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}";
open my $cf, '>', "$dir/worker.conf" or die $!;
print {$cf} qq{DBDriver pgsql\nDBDParams "$conninfo"\nEcoAtlasBrokerURL "unix://$sock?db=3"\n}
    . qq{EcoAtlasTaskTimeLimit 2\nLogLevel warn ecoatlas:info\n};
close $cf;
$m = m_();
is v($m, 'ecoatlas_task_broker_up'), 1, 'the broker answers the scrape';
$res = post_('default', '/api/resource-metrics/enqueue_snapshot/', '{}', auth_header($staff));
is $res->code, 202, 'a snapshot queued';
$m1 = m_();
is v($m1, 'ecoatlas_tasks_enqueued_total', task => 'generate_metric_snapshot')
    - v($m, 'ecoatlas_tasks_enqueued_total', task => 'generate_metric_snapshot'), 1, 'tasks enqueued: +1';
is v($m1, 'ecoatlas_task_queue_length', state => 'ready'), 1, 'queue depth: 1 ready (no worker yet)';
my $cli = $ENV{EA_CLI} or die 'EA_CLI';
for my $args (['sleep', '--arg', 'seconds=10'], ['import_resources', '--arg', "path=$dir/none.csv"]) {
    my $cmd = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } $cli, '-f', "$dir/worker.conf", 'task', 'enqueue', @$args;
    my $id = `$cmd`;
    $? == 0 or die "enqueue @$args";
}
my $wpid = fork // die "fork: $!";
if ($wpid == 0) {
    open STDOUT, '>', "$dir/worker.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec $worker, '-f', "$dir/worker.conf", '--foreground', '--enable-test-tasks', '--concurrency', '1',
        '--max-retries', '0', '--name', 'metrics-test' or die "exec: $!";
}
my $wt = sub {
    my ($mm, $task, $outcome) = @_;
    return v($mm, 'ecoatlas_worker_tasks_total', task => $task, outcome => $outcome)
         - v($m, 'ecoatlas_worker_tasks_total', task => $task, outcome => $outcome);
};
$m1 = wait_for(20, sub { $wt->($_[0], 'generate_metric_snapshot', 'succeeded') == 1 && $wt->($_[0], 'sleep', 'timed_out') == 1
                         && $wt->($_[0], 'import_resources', 'failed') == 1 });
is $wt->($m1, 'generate_metric_snapshot', 'succeeded'), 1, 'worker: snapshot succeeded +1';
is $wt->($m1, 'sleep', 'timed_out'), 1, 'worker: a task killed by the time limit +1';
is $wt->($m1, 'import_resources', 'failed'), 1, 'worker: a failed import +1';
ok v($m1, 'ecoatlas_worker_task_duration_seconds_sum', task => 'sleep') >= 2, 'worker durations: the sleep ran 2 s or more';
is v($m1, 'ecoatlas_workers_live'), 1, 'one live worker';
is v($m1, 'ecoatlas_task_queue_length', state => 'dead') - v($m, 'ecoatlas_task_queue_length', state => 'dead'), 2,
    'dead letters: +2 (the time-limit kill and the failed import)';
is v($m1, 'ecoatlas_task_queue_length', state => 'ready'), 0, 'the queue is empty';
kill 'TERM', $wpid;
waitpid $wpid, 0;
is $? >> 8, 0, 'the worker stopped';

$m = m_();
is post_('tasks_eager', '/api/resource-metrics/enqueue_snapshot/', '{}', auth_header($staff))->code, 202, 'an eager snapshot';
$res = $ua->request(HTTP::Request::Common::POST(url('tasks_eager', '/api/imports/'), auth_header($staff),
    Content_Type => 'form-data',
    Content => [ dataset_name => 'Metrics', file => [undef, 'm.csv', 'Content-Type' => 'text/csv',
                 Content => "iso3,value,resource_type\nBEN,5,wind\nBEN,6,solar\n"] ]));
is $res->code, 202, 'an eager import';
is post_('tasks_down', '/api/resource-metrics/enqueue_snapshot/', '{}', auth_header($staff))->code, 503,
    'broker unreachable: 503';
$m1 = m_();
is v($m1, 'ecoatlas_tasks_eager_total', task => 'generate_metric_snapshot', outcome => 'success')
    - v($m, 'ecoatlas_tasks_eager_total', task => 'generate_metric_snapshot', outcome => 'success'), 1, 'eager runs: +1';
is v($m1, 'ecoatlas_import_rows_eager_total', task => 'import_resources')
    - v($m, 'ecoatlas_import_rows_eager_total', task => 'import_resources'), 2, 'eager import rows: +2';
ok v($m1, 'ecoatlas_import_upload_bytes_total', task => 'import_resources')
    - v($m, 'ecoatlas_import_upload_bytes_total', task => 'import_resources') > 40, 'import upload bytes counted';
is v($m1, 'ecoatlas_task_broker_errors_total') - v($m, 'ecoatlas_task_broker_errors_total'), 1, 'broker errors: +1';
my ($mdownq) = scrape('tasks_down');
is v($mdownq, 'ecoatlas_task_broker_up'), 0, 'a scrape where the broker is down: ecoatlas_task_broker_up 0';

# ---- mod_status ---------------------------------------------------------------------------------
$res = $ua->get(url('default', '/server-status?auto'));
like $res->content, qr/^EcoAtlasRequests: [1-9][0-9]*$/m, 'server-status?auto: EcoAtlasRequests';
like $res->content, qr/^EcoAtlasCacheListenersUp: [1-9]$/m, '... and the listeners up';
like $ua->get(url('default', '/server-status'))->content, qr{<h2>mod_ecoatlas</h2>}, 'server-status (HTML): the section';

# ---- a graceful restart keeps the counts -----------------------------------------------------------
$m = m_();
{
    my $pidfile = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $pidfile or die "$pidfile: $!";
    chomp(my $pid = <$fh>);
    kill 'USR1', $pid;
    sleep 1;
    for (1 .. 50) {
        last if $ua->get(url('default', '/api/countries/'))->is_success;
        sleep 0.1;
    }
}
$m1 = m_();
ok req($m1, 'Country List', '2xx') > req($m, 'Country List', '2xx'), 'after a graceful restart the count went on';
is v($m1, 'ecoatlas_metrics_start_time_seconds'), v($m, 'ecoatlas_metrics_start_time_seconds'),
    '... from the same start time';

is scalar(grep { $_ } @parse_errors), 0, "all $scrapes scrapes parse as strict Prometheus text";
