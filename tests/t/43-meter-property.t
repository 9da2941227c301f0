# The meter as a property: random sequences of requests (JSON and
# streamed, many users at once, spread over two chatgate pools that
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
# A run is 1,000 requests of 16 fresh users (each spends past its cap),
# 32 in flight at once over keep-alive connections from clients started
# once; every third run has one or two store faults, each played once a
# random share of its requests is done. make check runs 100,000 requests
# (seed 1). A request costs about 1 ms of CPU over every process, most of
# it chatgate's and memcached's; the mock's stalls and chatgate's retry
# waits (250 ms and more) cost time, not CPU, which is why each pool
# serves 24 requests at once (2 processes of 12 request contexts; queued
# settlements are per context) and the clients take steps from one
# queue. The next run's steps are queued while this one ends and is
# checked (unless it has faults of its own). A run with a fault has its
# spend checked after the next run's steps, which run the queued
# settlements of every request context (as a drain round would, without
# the wait).
#
# Leases (docs/limits.md, Leases): a lease run is served by a second
# pair of pools with [budget] and [limits] lease_requests drawn from the
# seed (1-24), [store] hosts = 2 and a ledger shared by each pool's
# processes or one per process (nginx passes to them without FastCGI
# keep-alive: see start_nginx below), and 4 light users who stay
# under their cap, so that leases are left unused at the run's end.
# I1, I2, I4, I5 and I6 hold as without leases (a leased budget hold
# lives in a ledger, not in cg:h:, and I3 given back shows none is left);
# the store's spend also never passes the bound of I2 ("I2 store"). I3 is
# relaxed as docs/limits.md states it: while the pools run the store
# holds the log's spend plus at most what the ledgers may hold unused;
# every 5 lease runs (an epoch) both lease pools stop, giving their
# leases back, and each run of the epoch must then hold exactly its log
# ("I3 given back"), but up to one ledger's worth more when the epoch
# killed a worker (SIGKILL, idle) with its leases (stricter, never
# looser), under it where a server was lost, and over it where a
# server paused or timed out (a lease's INCR that ran after chatgate
# gave up stays counted). Then the pools start again with new settings.
#
# CG_PROP_SEED picks the sequence (fixed in make check; `make fuzz` and
# `make meter-property` run it with a fresh seed), CG_PROP_STEPS the
# number of requests, CG_PROP_FAULTS the kinds of store fault (say
# CG_PROP_FAULTS=pause to replay a double count), CG_PROP_LEASES the
# lease runs: 0 none, 1 (the default, make check) every run numbered 0
# or 2 modulo 6 (a third of the runs, half of them with store faults),
# 2 every run.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(strftime _exit);
use Time::HiRes qw(sleep time);
use CG;
use CGHTTP;

# 100,000 usage lines: JSON::PP takes 185 us a line, Cpanel::JSON::XS 3
# (installed with lintian by scripts/deps).
my $decode = eval { require Cpanel::JSON::XS; \&Cpanel::JSON::XS::decode_json }
             // \&JSON::PP::decode_json;

my $seed = $ENV{CG_PROP_SEED} // 1;
my $steps = $ENV{CG_PROP_STEPS} // 100_000;
my $lease_mode = $ENV{CG_PROP_LEASES} // 1;
die "CG_PROP_LEASES is 0, 1 or 2\n" unless $lease_mode =~ /^[012]\z/;
my $workers = 2;                # processes per pool,
my $threads = 12;               # each serving 12 requests at once
my $clients = 32;               # requests in flight at once
my $nusers = 16;                # fresh users per run
my $nlight = 4;                 # and in a lease run, users under the cap
my $concurrent = 2;             # requests a user may have in flight
my $per_run = 1000;
my $cap = 250_000_000;          # $250 a user a day
my $delta_cost = 2_000_000;     # one mock delta: 8 bytes, 2 tokens at $1
my $max_res = 12_000_000;       # one reservation: 8 output tokens at $1
                                # + the input (< 40 tokens at $0.1)
my $mc_timeout_ms = 500;        # a pause outlasts it
my $epoch_runs = 5;             # lease runs between two lease restarts
diag("meter property: seed $seed, $steps steps, leases $lease_mode");

