#!/usr/bin/perl
# Smoke test for tests/mock-provider/mock-provider (it builds nothing).
#   MOCK_BIN=build/mock-provider prove -v tests/mock-provider/smoke.t
# MOCK_STREAMS=N sets how many concurrent held streams to open (default 100).
use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use IO::Socket::INET;
use POSIX ();
use Encode ();
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

my $bin = $ENV{MOCK_BIN} // 'build/mock-provider';
plan skip_all => "mock binary $bin not built" unless -x $bin;

my $dir = tempdir(CLEANUP => 1);
my $log = "$dir/requests.log";
my $key = 'sk-mock-test-key';

my $lsock = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1024,
    Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
my $port = $lsock->sockport;
my $pid = fork // die "fork: $!";
if (!$pid) {
    POSIX::dup2(fileno($lsock), 0) or POSIX::_exit(127);
    exec $bin, '--key', $key, '--log', $log or POSIX::_exit(127);
}
close $lsock;
my $reaped;
END { kill 'KILL', $pid if $pid && !$reaped }

my $base = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->utf8->canonical;

sub post {
    my ($path, $body, %hdr) = @_;
    return $http->post("$base$path", {
        headers => { 'content-type' => 'application/json', %hdr },
        content => ref $body ? $json->encode($body) : $body });
}
sub anth {
    my ($text, %o) = @_;
    my $k = delete $o{key} // $key;
    return post('/v1/messages', { model => 'claude-mock', max_tokens => 64,
        messages => [ { role => 'user', content => $text } ], %o },
        'x-api-key' => $k, 'anthropic-version' => '2023-06-01');
}
sub oai {
    my ($text, %o) = @_;
    return post('/v1/chat/completions', { model => 'gpt-mock',
        messages => [ { role => 'system', content => 'sys' },
                      { role => 'user', content => $text } ], %o },
        authorization => "Bearer $key");
}
sub sse_events {                # [ [name, data-hash-or-string], ... ]
    my @ev;
    for my $block (split /\n\n/, shift) {
        my ($name) = $block =~ /^event: (.*)$/m;
        my ($data) = $block =~ /^data: (.*)$/m;
        next unless defined $data;
        push @ev, [ $name, $data eq '[DONE]' ? $data : decode_json($data) ];
    }
    return @ev;
}
sub tok { my $n = int(length(shift) / 4); $n < 1 ? 1 : $n }
sub stats { decode_json($http->get("$base/_mock/stats")->{content}) }

# --- Anthropic, non-streaming
my $r = anth('hello world');
is $r->{status}, 200, 'anthropic 200';
like $r->{headers}{'content-type'}, qr{^application/json}, 'json content-type';
like $r->{headers}{'request-id'}, qr/^req_mock\d+$/, 'request-id header';
my $m = decode_json($r->{content});
is $m->{type}, 'message', 'type message';
like $m->{id}, qr/^msg_mock\d+$/, 'message id';
is $m->{model}, 'claude-mock', 'model echoed';
is $m->{content}[0]{text}, 'mock reply: hello world', 'echo text';
is $m->{stop_reason}, 'end_turn', 'stop_reason';
ok exists $m->{stop_sequence} && !defined $m->{stop_sequence}, 'stop_sequence null';
is $m->{usage}{input_tokens}, tok('hello world'), 'input tokens';
is $m->{usage}{output_tokens}, tok('mock reply: hello world'), 'output tokens';

# --- auth
$r = anth('hi', key => 'wrong-key');
is $r->{status}, 401, 'wrong key 401';
is decode_json($r->{content})->{error}{type}, 'authentication_error',
    'anthropic auth error shape';
$r = post('/v1/messages', { messages => [] });
is $r->{status}, 401, 'missing key 401';

# --- Anthropic, streaming
my $txt = "h\x{e9}llo w\x{f6}rld \x{2713}\x{2713}\x{2713} stream";
$r = anth($txt, stream => JSON::PP::true);
is $r->{status}, 200, 'stream 200';
like $r->{headers}{'content-type'}, qr{^text/event-stream}, 'sse type';
my @ev = sse_events($r->{content});
my @names = map { $_->[0] } @ev;
is_deeply [ @names[0 .. 2] ], [qw(message_start content_block_start ping)],
    'stream head';
is_deeply [ @names[-3 .. -1] ], [qw(content_block_stop message_delta message_stop)],
    'stream tail';
