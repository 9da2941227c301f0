# The meter against providers that do not report usage honestly, and
# against input that the guards make longer: spend is estimated from what
# was sent and received (never zero), and the reservation is priced on the
# text actually sent, so the cap holds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX ();
use CG;
use JSON::PP ();

# Output at $1 a token; answers are 32 bytes, so 8 tokens ($8) a call
# when counted or estimated (bytes / 4), and max_tokens 8 reserves $8.
my $t = CG->new;
$t->start_stack(
    'price claude-test-model.input'  => '0',
    'price claude-test-model.output' => '1000000',
    'provider.max_tokens'            => 8,
    'budget.user_daily'              => '40',
    'limits.requests_per_minute'     => 0,
    'server.workers'                 => 2,
);

for my $case (['no_usage', 'a JSON answer without usage'],
              ['zero_usage', 'a JSON answer with every count 0']) {
    my ($dir, $what) = @$case;
    my $tok = $t->mint("u-$dir");
    my $msg = "[[mock:$dir]] [[mock:text=abcdefghabcdefghabcdefghabcdefgh]]";
    my (%st, @cost, @est);
    for (1 .. 8) {
        my $r = $t->chat(token => $tok, message => $msg);
        $st{$r->{status}}++;
        next unless $r->{status} == 200;
        my $u = $t->usage_for($r);
        push @cost, $u->{cost_micro_usd};
        push @est, $u->{usage_estimated} ? 1 : 0;
    }
    is($st{200}, 5, "$what: a \$40 cap serves 5 answers of \$8, not 8");
    is($st{429}, 3, "$what: the rest are refused (budget_exceeded)");
    is_deeply([sort { $a <=> $b } @cost], [(8_000_000) x 5],
              "$what: each answer costs its estimate, never \$0");
    is_deeply(\@est, [(1) x 5], "$what: usage_estimated is true");
}

# Pseudonymisation lengthens the prompt: a@b.co becomes a longer
# placeholder. Input is priced here and the mock counts the text it
# receives, so a reservation priced on the client's body would be less
# than the settled cost, and parallel requests would pass the cap.
my $p = CG->new;
$p->start_stack(
    'price claude-test-model.input'  => '1000000',
    'price claude-test-model.output' => '0',
    'provider.max_tokens'            => 8,
    'budget.user_daily'              => '400',
    'limits.requests_per_minute'     => 0,
    'server.workers'                 => 4,
);
my $tok = $p->mint('pii-user');
my $mails = join(' ', map { "a$_\@b.co" } 1 .. 12);
my %pid;
for my $i (1 .. 16) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my $r = $p->chat(token => $tok, message => "$mails [[mock:delay_ms=300]]");
        POSIX::_exit($r->{status} == 200 ? 0 : 1);
    }
    $pid{$pid} = 1;
}
my $ok = 0;
while (%pid) {
    my $pid = wait();
    last if $pid < 0;
    delete $pid{$pid};
    $ok++ if $? == 0;
}
my @req = grep { $_->{event} eq 'request' } @{$p->usage_lines};
my $spent = 0;
$spent += $_->{cost_micro_usd} // 0 for @req;
my ($one) = grep { $_->{status} == 200 } @req;
ok($one && $one->{input_tokens} * 4 > length($mails) + 8,
   'the provider received more than the client sent (placeholders)');
ok($ok >= 1, "$ok of 16 answered");
ok($spent <= 400_000_000,
   "recorded spend $spent <= the \$400 cap with pseudonymised input");

# Every attempt is paid. The default route's first call stalls after its
# headers, or after message_start, until its idle timeout; the provider
# may have done that work, so it costs the worst case ($8 of output at
# max_tokens 8), or what the stream had used; the fallback answers ($8),
# and the usage line and the budget count both.
my $f = CG->new;
my $fd = $f->dir;
$f->start_memcached;
$f->start_mock;
$f->start_chatgate(
    'price claude-test-model.input'  => '0',
    'price claude-test-model.output' => '1000000',
    'provider.max_tokens'            => 8,
    'provider.idle_timeout_ms'       => 400,
    'provider.retries'               => 0,
    'provider.fallback'              => 'backup',
    'route backup.model'             => 'claude-test-model',
    'route backup.base_url'          => $f->mock_url,
    'route backup.api_key'           => "file:$fd/provider.key",
    'route backup.max_tokens'        => 8,
    'budget.user_daily'              => '40',
    'limits.requests_per_minute'     => 0,
);
$f->start_nginx;
my $ftok = $f->mint('retry-user');
my $text = '[[mock:text=abcdefghabcdefghabcdefghabcdefgh]]';
my $r = $f->chat(token => $ftok,
                 message => "[[mock:fail_first=1]] [[mock:stall_after=0]] $text");
