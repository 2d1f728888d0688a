# Login endpoints and sessions (docs/decisions.md §2.8, §3, D8, D9): obtain-token
# messages and a new named token per call, Django-compatible password
# hashes, session and CSRF cookies with their flags, every CSRF refusal with
# Django's message, Origin/Referer rules over HTTPS, logout ending the
# session on the server, forged cookies ignored.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use HTTP::Request ();
use HTTP::Request::Common ();
use EaTest qw(:all);

plan tests => 76;

reset_db();
seed_fixture();

# "secret" hashed by Django's PBKDF2PasswordHasher (1000 iterations, salt "seasalt").
my $django_hash = 'pbkdf2_sha256$1000$seasalt$+hs9qSCcGyNSGDNojIEbomuX9WI/mzTF5yfwAXqyKOo=';
create_user('alice', staff => 1, password_hash => $django_hash);
create_user('bob', staff => 0, password_hash => $django_hash);
create_user('carol', staff => 1, active => 0, password_hash => $django_hash);

# One request to a vhost (default: the main server) with a Host header.
sub req {
    my ($method, $path, %o) = @_;
    Apache::TestRequest::module($o{module} // 'default');
    my @h = (Host => $o{host} // 'localhost', @{ $o{headers} // [] });
    my $r = HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), \@h);
    if (defined $o{json}) {
        $r->header('Content-Type' => 'application/json');
        $r->content($o{json});
    } elsif (defined $o{form}) {
        $r->header('Content-Type' => 'application/x-www-form-urlencoded');
        $r->content($o{form});
    }
    my $res = Apache::TestRequest::user_agent()->request($r);
    Apache::TestRequest::module('default');
    return $res;
}

sub body { my $res = shift; return $res->code . ' ' . $res->content }

# The cookies a response sets: name => full Set-Cookie value.
sub set_cookies {
    my ($res) = @_;
    my %c;
    for my $v ($res->header('Set-Cookie')) {
        $c{$1} = $v if $v =~ /^([^=]+)=/;
    }
    return \%c;
}

sub cookie_value { my ($sc) = @_; return $sc =~ /^[^=]+=([^;]*)/ ? $1 : undef }

# ---- POST /api/auth/token/ --------------------------------------------------------------
is body(req(POST => '/api/auth/token/', json => '{}')),
    '400 {"username":["This field is required."],"password":["This field is required."]}',
    'token: missing fields';
is body(req(POST => '/api/auth/token/', json => '{"username":"  ","password":""}')),
    '400 {"username":["This field may not be blank."],"password":["This field may not be blank."]}',
    'token: blank fields (username trimmed)';
is body(req(POST => '/api/auth/token/', json => '{"username":null,"password":["x"]}')),
    '400 {"username":["This field may not be null."],"password":["Not a valid string."]}',
    'token: null and non-string fields';
my $bad = '400 {"non_field_errors":["Unable to log in with provided credentials."]}';
is body(req(POST => '/api/auth/token/', json => '{"username":"alice","password":"wrong"}')), $bad,
    'token: wrong password';
is body(req(POST => '/api/auth/token/', json => '{"username":"nobody","password":"secret"}')), $bad,
    'token: unknown user, same message';
is body(req(POST => '/api/auth/token/', json => '{"username":"carol","password":"secret"}')), $bad,
    'token: inactive user, same message';
is body(req(POST => '/api/auth/token/', json => '{"username":"alice","password":"secret "}')), $bad,
    'token: the password is not trimmed';

