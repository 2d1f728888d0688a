# Writes (docs/decisions.md §2.2, §2.3, §2.6, §1 delete semantics, D6): create,
# update, partial update and delete of the six resources with exact bodies;
# DRF's validation messages; JSON, form and multipart bodies; 413/415/400
# for bodies; unique races; the response cache dropped by a write.
use strict;
use warnings FATAL => 'all';
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Encode ();
use IO::Socket::INET ();
use EaTest qw(db reset_db get_json staff_token user_token auth_header country region dataset site metric climate);

reset_db();
my $staff = staff_token();
my @A = auth_header($staff);

# "CODE BODY" of a request, timestamps replaced by T.
sub req {
    my ($method, $path, $body, %h) = @_;
    my $ct = exists $h{ct} ? delete $h{ct} : 'application/json';
    my $r = HTTP::Request->new($method => Apache::TestRequest::resolve_url($path));
    $r->header(@A) unless delete $h{anon};
    $r->header('Content-Type' => $ct) if defined $ct;
    $r->header($_ => $h{$_}) for keys %h;
    if (defined $body) {
        $body = Encode::encode('UTF-8', $body) if utf8::is_utf8($body);
        $r->content($body);
        $r->header('Content-Length' => length $body);
    }
    my $res = Apache::TestRequest::user_agent()->request($r);
    (my $c = $res->content) =~ s/"(created_at|updated_at)":"[^"]+Z"/"$1":T/g;
    return $res->code . ' ' . Encode::decode('UTF-8', $c);
}
sub post { req('POST', @_) }

# ---- create: exact bodies for all six resources ---------------------------------
is post('/api/countries/', '{"name":" Benin ","iso2":"BJ","iso3":"BEN","population":"12345678","boundary":{"type":"Point","coordinates":[2.5,9.0]}}'),
   '201 {"id":1,"name":"Benin","iso2":"BJ","iso3":"BEN","population":12345678,"boundary":{"type":"Point","coordinates":[2.5,9.0]},"region_count":0,"site_count":0,"created_at":T,"updated_at":T}',
   'country created (whitespace trimmed, numeric string)';
is post('/api/regions/', '{"country":1,"name":"Atlantique"}'),
   '201 {"id":1,"country":1,"country_name":"Benin","name":"Atlantique","level":"","boundary":null,"created_at":T,"updated_at":T}',
   'region created with defaults';
is post('/api/datasets/', '{"name":"Test Dataset","dataset_type":"phes"}'),
   '201 {"id":1,"created_at":T,"updated_at":T,"name":"Test Dataset","dataset_type":"phes","source":"","description":"","file_name":"","file_checksum":"","metadata":{}}',
   'dataset created';
is post('/api/hydro-sites/', '{"name":"Site Staff","country":1,"head_m":40}'),
   '201 {"id":1,"name":"Site Staff","country":1,"country_name":"Benin","region":null,"region_name":null,"dataset":null,"latitude":null,"longitude":null,"elevation_m":null,"head_m":"40.00","storage_capacity_mwh":null,"turbine_capacity_mw":null,"status":"identified","notes":"","properties":{},"created_at":T,"updated_at":T}',
   'hydro site created (contract test 16)';
is post('/api/resource-metrics/', '{"dataset":1,"country":1,"resource_type":"solar","metric":"potential","value":123.4,"year":2023}'),
   '201 {"id":1,"dataset":1,"country":1,"country_name":"Benin","region":null,"region_name":null,"resource_type":"solar","metric":"potential","value":"123.4000","unit":"","year":2023,"created_at":T,"updated_at":T}',
   'metric created (unit defaults to "")';
is post('/api/climate-series/', '{"dataset":1,"country":1,"variable":"rainfall","unit":"mm","series":[{"timestamp":"2024-01-01","value":12.5}]}'),
   '201 {"id":1,"created_at":T,"updated_at":T,"variable":"rainfall","unit":"mm","statistics":{},"series":[{"value":12.5,"timestamp":"2024-01-01"}],"dataset":1,"country":1,"region":null,"site":null}',
   'climate series created (keys in jsonb order, as GET shows them)';
