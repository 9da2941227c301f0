# The meter as a property: random sequences of requests (JSON and
# streamed, several users at once, spread over two chatgate pools that
# share three memcached servers), random provider behaviour (honest,
# usage stripped or zero, max_tokens ignored, stalls, 5xx then success,
# 5xx for good, truncated streams, error events) and store faults (a
# memcached server killed, stopped or restarted in the middle of a run,
# while requests are in flight) against the real servers (nginx,
# chatgate, memcached, the mock provider). After every run the
# invariants are checked against both usage logs and memcached itself:
#
#   I1  every request has exactly one usage line (in one pool's log);
#   I2  no caller's spend passes its cap, except by the one piece of a
#       stream that carried an answer over its reservation (at most one
#       delta, $2 here, per answer cut with budget_exceeded). When a
#       server lost what it held mid-run (killed, stopped or restarted:
#       docs/limits.md, Stores), each loss may add the caller's
#       reservations then in flight (their holds are gone), and one more
#       cap if it held the caller's spend;
#   I3  the spend memcached holds for each caller is exactly the sum of
#       its usage lines (no spend uncounted, none counted twice), also in
#       a run with a fault once every queued settlement has been run again
#       (a paused server runs the settlement chatgate gave up waiting for,
#       and the resend must not count it again); where a server lost what
#       it held (killed or restarted), never more than that sum;
#   I4  every answer served is paid (200 => cost > 0);
#   I5  only chatgate's own statuses and error types reach the client,
#       never the provider's error text;
#   I6  in a run without a fault nothing is left held: every in-flight
#       slot (cg:c:) and budget hold (cg:h:) of the run's callers is back
#       to 0 on every server.
#
# CG_PROP_SEED picks the sequence (fixed in make check; `make fuzz` and
# `make meter-property` run it with a fresh seed), CG_PROP_STEPS the
# number of requests, CG_PROP_FAULTS the kinds of store fault (say
# CG_PROP_FAULTS=pause to replay a double count).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP qw(decode_json encode_json);
use POSIX qw(strftime _exit);
use Time::HiRes qw(sleep);
use CG;

my $seed = $ENV{CG_PROP_SEED} // 1;
my $steps = $ENV{CG_PROP_STEPS} // 2000;
my $clients = 6;
my $concurrent = 2;             # requests a user may have in flight
my $per_run = 250;
my $cap = 250_000_000;          # $250 a user a day
my $delta_cost = 2_000_000;     # one mock delta: 8 bytes, 2 tokens at $1
my $max_res = 12_000_000;       # one reservation: 8 output tokens at $1
                                # + the input (< 40 tokens at $0.1)
diag("meter property: seed $seed, $steps steps");

# Two pools (two chatgate instances, each with its own nginx and mock)
# sharing three memcached servers and one session secret.
my $a = CG->new;
my @mc = map { { name => "mc$_", port => $a->start_memcached("mc$_") } } 1 .. 3;
my $servers = join ',', map { "127.0.0.1:$_->{port}" } @mc;
my $b = CG->new;
$b->{secret} = $a->{secret};
my @pools = ($a, $b);
for my $t (@pools) {
    my $d = $t->dir;
    $t->start_mock;
    $t->start_chatgate(
        'server.workers'                 => 2,
        'memcached.servers'              => $servers,
        'price claude-test-model.input'  => '100000',     # $0.1 a token
        'price claude-test-model.output' => '1000000',    # $1 a token
        'provider.max_tokens'            => 8,
        'provider.retries'               => 1,
        'provider.retry_max_wait_ms'     => 300,
        'provider.idle_timeout_ms'       => 300,
        'provider.fallback'              => 'backup',
        'route backup.model'             => 'claude-test-model',
        'route backup.base_url'          => $t->mock_url,
        'route backup.api_key'           => "file:$d/provider.key",
        'route backup.max_tokens'        => 8,
        'route backup.retries'           => 0,
        'route backup.idle_timeout_ms'   => 300,
        'budget.user_daily'              => '250',
        'limits.requests_per_minute'     => 0,
        'limits.concurrent_requests'     => $concurrent,
    );
    $t->start_nginx;
}