# Two pools (two chatgate instances, each with its own nginx and mock)
# sharing three memcached servers and one session secret; with
# CG_PROP_LEASES, two more, leasing quotas (a run uses one pair).
my $ta = CG->new;
my @mc = map { { name => "mc$_", port => $ta->start_memcached("mc$_") } } 1 .. 3;
my $servers = join ',', map { "127.0.0.1:$_->{port}" } @mc;
my %conf = (
    'server.workers'                 => $workers,
    'server.threads'                 => $threads,
    'memcached.servers'              => $servers,
    'memcached.timeout_ms'           => $mc_timeout_ms,
    'price claude-test-model.input'  => '100000',     # $0.1 a token
    'price claude-test-model.output' => '1000000',    # $1 a token
    'provider.max_tokens'            => 8,
    'provider.retries'               => 1,
    # The first retry waits 250-349 ms (lib/provider/relay.c): about
    # half are retried, half fall back.
    'provider.retry_max_wait_ms'     => 300,
    'provider.idle_timeout_ms'       => 100,
    'provider.fallback'              => 'backup',
    'route backup.model'             => 'claude-test-model',
    'route backup.max_tokens'        => 8,
    'route backup.retries'           => 0,
    'route backup.idle_timeout_ms'   => 100,
    'budget.user_daily'              => '250',
    'limits.requests_per_minute'     => 0,
    'limits.concurrent_requests'     => $concurrent,
);
sub start_pool {
    my ($t, %more) = @_;
    my $d = $t->dir;
    $t->start_chatgate(%conf, %more,
        'route backup.base_url'          => $t->mock_url,
        'route backup.api_key'           => "file:$d/provider.key");
}
my @pools = ($ta);
push @pools, CG->new for 1 .. ($lease_mode == 1 ? 3 : 1);
$_->{secret} = $ta->{secret} for @pools;
my @plain = $lease_mode == 2 ? () : (0, 1);
my @leased = $lease_mode == 0 ? () : $lease_mode == 1 ? (2, 3) : (0, 1);
my ($epoch, %lease) = (0);
# Every run's faults, once reported: a later run's fault may change
# what a lease run's users hold before their epoch ends (end_epoch).
my @history;
for my $p (0 .. $#pools) {
    my $t = $pools[$p];
    $t->start_mock;
    my $leasing = grep { $_ == $p } @leased;
    start_pool($t, $leasing ? lease_conf($t) : ());
    # A lease pool is stopped every epoch: with FastCGI keep-alive, a
    # stop after a worker was killed still waited for [server]
    # shutdown_timeout (10 s) now and then, and its workers then left
    # without giving all leases back.
    $t->start_nginx($leasing ? (keepalive => 0) : ());
}

# The lease pools' settings, drawn from the seed anew for each epoch (a
# restart of both lease pools, every $epoch_runs lease runs): the lease
# sizes, a ledger shared by a pool's processes or one per process, and
# whether a worker is killed (SIGKILL, idle, holding its leases) before
# the epoch ends. [store] hosts is the number of pools.
sub new_epoch {
    $epoch++;
    srand($seed * 7_000_003 + $epoch);
    %lease = (budget => 1 + int rand 24, limits => 1 + int rand 24,
              shared => rand() < 0.5 ? 1 : 0, kill => rand() < 0.3 ? 1 : 0,
              runs => []);
}
sub lease_conf {
    my ($t) = @_;
    new_epoch() unless $lease{budget};
    return ('budget.lease_requests' => $lease{budget},
            'limits.lease_requests' => $lease{limits},
            'store.hosts'           => 2,
            'store.ledger'          => $lease{shared}
                                       ? $t->dir . "/ledger-$epoch" : undef);
}

# What one ledger may hold unused of a caller's budget once nothing is
# in flight (docs/limits.md, Leases): a lease is lease_requests
# reservations, at most a quarter of the headroom per ledger, never less
# than one reservation, and is taken when less than one is left;
# reservations taken before it (at most the in-flight cap, over all
# ledgers) come back to it. A pool has one shared ledger, or a private
# one per process (its request contexts share it).
sub ledgers { 2 * ($lease{shared} ? 1 : $workers) }
sub lease_max {
    my $n = $lease{budget} * $max_res;
    my $share = int($cap / (ledgers() * 4));
    $n = $share if $share < $n;
    return $n > $max_res ? $n : $max_res;
}
sub unused_max {
    my ($n) = @_;           # ledgers
    return $n * (lease_max() + $max_res) + $concurrent * $max_res;
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

# --- memcached, read directly ---

# One connection per server, opened again after a fault.
my @mc_sock;
sub mc_cmd {
    my ($i, $cmd) = @_;
    for my $try (1, 2) {
        $mc_sock[$i] //= IO::Socket::INET->new(
            PeerAddr => "127.0.0.1:$mc[$i]{port}", Timeout => 2) or return undef;
        my $s = $mc_sock[$i];
        local $SIG{PIPE} = 'IGNORE';
        my @out;
        if (print $s "$cmd\r\n") {
            while (defined(my $l = <$s>)) {
                $l =~ s/\s+$//;
                return \@out if $l =~ /^(END|ERROR|CLIENT_ERROR|SERVER_ERROR)/;
                push @out, $l;
            }
        }
        # The server went away since the last command: once more, anew.
        close $s;
        $mc_sock[$i] = undef;
    }
    return undef;
}

