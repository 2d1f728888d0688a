use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# The OpenAPI document (GET /api/schema/) is kept true: every path and
# method in it is requested, and every real response is validated against
# the schema the document gives for its status and content type (key order,
# nullability, decimals as strings included).  Also: the document's headers
# and forms (YAML, JSON), info as docs/decisions.md §2.9, and /api/docs/.

use Test::More;
use Apache::TestRequest qw(GET POST);
use HTTP::Request ();
use JSON::PP ();
use Encode ();
use EaTest qw(reset_db seed_fixture);
use EaOpenAPI ();
use File::Temp ();

plan tests => 15;

reset_db();
my $f = seed_fixture();
my $ua = Apache::TestRequest::user_agent();
my $base = Apache::TestRequest::resolve_url('/');
$base =~ s{/$}{};

# Staff credentials exist once the auth work is merged; until then writes
# are requested anonymously and must answer the documented 401.
my $token = EaTest::staff_token();

# ---- the document itself ---------------------------------------------------------
my $yaml_res = GET('/api/schema/');
my $json_res = GET('/api/schema/?format=json');
is(join(' | ', $yaml_res->code, scalar $yaml_res->header('Content-Type'),
        scalar $yaml_res->header('Content-Disposition')),
   '200 | application/vnd.oai.openapi; charset=utf-8 | inline; filename="EcoPowerAtlas API.yaml"',
   'YAML by default, with drf-spectacular\'s headers');
