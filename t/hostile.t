# The standing hostile-input campaign (docs/security.md): requests
# an attacker would send — oversized and malformed request lines, headers,
# query strings, bodies, JSON nesting, multipart, cookies, tokens, Host and
# Origin values — against the real stack.  Each one gets a 4xx answer (JSON
# where the module sees the request; httpd's own refusals of a broken
# request line or header block may be HTML), none a 5xx; the data does not
# change; every child that served them is still alive.  The error log is
# checked for crashes and sanitizer reports by t/apache-tests as for every
# file.  Add a case here whenever a new kind of input reaches the module.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use IO::Socket::INET ();
use JSON::PP ();
use Time::HiRes qw(time);
use EaTest qw(db reset_db seed_fixture staff_token user_token);

reset_db();
my $f = seed_fixture();
my $staff = staff_token();
my $user = user_token('plain');

my ($host, $port) = Apache::TestRequest::resolve_url('/') =~ m{^http://([^:/]+):(\d+)/} or die 'no server';

# One raw request (bytes as given, no fixing up); returns status, headers
# (lower-cased names, last value wins) and body.  Status 0: no answer.
sub raw {
    my ($bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Timeout => 30) or die "connect: $!";
    binmode $s;
    local $SIG{PIPE} = 'IGNORE';
    # a server may answer (and close) before it read everything: keep what came
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($s, $bytes, 65536, $off);
        last unless defined $n && $n > 0;
        $off += $n;
    }
    shutdown($s, 1);
    my $resp = '';
    my $deadline = time + 30;
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    return (0, {}, '') unless defined $head && $head =~ m{^HTTP/1\.[01] (\d{3})};
    my $code = $1;
    my %h;
    for my $line (split /\r\n/, $head) {
        $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }
    $body //= '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return ($code, \%h, $body);
}

