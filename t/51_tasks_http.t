# The task endpoints: POST /api/resource-metrics/enqueue_snapshot/,
# GET /api/tasks/<id>/ and POST /api/imports/ (staff only), queued to the
# test Redis and run by ecoatlas-worker, or run in the request (eager mode,
# <VirtualHost tasks_eager>); a broker nobody listens on -> 503 at once.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use File::Temp qw(tempdir);
use HTTP::Request::Common ();
use JSON::PP ();
use LWP::UserAgent ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use EaTest qw(db reset_db seed_fixture decode_json_body user_token staff_token auth_header);

plan tests => 38;

my $build = $ENV{EA_BUILD} or die 'EA_BUILD';
my $sock = $ENV{EA_REDIS_SOCKET} or die 'EA_REDIS_SOCKET';
my $worker = $ENV{EA_WORKER} || "$build/worker/ecoatlas-worker";
my $dir = tempdir(CLEANUP => 1);
my $ua = LWP::UserAgent->new(timeout => 20, max_redirect => 0);
my $uuid = qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

sub url {
    my ($module, $path) = @_;
    Apache::TestRequest::module($module);
    my $u = Apache::TestRequest::resolve_url($path);
    Apache::TestRequest::module('default');
    return $u;
}
sub post_json {
    my ($module, $path, $body, @h) = @_;
    return $ua->post(url($module, $path), 'Content-Type' => 'application/json', Content => $body, @h);
}
sub get_ { my ($module, $path, @h) = @_; return $ua->get(url($module, $path), @h) }
sub upload {
    my ($module, $name, $content, $fields, @h) = @_;
    return $ua->request(HTTP::Request::Common::POST(url($module, '/api/imports/'), @h,
        Content_Type => 'form-data',
        Content => [ %$fields, defined $name ? (file => [undef, $name, 'Content-Type' => 'text/csv', Content => $content]) : () ]));
}
sub detail { my ($res) = @_; my $d = decode_json_body($res); return $res->code . ' ' . (ref $d eq 'HASH' ? $d->{detail} // '' : '') }

reset_db();
seed_fixture();
system('redis-cli', '-s', $sock, '-n', '3', 'FLUSHDB');
my $staff = staff_token();
my $user = user_token('reader', staff => 0);

# ---- permissions ---------------------------------------------------------------------------
my $res = post_json('default', '/api/resource-metrics/enqueue_snapshot/', '{}');
is detail($res), '401 Authentication credentials were not provided.', 'enqueue_snapshot anonymous: 401';
is $res->header('WWW-Authenticate'), 'Token', '... with WWW-Authenticate: Token';
$res = post_json('default', '/api/resource-metrics/enqueue_snapshot/', '{}', auth_header($user));
is detail($res), '403 You do not have permission to perform this action.', 'enqueue_snapshot non-staff: 403';

# ---- queued: 202 with the id, the record readable by staff -----------------------------------
$res = post_json('default', '/api/resource-metrics/enqueue_snapshot/', '{"country_iso3": "BEN"}', auth_header($staff));
is $res->code, 202, 'enqueue_snapshot staff: 202';
my $body = decode_json_body($res);
like $body->{task_id}, $uuid, '{"task_id": <uuid4>}';
is join(',', keys %$body), 'task_id', 'only task_id';
my $id = $body->{task_id};
$res = get_('default', "/api/tasks/$id/");
is detail($res), '401 Authentication credentials were not provided.', 'GET tasks/<id> anonymous: 401';
is $res->header('WWW-Authenticate'), 'Token', '... with WWW-Authenticate: Token';
is detail(get_('default', "/api/tasks/$id/", auth_header($user))), '403 You do not have permission to perform this action.',
    'GET tasks/<id> non-staff: 403 (reads too)';
is detail($ua->request(HTTP::Request->new(OPTIONS => url('default', "/api/tasks/$id/")))),
    '401 Authentication credentials were not provided.', 'OPTIONS tasks/<id> anonymous: 401 (staff for every method)';
$res = get_('default', "/api/tasks/$id/", auth_header($staff));
is $res->code, 200, 'GET tasks/<id> staff: 200';
my $rec = decode_json_body($res);
is $rec->{status}, 'PENDING', 'no worker yet: PENDING';
is $rec->{task_id}, $id, 'the record carries the id';
is detail(get_('default', '/api/tasks/00000000-0000-4000-8000-000000000000/', auth_header($staff))), '404 Not found.',
    'unknown task id: 404';
is detail(get_('default', '/api/tasks/not-a-uuid/', auth_header($staff))), '404 Not found.', 'malformed task id: 404';
$res = post_json('default', '/api/resource-metrics/enqueue_snapshot/', '{"country_iso3": 5}', auth_header($staff));
is $res->code . ' ' . $res->content, '400 {"country_iso3":["Not a valid string."]}', 'country_iso3 not a string: 400';

# the worker picks it up; the result through the API
my $pid = fork // die;
if ($pid == 0) {
    open my $conf, '>', "$dir/w.conf" or die;
    print {$conf} qq{DBDParams "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}"\n},
                  qq{EcoAtlasBrokerURL "unix://$sock?db=3"\nLogLevel warn\n},
                  qq{EcoAtlasImportDir "$build/t-run"\n};   # httpd's: the worker reads uploads there only
    close $conf;
    $ENV{ASAN_OPTIONS} = 'detect_leaks=0';
    open STDOUT, '>', "$dir/w.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec $worker, '-f', "$dir/w.conf", '--foreground', '-c', '1' or die;
}
my $deadline = time + 15;
do { sleep 0.1; $rec = decode_json_body(get_('default', "/api/tasks/$id/", auth_header($staff))) }
    while ($rec->{status} ne 'SUCCESS' && time < $deadline);
is $rec->{status}, 'SUCCESS', 'enqueue -> worker -> SUCCESS through GET /api/tasks/<id>/';
is_deeply $rec->{result}{resource_types}, [{ resource_type => 'solar', metrics => 2, total => 346.8 }], '... with the result';
is $rec->{attempts}, 1, '... attempts';
ok $rec->{created} && $rec->{started} && $rec->{finished} && !defined $rec->{error}, '... timestamps, no error';

# ---- imports ----------------------------------------------------------------------------------
my $csv = "iso3,country,metric,value,unit,year\nBEN,Benin,solar_potential_kwh_m2,2100,kWh/m2,2024\n"
        . "NER,Niger,solar_potential_kwh_m2,2300,kWh/m2,2024\n";
is detail(upload('default', 'm.csv', $csv, {})), '401 Authentication credentials were not provided.', 'imports anonymous: 401';
is detail(upload('default', 'm.csv', $csv, {}, auth_header($user))), '403 You do not have permission to perform this action.',
    'imports non-staff: 403';
$res = upload('default', undef, '', { dataset_name => 'x' }, auth_header($staff));
is $res->code . ' ' . $res->content, '400 {"file":["No file was submitted."]}', 'imports without a file: 400';
$res = upload('default', 'm.xlsx', $csv, {}, auth_header($staff));
is $res->code, 400, 'imports of an .xlsx: 400';
$res = upload('default', 'm.csv', $csv, { dataset_name => 'Uploaded' }, auth_header($staff));
is $res->code, 202, 'imports staff: 202';
$id = decode_json_body($res)->{task_id};
$deadline = time + 15;
do { sleep 0.1; $rec = decode_json_body(get_('default', "/api/tasks/$id/", auth_header($staff))) }
    while ($rec->{status} !~ /^(SUCCESS|FAILURE)$/ && time < $deadline);
is $rec->{status}, 'SUCCESS', 'the uploaded file was imported by the worker';
is $rec->{result}{message}, '2 métriques importées vers Uploaded.', '... with the contract message';
is db()->selectrow_array(q{SELECT count(*) FROM core_resourcemetric m JOIN core_energydataset d ON d.id = m.dataset_id
                           WHERE d.name = 'Uploaded'}), 2, '... and the rows are in the database';
my @left = glob("$build/t-run/ecoatlas-import-*");
is scalar(@left), 0, 'the uploaded file was removed after the import';

kill 'TERM', $pid;
waitpid $pid, 0;
is $? >> 8, 0, 'the worker stopped';

# ---- eager mode: the task runs in the request ---------------------------------------------------
$res = post_json('tasks_eager', '/api/resource-metrics/enqueue_snapshot/', '{}', auth_header($staff));
is $res->code, 202, 'eager enqueue_snapshot: 202';
$id = decode_json_body($res)->{task_id};
like $id, $uuid, '... with a task id';
$rec = decode_json_body(get_('tasks_eager', "/api/tasks/$id/", auth_header($staff)));
is $rec->{status}, 'SUCCESS', 'eager: the record is SUCCESS at once';
is $rec->{result}{total_metrics}, 4, '... with the result (all countries)';
$res = upload('tasks_eager', 'e.csv', "iso3,value,resource_type\nBEN,5,wind\n", { dataset_name => 'Eager' }, auth_header($staff));
is $res->code, 202, 'eager import: 202';
is db()->selectrow_array(q{SELECT resource_type || ' ' || value FROM core_resourcemetric m
                           JOIN core_energydataset d ON d.id = m.dataset_id WHERE d.name = 'Eager'}), 'wind 5.0000',
    '... imported during the request (resource_type column honoured)';

# ---- Redis unreachable: 503 quickly, nothing queued ----------------------------------------------
my $t0 = time;
$res = post_json('tasks_down', '/api/resource-metrics/enqueue_snapshot/', '{}', auth_header($staff));
is detail($res), '503 The task queue is unavailable; try again later.', 'broker unreachable: 503 with a JSON detail';
ok time - $t0 < 3, sprintf('... quickly (%.2f s)', time - $t0);
system('redis-cli', '-s', $sock, '-n', '3', 'FLUSHDB');
