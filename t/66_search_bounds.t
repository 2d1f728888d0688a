# One anonymous search must not pin PostgreSQL (docs/security.md).
# The bounds (EA_SEARCH_MAX_TERMS, EA_SEARCH_MAX_CHARS, EA_ORDERING_MAX_FIELDS,
# EA_QS_MAX_PARAMS) answer 400 with what was wrong; the worst search they
# allow returns well within EcoAtlasQueryTimeout and leaves no backend
# busy; the module's connections run with jit off even where the database
# would JIT-compile everything (LLVM does not check for interrupts, so no
# timeout or cancel could stop it).  EcoAtlasSearchTimeout (docs/decisions.md
# D16) cuts a search that needs longer: 400, and PostgreSQL stops it.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Time::HiRes qw(time sleep);
use EaTest qw(db reset_db seed_fixture get_json);

plan tests => 27;

reset_db();
my $f = seed_fixture();

# 5,000 sites whose properties hold every term below: each term is then
# tested against name, notes and properties of every row (the worst case).
my $text = join ' ', map { "term$_" . ('x' x 15) } 0 .. 9;
db()->do(q{INSERT INTO core_hydrosite (created_at, updated_at, name, country_id, status, notes, properties)
           SELECT now(), now(), 'Bulk ' || g, ?, 'identified', 'n' || g, jsonb_build_object('d', ?::text, 'g', g)
           FROM generate_series(1, 5000) g}, undef, $f->{country}, $text);
db()->do('ANALYZE core_hydrosite');

sub busy_backends {
    return db()->selectrow_array(q{SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
        AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND datname = current_database()});
}

# ---- the bounds: 400 with a DRF-style message ------------------------------------------------
my @terms = map { "term$_" . ('x' x 14) } 0 .. 9;      # 10 terms, 19 characters each
my $worst = join ' ', @terms;                          # 199 characters
is length $worst, 199, 'the worst allowed search: 10 terms, 199 characters';
my ($res, $d) = get_json('/api/hydro-sites/?search=' . join('+', ('ab') x 11));
is $res->code . ' ' . ($res->content), '400 {"search":["Ensure this value has at most 10 search terms (it has 11)."]}',
    'an 11th term: 400 saying so';
($res) = get_json('/api/hydro-sites/?search=' . ('y' x 201));
is $res->code . ' ' . ($res->content), '400 {"search":["Ensure this value has at most 200 characters (it has 201)."]}',
    '201 characters: 400 saying so';
($res) = get_json('/api/hydro-sites/?search=' . join('+', ('a') x 4000));
is $res->code, 400, 'the reported attack (4,000 terms): 400 before any SQL';
($res) = get_json('/api/hydro-sites/?ordering=' . join(',', ('-name') x 9));
is $res->code . ' ' . ($res->content), '400 {"ordering":["Ensure this value has at most 8 fields (it has 9)."]}',
    '9 ordering fields: 400 saying so';
($res) = get_json('/api/countries/?' . join('&', map { "k$_=v" } 1 .. 65));
is $res->code . ' ' . ($res->content), '400 {"detail":"Too many query parameters: 65 (at most 64)."}',
    '65 query parameters: 400 saying so';
($res) = get_json('/api/countries/?' . join('&', map { "k$_=v" } 1 .. 64));
is $res->code, 200, '64 query parameters: 200';
($res) = get_json('/api/hydro-sites/export/?search=' . join('+', ('a') x 11));
is $res->code, 400, 'the bounds hold on the actions too (export)';

