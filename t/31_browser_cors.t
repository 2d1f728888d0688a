# CORS seen by a real browser (docs/directives.md, CORS): headless Chromium loads a
# page (t/browser/page.html) from the origin of <VirtualHost
# browser_page> that calls the API with fetch:
#   - an API host whose EcoAtlasCORSAllowedOrigins lists the page's origin:
#     the fetch succeeds and the page reads the JSON;
#   - an API host that does not list it: the fetch fails (TypeError);
#   - a POST with Authorization: Token and Content-Type application/json
#     (not a simple request): the browser sends the preflight, then the
#     POST, and the page can read the status (the server's access log shows
#     both).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest ();
use File::Temp qw(tempdir);

plan tests => 9;

my $chromium = '/usr/bin/chromium';
ok -x $chromium, "$chromium is installed (Debian package chromium, in ./dev's list)";

sub base {
    my ($module) = @_;
    Apache::TestRequest::module($module);
    my $u = 'http://127.0.0.1:' . Apache::Test::vars("${module}_port");
    Apache::TestRequest::module('default');
    return $u;
}
my $page = base('browser_page');
my $api = base('cors_browser');
my $other = base('cors_list');
my $token = EaTest::staff_token();

my %q = (ok => "$api/capi/", refused => "$other/api/", post => "$api/capi/countries/", token => $token);
my $url = "$page/page.html?" . join '&', map { "$_=" . ($q{$_} =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ger) } sort keys %q;

my $logf = Apache::Test::vars('t_logs') . '/access_log';
my $log_start = -s $logf || 0;

my $home = tempdir(CLEANUP => 1);
my $dom = do {
    local $ENV{HOME} = $home;
    local $ENV{ASAN_OPTIONS};   # not ours
    local $ENV{LD_PRELOAD};
    `'$chromium' --headless=new --disable-gpu --no-first-run --user-data-dir='$home/profile' --virtual-time-budget=15000 --dump-dom '$url' 2>'$home/stderr'`;
};
my ($results) = $dom =~ m{<pre id="results">(.*?)</pre>}s;
$results //= '';
if ($results !~ /done$/) {
    open my $e, '<', "$home/stderr";
    diag "chromium exit $?; stderr:\n", join '', grep { !/dbus|DBus/ } <$e>;
}
like $results, qr/\bdone$/, 'the page ran all its fetches';
like $results, qr/^allowed: status 200, json keys \S*countries\S*$/m, 'allowed origin: fetch succeeds and the page reads the JSON';
like $results, qr/^refused: error TypeError$/m, 'refused origin: fetch fails with a TypeError';
my ($post) = $results =~ /^post: status (\d+)/m;
ok defined $post, 'preflighted POST: the page can read the response status (' . ($post // 'none') . ')';

open my $lf, '<', $logf or die "$logf: $!";
seek $lf, $log_start, 0;
my @lines = <$lf>;
close $lf;
my ($pre) = grep { m{"OPTIONS /capi/countries/ HTTP/1\.1" 200 } } @lines;
my ($req) = grep { m{"POST /capi/countries/ HTTP/1\.1" (\d+) } } @lines;
ok $pre, 'the browser sent the preflight (OPTIONS) and it was answered 200';
ok $req, 'then the POST itself';
my ($logged) = ($req // '') =~ m{" (\d+) };
is $logged // '', $post // 'none', 'the status the page read is the one the server sent';
ok !grep({ m{"OPTIONS /api/ } } @lines), 'no preflight for the simple GET to the refused origin';
