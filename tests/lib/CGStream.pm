package CGStream;

# Helpers for streamed answers: parse chatgate's SSE, the mock's token
# rule, the mock's stats, and a raw client that can hang up mid-stream.

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);

our @EXPORT = qw(sse_events sse_text mock_tokens mock_stats raw_stream usage_of);

# [ { event => NAME, data => decoded JSON or raw string }, ..., { ping => 1 } ]
sub sse_events {
    my ($content) = @_;
    my @ev;
    for my $block (split /\r?\n\r?\n/, $content // '') {
        if ($block =~ /^: ?ping/) { push @ev, { ping => 1 }; next }
        my ($name) = $block =~ /^event: (.*)$/m or next;
        my @data = $block =~ /^data: (.*)$/mg;
        my $d = join "\n", @data;
        push @ev, { event => $name, data => eval { decode_json($d) } // $d };
    }
    return \@ev;
}

sub sse_text {
    my ($ev) = @_;
    return join '', map { $_->{data}{text} } grep { ($_->{event} // '') eq 'delta' } @$ev;
}

# The mock's rule: max(1, bytes / 4).
sub mock_tokens {
    my ($bytes) = @_;
    my $n = int($bytes / 4);
    return $n > 0 ? $n : 1;
}

# The usage line of a response (by its X-Request-Id); the worker writes it
# after the answer has gone out, so wait for it.
sub usage_of {
    my ($t, $res) = @_;
    my $id = $res->{headers}{'x-request-id'} // die 'no request id';
    my $line;
    CG::wait_for("usage line of $id", sub {
        ($line) = grep { $_->{request_id} eq $id } @{$t->usage_lines};
        $line }, 10);
    return $line;
}

sub mock_stats {
    my ($t) = @_;
    my $r = HTTP::Tiny->new->get($t->mock_url . '/_mock/stats');
    return decode_json($r->{content});
}

# Sends a streamed chat request over a raw socket, reads until $want
# matches what came back (or $timeout), then closes. Returns what was read.
sub raw_stream {
    my ($t, $body, $want, $timeout) = @_;
    my $tok = $t->mint('alice');
    my $json = encode_json($body);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$t->{port}") or die $!;
    print $s "POST /api/chat HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        . "Cookie: chatgate_session=$tok\r\nOrigin: $CG::ORIGIN\r\n"
        . "Content-Length: " . length($json)
        . "\r\nConnection: close\r\n\r\n$json";
    my $got = '';
    my $end = time + ($timeout // 10);
    $s->blocking(0);
    while (time < $end && $got !~ $want) {
        my $n = sysread($s, my $buf, 4096);
        if (defined $n && $n == 0) { last }
        if ($n) { $got .= $buf } else { sleep 0.02 }
    }
    close $s;
    return $got;
}

1;
