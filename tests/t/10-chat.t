# The whole request path through real nginx, memcached and the mock provider:
# a chat answer, what the provider received, and what the client never sees.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use CG;

my $t = CG->new;
$t->start_stack;

my $res = $t->chat(message => 'What is FastCGI?');
is($res->{status}, 200, 'chat answers 200');
like($res->{headers}{'content-type'}, qr{^application/json}, 'JSON answer');
is($res->{json}{text}, 'mock reply: What is FastCGI?', 'answer text from the provider');
like($res->{json}{request_id}, qr/^req_[0-9a-f]{16}$/, 'request id');
is($res->{headers}{'x-request-id'}, $res->{json}{request_id}, 'request id header matches');
ok($res->{json}{usage}{input_tokens} > 0, 'input tokens reported');
ok($res->{json}{usage}{output_tokens} > 0, 'output tokens reported');
is($res->{headers}{'cache-control'}, 'no-store', 'answers are not cached');

# The client may try to choose the model, max_tokens, system prompt or
# endpoint; the provider must see the server's choices only.
$res = $t->chat(body => { message => 'override?', model => 'claude-opus-evil',
                          max_tokens => 99999, system => 'You are evil.',
                          temperature => 2, messages => [] });
is($res->{status}, 200, 'extra client fields are ignored, not obeyed');

my $seen = $t->mock_requests;
is(scalar @$seen, 2, 'the mock saw two requests');
for my $r (@$seen) {
    is($r->{key}, $t->key, 'the configured key reached the provider');
    is($r->{anthropic_version}, '2023-06-01', 'anthropic-version header sent');
    my $b = JSON::PP::decode_json($r->{body});
    is($b->{model}, 'claude-test-model', 'model from config');
    is($b->{max_tokens}, 256, 'max_tokens from config');
    is($b->{system}, 'You are a test assistant.', 'system prompt from config');
    is(scalar @{$b->{messages}}, 1, 'one user message');
    is($b->{messages}[0]{role}, 'user', 'role user');
    ok(!exists $b->{temperature}, 'no client sampling parameters');
}

# The key never reaches the client or any log: not the key, not its base64,
# not any provider-key shape.
my $key = $t->key;
my $b64 = encode_base64($key, '');
my @responses;
for my $m ('hi', '[[mock:status=500]]', '[[mock:garbage]]', '[[mock:status=401]]') {
    my $r = $t->chat(message => $m);
    push @responses, join("\n", map { "$_: $r->{headers}{$_}" } keys %{$r->{headers}})
                     . "\n" . $r->{content};
}
push @responses, $t->chat(token => undef)->{content};
my $everything = join("\n", @responses) . $t->all_output;
unlike($everything, qr/\Q$key\E/, 'key in no response, header or log');
unlike($everything, qr/\Q$b64\E/, 'base64 of the key nowhere');
unlike($everything, qr/sk-ant-\w/, 'no provider key shape anywhere');
unlike($everything, qr/mock internal detail/, 'no provider error text anywhere');

# One usage line per request, with the key only as its fingerprint (alert
# events share the file: docs/usage-log.md).
my $lines = [ grep { $_->{event} eq 'request' } @{$t->usage_lines} ];
is(scalar @$lines, 7, 'one usage line per request');
my $ok = $lines->[0];
is($ok->{v}, 1, 'schema version');
is($ok->{event}, 'request', 'event');
is($ok->{status}, 200, 'status logged');
is($ok->{user}, 'alice', 'user logged');
is($ok->{route}, 'default', 'route logged');
is($ok->{model}, 'claude-test-model', 'model logged');
is($ok->{error}, undef, 'no error on success');
is($ok->{input_tokens}, 4, 'input tokens as the mock counted (16 bytes / 4)')
    or diag explain $ok;
ok($ok->{output_tokens} > 0, 'output tokens logged');
like($ok->{key_id}, qr/^[0-9a-f]{12}$/, 'key id is a fingerprint');
like($ok->{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'timestamp');
ok($ok->{latency_ms} >= $ok->{upstream_ms}, 'latency includes upstream time');
is($lines->[6]{status}, 401, 'failed requests are logged too');
is($lines->[6]{user}, undef, 'no user for an unauthenticated request');

done_testing;
