# The local store under faults (issue 23): everything read from the file
# is checked against the process's own mapping. Two pools of different
# [store] slots cannot share one file: the second refuses to start naming
# both configurations, and the first keeps its count (no crash, no reset
# loop). The file overwritten while serving is rebuilt, never a crash. A
# reload that changes slots while a stream is in flight: the stream's
# usage line is written and the new generation counts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX ();
use CG;

my $a = CG->new;
my $path = $a->dir . '/counters';
my %opt = ('store.type' => 'local', 'store.path' => $path,
           'store.slots' => 1024, 'limits.requests_per_minute' => 5,
           'limits.concurrent_requests' => 5, 'server.workers' => 2);
$a->start_mock;
$a->start_chatgate(%opt);
$a->start_nginx;
$a->{default_token} = $a->mint('alice');
is($a->chat->{status}, 200, 'pool A (1024 slots) serves');

# --- pool B, 65536 slots, same file: refused, naming both ---
my $b = CG->new;
$b->{mock_port} = $a->{mock_port};
my $bconf = $b->write_config(%opt, 'store.slots' => 65536);
my $out = `timeout 10 $CG::BUILD/chatgate serve -c $bconf 2>&1`;
my $rc = $? >> 8;
isnt($rc, 0, 'pool B does not start');
isnt($rc, 124, 'pool B stops by itself, it does not serve');
my $berr = CG::slurp($b->dir . '/error.log') . $out;
like($berr, qr/local store \Q$path\E is in use by \Q$a->{conf}\E \(\[store\] slots = 1024\) and \Q$bconf\E has \[store\] slots = 65536/,
     'the refusal names both configurations and their slots');

# --- pool A keeps its count: 5 a minute, no crash ---
my @st = map { $a->chat->{status} } 1 .. 14;
is(scalar(grep { $_ == 200 } @st), 4, 'pool A: 5 of 15 requests a minute, as configured')
    or diag("@st");
is(scalar(grep { $_ != 200 && $_ != 429 } @st), 0, 'pool A: nothing but 200 and 429 (no 502)')
    or diag("@st");
unlike(CG::slurp($a->dir . '/error.log'), qr/signal|corrupt|held \d+ slots/,
       'pool A: no worker died, the file was not rebuilt');

# --- the file's first 4 KiB overwritten while serving ---
$a->{default_token} = $a->mint('bob');
open(my $fh, '+<', $path) or die "$path: $!";
print $fh "\xff" x 4096;
close $fh;
my $r = $a->chat;
is($r->{status}, 200, 'overwritten file: the request is served (no crash)');
CG::wait_for('the rebuild in the error log', sub {
    CG::slurp($a->dir . '/error.log') =~ /was corrupt: rebuilt empty/ });
like(CG::slurp($a->dir . '/error.log'), qr/local store \Q$path\E was corrupt: rebuilt empty/,
     'the rebuild is logged');
unlike(CG::slurp($a->dir . '/error.log'), qr/signal \d+/, 'no worker died');

# --- SIGHUP changing [store] slots while a stream is in flight ---
$a->{default_token} = $a->mint('carol');
my $calls = @{ $a->mock_requests };
my $pid = fork() // die;
if ($pid == 0) {
    my $res = $a->chat(body => { message => '[[mock:delay_ms=1500]] slow',
                                 stream => JSON::PP::true });
    CG::write_file($a, 'slow.txt', "$res->{status} " . ($res->{headers}{'x-request-id'} // ''));
    POSIX::_exit(0);
}
CG::wait_for('the stream at the provider', sub { @{ $a->mock_requests } > $calls });
$a->write_config(%opt, 'store.slots' => 65536);
kill 'HUP', $a->pid_of('chatgate');
waitpid($pid, 0);
my ($status, $id) = split / /, CG::slurp($a->dir . '/slow.txt');
is($status, 200, 'the stream in flight is answered');
my $line = $a->usage_for({ headers => { 'x-request-id' => $id } });
is($line->{status}, 200, 'the stream in flight has its usage line');
CG::wait_for('the reload', sub { CG::slurp($a->dir . '/error.log') =~ /reloaded/ });
$a->{default_token} = $a->mint('dave');
@st = map { $a->chat->{status} } 1 .. 6;
is_deeply(\@st, [200, 200, 200, 200, 200, 429], 'the new generation counts in the resized file');
unlike(CG::slurp($a->dir . '/error.log'), qr/killed by signal|AddressSanitizer/,
       'no worker crashed');

done_testing;