ok !(grep { $_->[0] ne $_->[1]{type} } @ev), 'data.type matches event name';
my @deltas = grep { $_->[0] eq 'content_block_delta' } @ev;
my $joined = join '', map { $_->[1]{delta}{text} } @deltas;
my $want = "mock reply: $txt";
is $joined, $want, 'deltas concatenate to the answer (utf-8 safe)';
ok @deltas > 3, 'answer split into several deltas';
my $in_bytes = length(Encode::encode_utf8($txt));
is $ev[0][1]{message}{usage}{input_tokens},
    ($in_bytes >> 2) || 1, 'message_start input tokens';
is $ev[-2][1]{usage}{output_tokens},
    int(length(Encode::encode_utf8($want)) / 4), 'message_delta output tokens';

# --- OpenAI
$r = oai('hello openai');
is $r->{status}, 200, 'openai 200';
like $r->{headers}{'x-request-id'}, qr/^req_mock\d+$/, 'x-request-id';
$m = decode_json($r->{content});
is $m->{object}, 'chat.completion', 'object';
is $m->{choices}[0]{message}{content}, 'mock reply: hello openai', 'openai echo';
is $m->{choices}[0]{finish_reason}, 'stop', 'finish_reason';
is $m->{usage}{prompt_tokens}, tok('syshello openai'), 'prompt tokens';
is $m->{usage}{total_tokens},
    $m->{usage}{prompt_tokens} + $m->{usage}{completion_tokens}, 'total';

$r = post('/openai/deployments/d1/chat/completions?api-version=2024-02-01',
    { messages => [ { role => 'user', content => 'azure' } ] }, 'api-key' => $key);
is $r->{status}, 200, 'azure path + api-key header';

$r = oai('stream me please', stream => JSON::PP::true,
    stream_options => { include_usage => JSON::PP::true });
@ev = sse_events($r->{content});
is $ev[-1][1], '[DONE]', 'ends with [DONE]';
is $ev[0][1]{choices}[0]{delta}{role}, 'assistant', 'first delta has role';
my ($fin) = grep { ref $_->[1] && @{ $_->[1]{choices} }
                   && $_->[1]{choices}[0]{finish_reason} } @ev;
