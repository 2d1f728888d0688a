# Pagination (docs/decisions.md §2.4): page sizes (default 50 on /api, 10 on
# /small/api with a maximum of 20), page / page_size parsing, the envelope,
# and next/previous absolute URLs (query re-encoded sorted by key, page
# removed for page 1).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json raw col);
use EaProm ();
use POSIX ();

plan tests => 97;

my $HP = Apache::TestRequest::hostport();
my $TS = '2025-01-01 00:00:00+00';

reset_db();
my $dbh = db();
$dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
           VALUES ('Benin', 'BJ', 'BEN', $1, $1)}, undef, $TS);
$dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
           SELECT 'Country ' || i, lpad(i::text, 2, '0'), 'X' || lpad(i::text, 2, '0'), $1, $1
           FROM generate_series(0, 24) AS i ORDER BY i}, undef, $TS);
$dbh->do(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at)
           SELECT 1, 'R' || lpad(i::text, 3, '0'), '', $1, $1
           FROM generate_series(1, 205) AS i ORDER BY i}, undef, $TS);

my @by_name = sort('Benin', map { "Country $_" } 0 .. 24);

# "code count n next previous" of a list GET (links '-' when null)
sub page {
    my ($path, @h) = @_;
    my ($res, $d) = get_json($path, @h);
    return 'HTTP ' . $res->code . ' ' . $res->content unless $res->code == 200 && ref $d eq 'HASH';
    return join ' ', 200, $d->{count}, scalar @{ $d->{results} },
        $d->{next} // '-', $d->{previous} // '-';
}

my $A = "http://$HP/api";
my $S = "http://$HP/small/api";
my $INVALID = '404 {"detail":"Invalid page."}';

# ---- default page size 50 on /api ------------------------------------------
is page('/api/countries/'), '200 26 26 - -', '26 countries fit on one default page';
is page('/api/regions/'), "200 205 50 $A/regions/?page=2 -", 'default page size 50';
is page('/api/regions/?page=2'), "200 205 50 $A/regions/?page=3 $A/regions/", 'page 2: previous has no page parameter';
is page('/api/regions/?page=3'), "200 205 50 $A/regions/?page=4 $A/regions/?page=2", 'page 3';
is page('/api/regions/?page=5'), "200 205 5 - $A/regions/?page=4", 'last page: 5 items, next null';
is page('/api/regions/?page=last'), "200 205 5 - $A/regions/?page=4", 'page=last is the last page';
is raw('/api/regions/?page=6'), $INVALID, 'page beyond the end → 404 Invalid page.';
is page('/api/regions/?page=1'), "200 205 50 $A/regions/?page=2 -", 'explicit page=1';
is page('/api/regions/?page_size=500'), "200 205 200 $A/regions/?page=2&page_size=500 -",
    'page_size over the maximum is capped at 200';

is page('/api/regions/?page_size=500&page=2'), "200 205 5 - $A/regions/?page_size=500", 'page 2 of capped pages';
is page('/api/regions/?page_size=200&page=2'), "200 205 5 - $A/regions/?page_size=200", 'page_size=200 (the maximum)';

# ---- page_size=10 on countries ---------------------------------------------
is page('/api/countries/?page_size=10'), "200 26 10 $A/countries/?page=2&page_size=10 -", 'page_size=10: next';
is col('/api/countries/?page_size=10', 'name'), join(',', @by_name[0 .. 9]), 'page 1 items in name order';
is page('/api/countries/?page=2&page_size=10'),
    "200 26 10 $A/countries/?page=3&page_size=10 $A/countries/?page_size=10", 'page 2: previous without page';
is col('/api/countries/?page=2&page_size=10', 'name'), join(',', @by_name[10 .. 19]), 'page 2 items';
is page('/api/countries/?page=3&page_size=10'), "200 26 6 - $A/countries/?page=2&page_size=10", 'page 3: 6 items';
is col('/api/countries/?page=3&page_size=10', 'name'), join(',', @by_name[20 .. 25]), 'page 3 items';
is raw('/api/countries/?page=last&page_size=10'), raw('/api/countries/?page=3&page_size=10'),
    'page=last: same body as page 3';
is page('/api/countries/?page_size=10&page=2'),
    "200 26 10 $A/countries/?page=3&page_size=10 $A/countries/?page_size=10", 'parameter order does not matter';

