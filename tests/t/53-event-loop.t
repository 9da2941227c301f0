# The event-loop worker (issue 17): connections are not tied to request
# contexts or threads. Web-server connections that stall half-way through
# a request, or stay open idle, hold no request context, so one worker
# with 2 contexts still serves chat requests while more connections than
# that sit on it. A worker serving 20 slow requests at once is one thread.
# FCGI_GET_VALUES is answered on a live connection with the worker's own
# limits. A request that comes on a kept connection held by a worker with
# no request context free is served by a sibling that has one, not queued
# behind the full worker's slow requests.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::UNIX;
use IO::Select;
use JSON::PP;
use CG;

sub rec {
    my ($type, $id, $content) = @_;
    return pack('CCnnCC', 1, $type, $id, length $content, 0, 0) . $content;
}

sub nv {
    my ($n, $v) = @_;
    return pack('CC', length $n, length $v) . $n . $v;
}

sub raw { IO::Socket::UNIX->new(Peer => $_[0]{sock}) or die "connect: $!" }

# A stack with no rate limits, $workers x $threads, and the status page.
sub stack {
    my ($workers, $threads, @more) = @_;
    my $t = CG->new;
    $t->start_stack('limits.requests_per_minute' => 0,
                    'limits.concurrent_requests' => 0,
                    'server.workers' => $workers, 'server.threads' => $threads,
                    'status.path' => '/chatgate-status', @more);
    return $t;
}

sub nvl {
    my ($n, $v) = @_;
    return join('', map { $_ < 128 ? pack('C', $_) : pack('N', $_ | 0x80000000) }
                length $n, length $v) . $n . $v;
}

# One whole request: BEGIN (FCGI_KEEP_CONN when $keep), PARAMS, STDIN.
sub fcgi_request {
    my ($keep, $body, %p) = @_;
    return rec(1, 1, pack('nCx5', 1, $keep ? 1 : 0))
         . rec(4, 1, join('', map { nvl($_, $p{$_}) } sort keys %p))
         . rec(4, 1, '') . (length $body ? rec(5, 1, $body) : '')
         . rec(5, 1, '');
}

# The STDOUT of one answer, read up to its END_REQUEST; undef if none
# came within $wait seconds.
sub fcgi_answer {
    my ($s, $wait) = @_;
    my ($in, $out, $sel, $end) = ('', '', IO::Select->new($s), time + $wait);
    while (1) {
        while (length($in) >= 8) {
            my ($v, $type, $id, $len, $pad) = unpack('CCnnC', $in);
            last if length($in) < 8 + $len + $pad;
            my $c = substr($in, 8, $len);
            substr($in, 0, 8 + $len + $pad) = '';
            return $out if $type == 3;
            $out .= $c if $type == 6;
        }
        my $left = $end - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        return undef unless sysread($s, my $buf, 65536);
        $in .= $buf;
    }
}

# --- stalled and idle connections hold no request context --------------
{
    my $t = stack(1, 2);
    is($t->chat->{status}, 200, 'a first request');
    my @held;
    for (1 .. 4) {      # half a request each: BEGIN, then part of PARAMS
        my $s = raw($t);
        syswrite($s, rec(1, 1, pack('nCx5', 1, 1))
                     . rec(4, 1, nv('REQUEST_METHOD', 'POST')));
        push @held, $s;
    }
    for (1 .. 4) {      # connected, nothing sent
        push @held, raw($t);
    }
    my @pids;
    for my $i (1 .. 4) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = $t->chat(message => "while others stall $i");
            exit($r->{status} == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $fails = 0;
    for (@pids) { waitpid($_, 0); $fails++ if $? }
    is($fails, 0, '4 chat requests answered while 8 connections stall or '
                  . 'idle on a worker with 2 request contexts');
    is(scalar($t->worker_pids), 1, 'by the one worker');

    # FCGI_GET_VALUES on a connection of its own.
    my $s = raw($t);
    syswrite($s, rec(9, 0, nv('FCGI_MPXS_CONNS', '') . nv('FCGI_MAX_REQS', '')));
    my $got = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        last unless sysread($s, my $buf, 4096);
        $got .= $buf;
        last if length($got) >= 8
                && length($got) >= 8 + unpack('n', substr($got, 4, 2));
    }
    my ($ver, $type) = unpack('CC', $got);
    is($type, 10, 'FCGI_GET_VALUES gets FCGI_GET_VALUES_RESULT');
    like($got, qr/FCGI_MPXS_CONNS\x{0}?0/, 'one request per connection');
    like($got, qr/FCGI_MAX_REQS2/, 'as many requests as request contexts');
    close $_ for @held, $s;
}

