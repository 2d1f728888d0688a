# The shared-memory response cache (EcoAtlasCache, on under /cached/api in
# t/conf/extra.conf.in; off under /api): a repeated GET is a hit with the
# same body; every committed change of the data (NOTIFY from the triggers)
# makes the next GETs show the new data within a bounded time and never the
# old data afterwards; query string, Accept indent and Host are part of the
# key; errors are never cached.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Time::HiRes qw(time sleep);
use POSIX ();
use DBI;
use EaTest qw(db reset_db get_json decode_json_body pg_stop pg_start country);
use EaProm ();

plan tests => 102;

my $C = '/cached/api';
sub cache_state { my ($res) = @_; return $res->header('X-EcoAtlas-Cache') // 'none' }

# Poll GET $path (20 ms steps, at most $secs) until $pred->($res, $data) holds;
# then require it to hold for 20 more GETs.  Returns (reached, stayed).
sub settles {
    my ($path, $pred, $secs) = @_;
    my $deadline = time + ($secs // 2);
    my $reached = 0;
    while (1) {
        my ($res, $d) = get_json($path);
        if ($pred->($res, $d)) { $reached = 1; last }
        last if time > $deadline;
        sleep 0.02;
    }
    return (0, 0) unless $reached;
    for (1 .. 20) {
        my ($res, $d) = get_json($path);
        return (1, 0) unless $pred->($res, $d);
    }
    return (1, 1);
}
sub count_is { my $n = shift; return sub { my ($res, $d) = @_; $res->code == 200 && ref $d eq 'HASH' && $d->{count} == $n } }

reset_db();
my $ben = country(name => 'Benin', iso2 => 'BJ', iso3 => 'BEN');

# ---- the cache becomes active -----------------------------------------------------------
# While no change listener is healthy (just after start-up) the cache is bypassed.
{
    my $deadline = time + 10;
    my ($state, $i) = ('none', 0);
    while (time < $deadline) {
        $state = cache_state(Apache::TestRequest::GET("$C/datasets/?warmup=" . $i++));
        last if $state ne 'none';
        sleep 0.05;
    }
    is $state, 'miss', 'the cache answers (X-EcoAtlas-Cache: miss) within 10 s of start-up';
    is cache_state(Apache::TestRequest::GET('/api/countries/')), 'none', 'no cache header where EcoAtlasCache is Off';
}

# ---- miss, then hit with the same body -----------------------------------------------------
# the cache may be emptied by earlier tests' notifications arriving now: settle first
sleep 0.3;
{
    my $first = Apache::TestRequest::GET("$C/countries/");
    my $second = Apache::TestRequest::GET("$C/countries/");
    is cache_state($first), 'miss', 'first GET: miss';
    is cache_state($second), 'hit', 'second GET: hit';
    is $second->code, 200, 'hit: 200';
    is $second->content, $first->content, 'hit: the same body';
    is $second->content, Apache::TestRequest::GET('/api/countries/')->content, 'the same body as uncached /api';
    is scalar $second->header('Content-Type'), 'application/json', 'hit: Content-Type application/json';
    like scalar $second->header('Vary') // '', qr/\bAccept\b/, 'hit: Vary Accept';
    is scalar $second->header('Allow'), 'GET, POST, HEAD, OPTIONS', 'hit: Allow';
    is $second->header('Content-Length'), length $first->content, 'hit: Content-Length';
    is cache_state(Apache::TestRequest::GET("$C/countries/")), 'hit', 'third GET: hit';
}

# ---- different keys -----------------------------------------------------------------------
{
    is cache_state(Apache::TestRequest::GET("$C/countries/?page_size=5")), 'miss', 'another query string: miss';
    is cache_state(Apache::TestRequest::GET("$C/countries/?page_size=5")), 'hit', '… then hit';
    my $p1 = Apache::TestRequest::GET("$C/countries/$ben/", Accept => 'application/json; indent=4');
    my $p2 = Apache::TestRequest::GET("$C/countries/$ben/", Accept => 'application/json; indent=4');
    my $c1 = Apache::TestRequest::GET("$C/countries/$ben/");
    is cache_state($p1) . ' ' . cache_state($p2), 'miss hit', 'indent=4: its own entry';
    like $p2->content, qr/^\{\n    "id": $ben,\n/, 'indent=4 hit is indented';
    like $c1->content, qr/^\{"id":$ben,"name"/, 'compact request after an indented one: compact body';
    my $h1 = Apache::TestRequest::GET("$C/countries/?page_size=1", Host => 'one.example');
    my $h2 = Apache::TestRequest::GET("$C/countries/?page_size=1", Host => 'two.example');
    is cache_state($h2), 'miss', 'another Host: miss';
    db()->do(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at) VALUES (?, 'R', '', now(), now())}, undef, $ben);
    ok settles("$C/countries/$ben/", sub { ($_[0]->content // '') =~ /"region_count":1,/ }),
        'a region insert reaches the country detail (region_count 1)';
    my $hd = Apache::TestRequest::HEAD("$C/countries/?page_size=2&head=1");
    is $hd->code . '|' . $hd->content, '200|', 'HEAD on a new key: 200, no body';
    my $g = Apache::TestRequest::GET("$C/countries/?page_size=2&head=1");
    is $g->code, 200, 'GET after HEAD on the same key: 200';
    my $d = decode_json_body($g);
    is ref $d eq 'HASH' ? $d->{count} : undef, 1, 'GET after HEAD on the same key: the full body';
}

# ---- pagination links follow the Host even when cached ---------------------------------------
db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('Togo', 'TG', 'TGO', now(), now())});
ok settles("$C/countries/", count_is(2)), 'insert visible';
{
    Apache::TestRequest::GET("$C/countries/?page_size=1", Host => 'one.example') for 1 .. 2;
    my ($res, $d) = get_json("$C/countries/?page_size=1", Host => 'two.example');
    is ref $d eq 'HASH' ? $d->{next} : undef, 'http://two.example/cached/api/countries/?page=2&page_size=1',
        'next link of the requesting Host, not of an earlier one';
}

# ---- changes through DBI -----------------------------------------------------------------------
{
    # warm several entries
    Apache::TestRequest::GET($_) for map { ("$C/countries/", "$C/countries/?iso3=TGO", "$C/stats/") } 1 .. 2;
    is cache_state(Apache::TestRequest::GET("$C/countries/")), 'hit', 'list cached before the insert';

    db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('Niger', 'NE', 'NER', now(), now())});
    my ($reached, $stayed) = settles("$C/countries/", count_is(3));
    ok $reached, 'INSERT: the list shows 3 countries within 2 s';
    ok $stayed, 'INSERT: and never the old list afterwards';
    ($reached, $stayed) = settles("$C/stats/", sub { ($_[0]->content // '') =~ /"iso3":"NER"/ });
    ok $reached && $stayed, 'INSERT: stats (another entry) updated too';

    db()->do(q{UPDATE core_country SET name = 'Togolese Republic' WHERE iso3 = 'TGO'});
    ($reached, $stayed) = settles("$C/countries/?iso3=TGO", sub { ($_[0]->content // '') =~ /"name":"Togolese Republic"/ });
    ok $reached, 'UPDATE: the new name within 2 s';
    ok $stayed, 'UPDATE: never the old name afterwards';

    db()->do(q{DELETE FROM core_country WHERE iso3 = 'NER'});
    ($reached, $stayed) = settles("$C/countries/", count_is(2));
    ok $reached, 'DELETE: 2 countries within 2 s';
    ok $stayed, 'DELETE: never 3 afterwards';
    ($reached, $stayed) = settles("$C/stats/", sub { ($_[0]->content // '') !~ /"iso3":"NER"/ && $_[0]->code == 200 });
    ok $reached && $stayed, 'DELETE: stats updated';

    # a change in a transaction: visible at commit, not before
    my $dbh = db();
    $dbh->begin_work;
    $dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('Mali', 'ML', 'MLI', now(), now())});
    sleep 0.3;
    my ($r1, $d1) = get_json("$C/countries/");
    is ref $d1 eq 'HASH' ? $d1->{count} : undef, 2, 'uncommitted insert: not visible';
    $dbh->commit;
    ($reached, $stayed) = settles("$C/countries/", count_is(3));
    ok $reached && $stayed, 'COMMIT: visible within 2 s and stays';

    # a detail entry, then an update of a related row (region count)
    my $path = "$C/countries/$ben/";
    Apache::TestRequest::GET($path) for 1 .. 2;
    db()->do(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at) VALUES (?, 'R2', '', now(), now())}, undef, $ben);
    ($reached, $stayed) = settles($path, sub { ($_[0]->content // '') =~ /"region_count":2,/ });
    ok $reached && $stayed, 'related-table change (region) reaches the cached country detail';

    # TRUNCATE (reset_db truncates every core table)
    Apache::TestRequest::GET("$C/countries/") for 1 .. 2;
    reset_db();
    ($reached, $stayed) = settles("$C/countries/", count_is(0));
    ok $reached, 'TRUNCATE: the empty list within 2 s';
    ok $stayed, 'TRUNCATE: never the old list afterwards';
    is Apache::TestRequest::GET("$C/countries/$ben/")->code, 404, 'TRUNCATE: the old detail is gone';

    # many changes in a row: the last one wins
    for my $i (1 .. 10) {
        db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES (?, ?, ?, now(), now())},
            undef, "C$i", sprintf('%02d', $i), sprintf('C%02d', $i));
        Apache::TestRequest::GET("$C/countries/");
    }
    ($reached, $stayed) = settles("$C/countries/", count_is(10));
    ok $reached && $stayed, 'ten inserts interleaved with GETs: the final count';
}

# ---- errors are never cached ------------------------------------------------------------------
for my $case (["$C/hydro-sites/?status=foo", 400], ["$C/countries/999/", 404], ["$C/countries/?page=99", 404],
              ["$C/nothing/", 404], ["$C/climate-series/timeline/", 400], ["$C/stats/by_country/?iso3=XXX", 404],
              ["$C/stats/by_country/", 400], ["$C/resource-metrics/?year=x", 400]) {
    my ($path, $code) = @$case;
    my $a = Apache::TestRequest::GET($path);
    my $b = Apache::TestRequest::GET($path);
    is $a->code . ' ' . $b->code, "$code $code", "GET $path twice → $code";
    isnt cache_state($b), 'hit', "GET $path: the second is no cache hit";
}

# an error that turns into data: never served from a cached error
{
    my $p = "$C/stats/by_country/?iso3=GHA";
    Apache::TestRequest::GET($p) for 1 .. 2;
    db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('Ghana', 'GH', 'GHA', now(), now())});
    my ($reached, $stayed) = settles($p, sub { $_[0]->code == 200 });
    ok $reached && $stayed, '404 Pays introuvable. becomes 200 once the country exists';
    my $q = "$C/countries/?page=2&page_size=11";
    is Apache::TestRequest::GET($q)->code, 404, 'page 2 of 11 countries with 11 per page → 404';
    db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('Zambia', 'ZM', 'ZMB', now(), now())});
    ($reached, $stayed) = settles($q, sub { $_[0]->code == 200 });
    ok $reached && $stayed, 'the page exists after one more country';
    my $acc = Apache::TestRequest::GET("$C/countries/", Accept => 'text/csv');
    is $acc->code . ' ' . cache_state(Apache::TestRequest::GET("$C/countries/", Accept => 'text/csv')) =~ s/^(?!hit).*/not-hit/r,
        '406 not-hit', 'Accept: text/csv → 406, not from the cache';
}

# ---- cached pages equal uncached ones -----------------------------------------------------------
for my $path ('countries/', 'countries/?ordering=-name&page_size=3&page=2', 'stats/', 'hydro-sites/summary/',
              'resource-metrics/timeseries/', 'climate-series/timeline/?variable=x') {
    my $plain = Apache::TestRequest::GET("/api/$path")->content;
    $plain =~ s{/api/}{/cached/api/}g;
    Apache::TestRequest::GET("$C/$path") for 1 .. 2;
    my $cached = Apache::TestRequest::GET("$C/$path");
    is $cached->content, $plain, "cached $path equals the uncached body";
}

# ---- pages of any size: large entries and changes racing them ----------------------------
# 200 sites with 1,500-character notes: a page of 200 is about 0.35 MB (the
# old fixed slots held 32 KB), indented even more.
{
    my $cid = country(name => 'Large', iso2 => 'LG', iso3 => 'LRG');
    db()->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, status, notes, properties, country_id)
               SELECT now(), now(), 'Site ' || lpad(i::text, 3, '0'), 'identified',
                      'v0 ' || repeat('n', 1490), '{"grade": "A", "upper": {"area_ha": 1.5}}', $1
               FROM generate_series(1, 200) AS i}, undef, $cid);
    my $big = "$C/hydro-sites/?country__iso3=LRG&page_size=200";
    ok settles($big, count_is(200), 5), 'the 200 sites are listed';
    my $first = Apache::TestRequest::GET($big);
    my $second = Apache::TestRequest::GET($big);
    cmp_ok length($second->content), '>', 300_000, 'a page of 200 long sites is over 300 KB';
    is cache_state($second), 'hit', 'a 300 KB page is cached (hit on the next GET)';
    is $second->content, $first->content, '… with the same body';
    my $plain = Apache::TestRequest::GET('/api/hydro-sites/?country__iso3=LRG&page_size=200')->content;
    $plain =~ s{/api/}{/cached/api/}g;
    is $second->content, $plain, '… equal to the uncached page';
    is $second->header('Content-Length'), length $first->content, '… with its Content-Length';
    my @ind = map { Apache::TestRequest::GET($big, Accept => 'application/json; indent=8') } 1 .. 2;
    is cache_state($ind[1]) . ' ' . ($ind[1]->content eq $ind[0]->content ? 'same' : 'differs'), 'hit same',
        'the indented page (larger still) is cached too';
    my $head = Apache::TestRequest::HEAD($big);
    is $head->code . ' ' . cache_state($head) . ' ' . length($head->content), '200 hit 0', 'HEAD of a large cached page: no body';

    # A writer commits versions 1..20 of every note (one statement each) while
    # we read the page: every answer shows one version on all rows (never a
    # torn mix of two entries), and the last version is reached and stays.
    my $V = 20;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $w = DBI->connect("dbi:Pg:host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT};dbname=$ENV{EA_PGDATABASE}",
                             $ENV{EA_PGUSER}, '', { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
        for my $v (1 .. $V) {
            $w->do(q{UPDATE core_hydrosite SET notes = 'v' || $1 || ' ' || repeat('n', 1490) WHERE country_id = $2},
                   undef, $v, $cid);
            sleep 0.25;
        }
        $w->disconnect;
        POSIX::_exit(0);
    }
    my ($answers, $mixed, $bad) = (0, 0, 0);
    my %seen;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        my ($res, $d) = get_json($big);
        $answers++;
        if ($res->code != 200 || ref $d ne 'HASH' || @{ $d->{results} } != 200) { $bad++; next }
        my %v = map { ($_->{notes} =~ /^v(\d+) /)[0] // 'none' => 1 } @{ $d->{results} };
        $mixed++ if keys %v != 1;
        $seen{$_} = 1 for keys %v;
    }
    is $? >> 8, 0, 'the writer committed its 20 versions';
    cmp_ok $answers, '>', 5, "pages read while the writer ran ($answers)";
    is "$bad $mixed", '0 0', 'every page read during the changes is whole and of one version';
    cmp_ok scalar(keys %seen), '>', 1, 'the pages read saw the versions change (' . scalar(keys %seen) . ' versions)';
    my ($reached, $stayed) = settles($big, sub {
        my ($res, $d) = @_;
        $res->code == 200 && ref $d eq 'HASH' && !grep { $_->{notes} !~ /^v$V / } @{ $d->{results} } }, 3);
    ok $reached, "the last version ($V) reaches the cached page";
    ok $stayed, 'and no earlier version comes back';
}

# ---- eviction spares the page that is read ----------------------------------------------------
# t/conf/extra.conf.in gives the cache two slots for entries of 256-512 KB:
# a third such page replaces the one that was read least recently.
{
    my $base = "$C/hydro-sites/?country__iso3=LRG&page_size=200";
    my ($pa, $pb, $pc) = map { "$base&evict=$_" } qw(a b c);
    is cache_state(Apache::TestRequest::GET($pa)), 'miss', 'large page a: stored';
    sleep 0.1;
    is cache_state(Apache::TestRequest::GET($pb)), 'miss', 'large page b: stored (the two slots now hold a and b)';
    sleep 0.1;
    is cache_state(Apache::TestRequest::GET($pa)), 'hit', 'page a read again';
    sleep 0.1;
    is cache_state(Apache::TestRequest::GET($pc)), 'miss', 'large page c: stored in place of one of them';
    is cache_state(Apache::TestRequest::GET($pa)), 'hit', 'a, read most recently, stays';
    is cache_state(Apache::TestRequest::GET($pb)), 'miss', 'b, not read since it was stored, was evicted';
}

# ---- a database restart: changes made right after it are not missed ------------------------
{
    my ($res, $d) = get_json("$C/countries/");
    my $n = ref $d eq 'HASH' ? $d->{count} : -1;
    Apache::TestRequest::GET("$C/countries/") for 1 .. 2;
    pg_stop();
    pg_start();
    # the change listener may not be back yet: this change must not be lost
    db()->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at) VALUES ('After', 'AF', 'AFT', now(), now())});
    my ($reached, $stayed) = settles("$C/countries/", count_is($n + 1), 5);
    ok $reached, 'after a database restart: a change made at once is visible within 5 s';
    ok $stayed, 'after a database restart: and stays visible';
    # once the listener is back, the cache serves hits again
    my $deadline = time + 10;
    my $state = 'none';
    while (time < $deadline) {
        Apache::TestRequest::GET("$C/countries/?after=1");
        $state = cache_state(Apache::TestRequest::GET("$C/countries/?after=1"));
        last if $state eq 'hit';
        sleep 0.1;
    }
    is $state, 'hit', 'after a database restart: the cache is used again within 10 s';
    db()->do(q{UPDATE core_country SET name = 'After Restart' WHERE iso3 = 'AFT'});
    ($reached, $stayed) = settles("$C/countries/?after=1", sub { ($_[0]->content // '') =~ /"After Restart"/ });
    ok $reached, 'after a database restart: changes invalidate the cache again';
    ok $stayed, 'after a database restart: and the old page does not come back';
}

# ---- the leading child: starved for a while, it keeps the lead; gone, it is replaced ---------
# docs/operations.md: a listener silent for a second makes the cache bypassed;
# its child, still running, keeps the lead for 10 s and, caught up, serves
# the cache as it was; a child that has died is replaced at once (and the
# cache emptied: the new listener cannot know what it did not hear).
{
    # The child leading database 0 and how many listeners database 0 has
    # started (each start empties the cache), from /metrics.
    my $listener = sub {
        my ($m) = EaProm::parse(Apache::TestRequest::GET('/metrics')->content // '');
        return (EaProm::value($m, 'ecoatlas_cache_listener_pid', database => '0') // 0,
                EaProm::value($m, 'ecoatlas_cache_listener_starts_total', database => '0') // -1);
    };
    # A process that runs (not gone, not a zombie waiting to be reaped).
    my $running = sub {
        my ($p) = @_;
        open my $f, '<', "/proc/$p/stat" or return 0;
        my $st = <$f> // '';
        return $st =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 !~ /[ZX]/;
    };
    # Poll $path until it is no longer bypassed; returns its cache state.
    my $first_state = sub {
        my ($path, $secs) = @_;
        my $deadline = time + $secs;
        my $state = 'none';
        while (time < $deadline) {
            $state = cache_state(Apache::TestRequest::GET($path));
            return $state if $state ne 'none';
            sleep 0.05;
        }
        return $state;
    };
    my $page = "$C/datasets/?leader=1";
    Apache::TestRequest::GET($page) for 1 .. 2;
    is cache_state(Apache::TestRequest::GET($page)), 'hit', 'leader: the page is cached';
    my ($pid, $s0) = $listener->();
    ok $pid > 0 && $running->($pid), 'leader: the listening child is in the metrics and runs';
    ok $s0 >= 1, 'leader: its start is counted';

    # The MPM may retire an idle child (the leader too) at any time, and
    # under prefork the stopped child may be the one waiting in accept()
    # (the accept mutex): then every request waits for it.  So a helper
    # process always wakes it after 1.6 s, and an attempt counts only if the
    # child still runs afterwards and the request made while it was stopped
    # was answered before it was woken.
    my ($while, $after, $pid_after, $s_after, $valid);
    for my $attempt (1 .. 8) {
        ($pid, $s0) = $listener->();
        next unless $pid > 0 && $running->($pid);
        kill 'STOP', $pid;
        my $t0 = time;
        my $waker = fork // die "fork: $!";
        if ($waker == 0) {
            sleep 1.6;
            kill 'CONT', $pid;
            POSIX::_exit(0);
        }
        sleep 1.2;
        my $res = Apache::TestRequest::GET($page);
        my $answered = time - $t0;
        waitpid($waker, 0);
        kill 'CONT', $pid;
        my $state = cache_state($res);
        $after = $first_state->($page, 3);
        ($pid_after, $s_after) = $listener->();
        unless ($running->($pid)) {
            diag "leader $pid exited during attempt $attempt (retired by the MPM): again";
            next;
        }
        if ($answered >= 1.55) {
            diag sprintf 'attempt %d: the request waited for the stopped child (%.2f s): again', $attempt, $answered;
            Apache::TestRequest::GET($page) for 1 .. 2;
            next;
        }
        ($while, $valid) = ($state, 1);
        last;
    }
    ok $valid, 'leader stopped: a leading child lived through the test, and a request was answered meanwhile';
    is $while, 'none', 'leader stopped for 1.6 s: the cache is bypassed';
    is $after, 'hit', 'leader running again: its cache is used again, not emptied';
    is $pid_after, $pid, 'leader running again: it still leads';
    is $s_after, $s0, 'leader running again: no listener started meanwhile';

    ($pid, $s0) = $listener->();
    kill 'KILL', $pid;
    my ($deadline, $new, $s) = (time + 5, $pid, $s0);
    while (time < $deadline) {
        ($new, $s) = $listener->();
        last if $new != $pid && $new > 0 && $s > $s0;
        sleep 0.05;
    }
    ok $new != $pid && $new > 0 && $running->($new), 'leader killed: another running child leads within 5 s';
    is $s, $s0 + 1, 'leader killed: one listener started';
    is $first_state->($page, 3), 'miss', 'leader killed: the cache was emptied';
}
