# Authentication and permissions (docs/decisions.md §3, D8): DRF's Token header
# rules and messages, hashed named tokens with expiry, legacy authtoken keys,
# inactive users, 401 vs 403, and the token life cycle through the CLI
# (create, use, list, regen, revoke, expiry), revocation reaching a cached
# child at once, and keys never stored or logged in clear.
use strict;
use warnings;

use Apache::Test qw(plan ok have_module);
use Apache::TestUtil qw(t_cmp);
use Apache::TestRequest qw(GET POST PUT);
use Digest::SHA ();
use Time::HiRes qw(time);
use FindBin;
use lib "$FindBin::Bin/lib";
use EaTest qw(:all);

plan tests => 71;

reset_db();
seed_fixture();

my $conninfo = "host=$ENV{EA_PGHOST} port=$ENV{EA_PGPORT} dbname=$ENV{EA_PGDATABASE} user=$ENV{EA_PGUSER}";

# Run the CLI; returns (exit status, stdout, stderr).
sub cli {
    my ($stdin, @args) = @_;
    my $dir = "$ENV{EA_BUILD}/t-run";
    my ($in, $out, $err) = map { "$dir/cli.$$.$_" } qw(in out err);
    open my $fh, '>', $in or die $!;
    print $fh $stdin // '';
    close $fh;
    my $cmd = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } $ENV{EA_CLI}, '--db', $conninfo, @args;
    system("$cmd <'$in' >'$out' 2>'$err'");
    my $rc = $? >> 8;
    local $/;
    open $fh, '<', $out or die $!; my $o = <$fh>; close $fh;
    open $fh, '<', $err or die $!; my $e = <$fh>; close $fh;
    unlink $in, $out, $err;
    return ($rc, $o, $e);
}

# A named boolean check (Apache::Test's ok() compares two arguments).
sub check { my ($cond, $name) = @_; ok t_cmp($cond ? 1 : 0, 1, $name) }

sub DELETE_ { my ($url, @h) = @_; return Apache::TestRequest::user_agent()->request(HTTP::Request->new(DELETE => Apache::TestRequest::resolve_url($url), [@h])) }

sub status_detail {
    my ($res) = @_;
    my $d = eval { decode_json_body($res) };
    return $res->code . ' ' . (ref $d eq 'HASH' && defined $d->{detail} ? $d->{detail} : $res->content);
}

# ---- the header rules --------------------------------------------------------------
my $res = GET('/api/countries/');
ok t_cmp($res->code, 200, 'anonymous GET is public');

for my $case (
    ['Token', 'Invalid token header. No credentials provided.'],
    ['token   ', 'Invalid token header. No credentials provided.'],
    ['Token abc def', 'Invalid token header. Token string should not contain spaces.'],
    ["Token \xff\xfe", 'Invalid token header. Token string should not contain invalid characters.'],
    ['Token 0123456789abcdef0123456789abcdef01234567', 'Invalid token.'],
    ['TOKEN nope', 'Invalid token.'],
) {
    my ($h, $msg) = @$case;
    $res = GET('/api/countries/', Authorization => $h);
    ok t_cmp(status_detail($res), "401 $msg", "Authorization: $h -> 401 (even on a public GET)");
}
ok t_cmp($res->header('WWW-Authenticate'), 'Token', '401 carries WWW-Authenticate: Token');
ok t_cmp($res->header('X-Content-Type-Options'), 'nosniff', '401 keeps the security headers');

$res = GET('/api/countries/', Authorization => 'Bearer abc');
ok t_cmp($res->code, 200, 'other schemes are ignored (anonymous)');
$res = GET('/api/countries/', Authorization => 'Basic dXNlcjpwYXNz');
ok t_cmp($res->code, 200, 'Basic is ignored too');

# ---- tokens ----------------------------------------------------------------------------
my $key = user_token('reader');
$res = GET('/api/countries/', auth_header($key));
ok t_cmp($res->code, 200, 'a valid token');
ok t_cmp(GET('/api/countries/', Authorization => "token   $key  ")->code, 200,
    'keyword case-insensitive, surrounding spaces ignored');

