# Fault injection (make faults): for a request of each kind, fail its Nth
# allocation, Nth store call and Nth upstream read, for every N from 1 until
# the request runs through without reaching N. Each time the client must get
# a clean JSON error (or a clean SSE error event once a stream has begun)
# with a sensible status, the worker must stay up, and the usage line must
# say what the client got. Runs against build/fault/chatgate only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;
use CGStream;

-x "$CG::BUILD/chatgate" && `strings $CG::BUILD/chatgate` =~ /cg_fault_arm/
    or plan skip_all => "$CG::BUILD/chatgate is not a fault build (make faults)";

my $MAX_N = 400;       # a request makes far fewer allocations than this
my %SANE = map { $_ => 1 } (200, 400, 401, 429, 500, 502, 503, 504);

# One request of a kind under one fault; returns (outcome, fired).
sub run_one {
    my ($t, $kind, $fault) = @_;
    my $before = () = CG::slurp($t->dir . '/error.log') =~ /injected fault/g;
    my $res = $t->chat(%{ $kind->{req} },
                       headers => { 'X-Chatgate-Fault' => $fault });
    my $id = $res->{headers}{'x-request-id'};
    my $what = "$kind->{name} $fault";
    if (!defined $id) {
        fail("$what: an answer with a request id (got $res->{status})");
        return ('broken', 1);
    }
    ok($SANE{$res->{status}}, "$what: sensible status $res->{status}")
        or diag($res->{content});
    my ($type, $complete);
    if (($res->{headers}{'content-type'} // '') =~ m{^text/event-stream}) {
        my $ev = sse_events($res->{content});
        my $last = $ev->[-1] // {};
        ok(($last->{event} // '') =~ /^(done|error)$/,
           "$what: the stream ends with done or error")
            or diag($res->{content});
        $type = ($last->{event} // '') eq 'error' ? $last->{data}{error}{type}
                                                 : undef;
        $complete = !defined $type;
    } else {
        my $j = $res->{json};
        ok($j, "$what: a JSON body") or diag($res->{content});
        $type = $j && $j->{error} ? $j->{error}{type} : undef;
        $complete = $res->{status} == 200;
    }
    my $u;
    CG::wait_for("usage line of $id", sub {
        ($u) = grep { ($_->{request_id} // '') eq $id } @{ $t->usage_lines };
        $u });
    is($u->{error}, $type, "$what: usage error matches the client's")
        or diag(encode_json($u));
    is($u->{status}, $res->{status}, "$what: usage status matches")
        if !defined $type || $res->{status} != 200;
    # The fault note is logged after the answer: wait a little for it.
    my $fired = 0;
    for (1 .. 25) {
        my $n = () = CG::slurp($t->dir . '/error.log') =~ /injected fault/g;
        if ($n > $before) { $fired = 1; last }
        last if $complete && $_ > 5;
        select(undef, undef, undef, 0.02);
    }
    return ($type // 'ok', $fired);
}

# Walks N upwards for one kind and fault kind; returns how many faults fired.
sub walk {
    my ($t, $kind, $fk) = @_;
    my ($fired_total, %seen) = (0);
    for my $n (1 .. $MAX_N) {
        my ($outcome, $fired) = run_one($t, $kind, "$fk:$n");
        $seen{$outcome}++;
        $fired_total += $fired;
        last unless $fired;
    }
    note("$kind->{name} $fk: $fired_total faults, outcomes "
         . join(', ', map { "$_ x$seen{$_}" } sort keys %seen));
    return $fired_total;
}

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 100000,
               'limits.concurrent_requests' => 0, 'server.workers' => 1);
my $u = CG->new;
$u->start_stack('limits.requests_per_minute' => 1, 'server.workers' => 1);
my $lim = $u->mint('limited');
is($u->chat(token => $lim)->{status}, 200, 'the limited user spends its one request');

my @kinds = (
    { name => 'chat', t => $t, req => { message => 'hello fault' } },
    { name => 'stream', t => $t,
      req => { body => { message => 'stream under faults', stream => JSON::PP::true } } },
    { name => 'bad-token', t => $t, req => { token => 'bogus.token.value' } },
    { name => 'rate-limited', t => $u, req => { token => $lim } },
);
my @workers = ($t->worker_pids, $u->worker_pids);
for my $kind (@kinds) {
    for my $fk (qw(alloc store upstream)) {
        my $n = walk($kind->{t}, $kind, $fk);
        ok($n < $MAX_N, "$kind->{name} $fk: the walk ends ($n faults)");
    }
}
ok(walk($t, $kinds[0], 'alloc') > 5, 'allocations in a chat request are counted');
is_deeply([$t->worker_pids, $u->worker_pids], \@workers, 'no worker died or was replaced');
for my $h ($t, $u) {
    unlike(CG::slurp($h->dir . '/error.log'), qr/killed by signal|exited with/,
           'the master saw no worker crash');
}
# Without a fault the stack still answers normally.
is($t->chat->{status}, 200, 'a plain request succeeds afterwards');

done_testing;