# ---- invalid pages -----------------------------------------------------------
is raw('/api/countries/?page=4&page_size=10'), $INVALID, 'page 4 of 3 → 404';
is raw('/api/countries/?page=0'), $INVALID, 'page=0 → 404';
is raw('/api/countries/?page=-1'), $INVALID, 'page=-1 → 404';
is raw('/api/countries/?page=abc'), $INVALID, 'page=abc → 404';
is raw('/api/countries/?page=1.5'), $INVALID, 'page=1.5 → 404';
is raw('/api/countries/?page=2'), $INVALID, 'page=2 with everything on page 1 → 404';
is raw('/api/countries/?page=99999999999999999999'), $INVALID, 'huge page number → 404';
is raw('/api/countries/?page=LAST'), $INVALID, 'page=LAST (only "last" is special) → 404';
# Django's Paginator and DRF's _positive_int use Python's int(): sign and blanks accepted
is page('/api/countries/?page=%202&page_size=10'), "200 26 10 $A/countries/?page=3&page_size=10 $A/countries/?page_size=10",
    'page=" 2" is page 2';
is page('/api/countries/?page=%2B3&page_size=10'), "200 26 6 - $A/countries/?page=2&page_size=10", 'page="+3" is page 3';
is page('/api/countries/?page_size=%205'), "200 26 5 $A/countries/?page=2&page_size=+5 -",
    'page_size=" 5" is 5 (and re-encoded with +)';
{
    my $res = Apache::TestRequest::GET('/api/countries/?page=abc');
    is scalar $res->header('Content-Type'), 'application/json', 'Invalid page. is application/json';
}

# ---- page_size fallbacks -----------------------------------------------------
is page('/api/regions/?page_size=0'), "200 205 50 $A/regions/?page=2&page_size=0 -", 'page_size=0 → default 50';
is page('/api/regions/?page_size=-3'), "200 205 50 $A/regions/?page=2&page_size=-3 -", 'page_size=-3 → default';
is page('/api/regions/?page_size=abc'), "200 205 50 $A/regions/?page=2&page_size=abc -", 'page_size=abc → default';
is page('/api/regions/?page_size=1.5'), "200 205 50 $A/regions/?page=2&page_size=1.5 -", 'page_size=1.5 → default';
is page('/api/regions/?page_size='), "200 205 50 $A/regions/?page=2&page_size= -", 'empty page_size → default';
is page('/api/regions/?page_size=1'), "200 205 1 $A/regions/?page=2&page_size=1 -", 'page_size=1';

# ---- /small/api: default 10, max 20 ------------------------------------------
is page('/small/api/countries/'), "200 26 10 $S/countries/?page=2 -", '/small/api default page size 10';
is page('/small/api/countries/?page=2'), "200 26 10 $S/countries/?page=3 $S/countries/", '/small/api page 2';
is page('/small/api/countries/?page=last'), "200 26 6 - $S/countries/?page=2", '/small/api page=last';
is page('/small/api/countries/?page_size=25'), "200 26 20 $S/countries/?page=2&page_size=25 -", 'capped at 20';
is page('/small/api/countries/?page_size=20'), "200 26 20 $S/countries/?page=2&page_size=20 -", 'page_size=20';
is page('/small/api/countries/?page_size=0'), "200 26 10 $S/countries/?page=2&page_size=0 -", 'page_size=0 → 10';
is page('/small/api/countries/?page_size=x'), "200 26 10 $S/countries/?page=2&page_size=x -", 'page_size=x → 10';
is page('/small/api/countries/?page_size=99999999999999999999'),
    "200 26 20 $S/countries/?page=2&page_size=99999999999999999999 -", 'huge page_size → capped at 20';

# ---- link query strings: sorted by key, urlencoded -----------------------------
is page('/api/countries/?search=Country&page_size=5&page=2'),
    "200 25 5 $A/countries/?page=3&page_size=5&search=Country $A/countries/?page_size=5&search=Country",
    'other parameters kept, sorted by key';
is page('/api/countries/?page_size=5&ordering=-name'),
    "200 26 5 $A/countries/?ordering=-name&page=2&page_size=5 -", 'ordering sorts before page';