my $row = db()->selectrow_hashref('SELECT * FROM ecoatlas_token WHERE prefix = ?', undef, substr($key, 0, 8));
ok t_cmp(unpack('H*', $row->{key_sha256}), Digest::SHA::sha256_hex($key), 'only the SHA-256 of the key is stored');
check !grep({ defined && /\Q$key\E/ } values %$row), 'the key itself is in no column';
check defined $row->{last_used}, 'last_used is set on use';

my $inactive = user_token('sleeper', active => 0);
ok t_cmp(status_detail(GET('/api/countries/', auth_header($inactive))), '401 User inactive or deleted.',
    'inactive user -> 401');

my $expired = user_token('late', expires => '2000-01-01T00:00:00Z');
ok t_cmp(status_detail(GET('/api/countries/', auth_header($expired))), '401 Token has expired.',
    'expired token -> 401');

# A key of the Django system's authtoken_token keeps working.
my $legacy = '4944b9d5c8a1b7c0e2f3a4b5c6d7e8f901234567';
my $luid = create_user('djangouser');
db()->do('INSERT INTO authtoken_token (key, created, user_id) VALUES (?, now(), ?)', undef, $legacy, $luid);
ok t_cmp(GET('/api/countries/', auth_header($legacy))->code, 200, 'legacy authtoken_token key accepted');

# ---- permissions: 401 without credentials, 403 for non-staff ------------------------------
$res = POST('/api/countries/', content => '{}', 'Content-Type' => 'application/json');
ok t_cmp(status_detail($res), '401 Authentication credentials were not provided.', 'anonymous POST -> 401');
ok t_cmp($res->header('WWW-Authenticate'), 'Token', '... with WWW-Authenticate');
$res = PUT('/api/countries/', content => '{}', 'Content-Type' => 'application/json');
ok t_cmp($res->code, 401, 'anonymous PUT on a list: 401 before 405 (permissions first)');
$res = POST('/api/countries/', auth_header($key), content => '{}', 'Content-Type' => 'application/json');
ok t_cmp(status_detail($res), '403 You do not have permission to perform this action.', 'non-staff POST -> 403');
$res = DELETE_('/api/countries/1/', auth_header($key));
ok t_cmp($res->code, 403, 'non-staff DELETE -> 403');
$res = POST('/api/hydro-sites/summary/', auth_header($key));
ok t_cmp($res->code, 405, 'AllowAny action: POST is 405, not 403');
$res = POST('/api/', content => '');
ok t_cmp($res->code, 401, 'API root (IsAuthenticatedOrReadOnly): anonymous POST -> 401');
$res = POST('/api/', auth_header($key), content => '');
ok t_cmp(status_detail($res), '405 Method "POST" not allowed.', '... authenticated POST -> 405');
$res = POST('/api/countries/', auth_header('0000000000000000000000000000000000000000'),
    content => '{}', 'Content-Type' => 'application/json');
ok t_cmp(status_detail($res), '401 Invalid token.', 'a bad token on a write: 401 Invalid token.');
my $staff = staff_token();
$res = POST('/api/countries/', auth_header($staff), content => '{"name":"Staffland","iso2":"SL","iso3":"STL"}',
    'Content-Type' => 'application/json');
check $res->code != 401 && $res->code != 403, 'staff passes the permission check (' . $res->code . ')';

# ---- access log: %u shows the user -------------------------------------------------------------
GET('/api/stats/', auth_header($key));
my $log = '';
for (1 .. 20) {
    open my $fh, '<', "$FindBin::Bin/logs/access_log" or last;
    local $/;
    $log = <$fh>;
    close $fh;
    last if $log =~ m{ reader \[[^\]]+\] "GET /api/stats/ };
    select undef, undef, undef, 0.1;
}
check $log =~ m{ reader \[[^\]]+\] "GET /api/stats/ }, 'the access log shows the token\'s user (%u)';

# ---- the CLI life cycle --------------------------------------------------------------------------
my ($rc, $out, $err) = cli("s3cret-passw0rd\n", 'createuser', 'alice', '--staff', '--email', 'a@example.org',
    '--password-stdin');