# --- many slow requests, one thread -------------------------------------
{
    my $t = stack(1, 32, 'provider.timeout_ms' => 20000);
    is($t->chat->{status}, 200, 'a first request');
    my ($w) = $t->worker_pids;
    my @pids;
    for (1 .. 20) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = $t->chat(message => '[[mock:delay_ms=2000]]');
            exit($r->{status} == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $busy = 0;
    CG::wait_for('20 requests in flight', sub {
        my $r = $t->{http}->get($t->url('/chatgate-status'));
        ($busy) = $r->{content} =~ /"busy":(\d+)/;
        ($busy // 0) >= 21;
    }, 15);
    is($busy, 21, 'the status page shows the 20 (and itself) busy');
    my @tasks = glob("/proc/$w/task/*");
    is(scalar @tasks, 1, 'the worker holding 20 provider calls is one thread');
    my $fails = 0;
    for (@pids) { waitpid($_, 0); $fails++ if $? }
    is($fails, 0, 'all 20 slow requests answered');
}

# --- a request on a kept connection held by a full worker ----------------
{
    my $t = stack(2, 2, 'provider.timeout_ms' => 60000);
    CG::wait_for('two workers', sub { scalar($t->worker_pids) == 2 });
    my $tok = $t->mint('alice');
    my $status = fcgi_request(1, '', REQUEST_METHOD => 'GET',
                              REQUEST_URI => '/chatgate-status',
                              REMOTE_ADDR => '127.0.0.1');
    my $body = encode_json({ message => '[[mock:delay_ms=30000]]' });
    my $slow = fcgi_request(0, $body, REQUEST_METHOD => 'POST',
        REQUEST_URI => '/api/chat', CONTENT_TYPE => 'application/json',
        CONTENT_LENGTH => length $body, REMOTE_ADDR => '127.0.0.1',
        HTTP_COOKIE => "chatgate_session=$tok", HTTP_ORIGIN => $CG::ORIGIN);
    # The status page's slots, from an answer: [ pid of the busy slot with
    # no user (the status request itself), { pid => chat requests } ].
    my $slots = sub {
        my ($ans) = @_;
        my ($json) = ($ans // '') =~ /\r\n\r\n(.*)\z/s or return;
        my $st = eval { decode_json($json) } or return;
        my ($self, %chat);
        for (grep { $_->{state} eq 'busy' } @{ $st->{slots} }) {
            if (defined $_->{user}) { $chat{$_->{pid}}++ } else { $self = $_->{pid} }
        }
        return ($self, \%chat);
    };
    my $probe = sub {       # the slots, over a connection of its own
        my $s = raw($t);
        syswrite($s, $status);
        return $slots->(fcgi_answer($s, 10));
    };
    my $on = sub { my $n = 0; $n += $_ for values %{ ($probe->())[1] // {} }; $n };

    # A: a kept connection, and the worker X that holds it.
    my $a = raw($t);
    syswrite($a, $status);
    my ($x) = $slots->(fcgi_answer($a, 10));
    ok($x, "a kept connection, held by worker $x");

    # Slow chat requests until both of X's contexts hold one; one that
    # another worker takes is closed (and so cancelled) again.
    my @held;
    for (1 .. 20) {
        last if @held == 2;
        my $s = raw($t);
        syswrite($s, $slow);
        my $chat;
        CG::wait_for('the slow request running', sub {
            (undef, $chat) = $probe->();
            my $n = 0; $n += $_ for values %{ $chat // {} };
            $n == @held + 1;
        }, 10);
        if (($chat->{$x} // 0) > @held) {
            push @held, $s;
        } else {
            close $s;
            CG::wait_for('the other cancelled', sub { $on->() == @held }, 10);
        }
    }
    is(scalar @held, 2, 'both request contexts of that worker hold a slow '
                        . 'request');
    syswrite($a, $status);
    my ($by, $chat) = $slots->(fcgi_answer($a, 10));
    ok($by && $by != $x, 'a request on the kept connection is served at once '
                         . 'by the other worker');
    my @answered = IO::Select->new(@held)->can_read(0);
    is(scalar @answered, 0, 'while the full worker\'s slow requests still run');
    is($chat->{$x}, 2, 'both of them');
    syswrite($a, $status);
    ($by) = $slots->(fcgi_answer($a, 10));
    ok($by, 'the connection stays usable where it went');
    close $_ for @held, $a;
}

done_testing;
