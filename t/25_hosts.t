# EcoAtlasAllowedHosts (Django's ALLOWED_HOSTS): listed names, .domain
# patterns, *, and by default the virtual host's ServerName/ServerAlias;
# other Host values get 400 with a JSON body, logged once per host.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use EaTest qw(reset_db seed_fixture decode_json_body);

plan tests => 23;

reset_db();
seed_fixture();

sub host_code {
    my ($module, $path, $host) = @_;
    Apache::TestRequest::module($module);
    my $res = Apache::TestRequest::GET($path, Host => $host);
    Apache::TestRequest::module('default');
    return $res;
}

# the list on /api: exact names, a domain and its subdomains, case, port, trailing dot
for my $h ('localhost', 'LOCALHOST:8000', '127.0.0.1:1', 'example.org', 'api.example.org',
           'a.b.example.org.', 'one.example') {
    is host_code('default', '/api/stats/', $h)->code, 200, "listed: $h → 200";
}
for my $h ('evil.com', 'example.org.evil.com', 'notexample.org', 'one.example.com', 'localhost:bad') {
    is host_code('default', '/api/stats/', $h)->code, 400, "not listed: $h → 400";
}
{
    my $res = host_code('default', '/api/stats/', 'evil.com');
    is $res->header('Content-Type'), 'application/json', 'refused: JSON';
    is_deeply decode_json_body($res),
        { detail => "Invalid HTTP_HOST header: 'evil.com'. You may need to add 'evil.com' to EcoAtlasAllowedHosts." },
        'refused: the message names the host and the directive';
    is $res->header('X-Content-Type-Options'), 'nosniff', 'refused: security headers too';
}

# the default: ServerName and ServerAlias of the virtual host
is host_code('hosts', '/hapi/stats/', 'hosts.test')->code, 200, 'default: ServerName';
is host_code('hosts', '/hapi/stats/', 'alias.test:8080')->code, 200, 'default: ServerAlias';
is host_code('hosts', '/hapi/stats/', 'x.wild.test')->code, 200, 'default: *.wild.test alias as a domain';
is host_code('hosts', '/hapi/stats/', 'localhost')->code, 400, 'default: another name → 400';
is host_code('hosts', '/hapi/stats/', 'hosts.test.evil')->code, 400, 'default: no suffix games';
is host_code('hosts', '/hapi-any/stats/', 'anything.example.net')->code, 200, '*: any valid host';
is host_code('hosts', '/hapi-any/stats/', 'bad host!')->code, 400, '*: but not an invalid Host';

# logged once per host, not once per request
{
    host_code('default', '/api/stats/', 'flood.invalid') for 1 .. 20;
    my $log = Apache::Test::vars('t_logs') . '/error_log';
    open my $fh, '<', $log or die "$log: $!";
    my $n = grep { /refused Host header 'flood\.invalid'/ } <$fh>;
    ok $n >= 1 && $n <= 4, "20 requests for one refused host: logged $n time(s) (once per child at most)";
}