# Behaviours, with weights; ID makes a fail_first set unique per step.
my $TEXT = '[[mock:text=abcdefghabcdefghabcdefghabcdefgh]]';
my @kinds = (
    [40, 'honest',     sub { $TEXT }],
    [10, 'no_usage',   sub { "[[mock:no_usage]] $TEXT" }],
    [10, 'zero_usage', sub { "[[mock:zero_usage]] $TEXT" }],
    [10, 'greedy',     sub { '[[mock:big=2000]]' }],
    [ 1, 'stall',      sub { "[[mock:fail_first=1]] [[mock:stall_after=0]] [[mock:id=$_[0]]] $TEXT" }],
    [ 4, 'flaky',      sub { "[[mock:fail_first=1]] [[mock:status=500]] [[mock:id=$_[0]]] $TEXT" }],
    [ 3, 'down',       sub { "[[mock:status=503]] $TEXT" }],
    [ 3, 'truncated',  sub { "[[mock:fail_first=1]] [[mock:truncate]] [[mock:id=$_[0]]] $TEXT" }],
    [ 3, 'error_event', sub { "[[mock:error_event]] $TEXT" }],
);
my $wsum = 0;
$wsum += $_->[0] for @kinds;
sub pick_kind {
    my $x = rand($wsum);
    for (@kinds) { return $_ if ($x -= $_->[0]) < 0 }
    return $kinds[0];
}

my %allowed_status = map { $_ => 1 } (200, 429, 502, 503, 504);
my %allowed_type = map { $_ => 1 } qw(budget_exceeded upstream_error
    upstream_timeout service_unavailable rate_limited);

# One memcached command; the lines of its answer up to END (or undef when
# the server does not answer).
sub mc_cmd {
    my ($port, $cmd) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 2) or return undef;
    print $s "$cmd\r\n";
    my @out;
    while (defined(my $l = <$s>)) {
        $l =~ s/\s+$//;
        last if $l =~ /^(END|ERROR|CLIENT_ERROR|SERVER_ERROR)/;
        push @out, $l;
    }
    close $s;
    return \@out;
}

# Every key on every live server whose name starts with $prefix, with
# its value: { key => [value, server index] }.
sub mc_keys {
    my ($prefix) = @_;
    my %kv;
    for my $i (0 .. $#mc) {
        my $dump = mc_cmd($mc[$i]{port}, 'lru_crawler metadump all') or next;
        for (@$dump) {
            my ($k) = /^key=(\S+)/ or next;
            $k =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
            next unless index($k, $prefix) == 0;
            my $got = mc_cmd($mc[$i]{port}, "get $k") or next;
            $kv{$k} = [$got->[1], $i] if @$got >= 2;
        }
    }
    return \%kv;
}

sub mc_start {
    my ($m) = @_;
    $a->spawn($m->{name}, undef, 'memcached', '-l', '127.0.0.1',
              '-p', $m->{port}, '-U', '0', '-t', '1', '-m', '32',
              $> == 0 ? ('-u', 'nobody') : ());
    CG::wait_for("$m->{name} back",
                 sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$m->{port}") });
}

# A store fault on server $m: killed (SIGKILL) and started again at once,
# stopped (SIGTERM) and started again a moment later, or restarted; each
# loses what the server held. Or paused (SIGSTOP) past chatgate's
# [memcached] timeout_ms and resumed: it keeps what it held, and then
# runs the requests chatgate gave up waiting for.
sub mc_fault {
    my ($m, $how) = @_;
    if ($how eq 'pause') {
        my $pid = $a->pid_of($m->{name});
        kill('STOP', $pid);
        sleep(1.2 + rand(1));
        kill('CONT', $pid);
        return;
    }
    $a->stop($m->{name}, $how eq 'kill' ? 'KILL' : 'TERM');
    sleep(0.2 + rand(0.6)) if $how eq 'stop';
    mc_start($m);
}

# Runs one run's steps in $clients processes while the parent plays the
# run's faults; returns the results.
sub run_steps {
    my ($plan, $faults) = @_;
    my @slices;
    push @{ $slices[$_ % $clients] }, $plan->[$_] for 0 .. $#$plan;
    my %pid;
    my $d = $a->dir;
    for my $c (0 .. $#slices) {
        my $out = "$d/prop-$c.json";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
            my @res;
            for my $s (@{ $slices[$c] }) {
                my $body = encode_json({ message => $s->{message},
                                         ($s->{stream} ? (stream => JSON::PP::true) : ()) });
                my $r = $http->request('POST', $pools[$s->{pool}]->url, { headers => {
                    'Content-Type' => 'application/json',
                    Origin => $CG::ORIGIN,
                    Cookie => "chatgate_session=$s->{token}" },
                    content => $body });
                my $type = '';
                if ($r->{content} =~ /"type"\s*:\s*"([a-z_]+)"/) { $type = $1 }
                push @res, { id => $r->{headers}{'x-request-id'} // '',
                             status => $r->{status}, user => $s->{user},
                             kind => $s->{kind}, stream => $s->{stream},
                             type => $r->{status} == 200 && !$s->{stream} ? '' : $type,
                             leak => ($r->{content} =~ /mock internal detail/ ? 1 : 0) };
            }
            open(my $fh, '>', $out) or _exit(2);
            print $fh encode_json(\@res);
            close $fh;
            _exit(0);
        }
        $pid{$pid} = $out;
    }
    for my $f (@$faults) {
        sleep($f->{after});
        mc_fault($mc[$f->{server}], $f->{how});
    }
    my @all;
    for my $pid (keys %pid) {
        waitpid($pid, 0);
        push @all, @{ decode_json(CG::slurp($pid{$pid})) };
    }
    return \@all;
}