my $res = req(POST => '/api/auth/token/', json => '{"username":"alice","password":"secret"}');
is $res->code, 200, 'token: a Django-hashed password logs in';
like $res->content, qr/^\{"token":"[0-9a-f]{40}"\}$/, 'token: {"token": key}';
my ($t1) = $res->content =~ /"([0-9a-f]{40})"/;
$res = req(POST => '/api/auth/token/', form => 'username=alice&password=secret');
is $res->code, 200, 'token: form-urlencoded body';
my ($t2) = $res->content =~ /"([0-9a-f]{40})"/;
isnt $t2, $t1, 'token: every call returns a new key (D8)';
is req(GET => '/api/countries/', headers => [auth_header($t1)])->code, 200, 'the first key works';
is req(GET => '/api/countries/', headers => [auth_header($t2)])->code, 200, 'the second key works';
my $names = db()->selectcol_arrayref(q{SELECT name FROM ecoatlas_token t JOIN auth_user u ON u.id = t.user_id
    WHERE u.username = 'alice' ORDER BY t.id});
like $names->[0], qr/^EcoPowerAtlas API \d{4}-\d\d-\d\d$/, 'tokens are named after EcoAtlasTokenName and the date';
$res = req(POST => '/api/auth/token/', module => 'sessions_https', host => 'api.test',
    headers => ['X-Forwarded-Proto' => 'https'], json => '{"username":"bob","password":"secret"}');
is $res->code, 200, 'token on another vhost';
my $vname = db()->selectrow_array(q{SELECT name FROM ecoatlas_token t JOIN auth_user u ON u.id = t.user_id
    WHERE u.username = 'bob' ORDER BY t.id DESC LIMIT 1});
like $vname, qr/^Sessions vhost \d{4}-/, "... named after that vhost's EcoAtlasTokenName";

$res = HTTP::Request::Common::POST(Apache::TestRequest::resolve_url('/api/auth/token/'),
    Content_Type => 'form-data', Content => [username => 'alice', password => 'secret']);
$res->header(Host => 'localhost');
$res = Apache::TestRequest::user_agent()->request($res);
is $res->code, 200, 'token: multipart/form-data body';
$res = req(GET => '/api/auth/token/');
is body($res), '405 {"detail":"Method \"GET\" not allowed."}', 'token: GET is 405';
is $res->header('Allow'), 'POST, OPTIONS', 'token: Allow header';
is req(POST => '/api/auth/token/', json => '{"username":')->code, 400, 'token: malformed JSON is a 400';
$res = Apache::TestRequest::user_agent()->request(HTTP::Request->new(POST => Apache::TestRequest::resolve_url('/api/auth/token/'),
    [Host => 'localhost', 'Content-Type' => 'text/plain'], 'username=alice'));
is $res->code, 415, 'token: text/plain is 415';

# A hash we create works for Django too: same format (checked by the unit tests against hashlib).
# ---- login and sessions ----------------------------------------------------------------------------
$res = req(POST => '/api/auth/login/', json => '{"username":"alice","password":"wrong"}');
is body($res), $bad, 'login: wrong password';
is scalar(() = $res->header('Set-Cookie')), 0, 'login: no cookie on failure';

$res = req(POST => '/api/auth/login/', json => '{"username":"alice","password":"secret"}');
is body($res), '200 {"detail":"Logged in.","username":"alice","is_staff":true}', 'login: 200';
my $c = set_cookies($res);
like $c->{sessionid}, qr/^sessionid=[a-z0-9]{32}\.[0-9a-f]{64}; expires=[^;]+; Max-Age=1209600; Path=\/; SameSite=Lax; HttpOnly$/,
    'login: sessionid cookie (signed, HttpOnly, SameSite=Lax, two weeks, not Secure by default)';
like $c->{csrftoken}, qr/^csrftoken=[A-Za-z0-9]{32}; expires=[^;]+; Max-Age=31449600; Path=\/; SameSite=Lax$/,
    'login: csrftoken cookie (readable by scripts)';
my $sid = cookie_value($c->{sessionid});
my $csrf = cookie_value($c->{csrftoken});
my $cookie = "sessionid=$sid; csrftoken=$csrf";
my ($nsess) = db()->selectrow_array(q{SELECT count(*) FROM ecoatlas_session s JOIN auth_user u ON u.id = s.user_id
    WHERE u.username = 'alice'});