my ($res) = get_json('/api/countries/1/');
is $res->code, 200, 'created object readable';

# ---- permissions come first ---------------------------------------------------------
is post('/api/countries/', '{}', anon => 1), '401 {"detail":"Authentication credentials were not provided."}', 'anonymous 401';
my $user = user_token('plain', staff => 0);
is req('POST', '/api/countries/', '{}', anon => 1, Authorization => "Token $user"),
   '403 {"detail":"You do not have permission to perform this action."}', 'non-staff 403';

# ---- validation messages ------------------------------------------------------------
is post('/api/countries/', '{}'),
   '400 {"name":["This field is required."],"iso2":["This field is required."],"iso3":["This field is required."]}', 'required';
is post('/api/countries/', '{"name":"Benin","iso2":"BJX","iso3":null,"population":-1}'),
   '400 {"name":["country with this name already exists."],"iso2":["Ensure this field has no more than 2 characters."],"iso3":["This field may not be null."],"population":["Ensure this value is greater than or equal to 0."]}',
   'unique, length, null, min in field order';
is post('/api/countries/', '{"name":"  ","iso2":"BJ","iso3":"ÉÉÉ","population":9223372036854775808}'),
   '400 {"name":["This field may not be blank."],"iso2":["country with this iso2 already exists."],"population":["Ensure this value is less than or equal to 9223372036854775807."]}',
   'blank, unique iso2, three UTF-8 characters fit iso3, bigint max';
is post('/api/countries/', '{"name":true,"iso2":"a\u0000","iso3":"X","population":"1.5"}'),
   '400 {"name":["Not a valid string."],"iso2":["Null characters are not allowed."],"population":["A valid integer is required."]}', 'types';
is post('/api/countries/', '{"name":"X","iso2":"XX","iso3":"XXX","population":3.0,"boundary":null}') =~ /^201 .*"population":3,/ ? 'ok' : 'no',
   'ok', 'integral float accepted as integer';
is post('/api/datasets/', '{"name":"Test Dataset","dataset_type":"x","metadata":null}'),
   '400 {"name":["energy dataset with this name already exists."],"dataset_type":["\"x\" is not a valid choice."],"metadata":["This field may not be null."]}', 'dataset messages';
is post('/api/regions/', '{"country":1,"name":"Atlantique"}'),
   '400 {"non_field_errors":["The fields country, name must make a unique set."]}', 'region unique together';
is post('/api/regions/', '{"country":"abc","name":"R"}'),
   '400 {"country":["Incorrect type. Expected pk value, received str."]}', 'fk type';
is post('/api/regions/', '{"country":"99","name":"R"}'),
   '400 {"country":["Invalid pk \"99\" - object does not exist."]}', 'fk missing';
is post('/api/regions/', '{"country":[1],"name":"R"}'),
   '400 {"country":["Incorrect type. Expected pk value, received list."]}', 'fk list';
is post('/api/hydro-sites/', '{"name":"Site Staff","country":1}'),
   '400 {"non_field_errors":["The fields country, name must make a unique set."]}', 'site unique together';
is post('/api/hydro-sites/', '{"name":"S","country":1,"latitude":"1.1234567","longitude":"1000","elevation_m":"123456.7","head_m":-1,"storage_capacity_mwh":"abc","turbine_capacity_mw":"NaN","status":"x"}'),
   '400 {"latitude":["Ensure that there are no more than 6 decimal places."],"longitude":["Ensure that there are no more than 3 digits before the decimal point."],"elevation_m":["Ensure that there are no more than 5 digits before the decimal point."],"head_m":["Ensure this value is greater than or equal to 0."],"storage_capacity_mwh":["A valid number is required."],"turbine_capacity_mw":["A valid number is required."],"status":["\"x\" is not a valid choice."]}',
   'decimal messages';