# The values of @keys on every live server: { key => [value, server] }.
sub mc_get {
    my (@keys) = @_;
    my %kv;
    for my $i (0 .. $#mc) {
        my $got = mc_cmd($i, "get @keys") or next;
        for (my $j = 0; $j + 1 < @$got; $j += 2) {
            my ($k) = $got->[$j] =~ /^VALUE (\S+)/ or next;
            $kv{$k} = [$got->[$j + 1], $i];
        }
    }
    return \%kv;
}

# Every key on every live server that starts with one of @prefixes
# (metadump prints keys URI-encoded): { key => [value, server] }.
sub mc_keys {
    my (@prefixes) = @_;
    my @found;
    for my $i (0 .. $#mc) {
        my $dump = mc_cmd($i, 'lru_crawler metadump all') or next;
        for (@$dump) {
            my ($k) = /^key=(\S+)/ or next;
            $k =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
            push @found, $k if grep { index($k, $_) == 0 } @prefixes;
        }
    }
    return {} unless @found;
    my %uniq = map { $_ => 1 } @found;
    return mc_get(sort keys %uniq);
}

sub mc_start {
    my ($m) = @_;
    $ta->spawn($m->{name}, undef, 'memcached', '-l', '127.0.0.1',
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
        my $pid = $ta->pid_of($m->{name});
        kill('STOP', $pid);
        sleep($mc_timeout_ms / 1000 * (1.2 + rand(1)));
        kill('CONT', $pid);
        return;
    }
    $ta->stop($m->{name}, $how eq 'kill' ? 'KILL' : 'TERM');
    sleep(0.1 + rand(0.3)) if $how eq 'stop';
    mc_start($m);
}

# --- the usage logs, read as they grow ---

my @log_off = (0) x @pools;
my @fresh;                      # request lines read since the last take
sub read_logs {
    for my $i (0 .. $#pools) {
        open(my $fh, '<', $pools[$i]->dir . '/usage.log') or next;
        seek($fh, $log_off[$i], 0);
        while (defined(my $l = <$fh>)) {
            last unless $l =~ /\n\z/;   # being written: next time
            $log_off[$i] += length $l;
            push @fresh, $decode->($l)
                if index($l, '"event":"request"') >= 0;
        }
    }
}

# --- the requests ---

sub chat_headers {
    my ($token) = @_;
    return ['Content-Type' => 'application/json', Origin => $CG::ORIGIN,
            Cookie => "chatgate_session=$token"];
}

# A chat request's body. The messages are the directives above, which
# need no JSON escaping: built as a string, at a tenth of encode_json's
# cost.
sub chat_body {
    my ($message, $stream) = @_;
    die "not a plain message: $message" if $message =~ /["\\\x00-\x1f]/;
    return qq({"message":"$message") . ($stream ? ',"stream":true}' : '}');
}

# One step's request on the connections to the pools; its outcome.
sub step {
    my ($http, $s) = @_;
    my $r = $http->[$s->{pool}]->request('POST', '/api/chat',
                                         chat_headers($s->{token}), $s->{body});
    my $type = '';
    $type = $1 if $r->{content} =~ /"type"\s*:\s*"([a-z_]+)"/;
    return { id => $r->{headers}{'x-request-id'} // '',
             status => $r->{status}, user => $s->{user}, kind => $s->{kind},
             type => $r->{status} == 200 && !$s->{stream} ? '' : $type,
             leak => ($r->{content} =~ /mock internal detail/ ? 1 : 0) };
}

# The clients: $clients processes started once, each taking the next
# step from a shared queue as soon as it is done with one (so that a
# client held by a few slow steps does not hold the run). A run's plan
# is a file the clients read when they meet the run's first step; a
# queue entry is a run and a step number (8 bytes: a pipe read of 8
# bytes takes 8 whole bytes); each client writes its outcomes to a file
# of its own per run, then a byte per step to the done pipe.
my ($queue_w, $done_r, %client);
my @fields = qw(user token kind pool stream body);
my @outcome = qw(id status user kind type leak);
sub client_loop {
    my ($c, $queue_r, $done_w) = @_;
    my @http = map { CGHTTP->new($_->{port}) } @pools;
    my ($run, @plan, $fh) = (0);
    while (sysread($queue_r, my $rec, 8) == 8) {
        my ($r, $i) = unpack('NN', $rec);
        if ($r != $run) {
            $run = $r;
            @plan = map { my %s; @s{@fields} = split /\t/; \%s }
                    split /\n/, CG::slurp($ta->dir . "/plan-$run.tsv");
            open($fh, '>>', $ta->dir . "/out-$run-$c.tsv") or return 2;
        }
        my $o = step(\@http, $plan[$i]);
        syswrite($fh, join("\t", @$o{@outcome}) . "\n") or return 2;
        syswrite($done_w, pack('N', $run)) or return 2;
    }
    return 0;
}

sub start_clients {
    pipe(my $queue_r, $queue_w) or die "pipe: $!";
    pipe($done_r, my $done_w) or die "pipe: $!";
    for my $c (1 .. $clients) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $queue_w;
            close $done_r;
            _exit(client_loop($c, $queue_r, $done_w));
        }
        $client{$pid} = $c;
    }
    close $queue_r;
    close $done_w;
}

