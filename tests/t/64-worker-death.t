# A worker that dies mid-request (issue 23): the master writes the usage
# line the worker could not (status, user, route, "worker died"), so the
# usage log has exactly one line per request accepted; and every death of
# every generation, a draining one included, is logged with its signal
# and counted on the status page.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use POSIX ();
use CG;

my $t = CG->new;
$t->start_stack('server.workers' => 1, 'status.path' => '/chatgate-status',
                'limits.requests_per_minute' => 0);
$t->{default_token} = $t->mint('alice');
my $err = sub { CG::slurp($t->dir . '/error.log') };

sub status_page {
    my $r = $t->{http}->get($t->url('/chatgate-status?format=json'));
    return eval { decode_json($r->{content}) } // {};
}

# A slow request in a child; returns its pid (the status goes to FILE).
sub slow {
    my ($file, %body) = @_;
    my $pid = fork() // die;
    if ($pid == 0) {
        my $r = $t->chat(body => { message => '[[mock:delay_ms=3000]] slow', %body });
        CG::write_file($t, $file, $r->{status});
        POSIX::_exit(0);
    }
    return $pid;
}

sub lines_for_user {
    my ($user) = @_;
    return [ grep { ($_->{event} // '') eq 'request' && ($_->{user} // '') eq $user }
             @{ $t->usage_lines } ];
}

is($t->chat->{status}, 200, 'the pool serves');

# --- the current generation's worker killed mid-request ---
for my $case ([json => {}], [stream => { stream => JSON::PP::true }]) {
    my ($kind, $extra) = @$case;
    my $user = "victim-$kind";
    $t->{default_token} = $t->mint($user);
    my $calls = @{ $t->mock_requests };
    my ($w) = $t->worker_pids;
    my $kid = slow("$kind.status", %$extra);
    CG::wait_for('the call at the provider', sub { @{ $t->mock_requests } > $calls });
    kill 'KILL', $w;
    waitpid($kid, 0);
    isnt(CG::slurp($t->dir . "/$kind.status"), '200', "$kind: the client did not get an answer");
    my $lines;
    CG::wait_for('the line of the cut request', sub { @{ $lines = lines_for_user($user) } >= 1 });
    is(scalar @$lines, 1, "$kind: exactly one usage line for the request the death cut");
    my $l = $lines->[0];
    is($l->{status}, 502, "$kind: its status is the 502 the client got");
    is($l->{route}, 'default', "$kind: its route");
    like($l->{reason}, qr/worker $w died \(signal 9\) mid-request/, "$kind: the reason says the worker died");
    ok((grep { $_ eq 'worker_died' } @{ $l->{flags} }), "$kind: flag worker_died");
    is($l->{stream}, $kind eq 'stream' ? JSON::PP::true : JSON::PP::false, "$kind: stream as asked");
    like($err->(), qr/worker $w killed by signal 9; replacing it/, "$kind: the master logs the death");
    CG::wait_for('a replacement', sub { $t->worker_pids == 1 && ($t->worker_pids)[0] != $w });
}

# --- a draining worker (after a reload) killed mid-request ---
$t->{default_token} = $t->mint('drainer');
my $calls = @{ $t->mock_requests };
my ($old) = $t->worker_pids;
my $kid = slow('drain.status');
CG::wait_for('the call at the provider', sub { @{ $t->mock_requests } > $calls });
kill 'HUP', $t->pid_of('chatgate');
CG::wait_for('the new generation', sub { grep { $_ != $old } $t->worker_pids });
kill 'ABRT', $old;   # not SEGV: a sanitizer build catches that and exits
waitpid($kid, 0);
like($err->(), qr/worker $old killed by signal 6 \(.*generation 0, draining: not replaced\)/,
     'a draining worker\'s death is logged with its signal');
my $lines;
CG::wait_for('the drained line', sub { @{ $lines = lines_for_user('drainer') } >= 1 });
is(scalar @$lines, 1, 'the draining worker\'s cut request has exactly one usage line');
like($lines->[0]{reason}, qr/died \(signal 6\)/, '... saying so');

# --- the status page counts every death of every generation ---
my $st = status_page();
is($st->{worker_deaths}, 3, 'status page: 3 worker deaths');
is_deeply($st->{worker_deaths_by_signal}, { 9 => 2, 6 => 1 }, 'status page: by signal');
is($st->{orphan_usage_lines}, 3, 'status page: 3 lines written by the master');

# --- one line per request accepted, over all of it ---
my @req = grep { ($_->{event} // '') eq 'request' } @{ $t->usage_lines };
my %seen;
$seen{$_->{request_id}}++ for @req;
is_deeply([grep { $seen{$_} > 1 } keys %seen], [], 'no request has two usage lines');
is(scalar(grep { $_->{route} eq 'default' } @req), scalar @req, 'every line names its route');

done_testing;