sub request {
    my ($method, $path, %o) = @_;
    my @h = ("Host: " . ($o{host} // 'localhost'));
    push @h, @{ $o{headers} // [] };
    my $body = $o{body};
    push @h, 'Content-Length: ' . length($body) if defined $body && !grep { /^(Content-Length|Transfer-Encoding):/i } @h;
    push @h, 'Connection: close';
    return raw("$method $path HTTP/1.1\r\n" . join('', map { "$_\r\n" } @h) . "\r\n" . ($body // ''));
}

my $json = JSON::PP->new;
my @cases;     # [name, sub returning (code, headers, body), expectation]
sub case { push @cases, [@_] }

# Expectations: 'json4xx' (a 4xx with a JSON body), '4xx' (any 4xx: httpd's
# own refusal before the module), 'ok' (a valid request, however odd: 2xx or
# 4xx JSON), 'any' (whatever httpd's own rules say, but never a 5xx).
my $long = 'a' x 9000;
my $tok = "Authorization: Token $staff";
my $ctj = 'Content-Type: application/json';

# ---- request line and query strings ----------------------------------------------------------------
case('request line over LimitRequestLine', sub { request(GET => "/api/countries/?q=$long") }, '4xx');
case('11 search terms', sub { request(GET => '/api/hydro-sites/?search=' . join('+', ('ab') x 11)) }, 'json4xx');
case('search of 201 characters', sub { request(GET => '/api/hydro-sites/?search=' . ('x' x 201)) }, 'json4xx');
case('search of 4,000 terms (the finding)', sub { request(GET => '/api/hydro-sites/?search=' . join('+', ('a') x 3500)) }, 'json4xx');
case('65 query parameters', sub { request(GET => '/api/countries/?' . join('&', map { "p$_=1" } 1 .. 65)) }, 'json4xx');
case('3,000 empty query parameters', sub { request(GET => '/api/countries/?' . join('&', ('x') x 3000)) }, 'json4xx');
case('9 ordering fields', sub { request(GET => '/api/hydro-sites/?ordering=' . join(',', ('name') x 9)) }, 'json4xx');
case('ordering of 4,000 commas', sub { request(GET => '/api/hydro-sites/?ordering=' . (',' x 4000)) }, 'json4xx');
case('NUL in the query', sub { request(GET => '/api/countries/?search=a%00b') }, 'json4xx');
case('huge page number', sub { request(GET => '/api/countries/?page=' . ('9' x 5000)) }, 'json4xx');
case('huge FK id', sub { request(GET => '/api/hydro-sites/?dataset=' . ('9' x 400)) }, 'json4xx');
case('number filter of 10^999999999', sub { request(GET => '/api/resource-metrics/?year=1e999999999') }, 'ok');
case('number filter not a number', sub { request(GET => '/api/resource-metrics/?year=NaN') }, 'json4xx');
case('choice filter of 4 KB', sub { request(GET => '/api/hydro-sites/?status=' . ('z' x 4000)) }, 'json4xx');
case('invalid UTF-8 and escapes in the query', sub { request(GET => '/api/countries/?search=%ff%fe%zz%c3') }, 'ok');
case('unterminated quotes and backslashes in search', sub { request(GET => q{/api/hydro-sites/?search="a\\"+'b+\\\\}) }, 'ok');
case('LIKE wildcards in search', sub { request(GET => '/api/hydro-sites/?search=%25%25_%5C') }, 'ok');
case('timeline limit of 400 digits', sub { request(GET => '/api/climate-series/timeline/?variable=x&limit=' . ('9' x 400)) }, 'ok');
case('stats by_country with a 4 KB iso3', sub { request(GET => '/api/stats/by_country/?iso3=' . ('A' x 4000)) }, 'json4xx');

# ---- paths -------------------------------------------------------------------------------------------
case('CR LF in a path to redirect', sub { request(GET => '/api/countries/1%0d%0aX-Evil:%201') }, 'json4xx');
case('encoded slash', sub { request(GET => '/api/countries%2f1/') }, 'json4xx');
case('dot segments out of the API', sub { request(GET => '/api/countries/%2e%2e/%2e%2e/etc/passwd') }, '4xx');
case('huge primary key', sub { request(GET => '/api/countries/' . ('9' x 300) . '/') }, 'json4xx');
case('negative primary key', sub { request(GET => '/api/countries/-1/') }, 'json4xx');
case('unknown method', sub { request(PROPFIND => '/api/countries/') }, 'json4xx');
case('TRACE', sub { request(TRACE => '/api/countries/') }, 'any');

# ---- headers -----------------------------------------------------------------------------------------
case('one header over LimitRequestFieldSize', sub { request(GET => '/api/', headers => ["X-Big: $long"]) }, '4xx');
case('150 headers', sub { request(GET => '/api/', headers => [map { "X-H$_: v" } 1 .. 150]) }, '4xx');
case('header without a colon', sub { request(GET => '/api/', headers => ['NoColonHere']) }, '4xx');
case('foreign Host', sub { request(GET => '/api/', host => 'evil.example') }, 'json4xx');
case('Host with a path', sub { request(GET => '/api/', host => 'localhost/x') }, '4xx');
case('Host with a huge port', sub { request(GET => '/api/', host => 'localhost:99999999999') }, 'any');
case('Host of 4 KB', sub { request(GET => '/api/', host => 'a' x 4000) }, 'json4xx');
case('empty Host', sub { request(GET => '/api/', host => '') }, '4xx');
case('Accept nonsense', sub { request(GET => '/api/countries/', headers => ['Accept: ;;;,,,/;q=x']) }, 'ok');
case('Accept of 200 types', sub { request(GET => '/api/countries/', headers => ['Accept: ' . join(',', map { "t$_/x;q=0.$_" } 1 .. 200)]) }, 'ok');
case('Accept indent huge', sub { request(GET => '/api/countries/', headers => ['Accept: application/json; indent=99999999999']) }, 'ok');
case('Origin null', sub { request(GET => '/api/countries/', headers => ['Origin: null']) }, 'ok');
case('Origin of 4 KB', sub { request(GET => '/api/countries/', headers => ['Origin: http://' . ('o' x 4000)]) }, 'ok');
case('Origin with spaces and bytes', sub { request(GET => '/api/countries/', headers => ["Origin: http://a b\xff"]) }, 'ok');
case('preflight with junk', sub { request(OPTIONS => '/api/countries/', headers => ['Origin: http://x', 'Access-Control-Request-Method: ' . ('X' x 3000), 'Access-Control-Request-Headers: ' . join(',', ('h') x 500)]) }, 'ok');
case('X-Forwarded-Proto junk', sub { request(GET => '/api/countries/', headers => ['X-Forwarded-Proto: https, http, ' . ('x' x 2000)]) }, 'ok');

# ---- tokens and cookies ---------------------------------------------------------------------------------
case('Token of 5 KB', sub { request(GET => '/api/countries/', headers => ['Authorization: Token ' . ('k' x 5000)]) }, 'json4xx');
case('Token with spaces', sub { request(GET => '/api/countries/', headers => ['Authorization: Token a b c']) }, 'json4xx');
case('Token with bytes', sub { request(GET => '/api/countries/', headers => ["Authorization: Token \xff\xfe"]) }, 'json4xx');
case('Token keyword alone', sub { request(GET => '/api/countries/', headers => ['Authorization: Token']) }, 'json4xx');
case('Basic credentials', sub { request(GET => '/api/countries/', headers => ['Authorization: Basic Zm9vOmJhcg==']) }, 'ok');
case('session cookie of 6 KB', sub { request(GET => '/api/countries/', headers => ['Cookie: sessionid=' . ('s' x 6000)]) }, 'ok');
case('500 cookies', sub { request(GET => '/api/countries/', headers => ['Cookie: ' . join('; ', map { "c$_=v" } 1 .. 500)]) }, 'ok');
case('malformed cookies', sub { request(GET => '/api/countries/', headers => ['Cookie: ;;=;sessionid;sessionid==;=x; csrftoken="']) }, 'ok');
case('forged session on a write', sub { request(POST => '/api/countries/', headers => ['Cookie: sessionid=' . ('a' x 32) . '.' . ('0' x 64), $ctj], body => '{}') }, 'json4xx');

# ---- bodies --------------------------------------------------------------------------------------------
my $deep = ('[' x 100000) . (']' x 100000);
case('JSON nested 100,000 deep', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => $deep) }, 'json4xx');
case('JSON objects nested 5,000 deep', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => ('{"a":' x 5000) . '1' . ('}' x 5000)) }, 'json4xx');
case('JSON nested in a JSON field', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{"name":"Deep","iso3":"DEP","iso2":"DP","boundary":' . ('[' x 3000) . (']' x 3000) . '}') }, 'json4xx');
case('malformed JSON', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{"name":') }, 'json4xx');
case('JSON with NUL in a string', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{"name":"a\u0000b","iso3":"NUL","iso2":"NU"}') }, 'json4xx');
case('JSON with a lone surrogate', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{"name":"a\ud800b","iso3":"SUR","iso2":"SU"}') }, 'json4xx');
case('JSON with invalid UTF-8', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => "{\"name\":\"\xff\xfe\",\"iso3\":\"BAD\"}") }, 'json4xx');
case('JSON number 1e999999', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{"name":"Big","iso3":"BIG","iso2":"BG","population":1e999999}') }, 'json4xx');
case('JSON population of 400 digits', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{"name":"Big","iso3":"BIG","iso2":"BG","population":' . ('9' x 400) . '}') }, 'json4xx');
case('JSON 10,000 keys', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '{' . join(',', map { "\"k$_\":1" } 1 .. 10000) . '}') }, 'json4xx');
case('JSON top-level array', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '[1,2,3]') }, 'json4xx');
case('body over EcoAtlasMaxBodySize', sub { request(POST => '/api/countries/', headers => [$tok, $ctj], body => '"' . ('x' x (2 * 1024 * 1024)) . '"') }, 'json4xx');
case('Content-Length lies (too big)', sub { raw("POST /api/countries/ HTTP/1.1\r\nHost: localhost\r\n$tok\r\n$ctj\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}") }, '4xx');
case('Content-Length negative', sub { raw("POST /api/countries/ HTTP/1.1\r\nHost: localhost\r\n$tok\r\n$ctj\r\nContent-Length: -5\r\nConnection: close\r\n\r\n{}") }, '4xx');
case('bad chunked body', sub { raw("POST /api/countries/ HTTP/1.1\r\nHost: localhost\r\n$tok\r\n$ctj\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n") }, '4xx');
case('unsupported media type', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: text/x-evil'], body => 'x') }, 'json4xx');
case('form with 20,000 fields', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: application/x-www-form-urlencoded'], body => join('&', map { "f$_=v" } 1 .. 20000)) }, 'json4xx');
case('form with NUL', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: application/x-www-form-urlencoded'], body => 'name=a%00b&iso3=NUL&iso2=NU') }, 'json4xx');
case('multipart without boundary', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: multipart/form-data'], body => 'x') }, 'json4xx');
case('multipart with garbage', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: multipart/form-data; boundary=XX'], body => "--XX\r\nno headers end") }, 'json4xx');
case('multipart of 5,000 parts', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: multipart/form-data; boundary=B'], body => join('', map { "--B\r\nContent-Disposition: form-data; name=\"p$_\"\r\n\r\nv\r\n" } 1 .. 5000) . "--B--\r\n") }, 'json4xx');
case('multipart boundary of 2 KB', sub { my $b = 'b' x 2000; request(POST => '/api/countries/', headers => [$tok, "Content-Type: multipart/form-data; boundary=$b"], body => "--$b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--$b--\r\n") }, 'json4xx');
case('multipart part header of 6 KB', sub { request(POST => '/api/countries/', headers => [$tok, 'Content-Type: multipart/form-data; boundary=B'], body => "--B\r\nContent-Disposition: form-data; name=\"" . ('n' x 6000) . "\"\r\n\r\nv\r\n--B--\r\n") }, 'json4xx');
case('import upload by a non-staff user', sub { request(POST => '/api/imports/', headers => ["Authorization: Token $user", 'Content-Type: multipart/form-data; boundary=B'], body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x.csv\"\r\n\r\na,b\r\n--B--\r\n") }, 'json4xx');
case('import upload with a traversal file name', sub { request(POST => '/api/imports/', headers => [$tok, 'Content-Type: multipart/form-data; boundary=B'], body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/x.exe\"\r\n\r\na,b\r\n--B--\r\n") }, 'json4xx');
case('login with 1 MB of password', sub { request(POST => '/api/auth/login/', headers => [$ctj], body => '{"username":"x","password":"' . ('p' x 900000) . '"}') }, 'json4xx');
case('login from another site', sub { request(POST => '/api/auth/login/', headers => [$ctj, 'Origin: https://evil.example'], body => '{"username":"x","password":"y"}') }, 'json4xx');
case('token endpoint with junk', sub { request(POST => '/api/auth/token/', headers => ['Content-Type: application/x-www-form-urlencoded'], body => 'username=%ff&password[]=1') }, 'json4xx');
case('write on a read-only action', sub { request(DELETE => '/api/hydro-sites/summary/', headers => [$tok]) }, 'json4xx');
case('PATCH with a huge id', sub { request(PATCH => '/api/countries/' . ('9' x 40) . '/', headers => [$tok, $ctj], body => '{"name":"x"}') }, 'json4xx');
case('enqueue snapshot with a list for iso3', sub { request(POST => '/api/resource-metrics/enqueue_snapshot/', headers => [$tok, $ctj], body => '{"country_iso3":["' . ('Z' x 4000) . '"]}') }, 'json4xx');

plan tests => 2 * @cases + 3;

# Fingerprint of the data (every table a hostile request might reach).
sub fingerprint {
    my @t = qw(core_country core_region core_energydataset core_hydrosite core_resourcemetric core_climateseries auth_user);
    return join ' ', map { scalar db()->selectrow_array("SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM $_ x") } @t;
}
my $before = fingerprint();

for my $c (@cases) {
    my ($name, $send, $expect) = @$c;
    my ($code, $h, $body) = $send->();
    my $ct = $h->{'content-type'} // '';
    my $decoded = eval { $json->decode($body) };
    ok $code >= 200 && $code < 500, "$name: no 5xx ($code)" or diag substr($body, 0, 300);
    if ($expect eq 'json4xx') {
        ok $code >= 400 && $code < 500 && $ct eq 'application/json' && ref $decoded eq 'HASH' && %$decoded,
            "$name: 4xx with a JSON body saying why" or diag "$code $ct " . substr($body, 0, 300);
    } elsif ($expect eq '4xx') {
        ok $code >= 400 && $code < 500, "$name: 4xx" or diag "$code " . substr($body, 0, 300);
    } elsif ($expect eq 'any') {
        pass "$name: answered ($code)";
    } else {
        ok $code < 300 || ($code < 500 && $ct eq 'application/json' && ref $decoded eq 'HASH'),
            "$name: an answer (2xx, or 4xx JSON)" or diag "$code $ct " . substr($body, 0, 300);
    }
}

is fingerprint(), $before, 'no hostile request changed the data';

# Every child is alive and answering: a normal request still works.
my ($code, undef, $body) = request(GET => '/api/countries/');
is $code, 200, 'the server still answers a normal request';

# No backend left working for a hostile request.
my $busy = db()->selectrow_array(q{SELECT count(*) FROM pg_stat_activity
    WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND datname = current_database()});
is $busy, 0, 'no PostgreSQL backend is still busy';
