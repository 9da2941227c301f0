# Pool modes and limits: dynamic grows under load and shrinks when idle,
# ondemand starts with no worker and lets idle ones go, max_requests
# recycles a worker, request_terminate_timeout kills a stuck one, SIGUSR1
# reopens renamed logs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

# Starts $n slow chat requests in the background; returns their pids.
sub slow_clients {
    my ($t, $n, $ms) = @_;
    my @pids;
    for (1 .. $n) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $r = $t->chat(message => "[[mock:delay_ms=$ms]]");
            exit($r->{status} == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    return @pids;
}

sub failures {
    my $fails = 0;
    for (@_) { waitpid($_, 0); $fails++ if $? }
    return $fails;
}

{
    my $t = CG->new;
    $t->start_stack('limits.requests_per_minute' => 0, 'limits.concurrent_requests' => 0, 'pool.mode' => 'dynamic',
                    'pool.max_children' => 4, 'pool.start_children' => 1,
                    'pool.min_spare' => 1, 'pool.max_spare' => 1);
    is(scalar($t->worker_pids), 1, 'dynamic: starts with start_children');
    my @c = slow_clients($t, 3, 2000);
    CG::wait_for('growth', sub { scalar($t->worker_pids) >= 4 });
    pass('dynamic: grows to max_children while requests keep workers busy');
    is(failures(@c), 0, 'dynamic: every request succeeds');
    CG::wait_for('shrink', sub { scalar($t->worker_pids) == 1 });
    pass('dynamic: shrinks back to max_spare idle workers');
    like(CG::slurp($t->dir . '/error.log'), qr/more idle processes than max_spare/,
         'dynamic: the error log says why a worker left');
}

{
    my $t = CG->new;
    $t->start_memcached;
    $t->start_mock;
    $t->start_chatgate('limits.requests_per_minute' => 0, 'limits.concurrent_requests' => 0,
                       'pool.mode' => 'ondemand', 'pool.max_children' => 3,
                       'pool.idle_timeout' => 1, -no_workers => 1);
    $t->start_nginx;
    # The harness's own probe of the socket was a client: wait until the
    # worker forked for it has been idle for idle_timeout.
    CG::wait_for('no worker', sub { scalar($t->worker_pids) == 0 });
    pass('ondemand: no worker while no client comes');
    is($t->chat->{status}, 200, 'ondemand: the first request is served');
    ok(scalar($t->worker_pids) >= 1, 'ondemand: by a worker forked for it');
    CG::wait_for('idle worker gone', sub { scalar($t->worker_pids) == 0 });
    pass('ondemand: an idle worker leaves after idle_timeout');
    is($t->chat->{status}, 200, 'ondemand: and a new one serves the next');
}

{
    my $t = CG->new;
    $t->start_stack('limits.requests_per_minute' => 0, 'limits.concurrent_requests' => 0, 'server.workers' => 1,
                    'pool.max_requests' => 3, 'provider.timeout_ms' => 10000,
                    'pool.request_terminate_timeout' => 1);
    my ($first) = $t->worker_pids;
    my $ok = 0;
    $ok += $t->chat->{status} == 200 for 1 .. 3;
    is($ok, 3, 'max_requests: three requests succeed');
    CG::wait_for('recycled', sub {
        my @w = $t->worker_pids;
        @w == 1 && $w[0] != $first;
    });
    pass('max_requests: the worker is replaced after its third request');
    is($t->chat->{status}, 200, 'max_requests: its successor serves');

    my ($stuck) = $t->worker_pids;
    my $r = $t->chat(message => '[[mock:delay_ms=4000]]');
    is($r->{status}, 504, 'request_terminate_timeout: the client gets 504');
    is($r->{json}{error}{type}, 'upstream_timeout',
       'request_terminate_timeout: as chatgate\'s own JSON error');
    unlike($r->{content}, qr/mock reply/, 'and no answer arrives');
    CG::wait_for('log', sub {
        CG::slurp($t->dir . '/error.log') =~ /request_terminate_timeout/ });
    pass('request_terminate_timeout: the error log says why');
    CG::wait_for('replacement', sub {
        my @w = $t->worker_pids;
        @w == 1 && $w[0] != $stuck;
    });
    is($t->chat->{status}, 200, 'request_terminate_timeout: the pool recovers');
}

{
    my $t = CG->new;
    $t->start_stack('limits.requests_per_minute' => 0, 'limits.concurrent_requests' => 0, 'server.workers' => 2,
                    'server.threads' => 2);
    is($t->chat->{status}, 200, 'a request before the rotation');
    CG::wait_for('its usage line', sub { @{ $t->usage_lines } == 1 });
    my $d = $t->dir;
    rename "$d/usage.log", "$d/usage.log.1" or die;
    rename "$d/error.log", "$d/error.log.1" or die;
    kill 'USR1', $t->pid_of('chatgate');
    # Each worker says so once it has the signal; every thread then
    # reopens the usage log before its next line.
    CG::wait_for('workers reopened', sub {
        (() = CG::slurp("$d/error.log") =~ /logs reopened/g) == 2 });
    my $ok = 0;
    $ok += $t->chat->{status} == 200 for 1 .. 6;
    is($ok, 6, 'requests after SIGUSR1 succeed');
    # A usage line is written just after its answer: wait for the last.
    eval { CG::wait_for('usage', sub { @{ $t->usage_lines } >= 6 }, 5) };
    is(scalar(@{ $t->usage_lines }), 6, 'SIGUSR1: new usage lines go to the '
       . 'new file');
    # (The key audit events written at start stay there too.)
    is(scalar(grep { /"event":"request"/ } split /\n/,
              CG::slurp("$d/usage.log.1")), 1,
       'SIGUSR1: the rotated file keeps only the old line');
    kill 'HUP', $t->pid_of('chatgate');
    CG::wait_for('reload logged', sub {
        CG::slurp("$d/error.log") =~ /reloaded/ });
    pass('SIGUSR1: the master writes to the new error log');
}

done_testing;
