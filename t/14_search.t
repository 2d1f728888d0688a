# SearchFilter (docs/decisions.md §2.5): ?search= terms split on whitespace and
# commas, quoted phrases kept together, every term must match (AND) one of the
# search fields (OR), case-insensitive substring; properties (JSON) matched as
# JSON text; LIKE metacharacters (% _ \) match literally.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(db reset_db get_json country region dataset site metric climate col);

plan tests => 62;
binmode $_, ':encoding(UTF-8)' for map { Test::More->builder->$_ } qw(output failure_output todo_output);

# names (or field $key) of a list in order, joined by '|', or "HTTP <code> <body>"
sub names { my ($path, $key) = @_; return col($path, $key // 'name', '|') }
sub q_ { my $s = shift; utf8::encode($s); $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge; $s }

reset_db();
country(name => $_) for ('Benin', 'Burkina Faso', 'Côte d’Ivoire', 'South Africa', 'Guinea-Bissau',
    '50% Solar', '500 Solar', 'Under_score', 'UnderXscore', 'Back\\slash', 'Backslash', 'Africa, South');
my @all = sort('Benin', 'Burkina Faso', 'Côte d’Ivoire', 'South Africa', 'Guinea-Bissau',
    '50% Solar', '500 Solar', 'Under_score', 'UnderXscore', 'Back\\slash', 'Backslash', 'Africa, South');
# (sort() is by code point; the database orders by UTF-8 bytes under the C
# collation of the test cluster: the same order)

my $C = '/api/countries/?page_size=100&search=';

# ---- countries: search on name -------------------------------------------------
is names($C . 'benin'), 'Benin', 'lower-case term';
is names($C . 'BENIN'), 'Benin', 'upper-case term (case-insensitive)';
is names($C . 'eNi'), 'Benin', 'substring, mixed case';
is names($C . 'south%20africa'), 'Africa, South|South Africa', 'two terms: AND, any order in the name';
is names($C . 'south+africa'), 'Africa, South|South Africa', '+ is a space';
is names($C . 'burkina,faso'), 'Burkina Faso', 'comma separates terms';
is names($C . 'burkina,%20,faso,'), 'Burkina Faso', 'empty terms between commas ignored';
is names($C . 'burkina%20benin'), '', 'AND: no name has both terms';
is names($C . '%22south%20africa%22'), 'South Africa', 'double-quoted phrase kept together';
is names($C . '%22africa%20south%22'), '', 'quoted phrase: words in that order only';
is names($C . '%27south%20africa%27'), 'South Africa', 'single-quoted phrase';
is names($C . '%22africa,%20south%22'), 'Africa, South', 'quoted phrase containing a comma';
is names($C . '%22south%20africa%22%20benin'), '', 'phrase AND another term';
is names($C), join('|', @all), 'empty search → no filter';
is names($C . '%20%20%20'), join('|', @all), 'blank search → no filter';
is names($C . 'ôte'), 'Côte d’Ivoire', 'non-ASCII term';
is names($C . q_('d’iv')), 'Côte d’Ivoire', 'non-ASCII punctuation in a term';
is names($C . '%25'), '50% Solar', '% matches a literal percent sign';
is names($C . '0%25'), '50% Solar', '0% is not a wildcard (500 Solar does not match)';
is names($C . '_'), 'Under_score', '_ matches a literal underscore';
is names($C . 'r_s'), 'Under_score', 'r_s is not a wildcard (UnderXscore does not match)';
is names($C . q_('k\\s')), 'Back\\slash', 'backslash matches literally';
is names($C . 'zzz'), '', 'no match → empty list';
is names($C . '%zz'), '', 'invalid percent escape kept literally (no error)';
is names($C . '%FF%FE'), '', 'invalid UTF-8 in the term: replaced, no error';
# Django's smart_split and DRF's search_smart_split: a quote that does not
# open and close a whole term is a literal character
is names($C . '%22south'), '', 'unclosed quote: "south is a literal term';
is names($C . '%22south%20africa'), '', 'unclosed quote: "south AND africa';
is names($C . 's%22outh%20africa%22'), '', 'quote inside a term: literal';
is names($C . ',%22south%20africa%22,'), 'South Africa', 'commas around a quoted phrase are trimmed';
is names($C . '%22%20south%22'), 'Africa, South', 'a quoted phrase keeps its leading blank';
is names($C . 'a%20A%20a'), join('|', grep { /a/i } @all), 'repeated term';

# ---- datasets: name OR source ------------------------------------------------
reset_db();
my $alpha = dataset(name => 'Alpha', source => 'World Bank');
my $beta  = dataset(name => 'Beta', source => 'Alpha Survey');
my $gamma = dataset(name => 'Gamma', source => 'IRENA', description => 'world alpha');
is names('/api/datasets/?search=alpha'), 'Alpha|Beta', 'term matches name or source';
is names('/api/datasets/?search=world'), 'Alpha', 'source only (description is not searched)';
is names('/api/datasets/?search=alpha%20world'), 'Alpha', 'AND across fields: alpha (name) and world (source)';
is names('/api/datasets/?search=beta%20survey'), 'Beta', 'AND: name and source of the same dataset';
is names('/api/datasets/?search=irena'), 'Gamma', 'source, case-insensitive';
is names('/api/datasets/?search=alpha&dataset_type=climate'), '', 'search AND filter';

# ---- regions: name; resource metrics: metric; climate series: variable -----------
my $ben = country(name => 'Benin');
region(country_id => $ben, name => $_) for ('Atlantique', 'Littoral', 'Alibori');
is names('/api/regions/?search=li'), 'Alibori|Littoral', 'regions searched by name';
is names('/api/regions/?search=benin'), '', 'regions: country name is not searched';
metric(dataset_id => $alpha, country_id => $ben, metric => 'Potential output', year => 1, created_at => '2025-01-01 00:00:03+00');
metric(dataset_id => $alpha, country_id => $ben, metric => 'capacity', year => 2, created_at => '2025-01-01 00:00:02+00');
metric(dataset_id => $alpha, country_id => $ben, metric => 'potential', unit => 'output', year => 3, created_at => '2025-01-01 00:00:01+00');
is names('/api/resource-metrics/?search=POTENTIAL', 'metric'), 'Potential output|potential', 'metrics searched by metric';
is names('/api/resource-metrics/?search=output', 'metric'), 'Potential output', 'metrics: unit is not searched';
is names('/api/resource-metrics/?search=solar', 'metric'), '', 'metrics: resource_type is not searched';
climate(dataset_id => $alpha, country_id => $ben, variable => 'rainfall', unit => 'rain', created_at => '2025-01-01 00:00:02+00');
climate(dataset_id => $alpha, country_id => $ben, variable => 'Temperature', created_at => '2025-01-01 00:00:01+00');
is names('/api/climate-series/?search=RAIN', 'variable'), 'rainfall', 'climate series searched by variable';
is names('/api/climate-series/?search=temp', 'variable'), 'Temperature', 'climate series: case-insensitive';
is names('/api/climate-series/?search=mm', 'variable'), '', 'climate series: unit is not searched';

# ---- hydro sites: name OR notes OR properties (JSON text) ------------------------
site(name => 'Gorge', country_id => $ben, notes => 'Near the river',
    properties => '{"tags": ["pumped", "Upper"], "basin": "Niger", "code": "a%b_c"}');
site(name => 'Plateau', country_id => $ben, notes => 'dry', properties => '{"basin": "Volta", "depth": 12.5}');
site(name => 'River Bend', country_id => $ben, notes => '', properties => '{}');
site(name => 'Lac', country_id => $ben, notes => "100% sure_thing", properties => '{"note": "Ouémé"}');
my $S = '/api/hydro-sites/?search=';
is names($S . 'gorge'), 'Gorge', 'site name';
is names($S . 'river'), 'Gorge|River Bend', 'notes OR name';
is names($S . 'niger'), 'Gorge', 'properties value (JSON text)';
is names($S . 'UPPER'), 'Gorge', 'properties value inside an array, case-insensitive';
is names($S . 'basin'), 'Gorge|Plateau', 'properties keys are part of the JSON text';
is names($S . 'volta%20dry'), 'Plateau', 'AND across properties and notes';
is names($S . '12.5'), 'Plateau', 'properties number';
is names($S . 'ouém'), 'Lac', 'non-ASCII in properties';
is names($S . '%25'), 'Gorge|Lac', '% literal in notes and properties';
is names($S . '%25b_'), 'Gorge', '%b_ literal inside the JSON text';
is names($S . 'e_t'), 'Lac', '_ literal in notes';
is names($S . '%22pumped%22'), 'Gorge', 'quoted single word';
is names($S . 'near%20niger'), 'Gorge', 'notes AND properties of the same site';
is names($S . 'near%20volta'), '', 'terms matching different sites → none';
is names($S . 'river&status=study'), '', 'search AND filter';
is names($S . 'river&country__iso3=' . db()->selectrow_array('SELECT iso3 FROM core_country WHERE id = ?', undef, $ben)),
    'Gorge|River Bend', 'search AND matching filter';
{
    my ($res, $d) = get_json($S . 'zzz');
    is $res->code . ' ' . $res->content, '200 {"count":0,"next":null,"previous":null,"results":[]}',
        'search matching nothing → empty page';
}