is col('/api/countries/?page_size=5&ordering=-name', 'name'), join(',', (reverse @by_name)[0 .. 4]),
    'ordering applies to the page';
is page('/api/countries/?search=Country%201&page_size=5'),
    "200 12 5 $A/countries/?page=2&page_size=5&search=Country+1 -", 'space re-encoded as +';
is page('/api/countries/?search=Country+1&page_size=5&page=3'),
    "200 12 2 - $A/countries/?page=2&page_size=5&search=Country+1", '+ in the query is a space';
is page('/api/countries/?iso2=&page_size=5'), "200 26 5 $A/countries/?iso2=&page=2&page_size=5 -",
    'blank parameters kept';
is page('/api/countries/?zz=%C3%A9t%C3%A9&page_size=5'),
    "200 26 5 $A/countries/?page=2&page_size=5&zz=%C3%A9t%C3%A9 -", 'non-ASCII percent-encoded (UTF-8, upper-case hex)';
is page('/api/countries/?ordering=name,-population&page_size=5'),
    "200 26 5 $A/countries/?ordering=name%2C-population&page=2&page_size=5 -", 'comma encoded as %2C';
is page('/api/countries/?zz=b&zz=a&page_size=5'),
    "200 26 5 $A/countries/?page=2&page_size=5&zz=b&zz=a -", 'repeated parameter: values kept in order';
is page('/api/countries/?zz=a%2Fb%26c%3Dd&page_size=5'),
    "200 26 5 $A/countries/?page=2&page_size=5&zz=a%2Fb%26c%3Dd -", 'reserved characters encoded';

# ---- a repeated parameter: Django's QueryDict.get() takes the last value
is page('/api/countries/?page=1&page=2&page_size=10'),
    "200 26 10 $A/countries/?page=3&page_size=10 $A/countries/?page_size=10", 'page=1&page=2 → page 2';
is page('/api/countries/?page_size=5&page_size=10'),
    "200 26 10 $A/countries/?page=2&page_size=5&page_size=10 -", 'page_size=5&page_size=10 → 10 (both kept in links)';

# ---- Host header ---------------------------------------------------------------
is page('/api/countries/?page_size=10', Host => 'atlas.example.org:8000'),
    '200 26 10 http://atlas.example.org:8000/api/countries/?page=2&page_size=10 -', 'next uses the Host header';
is page('/api/countries/?page_size=10&page=3', Host => 'atlas.example.org'),
    '200 26 6 - http://atlas.example.org/api/countries/?page=2&page_size=10', 'previous uses the Host header';

# ---- empty results -------------------------------------------------------------
is raw('/api/hydro-sites/'), '200 {"count":0,"next":null,"previous":null,"results":[]}', 'empty list: page 1 is valid';
is raw('/api/hydro-sites/?page=1'), '200 {"count":0,"next":null,"previous":null,"results":[]}', 'empty list: page=1';
is raw('/api/hydro-sites/?page=last'), '200 {"count":0,"next":null,"previous":null,"results":[]}', 'empty list: page=last';
is raw('/api/hydro-sites/?page=2'), $INVALID, 'empty list: page 2 → 404';
is raw('/api/countries/?iso3=NOPE'), '200 {"count":0,"next":null,"previous":null,"results":[]}',
    'filter matching nothing: empty page';
is raw('/small/api/climate-series/?page_size=3'), '200 {"count":0,"next":null,"previous":null,"results":[]}',
    'empty list on /small/api';