# The clients end once the queue is closed.
sub stop_clients {
    close $queue_w;
    my $ok = 1;
    for my $pid (keys %client) {
        waitpid($pid, 0);
        $ok = 0 if $?;
    }
    return $ok;
}

# Waits until $n steps of run $run are done (the done pipe says which
# run each step was of: 4 bytes, written whole); 0 when no step ended for
# a minute (a client died or hangs).
my %done_of;
sub wait_done {
    my ($run, $n) = @_;
    while (($done_of{$run} // 0) < $n) {
        my $rin = '';
        vec($rin, fileno($done_r), 1) = 1;
        select(my $rout = $rin, undef, undef, 60) or return 0;
        my $got = sysread($done_r, my $buf, 4096) or return 0;
        $done_of{$_}++ for unpack('N*', $buf);
    }
    return 1;
}

# Queues run $R's steps: its plan file first, then the queue entries.
sub start_run {
    my ($R) = @_;
    my ($run, $plan) = @$R{qw(run plan)};
    $ta->write_file("plan-$run.tsv", join('', map {
        my $s = $_; join("\t", @$s{@fields}) . "\n" } @$plan));
    die "a run's queue must fit in the pipe" if 8 * @$plan > 32768;
    syswrite($queue_w, join('', map { pack('NN', $run, $_) } 0 .. $#$plan))
        == 8 * @$plan or die "queue: $!";
}

# Plays run $R's faults, each once its share of the run's steps is done.
sub play_faults {
    my ($R) = @_;
    my $n = @{ $R->{plan} };
    for my $f (sort { $a->{at} <=> $b->{at} } @{ $R->{faults} }) {
        wait_done($R->{run}, int($f->{at} * $n))
            or die "run $R->{run}: no step ended for a minute";
        mc_fault($mc[$f->{server}], $f->{how});
    }
}

# The outcomes of run $R, once all its steps are done.
sub end_run {
    my ($R) = @_;
    my ($run, $d) = ($R->{run}, $ta->dir);
    wait_done($run, scalar @{ $R->{plan} })
        or die "run $run: no step ended for a minute";
    delete $done_of{$run};
    my @all;
    for my $f (glob "$d/out-$run-*.tsv") {
        for (split /\n/, CG::slurp($f)) {
            my %o;
            @o{@outcome} = split /\t/, $_, -1;
            push @all, \%o;
        }
        unlink $f;
    }
    unlink "$d/plan-$run.tsv";
    return \@all;
}

# Settlements a worker queued while a server did not answer are run again
# before that worker's next request (at most once a second). A drain
# round sends, a second after the last (the first: after $since), one
# request to every request context of both pools of $pair at once (each its own
# user, held 100 ms at the mock, so that no context takes two: a process
# accepts only while it has a free one); rounds go on until
# $settled says memcached holds what the logs say, or $rounds rounds have
# passed (a worker never reached leaves its queue, and I3 then says so).
# $min rounds are run anyway: with a lost server, memcached is under the
# log for good, and a queued settlement may still count twice. Returns
# the rounds run.
sub drain_queues {
    my ($run, $settled, $min, $rounds, $since, $pair) = @_;
    my $last = $since // time;
    for my $round (1 .. $rounds) {
        return $round - 1 if $round > $min && $settled->();
        sleep($last + 1.1 - time) if $last + 1.1 > time;
        my @conns;
        for my $p (@$pair) {
            for my $w (1 .. $workers * $threads) {
                my $u = "p${run}d${round}p${p}w$w";
                my $c = CGHTTP->new($pools[$p]{port});
                $c->send_request('POST', '/api/chat',
                    chat_headers($ta->sign_token($u)),
                    chat_body("[[mock:delay_ms=100]] $TEXT", 0));
                push @conns, $c;
            }
        }
        $_->response for @conns;
        $last = time;
    }
    $settled->();
    return $rounds;
}

# CG_PROP_FAULTS narrows the kinds of fault (say, to replay one).
my @fault_kinds = split ' ', $ENV{CG_PROP_FAULTS} // 'kill stop restart pause';

sub first5 { my @l = @_; return @l[0 .. ($#l < 4 ? $#l : 4)] }

# A run, drawn from the seed alone: its users, steps and faults (every
# third run has one or two, played while its requests run).
sub plan_run {
    my ($run, $n) = @_;
    srand($seed * 1_000_003 + $run);
    my @faults;
    if ($run % 3 == 0) {
        @faults = map { { at => 0.1 + rand(0.7), server => int rand @mc,
                          how => $fault_kinds[int rand @fault_kinds] } }
                  1 .. 1 + int rand 2;
    }
    my $leases = $lease_mode == 2
                 || ($lease_mode == 1 && ($run % 6 == 0 || $run % 6 == 2));
    my %R = (run => $run, faults => \@faults, faulted => {}, losses => 0,
             paused => {}, date => strftime('%Y%m%d', gmtime), bad => {},
             leases => $leases, pair => $leases ? \@leased : \@plain);
    for (@faults) {
        if ($_->{how} eq 'pause') { $R{paused}{$_->{server}}++; next }
        $R{faulted}{$_->{server}}++;
        $R{losses}++;
    }
    $R{users} = [ map { "p${run}u$_" } 1 .. $nusers ];
    # A lease run also has light users, far from their cap: theirs are
    # the leases left unused when the run ends.
    push @{ $R{users} }, map { "p${run}l$_" } 1 .. $nlight if $leases;
    my %tokens = map { $_ => $ta->sign_token($_) } @{ $R{users} };
    for my $i (1 .. $n) {
        my $k = pick_kind();
        my $u = $R{users}[int rand $nusers];
        $u = $R{users}[$nusers + int rand $nlight] if $leases && rand() < 0.03;
        my $pool = $R{pair}[int rand 2];
        my $stream = rand() < 0.5 ? 1 : 0;
        push @{ $R{plan} }, { user => $u, token => $tokens{$u},
            kind => $k->[1], pool => $pool, stream => $stream,
            body => chat_body($k->[2]->("r${run}s$i"), $stream) };
    }
    return \%R;
}

# I1: one usage line per request, once every worker has written it.
# Also whether a store timeout nobody planned (a loaded machine) made
# the run one with a fault: its settlements are queued and run again,
# like a pause's, and slots may be left held (docs/limits.md).
sub take_lines {
    my ($R) = @_;
    my %want = map { $_->{id} => 1 } grep { $_->{id} ne '' } @{ $R->{res} };
    my (@lines, %seen);
    eval {
        CG::wait_for("usage lines of run $R->{run}", sub {
            read_logs();
            my @later;
            for (@fresh) {
                if ($want{$_->{request_id} // ''}) {
                    push @lines, $_;
                    $seen{$_->{request_id}}++;
                } elsif (($_->{user} // '') =~ /^p(\d+)[ul]/ && $1 > $R->{run}) {
                    push @later, $_;    # the next run's, already started
                }
            }
            @fresh = @later;
            keys(%seen) >= keys(%want) }, 30);
    };
    $R->{lines} = \@lines;
    $R->{bad}{'I1 lines:'} = [ grep { ($seen{$_} // 0) != 1 } keys %want ];
    my $noid = grep { $_->{id} eq '' } @{ $R->{res} };
    $R->{bad}{'I1 no request id:'} = [ $noid ] if $noid;
    $R->{unplanned} = !@{ $R->{faults} } && grep {
        grep { $_ eq 'store_down' || $_ eq 'spend_queued' } @{ $_->{flags} // [] }
        or ($_->{reason} // '') =~ /fail-closed/ } @lines;
}

# I2, I3, I4 per user. A spend key found on a server no fault touched
# was there all run; one found nowhere or on a faulted server may have
# been lost. In a run with a fault, memcached is read once queued
# settlements have run: this is called after the next run's steps (which
# reach every request context, as a drain round would), and drains while
# memcached and the logs still differ.
sub check_spend {
    my ($R) = @_;
    my ($date, $losses) = @$R{qw(date losses)};
    my %logged;
    $logged{$_->{user} // ''} += $_->{cost_micro_usd} // 0 for @{ $R->{lines} };
    my @keys = map { "cg:\$:u:$_:d:$date" } @{ $R->{users} };
    my $spend = mc_get(@keys);
    my $lost_user = sub {
        my $e = $spend->{"cg:\$:u:$_[0]:d:$date"};
        return !$losses ? 0 : !$e ? $losses : ($R->{faulted}{$e->[1]} // 0);
    };
    $R->{drained} = drain_queues($R->{run}, sub {
        $spend = mc_get(@keys);
        for my $u (@{ $R->{users} }) {
            next if $lost_user->($u);
            my $e = $spend->{"cg:\$:u:$u:d:$date"};
            return 0 if ($e ? $e->[0] : 0) != ($logged{$u} // 0);
        }
        return 1;
    }, $losses ? 1 : 0, 12, $R->{t_end}, $R->{pair})
        if (@{ $R->{faults} } || $R->{unplanned}) && !$R->{leases};
    # The reservations of a caller in flight when a server is lost: its
    # slots (concurrent_requests), and as many again per earlier loss (a
    # lost slot counter starts again at 0 while requests still run).
    my $inflight = $concurrent * (1 + $losses);
    my %mine;
    push @{ $mine{$_->{user} // ''} }, $_ for @{ $R->{lines} };
    for my $u (@{ $R->{users} }) {
        my ($spent, $cut) = (0, 0);
        for (@{ $mine{$u} // [] }) {
            $spent += $_->{cost_micro_usd} // 0;
            $cut++ if ($_->{error} // '') eq 'budget_exceeded'
                      && ($_->{cost_micro_usd} // 0) > 0;
            push @{ $R->{bad}{I4} }, "$_->{request_id} 200 at cost 0"
                if $_->{status} == 200 && !($_->{cost_micro_usd} // 0);
        }
        my $e = $spend->{"cg:\$:u:$u:d:$date"};
        my $held = $e ? $e->[0] : 0;
        my $lost = $lost_user->($u);
        my $bound = $cap + $cut * $delta_cost + $lost * $cap
                  + $losses * $inflight * $max_res;
        push @{ $R->{bad}{I2} }, "$u spent $spent, cap $cap, $cut cut, "
                                 . "$lost of $losses losses with the spend"
            if $spent > $bound;
        if ($R->{leases}) {
            $R->{spent}{$u} = $spent;
            $R->{lost}{$u} = $lost;
            $R->{server}{$u} = $e->[1] if $e;
            check_leased($R, $u, $held, 0);
            # The store never stays past the cap (a lease's part past it
            # is given back at once), but for the pieces past a
            # reservation; unless a lease's INCR timed out and ran later.
            push @{ $R->{bad}{'I2 store'} }, "$u: memcached $held, bound $bound"
                if $held > $bound && !loose($R, $R->{server}{$u});
            next;
        }
        # Exact, queued settlements included, unless the server holding
        # the spend lost it; even then never more than the log.
        push @{ $R->{bad}{I3} }, "$u: memcached $held, log $spent"
                                 . ($lost ? " ($lost lost)" : '')
            if $lost ? $held > $spent : $held != $spent;
    }
}

# A run where the store may hold a lease nobody has: a lease's INCR that
# timed out (a paused server, or a store timeout nobody planned) and ran
# later stays counted (stricter, never looser: docs/limits.md).
# Per server $at holding the caller's spend (undef: found nowhere).
sub loose {
    my ($R, $at) = @_;
    return $R->{unplanned}
        || (defined $at ? $R->{paused}{$at} : %{ $R->{paused} });
}

# I3 with leases (docs/limits.md, Leases): the store also counts what
# the ledgers hold unused, so while the pools run (final 0) it holds the
# log's spend and at most what every ledger may hold; once they have
# given it back (final 1: both lease pools stopped) exactly the log's
# spend, or up to one ledger's worth more if a worker was killed with its
# lease. A run with a fault is checked only then: a lost server may hold
# less than the log, a loose run (above) more.
sub check_leased {
    my ($R, $u, $held, $final) = @_;
    my ($spent, $lost) = ($R->{spent}{$u}, $R->{lost}{$u});
    my $faulty = @{ $R->{faults} } || $R->{unplanned};
    return 0 if $faulty && !$final;
    # A later run of the epoch may have lost the server holding the
    # spend, or had a give-back (a lease expired) time out.
    if ($final) {
        my $at = $R->{server}{$u};
        $lost ||= defined $at ? $R->{later}{lost}{$at} : $R->{later}{losses};
    }
    my $slack = !$final ? unused_max(ledgers())
              : $lease{killed} ? unused_max(1) : 0;
    my $low = $lost ? 0 : $spent;
    my $at = $R->{server}{$u};
    my $high = $final && (loose($R, $at) || loose($R->{later}, $at))
             ? undef : $spent + $slack;
    my $what = "$u: memcached $held, log $spent, allowed $low.."
             . ($high // 'any') . ($lost ? " ($lost lost)" : '');
    push @{ $R->{bad}{$final ? 'I3 under the log' : 'I3'} }, $what
        if $held < $low;
    push @{ $R->{bad}{$final ? 'I3 given back' : 'I3'} }, $what
        if defined $high && $held > $high;
    return !$lost && defined $high;     # exact, or one ledger over
}

# The end of a lease epoch: queued settlements are run (one drain round,
# if a run had a fault), maybe a worker is killed, both lease pools stop
# (giving their leases back), every run of the epoch has its store spend
# checked once more (check_leased, final) and, unless $last, the pools
# start again with the next epoch's settings.
sub end_epoch {
    my ($last) = @_;
    my @runs = @{ $lease{runs} // [] } or return;
    my $t0 = time;
    my $E = { run => "lease epoch $epoch (runs $runs[0]{run}-$runs[-1]{run})",
              faults => [], res => [], bad => {} };
    drain_queues($runs[-1]{run}, sub { 1 }, 1, 1, $runs[-1]{t_end}, \@leased)
        if grep { @{ $_->{faults} } || $_->{unplanned} } @runs;
    my @p = map { $pools[$_] } @leased;
    my %before;
    for my $R (@runs) {
        my $kv = mc_get(map { "cg:\$:u:$_:d:$R->{date}" } @{ $R->{users} });
        @before{keys %$kv} = values %$kv;
    }
    if ($lease{kill}) {
        my ($w) = $p[0]->worker_pids;
        $lease{killed} = kill('KILL', $w) if $w;
    }
    # The master may end before its workers have given their leases
    # back: wait for them too.
    my @w = map { $_->worker_pids } @p;
    $_->stop('chatgate') for @p;
    CG::wait_for('lease workers gone', sub { !grep { kill(0, $_) } @w }, 20);
    for my $R (@runs) {
        my %later = (lost => {}, losses => 0, paused => {}, unplanned => 0);
        for my $H (grep { $_->{run} > $R->{run} } @history) {
            $later{lost}{$_}++ for keys %{ $H->{faulted} };
            $later{paused}{$_}++ for keys %{ $H->{paused} };
            $later{losses} += $H->{losses};
            $later{unplanned} ||= $H->{unplanned};
        }
        $R->{later} = \%later;
        my @keys = map { "cg:\$:u:$_:d:$R->{date}" } @{ $R->{users} };
        my $spend = mc_get(@keys);
        for my $u (@{ $R->{users} }) {
            my $k = "cg:\$:u:$u:d:$R->{date}";
            my $e = $spend->{$k};
            check_leased($R, $u, $e ? $e->[0] : 0, 1) or next;
            $E->{unused} += ($before{$k} ? $before{$k}[0] : 0) - $R->{spent}{$u};
            $E->{unused_kept} += ($e ? $e->[0] : 0) - $R->{spent}{$u};
        }
        push @{ $E->{bad}{"run $R->{run}: $_"} }, @{ $R->{bad}{$_} }
            for grep { /under the log|given back/ } keys %{ $R->{bad} };
    }
    $E->{note} = sprintf('lease_requests %d/%d, %s ledger%s, '
        . '$%.2f held unused, $%.2f of it kept, %.1f s',
        @lease{qw(budget limits)}, $lease{shared} ? 'shared' : 'private',
        $lease{killed} ? ', a worker killed' : '',
        ($E->{unused} // 0) / 1e6, ($E->{unused_kept} // 0) / 1e6,
        time - $t0);
    report($E);
    return if $last;
    new_epoch();
    start_pool($_, lease_conf($_)) for @p;
    note(sprintf('lease pools started again in %.1f s', time - $t0));
}

# I5: what reached the client.
sub check_client {
    my ($R) = @_;
    $R->{bad}{I5} = [ map { "$_->{kind}: $_->{status} $_->{type}" }
        grep { !$allowed_status{$_->{status}} || $_->{leak}
               || ($_->{type} ne '' && !$allowed_type{$_->{type}}) }
        @{ $R->{res} } ];
}

# I6: nothing left in flight or held after a run without faults.
sub check_held {
    my ($R) = @_;
    my %mine = map { $_ => 1 } @{ $R->{users} };
    my $kv = mc_keys(map { ("cg:c:u:$_:", "cg:h:u:$_:") } @{ $R->{users} });
    for my $k (sort keys %$kv) {
        my ($u) = $k =~ /^cg:[ch]:u:([^:]+):/ or next;
        next unless $mine{$u};
        $R->{slots}++;
        push @{ $R->{bad}{I6} }, "$k = $kv->{$k}[0]" if $kv->{$k}[0] != 0;
    }
}

my ($run, $done, $fail, $nfaults) = (0, 0, 0, 0);
my $t_start = time;
sub report {
    my ($R) = @_;
    my @faults = @{ $R->{faults} };
    my @bad = grep { @{ $R->{bad}{$_} } } sort keys %{ $R->{bad} };
    if (@bad) {
        $fail++;
        diag(($R->{note} ? '' : 'run ') . "$R->{run} (seed $seed, leases "
             . "$lease_mode) broke an invariant:");
        diag("  faults: " . join(', ', map { "$_->{how} mc$_->{server}" } @faults))
            if @faults;
        for my $i (@bad) {
            my @l = @{ $R->{bad}{$i} };
            if ($i =~ /^I1/) { diag("  $i @{[ first5(@l) ]}") }
            else { diag("  $i $_") for $i =~ /^(run \d+: )?I[23]/ ? @l : first5(@l) }
        }
    }
    return note("$R->{run}: $R->{note}, given back") if $R->{note};
    push @history, { run => $R->{run}, faulted => $R->{faulted},
                     losses => $R->{losses}, paused => $R->{paused},
                     unplanned => $R->{unplanned} };
    my %by;
    $by{"$_->{status}"}++ for @{ $R->{res} };
    note(sprintf("run %d%s: %d steps, %d faults%s%s, %s%s, %.1f s in",
         $R->{run}, $R->{leases} ? ' (leases)' : '',
         scalar @{ $R->{res} }, scalar(@faults),
         $R->{unplanned} ? ' (a store timeout)' : '',
         $R->{drained} ? ", $R->{drained} drain rounds" : '',
         $R->{slots} ? "$R->{slots} slots and holds back to 0, " : '',
         join(', ', map { "$_: $by{$_}" } sort keys %by), time - $t_start));
}

# Runs one after the other, the next one's steps queued as soon as this
# one's faults are played, unless it has faults of its own: those wait
# until this run's checks have read memcached. A run with a fault has its
# spend checked after the next run's steps.
my ($pending, $planned) = (undef, 0);
sub next_run {
    return undef if $planned >= $steps;
    my $n = $steps - $planned < $per_run ? $steps - $planned : $per_run;
    $planned += $n;
    my $R = plan_run(++$run, $n);
    $nfaults += @{ $R->{faults} };
    return $R;
}
start_clients();
my $R = next_run();
start_run($R);
while ($R) {
    play_faults($R);
    my $N = next_run();
    # The lease pools restart after this run: the next run waits if it
    # is theirs.
    my $restart = $R->{leases} && @{ $lease{runs} } + 1 == $epoch_runs;
    my $early = $N && !@{ $N->{faults} } && !($restart && $N->{leases});
    start_run($N) if $early;
    $R->{res} = end_run($R);
    $R->{t_end} = time;
    $done += @{ $R->{plan} };
    delete $R->{plan};
    take_lines($R);
    check_client($R);
    if ($pending) {
        check_spend($pending);
        report($pending);
        $pending = undef;
    }
    # A lease run's spend is checked at once, and again at the end of
    # its epoch (end_epoch), which runs its queued settlements.
    if (!$R->{leases} && (@{ $R->{faults} } || $R->{unplanned})) {
        $pending = $R;
    } else {
        check_spend($R);
        check_held($R) unless @{ $R->{faults} } || $R->{unplanned};
        report($R);
    }
    if ($R->{leases}) {
        push @{ $lease{runs} }, $R;
        delete @$R{qw(lines res)};
        end_epoch(!$N) if $restart;
    }
    start_run($N) if $N && !$early;
    $R = $N;
}
if ($pending) {
    check_spend($pending);
    report($pending);
}
end_epoch(1);
ok(stop_clients(), 'every client ended well');
is($fail, 0, "every invariant held over $run runs, $done steps, "
             . "$nfaults store faults (seed $seed)");
done_testing;