is($r->{status}, 200, 'stall after the headers, then the fallback answers');
my $u = $f->usage_for($r);
is($u->{attempts}, 2, 'usage line: 2 attempts');
is($u->{fallback_from}, 'default', 'usage line: fell back from default');
is($u->{prior_cost_micro_usd}, 8_000_000,
   'the stalled attempt costs its worst case');
is($u->{cost_micro_usd}, 16_000_000, 'cost_micro_usd sums both attempts');
is($u->{output_tokens}, 16, 'output tokens sum both attempts');
ok($u->{usage_estimated}, 'usage_estimated: the stalled attempt is an estimate');

$r = $f->chat(token => $ftok, body => { stream => JSON::PP::true,
    message => "[[mock:fail_first=1]] [[mock:stall_after=1]] [[mock:id=s]] $text" });
is($r->{status}, 200, 'stream: stalled before any text, then the fallback');
$u = $f->usage_for($r);
is($u->{attempts}, 2, 'stream: 2 attempts');
ok($u->{prior_cost_micro_usd} > 0, 'stream: the stalled attempt is paid');
is($u->{cost_micro_usd}, 8_000_000 + $u->{prior_cost_micro_usd},
   'stream: cost sums both attempts');

# $16 + ($8 + a little) spent of $40: the next request's first attempt
# fits, but after it stalls the fallback's reservation does not: the
# request ends with budget_exceeded and the spend stays within the cap.
$r = $f->chat(token => $ftok,
              message => "[[mock:fail_first=1]] [[mock:stall_after=0]] [[mock:id=t]] $text");
is($r->{status}, 429, 'the fallback does not fit the budget: 429');
is($r->{json}{error}{type}, 'budget_exceeded', 'budget_exceeded');
my $fspent = 0;
$fspent += $_->{cost_micro_usd} // 0
    for grep { $_->{event} eq 'request' } @{$f->usage_lines};
ok($fspent <= 40_000_000, "spend over every attempt $fspent <= the \$40 cap");
ok($fspent > 32_000_000,
   "the refused request's stalled attempt is counted ($fspent)");


# A provider that ignores max_tokens in a JSON call: under a budget the
# JSON answer is asked for as a stream and cut at its reservation, so
# the provider bills only what it sent and the cap holds ($1 a token out,
# max_tokens 8: $8 reserved; the answer would be 1,000 tokens).
my $g = CG->new;
$g->start_stack(
    'price claude-test-model.input'  => '0',
    'price claude-test-model.output' => '1000000',
    'provider.max_tokens'            => 8,
    'budget.user_daily'              => '40',
    'limits.requests_per_minute'     => 0,
);
my $gtok = $g->mint('greedy');
$r = $g->chat(token => $gtok, message => '[[mock:big=4000]] tell me all');
is($r->{status}, 429, 'an answer past its reservation is cut: 429');
is($r->{json}{error}{type}, 'budget_exceeded', 'budget_exceeded');
$u = $g->usage_for($r);
# What arrived was billed: the reservation plus the one piece of the
# stream that carried it over (the mock's deltas are 8 bytes, 2 tokens).
ok($u->{cost_micro_usd} <= 10_000_000,
   "it costs its reservation and one delta ($u->{cost_micro_usd}), not \$1000");
my $b = $g->chat(token => $gtok, message => 'hello');
is($b->{status}, 200, 'an answer within max_tokens is served as JSON');
like($b->{json}{text} // '', qr/mock reply: hello/,
     'assembled from the provider stream');
my $gl = $g->mock_requests;
ok((grep { ($_->{body} // '') =~ /"stream":\s*true/ } @$gl),
   'the provider was asked for a stream');

done_testing;