is post('/api/hydro-sites/', '{"name":"S","country":1,"head_m":"1234567"}'),
   '400 {"head_m":["Ensure that there are no more than 6 digits in total."]}', 'max digits';
is post('/api/hydro-sites/', '{"name":"S","country":1,"latitude":"90.000001","longitude":200}'),
   '400 {"latitude":["La latitude doit être comprise entre -90 et 90."]}', 'validate(): latitude first';
is post('/api/hydro-sites/', '{"name":"S","country":1,"longitude":-180.5}'),
   '400 {"longitude":["La longitude doit être comprise entre -180 et 180."]}', 'validate(): longitude';
is post('/api/resource-metrics/', '{"dataset":1,"country":1,"resource_type":"solar","metric":"potential","value":"1e3","unit":"","year":1899}'),
   '400 {"unit":["This field may not be blank."],"year":["L’année doit être comprise entre 1900 et 2100."]}', 'explicit blank unit, validate_year';
is post('/api/resource-metrics/', '{"dataset":1,"country":1,"resource_type":"solar","metric":"potential","value":10,"year":2023}'),
   '400 {"non_field_errors":["The fields dataset, country, resource_type, metric, year must make a unique set."]}', 'metric unique together';
like post('/api/resource-metrics/', '{"dataset":1,"country":1,"resource_type":"solar","metric":"potential","value":"-0","year":0}'),
   qr/^201 .*"value":"0.0000","unit":"","year":0,/, 'negative zero and year 0 pass';
like post('/api/resource-metrics/', '{"dataset":1,"country":1,"resource_type":"solar","metric":"potential","value":1}'),
   qr/^201 .*"year":null/, 'year null: no unique check';
like post('/api/resource-metrics/', '{"dataset":1,"country":1,"resource_type":"solar","metric":"potential","value":1}'),
   qr/^201 /, 'year null twice';
is post('/api/climate-series/', '{"dataset":1,"country":1,"variable":"rainfall","unit":"mm"}') =~ /^201 / ? 'ok' : 'no', 'ok',
   'climate: region/site null, no unique check';
is post('/api/climate-series/', '{"dataset":1,"country":1,"variable":"rainfall","unit":"mm","site":1,"region":1,"statistics":[1,2]}') =~ /^201 / ? 'ok' : 'no', 'ok', 'climate with site and region';
is post('/api/climate-series/', '{"dataset":1,"country":1,"variable":"rainfall","unit":"mm","site":1,"region":1}'),
   '400 {"non_field_errors":["The fields dataset, country, region, site, variable must make a unique set."]}', 'climate unique together';
is post('/api/countries/', '[1]'), '400 {"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}', 'list body';
is post('/api/countries/', 'null'), '400 {"non_field_errors":["No data provided"]}', 'null body';
is post('/api/countries/', '{"name":"' . ('é' x 129) . '","iso2":"ZZ","iso3":"ZZZ"}'),
   '400 {"name":["Ensure this field has no more than 128 characters."]}', 'characters, not bytes';

