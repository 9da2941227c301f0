# Named keys on routes: [provider] and [route NAME] both take key:NAME,
# every route is checked against the key's environment and routes, `check`
# names each route's key, and a service token may use a route only when
# the route's key lists it in `services`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use CG;

my $t = CG->new;
my $d = $t->dir;
my $svc = 'cgt_' . CG::rand_hex(48);
my $other = 'cgt_' . CG::rand_hex(48);
my $narrow = 'cgt_' . CG::rand_hex(48);
$t->start_memcached;
$t->start_mock;
my $m = $t->mock_url;
my $dev_key = $t->write_file('dev.key', 'dev-' . CG::rand_hex(40) . "\n",
                             0600);
my %o = (
    'limits.requests_per_minute' => 0,
    'provider.api_key'           => 'key:prod',
    'key prod.source'            => "file:$d/provider.key",
    'key prod.environment'       => 'production',
    'key prod.routes'            => 'default, fast',
    'key prod.services'          => 'svc',
    'key open.source'            => "file:$d/provider.key",
    'key open.environment'       => 'production',
    'key dev.source'             => "file:$dev_key",
    'key dev.environment'        => 'development',
    'route fast.model'           => 'claude-fast',
    'route fast.base_url'        => $m,
    'route fast.api_key'         => 'key:prod',
    'route open.model'           => 'claude-open',
    'route open.base_url'        => $m,
    'route open.api_key'         => 'key:open',
    'route broken.model'         => 'claude-broken',
    'route broken.base_url'      => 'http://127.0.0.1:1',
    'route broken.api_key'       => 'key:open',
    'route broken.retries'       => 0,
    'route broken.fallback'      => 'fast',
    'route broken2.model'        => 'claude-broken',
    'route broken2.base_url'     => 'http://127.0.0.1:1',
    'route broken2.api_key'      => 'key:open',
    'route broken2.retries'      => 0,
    'route broken2.fallback'     => 'open',
    'token narrow.sha256'        => sha256_hex($narrow),
    'token narrow.routes'        => 'broken2',
    'token svc.sha256'           => sha256_hex($svc),
    'token svc.routes'           => '*',
    'token other.sha256'         => sha256_hex($other),
    'token other.routes'         => '*',
);
$t->start_chatgate(%o);
$t->start_nginx;

my ($rc, $out) = $t->run_chatgate('check', '-c', $t->{conf});
is($rc, 0, 'check passes') or diag $out;
like($out, qr/^route default: \S+ \S+, key prod [0-9a-f]{12} \(default\)$/m,
     'check names the key of [provider]');
like($out, qr/^route fast: \S+ claude-fast, key prod [0-9a-f]{12}$/m,
     'and of each route');
like($out, qr/^route open: \S+ claude-open, key open [0-9a-f]{12}$/m,
     'each with its own key');
like($out, qr/key dev \(development\): not read/,
     'the other environment\'s key is not read');

sub ask {
    my ($route, $tok) = @_;
    my %h = $tok ? (token => undef,
                    headers => { Authorization => "Bearer $tok" }) : ();
    return $t->chat(body => { message => 'hi', route => $route }, %h)
        ->{status};
}
is(ask('fast'), 200, 'a browser session uses a key:NAME route');
is(ask('default', $svc), 200, 'a service the key lists may use its routes');
is(ask('fast', $svc), 200, 'every route of that key');
is(ask('default', $other), 403, 'a service the key does not list may not');
is(ask('fast', $other), 403, 'on any route of that key');
is(ask('open', $other), 200, 'but may use a route whose key allows all');
is($t->mock_requests->[-1]{key}, $t->key,
   'the route\'s key reached the provider');

# Fallbacks are held to the same scope: a token never reaches a route
# through a fallback that it could not name itself.
is(ask('broken', $svc), 200, 'a fallback the token may use serves it');
is(ask('broken', $other), 502, 'a fallback whose key does not list the service is skipped');
is(ask('broken2', $svc), 200, 'a fallback within the token\'s routes serves it');
is(ask('broken2', $narrow), 502, 'a fallback outside the token\'s routes is skipped');
is(ask('broken2'), 200, 'a browser session (public routes) may use fallbacks');

# Refused at start: a route with another environment's key, or a route the
# key does not list.
my $base = CG::slurp($t->{conf});
(my $ini = $base) =~ s/(\[route fast\][^\[]*?)api_key = key:prod/$1api_key = key:dev/s
    or die 'no [route fast] api_key';
my $path = $t->write_file('bad.ini', $ini, 0640);
($rc, $out) = $t->run_chatgate('check', '-c', $path);
isnt($rc, 0, 'a route with a development key is refused in production');
like($out, qr/\[route fast\] api_key: route fast uses key dev, a development key/,
     'naming the route and the key');
($ini = $base) =~ s/(\[route open\][^\[]*?)api_key = key:open/$1api_key = key:prod/s
    or die 'no [route open] api_key';
$path = $t->write_file('bad.ini', $ini, 0640);
($rc, $out) = $t->run_chatgate('check', '-c', $path);
isnt($rc, 0, 'a route the key does not list is refused');
like($out, qr/route open uses key prod, whose routes \(default, fast\) do not include it/,
     'and the message names the key\'s routes');
unlike(join('', $out, CG::slurp("$d/error.log")), qr/\Q${\ $t->key }\E/,
       'no key in any output');

done_testing;
