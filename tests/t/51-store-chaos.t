# Every way the counter store goes away, for every counter that needs it:
# memcached stopped cleanly (SIGTERM) or killed (SIGKILL), a server that
# accepts and never answers, one that resets the connection mid-batch,
# one of three servers gone, and a restart on the same port; for the rate
# limits, the budget, the pre-auth counter and the in-flight count, on
# JSON and on streamed requests. With the default policies (deny) each
# must be a 503 whose usage line says which counter failed closed, an
# error-log line naming the server, exactly one store_down alert, no call
# to the provider, and a settlement the store missed counted once it is
# back (issue 22).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);
use CG;

my $msg = '[[mock:text=abcdefghabcdefghabcdefghabcdefgh]] go';
my %price = (
    'price claude-test-model.input'  => '0',
    'price claude-test-model.output' => '1000000',
    'provider.max_tokens'            => 8,
);
# Each counter alone, so that it is the one that meets the failure.
my %counter = (
    limits   => { 'limits.requests_per_minute' => 1000,
                  'limits.auth_failures_per_minute' => 0 },
    budget   => { 'limits.requests_per_minute' => 0,
                  'limits.auth_failures_per_minute' => 0,
                  'limits.concurrent_requests' => 0,   # budget alone
                  'budget.user_daily' => '80000', %price },
    preauth  => { 'limits.requests_per_minute' => 0,
                  'limits.auth_failures_per_minute' => 5 },
    inflight => { 'limits.requests_per_minute' => 0,
                  'limits.auth_failures_per_minute' => 0,
                  'limits.concurrent_requests' => 2 },
);
my %reason = (limits => 'limits', budget => 'budget', preauth => 'pre-auth',
              inflight => 'limits');

sub memcached_on {
    my ($t, $port, $name) = @_;
    $t->spawn($name // 'memcached', undef, 'memcached', '-l', '127.0.0.1',
              '-p', $port, '-U', '0', '-t', '1', '-m', '32',
              $> == 0 ? ('-u', 'nobody') : ());
    CG::wait_port('memcached', $port);
}

sub fake_memcached {
    my ($t, $mode) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 64, ReuseAddr => 1) or die "$!";
    $t->spawn('memcached', $sock, 'perl', "$CG::ROOT/tests/lib/fake-memcached.pl",
              $mode);
    my $port = $sock->sockport;
    close $sock;
    $t->{mc_port} = $port;
    return $port;
}

# memcached text protocol: the value of key on the server at port.
sub mc_get {
    my ($port, $key) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or return undef;
    print $s "get $key\r\n";
    my $line = <$s> // '';
    return undef unless $line =~ /^VALUE \S+ \d+ (\d+)/;
    read($s, my $v, $1);
    return $v;
}

sub today { POSIX::strftime('%Y%m%d', gmtime) }

sub stack {
    my ($counter, $mode, %o) = @_;
    my $t = CG->new;
    my $port = $mode =~ /^(silent|reset)$/ ? fake_memcached($t, $mode)
                                           : $t->start_memcached;
    $t->start_mock;
    $t->start_chatgate('server.workers' => 1, %{ $counter{$counter} }, %o);
    $t->start_nginx;
    $t->{default_token} = $t->mint('alice');
    return ($t, $port);
}

sub request {
    my ($t, $counter, $stream, %o) = @_;
    my $body = { message => $msg, $stream ? (stream => JSON::PP::true) : () };
    return $t->chat(body => $body,
                    $counter eq 'preauth' ? (token => 'not-a-session') : (), %o);
}

