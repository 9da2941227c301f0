# chatgate reload waits for the outcome (exit 0 only when the new config is
# serving); it, and `chatgate reopen` from logrotate's postrotate, signal
# only a PID that is chatgate's master; the status page counts only real
# respawns and shows the spend.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

my $t = CG->new;
my %o = ('limits.requests_per_minute' => 0, 'status.path' => '/chatgate-status',
         'price claude-test-model.input' => '3',
         'price claude-test-model.output' => '15');
$t->start_stack(%o);
my $conf = $t->{conf};
my $d = $t->dir;
CG::wait_for('pool', sub { scalar($t->worker_pids) == 2 });

sub status {
    my $r = $t->{http}->get($t->url('/chatgate-status'));
    return eval { decode_json($r->{content}) } // {};
}

is($t->chat->{status}, 200, 'a chat request');
my $s = status();
is($s->{respawns}, 0, 'status: the first forks are not respawns');
cmp_ok($s->{spend_usd}, '>', 0, 'status: spend_usd reflects the answered request');
my ($cost) = map { $_->{cost_micro_usd} } grep { ($_->{status} // 0) == 200 }
             @{ $t->usage_lines };
is(sprintf('%.6f', $s->{spend_usd}), sprintf('%.6f', ($cost // 0) / 1e6),
   'status: spend_usd is the usage line\'s cost');

# A good reload: reported, exit 0.
my ($rc, $out) = $t->run_chatgate('reload', '-c', $conf);
is($rc, 0, 'reload: exit 0 when the new config is serving') or diag $out;
like($out, qr/reloaded .*generation 1/, 'reload: says the new config is serving');
is($t->chat->{status}, 200, 'requests are served after the reload');
CG::wait_for('old generation gone', sub { scalar($t->worker_pids) == 2 });
is(status()->{respawns}, 0, 'status: a reload is no respawn');

# A refused reload: the reason, exit 1; the old config keeps serving.
my $good = CG::slurp($conf);
(my $bad = $good) =~ s{^api_key = .*$}{api_key = file:$d/no-such.key}m;
$t->write_file('chatgate.ini', $bad, 0640);
($rc, $out) = $t->run_chatgate('reload', '-c', $conf);
is($rc, 1, 'reload: exit 1 when the master refuses the new config');
like($out, qr/reload refused.*no-such\.key/, 'reload: with the master\'s reason');
is($t->chat->{status}, 200, 'the old config keeps serving');
$t->write_file('chatgate.ini', $good, 0640);

# A worker killed is a respawn.
my ($w) = $t->worker_pids;
kill 'KILL', $w;
CG::wait_for('respawn', sub { (status()->{respawns} // 0) == 1 });
pass('status: a killed worker\'s replacement is one respawn');

# A stale pid file naming some other process: nothing is signalled.
my $other = $t->spawn('sleeper', undef, 'sleep', '300');
my $pidfile = "$d/chatgate.pid";
my $master = CG::slurp($pidfile);
$t->write_file('chatgate.pid', "$other\n", 0644);
($rc, $out) = $t->run_chatgate('reload', '-c', $conf);
isnt($rc, 0, 'reload: refuses a pid that is not chatgate');
like($out, qr/names process $other, which is not chatgate/, 'reload: says so');
ok(kill(0, $other), 'the other process got no SIGHUP');
$t->write_file('chatgate.pid', "$w\n", 0644);
($w) = $t->worker_pids;
$t->write_file('chatgate.pid', "$w\n", 0644);
($rc, $out) = $t->run_chatgate('reload', '-c', $conf);
like($out, qr/a chatgate worker, not the master/, 'reload: refuses a worker\'s pid');

# logrotate's postrotate, as shipped (paths changed): reopen.
my ($post) = CG::slurp("$CG::ROOT/fcgi-conf/logrotate/chatgate")
             =~ /postrotate\n\s*(.*?)\n\s*endscript/s;
$post =~ s{/usr/local/bin/chatgate}{$CG::BUILD/chatgate}g;
$post =~ s{/etc/chatgate/chatgate.ini}{$conf}g;
$t->write_file('chatgate.pid', "$other\n", 0644);
system('sh', '-c', $post);
ok(kill(0, $other), 'postrotate: a stale pid file signals nobody');
$t->write_file('chatgate.pid', $master, 0644);
rename("$d/error.log", "$d/error.log.1");
system('sh', '-c', $post);
CG::wait_for('reopen', sub { CG::slurp("$d/error.log") =~ /logs reopened/ });
pass('postrotate: the master and workers reopen their logs');
$t->stop('sleeper');

done_testing;
