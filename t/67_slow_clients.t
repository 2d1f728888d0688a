use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

# Clients slow to read large responses hold no pooled connection: a list
# page is rendered, its connection goes back to mod_dbd's pool, and only
# then is it sent (docs/operations.md §2, "A connection is held only while
# the database is used").
#
# Its own httpd (event MPM, one child of 48 threads, DBDMax 2, a 16 KB
# send buffer): six clients that read nothing ask for pages of 200 sites
# (about 340 KB each, far more than the send buffer and their 2 KB receive
# buffer take), so six threads stay blocked writing.  While they are,
# other requests that need PostgreSQL are answered at once; had each
# blocked writer kept its connection, they would wait for httpd's Timeout.
# Then the slow clients read: each gets its whole page.  Last, 40 requests
# at once, each on a thread of its own (more threads than requests: with
# fewer, the event MPM logs that it reached MaxRequestWorkers when its
# once-a-second check finds every thread busy), wait in line for the
# pool's connections (two, one of which the cache's change listener holds;
# docs/operations.md §2, "Requests wait for a connection in
# the order they came") and are all answered in full.

use Test::More;
use File::Temp ();
use Time::HiRes qw(time sleep);
use JSON::PP ();
use EaConfTest qw(httpd_cmd free_port wait_port write_event_conf slow_request read_all parse_response);
use EaTest ();

plan tests => 7;

EaTest::reset_db();
my $ids = EaTest::seed_fixture();
# 400 more sites with 1,500-character notes (the fixture's site makes 401)
EaTest::db()->do(q{
    INSERT INTO core_hydrosite (name, country_id, region_id, dataset_id, status, notes, properties,
                                created_at, updated_at)
    SELECT 'Slow ' || g, ?, ?, ?, 'identified', repeat('n', 1500), '{"k": [1, 2.50]}', now(), now()
      FROM generate_series(1, 400) g}, undef, $ids->{country}, $ids->{region}, $ids->{dataset});

my $tmp = File::Temp::tempdir(CLEANUP => 1);
my $port = free_port();
write_event_conf($tmp, $port, 48, "DBDKeep 2\nDBDMax 2");
my $httpd = httpd_cmd();
system($httpd, '-f', "$tmp/httpd.conf", '-k', 'start') == 0 or die "httpd did not start";
ok(wait_port($port, 30), 'httpd listens');

# A request whose answer is not read until read_all().
sub slow_get { return slow_request($port, $_[0]) }

# status and decoded body of a response read whole
sub parse {
    my ($status, undef, $body) = parse_response($_[0]);
    my $json = eval { JSON::PP::decode_json($body // '') };
    return ($status, $json);
}

my @slow = map { slow_get("/api/hydro-sites/?page_size=200&page=" . (1 + $_ % 2)) } 1 .. 6;
sleep 2;   # rendered, and blocked in the write

# Requests that need PostgreSQL, while the six writers are blocked.
my @took;
for my $path ('/api/hydro-sites/?page_size=1', "/api/hydro-sites/$ids->{site}/", '/api/countries/') {
    my $t0 = time;
    my ($status) = parse(read_all(slow_get($path), 20));
    push @took, [$path, $status, time - $t0];
}
my @late = grep { $_->[1] != 200 || $_->[2] > 5 } @took;
ok(!@late, 'requests are answered while six clients are slow to read pages of 200')
    or diag(join "\n", map { sprintf '%s: %s after %.1f s', @$_ } @late);

# The slow clients now read: six whole pages of 200 distinct sites.
my (@bad, %seen);
for my $s (@slow) {
    my ($status, $json) = parse(read_all($s, 30));
    my $n = $json && ref $json->{results} eq 'ARRAY' ? scalar @{ $json->{results} } : -1;
    push @bad, "status $status, $n results" unless $status == 200 && $n == 200 && $json->{count} == 401;
    $seen{ join ',', map { $_->{id} } @{ $json->{results} // [] } }++;
}
ok(!@bad, 'each slow client gets its whole page') or diag(join "\n", @bad);
is(scalar keys %seen, 2, 'pages 1 and 2, the same rows for the same page');
my (undef, $page2) = parse(read_all(slow_get('/api/hydro-sites/?page_size=200&page=2'), 20));
is_deeply([ map { length $_->{notes} } @{ $page2->{results} // [] }[0 .. 1] ],
          [1500, 1500], 'the rows are whole (notes of 1,500 characters)');

# 40 requests at once for the pool's connections: they wait in line (ea_fifo)
# and every one is answered, with the rows it asked for.
{
    my @burst = map { slow_get("/api/hydro-sites/?page_size=10&page=" . (1 + $_ % 41)) } 0 .. 39;
    my @wrong;
    for my $i (0 .. $#burst) {
        my ($status, $json) = parse(read_all($burst[$i], 30));
        my $n = $json && ref $json->{results} eq 'ARRAY' ? scalar @{ $json->{results} } : -1;
        my $want = 1 + $i % 41 == 41 ? 1 : 10;
        push @wrong, "page " . (1 + $i % 41) . ": status $status, $n results" unless $status == 200 && $n == $want;
    }
    ok(!@wrong, '40 requests at once, DBDMax 2: every one answered in full') or diag(join "\n", @wrong);
}

system($httpd, '-f', "$tmp/httpd.conf", '-k', 'stop');
sleep 1;
open my $log, '<', "$tmp/error.log" or die $!;
my @errors = grep { /\[(?:[a-z_]+:)?(?:error|crit|alert|emerg)\]/ } <$log>;
ok(!@errors, 'no errors logged') or diag(join '', @errors);
