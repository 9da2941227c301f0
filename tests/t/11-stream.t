# Streamed answers (Anthropic, the [provider] route): chatgate's own SSE,
# usage equal to the mock's, mid-stream errors, idle timeout, heartbeats,
# and a client that hangs up aborts the provider call.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(sleep time);
use CG;
use CGStream;

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 0,
                'provider.idle_timeout_ms' => 1000,
                'server.heartbeat_seconds' => 1);


# A plain streamed answer.
my $msg = 'Stream this, please.';
my $res = $t->chat(body => { message => $msg, stream => JSON::PP::true });
is($res->{status}, 200, 'stream: 200');
like($res->{headers}{'content-type'}, qr{^text/event-stream}, 'event-stream');
is($res->{headers}{'cache-control'}, 'no-store', 'no-store');
my $ev = sse_events($res->{content});
is(sse_text($ev), "mock reply: $msg", 'deltas make up the answer');
ok((grep { ($_->{event} // '') eq 'delta' } @$ev) > 2, 'several deltas');
my $done = $ev->[-1];
is($done->{event}, 'done', 'ends with done');
is($done->{data}{request_id}, $res->{headers}{'x-request-id'}, 'done has the request id');
is($done->{data}{route}, 'default', 'done names the route');
my $in = mock_tokens(length $msg);
my $out = mock_tokens(length "mock reply: $msg");
is($done->{data}{usage}{input_tokens}, $in, 'done: input tokens as the mock');
is($done->{data}{usage}{output_tokens}, $out, 'done: output tokens as the mock');
is($done->{data}{stop_reason}, 'end_turn', 'stop reason');
my $u = usage_of($t, $res);
is($u->{stream}, JSON::PP::true, 'usage line: stream');
is($u->{provider}, 'anthropic', 'usage line: provider');
is($u->{input_tokens}, $in, 'usage line: input tokens equal the mock');
is($u->{output_tokens}, $out, 'usage line: output tokens equal the mock');
is($u->{usage_estimated}, JSON::PP::false, 'not estimated');
my $sent = JSON::PP::decode_json($t->mock_requests->[-1]{body});
is($sent->{stream}, JSON::PP::true, 'provider asked to stream');
like($sent->{metadata}{user_id}, qr/^[0-9a-f]{32}$/, 'pseudonymous user id');
isnt($sent->{metadata}{user_id}, 'alice', 'not the user id itself');

# Accept: text/event-stream asks for a stream too; a conversation.
my @conv = ({ role => 'user', content => 'Hi there' },
            { role => 'assistant', content => 'Hello! How can I help?' },
            { role => 'user', content => 'Tell me more.' });
$res = $t->chat(body => { messages => \@conv },
                headers => { Accept => 'text/event-stream' });
$ev = sse_events($res->{content});
is(sse_text($ev), 'mock reply: Tell me more.', 'Accept header streams a conversation');
my $bytes = 0;
$bytes += length $_->{content} for @conv;
is(usage_of($t, $res)->{input_tokens}, mock_tokens($bytes), 'conversation: input tokens of all turns');
$sent = JSON::PP::decode_json($t->mock_requests->[-1]{body});
is(scalar @{$sent->{messages}}, 3, 'three turns sent');
is($sent->{system}, 'You are a test assistant.', 'system prompt stays the server\'s');

# Mid-stream error: some deltas, then an error event, and the stream ends.
$res = $t->chat(body => { message => '[[mock:error_event]] abcdefghijklmnopqrstuvwxyz', stream => JSON::PP::true });
is($res->{status}, 200, 'error after the first byte: still 200');
$ev = sse_events($res->{content});
ok(sse_text($ev) ne '', 'deltas before the error');
is($ev->[-1]{event}, 'error', 'ends with an error event');
is($ev->[-1]{data}{error}{type}, 'upstream_error', 'error type');
unlike($res->{content}, qr/mock internal detail|overloaded/i, 'no provider text');
is(usage_of($t, $res)->{status}, 502, 'logged as 502');
ok(usage_of($t, $res)->{output_tokens} >= 1, 'partial output counted');

# Stall: the idle timeout ends the stream with an error event.
my $t0 = time;
$res = $t->chat(body => { message => '[[mock:stall_after=4]] a stalled answer here', stream => JSON::PP::true });
$ev = sse_events($res->{content});
is($ev->[-1]{event}, 'error', 'stall: error event');
is($ev->[-1]{data}{error}{type}, 'upstream_timeout', 'stall: upstream_timeout');
is(usage_of($t, $res)->{status}, 504, 'stall: logged as 504');
ok(grep({ $_->{ping} } @$ev), 'heartbeat comments while the provider was silent');

# A stream without usage is estimated, never zero.
$msg = '[[mock:no_usage]] count me anyway';
$res = $t->chat(body => { message => $msg, stream => JSON::PP::true });
$ev = sse_events($res->{content});
is($ev->[-1]{event}, 'done', 'no usage: done');
$u = usage_of($t, $res);
is($u->{usage_estimated}, JSON::PP::true, 'usage_estimated');
ok($u->{input_tokens} >= 1 && $u->{output_tokens} >= 1, 'estimate not zero');
is($ev->[-1]{data}{usage_estimated}, JSON::PP::true, 'done says estimated');

# The client hangs up mid-stream: the provider call is aborted.
my $before = mock_stats($t)->{closed_early};
my $got = raw_stream($t, { message => '[[mock:hold_ms=300]] ' . ('slow words ' x 20) },
                     qr/event: delta/);
like($got, qr/event: delta/, 'got a first delta before hanging up');
my $closed;
CG::wait_for('mock sees the close', sub {
    $closed = mock_stats($t)->{closed_early} > $before }, 5);
ok($closed, 'the provider connection closed early');
CG::wait_for('usage line', sub {
    ($u) = grep { $_->{status} == 499 } @{$t->usage_lines}; $u }, 5);
is($u->{error}, 'client_closed', 'logged as client_closed');
ok($u->{output_tokens} >= 1 && $u->{input_tokens} >= 1, 'partial usage logged');

# Errors before the first byte are plain JSON with the right status.
$res = $t->chat(body => { message => '[[mock:status=400]]', stream => JSON::PP::true });
is($res->{status}, 502, 'error before the first byte: status');
like($res->{headers}{'content-type'}, qr{^application/json}, 'error before the first byte: JSON');
$res = $t->chat(body => { message => 'x', stream => 'yes' });
is($res->{status}, 400, 'stream must be a boolean');

done_testing;