# Settlements a worker queued while a server did not answer are run again
# before that worker's next request (at most once a second): requests of
# a user of its own to both pools, until memcached holds what the log
# says for every user of the run or $rounds rounds have passed (a worker
# that was never reached leaves its queue, and I3 then says so).
sub drain_queues {
    my ($run, $exact, $rounds) = @_;
    my $u = "p${run}drain";
    my $token = $a->mint($u);
    my $http = HTTP::Tiny->new(timeout => 30);
    for my $round (1 .. $rounds) {
        return 1 if $exact->();
        sleep(1.1);
        for my $t (@pools) {
            $http->request('POST', $t->url, { headers => {
                'Content-Type' => 'application/json', Origin => $CG::ORIGIN,
                Cookie => "chatgate_session=$token" },
                content => encode_json({ message => $TEXT }) }) for 1 .. 4;
        }
    }
    return $exact->();
}

# CG_PROP_FAULTS narrows the kinds of fault (say, to replay one).
my @fault_kinds = split ' ', $ENV{CG_PROP_FAULTS} // 'kill stop restart pause';

sub first5 { my @l = @_; return @l[0 .. ($#l < 4 ? $#l : 4)] }

my %tokens;
my ($run, $done, $fail, $nfaults) = (0, 0, 0, 0);
my $date = strftime('%Y%m%d', gmtime);
while ($done < $steps) {
    $run++;
    srand($seed * 1_000_003 + $run);
    # Every third run has one or two faults while its requests run.
    my @faults;
    if ($run % 3 == 0) {
        @faults = map { { after => 0.3 + rand(1.5), server => int rand @mc,
                          how => $fault_kinds[int rand @fault_kinds] } }
                  1 .. 1 + int rand 2;
    }
    $nfaults += @faults;
    my (%faulted, $losses);
    for (grep { $_->{how} ne 'pause' } @faults) {
        $faulted{$_->{server}}++;
        $losses++;
    }
    my @users = map { "p${run}u$_" } 1 .. 4;
    $tokens{$_} = $a->mint($_) for @users;
    my $n = $steps - $done < $per_run ? $steps - $done : $per_run;
    my @plan;
    for my $i (1 .. $n) {
        my $k = pick_kind();
        my $u = $users[int rand @users];
        push @plan, { user => $u, token => $tokens{$u}, kind => $k->[1],
                      pool => int rand @pools,
                      stream => rand() < 0.5 ? 1 : 0,
                      message => $k->[2]->("r${run}s$i") };
    }
    my $res = run_steps(\@plan, \@faults);
    $done += $n;

    # I1: one usage line per request, once every worker has written it.
    my %want = map { $_->{id} => 1 } grep { $_->{id} ne '' } @$res;
    my @lines;
    eval {
        CG::wait_for("usage lines of run $run", sub {
            @lines = grep { $want{$_->{request_id} // ''} }
                     map { @{ $_->usage_lines } } @pools;
            @lines >= keys %want }, 30);
    };
    my %seen;
    $seen{$_->{request_id}}++ for @lines;
    my @bad1 = grep { ($seen{$_} // 0) != 1 } keys %want;
    my @noid = grep { $_->{id} eq '' } @$res;

    # I2, I3, I4 per user. A spend key found on a server no fault touched
    # was there all run; one found nowhere or on a faulted server may
    # have been lost.
    my %logged;
    for (@lines) {
        $logged{$_->{user} // ''} += $_->{cost_micro_usd} // 0;
    }
    my $spend = mc_keys('cg:$:u:');
    drain_queues($run, sub {
        $spend = mc_keys('cg:$:u:');
        for my $u (@users) {
            my $e = $spend->{"cg:\$:u:$u:d:$date"};
            return 0 if ($e ? $e->[0] : 0) != ($logged{$u} // 0);
        }
        return 1;
    }, 12) if @faults;
    my (@bad2, @bad3, @bad4);
    for my $u (@users) {
        my @mine = grep { ($_->{user} // '') eq $u } @lines;
        my ($spent, $cut) = (0, 0);
        for (@mine) {
            $spent += $_->{cost_micro_usd} // 0;
            $cut++ if ($_->{error} // '') eq 'budget_exceeded'
                      && ($_->{cost_micro_usd} // 0) > 0;
            push @bad4, "$_->{request_id} 200 at cost 0"
                if $_->{status} == 200 && !($_->{cost_micro_usd} // 0);
        }
        my $e = $spend->{"cg:\$:u:$u:d:$date"};
        my $held = $e ? $e->[0] : 0;
        my $lost = !$losses ? 0 : !$e ? $losses : ($faulted{$e->[1]} // 0);
        # The reservations of a caller in flight when a server is lost:
        # its slots (concurrent_requests), and as many again per earlier
        # loss (a lost slot counter starts again at 0 while requests
        # still run).
        my $inflight = $concurrent * (1 + ($losses // 0));
        my $bound = $cap + $cut * $delta_cost + $lost * $cap
                  + ($losses // 0) * $inflight * $max_res;
        push @bad2, "$u spent $spent, cap $cap, $cut cut, $lost of "
                    . ($losses // 0) . " losses with the spend"
            if $spent > $bound;
        # Exact, queued settlements included, unless the server holding
        # the spend lost it; even then never more than the log.
        push @bad3, "$u: memcached $held, log $spent"
            . ($lost ? " ($lost lost)" : '')
            if $lost ? $held > $spent : $held != $spent;
    }
    # I5: what reached the client.
    my @bad5 = map { "$_->{kind}: $_->{status} $_->{type}" }
        grep { !$allowed_status{$_->{status}} || $_->{leak}
               || ($_->{type} ne '' && !$allowed_type{$_->{type}}) } @$res;
    # I6: nothing left in flight or held after a run without faults.
    my ($slots, @bad6) = (0);
    unless (@faults) {
        my %mine = map { $_ => 1 } @users;
        for my $pfx ('cg:c:u:', 'cg:h:u:') {
            my $kv = mc_keys($pfx);
            for my $k (sort keys %$kv) {
                my ($u) = $k =~ /^cg:[ch]:u:([^:]+):/ or next;
                $slots++ if $mine{$u};
                push @bad6, "$k = $kv->{$k}[0]"
                    if $mine{$u} && $kv->{$k}[0] != 0;
            }
        }
    }

    my $ok = !@bad1 && !@noid && !@bad2 && !@bad3 && !@bad4 && !@bad5
             && !@bad6;
    $fail++ unless $ok;
    unless ($ok) {
        diag("run $run (seed $seed) broke an invariant:");
        diag("  faults: " . join(', ', map { "$_->{how} mc$_->{server}" } @faults))
            if @faults;
        diag("  I1 lines: @{[ first5(@bad1) ]}") if @bad1;
        diag("  I1 no request id: " . scalar(@noid)) if @noid;
        diag("  I2 $_") for @bad2;
        diag("  I3 $_") for @bad3;
        diag("  I4 $_") for first5(@bad4);
        diag("  I5 $_") for first5(@bad5);
        diag("  I6 $_") for first5(@bad6);
    }
    my %by;
    $by{"$_->{status}"}++ for @$res;
    note("run $run: $n steps, " . scalar(@faults) . " faults, "
         . ($slots ? "$slots slots and holds back to 0, " : '')
         . join(', ', map { "$_: $by{$_}" } sort keys %by));
}
is($fail, 0, "every invariant held over $run runs, $done steps, "
             . "$nfaults store faults (seed $seed)");
done_testing;