# ---- JIT off on the module's connections --------------------------------------------------------
# The database is told to JIT-compile every statement and to dump the
# bitcode of each compilation into the data directory; the module's
# connections are then made anew (their backends ended: the next request
# finds its connection dead, reconnects and retries).
my $pgdata = $ENV{EA_PGDATA} or die 'EA_PGDATA';
my $dbname = db()->selectrow_array('SELECT current_database()');
# Bitcode files ("<pid>.<n>.bc") written by client backends of this
# database other than ours: autovacuum, which picks up the database's
# settings too, is not the module.
sub bitcode_files {
    opendir my $dh, $pgdata or die $!;
    my @pids = map { /^(\d+)\./ ? $1 : () } grep { /\.bc$/ } readdir $dh;
    closedir $dh;
    return 0 unless @pids;
    my %client = map { $_->[0] => 1 } @{ db()->selectall_arrayref(q{SELECT pid FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}) };
    my @mod = grep { $client{$_} } @pids;
    diag "bitcode of client backends: @mod" if @mod;
    return scalar @mod;
}
unlink glob "$pgdata/*.bc";
for my $s ('jit = on', 'jit_above_cost = 0', 'jit_optimize_above_cost = 0', 'jit_inline_above_cost = 0',
           'jit_dump_bitcode = on', "log_statement = 'all'") {
    db()->do(qq{ALTER DATABASE "$dbname" SET $s});
}
# control: a new session of this database does JIT-compile (and dump)
{
    my $probe = DBI->connect("dbi:Pg:dbname=$dbname;host=$ENV{EA_PGHOST};port=$ENV{EA_PGPORT}", $ENV{EA_PGUSER}, '',
                             { RaiseError => 1, PrintError => 0 });
    $probe->selectrow_array(q{SELECT count(*) FROM core_hydrosite WHERE name ILIKE '%x%' OR properties::text ILIKE '%y%'});
    ok bitcode_files() > 0, 'control: a plain session of this database JIT-compiles (bitcode dumped)';
    $probe->disconnect;
    unlink glob "$pgdata/*.bc";
}
db()->do(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()
           AND backend_type = 'client backend' AND datname = current_database() AND query NOT LIKE 'LISTEN%'});
sleep 0.5;
my $t0 = time;
($res, $d) = get_json('/api/hydro-sites/?search=' . join('+', @terms));
my $elapsed = time - $t0;
is $res->code, 200, 'the worst allowed search right after its connection died: 200 (one retry on a fresh connection)';
is ref $d eq 'HASH' ? $d->{count} : -1, 5000, '... every bulk site matches all 10 terms';
ok $elapsed < 5, sprintf('... in %.2f s on 5,000 sites, well within EcoAtlasQueryTimeout (30 s)', $elapsed);
is bitcode_files(), 0, 'the module\'s statements were not JIT-compiled (SET jit = off on its connections)';
# a few more, over every pooled connection
for (1 .. 6) {
    get_json('/api/hydro-sites/?search=' . join('+', reverse @terms) . "&page=$_");
    get_json('/api/hydro-sites/summary/?search=' . join('+', @terms));
}
is bitcode_files(), 0, '... nor on any other pooled connection (lists and actions)';

