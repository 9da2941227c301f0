# The process pool: a killed worker is replaced, SIGTERM lets requests in
# flight finish, SIGHUP reloads without dropping requests, a bad config on
# reload is refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use CG;

my $t = CG->new;
$t->start_stack('server.workers' => 2, 'limits.requests_per_minute' => 0,
               'limits.concurrent_requests' => 0);

my @w = $t->worker_pids;
is(scalar @w, 2, 'two workers');
kill 'KILL', $w[0];
CG::wait_for('replacement worker', sub {
    my @now = $t->worker_pids;
    @now == 2 && !grep { $_ == $w[0] } @now;
});
pass('a worker killed with SIGKILL is replaced');
is($t->chat->{status}, 200, 'the next request succeeds') for 1 .. 4;
like(CG::slurp($t->dir . '/error.log'), qr/killed by signal 9/, 'the error log says so');

# A worker killed mid-request: that client gets an error, the pool recovers.
{
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = $t->chat(message => '[[mock:delay_ms=1500]]');
        exit($r->{status} == 200 ? 0 : 1);
    }
    sleep 0.5;
    kill 'KILL', $t->worker_pids;
    waitpid($pid, 0);
    isnt($? >> 8, 0, 'the client of a killed worker gets an error');
    CG::wait_for('pool back', sub { scalar($t->worker_pids) == 2 });
    is($t->chat->{status}, 200, 'the pool recovers');
}

# SIGHUP: new workers, no failed request, bad config refused.
{
    my @before = $t->worker_pids;
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = $t->chat(message => '[[mock:delay_ms=1000]]');
        exit($r->{status} == 200 ? 0 : 1);
    }
    sleep 0.3;
    kill 'HUP', $t->pid_of('chatgate');
    my $fails = 0;
    for (1 .. 10) { $fails++ if $t->chat->{status} != 200; sleep 0.05 }
    waitpid($pid, 0);
    is($? >> 8, 0, 'a request in flight during SIGHUP completes');
    is($fails, 0, 'no request fails during a reload');
    CG::wait_for('old workers gone', sub {
        my %old = map { $_ => 1 } @before;
        !grep { $old{$_} } $t->worker_pids;
    });
    pass('old workers leave after a reload');

    my $conf = CG::slurp($t->{conf});
    $t->write_file('chatgate.ini', $conf . "\n[bogus]\nx = 1\n", 0640);
    my @mid = $t->worker_pids;
    kill 'HUP', $t->pid_of('chatgate');
    CG::wait_for('reload refused', sub {
        CG::slurp($t->dir . '/error.log') =~ /reload refused/ });
    is_deeply([$t->worker_pids], \@mid, 'a bad config keeps the running workers');
    is($t->chat->{status}, 200, 'and they keep serving');
    $t->write_file('chatgate.ini', $conf, 0640);
}

# SIGTERM with a request in flight: it completes, then everything stops.
{
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = $t->chat(message => '[[mock:delay_ms=1500]]');
        exit($r->{status} == 200 && $r->{json}{text} =~ /mock reply/ ? 0 : 1);
    }
    sleep 0.5;
    my $master = $t->pid_of('chatgate');
    my @workers = $t->worker_pids;
    kill 'TERM', $master;
    waitpid($pid, 0);
    is($? >> 8, 0, 'the request in flight at SIGTERM completes with its answer');
    my $end = time + 10;
    my $gone = 0;
    while (time < $end) {
        if (waitpid($master, WNOHANG) == $master) { $gone = 1; last }
        sleep 0.05;
    }
    ok($gone, 'the master exits');
    is($? >> 8, 0, 'with status 0');
    delete $t->{names}{chatgate};
    ok(!grep({ kill 0, $_ } @workers), 'no worker is left running');
    ok(!-e $t->dir . '/chatgate.sock', 'the socket is removed');
    ok(!-e $t->dir . '/chatgate.pid', 'the pid file is removed');
}

done_testing;
