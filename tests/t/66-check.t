# check catches what serve would hit (as nginx -t does): missing accounts
# named, unwritable log/store/pid paths, a listen off loopback; the master
# names what is missing (never "cannot start: Success"), exits non-zero
# when no worker can start instead of respawning forever, and, started as
# root, leaves no pid file or socket behind after its privilege drop.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use CG;

my $t = CG->new;
my $d = $t->dir;
my $conf = $t->write_config;
my $base = CG::slurp($conf);

sub check_with {
    my ($extra, %o) = @_;
    my $ini = $base;
    $ini =~ s/^$_ = .*\n//mg for @{ $o{drop} // [] };
    my $p = $t->write_file('c.ini', "$ini\n$extra\n", 0644);
    return $t->run_chatgate('check', '-c', $p);
}

my ($rc, $out) = check_with('');
is($rc, 0, 'the test config passes') or diag $out;

for my $c (['user', 'no-such-user-x', 'user'], ['group', 'no-such-group-x', 'group'],
           ['socket_group', 'no-such-group-y', 'group'],
           ['socket_owner', 'no-such-user-y', 'user']) {
    ($rc, $out) = check_with("[server]\n$c->[0] = $c->[1]");
    isnt($rc, 0, "check: a missing [server] $c->[0] fails");
    like($out, qr/\[server\] $c->[0] $c->[1]: no such $c->[2]/,
         "check: names [server] $c->[0] and the missing $c->[2]");
}
like($out, qr/serve would not start/, 'check says serve would not start');

# Paths serve writes, for the account it runs as (as root: [server] user
# nobody, in a child that drops as serve does; else this account).
my $ro = "$d/readonly";
mkdir $ro;
my @as;
if ($> == 0) {
    chmod 0755, $ro;
    @as = ("[server]\nuser = nobody\ngroup = nogroup",
           drop => ['user', 'group']);
} else {
    chmod 0555, $ro;
    @as = ('');
}
my $who = $> == 0 ? 'nobody' : getpwuid($>);
($rc, $out) = check_with("$as[0]\n[log]\nusage_log = $ro/usage.log",
                         drop => ['usage_log', @{ $as[2] // [] }]);
isnt($rc, 0, 'check: a usage log the run account cannot create fails');
like($out, qr/\[log\] usage_log \Q$ro\E\/usage.log: not writable by \Q$who\E/,
     'check: names the usage log and the account');
($rc, $out) = check_with("$as[0]\n[store]\ntype = local\npath = $ro/counters",
                         drop => [@{ $as[2] // [] }]);
isnt($rc, 0, 'check: a local store the run account cannot create fails');
like($out, qr/\[store\] path \Q$ro\E\/counters: not writable by \Q$who\E/,
     'check: names the store path');
($rc, $out) = check_with("[server]\npid_file = $d/no/such/dir/chatgate.pid",
                         drop => ['pid_file']);
isnt($rc, 0, 'check: a pid file that cannot be written fails');
like($out, qr/\[server\] pid_file \Q$d\E\/no\/such\/dir\/chatgate.pid: not writable/,
     'check: names the pid file');

# listen off loopback: a warning, not an error.
($rc, $out) = check_with("[server]\nlisten = 0.0.0.0:9000", drop => ['listen']);
is($rc, 0, 'check: a non-loopback listen is not an error');
like($out, qr/warning: \[server\] listen 0.0.0.0:9000 is not a loopback address/,
     'check: but warned about');
($rc, $out) = check_with("[server]\nlisten = 127.0.0.1:9000", drop => ['listen']);
unlike($out, qr/not a loopback/, 'check: 127.0.0.1 is not warned about');
($rc, $out) = check_with("[server]\nlisten = [::1]:9000", drop => ['listen']);
unlike($out, qr/not a loopback/, 'check: [::1] is not warned about');

# serve: a missing socket_group is named, never "cannot start: Success".
{
    my $p = $t->write_file('sg.ini', "$base\n[server]\nsocket_group = no-such-group-z\n", 0644);
    ($rc, $out) = $t->run_chatgate('serve', '-c', $p);
    my $log = CG::slurp("$d/error.log") . $out;
    isnt($rc, 0, 'serve: a missing socket_group stops the start');
    like($log, qr/\[server\] socket_group no-such-group-z: no such group/,
         'serve: names socket_group and the group');
    unlike($log, qr/Success/, 'serve: no "cannot start: Success"');
}

# serve: when no worker can start, the master says so and exits non-zero.
{
    my $ini = $base;
    $ini =~ s/^usage_log = .*$/usage_log = $ro\/usage.log/m;
    $ini .= "\n[server]\nuser = nobody\ngroup = nogroup\n" if $> == 0;
    my $p = $t->write_file('nowork.ini', $ini, 0644);
    if ($> == 0) {
        $t->give_dir_to_web_user;
        system('chown', 'root', $ro);
    }
    my $pid = $t->spawn('nowork', undef, "$CG::BUILD/chatgate", 'serve', '-c', $p);
    my $status;
    my $end = time + 60;
    while (time < $end) {
        last if waitpid($pid, WNOHANG) == $pid && defined($status = $?);
        sleep 0.05;
    }
    delete $t->{names}{nowork};
    ok(defined $status, 'serve: the master exits when no worker can start');
    if (!defined $status) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    isnt(($status // 0) >> 8, 0, 'serve: with a non-zero status');
    my $log = CG::slurp("$d/error.log");
    like($log, qr/worker start failed: cannot open usage log/, 'the worker says why');
    like($log, qr/no worker can start/, 'the master says it gives up');
}

# Started as root, dropping to nobody, with the pid file and socket in a
# directory only root may write: both are gone after the stop.
SKIP: {
    skip 'needs root', 3 unless $> == 0;
    my $t2 = CG->new;
    my $rd = $t2->dir . '/run';
    mkdir $rd;
    chmod 0755, $rd;
    $t2->start_memcached;
    $t2->start_mock;
    my %o = ('server.user' => 'nobody', 'server.group' => 'nogroup',
             'server.listen' => "$rd/chatgate.sock",
             'server.pid_file' => "$rd/chatgate.pid",
             'limits.requests_per_minute' => 0);
    $t2->write_config(%o);
    $t2->give_dir_to_web_user;
    system('chown', 'root:root', $rd);
    $t2->start_chatgate(%o);
    ok(-S "$rd/chatgate.sock" && -s "$rd/chatgate.pid", 'socket and pid file made');
    $t2->stop('chatgate');
    eval { CG::wait_for('cleanup', sub { !-e "$rd/chatgate.pid"
                                        && !-e "$rd/chatgate.sock" }) };
    ok(!-e "$rd/chatgate.pid", 'the pid file is removed at exit');
    ok(!-e "$rd/chatgate.sock", 'the socket is removed at exit');
}

done_testing;