sub alerts_down {
    my ($t) = @_;
    return scalar grep { ($_->{event} // '') eq 'alert'
                         && $_->{alert} eq 'store_down' } @{ $t->log_lines };
}

# The store is away: JSON and streamed requests both get the policy's 503.
sub check_down {
    my ($t, $port, $counter, $label) = @_;
    my $calls = @{ $t->mock_requests };
    for my $stream (0, 1) {
        my $kind = $stream ? 'stream' : 'json';
        my $r = request($t, $counter, $stream);
        is($r->{status}, 503, "$label, $counter, $kind: 503");
        is($r->{json}{error}{type}, 'service_unavailable',
           "$label, $counter, $kind: service_unavailable");
        like($t->usage_for($r)->{reason} // '',
             qr/^\Q$reason{$counter}\E fail-closed.*: memcached 127\.0\.0\.1:$port: /,
             "$label, $counter, $kind: the usage line says which counter failed closed, and where");
    }
    is(scalar @{ $t->mock_requests }, $calls,
       "$label, $counter: no provider call, so no spend went uncounted");
    like(CG::slurp($t->dir . '/error.log'),
         qr/store error \(\Q$reason{$counter}\E, fail-closed\): memcached 127\.0\.0\.1:$port: /,
         "$label, $counter: the error log names the server");
    is(alerts_down($t), 1, "$label, $counter: exactly one store_down alert");
}

# --- the reproduction of the issue: defaults, a budget, SIGTERM ---
{
    my $t = CG->new;
    $t->start_stack('server.workers' => 1, 'budget.user_daily' => '80000',
                    %price);
    $t->{default_token} = $t->mint('alice');
    is($t->chat(message => $msg)->{status}, 200, "warm request $_") for 1 .. 3;
    $t->stop('memcached', 'TERM');
    for my $i (1 .. 3) {
        my $r = $t->chat(message => $msg);
        is($r->{status}, 503, "after SIGTERM, request $i: 503");
        like($t->usage_for($r)->{reason} // '', qr/budget fail-closed/,
             "after SIGTERM, request $i: budget fail-closed in the usage line");
    }
    is(alerts_down($t), 1, 'after SIGTERM: one store_down alert');
    like(CG::slurp($t->dir . '/error.log'), qr/store error .*memcached 127\.0\.0\.1:$t->{mc_port}: /,
         'after SIGTERM: the error log names the server');
}

# --- stopped, killed, silent, reset mid-batch: every counter ---
for my $way (qw(TERM KILL silent reset)) {
    for my $counter (qw(limits budget preauth inflight)) {
        my ($t, $port) = stack($counter, $way);
        if ($way eq 'TERM' || $way eq 'KILL') {
            my $warm = request($t, $counter, 0);
            is($warm->{status}, $counter eq 'preauth' ? 401 : 200,
               "$way, $counter: warm request answered while the store is up");
            $t->stop('memcached', $way);
        }
        check_down($t, $port, $counter, $way);
        $t->stop_all;
    }
}

# --- restart on the same port: answered from the first request on ---
for my $counter (qw(limits budget inflight)) {
    my ($t, $port) = stack($counter, 'TERM');
    is(request($t, $counter, 0)->{status}, 200, "restart, $counter: warm");
    $t->stop('memcached', 'TERM');
    memcached_on($t, $port);
    for my $stream (0, 1) {
        my $r = request($t, $counter, $stream);
        is($r->{status}, 200, "restart, $counter, " . ($stream ? 'stream' : 'json')
           . ': the first requests after the restart are answered');
    }
    if ($counter eq 'limits') {
        my $bucket = int(time / 60);
        my $n = mc_get($port, "cg:r:u:alice:$bucket") // mc_get($port, 'cg:r:u:alice:' . ($bucket - 1));
        is($n, 2, 'restart, limits: both requests counted in the new memcached');
    }
    is(alerts_down($t), 0, "restart, $counter: no store_down alert (the store answered)");
}

# --- a settlement the store missed is counted once it is back ---
for my $stream (0, 1) {
    my $kind = $stream ? 'stream' : 'json';
    my ($t, $port) = stack('budget', 'TERM');
    my $pid = fork() // die;
    if ($pid == 0) {
        my $r = $t->chat(body => { message => "[[mock:delay_ms=1500]] $msg",
                                   $stream ? (stream => JSON::PP::true) : () });
        CG::write_file($t, 'slow.status', $r->{status} . ' ' . ($r->{headers}{'x-request-id'} // ''));
        POSIX::_exit(0);
    }
    CG::wait_for('the slow call at the provider', sub { @{ $t->mock_requests } == 1 });
    $t->stop('memcached', 'TERM');
    waitpid($pid, 0);
    my ($status, $id) = split / /, CG::slurp($t->dir . '/slow.status');
    is($status, 200, "$kind: the call in flight when the store went away is answered");
    my $slow = $t->usage_for({ headers => { 'x-request-id' => $id } });
    ok((grep { $_ eq 'spend_queued' } @{ $slow->{flags} }),
       "$kind: its usage line says the spend is queued");
    memcached_on($t, $port);
    my $r = request($t, 'budget', $stream);
    is($r->{status}, 200, "$kind: the store is back");
    my $next = $t->usage_for($r);
    my $want = $slow->{cost_micro_usd} + $next->{cost_micro_usd};
    ok($slow->{cost_micro_usd} > 0, "$kind: the slow call cost something");
    is(mc_get($port, 'cg:$:u:alice:d:' . today()), $want,
       "$kind: the store holds both spends: none went uncounted");
}

# --- one of three servers gone ---
for my $counter (qw(limits budget)) {
    my $t = CG->new;
    my @port = map { $t->start_memcached("mc$_") } 1 .. 3;
    $t->start_mock;
    $t->start_chatgate('server.workers' => 1, %{ $counter{$counter} },
                       'memcached.servers' => join(',', map { "127.0.0.1:$_" } @port));
    $t->start_nginx;
    $t->stop('mc2', 'TERM');
    my ($ok, $down) = (0, 0);
    for my $i (1 .. 8) {
        my $tok = $t->mint("user$i");
        my $r = $t->chat(token => $tok, body => { message => $msg,
                                                  $i % 2 ? (stream => JSON::PP::true) : () });
        my $u = $t->usage_for($r);
        if ($r->{status} == 503) {
            $down++;
            like($u->{reason}, qr/fail-closed.*: memcached 127\.0\.0\.1:$port[1]: /,
                 "3 servers, $counter, user$i: 503 names the server that is gone");
        } else {
            $ok++;
            is($r->{status}, 200, "3 servers, $counter, user$i: 200 or 503 only");
            if ($counter eq 'limits') {
                my $bucket = int(time / 60);
                my @v = grep { defined } map { my $p = $_; map { mc_get($p, "cg:r:u:user$i:$_") } $bucket, $bucket - 1 } @port[0, 2];
                is_deeply(\@v, [1], "3 servers, $counter, user$i: counted on a live server");
            } else {
                my @v = grep { defined } map { mc_get($_, "cg:\$:u:user$i:d:" . today()) } @port[0, 2];
                is_deeply(\@v, [$u->{cost_micro_usd}], "3 servers, $counter, user$i: spend counted on a live server");
            }
        }
    }
    is($ok + $down, 8, "3 servers, $counter: every request answered by the policy");
    unlike(CG::slurp($t->dir . '/error.log'), qr/memcached 127\.0\.0\.1:($port[0]|$port[2]): /,
           "3 servers, $counter: the error log never blames a live server");
}

done_testing;
