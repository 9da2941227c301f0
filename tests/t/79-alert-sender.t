# Alerts are delivered by one sender process, a child of the master forked
# before any worker thread existed, never by a fork from a threaded worker
# (issue 14): the webhook and the command still get each alert; the
# command's parent is the sender and the sender's parent the master; a
# killed sender is replaced and the queue kept; a reload with another
# command replaces it; a stopped sender fills the queue, and the alerts
# that do not fit are dropped and logged while every request is answered.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

sub stat_of {
    my ($pid) = @_;
    my $s = CG::slurp("/proc/$pid/stat");
    my ($comm, $ppid) = $s =~ /^\d+ \((.*)\) \S+ (\d+)/s;
    return ($comm // '', $ppid // 0);
}

# The command logs the alert and who ran it: its parent and that one's.
sub command_script {
    my ($t, $name) = @_;
    my $d = $t->dir;
    return $t->write_file("$name.sh", <<"SH", 0755);
#!/bin/sh
cat >> $d/$name.log
s=\$(cat /proc/\$PPID/stat)
set -- \${s##*) }
echo "\$PPID \$2" >> $d/$name.parent
SH
}

sub lines_of { return grep { /\S/ } split /\n/, CG::slurp($_[0]) }

# One spike alert: a user's second request in the window.
my $n_users = 0;
sub spike {
    my ($t) = @_;
    my $tok = $t->mint('spiky' . ++$n_users);
    my @st = map { $t->chat(token => $tok)->{status} } 1 .. 2;
    return "@st";
}

sub alerts { scalar grep { ($_->{event} // '') eq 'alert' } @{ $_[0]->usage_lines } }

sub one_sender {
    my ($t, $not) = @_;
    my @s;
    CG::wait_for('one alert sender', sub {
        @s = $t->alert_sender_pids;
        @s == 1 && (!$not || $s[0] != $not) });
    return $s[0];
}

my $t = CG->new;
my $hook = $t->start_hook;
my %conf = ('limits.requests_per_minute' => 100,
            'limits.concurrent_requests' => 0,
            'limits.auth_failures_per_minute' => 0,
            'alerts.spike_requests_per_minute' => 1,
            'alerts.webhook' => $hook,
            'alerts.command' => command_script($t, 'cmd'));
$t->start_stack(%conf);
my $master = $t->pid_of('chatgate');
my $d = $t->dir;

# --- the sender is the master's child; the alert arrives through it -----
my $sender = one_sender($t);
my ($comm, $ppid) = stat_of($sender);
is($ppid, $master, 'the alert sender is a child of the master');
my @workers = $t->worker_pids;
is(scalar @workers, 2, 'beside the two workers');
is(spike($t), '200 200', 'a spike alert is raised');
CG::wait_for('webhook', sub { @{ $t->hook_bodies } >= 1 });
CG::wait_for('command', sub { lines_of("$d/cmd.parent") >= 1 });
like(decode_json($t->hook_bodies->[0])->{text}, qr/^chatgate alert: /,
     'the webhook got it');
like(CG::slurp("$d/cmd.log"), qr/"event":"alert".*"alert":"spike"/,
     'the command got the alert line on stdin');
my ($parent, $grand) = split ' ', (lines_of("$d/cmd.parent"))[0];
is($parent, $sender, 'the command was run by the alert sender');
is($grand, $master, 'whose parent is the master');
ok(!grep({ $_ == $parent } @workers), 'not by a worker');
for my $w (@workers) {
    my @tasks = glob("/proc/$w/task/*");
    # One thread: the event loop (issue 17); no fork happens in it.
    is(scalar @tasks, 1, "worker $w is one thread, its event loop");
    my $kids = join '', map { CG::slurp("$_/children") } @tasks;
    is($kids =~ s/\s+//gr, '', "worker $w has no child");
}

# --- a killed sender is replaced; alerts keep arriving -----------------
kill 'KILL', $sender;
my $next = one_sender($t, $sender);
is((stat_of($next))[1], $master, 'a replacement sender, child of the master');
CG::wait_for('the death logged', sub {
    CG::slurp("$d/error.log") =~ /alert sender $sender killed by signal 9; starting another/ });
pass('the death is in the error log');
is(spike($t), '200 200', 'another alert');
CG::wait_for('webhook', sub { @{ $t->hook_bodies } >= 2 });
CG::wait_for('command', sub { lines_of("$d/cmd.parent") >= 2 });
is((split ' ', (lines_of("$d/cmd.parent"))[1])[0], $next,
   'delivered by the replacement');

# --- a reload with another command replaces the sender ------------------
$t->write_config(%conf, 'alerts.command' => command_script($t, 'cmd2'));
kill 'HUP', $master;
my $third = one_sender($t, $next);
CG::wait_for('new workers', sub {
    my %old = map { $_ => 1 } @workers;
    my @now = $t->worker_pids;
    @now == 2 && !grep { $old{$_} } @now });
is(spike($t), '200 200', 'an alert after the reload');
CG::wait_for('the new command', sub { lines_of("$d/cmd2.parent") >= 1 });
is((split ' ', (lines_of("$d/cmd2.parent"))[0])[0], $third,
   'the new command, run by the new sender');
is(scalar(lines_of("$d/cmd.parent")), 2, 'the old command no more');
CG::wait_for('webhook', sub { @{ $t->hook_bodies } >= 3 });

# --- a stopped sender: the queue fills, alerts are dropped, never waited for
kill 'STOP', $third;
my $before = alerts($t);
my $hooks = @{ $t->hook_bodies };
my @statuses;
my $dropped = sub { scalar(() = CG::slurp("$d/error.log")
                     =~ /alert dropped: .*the alert sender's queue is full/g) };
while ($dropped->() == 0 && $n_users < 300) {
    push @statuses, spike($t);
}
ok($dropped->() >= 1, 'a full queue drops the delivery, in the error log');
is(scalar(grep { $_ ne '200 200' } @statuses), 0,
   'every request answered while the sender was stopped ('
   . scalar(@statuses) . ' alerts)');
my $raised = alerts($t) - $before;
is($raised, scalar @statuses, 'each dropped alert is still in the usage log');
kill 'CONT', $third;
my $want = $hooks + $raised - $dropped->();
CG::wait_for('the queue delivered', sub { @{ $t->hook_bodies } >= $want }, 60);
is(scalar @{ $t->hook_bodies }, $want,
   'once it runs again, the queued alerts arrive, each once');

done_testing;