is $fin->[1]{choices}[0]{finish_reason}, 'stop', 'finish chunk';
my ($u) = grep { ref $_->[1] && !@{ $_->[1]{choices} } } @ev;
ok $u && $u->[1]{usage}{completion_tokens}, 'include_usage chunk';
is join('', map { $_->[1]{choices}[0]{delta}{content} // '' }
        grep { ref $_->[1] && @{ $_->[1]{choices} } } @ev),
    'mock reply: stream me please', 'openai stream text';
$r = oai('no usage', stream => JSON::PP::true);
ok !(grep { ref $_->[1] && $_->[1]{usage} } sse_events($r->{content})),
    'no usage chunk without include_usage';

# --- failure directives
$r = anth('boom [[mock:status=500]]');
is $r->{status}, 500, 'status=500';
$m = decode_json($r->{content});
is $m->{error}{type}, 'api_error', 'api_error type';
like $m->{error}{message}, qr/mock internal detail/, 'internal detail message';
$r = oai('slow down [[mock:status=429]]');
is $r->{status}, 429, 'openai 429';
is $r->{headers}{'retry-after'}, '1', 'retry-after';
ok exists decode_json($r->{content})->{error}{param}, 'openai error shape';
my @codes = map { anth('retry [[mock:status=529]][[mock:fail_first=2]]')->{status} } 1 .. 3;
is_deeply \@codes, [529, 529, 200], 'fail_first';
$r = anth('[[mock:garbage]]');
is $r->{status}, 200, 'garbage is 200';
ok !eval { decode_json($r->{content}); 1 }, 'garbage is not JSON';
$r = anth('x [[mock:text=%23%20Title%0A!%5Bimg%5D(http%3A%2F%2Fe.x%2Fa.png)]]');
is decode_json($r->{content})->{content}[0]{text}, "# Title\n![img](http://e.x/a.png)",
    'text= is percent-decoded';
$r = anth('[[mock:big=1000]]');
is length(decode_json($r->{content})->{content}[0]{text}), 1000, 'big=1000';
my $t0 = time;
anth('[[mock:delay_ms=300]] later');
cmp_ok time - $t0, '>=', 0.29, 'delay_ms';
$r = anth('cut [[mock:truncate]]', stream => JSON::PP::true);
ok $r->{status} == 599 || $r->{content} !~ /message_stop/, 'truncate stream';
$r = anth('[[mock:reset]]');
is $r->{status}, 599, 'reset -> transport error';
$r = anth('abcdefghijklmnopqrstuvwxyz [[mock:error_event]]', stream => JSON::PP::true);
@ev = sse_events($r->{content});
is $ev[-1][0], 'error', 'error_event last';
is $ev[-1][1]{error}{type}, 'overloaded_error', 'error_event payload';

# --- Expect: 100-continue and pipelined keep-alive on a raw socket
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
my $body = '{"messages":[{"role":"user","content":"raw"}]}';
print $s "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: $key\r\n"
    . "Expect: 100-continue\r\nContent-Length: " . length($body) . "\r\n\r\n";
my $line = <$s>;
like $line, qr{^HTTP/1.1 100 Continue}, '100 Continue';
<$s>;
print $s $body . "GET /_mock/health HTTP/1.1\r\n\r\n";
local $/ = \65536;
my $got = '';
while ($got !~ /\{"ok":true\}/) { my $n = sysread($s, $got, 65536, length $got); last unless $n }
like $got, qr/mock reply: raw.*HTTP\/1.1 200 OK.*\{"ok":true\}/s, 'pipelined keep-alive';
close $s;
$/ = "\n";

# --- closed_early: client drops a stalled stream
my $before = stats()->{closed_early};
$s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die $!;
$body = '{"stream":true,"messages":[{"role":"user","content":"x [[mock:stall_after=2]]"}]}';
print $s "POST /v1/messages HTTP/1.1\r\nx-api-key: $key\r\nContent-Length: "
    . length($body) . "\r\n\r\n$body";
sysread($s, my $buf, 4096);
is stats()->{open_streams}, 1, 'stalled stream is open';
close $s;
my $st;
for (1 .. 50) { $st = stats(); last if $st->{closed_early} > $before; sleep 0.02 }
is $st->{closed_early}, $before + 1, 'closed_early counted';
is $st->{open_streams}, 0, 'no open streams';

# --- many concurrent held streams
my $n = $ENV{MOCK_STREAMS} // 100;
$body = '{"stream":true,"messages":[{"role":"user","content":"hi [[mock:hold_ms=200]]"}]}';
my $req = "POST /v1/messages HTTP/1.1\r\nx-api-key: $key\r\nContent-Length: "
    . length($body) . "\r\n\r\n$body";
$t0 = time;
my @socks = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die "conn $_: $!" } 1 .. $n;
print $_ $req for @socks;
my $peak = 0;
for (1 .. 100) { $peak = stats()->{open_streams}; last if $peak >= $n; sleep 0.01 }
is $peak, $n, "$n streams open at once";
my $ok = 0;
for my $sk (@socks) {
    my $all = '';
    while ($all !~ /\r\n0\r\n\r\n\z/) { my $k = sysread($sk, $all, 65536, length $all); last unless $k }
    $ok++ if $all =~ /message_stop/;
    close $sk;
}
my $el = time - $t0;
is $ok, $n, "all $n streams completed";
cmp_ok $el, '<', 8, sprintf('held streams ran concurrently (%.2fs)', $el);

# --- stats, reset, log
$st = stats();
cmp_ok $st->{requests}, '>=', 25, 'requests counted';
cmp_ok $st->{connections}, '>=', $n, 'connections counted';
is $http->post("$base/_mock/reset")->{status}, 200, 'reset endpoint';
$st = stats();
is_deeply [ @$st{qw(requests closed_early open_streams)} ], [0, 0, 0],
    'counters zeroed';
open my $lf, '<', $log or die "$log: $!";
my @lines = map { decode_json($_) } <$lf>;
close $lf;
is $lines[0]{api}, 'anthropic', 'log api';
is $lines[0]{key}, $key, 'log key';
is $lines[0]{anthropic_version}, '2023-06-01', 'log anthropic_version';
like $lines[0]{body}, qr/hello world/, 'log body';
ok((grep { ($_->{key} // '') eq 'wrong-key' } @lines), 'wrong key logged');
ok((grep { $_->{api} eq 'openai' && $_->{path} =~ /deployments/ } @lines),
    'azure request logged');

# --- shutdown
kill 'TERM', $pid;
waitpid $pid, 0;
$reaped = 1;
is $?, 0, 'exits 0 on SIGTERM';

done_testing;