# A search of more than three terms (or with a filter besides) is not kept
# prepared: its text grows with its terms, so it runs unnamed (PostgreSQL
# logs "execute <unnamed>").  One of up to three terms alone is prepared
# and runs on its generic plan (docs/operations.md, "Search"); a statement
# of fixed shape is prepared once as ever ("execute ea_N").
# A country's row written (the names' version raised, migration 0008): the
# first of these searches in each child reads the names again, with
# statements of their own that must not take the search's settings.
db()->do(q{UPDATE core_country SET name = name WHERE id = (SELECT min(id) FROM core_country)});
my $log_at = -s "$pgdata/server.log";
get_json('/api/hydro-sites/?search=' . join('+', @terms[0 .. $_ - 1]) . '&page_size=1') for 1 .. 10;
get_json('/api/hydro-sites/?search=' . $terms[0] . '&status=identified&page_size=1');
get_json('/api/hydro-sites/?status=identified&page_size=1') for 1 .. 2;
open my $lf, '<', "$pgdata/server.log" or die $!;
seek $lf, $log_at, 0;
my @lines = <$lf>;
close $lf;
my $search_sql = qr/LIKE UPPER\(\$|strpos\(/;   # a search term's condition
sub terms_of { my ($l) = @_; my %n; $n{$1} = 1 while $l =~ /UPPER\(\$(\d+)\)/g; scalar keys %n }
my @named = grep { /LOG:  execute ea_\d+: .*$search_sql/ } @lines;
my @unnamed = grep { /LOG:  execute <unnamed>: .*$search_sql/ } @lines;
my $fixed = grep { /LOG:  execute ea_\d+: SELECT .*status = / } @lines;
is scalar(grep { terms_of($_) > 3 || /status = / } @named), 0,
   'no search of more than three terms, nor one with a filter, was kept prepared';
is scalar(@named), 3, 'the searches of one, two and three terms alone ran by name (prepared)';
is scalar(@unnamed), 8, 'the searches of four to ten terms, and the one with a filter, ran unnamed';
ok $fixed >= 1, "a fixed-shape list statement is still prepared ($fixed by name)";
# Each search raises work_mem for its statement (where the session's is
# lower: docs/operations.md, "Search") and puts the session's back after it;
# a prepared one asks for its generic plan, and the session's mode is back
# after it.
my $raised = grep { /LOG:  statement: SET statement_timeout = \d+; SET work_mem = '32MB'(; SET plan_cache_mode = force_generic_plan)?$/ } @lines;
my $reset = grep { /LOG:  statement: SET statement_timeout = \d+; RESET work_mem(; RESET plan_cache_mode)?$/ } @lines;
ok $raised >= 11 && $raised == $reset, "each search statement ran with work_mem raised, then reset ($raised, $reset)";
my $generic = grep { /LOG:  statement: SET .*; SET plan_cache_mode = force_generic_plan$/ } @lines;
my $back = grep { /LOG:  statement: SET .*; RESET plan_cache_mode$/ } @lines;
is "$generic $back", "3 3", 'the three prepared searches ran on a generic plan, and the session\'s plan_cache_mode was back after each';
for my $s (qw(jit jit_above_cost jit_optimize_above_cost jit_inline_above_cost jit_dump_bitcode log_statement)) {
    db()->do(qq{ALTER DATABASE "$dbname" RESET $s});
}
unlink glob "$pgdata/*.bc";

# ---- EcoAtlasSearchTimeout: a search that needs longer is cut ------------------------------------
# /tight/api allows 0.01 s: the worst search (every term tested against
# every row) needs far more
{
    my $t0 = time;
    my ($r) = get_json('/tight/api/hydro-sites/?search=' . join('+', @terms));
    my $took = time - $t0;
    is $r->code . ' ' . $r->content,
        '400 {"search":["This search took longer than 0.01 s. Use longer or more specific terms."]}',
        'a search over EcoAtlasSearchTimeout: 400 saying so on the search parameter';
    ok $took < 5, sprintf('... at once (%.2f s), not after EcoAtlasQueryTimeout (30 s)', $took);
    is busy_backends(), 0, '... and PostgreSQL stopped it: no backend busy';
    ($r) = get_json('/tight/api/hydro-sites/summary/?search=' . join('+', @terms));
    is $r->code, 400, 'the actions under ?search= have the same bound (summary)';
    ($r, my $body) = get_json('/tight/api/hydro-sites/?status=identified&page_size=5');
    ok $r->code == 200 && ref $body eq 'HASH' && $body->{count} >= 5000,
        'a list without search on the same connections: 200 (the session bound is back)';
    ($r) = get_json('/api/hydro-sites/?search=' . join('+', @terms) . '&page_size=1');
    is $r->code, 200, 'the same search where the bound is 30 s: 200';
}

# ---- nothing left running --------------------------------------------------------------------------
is busy_backends(), 0, 'no PostgreSQL backend is busy after the worst searches';
