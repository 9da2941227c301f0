# The event-loop worker (issue 17): connections are not tied to request
# contexts or threads. Web-server connections that stall half-way through
# a request, or stay open idle, hold no request context, so one worker
# with 2 contexts still serves chat requests while more connections than
# that sit on it. A worker serving 20 slow requests at once is one thread.
# FCGI_GET_VALUES is answered on a live connection with the worker's own
# limits.
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

# --- stalled and idle connections hold no request context --------------
{
    my $t = CG->new;
    $t->start_stack('limits.requests_per_minute' => 0,
                    'limits.concurrent_requests' => 0,
                    'server.workers' => 1, 'server.threads' => 2);
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
    my $t = CG->new;
    $t->start_stack('limits.requests_per_minute' => 0,
                    'limits.concurrent_requests' => 0,
                    'server.workers' => 1, 'server.threads' => 32,
                    'provider.timeout_ms' => 20000,
                    'status.path' => '/chatgate-status');
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

done_testing;