is(join(' | ', $json_res->code, scalar $json_res->header('Content-Type'),
        scalar $json_res->header('Content-Disposition')),
   '200 | application/vnd.oai.openapi+json | inline; filename="EcoPowerAtlas API.json"',
   '?format=json: JSON');
{
    my @got;
    for my $accept ('application/json', 'application/vnd.oai.openapi+json', 'application/vnd.oai.openapi',
                    'application/yaml', '*/*', 'text/csv') {
        my $r = GET('/api/schema/', Accept => $accept);
        push @got, "$accept => " . $r->code . ' ' . ($r->header('Content-Type') // '');
    }
    is_deeply(\@got, [
        'application/json => 200 application/json',
        'application/vnd.oai.openapi+json => 200 application/vnd.oai.openapi+json',
        'application/vnd.oai.openapi => 200 application/vnd.oai.openapi; charset=utf-8',
        'application/yaml => 200 application/vnd.oai.openapi; charset=utf-8',
        '*/* => 200 application/vnd.oai.openapi; charset=utf-8',
        'text/csv => 406 application/json',
    ], 'Accept chooses the form; a type neither form has gets 406');
}

open my $src, '<:raw', "$ENV{EA_TOP}/docs/openapi.yaml" or die "docs/openapi.yaml: $!";
my $yaml_src = do { local $/; <$src> };
ok($yaml_res->content eq $yaml_src, 'the YAML served is docs/openapi.yaml, byte for byte');

my $api = EaOpenAPI->new($json_res->content);
my $doc = $api->doc;
{
    # YAML::PP is a build dependency (tools/openapi2json.pl): always there.
    require YAML::PP;
    my $y = YAML::PP->new(schema => ['Core'])->load_string(Encode::decode('UTF-8', $yaml_src));
    my $j = JSON::PP->new->utf8->decode($json_res->content);
    is_deeply($j, $y, 'the JSON form says what the YAML says');
}

my $info = $doc->{info};
delete $_->{__keys__} for $info, $info->{contact}, $info->{license};
is_deeply([$doc->{openapi}, $info], ['3.0.3', {
    title => 'EcoPowerAtlas API',
    description => "API pour la cartographie et l\x{2019}analyse PHES.",
    version => '0.2.0',
    contact => { name => 'EcoPowerAtlas Team', email => 'ops@ecopoweratlas.org' },
    license => { name => 'Copyright EcoPowerAtlas' },
}], 'openapi 3.0.3 and info as docs/decisions.md §2.9');

# ---- every route of the API is in the document ---------------------------------
my @contract_routes = qw(
    /api/ /api/countries/ /api/countries/{id}/ /api/regions/ /api/regions/{id}/
    /api/datasets/ /api/datasets/{id}/ /api/hydro-sites/ /api/hydro-sites/{id}/
    /api/hydro-sites/summary/ /api/hydro-sites/export/ /api/resource-metrics/
    /api/resource-metrics/{id}/ /api/resource-metrics/export/ /api/resource-metrics/export_pdf/
    /api/resource-metrics/timeseries/ /api/resource-metrics/enqueue_snapshot/
    /api/climate-series/ /api/climate-series/{id}/ /api/climate-series/timeline/
    /api/stats/ /api/stats/by_country/ /api/schema/ /api/docs/ /api/auth/token/
    /api/auth/login/ /api/auth/logout/ /api/tasks/{id}/ /api/imports/);
is_deeply([sort grep { $_ ne '__keys__' } keys %{ $doc->{paths} }], [sort @contract_routes],
          'the document has exactly the routes of docs/decisions.md §2.2 and D9/D15');

my %opids;
for my $p (keys %{ $doc->{paths} }) {
    next if $p eq '__keys__';
    for my $m (qw(get post put patch delete)) {
        my $op = $doc->{paths}{$p}{$m} or next;
        $opids{ $op->{operationId} } = "$m $p";
    }
}
my @want_ids = qw(countries_list countries_create countries_retrieve countries_update
    countries_partial_update countries_destroy hydro_sites_summary_retrieve
    hydro_sites_export_retrieve resource_metrics_export_retrieve
    resource_metrics_export_pdf_retrieve resource_metrics_timeseries_retrieve
    resource_metrics_enqueue_snapshot_create climate_series_timeline_retrieve stats_list
    stats_by_country_retrieve auth_token_create);
is_deeply([grep { !$opids{$_} } @want_ids], [], 'operationIds of docs/decisions.md §2.9');

# ---- every operation, against the real server ------------------------------------
my %pk = (countries => $f->{country}, regions => $f->{region}, datasets => $f->{dataset},
          'hydro-sites' => $f->{site}, 'resource-metrics' => $f->{metrics}[0],
          'climate-series' => $f->{climate_series}, tasks => '3f1c2d9e-0000-4000-8000-000000000000');
my %sample = (country__iso3 => 'BEN', iso2 => 'BJ', iso3 => 'BEN', level => '', dataset_type => 'phes',
              status => 'identified', region__name => 'Atlantique', dataset => $f->{dataset},
              resource_type => 'solar', year => 2023, site => $f->{site}, variable => 'rainfall',
              search => 'a', page => 1, page_size => 10, limit => 100, format => 'json');
# Every route in the document exists: a task to read through /api/tasks/{id}/.
my $task_id = do {
    my $r = $ua->request(HTTP::Request->new(POST => "$base/api/resource-metrics/enqueue_snapshot/",
        [Authorization => "Token $token", 'Content-Type' => 'application/json'], '{"country_iso3":"BEN"}'));
    my $d = eval { JSON::PP->new->utf8->decode($r->content) } || {};
    $d->{task_id} // 'no-task-id';
};
$pk{tasks} = $task_id;

# Does response $res match operation $op?  Returns the list of problems.
sub check_response {
    my ($op, $res) = @_;
    my $code = $res->code;
    my $spec = $op->{responses}{$code}
        or return ("status $code is not documented (" . join(',', grep { /^\d/ } sort keys %{ $op->{responses} })
                   . '): ' . substr($res->content, 0, 200));
    $spec = $api->resolve($spec);
    my $content = $spec->{content};
    if (!$content) {
        return length $res->content ? ("$code: a body where the document says none") : ();
    }
    my $type = $res->header('Content-Type') // '';
    (my $media = lc $type) =~ s/\s*;.*//;
    my $m = $content->{$media}
        or return ("$code: Content-Type '$type' is not documented ("
                   . join(', ', grep { $_ ne '__keys__' } keys %$content) . ')');
    return () unless $media =~ m{json$};
    my $node = eval { EaOpenAPI::parse($res->content) }
        or return ("$code: body is not JSON: $@");
    return map { "$code: $_" } $api->validate($m->{schema}, $node);
}

my %body = (
    countries => { name => 'Openland', iso2 => 'OL', iso3 => 'OPL', population => 10 },
    regions => { country => $f->{country}, name => 'Openregion' },
    datasets => { name => 'Open Dataset', dataset_type => 'resource' },
    'hydro-sites' => { name => 'Open Site', country => $f->{country}, head_m => '12.5' },
    'resource-metrics' => { dataset => $f->{resource_dataset}, country => $f->{country},
                            resource_type => 'wind', metric => 'open', value => '1.5', year => 2020 },
    'climate-series' => { dataset => $f->{climate_dataset}, country => $f->{country},
                          variable => 'open', unit => 'mm' },
);

sub request {
    my ($method, $path, %o) = @_;
    my $req = HTTP::Request->new(uc $method => "$base$path");
    $req->header(Authorization => "Token $token") if $o{auth};
    if ($o{json}) {
        $req->header('Content-Type' => 'application/json');
        $req->content(JSON::PP->new->utf8->encode($o{json}));
    }
    return $ua->request($req);
}

my (@problems, $requests);
my $json = JSON::PP->new->utf8->canonical;
for my $p (sort grep { $_ ne '__keys__' } keys %{ $doc->{paths} }) {
    my $item = $doc->{paths}{$p};
    my ($prefix) = $p =~ m{^/api/([^/]+)/};
    for my $m (qw(get post put patch delete)) {
        my $op = $item->{$m} or next;
        my $write = $m ne 'get';
        my @variants;
        my $path = $p;
        if ($path =~ /\{id\}/) {
            my $id = $pk{$prefix // ''};
            if ($write && $body{$prefix}) {
                # writes act on an object of their own, created first
                my $c = request('post', "/api/$prefix/", auth => 1, json => $body{$prefix});
                my $d = eval { JSON::PP->new->utf8->decode($c->content) } || {};
                $id = $d->{id} // $id;
                $body{$prefix}{name} .= 'x' if exists $body{$prefix}{name};
                $body{$prefix}{metric} .= 'x' if exists $body{$prefix}{metric};
                $body{$prefix}{variable} .= 'x' if exists $body{$prefix}{variable};
            }
            $path =~ s/\{id\}/$id/;
        }
        my @params = map { $api->resolve($_) } @{ $op->{parameters} || [] };
        my @query = map { "$_->{name}=$sample{$_->{name}}" }
                    grep { $_->{in} eq 'query' && defined $sample{ $_->{name} } } @params;
        my @required = map { "$_->{name}=$sample{$_->{name}}" }
                       grep { $_->{in} eq 'query' && $_->{required} } @params;
        push @variants, [ $path . (@required ? '?' . join('&', @required) : '') ];
        push @variants, [ "$path?" . join('&', @query) ] if @query && @query > @required && !$write;
        for my $v (@variants) {
            my $url = $v->[0];
            # (a failed match is an empty list: keep the value a scalar)
            my %o = (auth => ($write || $p =~ m{^/api/tasks/}) ? 1 : 0);
            if ($write && $m ne 'delete') {
                $o{json} = $prefix && $body{$prefix} ? { %{ $body{$prefix} } }
                         : $p =~ /enqueue_snapshot/ ? { country_iso3 => 'BEN' }
                         : $p =~ /auth/ ? { username => 'nobody', password => 'wrong' } : {};
                $o{json}{name} .= $m if $o{json}{name};
            }
            my $res = request($m, $url, %o);
            $requests++;
            my @e = check_response($op, $res);
            push @problems, map { uc($m) . " $url: $_" } @e;
            # the anonymous case of every write, when a token was used above
            if ($write || $o{auth}) {
                my $anon = request($m, $url, json => $o{json});
                push @problems, map { uc($m) . " $url (anonymous): $_" } check_response($op, $anon);
            }
        }
    }
}
is_deeply(\@problems, [], "every operation answers as documented ($requests requests)")
    or diag(join "\n", @problems);

# ---- documented errors -------------------------------------------------------------
{
    my @e;
    my $list = $doc->{paths}{'/api/hydro-sites/'}{get};
    for my $case (['/api/hydro-sites/?status=nope', 400], ['/api/hydro-sites/?page=99', 404],
                  ['/api/countries/999999/', 404, $doc->{paths}{'/api/countries/{id}/'}{get}],
                  ['/api/climate-series/timeline/', 400, $doc->{paths}{'/api/climate-series/timeline/'}{get}],
                  ['/api/stats/by_country/?iso3=XXX', 404, $doc->{paths}{'/api/stats/by_country/'}{get}]) {
        my ($url, $want, $op) = @$case;
        my $res = GET($url);
        push @e, "$url: " . $res->code . " (wanted $want)" if $res->code != $want;
        push @e, map { "$url: $_" } check_response($op // $list, $res);
    }
    my $res = GET('/api/hydro-sites/', Accept => 'application/pdf');
    push @e, map { "406: $_" } check_response($list, $res);
    push @e, 'Accept: application/pdf on a list: ' . $res->code if $res->code != 406;
    is_deeply(\@e, [], 'filter errors (400), bad page/id (404), missing parameter (400) and 406 as documented')
        or diag(join "\n", @e);
}
{
    my $res = request('delete', '/api/hydro-sites/', auth => 1);
    my $r = $api->resolve($doc->{components}{responses}{MethodNotAllowed});
    my @e = $api->validate($r->{content}{'application/json'}{schema}, EaOpenAPI::parse($res->content));
    is(join(' ', $res->code, @e), '405', 'a method a path does not serve: 405 with the MethodNotAllowed body');
}
{
    my $res = GET('/api/countries/', Authorization => 'Token nosuchtoken');
    my $op = $doc->{paths}{'/api/countries/'}{get};
    is(join(' ', $res->code, check_response($op, $res)), '401', 'an invalid token: the documented 401');
}

# ---- the docs page ----------------------------------------------------------------
my $page = GET('/api/docs/');
my $html = $page->content;
like(join(' ', $page->code, $page->header('Content-Type'), $html),
     qr{^200 text/html; charset=utf-8 .*<title>EcoPowerAtlas API</title>}s,
     'GET /api/docs/: the Swagger UI page, titled EcoPowerAtlas API');
{
    my @refs = ($html =~ /\b(?:src|href)="([^"]+)"/g);
    my $init = GET('/api/docs/swagger-initializer.js')->content;
    my $css = GET('/api/docs/swagger-ui.css')->content;
    my @e;
    push @e, 'no script or style referenced' unless grep { /\.js$/ } @refs and grep { /\.css$/ } @refs;
    for my $ref (@refs) {
        push @e, "$ref: absolute" if $ref =~ m{^(?:[a-z]+:)?//}i;
        my $r = GET("/api/docs/$ref");
        push @e, "$ref: " . $r->code if $r->code != 200;
        push @e, "$ref: empty" unless length $r->content;
    }
    push @e, 'the page names another server' if $html =~ m{https?://}i;
    push @e, 'the initializer names another server' if $init =~ m{https?://}i;
    push @e, 'the initializer does not point at ../schema/' unless $init =~ m{"\.\./schema/"};
    push @e, 'validatorUrl not off (it calls validator.swagger.io)' unless $init =~ /validatorUrl:\s*null/;
    push @e, "the stylesheet loads $1" if $css =~ m{url\(\s*["']?((?:https?:)?//[^)"']+)};
    is_deeply(\@e, [], 'every asset of the page comes from this server: ' . join(', ', @refs))
        or diag(join "\n", @e);
}

# ---- the page in a real browser: headless Chromium renders every operation --------------
{
    my $chromium = (grep { -x } '/usr/bin/chromium', '/usr/bin/chromium-browser')[0];
    my $n_ops = grep { /^(?:get|post|put|patch|delete) / } values %opids;
    my $profile = File::Temp::tempdir(CLEANUP => 1);
    my $url = Apache::TestRequest::resolve_url('/api/docs/');
    # --no-sandbox: the sandbox needs user namespaces a test machine may not
    # give; the page is our own, from this server.
    my $dom = $chromium
        ? `'$chromium' --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir='$profile' --virtual-time-budget=15000 --dump-dom '$url' 2>/dev/null`
        : '';
    my @ops = $dom =~ /class="opblock-summary-path" data-path="([^"]+)"/g;
    is(scalar(@ops) . ' ' . ($dom =~ m{<h1 class="title">EcoPowerAtlas API<} ? 'titled' : 'untitled'),
       "$n_ops titled", "headless Chromium ($chromium) renders the $n_ops operations of the document");
}