# ---- exact raw body of a middle page --------------------------------------------
{
    my ($id) = $dbh->selectrow_array(q{SELECT id FROM core_country WHERE name = 'Country 0'});
    is raw('/small/api/countries/?page_size=1&page=2&ordering=name'),
        qq<200 {"count":26,"next":"$S/countries/?ordering=name&page=3&page_size=1",>
      . qq<"previous":"$S/countries/?ordering=name&page_size=1","results":[{"id":$id,"name":"Country 0",>
      . q<"iso2":"00","iso3":"X00","population":null,"boundary":null,"region_count":0,"site_count":0,>
      . q<"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}]}>,
        'exact envelope: key order count, next, previous, results';
    my ($rid) = $dbh->selectrow_array(q{SELECT id FROM core_region WHERE name = 'R205'});
    is raw('/api/regions/?page=last&page_size=102'),
        qq<200 {"count":205,"next":null,"previous":"$A/regions/?page=2&page_size=102","results":[{"id":$rid,"country":1,>
      . q<"country_name":"Benin","name":"R205","level":"","boundary":null,>
      . q<"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}]}>,
        'exact envelope of the last page';
}

# ---- count follows the data ------------------------------------------------------
$dbh->do(q{DELETE FROM core_region WHERE name > 'R100'});
is page('/api/regions/?page=2'), "200 100 50 - $A/regions/", 'after deleting regions: 100, two pages';
is raw('/api/regions/?page=3'), $INVALID, 'page 3 now beyond the end';
$dbh->do(q{INSERT INTO core_region (country_id, name, level, created_at, updated_at) VALUES (2, 'Extra', '', now(), now())});
is page('/api/regions/?page=2'), "200 101 50 $A/regions/?page=3 $A/regions/", 'after inserting one: 101';
is page('/api/regions/?page=3'), "200 101 1 - $A/regions/?page=2", 'page 3 holds the new one';

# ---- every list is paginated ------------------------------------------------------
for my $list (qw(datasets hydro-sites resource-metrics climate-series)) {
    is raw("/api/$list/?page=2"), $INVALID, "/api/$list/ is paginated (page 2 of nothing → 404)";
}
$dbh->do(q{INSERT INTO core_energydataset (name, dataset_type, source, description, file_name, file_checksum, metadata, created_at, updated_at)
           SELECT 'D' || lpad(i::text, 2, '0'), 'phes', '', '', '', '', '{}', now(), now() FROM generate_series(1, 12) i});
is page('/small/api/datasets/?page=2'), "200 12 2 - $S/datasets/", 'datasets paginated with the /small/api size';

# ---- deep pages (page-boundary keys) equal OFFSET's pages ---------------------------
# Where the response cache is on (/cached/api), a page past row 10,000
# builds the set's map of boundary keys, and from then on every page past
# row 1,000 seeks to a boundary and skips fewer than 500 rows
# (lib/ea_keyset.c); /api reads them with OFFSET.  Every page of 12,000
# sites with ties (30 sites per name, 13 head values, 5 storage values) and
# NULLs, in several orderings, must be byte for byte the same, before and
# after inserts and deletes.
{
    my $C = '/cached/api';
    $dbh->do(q{INSERT INTO core_country (name, iso2, iso3, created_at, updated_at)
               SELECT 'Deep ' || k, chr(65 + k / 26) || chr(65 + k % 26), 'D' || lpad(k::text, 2, '0'), now(), now()
               FROM generate_series(0, 29) AS k});
    $dbh->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, status, notes, properties, country_id,
                                          head_m, storage_capacity_mwh)
               SELECT now(), now(), 'S' || lpad((i % 400)::text, 3, '0'), 'identified', '', '{}',
                      (SELECT id FROM core_country WHERE iso3 = 'D' || lpad((i / 400)::text, 2, '0')),
                      CASE WHEN i % 7 = 0 THEN NULL ELSE i % 13 END,
                      CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 5) * 10.5 END
               FROM generate_series(0, 11999) AS i ORDER BY random()});
    my @orders = ('', 'ordering=-head_m', 'ordering=storage_capacity_mwh', 'ordering=-name',
                  'status=identified&ordering=head_m');
    my $size = 200;
    # "ordering: first differing page" for every ordering, all pages compared
    my $compare = sub {
        my ($n) = @_;
        my @diff;
        for my $o (@orders) {
            my $pages = int(($n + $size - 1) / $size);
            for my $p (1 .. $pages + 1) {
                my $q = "?page=$p&page_size=$size" . ($o ? "&$o" : '');
                my $want = raw("/api/hydro-sites/$q");
                (my $got = raw("$C/hydro-sites/$q")) =~ s{/cached/api/}{/api/}g;
                if ($got ne $want) { push @diff, "$o: page $p"; last }
            }
        }
        return join('; ', @diff) || 'none';
    };
    my $settle = sub {
        my ($n) = @_;
        for (1 .. 200) {
            my ($res, $d) = get_json("$C/hydro-sites/?page_size=1&settle=" . rand());
            return 1 if ref $d eq 'HASH' && $d->{count} == $n;
            select undef, undef, undef, 0.02;
        }
        return 0;
    };
    ok $settle->(12000), 'the cached API sees the 12,000 sites';
    # /api itself, whose pages past the first rows find their ids first
    # (lib/ea_sql_list.h): each page's ids are those of PostgreSQL's own
    # ORDER BY ... LIMIT ... OFFSET over the table.
    my %sql_of = ('' => 'ORDER BY name, id', 'ordering=-head_m' => 'ORDER BY head_m DESC, id DESC',
                  'ordering=storage_capacity_mwh' => 'ORDER BY storage_capacity_mwh, id',
                  'ordering=-name' => 'ORDER BY name DESC, id DESC',
                  'status=identified&ordering=head_m' => "WHERE status = 'identified' ORDER BY head_m, id");
    my $truth = sub {
        my ($n) = @_;
        my @diff;
        for my $o (@orders) {
            for my $p (1, 2, 3, 7, 30, int(($n + $size - 1) / $size)) {
                my $want = join ',', @{ $dbh->selectcol_arrayref(
                    "SELECT id FROM core_hydrosite $sql_of{$o} LIMIT $size OFFSET " . ($p - 1) * $size) };
                my $got = col("/api/hydro-sites/?page=$p&page_size=$size" . ($o ? "&$o" : ''), 'id');
                if ($got ne $want) { push @diff, "$o: page $p"; last }
            }
        }
        return join('; ', @diff) || 'none';
    };
    is $truth->(12000), 'none', '/api: each page\'s rows are those of ORDER BY ... OFFSET';
    is $compare->(12000), 'none', 'every page (size 200) in 5 orderings equals OFFSET\'s page';
    # again, through the maps the pages past row 10,000 built (a new query
    # parameter each time, so that no page comes from the response cache)
    $C = '/cached/api';
    my $again = sub {
        my ($n) = @_;
        my @diff;
        for my $o (@orders) {
            for my $p (1 .. int(($n + $size - 1) / $size) + 1) {
                my $q = "?page=$p&page_size=$size" . ($o ? "&$o" : '');
                my $want = raw("/api/hydro-sites/$q");
                (my $got = raw("$C/hydro-sites/$q&again=1")) =~ s{/cached/api/}{/api/}g;
                $got =~ s{([?&])again=1&?}{$1}g;
                $got =~ s{[?&]"}{"}g;
                if ($got ne $want) { push @diff, "$o: page $p"; last }
            }
        }
        return join('; ', @diff) || 'none';
    };
    is $again->(12000), 'none', 'and again, with the boundary maps built';

    $dbh->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, status, notes, properties, country_id, head_m)
               SELECT now(), now(), 'A' || i, 'identified', '', '{}',
                      (SELECT id FROM core_country WHERE iso3 = 'D00'), CASE WHEN i % 3 = 0 THEN NULL ELSE 6 END
               FROM generate_series(1, 150) AS i});
    $dbh->do(q{DELETE FROM core_hydrosite WHERE id % 9 = 0 AND name LIKE 'S%'});
    my ($n) = $dbh->selectrow_array(q{SELECT count(*) FROM core_hydrosite});
    ok $settle->($n), "the cached API sees the inserts and deletes ($n sites)";
    is $truth->($n), 'none', 'after inserts and deletes, /api: each page\'s rows are those of ORDER BY ... OFFSET';
    is $compare->($n), 'none', 'after inserts and deletes: every page equals OFFSET\'s page';
    is $again->($n), 'none', 'after inserts and deletes, through the rebuilt maps: every page equals OFFSET\'s page';

    # Eight deep pages of a set whose map a change just dropped, at once:
    # one request builds the map, the others wait for it (a scan each was
    # the herd of docs/directives.md, EcoAtlasCache), and every page is
    # still OFFSET's.
    my $maps = sub {
        my ($m) = EaProm::parse(Apache::TestRequest::GET('/metrics')->content // '');
        return map { EaProm::value($m, 'ecoatlas_cache_page_maps_total', result => $_) // 0 } qw(built waited failed);
    };
    $dbh->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, status, notes, properties, country_id)
               VALUES (now(), now(), 'Herd', 'identified', '', '{}', (SELECT id FROM core_country WHERE iso3 = 'D00'))});
    $n++;
    ok $settle->($n), "the cached API sees the insert ($n sites)";
    my @before = $maps->();
    my @pages = map { 52 + 3 * $_ } 0 .. 7;   # rows 10,200 to 14,600
    my %want = map { $_ => raw("/api/hydro-sites/?page=$_&page_size=$size&ordering=-name") } @pages;
    my @kids;
    for my $p (@pages) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            (my $got = raw("$C/hydro-sites/?page=$p&page_size=$size&ordering=-name&herd=1")) =~ s{/cached/api/}{/api/}g;
            $got =~ s{([?&])herd=1&?}{$1}g;
            $got =~ s{[?&]"}{"}g;
            POSIX::_exit($got eq $want{$p} ? 0 : 1);
        }
        push @kids, $pid;
    }
    my $bad = 0;
    for (@kids) { waitpid($_, 0); $bad++ if $? != 0 }
    is $bad, 0, 'eight deep pages at once, the map just dropped: each equals OFFSET\'s page';
    my @after = $maps->();
    my ($built, $waited, $failed) = map { $after[$_] - $before[$_] } 0 .. 2;
    ok $built >= 1 && $built <= 2, "the map built once (twice at most, two claims racing): built $built";
    is $failed, 0, "none read with OFFSET (the others: waited $waited, found it built)";
}