is $nsess, 1, 'login: one session row';
ok defined db()->selectrow_array(q{SELECT last_login FROM auth_user WHERE username = 'alice'}), 'login: last_login set';
my ($stored) = db()->selectrow_array('SELECT count(*) FROM ecoatlas_session WHERE position(? in encode(key_sha256, ?)) > 0',
    undef, substr($sid, 0, 32), 'escape');
is $stored, 0, 'the session key itself is not stored';

is req(GET => '/api/countries/', headers => [Cookie => $cookie])->code, 200, 'session: GET';
my $newc = '{"name":"Sessionland","iso2":"SX","iso3":"SXX"}';
is body(req(POST => '/api/countries/', headers => [Cookie => $cookie], json => $newc)),
    '403 {"detail":"CSRF Failed: CSRF token missing."}', 'session write without X-CSRFToken: 403';
is body(req(POST => '/api/countries/', headers => [Cookie => "sessionid=$sid", 'X-CSRFToken' => $csrf], json => $newc)),
    '403 {"detail":"CSRF Failed: CSRF cookie not set."}', 'without the csrftoken cookie: 403';
is body(req(POST => '/api/countries/', headers => [Cookie => $cookie, 'X-CSRFToken' => 'x' x 32], json => $newc)),
    '403 {"detail":"CSRF Failed: CSRF token incorrect."}', 'a wrong token: 403';
is body(req(POST => '/api/countries/', headers => [Cookie => $cookie, 'X-CSRFToken' => $csrf,
    Origin => 'http://evil.example'], json => $newc)),
    '403 {"detail":"CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."}',
    'a foreign Origin: 403';
$res = req(POST => '/api/countries/', headers => [Cookie => $cookie, 'X-CSRFToken' => $csrf,
    Origin => 'http://localhost'], json => $newc);
ok $res->code != 403 && $res->code != 401, 'the right token and our own Origin pass (' . $res->code . ')';
# Django's masked form of the same secret (64 characters) is accepted too.
my @ch = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
my %ix = map { $ch[$_] => $_ } 0 .. $#ch;
my $mask = join '', map { $ch[int rand 62] } 1 .. 32;
my $masked = $mask . join '', map { $ch[($ix{substr($csrf, $_, 1)} + $ix{substr($mask, $_, 1)}) % 62] } 0 .. 31;
$res = req(PATCH => '/api/countries/1/', headers => [Cookie => $cookie, 'X-CSRFToken' => $masked],
    json => '{"population":1}');
ok $res->code != 403 && $res->code != 401, 'a masked token passes (' . $res->code . ')';
is req(GET => '/api/countries/', headers => [Cookie => $cookie, 'X-CSRFToken' => 'junk'])->code, 200,
    'safe methods need no CSRF token';
$res = req(POST => '/api/countries/', headers => [Cookie => $cookie, auth_header($t1)], json => $newc);
ok $res->code != 403 && $res->code != 401, 'the Token header wins over the cookie: no CSRF for tokens (' . $res->code . ')';

# non-staff session
$res = req(POST => '/api/auth/login/', form => 'username=bob&password=secret');
my $bc = set_cookies($res);
my $bob = 'sessionid=' . cookie_value($bc->{sessionid}) . '; csrftoken=' . cookie_value($bc->{csrftoken});
is body(req(POST => '/api/countries/', headers => [Cookie => $bob, 'X-CSRFToken' => cookie_value($bc->{csrftoken})],
    json => $newc)), '403 {"detail":"You do not have permission to perform this action."}', 'non-staff session: 403';

# forged and foreign cookies are ignored (anonymous)
my $forged = substr($sid, 0, 33) . ('0' x 64);
is req(GET => '/api/countries/', headers => [Cookie => "sessionid=$forged"])->code, 200, 'forged cookie: anonymous GET';
is body(req(POST => '/api/countries/', headers => [Cookie => "sessionid=$forged; csrftoken=$csrf",
    'X-CSRFToken' => $csrf], json => $newc)),
    '401 {"detail":"Authentication credentials were not provided."}', 'forged cookie: a write is 401';
