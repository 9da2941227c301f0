# Limits and budgets beyond [limits] and [budget]: a route's own request
# and token rates (a second admission once the route is chosen, counted
# apart from the global ones), a service token's own token rate and money
# caps, and a stream cut off cleanly when it has used its whole budget
# reservation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use CG;
use CGStream;
use JSON::PP ();

my $t = CG->new;
my $d = $t->dir;
my $svc = 'cgt_' . CG::rand_hex(48);
my $cheap = 'cgt_' . CG::rand_hex(48);
my $streamer = 'cgt_' . CG::rand_hex(48);
$t->start_memcached;
$t->start_mock;
my $m = $t->mock_url;
my %route = map { my $n = $_; ("route $n.model" => 'claude-test-model',
                               "route $n.base_url" => $m,
                               "route $n.api_key" => "file:$d/provider.key") }
            qw(tight shared tpm);
$t->start_chatgate(
    %route,
    'limits.requests_per_minute'          => 0,
    'limits.auth_failures_per_minute'     => 0,
    'route tight.requests_per_minute'     => 2,
    'route shared.global_requests_per_minute' => 1,
    'route tpm.tokens_per_minute'         => 5,
    'price claude-test-model.input'       => '1',
    'price claude-test-model.output'      => '1',
    'provider.max_tokens'                 => 8,
    'token svc.sha256'                    => sha256_hex($svc),
    'token svc.routes'                    => '*',
    'token svc.tokens_per_minute'         => 20,
    'token cheap.sha256'                  => sha256_hex($cheap),
    'token cheap.routes'                  => '*',
    'token cheap.budget_daily'            => '0.00005',
    'token streamer.sha256'               => sha256_hex($streamer),
    'token streamer.routes'               => '*',
    'token streamer.budget_monthly'       => '1',
);
$t->start_nginx;
my $bob = $t->mint('bob');

sub ask {
    my (%o) = @_;
    my $body = { message => $o{message} // 'hi' };
    $body->{stream} = JSON::PP::true if $o{stream};
    $body->{route} = $o{route} if $o{route};
    my %h = $o{svc} ? (token => undef,
                       headers => { Authorization => "Bearer $o{svc}" })
          : $o{token} ? (token => $o{token}) : ();
    return $t->chat(body => $body, %h);
}

# A route's own per-user rate, beside the global limits.
is(ask(route => 'tight')->{status}, 200, 'route limit: first');
my $r = ask(route => 'tight');
is($r->{status}, 200, 'route limit: second');
like($r->{headers}{'ratelimit-policy'} // '', qr/"route-rpm";q=2;w=60/,
     'RateLimit-Policy names the route policy');
like($r->{headers}{ratelimit} // '', qr/"route-rpm";r=0;/, 'with none remaining');
$r = ask(route => 'tight');
is($r->{status}, 429, 'route limit: third refused');
is($r->{json}{error}{type}, 'rate_limited', 'as rate_limited');
ok($r->{headers}{'retry-after'} >= 1, 'with Retry-After');
like($t->usage_for($r)->{reason}, qr/route-rpm 2 reached/, 'the log names the route policy');
is(ask()->{status}, 200, 'the default route is not counted by it');
is(ask(route => 'tight', token => $bob)->{status}, 200, 'another user has a count of their own');

# A route's site-wide rate: one request on it for everyone.
is(ask(route => 'shared')->{status}, 200, 'route global limit: first');
is(ask(route => 'shared', token => $bob)->{status}, 429, 'route global limit: anyone\'s second refused');

# A route's token rate: counted after the call, refused once reached.
is(ask(route => 'tpm', message => 'twenty bytes of text')->{status}, 200, 'route tpm: first');
$r = ask(route => 'tpm');
is($r->{status}, 429, 'route tpm: refused once the route\'s tokens are used');
like($t->usage_for($r)->{reason}, qr/route-tpm 5 reached/, 'naming route-tpm');

# A service token's own token rate.
is(ask(svc => $svc, message => '[[mock:big=100]] a')->{status}, 200, 'token tpm: first');
$r = ask(svc => $svc);
is($r->{status}, 429, 'token tpm: refused once the token\'s tokens are used');
like($t->usage_for($r)->{reason}, qr/^tpm 20 reached/, 'as the caller\'s tpm');

# A service token's own daily budget ($0.00005 = 50 micro-dollars; a call
# reserves 12 and costs 4), in place of [budget] user_daily.
my ($ok, $over) = (0, 0);
for (1 .. 20) {
    my $s = ask(svc => $cheap);
    $ok++ if $s->{status} == 200;
    if ($s->{status} == 429) { $over++; $r = $s; last }
}
ok($ok >= 3 && $ok <= 12, "token budget: $ok calls fit in it");
is($over, 1, 'then the token is refused');
is($r->{json}{error}{type}, 'budget_exceeded', 'as budget_exceeded');
like($t->usage_for($r)->{reason}, qr/token daily budget reached/, 'the log says the token\'s');
my $spent = 0;
$spent += $_->{cost_micro_usd} // 0
    for grep { ($_->{user} // '') eq 'token:cheap' && $_->{status} == 200 } @{$t->usage_lines};
ok($spent <= 50, "token budget: recorded spend $spent <= 50 micro-dollars");
is(ask()->{status}, 200, 'a user is not held to the token\'s cap');

# A provider that ignores max_tokens (the mock's big answer) cannot spend
# past the reservation: the stream ends with an error event, cleanly.
$r = ask(svc => $streamer, stream => 1, message => '[[mock:big=4000]] go');
is($r->{status}, 200, 'mid-stream budget: the stream started');
my $ev = sse_events($r->{content});
ok((grep { ($_->{event} // '') eq 'delta' } @$ev), 'some text came first');
is($ev->[-1]{event}, 'error', 'then an error event ends the stream');
is($ev->[-1]{data}{error}{type}, 'budget_exceeded', 'of type budget_exceeded');
ok(!(grep { ($_->{event} // '') eq 'done' } @$ev), 'and no done event');
my $text = sse_text($ev);
ok(length($text) < 200, 'the answer was cut short (' . length($text) . ' of 4000 bytes)');
my $u = $t->usage_for($r);
is($u->{error}, 'budget_exceeded', 'the usage line says budget_exceeded');
ok($u->{output_tokens} > 0 && $u->{cost_micro_usd} > 0, 'with the partial usage settled');

done_testing;
