# Issue 18: a worker gives back what one large request made it grow to.
# A request body near max_body and an answer of megabytes pass through the
# body buffer, the guards' scratch, the provider request and response and
# the answer; afterwards the worker's memory is back near where it was,
# instead of holding its largest request's size for ever.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
$t->start_stack('server.max_body' => 4 * 1024 * 1024, 'server.workers' => 1,
                'server.threads' => 1, 'input.max_chars' => 1_000_000,
                'input.max_total_chars' => 2_000_000,
                'limits.requests_per_minute' => 0);

# Anonymous memory of the one worker, in kB (page cache of files aside).
sub anon_kb {
    my ($pid) = $t->worker_pids;
    my ($kb) = (CG::slurp("/proc/$pid/status") // '') =~ /^RssAnon:\s+(\d+)/m;
    return $kb // 0;
}

$t->chat(message => "warm up $_") for 1 .. 3;
my $before = anon_kb();
for my $i (1 .. 3) {
    my $r = $t->chat(message => 'x ' x 450_000);
    is($r->{status}, 200, "a 900 kB message ($i) is answered");
    $r = $t->chat(message => '[[mock:big=3000000]] long answer');
    is(length($r->{json}{text} // ''), 3_000_000, "a 3 MB answer ($i) is answered");
}
$t->chat(message => 'small again');
my $grew = anon_kb() - $before;
SKIP: {
    # ASan's allocator keeps freed memory in quarantine by design.
    skip 'memory is not given back under ASan (SAN=1)', 1 if $ENV{CG_SAN};
    ok($grew < 4096, "the worker kept $grew kB after 900 kB requests and 3 MB answers (< 4 MB)");
}

done_testing;