is req(GET => '/api/countries/', headers => [Cookie => 'sessionid=garbage'])->code, 200, 'garbage cookie: anonymous';

# ---- HTTPS: secure cookies, Referer rules, trusted origins -----------------------------------------------
my @https = (module => 'sessions_https', host => 'api.test');
$res = req(POST => '/api/auth/login/', @https, headers => ['X-Forwarded-Proto' => 'https'],
    json => '{"username":"alice","password":"secret"}');
is $res->code, 200, 'https login';
my $hc = set_cookies($res);
like $hc->{sessionid}, qr/; HttpOnly; Secure$/, 'EcoAtlasSessionCookieSecure On: Secure';
like $hc->{csrftoken}, qr/; SameSite=Lax; Secure$/, 'EcoAtlasCSRFCookieSecure On: Secure';
my $hcsrf = cookie_value($hc->{csrftoken});
my @hh = ('X-Forwarded-Proto' => 'https', Cookie => 'sessionid=' . cookie_value($hc->{sessionid}) . "; csrftoken=$hcsrf",
    'X-CSRFToken' => $hcsrf);
is body(req(POST => '/api/countries/', @https, headers => [@hh], json => $newc)),
    '403 {"detail":"CSRF Failed: Referer checking failed - no Referer."}', 'https without Origin or Referer: 403';
is body(req(POST => '/api/countries/', @https, headers => [@hh, Referer => 'nonsense'], json => $newc)),
    '403 {"detail":"CSRF Failed: Referer checking failed - Referer is malformed."}', 'malformed Referer';
is body(req(POST => '/api/countries/', @https, headers => [@hh, Referer => 'http://api.test/app'], json => $newc)),
    '403 {"detail":"CSRF Failed: Referer checking failed - Referer is insecure while host is secure."}', 'http Referer';
is body(req(POST => '/api/countries/', @https, headers => [@hh, Referer => 'https://evil.example/x'], json => $newc)),
    '403 {"detail":"CSRF Failed: Referer checking failed - https://evil.example/x does not match any trusted origins."}',
    'foreign Referer';
for my $ok ([Referer => 'https://api.test/app/page'], [Referer => 'https://trusted.example/'],
            [Origin => 'https://trusted.example'], [Origin => 'https://app.example.org'],
            [Origin => 'https://api.test']) {
    $res = req(POST => '/api/datasets/', @https, headers => [@hh, @$ok], json => '{}');
    ok $res->code != 403, "trusted: @$ok (" . $res->code . ')';
}
for my $no ('https://example.org.evil.example', 'http://trusted.example', 'https://trusted.example:8443',
            'https://notexample.org') {
    is req(POST => '/api/datasets/', @https, headers => [@hh, Origin => $no], json => '{}')->code, 403,
        "not trusted: Origin $no";
}

# ---- login CSRF (docs/security.md): a cross-site form must not log the browser in --------------------------------
{
    my $before = db()->selectrow_array(q{SELECT count(*) FROM ecoatlas_session});
    my $evil = req(POST => '/api/auth/login/', headers => [Origin => 'https://evil.example'],
        form => 'username=bob&password=secret');
    is body($evil), '403 {"detail":"CSRF Failed: Origin checking failed - https://evil.example does not match any trusted origins."}',
        'login from another site (Origin): 403 as Django\'s CSRF failure';
    is scalar(() = $evil->header('Set-Cookie')), 0, 'login from another site: no cookie';
    is body(req(POST => '/api/auth/login/', headers => [Referer => 'https://evil.example/form'],
        form => 'username=bob&password=secret')),
        '403 {"detail":"CSRF Failed: Referer checking failed - https://evil.example/form does not match any trusted origins."}',
        'login from another site (Referer only): 403';
    is req(POST => '/api/auth/login/', headers => [Origin => 'null'], form => 'username=bob&password=secret')->code, 403,
        'login from an opaque origin (Origin: null): 403';
    is db()->selectrow_array(q{SELECT count(*) FROM ecoatlas_session}), $before, 'refused logins create no session';
    is req(POST => '/api/auth/login/', headers => [Origin => 'http://localhost', Referer => 'http://localhost/app'],
        form => 'username=bob&password=secret')->code, 200, 'login from the same origin: 200';
    is req(POST => '/api/auth/login/', @https, headers => ['X-Forwarded-Proto' => 'https', Origin => 'https://app.example.org'],
        json => '{"username":"bob","password":"secret"}')->code, 200, 'login from a trusted origin: 200';
}

