# With the default limits no caller can hold the whole pool: [limits]
# concurrent_requests = auto gives each caller half of what the pool can
# serve at once, so another user is answered while one user's slow
# requests are all in flight.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX qw(WNOHANG _exit);
use CG;

my $t = CG->new;
# Two workers of one thread: auto = 1 request in flight per caller. No
# [limits] key is set: this is the default.
$t->start_stack('server.workers' => 2);
my $slow = $t->mint('slowpoke');
my $other = $t->mint('other');

my $out = $t->dir . '/slow';
my @kids;
for my $i (1 .. 4) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my $r = $t->chat(token => $slow, message => "[[mock:delay_ms=2500]] $i");
        CG::write_file($t, "slow.$i", ($r->{json}{error}{type} // 'ok') . "\n");
        _exit(0);
    }
    push @kids, $pid;
}
# Wait until one slow request is at the provider and the rest are refused.
CG::wait_for('the slow requests to be admitted or refused', sub {
    my @l = grep { ($_->{user} // '') eq 'slowpoke' } @{ $t->usage_lines };
    @l >= 3 }, 15);
my $r = $t->chat(token => $other, message => 'hello');
is($r->{status}, 200, "another user is answered while slowpoke's request is in flight");
ok((grep { waitpid($_, WNOHANG) == 0 } @kids),
   "slowpoke's slow request was still running then");
waitpid($_, 0) for @kids;
my @types = sort map { chomp(my $x = CG::slurp($t->dir . "/slow.$_")); $x } 1 .. 4;
is_deeply(\@types, ['ok', 'rate_limited', 'rate_limited', 'rate_limited'],
          'slowpoke: one answer, the other three refused 429 while it ran');
my ($refused) = grep { ($_->{user} // '') eq 'slowpoke'
                       && ($_->{error} // '') eq 'rate_limited' } @{ $t->usage_lines };
like($refused->{reason} // '', qr/concurren|in flight/i,
     'the usage line says why: requests in flight');
is($t->chat(token => $slow, message => 'again')->{status}, 200,
   'once its request is done, slowpoke is served again');

# concurrent_requests = 0 still means no limit.
my $u = CG->new;
$u->start_stack('server.workers' => 2, 'limits.concurrent_requests' => 0);
my $tok = $u->mint('many');
my @k2;
for my $i (1 .. 2) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my $x = $u->chat(token => $tok, message => "[[mock:delay_ms=1500]] $i");
        _exit($x->{status} == 200 ? 0 : 1);
    }
    push @k2, $pid;
}
my $ok = 0;
for (@k2) { waitpid($_, 0); $ok++ if $? == 0 }
is($ok, 2, 'concurrent_requests = 0: both parallel requests answered');
done_testing;
