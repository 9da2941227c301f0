# The provider over TLS, as a real one is: nginx with a self-signed
# certificate and HTTP/2 in front of the mock provider. chatgate verifies
# the certificate against [provider] ca_file, speaks HTTP/2 where it is
# offered (curl's multi interface on the worker's event loop; the TLS
# handshake runs on a request's fiber stack), reuses its connections, and
# refuses a certificate it cannot verify with a 502 that names nothing of
# the provider.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
my $d = $t->dir;
$t->start_memcached;
$t->start_mock;
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
       '-keyout', "$d/tls.key", '-out', "$d/tls.crt", '-subj', '/CN=127.0.0.1',
       '-addext', 'subjectAltName=IP:127.0.0.1') == 0
    or die 'openssl req failed';
my $port = CG::free_port();
mkdir "$d/tls-tmp";
$t->write_file('tls-nginx.conf', join("\n",
    'daemon off;', ($> == 0 ? ('user root;') : ()), 'worker_processes 1;',
    "pid $d/tls-nginx.pid;", "error_log $d/tls-nginx-error.log warn;",
    'events { worker_connections 256; }',
    'http {',
    '    log_format proto \'$server_protocol $ssl_protocol $connection $status\';',
    "    access_log $d/tls-access.log proto;",
    "    client_body_temp_path $d/tls-tmp/body;",
    "    proxy_temp_path $d/tls-tmp/proxy;",
    '    server {',
    "        listen 127.0.0.1:$port ssl http2;",
    "        ssl_certificate $d/tls.crt;",
    "        ssl_certificate_key $d/tls.key;",
    '        location / {',
    "            proxy_pass http://127.0.0.1:$t->{mock_port};",
    '            proxy_http_version 1.1;',
    '            proxy_buffering off;',
    '        }',
    '    }',
    '}', ''), 0644);
$t->spawn('tls-nginx', undef, 'nginx', '-p', "$d/", '-c', "$d/tls-nginx.conf",
          '-e', "$d/tls-nginx-error.log");
CG::wait_port('the TLS proxy', $port);
$t->start_chatgate('provider.base_url' => "https://127.0.0.1:$port",
                   'provider.ca_file' => "$d/tls.crt",
                   'limits.requests_per_minute' => 0,
                   'limits.concurrent_requests' => 0,
                   'server.workers' => 1, 'server.threads' => 8);
$t->start_nginx;

my $res = $t->chat(message => 'over tls');
is($res->{status}, 200, 'a JSON answer over TLS');
is($res->{json}{text}, 'mock reply: over tls', 'the provider\'s answer');
$res = $t->chat(body => { message => 'stream over tls', stream => JSON::PP::true });
is($res->{status}, 200, 'a stream over TLS');
like($res->{content}, qr/"text":"mock ".*event: done/s,
   'with the answer in its events, to the end');

# Eight at once, then eight more: the handshakes run on the fibers'
# stacks, and the second round reuses the kept connections.
for my $round (1, 2) {
    my $c = CG::chat_parallel([$t], 8, message => "parallel $round");
    is($c->{0}, 8, "round $round: 8 parallel requests over TLS answered")
        or diag(explain($c), CG::slurp("$d/error.log"));
}
my @log = split /\n/, CG::slurp("$d/tls-access.log");
ok(@log >= 18, 'every call went through the TLS proxy');
ok(!grep({ !/^HTTP\/2\.0 TLSv1\.[23] / } @log),
   'all of them HTTP/2 over TLS 1.2 or 1.3');
my %conns = map { (split ' ')[2] => 1 } @log;
cmp_ok(scalar keys %conns, '<', scalar @log,
       'connections were reused (' . scalar(keys %conns) . ' for '
       . scalar(@log) . ' calls)');

# A certificate chatgate cannot verify: refused, and nothing of the
# provider or of TLS reaches the client.
$t->stop('chatgate');
$t->start_chatgate('provider.base_url' => "https://127.0.0.1:$port",
                   'limits.requests_per_minute' => 0,
                   'server.workers' => 1, 'server.threads' => 2);
$res = $t->chat(message => 'unverified');
is($res->{status}, 502, 'an unverifiable certificate: 502');
unlike($res->{content}, qr/certificate|SSL|TLS|127\.0\.0\.1/i,
       'the client learns nothing of why');
like(($t->usage_for($res) // {})->{reason} // '', qr/certificate|SSL/i,
     'the operator does (the usage line\'s reason)');

done_testing;