# ---- logout ends the session on the server --------------------------------------------------------------
is body(req(POST => '/api/auth/logout/', headers => [Cookie => $cookie])),
    '403 {"detail":"CSRF Failed: CSRF token missing."}', 'logout of a session needs the CSRF token';
$res = req(POST => '/api/auth/logout/', headers => [Cookie => $cookie, 'X-CSRFToken' => $csrf]);
is body($res), '200 {"detail":"Logged out."}', 'logout: 200';
like set_cookies($res)->{sessionid}, qr/^sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=\/;/,
    'logout: the cookie is cleared';
is db()->selectrow_array(q{SELECT count(*) FROM ecoatlas_session s JOIN auth_user u ON u.id = s.user_id
    WHERE u.username = 'alice' AND s.key_sha256 = sha256(?::bytea)}, undef, substr($sid, 0, 32)), 0,
    'logout: the session row is gone';
is body(req(POST => '/api/countries/', headers => [Cookie => $cookie, 'X-CSRFToken' => $csrf], json => $newc)),
    '401 {"detail":"Authentication credentials were not provided."}', 'the old cookie no longer authenticates';
is body(req(POST => '/api/auth/logout/')), '200 {"detail":"Logged out."}', 'anonymous logout: 200 (idempotent)';

# login rotates the key
$res = req(POST => '/api/auth/login/', json => '{"username":"bob","password":"secret"}');
my $b1 = cookie_value(set_cookies($res)->{sessionid});
my $bcsrf = cookie_value(set_cookies($res)->{csrftoken});
is body(req(POST => '/api/auth/login/', headers => [Cookie => "sessionid=$b1"],
    json => '{"username":"bob","password":"secret"}')), '403 {"detail":"CSRF Failed: CSRF cookie not set."}',
    'logging in again from a session needs the CSRF cookie and token too (as DRF)';
$res = req(POST => '/api/auth/login/', headers => [Cookie => "sessionid=$b1; csrftoken=$bcsrf", 'X-CSRFToken' => $bcsrf],
    json => '{"username":"bob","password":"secret"}');
my $b2 = cookie_value(set_cookies($res)->{sessionid}) // '';
isnt $b2, $b1, 'a second login gets a new session key';
is req(POST => '/api/countries/', headers => [Cookie => "sessionid=$b1; csrftoken=$csrf", 'X-CSRFToken' => $csrf],
    json => $newc)->code, 401, '... and the old session ended';

# deactivating the user ends its sessions
$res = req(POST => '/api/auth/login/', json => '{"username":"alice","password":"secret"}');
my $a2 = set_cookies($res);
my $a2c = 'sessionid=' . cookie_value($a2->{sessionid}) . '; csrftoken=' . cookie_value($a2->{csrftoken});
db()->do(q{UPDATE auth_user SET is_active = false WHERE username = 'alice'});
is req(POST => '/api/countries/', headers => [Cookie => $a2c, 'X-CSRFToken' => cookie_value($a2->{csrftoken})],
    json => $newc)->code, 401, 'an inactive user\'s session is anonymous';
db()->do(q{UPDATE auth_user SET is_active = true WHERE username = 'alice'});

# nothing secret in the logs
open my $elog, '<', "$FindBin::Bin/logs/error_log" or die $!;
my $text = do { local $/; <$elog> };
close $elog;
ok !grep({ index($text, $_) >= 0 } $sid, $csrf, $t1, $t2, 'secret"'), 'no session key, CSRF token, API key or password in the error log';