ok t_cmp($rc, 0, 'createuser alice --staff') or diag $err;
my $hash = db()->selectrow_array("SELECT password FROM auth_user WHERE username = 'alice'");
check $hash =~ /^pbkdf2_sha256\$600000\$[A-Za-z0-9]{22}\$[A-Za-z0-9+\/]{43}=$/, 'Django pbkdf2_sha256 hash';
($rc, $out, $err) = cli("x\n", 'createuser', 'alice', '--password-stdin');
ok t_cmp($rc, 1, 'createuser of an existing name fails');
check $err =~ /already exists/, '... saying so';
($rc, $out, $err) = cli('', 'createuser', 'bad name!', '--password-stdin');
ok t_cmp($rc, 2, 'an invalid username is a usage error');

($rc, $out, $err) = cli('', 'token', 'create', 'alice', '--name', 'CI deploy');
ok t_cmp($rc, 0, 'token create') or diag $err;
chomp(my $k1 = $out);
check $k1 =~ /^[0-9a-f]{40}$/, 'the key is printed alone on stdout';
ok t_cmp(GET('/api/countries/', auth_header($k1))->code, 200, 'the new key works');
($rc, $out, $err) = cli('', 'token', 'create', 'alice');
chomp(my $k2 = $out);
my $name = db()->selectrow_array('SELECT name FROM ecoatlas_token WHERE prefix = ?', undef, substr($k2, 0, 8));
check $name =~ /^EcoPowerAtlas API \d{4}-\d{2}-\d{2}$/, "default name from the token name and the date ($name)";
ok t_cmp(GET('/api/countries/', auth_header($k2))->code, 200, 'a user may hold several tokens');

($rc, $out, $err) = cli('', 'token', 'list', 'alice');
ok t_cmp($rc, 0, 'token list');
check $out =~ /CI deploy/ && $out =~ /\Q${\ substr($k1, 0, 8)}\E/, 'list shows names and prefixes';
check $out !~ /\Q$k1\E/ && $out !~ /\Q$k2\E/, 'list never shows a key';

($rc, $out, $err) = cli('', 'token', 'revoke', substr($k1, 0, 8));
ok t_cmp($rc, 0, 'revoke by prefix') or diag $err;
ok t_cmp(status_detail(GET('/api/countries/', auth_header($k1))), '401 Invalid token.', 'revoked key -> 401');
ok t_cmp(GET('/api/countries/', auth_header($k2))->code, 200, 'the other token still works');
($rc, $out, $err) = cli('', 'token', 'revoke', substr($k1, 0, 8));
ok t_cmp($rc, 1, 'revoking it again fails');

($rc, $out, $err) = cli('', 'token', 'regen', 'alice', '--name', 'rotated');
chomp(my $k3 = $out);
ok t_cmp($rc, 0, 'token regen') or diag $err;
ok t_cmp(GET('/api/countries/', auth_header($k2))->code, 401, 'regen revokes the old tokens');
ok t_cmp(GET('/api/countries/', auth_header($k3))->code, 200, '... and the new one works');

($rc, $out, $err) = cli('', 'token', 'regen', 'djangouser');
chomp(my $k4 = $out);
ok t_cmp(GET('/api/countries/', auth_header($legacy))->code, 401, 'regen revokes the legacy Django key too');
ok t_cmp(GET('/api/countries/', auth_header($k4))->code, 200, '... replaced by a new one');

