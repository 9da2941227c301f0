# FastCGI keep-alive, on in the shipped nginx config (chatgate-upstream.conf):
# sequential requests share one FastCGI connection (the status page counts
# accepted connections), and kept connections do not pin threads: with 2
# threads, a third concurrent request on a new connection is served once a
# thread is done, instead of waiting behind the two idle kept connections
# until nginx closes them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

my $t = CG->new;
$t->start_memcached;
$t->start_mock;
$t->start_chatgate('server.workers' => 1, 'server.threads' => 2,
                   'provider.timeout_ms' => 10000,
                   'limits.requests_per_minute' => 0,
                   'limits.concurrent_requests' => 0,
                   'status.path' => '/chatgate-status');
$t->start_nginx;

sub status {
    my $r = $t->{http}->get($t->url('/chatgate-status'));
    return eval { decode_json($r->{content}) } // {};
}

is($t->chat->{status}, 200, 'a first request');
my $before = status();
ok(defined $before->{connections}, 'the status page counts connections');
my $ok = 0;
for (1 .. 20) {
    $ok++ if $t->chat->{status} == 200;
}
is($ok, 20, 'twenty sequential requests succeed');
my $after = status();
is($after->{requests} - $before->{requests}, 20,
   'the chat requests are counted');
cmp_ok($after->{connections} - $before->{connections}, '<=', 1,
       'and share the kept FastCGI connection(s): at most one new one');

# Three at once against two threads: nginx opens a third connection. The
# clients start together when the pipe closes.
pipe(my $go_r, my $go_w) or die;
my @pids;
for (1 .. 3) {
    my $pid = fork // die;
    if ($pid == 0) {
        close $go_w;
        sysread($go_r, my $x, 1);
        my $r = $t->chat(message => '[[mock:delay_ms=1000]]');
        exit($r->{status} == 200 ? 0 : 1);
    }
    push @pids, $pid;
}
close $go_w;
my $fails = 0;
for (@pids) {
    waitpid($_, 0);
    $fails++ if $?;
}
is($fails, 0, 'three concurrent requests on two threads all succeed');
my $end = status();
cmp_ok($end->{connections} - $after->{connections}, '>=', 1,
       'the third came on a new connection');
is($t->chat->{status}, 200, 'and the pool still serves afterwards');

# A reload while nginx holds a kept connection parked in the old worker
# and a slow request runs on another one: the old worker drains (closes
# its idle kept connection, serves what arrives on one) instead of
# leaving the parked connection unread until it exits, when nginx had
# already sent the next request on it and answered that one 502. The slow
# request only keeps the old worker alive while the next one is sent.
my $slow = fork // die;
if ($slow == 0) {
    my $r = $t->chat(message => '[[mock:delay_ms=3000]]');
    print STDERR "# slow: $r->{status} $r->{content}\n" if $r->{status} != 200;
    exit($r->{status} == 200 ? 0 : 1);
}
my ($old) = $t->worker_pids;
CG::wait_for('the slow request in flight',
             sub { (status()->{pool}{busy} // 0) >= 2 });   # and this one
my ($rc, $out) = $t->run_chatgate('reload', '-c', $t->{conf});
is($rc, 0, 'reload with kept connections') or diag $out;
note(kill(0, $old) ? 'the old worker is still finishing the slow request'
                   : 'the old worker left early: the race was not exercised');
my @st = map { $t->chat->{status} } 1 .. 3;
is("@st", '200 200 200',
   'requests right after the reload are served, none 502');
waitpid($slow, 0);
is($?, 0, 'the slow request in flight during the reload is answered');
is($t->chat->{status}, 200, 'and the new worker serves');

done_testing;
