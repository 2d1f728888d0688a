# HTTP conventions of the read API (docs/decisions.md §2.1-§2.3, §3; decisions
# D10, D11, D12): 404 bodies, 405 on GET-only actions, 401 for anonymous
# writes, content negotiation (406, text/html, indent), HEAD, OPTIONS,
# trailing-slash redirects, Content-Type / Vary / Allow headers.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use EaTest qw(db reset_db seed_fixture get_json decode_json_body);

plan tests => 242;

my $HP = Apache::TestRequest::hostport();

# Any method, no redirect following.
sub req {
    my ($method, $path, $headers, $content) = @_;
    my $ua = Apache::TestRequest::user_agent();
    local $Apache::TestRequest::RedirectOK = 0;
    my $r = HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), $headers // []);
    if (defined $content) {
        $r->content($content);
        $r->header('Content-Length' => length $content);
    }
    return $ua->request($r);
}
sub sb { my $res = shift; return $res->code . ' ' . $res->content }

reset_db();
my $f = seed_fixture();
db()->do(q{UPDATE core_country SET created_at = '2025-12-03 16:00:41.123456+00', updated_at = '2025-01-01 00:00:00+00',
           boundary = '{"type": "Point", "holes": [], "properties": {}, "coordinates": [1.5, 6.25]}'});
db()->do(q{UPDATE core_region SET created_at = '2025-01-01 00:00:00+00', updated_at = '2025-02-03 04:05:06.789+00'});
db()->do(q{UPDATE core_hydrosite SET notes = 'a,b:{c}[d]"e\\f', created_at = '2025-01-01 00:00:00+00',
           updated_at = '2025-01-01 00:00:00+00'});

my $LIST   = 'GET, POST, HEAD, OPTIONS';
my $DETAIL = 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS';
my $GETO   = 'GET, HEAD, OPTIONS';
my $NF     = '404 {"detail":"Not found."}';