# ---- body formats --------------------------------------------------------------------
like post('/api/countries/', 'name=Togo&iso2=TG&iso3=TGO&population=&boundary=%7B%22a%22%3A1%7D', ct => 'application/x-www-form-urlencoded'),
   qr/^201 \{"id":\d+,"name":"Togo","iso2":"TG","iso3":"TGO","population":null,"boundary":\{"a":1\},/, 'form body';
is post('/api/countries/', 'name=N&iso2=NE&iso3=NER&boundary=nope', ct => 'application/x-www-form-urlencoded'),
   '400 {"boundary":["Value must be valid JSON."]}', 'form JSON field';
my $mp = "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nGhana\r\n--XX\r\nContent-Disposition: form-data; name=\"iso2\"\r\n\r\nGH\r\n--XX\r\nContent-Disposition: form-data; name=\"iso3\"\r\n\r\nGHA\r\n--XX--\r\n";
like post('/api/countries/', $mp, ct => 'multipart/form-data; boundary=XX'), qr/^201 \{"id":\d+,"name":"Ghana","iso2":"GH"/, 'multipart body';
is post('/api/countries/', 'x', ct => 'text/plain'), '415 {"detail":"Unsupported media type \"text/plain\" in request."}', 'unsupported media type';
is post('/api/countries/', '{"name":', ct => 'application/json'),
   '400 {"detail":"JSON parse error - Expecting value: line 1 column 9 (char 8)"}', 'malformed JSON';
is post('/api/countries/', "{\"name\":\"\xff\"}"),
   q{400 {"detail":"JSON parse error - 'utf-8' codec can't decode byte 0xff in position 9: invalid start byte"}}, 'invalid UTF-8';
is post('/api/countries/', ('[' x 600) . (']' x 600)),
   '400 {"detail":"JSON parse error - Maximum nesting depth of 512 exceeded: line 1 column 513 (char 512)"}', 'deep nesting';
is post('/smallbody/api/countries/', '{"name":"' . ('x' x 100) . '"}'),
   '413 {"detail":"Request body too large: the limit is 64 bytes."}', '413 by Content-Length';

# raw sockets: chunked over the cap, a truncated body
my $hp = Apache::TestRequest::hostport();
sub raw_http {
    my ($text) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $hp, Timeout => 20) or die "connect: $!";
    print $s $text;
    shutdown($s, 1);
    local $/;
    my $got = <$s> // '';
    return $got;
}
my $chunk = '{"name":"' . ('y' x 50) . '"';
my $chunked = raw_http("POST /smallbody/api/countries/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Token $staff\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    . sprintf("%x\r\n%s\r\n", length $chunk, $chunk) . sprintf("%x\r\n%s\r\n", length $chunk, $chunk) . "0\r\n\r\n");
like $chunked, qr{^HTTP/1\.1 413 .*\{"detail":"Request body too large: the limit is 64 bytes\."\}$}s, 'chunked 413';
my $trunc = raw_http("POST /api/countries/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Token $staff\r\n"
    . "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":");
like $trunc, qr{^HTTP/1\.1 400 .*\{"detail":"The request body is incomplete or malformed\."\}$}s, 'truncated body 400';

# ---- update / partial update ---------------------------------------------------------
is req('PATCH', '/api/hydro-sites/1/', '{"latitude":"6.5","notes":"n"}'),
   '200 {"id":1,"name":"Site Staff","country":1,"country_name":"Benin","region":null,"region_name":null,"dataset":null,"latitude":"6.500000","longitude":null,"elevation_m":null,"head_m":"40.00","storage_capacity_mwh":null,"turbine_capacity_mw":null,"status":"identified","notes":"n","properties":{},"created_at":T,"updated_at":T}',
   'PATCH';
is req('PUT', '/api/hydro-sites/1/', '{"name":"Site Staff"}'), '400 {"country":["This field is required."]}', 'PUT needs required fields';
like req('PUT', '/api/hydro-sites/1/', '{"name":"Site P","country":1,"region":1,"status":"study"}'),
   qr/^200 \{"id":1,"name":"Site P",.*"region":1,"region_name":"Atlantique",.*"latitude":"6.500000",.*"status":"study","notes":"n",/, 'PUT keeps absent optional fields';
is req('PATCH', '/api/hydro-sites/1/', '{"longitude":"181"}'),
   '400 {"longitude":["La longitude doit être comprise entre -180 et 180."]}', 'PATCH validate() with the instance values';
is req('PATCH', '/api/countries/1/', '{"name":"Benin"}') =~ /^200 / ? 'ok' : 'no', 'ok', 'own unique value allowed';
is req('PATCH', '/api/countries/1/?iso3=XXX', '{"name":"B"}'), '404 {"detail":"No Country matches the given query."}', 'filters apply';
is req('PATCH', '/api/countries/abc/', '{}'), '404 {"detail":"Not found."}', 'non-integer pk';
is req('PATCH', '/api/countries/999/', '{}'), '404 {"detail":"No Country matches the given query."}', 'missing pk';
is req('POST', '/api/countries/1/', '{}'), '405 {"detail":"Method \"POST\" not allowed."}', 'POST on detail';
is req('DELETE', '/api/countries/', undef), '405 {"detail":"Method \"DELETE\" not allowed."}', 'DELETE on list';
like req('PATCH', '/api/resource-metrics/1/', '{"value":"5"}'), qr/^200 .*"value":"5.0000",.*"year":2023,/, 'metric PATCH keeps year';
like req('PUT', '/api/climate-series/2/', '{"dataset":1,"country":1,"variable":"rainfall","unit":"mm"}'),
   qr/^200 .*"region":null,"site":null\}$/, 'PUT resets region/site (DRF default None)';

# ---- cache invalidated by a write -----------------------------------------------------
my ($r1, $d1) = get_json('/cached/api/datasets/');
is $d1->{count}, 1, 'cached list before';
post('/cached/api/datasets/', '{"name":"Second","dataset_type":"climate"}');
my ($r2, $d2) = get_json('/cached/api/datasets/');
is $d2->{count}, 2, 'cached list after a write';

# ---- concurrent creates of one unique key ------------------------------------------------
my @pids;
pipe(my $rd, my $wr) or die;
for my $i (1 .. 6) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        my $out = post('/api/countries/', '{"name":"Race","iso2":"RC","iso3":"RCE"}');
        print $wr (split / /, $out)[0], ' ', ($out =~ /already exists/ ? 'msg' : 'nomsg'), "\n";
        exit 0;
    }
    push @pids, $pid;
}
close $wr;
my @got = <$rd>;
waitpid $_, 0 for @pids;
chomp @got;
is scalar(grep { /^201 / } @got), 1, 'one 201 among concurrent creates';
is scalar(grep { $_ eq '400 msg' } @got), 5, 'the others 400 with the unique message';

# ---- delete semantics ---------------------------------------------------------------------
is req('DELETE', '/api/countries/1/', undef),
   '409 {"detail":"Cannot delete this country: 1 hydro site still belongs to it. Delete the sites or move them to another country first."}', 'D6: 409';
is req('DELETE', '/api/regions/1/', undef), '204 ', 'region deleted';
is db()->selectrow_array('SELECT count(*) FROM core_hydrosite WHERE id = 1 AND region_id IS NULL'), 1, 'site region SET NULL';
is req('DELETE', '/api/hydro-sites/1/', undef), '204 ', 'site deleted';
is db()->selectrow_array('SELECT count(*) FROM core_climateseries WHERE site_id IS NOT NULL'), 0, 'climate site SET NULL';
is req('DELETE', '/api/countries/1/', undef), '204 ', 'country deleted';
is db()->selectrow_array('SELECT count(*) FROM core_resourcemetric WHERE country_id = 1'), 0, 'metrics CASCADE';
is db()->selectrow_array('SELECT count(*) FROM core_climateseries WHERE country_id = 1'), 0, 'climate CASCADE';
is req('DELETE', '/api/countries/1/', undef), '404 {"detail":"No Country matches the given query."}', 'gone';
my $c2 = country(name => 'Niger');
my $d = dataset(name => 'D2');
my $s2 = site(name => 'S2', country_id => $c2, dataset_id => $d);
metric(country_id => $c2, dataset_id => $d);
is req('DELETE', "/api/datasets/$d/", undef), '204 ', 'dataset deleted';
is db()->selectrow_array("SELECT count(*) FROM core_hydrosite WHERE id = $s2 AND dataset_id IS NULL"), 1, 'site dataset SET NULL';
is db()->selectrow_array("SELECT count(*) FROM core_resourcemetric WHERE dataset_id = $d"), 0, 'dataset metrics CASCADE';

done_testing();
