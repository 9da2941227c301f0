# OpenAI Chat Completions and compatible servers as [route] sections: bearer
# and Azure api-key auth, base URL and full URL, the token parameter, the
# pseudonymous safety_identifier, usage from stream_options.include_usage.
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
    'route oa.provider'          => 'openai',
    'route oa.base_url'          => "$m/v1",
    'route oa.api_key'           => "file:$d/provider.key",
    'route oa.model'             => 'llama-test',
    'route oa.max_tokens'        => 100,
    'route oa.temperature'       => '0.5',
    'route oa.system_prompt'     => 'Be brief.',
    'route az.provider'          => 'openai',
    'route az.url'               => "$m/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
    'route az.auth'              => 'api-key',
    'route az.api_key'           => "file:$d/provider.key",
    'route az.model'             => 'o3-mini',
    'route az.temperature'       => '0.5',
);
$t->start_nginx;

sub last_sent { decode_json($t->mock_requests->[-1]{body}) }

my $msg = 'Hello OpenAI';
my $res = $t->chat(body => { message => $msg, route => 'oa' });
is($res->{status}, 200, 'openai: 200');
is($res->{json}{text}, "mock reply: $msg", 'openai: answer');
my $seen = $t->mock_requests->[-1];
is($seen->{key}, $t->key, 'bearer key reached the provider');
is($seen->{key_header}, 'authorization', 'as Authorization: Bearer');
is($seen->{path}, '/v1/chat/completions', 'base URL + /chat/completions');
my $b = last_sent();
is($b->{model}, 'llama-test', 'model from the route');
is($b->{max_tokens}, 100, 'max_tokens for a compatible server');
ok(!exists $b->{max_completion_tokens}, 'not max_completion_tokens');
is($b->{temperature}, 0.5, 'temperature from the route');
is($b->{messages}[0]{role}, 'system', 'system prompt first');
is($b->{messages}[0]{content}, 'Be brief.', 'the route\'s system prompt');
like($b->{safety_identifier}, qr/^[0-9a-f]{32}$/, 'safety_identifier is a keyed hash');
my $u = usage_of($t, $res);
is($u->{route}, 'oa', 'usage: route');
is($u->{provider}, 'openai', 'usage: provider');
is($u->{model}, 'llama-test', 'usage: model');
# The mock counts every message, the system one included for OpenAI.
my $in = mock_tokens(length('Be brief.') + length $msg);
is($u->{input_tokens}, $in, 'usage: input equals the mock');
is($u->{output_tokens}, mock_tokens(length "mock reply: $msg"), 'usage: output equals the mock');

# Streaming.
$res = $t->chat(body => { message => $msg, route => 'oa', stream => JSON::PP::true });
my $ev = sse_events($res->{content});
is(sse_text($ev), "mock reply: $msg", 'openai stream: text');
is($ev->[-1]{event}, 'done', 'openai stream: done');
is($ev->[-1]{data}{route}, 'oa', 'done names the route');
is($ev->[-1]{data}{stop_reason}, 'stop', 'finish_reason as stop_reason');
$b = last_sent();
is($b->{stream_options}{include_usage}, JSON::PP::true, 'include_usage asked for');
$u = usage_of($t, $res);
is($u->{input_tokens}, $in, 'stream usage: input equals the mock');
is($u->{output_tokens}, mock_tokens(length "mock reply: $msg"), 'stream usage: output equals the mock');
is($u->{usage_estimated}, JSON::PP::false, 'stream usage from the provider');

# Mid-stream error (OpenAI: data: {"error":...}).
$res = $t->chat(body => { message => '[[mock:error_event]] abcdefghijklmnopqrstuvwxyz', route => 'oa', stream => JSON::PP::true });
$ev = sse_events($res->{content});
is($ev->[-1]{event}, 'error', 'openai mid-stream error: error event');
unlike($res->{content}, qr/mock internal detail/, 'no provider text');

# Azure-style: full URL, api-key header, a reasoning model.
$res = $t->chat(body => { message => $msg, route => 'az' });
is($res->{status}, 200, 'azure: 200');
$seen = $t->mock_requests->[-1];
is($seen->{key_header}, 'api-key', 'azure: api-key header');
is($seen->{key}, $t->key, 'azure: key');
like($seen->{path}, qr{^/openai/deployments/gpt4o/chat/completions\?api-version=}, 'azure: full URL');
$b = last_sent();
is($b->{max_completion_tokens}, 1024, 'max_completion_tokens for Azure and o-models');
ok(!exists $b->{max_tokens}, 'no max_tokens');
ok(!exists $b->{temperature}, 'temperature dropped for a reasoning model');

# Provider 401: the operator hears about the key, by fingerprint.
$res = $t->chat(body => { message => '[[mock:status=401]]', route => 'oa' });
is($res->{status}, 502, '401 from the provider: 502');
like(CG::slurp("$d/error.log"), qr/provider rejected key \S+ \([0-9a-f]{12}\): rotate it \(route oa\)/, 'operator log: key rejected');
unlike($t->all_output, qr/\Q${\ $t->key}\E/, 'the key is in no log');

done_testing;
