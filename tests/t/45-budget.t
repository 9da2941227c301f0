# Money budgets under real concurrency: 100 parallel requests from one user
# against a daily budget that fits exactly 10 never spend past it, with
# memcached and with the host-local store; threshold alerts are raised
# once each.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX ();
use CG;

# Output is priced at $1 a token and every answer is exactly max_tokens
# (8) long, so the worst case reserved equals the actual cost: $8 a call.
my %price = (
    'price claude-test-model.input'  => '0',
    'price claude-test-model.output' => '1000000',
    'provider.max_tokens'            => 8,
    'budget.user_daily'              => '80',
    'limits.requests_per_minute'     => 0,
    'limits.concurrent_requests'     => 0,   # one user, 100 at once
    'server.workers'                 => 4,
);
my $msg = '[[mock:text=abcdefghabcdefghabcdefghabcdefgh]] go';

sub budget_suite {
    my ($t, $label) = @_;
    my $tok = $t->mint('alice');
    my $c = CG::chat_parallel([$t], 100, token => $tok, message => $msg);
    ok($c->{0} >= 1 && $c->{0} <= 10, "$label: $c->{0} of 100 succeed (1..10)");
    is($c->{2}, 0, "$label: every other answer is 429 budget_exceeded");
    is($c->{0} + $c->{1}, 100, "$label: all answered");
    my @req = grep { $_->{event} eq 'request' } @{$t->usage_lines};
    my @ok = grep { $_->{status} == 200 } @req;
    my $spent = 0;
    $spent += $_->{cost_micro_usd} for @ok;
    ok($spent <= 80_000_000, "$label: recorded spend $spent <= budget");
    is($ok[0]{cost_micro_usd}, 8_000_000, "$label: cost_micro_usd priced");
    my ($refused) = grep { $_->{status} == 429 } @req;
    like($refused->{reason}, qr/user daily budget/, "$label: reason logged");
    my $r = $t->chat(token => $tok, message => $msg);
    ok($r->{headers}{'retry-after'} > 0, "$label: 429 has Retry-After");
    my @alerts = grep { $_->{event} eq 'alert' } @{$t->usage_lines};
    my %n;
    $n{$_->{subject}}++ for @alerts;
    is($n{'user_daily:alice:100'}, 1, "$label: 100% alert raised once");
    is($n{'user_daily:alice:50'}, 1, "$label: 50% alert raised once")
        if $c->{0} >= 5;
    is($t->chat(token => $t->mint('bob'), message => $msg)->{status}, 200,
       "$label: another user has a budget of their own");
    return \@alerts;
}

my $t = CG->new;
my $hook = $t->start_hook;
$t->start_stack(%price, 'alerts.webhook' => $hook);
my $alerts = budget_suite($t, 'memcached');
# Four workers raced to raise each threshold; the receiver hears each once.
CG::wait_for('webhook', sub { @{$t->hook_bodies} >= @$alerts }, 10);
sleep 0.5;
my @hooks = map { JSON::PP::decode_json($_)->{text} } @{$t->hook_bodies};
is(scalar @hooks, scalar @$alerts, 'webhook: one POST per alert');
is(scalar(grep { /user daily budget of alice at \d+% \(threshold 100%/ }
          @hooks), 1, 'webhook: the 100% alert arrived exactly once');

# The same with the host-local store instead of memcached.
my $u = CG->new;
$u->start_mock;
$u->start_chatgate(%price, 'store.type' => 'local',
                   'store.path' => $u->dir . '/counters');
$u->start_nginx;
budget_suite($u, 'local store');

# A provider timeout may still be billed: it is counted at the worst case.
my $slow = $u->chat(token => $u->mint('dora'),
                    message => '[[mock:delay_ms=4000]] slow');
is($slow->{status}, 504, 'provider timeout: 504');
my ($dl) = grep { ($_->{user} // '') eq 'dora' } @{$u->usage_lines};
is($dl->{cost_micro_usd}, 8_000_000, 'and it is counted at the reservation');

# Money fails closed: with memcached gone a budgeted request is refused.
$t->stop('memcached');
my $r = $t->chat(token => $t->mint('carol'), message => $msg);
is($r->{status}, 503, 'store down: budgeted request refused (503)');
my @down = grep { $_->{event} eq 'alert' && $_->{alert} eq 'store_down' }
           @{$t->usage_lines};
ok(@down >= 1, 'store down raises an alert line');

# A budget without a price is a config error, not an unenforced cap.
my ($rc, $out) = $t->run_chatgate('check', '-c', $t->write_config(
    'budget.user_daily' => '5'));
isnt($rc, 0, 'a budget without a [price] row is refused');
like($out, qr/no \[price claude-test-model\]/, 'and the message says why');

done_testing;
