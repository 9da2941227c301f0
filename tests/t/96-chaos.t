# Chaos on loopback, each part bounded: the provider resetting connections
# and answering past the upstream cap, memcached restarted mid-load, a
# SIGHUP storm, kill -9 of a worker and of the master mid-load. What the
# client sees must always be a clean answer (or nginx's 502 when no worker
# is there), and the pool must come back. The full-disk policy is in
# 97-disk-full.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use CG;

# Load: $n children send requests until the stop file appears (or $max
# seconds pass); each status goes to load-ID.txt. Returns a stopper that
# waits for them and returns every status seen.
my $load_id = 0;
sub load {
    my ($t, $n, %req) = @_;
    my $id = ++$load_id;
    my $stop = $t->dir . "/load-$id.stop";
    my @kids;
    for my $k (1 .. $n) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $end = time + 20;
            open(my $fh, '>>', $t->dir . "/load-$id-$k.txt") or POSIX::_exit(1);
            $fh->autoflush(1);
            while (!-e $stop && time < $end) {
                my $r = $t->chat(%req);
                my $type = $r->{json} && $r->{json}{error} ? $r->{json}{error}{type} : '';
                print $fh "$r->{status} $type\n";
            }
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    return sub {
        CG::write_file($t, $stop, '');
        waitpid($_, 0) for @kids;
        my @st;
        for my $k (1 .. $n) {
            push @st, grep { /\S/ } split /\n/, CG::slurp($t->dir . "/load-$id-$k.txt");
        }
        return \@st;
    };
}

sub counts {
    my ($st) = @_;
    my %c;
    $c{(split / /, $_)[0]}++ for @$st;
    return join ', ', map { "$_ x$c{$_}" } sort keys %c;
}

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 100000, 'limits.concurrent_requests' => 0, 'server.workers' => 2,
                'provider.timeout_ms' => 5000);
$t->{default_token} = $t->mint('alice');
my $err = sub { CG::slurp($t->dir . '/error.log') };

# --- the provider answers past the upstream cap (8 MiB), or resets ---
my $res = $t->chat(message => '[[mock:big=9000000]] too much');
is($res->{status}, 502, 'an answer past the upstream cap: 502');
is($res->{json}{error}{type}, 'upstream_error', 'clean upstream_error');
unlike($res->{content}, qr/lorem/, 'none of it reaches the client');
like($t->usage_for($res)->{reason}, qr/too large/, 'the usage line says why');
my $stop = load($t, 2, message => '[[mock:reset]] gone');
my @good = map { $t->chat->{status} } 1 .. 10;
my $st = $stop->();
is_deeply(\@good, [(200) x 10], 'good requests pass while the provider resets others');
is_deeply([grep { !/^502 upstream_error$/ } @$st], [], 'every reset is a clean 502 upstream_error')
    or diag(counts($st));

# --- SIGHUP storm: 20 reloads in 2 s under load ---
$stop = load($t, 2);
for (1 .. 20) {
    kill 'HUP', $t->pid_of('chatgate');
    sleep 0.1;
}
$st = $stop->();
ok(@$st >= 10, 'the load ran through the storm (' . scalar(@$st) . ' requests)');
is_deeply([grep { !/^200/ } @$st], [], 'no request failed during the SIGHUP storm')
    or diag(counts($st));
CG::wait_for('the pool back to 2 workers', sub { $t->worker_pids == 2 }, 20);
is(scalar($t->worker_pids), 2, 'pool size back to normal');

# --- memcached restarted mid-load ---
my $port = $t->{mc_port};
$stop = load($t, 2);
sleep 0.3;
$t->stop('memcached');
sleep 0.5;
$t->spawn('memcached', undef, 'memcached', '-l', '127.0.0.1', '-p', $port,
          '-U', '0', '-t', '1', '-m', '32', $> == 0 ? ('-u', 'nobody') : ());
CG::wait_for('memcached back', sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") });
sleep 0.3;
$st = $stop->();
is_deeply([grep { !/^(200 |503 service_unavailable)$/ } @$st], [],
          'while memcached is away: 200 or the configured 503 (on_store_error = deny)')
    or diag(counts($st));
ok((grep { /^503/ } @$st), 'the outage was seen (fail closed)') or diag(counts($st));
my $back;
CG::wait_for('requests recover', sub { $back = $t->chat->{status}; $back == 200 }, 10);
is($back, 200, 'requests recover once memcached is back');

# --- kill -9 of a worker mid-load ---
my @w = $t->worker_pids;
$stop = load($t, 2, message => '[[mock:delay_ms=100]] slow');
sleep 0.3;
kill 'KILL', $w[0];
sleep 0.3;
$st = $stop->();
is_deeply([grep { !/^(200|502) / } @$st], [], 'a killed worker: 200, or 502 from nginx for its requests')
    or diag(counts($st));
like($err->(), qr/worker $w[0] killed by signal 9; replacing it/, 'the master logs why');
CG::wait_for('a replacement worker', sub { $t->worker_pids == 2 });
is($t->chat->{status}, 200, 'the replaced pool serves');

# --- kill -9 of the master mid-load ---
my $master = $t->pid_of('chatgate');
@w = $t->worker_pids;
$stop = load($t, 2);
sleep 0.3;
kill 'KILL', $master;
waitpid($master, 0);
delete $t->{names}{chatgate};
CG::wait_for('workers to leave after the master', sub { !grep { kill 0, $_ } @w }, 15);
ok(!(grep { kill 0, $_ } @w), 'every worker exits with its master (PR_SET_PDEATHSIG)');
$st = $stop->();
is_deeply([grep { !/^(200|502) / } @$st], [], 'clients get answers or 502, never a hang')
    or diag(counts($st));
$res = $t->chat;
is($res->{status}, 502, 'with no chatgate, nginx answers 502');
unlike($err->(), qr/runtime error|AddressSanitizer/, 'no crash report in the error log');

done_testing;
