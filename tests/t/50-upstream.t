# Provider failures map to 502/504 with chatgate's own words; nothing of the
# provider's error text, headers or key reaches the client.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use CG;

my $t = CG->new;
$t->start_stack('provider.timeout_ms' => 1000, 'limits.requests_per_minute' => 0);

sub upstream_err {
    my ($msg, $status, $type, $what) = @_;
    my $res = $t->chat(message => $msg);
    is($res->{status}, $status, "$what: $status");
    is($res->{json}{error}{type}, $type, "$what: $type");
    unlike($res->{content}, qr/mock internal detail|srv|overloaded|req_mock/i,
           "$what: no provider text");
    ok(!grep({ /^(request-id|retry-after|anthropic)/i } keys %{$res->{headers}}),
       "$what: no provider headers");
    return $res;
}

upstream_err('[[mock:status=500]]', 502, 'upstream_error', 'provider 500');
upstream_err('[[mock:status=529]]', 502, 'upstream_error', 'provider 529');
upstream_err('[[mock:status=429]]', 502, 'upstream_error', 'provider 429');
upstream_err('[[mock:status=400]]', 502, 'upstream_error', 'provider 400');
upstream_err('[[mock:status=401]]', 502, 'upstream_error', 'provider 401');
upstream_err('[[mock:garbage]]', 502, 'upstream_error', 'garbage JSON');
upstream_err('[[mock:truncate]]', 502, 'upstream_error', 'truncated body');
upstream_err('[[mock:reset]]', 502, 'upstream_error', 'connection reset');

my $t0 = time;
upstream_err('[[mock:delay_ms=3000]]', 504, 'upstream_timeout', 'slow provider');
my $took = time - $t0;
ok($took < 2.5, "timeout enforced (took ${took}s with timeout_ms 1000)");
upstream_err('[[mock:stall_after=1]]', 504, 'upstream_timeout', 'stalled body');

# Issue 18: a Retry-After no route waits for is clamped, not overflowed (a
# SAN build aborted on it and nginx answered its own 502): chatgate answers
# its own 502 and does not retry; an HTTP-date counts as none given.
my $ra = upstream_err('[[mock:status=429]] [[mock:retry_after=99999999999999999999]]',
                      502, 'upstream_error', 'Retry-After 99999999999999999999');
is($t->usage_for($ra)->{retries}, 0, 'a wait longer than retry_max_wait_ms is not retried');
$ra = upstream_err('[[mock:status=429]] [[mock:retry_after=Wed,+21+Oct+2026+07:28:00+GMT]]',
                   502, 'upstream_error', 'Retry-After as an HTTP-date');
is($t->usage_for($ra)->{retries}, 2, 'an HTTP-date is no wait: the default backoff retries');

# Issue 18: one provider event of 20,000 data: lines (20 MB) is refused at
# the event cap, and the worker does not keep what it grew to.
sub workers_rss_kb {
    my $kb = 0;
    for my $pid ($t->worker_pids) {
        my ($v) = (CG::slurp("/proc/$pid/status") // '') =~ /^VmRSS:\s+(\d+)/m;
        $kb += $v // 0;
    }
    return $kb;
}
for my $stream (0, 1) {
    $t->chat(body => { message => 'warm up', stream => $stream ? JSON::PP::true : JSON::PP::false })
        for 1 .. 4;
}
my $before = workers_rss_kb();
for (1 .. 2) {
    my $fat = $t->chat(body => { message => '[[mock:fat_event=20000]] hi',
                                 stream => JSON::PP::true });
    is($fat->{status}, 502, 'a 20 MB event: 502');
    like($t->usage_for($fat)->{reason} // '', qr/./, 'with a reason in the usage line');
}
my $grew = workers_rss_kb() - $before;
SKIP: {
    # ASan's allocator keeps freed memory in quarantine by design.
    skip 'memory is not given back under ASan (SAN=1)', 1 if $ENV{CG_SAN};
    ok($grew < 8 * 1024, "the workers kept ${grew} kB after two 20 MB events (< 8 MB)");
}
is($t->chat(body => { message => 'after', stream => JSON::PP::true })->{status}, 200,
   'the next stream is answered');

# Provider gone entirely.
$t->stop('mock');
upstream_err('hello', 502, 'upstream_error', 'provider down');

my %reason = map { ($_->{reason} // '') => 1 } @{$t->usage_lines};
ok($reason{'provider status 500'}, 'the log keeps the provider status for the operator');
ok((grep { /timeout/i } keys %reason), 'the log says timeout');

done_testing;