($rc, $out, $err) = cli('', 'token', 'create', 'alice', '--expires', '1');
chomp(my $k5 = $out);
ok t_cmp(GET('/api/countries/', auth_header($k5))->code, 200, 'a token expiring tomorrow works today');
my $exp = db()->selectrow_array("SELECT expires > now() + interval '23 hours' AND expires < now() + interval '25 hours'
    FROM ecoatlas_token WHERE prefix = ?", undef, substr($k5, 0, 8));
check $exp, '--expires 1 sets the expiry a day ahead';
db()->do("UPDATE ecoatlas_token SET expires = now() - interval '1 second' WHERE prefix = ?", undef, substr($k5, 0, 8));
# (a child that cached the key learns of the change through NOTIFY: allow it a moment)
my $expired_now = '';
for (1 .. 40) {
    $expired_now = status_detail(GET('/api/countries/', auth_header($k5)));
    last if $expired_now =~ /^401/;
    select undef, undef, undef, 0.05;
}
ok t_cmp($expired_now, '401 Token has expired.', 'once expired: 401');
($rc, $out, $err) = cli('', 'token', 'create', 'alice', '--expires', '0');
ok t_cmp($rc, 2, '--expires 0 is refused');
($rc, $out, $err) = cli('', 'token', 'create', 'nobody');
ok t_cmp($rc, 1, 'token create for an unknown user fails');
# A key prefix of digits only is still a prefix (not taken for an id).
my $digits = '12345678' . ('a' x 32);
db()->do(q{INSERT INTO ecoatlas_token (user_id, key_sha256, prefix, name) SELECT id, decode(?, 'hex'), '12345678', 'digits'
    FROM auth_user WHERE username = 'alice'}, undef, Digest::SHA::sha256_hex($digits));
ok t_cmp(GET('/api/countries/', auth_header($digits))->code, 200, 'a key whose prefix is all digits works');
($rc, $out, $err) = cli('', 'token', 'revoke', '12345678');
ok t_cmp($rc, 0, 'revoke by an all-digit prefix');
ok t_cmp(GET('/api/countries/', auth_header($digits))->code, 401, '... revokes that key');
($rc, $out, $err) = cli('', 'token', 'revoke', 'zz');
ok t_cmp($rc, 2, 'revoke of a non-hex prefix is a usage error');

($rc, $out, $err) = cli('', 'deactivate', 'alice');
ok t_cmp($rc, 0, 'deactivate alice');
ok t_cmp(status_detail(GET('/api/countries/', auth_header($k3))), '401 User inactive or deleted.',
    'tokens of a deactivated user -> 401');
($rc, $out, $err) = cli('', 'deactivate', 'alice', '--activate');
ok t_cmp(GET('/api/countries/', auth_header($k3))->code, 200, '--activate restores access');

($rc, $out, $err) = cli("n3w-passw0rd\n", 'changepassword', 'alice', '--password-stdin');
ok t_cmp($rc, 0, 'changepassword');
my $hash2 = db()->selectrow_array("SELECT password FROM auth_user WHERE username = 'alice'");
check $hash2 ne $hash && $hash2 =~ /^pbkdf2_sha256\$/, 'the hash changed';
($rc, $out, $err) = cli('', 'changepassword', 'alice');
ok t_cmp($rc, 1, 'changepassword without a terminal or --password-stdin fails');

# ---- revocation reaches a caching child at once ------------------------------------------------------
my $ck = user_token('cached_user');
ok t_cmp(GET('/cached/api/countries/', auth_header($ck))->code, 200, 'cached: the token works');
GET('/cached/api/countries/', auth_header($ck)) for 1 .. 5;   # every child has seen it
($rc, $out, $err) = cli('', 'token', 'revoke', substr($ck, 0, 8));
print STDERR "# revoke: rc $rc, $err\n" if $rc;
my $t_revoked = time;
my $code = 0;
for (1 .. 40) {
    $code = GET('/cached/api/countries/', auth_header($ck))->code;
    last if $code == 401;
    select undef, undef, undef, 0.05;
}
printf STDERR "# revocation seen after %.2f s\n", time - $t_revoked;
ok t_cmp($code, 401, 'revocation takes effect within two seconds with the credential cache');
my $all401 = 1;
for (1 .. 10) { $all401 = 0 if GET('/cached/api/countries/', auth_header($ck))->code != 401 }
check $all401, '... on every following request';

# ---- nothing secret in the error log --------------------------------------------------------------------
open my $elog, '<', "$FindBin::Bin/logs/error_log" or die $!;
my $elog_text = do { local $/; <$elog> };
close $elog;
check !grep({ index($elog_text, $_) >= 0 } $key, $k1, $k2, $k3, $k5, $staff, $legacy), 'no key in the error log';
