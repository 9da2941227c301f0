# Threads: 200 slow chat requests held at once by 4 processes x 64 threads
# (not 200 processes); the status page reports the busy slots truthfully
# meanwhile, answers Prometheus text on request, and refuses clients that
# are not in [status] allow.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

my $N = 200;
my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 0, 'limits.concurrent_requests' => 0, 'server.workers' => 4,
                'server.threads' => 64, 'status.path' => '/chatgate-status',
                'provider.timeout_ms' => 20000);
CG::wait_for('four workers', sub { scalar($t->worker_pids) == 4 });
pass('four worker processes');

sub status {
    my ($query, %h) = @_;
    my $r = $t->{http}->get($t->url('/chatgate-status' . ($query // '')),
                            { headers => \%h });
    $r->{json} = eval { decode_json($r->{content}) };
    return $r;
}

# A slot turns idle once its thread has its handles: wait for all 256.
my $idle;
CG::wait_for('all threads ready', sub {
    $idle = status();
    ($idle->{json}{pool}{idle} // 0) + ($idle->{json}{pool}{busy} // 0) == 256;
});
is($idle->{status}, 200, 'the status page answers');
is($idle->{json}{pool}{processes}, 4, 'it counts the processes');
is($idle->{json}{pool}{busy} + $idle->{json}{pool}{idle}, 256,
   'and 4 x 64 slots');
is($idle->{json}{pool}{busy}, 1, 'of which only the status request is busy');
is_deeply($idle->{json}{budget_micro_usd},
          { user_daily => 0, user_monthly => 0, site_daily => 0, site_monthly => 0 },
          'it reports the budget caps (none configured: 0)');

# One request first: it also mints the session the clients share, so
# they do not each run `chatgate mint`.
is($t->chat->{status}, 200, 'a first request');
# The clients are forked first and start together when the pipe closes,
# so all of them are in flight at once however slowly forks come.
pipe(my $go_r, my $go_w) or die;
my @pids;
for (1 .. $N) {
    my $pid = fork // die;
    if ($pid == 0) {
        close $go_w;
        sysread($go_r, my $x, 1);
        my $r = $t->chat(message => '[[mock:delay_ms=6000]]');
        exit($r->{status} == 200 && ($r->{json}{text} // '') =~ /mock reply/
             ? 0 : 1);
    }
    push @pids, $pid;
}
close $go_w;
close $go_r;
my $busy = 0;
eval {
    CG::wait_for('all requests in flight', sub {
        my $s = status();
        $busy = $s->{json}{pool}{busy} // 0;
        $busy >= $N + 1;
    }, 15);
};
is($busy, $N + 1, "the status page shows $N chat requests (and itself) busy");
# Each running request's slot names its user (known once the session
# stage ran) and its age; the status request's own slot names no one.
my $named = 0;
eval {
    CG::wait_for('running users', sub {
        $named = grep { $_->{state} eq 'busy' && ($_->{user} // '') eq 'alice'
                        && $_->{age_ms} >= 0 } @{ status()->{json}{slots} };
        $named == $N;
    }, 10);
};
is($named, $N, "the slots name the user of each of the $N running requests");
# A reload with all of them in flight: the old generation finishes them.
kill 'HUP', $t->pid_of('chatgate');
my $fails = 0;
for (@pids) { waitpid($_, 0); $fails++ if $? }
is($fails, 0, "all $N parallel slow requests succeed, across a reload");

my $after = status();
is($after->{json}{requests}, $N + 1, 'it counts every finished chat request');
is($after->{json}{pool}{busy}, 1, 'and no busy slot once they are done');
is(scalar(grep { defined $_->{user} } @{ $after->{json}{slots} }), 0,
   'an idle slot names no user (not the last finished one)');
is($after->{json}{upstream_latency_ms}{count}, $N + 1, 'the latency histogram '
   . 'has every provider call');
ok($after->{json}{tokens}{out} > 0, 'tokens are counted');
my $prom = status('?format=prometheus');
my $n1 = $N + 1;
like($prom->{content}, qr/^chatgate_requests_total $n1$/m,
     'Prometheus text with ?format=prometheus');
like($prom->{content},
     qr/^chatgate_upstream_latency_seconds_bucket\{le="\+Inf"\} $n1$/m,
     'with a cumulative latency histogram');
like(status(undef, Accept => 'text/plain')->{content},
     qr/^chatgate_slots\{state="busy"\} 1$/m, 'and with Accept: text/plain');

# Only [status] allow may read it: reload with an address that is not ours.
my $conf = CG::slurp($t->{conf});
$conf =~ s{^path = /chatgate-status$}{path = /chatgate-status\nallow = 192.0.2.1}m
    or die;
$t->write_file('chatgate.ini', $conf, 0640);
kill 'HUP', $t->pid_of('chatgate');
CG::wait_for('reload', sub {
    (() = CG::slurp($t->dir . '/error.log') =~ /reloaded/g) == 2 });
CG::wait_for('refused', sub { status()->{status} == 403 });
pass('a client outside [status] allow gets 403');
unlike(status()->{content}, qr/requests/, 'and no numbers');

done_testing;
