# The meter as a property: random sequences of requests (JSON and
# streamed, several users at once), random provider behaviour (honest,
# usage stripped or zero, max_tokens ignored, stalls, 5xx then success,
# 5xx for good, truncated streams, error events) and store faults
# (memcached killed and restarted between runs) against the real server
# (nginx, chatgate, memcached, the mock provider). After every run the
# invariants are checked against the usage log and memcached itself:
#
#   I1  every request has exactly one usage line;
#   I2  no caller's spend passes its cap, except by the one piece of a
#       stream that carried an answer over its reservation (at most one
#       delta, $2 here, per answer cut with budget_exceeded);
#   I3  the spend memcached holds for each caller is exactly the sum of
#       its usage lines (no spend uncounted, none counted twice);
#   I4  every answer served is paid (200 => cost > 0);
#   I5  only chatgate's own statuses and error types reach the client,
#       never the provider's error text.
#
# CG_PROP_SEED picks the sequence (fixed in make check; `make fuzz` runs
# it with a fresh seed), CG_PROP_STEPS the number of requests.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP qw(decode_json encode_json);
use POSIX qw(strftime _exit);
use CG;

my $seed = $ENV{CG_PROP_SEED} // 1;
my $steps = $ENV{CG_PROP_STEPS} // 2000;
my $clients = 6;
my $per_run = 250;
my $cap = 250_000_000;          # $250 a user a day
my $delta_cost = 2_000_000;     # one mock delta: 8 bytes, 2 tokens at $1
diag("meter property: seed $seed, $steps steps");

my $t = CG->new;
my $d = $t->dir;
my $mc = $t->start_memcached;
$t->start_mock;
$t->start_chatgate(
    'server.workers'                 => 4,
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
    'limits.concurrent_requests'     => 0,
);
$t->start_nginx;

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

sub mc_get {
    my ($key) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$mc") or return undef;
    print $s "get $key\r\n";
    my ($v, $l) = (0);
    while (defined($l = <$s>)) {
        if ($l =~ /^VALUE \S+ \d+ \d+/) { $v = <$s>; $v =~ s/\s+$//; next }
        last if $l =~ /^(END|ERROR)/;
    }
    close $s;
    return $v;
}

sub restart_memcached {
    $t->stop('memcached', 'KILL');
    $t->spawn('memcached', undef, 'memcached', '-l', '127.0.0.1', '-p', $mc,
              '-U', '0', '-t', '1', '-m', '32', $> == 0 ? ('-u', 'nobody') : ());
    CG::wait_for('memcached back',
                 sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$mc") });
}

# Runs one run's steps in $clients processes; returns the results.
sub run_steps {
    my ($plan) = @_;
    my @slices;
    push @{ $slices[$_ % $clients] }, $plan->[$_] for 0 .. $#$plan;
    my %pid;
    for my $c (0 .. $#slices) {
        my $out = "$d/prop-$c.json";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
            my @res;
            for my $s (@{ $slices[$c] }) {
                my $body = encode_json({ message => $s->{message},
                                         ($s->{stream} ? (stream => JSON::PP::true) : ()) });
                my $r = $http->request('POST', $t->url, { headers => {
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
    my @all;
    for my $pid (keys %pid) {
        waitpid($pid, 0);
        push @all, @{ decode_json(CG::slurp($pid{$pid})) };
    }
    return \@all;
}

my %tokens;
my ($run, $done, $fail) = (0, 0, 0);
my $date = strftime('%Y%m%d', gmtime);
while ($done < $steps) {
    $run++;
    srand($seed * 1_000_003 + $run);
    restart_memcached() if $run % 4 == 0;     # a store fault between runs
    my @users = map { "p${run}u$_" } 1 .. 4;
    $tokens{$_} = $t->mint($_) for @users;
    my $n = $steps - $done < $per_run ? $steps - $done : $per_run;
    my @plan;
    for my $i (1 .. $n) {
        my $k = pick_kind();
        my $u = $users[int rand @users];
        push @plan, { user => $u, token => $tokens{$u}, kind => $k->[1],
                      stream => rand() < 0.5 ? 1 : 0,
                      message => $k->[2]->("r${run}s$i") };
    }
    my $res = run_steps(\@plan);
    $done += $n;

    # I1: one usage line per request, once every worker has written it.
    my %want = map { $_->{id} => 1 } grep { $_->{id} ne '' } @$res;
    my @lines;
    eval {
        CG::wait_for("usage lines of run $run", sub {
            @lines = grep { $want{$_->{request_id} // ''} } @{ $t->usage_lines };
            @lines >= keys %want }, 30);
    };
    my %seen;
    $seen{$_->{request_id}}++ for @lines;
    my @bad1 = grep { ($seen{$_} // 0) != 1 } keys %want;
    my @noid = grep { $_->{id} eq '' } @$res;

    # I2, I3, I4 per user.
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
        push @bad2, "$u spent $spent, cap $cap, $cut cut"
            if $spent > $cap + $cut * $delta_cost;
        my $held = mc_get("cg:\$:u:$u:d:$date") // 'unreachable';
        push @bad3, "$u: memcached $held, log $spent" if $held ne $spent;
    }
    # I5: what reached the client.
    my @bad5 = map { "$_->{kind}: $_->{status} $_->{type}" }
        grep { !$allowed_status{$_->{status}} || $_->{leak}
               || ($_->{type} ne '' && !$allowed_type{$_->{type}}) } @$res;

    my $ok = !@bad1 && !@noid && !@bad2 && !@bad3 && !@bad4 && !@bad5;
    $fail++ unless $ok;
    unless ($ok) {
        diag("run $run (seed $seed) broke an invariant:");
        diag("  I1 lines: @bad1[0 .. ($#bad1 < 4 ? $#bad1 : 4)]") if @bad1;
        diag("  I1 no request id: " . scalar(@noid)) if @noid;
        diag("  I2 $_") for @bad2;
        diag("  I3 $_") for @bad3;
        diag("  I4 $_") for @bad4[0 .. ($#bad4 < 4 ? $#bad4 : 4)];
        diag("  I5 $_") for @bad5[0 .. ($#bad5 < 4 ? $#bad5 : 4)];
    }
    my %by;
    $by{"$_->{status}"}++ for @$res;
    note("run $run: $n steps, " . join(', ', map { "$_: $by{$_}" } sort keys %by));
}
is($fail, 0, "every invariant held over $run runs, $done steps (seed $seed)");
done_testing;