# ---- 404 Not found.: unknown paths, non-integer pks -------------------------------
for my $path ('/api/nothing/', '/api/countries/1/extra/', '/api/stats/foo/', '/api/stats/by_country/x/',
              '/api/hydro-sites/summary/x/', '/api/COUNTRIES/', '/api/nothing',
              '/api/hydro-sites/timeline/', '/api/auth/', '/small/api/nothing/') {
    my $res = req(GET => $path);
    is sb($res), $NF, "GET $path → 404 Not found.";
    is scalar $res->header('Content-Type'), 'application/json', "GET $path → application/json (D12)";
}
for my $path ('/api/countries/abc/', '/api/regions/x1/', '/api/datasets/1a/', '/api/hydro-sites/one/',
              '/api/resource-metrics/1e3/', '/api/climate-series/0x1/', '/api/countries/summary/',
              '/api/resource-metrics/summary/', '/api/countries/1.5/', '/small/api/countries/abc/') {
    is sb(req(GET => $path)), $NF, "GET $path (non-integer pk) → 404 Not found.";
}
# Django converts the pk with Python's int(): sign and surrounding blanks are accepted.
like sb(req(GET => '/api/countries/+1/')), qr/^200 \{"id":1,/, 'GET /api/countries/+1/ → country 1 (int("+1"))';
like sb(req(GET => '/api/countries/%201/')), qr/^200 \{"id":1,/, 'GET /api/countries/%201/ → country 1 (int(" 1"))';

# D12: errors httpd itself raises under /api are JSON too
for my $case (['/api/countries/%zz/', 400], ['/api/countries/a%2Fb/', 404], ['/api/countries/%FF/', 404]) {
    my ($path, $code) = @$case;
    my $res = req(GET => $path);
    my $d = decode_json_body($res);
    ok $res->code == $code && ($res->header('Content-Type') // '') eq 'application/json'
        && ref $d eq 'HASH' && defined $d->{detail} && keys(%$d) == 1,
        "GET $path → $code with a JSON {\"detail\"} body (D12)" or diag sb($res);
}

# ---- 404 No <Model> matches the given query. -------------------------------------
my %model = (countries => 'Country', regions => 'Region', datasets => 'EnergyDataset',
             'hydro-sites' => 'HydroSite', 'resource-metrics' => 'ResourceMetric', 'climate-series' => 'ClimateSeries');
for my $prefix (sort keys %model) {
    my $res = req(GET => "/api/$prefix/999/");
    is sb($res), qq<404 {"detail":"No $model{$prefix} matches the given query."}>, "GET /api/$prefix/999/";
    is scalar $res->header('Allow'), $DETAIL, "GET /api/$prefix/999/: Allow of a detail route";
}
is sb(req(GET => '/api/countries/0/')), '404 {"detail":"No Country matches the given query."}', 'pk 0';
is sb(req(GET => '/api/countries/-1/')), '404 {"detail":"No Country matches the given query."}', 'pk -1';
is sb(req(GET => '/api/hydro-sites/2/')), '404 {"detail":"No HydroSite matches the given query."}', 'next id after the fixture';
like sb(req(GET => '/api/hydro-sites/1/')), qr/^200 \{"id":1,/, 'existing site → 200';
# beyond bigint: Django compares it as a number and finds nothing
is sb(req(GET => '/api/countries/99999999999999999999/')), '404 {"detail":"No Country matches the given query."}',
    'pk beyond the bigint range → No Country matches';

# ---- 405 on GET-only actions -----------------------------------------------------
for my $path ('/api/hydro-sites/summary/', '/api/resource-metrics/timeseries/', '/api/climate-series/timeline/',
              '/api/stats/', '/api/stats/by_country/') {
    for my $m (qw(POST PUT DELETE)) {
        my $res = req($m => $path, ['Content-Type' => 'application/json'], $m eq 'DELETE' ? undef : '{}');
        is sb($res), qq<405 {"detail":"Method \\"$m\\" not allowed."}>, "$m $path → 405";
        is scalar $res->header('Allow'), $GETO, "$m $path: Allow";
    }
}

{
    my $res = req(PATCH => '/api/stats/by_country/?iso3=BEN', ['Content-Type' => 'application/json'], '{}');
    is sb($res), '405 {"detail":"Method \"PATCH\" not allowed."}', 'PATCH stats/by_country → 405';
    is scalar $res->header('Content-Type'), 'application/json', '405 is application/json';
    like scalar $res->header('Vary') // '', qr/\bAccept\b/, '405 varies on Accept';
    is sb(req(FOO => '/api/stats/')), '405 {"detail":"Method \"FOO\" not allowed."}', 'unknown method FOO on stats → 405';
}

# ---- 401 for anonymous writes ---------------------------------------------------
my $AUTH = '401 {"detail":"Authentication credentials were not provided."}';
for my $prefix (sort keys %model) {
    my $res = req(POST => "/api/$prefix/", ['Content-Type' => 'application/json'], '{"name":"X"}');
    is sb($res), $AUTH, "POST /api/$prefix/ → 401";
    is scalar $res->header('WWW-Authenticate'), 'Token', "POST /api/$prefix/: WWW-Authenticate: Token";
    is scalar $res->header('Allow'), $LIST, "POST /api/$prefix/: Allow of a list route";
    my $id = 1;
    for my $m (qw(PUT PATCH DELETE)) {
        my $r = req($m => "/api/$prefix/$id/", ['Content-Type' => 'application/json'], $m eq 'DELETE' ? undef : '{}');
        ok $r->code == 401 && $r->content eq substr($AUTH, 4) && ($r->header('WWW-Authenticate') // '') eq 'Token',
            "$m /api/$prefix/$id/ → 401 + WWW-Authenticate: Token" or diag sb($r);
    }
}
{
    my $res = req(DELETE => '/api/countries/999/');
    is sb($res), $AUTH, 'DELETE of a missing object → 401 (permission before lookup)';
    is scalar $res->header('Allow'), $DETAIL, 'DELETE detail 401: Allow of a detail route';
    is scalar $res->header('Content-Type'), 'application/json', '401 is application/json';
    $res = req(PUT => '/api/countries/', ['Content-Type' => 'application/json'], '{}');
    is sb($res), $AUTH, 'PUT on a list → 401, not 405 (permission first)';
    $res = req(POST => '/api/countries/1/', ['Content-Type' => 'application/json'], '{}');
    is sb($res), $AUTH, 'POST on a detail → 401';
    $res = req(POST => '/api/', ['Content-Type' => 'application/json'], '{}');
    is sb($res), $AUTH, 'POST /api/ → 401 (IsAuthenticatedOrReadOnly)';
    is scalar $res->header('WWW-Authenticate'), 'Token', 'POST /api/: WWW-Authenticate: Token';
    $res = req(POST => '/small/api/countries/', ['Content-Type' => 'application/x-www-form-urlencoded'], 'name=X');
    is sb($res), $AUTH, 'form POST under /small/api → 401';
    $res = req(DELETE => '/api/countries/abc/');
    is sb($res), $AUTH, 'DELETE of a non-integer pk → 401 (permission before lookup)';
    my ($n) = db()->selectrow_array('SELECT (SELECT count(*) FROM core_country) + (SELECT count(*) FROM core_hydrosite)'
        . ' + (SELECT count(*) FROM core_resourcemetric) + (SELECT count(*) FROM core_climateseries)'
        . ' + (SELECT count(*) FROM core_region) + (SELECT count(*) FROM core_energydataset)');
    is $n, 9, 'no anonymous write changed the database';
}
# JSON bodies on unsafe methods are never parsed before the 401
{
    my $res = req(POST => '/api/countries/', ['Content-Type' => 'application/json'], '{not json');
    is sb($res), $AUTH, 'malformed JSON body from an anonymous client → 401';
    $res = req(PATCH => '/api/hydro-sites/1/', ['Content-Type' => 'text/plain'], 'x');
    is sb($res), $AUTH, 'unsupported media type from an anonymous client → 401';
    for my $m (qw(POST PUT PATCH DELETE)) {
        my $r = req($m => '/api/countries/1/', ['Accept' => 'application/json']);
        is $r->code, 401, "$m detail without body → 401";
        is scalar $r->header('Content-Type'), 'application/json', "$m detail 401 → application/json";
    }
}

# ---- 406 and Accept ------------------------------------------------------------
my $NA = '406 {"detail":"Could not satisfy the request Accept header."}';
for my $path ('/api/', '/api/countries/', '/api/countries/1/', '/api/hydro-sites/summary/', '/api/stats/',
              '/api/climate-series/timeline/?variable=rainfall') {
    is sb(req(GET => $path, [Accept => 'text/csv'])), $NA, "GET $path Accept: text/csv → 406";
    is sb(req(GET => $path, [Accept => 'application/pdf'])), $NA, "GET $path Accept: application/pdf → 406";
}
{
    my $res = req(GET => '/api/countries/', [Accept => 'text/csv, application/pdf']);
    is sb($res), $NA, 'Accept: text/csv, application/pdf → 406';
    is scalar $res->header('Content-Type'), 'application/json', '406 is application/json';
    is sb(req(GET => '/api/countries/', [Accept => 'application/xml'])), $NA, 'Accept: application/xml → 406';
    is sb(req(GET => '/api/countries/', [Accept => 'image/*'])), $NA, 'Accept: image/* → 406';
}
my $list = sb(req(GET => '/api/countries/'));
like $list, qr/^200 \{"count":1,/, 'GET /api/countries/ → 200';
for my $accept ('*/*', 'application/*', 'application/json', 'text/html', 'text/csv, application/json',
                'application/json;q=0.5, text/csv', 'text/html;q=0.9, */*;q=0.8', 'APPLICATION/JSON') {
    is sb(req(GET => '/api/countries/', [Accept => $accept])), $list, "Accept: $accept → the JSON list";
}

# ---- indent --------------------------------------------------------------------------------
# DRF's JSONRenderer: json.dumps(indent=N, separators=INDENT_SEPARATORS = (",", ": ")),
# N = max(min(indent, 8), 0), and 0 → None (compact).
my $country_pretty = <<'EOF' =~ s/\n\z//r;
{
    "id": 1,
    "name": "Benin",
    "iso2": "BJ",
    "iso3": "BEN",
    "population": null,
    "boundary": {
        "type": "Point",
        "holes": [],
        "properties": {},
        "coordinates": [
            1.5,
            6.25
        ]
    },
    "region_count": 1,
    "site_count": 1,
    "created_at": "2025-12-03T16:00:41.123456Z",
    "updated_at": "2025-01-01T00:00:00Z"
}
EOF
{
    my $res = req(GET => '/api/countries/1/', [Accept => 'application/json; indent=4']);
    is sb($res), "200 $country_pretty", 'indent=4: DRF json.dumps(indent=4, separators=(",", ": "))';
    is scalar $res->header('Content-Type'), 'application/json', 'indented response is application/json';
    is sb(req(GET => '/api/countries/1/', [Accept => 'application/json;indent=4'])), "200 $country_pretty",
        'indent=4 without a space';
    is sb(req(GET => '/api/countries/999/', [Accept => 'application/json; indent=4'])),
        qq<404 {\n    "detail": "No Country matches the given query."\n}>, 'errors are indented too';
    my $r2 = req(GET => '/api/regions/', [Accept => 'application/json; indent=2']);
    is sb($r2), qq<200 {\n  "count": 1,\n  "next": null,\n  "previous": null,\n  "results": [\n    {\n      "id": 1,\n>
        . qq<      "country": 1,\n      "country_name": "Benin",\n      "name": "Atlantique",\n      "level": "",\n>
        . qq<      "boundary": null,\n      "created_at": "2025-01-01T00:00:00Z",\n>
        . qq<      "updated_at": "2025-02-03T04:05:06.789000Z"\n    }\n  ]\n}>, 'indent=2 on a list';
    my $r3 = req(GET => '/api/hydro-sites/1/', [Accept => 'application/json; indent=2']);
    like $r3->content, qr/\n  "notes": "a,b:\{c\}\[d\]\\"e\\\\f",\n/, 'punctuation inside strings is not indented';
    is sb(req(GET => '/api/countries/1/', [Accept => 'application/json; indent=0'])),
        sb(req(GET => '/api/countries/1/')), 'indent=0 → compact (DRF: zero as None)';
    is sb(req(GET => '/api/countries/1/', [Accept => 'application/json; indent=-3'])),
        sb(req(GET => '/api/countries/1/')), 'indent=-3 → 0 → compact';
    is sb(req(GET => '/api/countries/1/', [Accept => 'application/json; indent=abc'])),
        sb(req(GET => '/api/countries/1/')), 'indent=abc → compact';
    is sb(req(GET => '/api/countries/1/', [Accept => 'application/json; indent=12'])),
        '200 ' . ($country_pretty =~ s/^((?:    )+)/' ' x (2 * length $1)/gmer), 'indent=12 is clamped to 8';
}

# ---- HEAD ----------------------------------------------------------------------
for my $path ('/api/countries/', '/api/countries/1/', '/api/stats/') {
    my $get = req(GET => $path);
    my $head = req(HEAD => $path);
    is $head->code, 200, "HEAD $path → 200";
    is $head->content, '', "HEAD $path: no body";
    is scalar $head->header('Content-Type'), 'application/json', "HEAD $path: Content-Type";
}
{
    my $get = req(GET => '/api/countries/');
    my $head = req(HEAD => '/api/countries/');
    ok !defined $head->header('Content-Length') || $head->header('Content-Length') == length $get->content,
        'HEAD: Content-Length, when sent, is that of the GET body';
}

{
    my $head = req(HEAD => '/api/countries/');
    is scalar $head->header('Allow'), $LIST, 'HEAD list: Allow';
    like scalar $head->header('Vary') // '', qr/\bAccept\b/, 'HEAD list: Vary Accept';
    my $h404 = req(HEAD => '/api/countries/999/');
    is $h404->code . '|' . $h404->content, '404|', 'HEAD of a missing object → 404, no body';
    my $h406 = req(HEAD => '/api/countries/', [Accept => 'text/csv']);
    is $h406->code . '|' . $h406->content, '406|', 'HEAD with Accept: text/csv → 406, no body';
    my $h400 = req(HEAD => '/api/hydro-sites/?status=foo');
    is $h400->code . '|' . $h400->content, '400|', 'HEAD with an invalid filter → 400, no body';
    my $hs = req(HEAD => '/api/hydro-sites/summary/');
    is $hs->code . '|' . $hs->content, '200|', 'HEAD on an action → 200, no body';
}

# ---- OPTIONS -------------------------------------------------------------------
{
    my $res = req(OPTIONS => '/api/countries/');
    my $d = decode_json_body($res);
    is $res->code, 200, 'OPTIONS list → 200';
    is scalar $res->header('Allow'), $LIST, 'OPTIONS list: Allow';
    is scalar $res->header('Content-Type'), 'application/json', 'OPTIONS list: application/json';
    is ref $d eq 'HASH' ? $d->{name} : undef, 'Country List', 'OPTIONS list: name "Country List"';
    ok ref $d eq 'HASH' && ref $d->{renders} eq 'ARRAY' && grep({ $_ eq 'application/json' } @{ $d->{renders} }),
        'OPTIONS list: renders application/json';
    is ref $d eq 'HASH' && ref $d->{parses} eq 'ARRAY' ? join(',', @{ $d->{parses} }) : undef,
        'application/json,application/x-www-form-urlencoded,multipart/form-data', 'OPTIONS list: parses';
    ok ref $d eq 'HASH' && !exists $d->{actions}, 'OPTIONS for an anonymous client: no "actions"';
    like $res->content, qr/^\{"name":"Country List","description":/, 'OPTIONS body key order: name, description';

    $res = req(OPTIONS => '/api/countries/1/');
    $d = decode_json_body($res);
    is $res->code . ' ' . (ref $d eq 'HASH' ? $d->{name} : ''), '200 Country Instance', 'OPTIONS detail: "Country Instance"';
    is scalar $res->header('Allow'), $DETAIL, 'OPTIONS detail: Allow';

    $res = req(OPTIONS => '/api/hydro-sites/summary/');
    is $res->code . ' ' . ($res->header('Allow') // '-'), "200 $GETO", 'OPTIONS summary → 200, Allow GET, HEAD, OPTIONS';
    $res = req(OPTIONS => '/api/stats/');
    is $res->code . ' ' . ($res->header('Allow') // '-'), "200 $GETO", 'OPTIONS stats → 200';
    $res = req(OPTIONS => '/api/');
    is $res->code . ' ' . ($res->header('Allow') // '-'), "200 $GETO", 'OPTIONS root → 200';
    $res = req(OPTIONS => '/api/countries/999/');
    $d = decode_json_body($res);
    is $res->code . ' ' . (ref $d eq 'HASH' ? $d->{name} : ''), '200 Country Instance',
        'OPTIONS on a missing object → 200 (no lookup for anonymous metadata)';
    $res = req(OPTIONS => '/api/nothing/');
    is sb($res), $NF, 'OPTIONS unknown path → 404';
}

# ---- trailing slash (D10) ------------------------------------------------------
my $loc = sub { my $res = shift; return $res->code . ' ' . (($res->header('Location') // '') =~ s{^http://[^/]+}{}r) };
is $loc->(req(GET => '/api/countries')), '301 /api/countries/', 'GET /api/countries → 301 /api/countries/';
is $loc->(req(GET => '/api/countries?page=2&page_size=1')), '301 /api/countries/?page=2&page_size=1', 'query kept';
is $loc->(req(HEAD => '/api/countries')), '301 /api/countries/', 'HEAD → 301';
is $loc->(req(GET => '/api/countries/1')), '301 /api/countries/1/', 'detail without slash → 301';
is $loc->(req(GET => '/api')), '301 /api/', 'GET /api → 301 /api/';
is $loc->(req(GET => '/api/hydro-sites/summary')), '301 /api/hydro-sites/summary/', 'action without slash → 301';
is $loc->(req(GET => '/api/stats/by_country?iso3=BEN')), '301 /api/stats/by_country/?iso3=BEN', 'stats action, query kept';
is $loc->(req(GET => '/small/api/countries')), '301 /small/api/countries/', 'under /small/api';
is $loc->(req(POST => '/api/countries', ['Content-Type' => 'application/json'], '{}')), '308 /api/countries/', 'POST → 308';
is $loc->(req(PUT => '/api/countries/1', ['Content-Type' => 'application/json'], '{}')), '308 /api/countries/1/', 'PUT → 308';
is $loc->(req(PATCH => '/api/countries/1', ['Content-Type' => 'application/json'], '{}')), '308 /api/countries/1/', 'PATCH → 308';
is $loc->(req(DELETE => '/api/countries/1')), '308 /api/countries/1/', 'DELETE → 308';
is $loc->(req(POST => '/api/hydro-sites/summary?x=1', ['Content-Type' => 'application/json'], '{}')),
    '308 /api/hydro-sites/summary/?x=1', 'POST to an action → 308, query kept';
is sb(req(GET => '/api/countries/1/extra')), $NF, 'no redirect when the slashed path is no route';
# docs/security.md: a decoded CR/LF cannot go into Location (httpd answered 500)
for my $p ('/api/countries/1%0d%0aSet-Cookie:%20x=1', '/api/countries%0a', '/api/countries/%0d', '/api/countries/1%09') {
    is sb(req(GET => $p)), $NF, "control character in a path to redirect ($p) → 404 JSON, no redirect";
}
{
    my $res = Apache::TestRequest::GET('/api/countries?page_size=1');
    is $res->code, 200, 'a client following the redirect gets 200';
    my $d = decode_json_body($res);
    is ref $d eq 'HASH' ? $d->{count} : undef, 1, '… and the list';
}

# ---- Content-Type, Vary, Allow on successful reads -----------------------------
for my $case (['/api/countries/', $LIST], ['/api/countries/1/', $DETAIL], ['/api/hydro-sites/summary/', $GETO],
              ['/api/resource-metrics/timeseries/', $GETO], ['/api/climate-series/timeline/?variable=rainfall', $GETO],
              ['/api/stats/', $GETO], ['/api/stats/by_country/?iso3=BEN', $GETO]) {
    my ($path, $allow) = @$case;
    my $res = req(GET => $path);
    is $res->code . ' ' . ($res->header('Content-Type') // '-') . ' ' . ($res->header('Allow') // '-'),
        "200 application/json $allow", "GET $path: 200, Content-Type, Allow";
    like scalar $res->header('Vary') // '', qr/(^|,\s*)Accept(\s*,|$)/i, "GET $path: Vary includes Accept";
}
