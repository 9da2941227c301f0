# Routes: the client picks one by name among the allowed, never a model or
# URL; retries on 529 before the first byte, none on 400; fallbacks when a
# route is down; one kept-alive provider connection per worker;
# conversation validation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;
use CGStream;

my $t = CG->new;
my $d = $t->dir;
$t->start_memcached;
$t->start_mock;
my $m = $t->mock_url;
$t->start_chatgate(
    'limits.requests_per_minute' => 0,
    'input.max_messages'         => 5,
    'input.max_total_chars'      => 60,
    'route fast.model'           => 'claude-fast',
    'route fast.base_url'        => $m,
    'route fast.api_key'         => "file:$d/provider.key",
    'route fast.max_tokens'      => 64,
    'route hidden.model'         => 'claude-hidden',
    'route hidden.base_url'      => $m,
    'route hidden.api_key'       => "file:$d/provider.key",
    'route hidden.public'        => 'no',
    'route down.model'           => 'claude-down',
    'route down.base_url'        => 'http://127.0.0.1:1',
    'route down.api_key'         => "file:$d/provider.key",
    'route down.fallback'        => 'hidden, fast',
    'route down2.model'          => 'claude-down',
    'route down2.base_url'       => 'http://127.0.0.1:1',
    'route down2.api_key'        => "file:$d/provider.key",
    'route down2.fallback'       => 'down3',
    'route down3.model'          => 'claude-down',
    'route down3.base_url'       => 'http://127.0.0.1:1',
    'route down3.api_key'        => "file:$d/provider.key",
    'route down3.public'         => 'no',
    'route down3.fallback'       => 'down2, hidden',
    'route slow.model'           => 'claude-slow',
    'route slow.base_url'        => $m,
    'route slow.api_key'         => "file:$d/provider.key",
    'route slow.first_byte_timeout_ms' => 300,
);
$t->start_nginx;

sub last_sent { decode_json($t->mock_requests->[-1]{body}) }

# Selection; the client cannot override what the route sends.
my $res = $t->chat(body => { message => 'pick fast', route => 'fast', model => 'claude-opus-evil',
                             max_tokens => 99999, system => 'evil', url => 'http://evil' });
is($res->{status}, 200, 'route fast: 200');
my $b = last_sent();
is($b->{model}, 'claude-fast', 'model of the route');
is($b->{max_tokens}, 64, 'max_tokens of the route');
ok(!exists $b->{system}, 'no client system prompt');
is(usage_of($t, $res)->{route}, 'fast', 'usage: route');
is($t->chat(message => 'no route')->{status}, 200, 'no route: the default');
is(last_sent()->{model}, 'claude-test-model', 'default is [provider]');

for my $name ('nope', 'hidden') {
    $res = $t->chat(body => { message => 'x', route => $name });
    is($res->{status}, 403, "route $name refused");
    is($res->{json}{error}{type}, 'forbidden', "route $name: forbidden");
}
is($t->chat(body => { message => 'x', route => 42 })->{status}, 400, 'route must be a string');

# Retry on 529, then success; the wait honours retry-after.
my $n0 = scalar @{$t->mock_requests};
$res = $t->chat(message => '[[mock:status=529]][[mock:fail_first=1]][[mock:id=r1]] retry me');
is($res->{status}, 200, '529 then success: 200');
is(scalar @{$t->mock_requests} - $n0, 2, 'two provider requests');
is(usage_of($t, $res)->{retries}, 1, 'usage: one retry');

# The same for a stream: the retry happens before the first byte.
$res = $t->chat(body => { message => '[[mock:status=503]][[mock:fail_first=1]][[mock:id=r2]] x',
                          stream => JSON::PP::true });
is(sse_events($res->{content})->[-1]{event}, 'done', 'stream: retried before the first byte');

# No retry on 400.
$n0 = scalar @{$t->mock_requests};
$res = $t->chat(message => '[[mock:status=400]]');
is($res->{status}, 502, '400: 502');
is(scalar @{$t->mock_requests} - $n0, 1, '400: not retried');
is(usage_of($t, $res)->{retries}, 0, 'usage: no retries');

# A route that is down falls back, in order; non-public routes may serve.
$res = $t->chat(body => { message => 'fall back', route => 'down' });
is($res->{status}, 200, 'fallback: 200');
is($res->{json}{text}, 'mock reply: fall back', 'fallback: answer');
my $u = usage_of($t, $res);
is($u->{route}, 'hidden', 'fallback: first fallback answered');
is($u->{fallback_from}, 'down', 'fallback_from');
is($u->{model}, 'claude-hidden', 'fallback: its model');

# A fallback's own fallbacks are followed; a loop back to a route already
# tried ends there.
$res = $t->chat(body => { message => 'chain', route => 'down2' });
is($res->{status}, 200, 'fallback chain: 200');
$u = usage_of($t, $res);
is($u->{route}, 'hidden', 'fallback chain: the fallback of the fallback answered');
is($u->{fallback_from}, 'down2', 'fallback chain: fallback_from the first route');

# The first-byte timeout: a provider that does not start answering.
$res = $t->chat(body => { message => '[[mock:delay_ms=2500]]', route => 'slow' });
is($res->{status}, 504, 'first byte timeout: 504');
like(usage_of($t, $res)->{reason}, qr/first byte/, 'the log says first byte');

# Connection reuse: one kept-alive connection per worker.
my $before = mock_stats($t);
$t->chat(message => "reuse $_") for 1 .. 12;
my $after = mock_stats($t);
is($after->{requests} - $before->{requests}, 12, '12 provider requests');
# Two workers; a connection dropped by the earlier timeout may need
# replacing: far fewer new connections than requests means reuse.
ok($after->{connections} - $before->{connections} <= 4,
   'connections are reused (at most 4 new for 12 requests)')
    or diag explain $after;

# Conversation validation.
my %bad = (
    'starts with assistant' => [ { role => 'assistant', content => 'a' }, { role => 'user', content => 'b' } ],
    'ends with assistant'   => [ { role => 'user', content => 'a' }, { role => 'assistant', content => 'b' } ],
    'two users in a row'    => [ { role => 'user', content => 'a' }, { role => 'user', content => 'b' },
                                 { role => 'user', content => 'c' } ],
    'system role'           => [ { role => 'system', content => 'a' } ],
    'empty'                 => [],
    'empty content'         => [ { role => 'user', content => '' } ],
    'content not a string'  => [ { role => 'user', content => [ { type => 'text', text => 'a' } ] } ],
    'no role'               => [ { content => 'a' } ],
    'too many'              => [ map { { role => $_ % 2 ? 'assistant' : 'user', content => 'a' } } 0 .. 6 ],
    'too long in total'     => [ { role => 'user', content => 'a' x 20 }, { role => 'assistant', content => 'b' x 20 },
                                 { role => 'user', content => 'c' x 21 } ],
);
$n0 = scalar @{$t->mock_requests};
for my $what (sort keys %bad) {
    $res = $t->chat(body => { messages => $bad{$what} });
    is($res->{status}, 400, "conversation $what: 400");
    is($res->{json}{error}{type}, 'invalid_request', "conversation $what: invalid_request");
}
is($t->chat(body => { messages => 'hi' })->{status}, 400, 'messages not an array');
is(scalar @{$t->mock_requests} - $n0, 0, 'none reached the provider');
$res = $t->chat(body => { messages => [ { role => 'user', content => 'a' x 20 },
                                        { role => 'assistant', content => 'b' x 20 },
                                        { role => 'user', content => 'c' x 20 } ] });
is($res->{status}, 200, 'a conversation at the limits passes');

done_testing;
