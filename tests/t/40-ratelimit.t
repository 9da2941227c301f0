# Per-user requests per minute, counted in memcached and shared by all
# workers; memcached down fails closed (503) unless configured to allow.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 3, 'server.workers' => 3);

my $tok = $t->mint('dave');
my @st = map { $t->chat(token => $tok) } 1 .. 3;
is_deeply([map { $_->{status} } @st], [200, 200, 200], 'three requests pass');
like($st[0]{headers}{ratelimit} // "", qr/"rpm";r=2;t=\d+/, 'RateLimit header counts down');
my $res = $t->chat(token => $tok);
my $sec_left = 60 - time % 60;
is($res->{status}, 429, 'the fourth is refused');
is($res->{json}{error}{type}, 'rate_limited', 'error type rate_limited');
my $ra = $res->{headers}{'retry-after'};
ok(defined $ra && $ra =~ /^\d+$/ && $ra >= 1 && $ra <= 60, 'Retry-After in seconds');
ok(abs($ra - $sec_left) <= 2, 'Retry-After points at the end of the window');
is($t->chat(token => $t->mint('erin'))->{status}, 200, 'another user is not limited');
is(scalar @{$t->mock_requests}, 4, 'the refused request never reached the provider');

# memcached goes away: money and rates cannot be counted, so deny.
$t->stop('memcached');
$res = $t->chat(token => $t->mint('frank'));
is($res->{status}, 503, 'memcached down: 503 by default');
is($res->{json}{error}{type}, 'service_unavailable', 'error type');
unlike($res->{content}, qr/memcached|127\.0\.0\.1/i, 'no internal detail to the client');
like($t->usage_lines->[-1]{reason}, qr/memcached/, 'the operator sees why');

my $u = CG->new;
$u->start_mock;
$u->start_chatgate('limits.on_store_error' => 'allow',
                   'memcached.servers' => '127.0.0.1:' . CG::free_port());
$u->start_nginx;
is($u->chat->{status}, 200, 'on_store_error = allow lets requests through');

done_testing;