# ---- a map of the first rows of a big set ---------------------------------------------
# A deep page builds the map only a few times as far as it needs
# (lib/ea_keyset.h, ea_keyset_cover: 4 x (10,000 + 100) rows, rounded to the
# 500 rows between boundaries: 40,500); pages within it use it as it is,
# the first page past it builds a longer one (here: the whole set), and
# every page is OFFSET's.
{
    my $C = '/cached/api';
    $dbh->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, status, notes, properties, country_id, head_m)
               SELECT now(), now(), 'P' || i, 'study', '', '{}',
                      (SELECT id FROM core_country WHERE iso3 = 'D' || lpad((i % 30)::text, 2, '0')),
                      CASE WHEN i % 9 = 0 THEN NULL ELSE i % 17 END
               FROM generate_series(1, 45000) AS i ORDER BY random()});
    my ($n) = $dbh->selectrow_array(q{SELECT count(*) FROM core_hydrosite WHERE status = 'study'});
    my $built = sub {
        my ($m) = EaProm::parse(Apache::TestRequest::GET('/metrics')->content // '');
        return EaProm::value($m, 'ecoatlas_cache_page_maps_total', result => 'built') // 0;
    };
    my $tag = 0;
    # "" when the cached API's page equals OFFSET's, else what differs
    my $same = sub {
        my ($p) = @_;
        my $q = "?status=study&ordering=-head_m&page_size=100&page=$p";
        my $want = raw("/api/hydro-sites/$q");
        $tag++;
        (my $got = raw("$C/hydro-sites/$q&t=$tag")) =~ s{/cached/api/}{/api/}g;
        $got =~ s{([?&])t=$tag&?}{$1}g;
        $got =~ s{[?&]"}{"}g;
        return $got eq $want ? '' : "page $p differs";
    };
    for (1 .. 200) {
        my ($res, $d) = get_json("$C/hydro-sites/?status=study&page_size=1&settle=" . rand());
        last if ref $d eq 'HASH' && $d->{count} == $n;
        select undef, undef, undef, 0.02;
    }
    is $n, 45000, 'a set of 45,000 sites';
    my $b0 = $built->();
    is $same->(101), '', 'row 10,000: equals OFFSET\'s page';
    is $built->() - $b0, 1, 'row 10,000: a map built';
    my @within = map { $same->($_) } 102, 150, 257, 300, 404, 405;
    is join(', ', grep { $_ } @within), '', 'pages up to row 40,499: each equals OFFSET\'s page';
    is $built->() - $b0, 1, 'pages up to row 40,499: served by that map, none built';
    is $same->(406), '', 'row 40,500: equals OFFSET\'s page';
    is $built->() - $b0, 2, 'row 40,500: past the map, a longer one built';
    my @rest = map { $same->($_) } 407, 420, 449, 450, 451;
    is join(', ', grep { $_ } @rest), '', 'to the last page and past it: each equals OFFSET\'s';
    is $built->() - $b0, 2, 'the longer map covers the whole set: none built';
}
