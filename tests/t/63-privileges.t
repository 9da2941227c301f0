# Started as root: chatgate drops to [server] user after opening the socket
# and reading the keys, stays non-dumpable, and gives the socket the
# configured group; TCP connections from addresses outside allowed_clients
# are refused before a byte is read.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use CG;

SKIP: {
    skip 'needs root', 7 unless $> == 0;
    my $t = CG->new;
    my %o = ('limits.requests_per_minute' => 0, 'server.user' => 'nobody',
             'server.group' => 'nogroup', 'server.socket_group' => 'nogroup');
    $t->start_memcached;
    $t->start_mock;
    # The config, keys and logs belong to that user, as in a deployment
    # (rewriting a file keeps its owner).
    $t->write_config(%o);
    $t->give_dir_to_web_user;
    $t->start_chatgate(%o);
    $t->start_nginx;
    is($t->chat->{status}, 200, 'requests are served after the drop');
    my $nobody = getpwnam('nobody');
    for my $pid ($t->pid_of('chatgate'), ($t->worker_pids)[0]) {
        my ($uid) = CG::slurp("/proc/$pid/status") =~ /^Uid:\s+(\d+)/m;
        is($uid, $nobody, "process $pid runs as nobody");
        # PR_SET_DUMPABLE cannot be read from outside on every kernel;
        # the core limit can.
        like(CG::slurp("/proc/$pid/limits"), qr/^Max core file size\s+0\s+0/m,
             "process $pid has core size 0");
    }
    is((stat $t->{sock})[5], scalar(getgrnam('nogroup')),
       'the socket has socket_group');
    kill 'HUP', $t->pid_of('chatgate');
    CG::wait_for('reload', sub {
        CG::slurp($t->dir . '/error.log') =~ /reloaded/ });
    is($t->chat->{status}, 200, 'a reload as nobody re-reads the keys');
}

{
    my $t = CG->new;
    $t->start_memcached;
    $t->start_mock;
    my $port = CG::free_port();
    $t->write_config('server.listen' => "127.0.0.1:$port",
                     'server.allowed_clients' => '192.0.2.7, ::1');
    $t->spawn('chatgate', undef, "$CG::BUILD/chatgate", 'serve', '-c',
              $t->{conf});
    CG::wait_port('chatgate', $port);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
    # A FastCGI BEGIN_REQUEST; an allowed peer would get a response.
    print $s pack('CCnnCx', 1, 1, 1, 8, 0) . pack('nCx5', 1, 0);
    my $n = sysread($s, my $buf, 100);
    ok(!$n, 'a client outside allowed_clients is disconnected unanswered');
    CG::wait_for('log', sub {
        CG::slurp($t->dir . '/error.log') =~ /not in allowed_clients/ });
    pass('and the error log says so');
}

done_testing;
