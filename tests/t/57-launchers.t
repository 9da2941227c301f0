# chatgate started by a launcher that opens the socket for it, with nginx
# in front: spawn-fcgi (socket on fd 0: one worker, no master) and
# systemd-socket-activate (LISTEN_FDS, fd 3: the full pool).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

sub stack {
    my ($launcher, %o) = @_;
    my $t = CG->new;
    $t->start_memcached;
    $t->start_mock;
    my $sock = $t->dir . '/launched.sock';
    $t->start_launched([map { s/SOCK/$sock/r } @$launcher],
                       'server.listen' => $sock,
                       'limits.requests_per_minute' => 0, %o);
    $t->start_nginx;
    return $t;
}

SKIP: {
    skip 'spawn-fcgi not installed', 4 unless -x '/usr/bin/spawn-fcgi';
    my $t = stack(['spawn-fcgi', '-n', '-s', 'SOCK', '-M', '0660', '--']);
    my $r = $t->chat(message => 'hello via spawn-fcgi');
    is($r->{status}, 200, 'spawn-fcgi: a chat request succeeds');
    like($r->{json}{text} // '', qr/mock reply/, 'spawn-fcgi: with the answer');
    like(CG::slurp($t->dir . '/error.log'), qr/serving on the inherited socket/,
         'spawn-fcgi: chatgate serves as one worker on fd 0');
    is(scalar($t->worker_pids), 0, 'spawn-fcgi: no master, no children');
}

SKIP: {
    skip 'spawn-fcgi not installed', 3 unless -x '/usr/bin/spawn-fcgi';
    my $t = stack(['spawn-fcgi', '-n', '-C', '3', '-s', 'SOCK', '--']);
    CG::wait_for('pool', sub { scalar($t->worker_pids) == 3 });
    pass('PHP_FCGI_CHILDREN=3 (spawn-fcgi -C 3): a master with 3 workers');
    my $ok = 0;
    $ok += $t->chat->{status} == 200 for 1 .. 3;
    is($ok, 3, 'PHP_FCGI_CHILDREN: requests succeed');
    like(CG::slurp($t->dir . '/error.log'), qr/inherited socket \(fd 0\)/,
         'PHP_FCGI_CHILDREN: on the inherited socket');
}

SKIP: {
    skip 'systemd-socket-activate not installed', 4
        unless -x '/usr/bin/systemd-socket-activate';
    my $t = stack(['systemd-socket-activate', '-l', 'SOCK'],
                  'server.workers' => 2);
    my $r = $t->chat(message => 'hello via socket activation');
    is($r->{status}, 200, 'socket activation: a chat request succeeds');
    like($r->{json}{text} // '', qr/mock reply/,
         'socket activation: with the answer');
    CG::wait_for('pool', sub { scalar($t->worker_pids) == 2 });
    like(CG::slurp($t->dir . '/error.log'), qr/systemd socket \(fd 3\)/,
         'socket activation: the master runs its pool on fd 3');
    my $sock = $t->dir . '/launched.sock';
    $t->stop('nginx');
    $t->stop('chatgate');
    ok(-S $sock, 'socket activation: the socket is systemd\'s; chatgate '
       . 'does not remove it');
}

done_testing;
