# Quota leases (issue 16, docs/limits.md "Leases"): with [budget] and
# [limits] lease_requests set, two pools sharing one memcached never pass
# a budget or a request limit; a worker killed with a lease loses it and
# the cap still holds (stricter, never looser); memcached operations per
# request drop from a dozen to a fraction of one; and leases given back at
# shutdown leave memcached holding exactly the spend of the usage lines.
# The same with [store] type = local.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use CG;

# $1 a token of output, every answer exactly max_tokens (8) long: the
# reservation is the actual cost, $8 a call; $80 a day fits ten.
my %budget = (
    'price claude-test-model.input'  => '0',
    'price claude-test-model.output' => '1000000',
    'provider.max_tokens'            => 8,
    'budget.user_daily'              => '80',
    'limits.requests_per_minute'     => 0,
    'limits.concurrent_requests'     => 0,
    'limits.auth_failures_per_minute' => 0,
    'budget.lease_requests'          => 8,
    'limits.lease_requests'          => 8,
);
my $msg = '[[mock:text=abcdefghabcdefghabcdefghabcdefgh]] go';
my $CAP = 80_000_000;

# Every memcached operation chatgate makes, summed.
sub mc_ops {
    my $s = CG::mc_stats($_[0]);
    my $n = 0;
    $n += $s->{$_} // 0 for qw(cmd_get cmd_set incr_hits incr_misses
                               decr_hits decr_misses);
    return $n;
}

sub mc_get {
    my ($port, $key) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
    print $s "get $key\r\n";
    my $v = 0;
    while (my $l = <$s>) {
        last if $l =~ /^END/;
        $v = $1 if $l =~ /^(\d+)\s*$/;
    }
    return $v;
}

sub spend_key {
    my ($user) = @_;
    return POSIX::strftime("cg:\$:u:$user:d:%Y%m%d", gmtime);
}

sub spent_by {
    my ($user, @pools) = @_;
    my $sum = 0;
    for my $p (@pools) {
        $sum += $_->{cost_micro_usd} // 0
            for grep { $_->{event} eq 'request' && ($_->{user} // '') eq $user }
                @{$p->usage_lines};
    }
    return $sum;
}

# --- two pools, one memcached, one budget ------------------------------
my $a = CG->new;
my $port = $a->start_memcached;
my $b = CG->new;
$b->{secret} = $a->{secret};
for my $h ($a, $b) {
    $h->start_mock;
    $h->start_chatgate(%budget, 'server.workers' => 2,
                       'memcached.servers' => "127.0.0.1:$port",
                       'store.ledger' => $h->dir . '/ledger',
                       'store.hosts' => 2);
    $h->start_nginx;
}
my $tok = $a->mint('alice');
my $c = CG::chat_parallel([$a, $b], 60, token => $tok, message => $msg);
ok($c->{0} >= 1 && $c->{0} <= 10, "two pools: $c->{0} of 60 served (1..10)");
is($c->{2}, 0, 'two pools: every other answer is 429 budget_exceeded');
my $spent = spent_by('alice', $a, $b);
ok($spent <= $CAP, "two pools: spend $spent <= the cap");
ok(mc_get($port, spend_key('alice')) <= $CAP,
   'two pools: memcached never counts past the cap either');
ok(mc_get($port, spend_key('alice')) >= $spent,
   'memcached counts every dollar spent (and what the leases hold)');

# Request limits across the pools: a window that fits 6, in one long window.
my $w = CG->new;
my $wport = $w->start_memcached;
my $x = CG->new;
$x->{secret} = $w->{secret};
for my $h ($w, $x) {
    $h->start_mock;
    $h->start_chatgate('memcached.servers' => "127.0.0.1:$wport",
                       'limits.requests_per_minute' => 6,
                       'limits.window_seconds' => 3600,
                       'limits.concurrent_requests' => 0,
                       'limits.lease_requests' => 8,
                       'store.ledger' => $h->dir . '/ledger',
                       'store.hosts' => 2);
    $h->start_nginx;
}
sleep(3601 - time % 3600) if time % 3600 > 3590;   # not across a window
my $rtok = $w->mint('rita');
my @st = map { ($_ % 2 ? $x : $w)->chat(token => $rtok)->{status} } 1 .. 10;
my $passed = grep { $_ == 200 } @st;
ok($passed >= 1 && $passed <= 6, "two pools: $passed of 10 within rpm 6");
is(scalar(grep { $_ == 429 } @st), 10 - $passed, 'the others 429');

# Round trips: the same requests with leases and without.
sub ops_per_request {
    my ($h, $mport, $user, $n) = @_;
    my $t = $h->mint($user);
    $h->chat(token => $t, message => $msg);     # the first lease
    my $before = mc_ops($mport);
    $h->chat(token => $t, message => $msg) for 1 .. $n;
    return (mc_ops($mport) - $before) / $n;
}
my $q = CG->new;
$q->start_stack(%budget, 'server.workers' => 1, 'budget.user_daily' => '1000');
my $lease_ops = ops_per_request($q, $q->{mc_port}, 'ops-lease', 8);
my $p = CG->new;
$p->start_stack(%budget, 'budget.lease_requests' => 0,
                'limits.lease_requests' => 0, 'server.workers' => 1,
                'budget.user_daily' => '1000');
my $plain_ops = ops_per_request($p, $p->{mc_port}, 'ops-plain', 8);
diag("memcached operations per request: $plain_ops per request without "
     . "leases, $lease_ops with");
ok($plain_ops >= 8, 'without leases a request costs its reserve and settle');
ok($lease_ops < 1, 'with leases well under one operation per request');

# Shutdown gives every unused lease back: memcached then holds exactly
# the spend of the usage lines.
$_->stop('nginx') for $a, $b;
$_->stop('chatgate') for $a, $b;
is(mc_get($port, spend_key('alice')), spent_by('alice', $a, $b),
   'after shutdown memcached holds exactly the spend (leases given back)');
$q->stop('chatgate');
is(mc_get($q->{mc_port}, spend_key('ops-lease')), spent_by('ops-lease', $q),
   'and for a user far from the cap too');

# --- a killed worker loses its lease; the cap holds --------------------
my $k = CG->new;
$k->start_stack(%budget, 'server.workers' => 1, 'budget.user_daily' => '800');
my $ktok = $k->mint('kim');
is($k->chat(token => $ktok, message => $msg)->{status}, 200,
   'kill: a first request takes a lease');
my $held = mc_get($k->{mc_port}, spend_key('kim'));
ok($held > 8_000_000, "kill: the lease ($held) is more than the request");
my ($wpid) = $k->worker_pids;
kill 'KILL', $wpid;
CG::wait_for('a new worker',
             sub { my @p = $k->worker_pids; @p && $p[0] != $wpid });
my $served = 1;
for (1 .. 120) {
    my $r = $k->chat(token => $ktok, message => $msg);
    last if $r->{status} == 429;
    $served++ if $r->{status} == 200;
}
my $kspent = spent_by('kim', $k);
ok($kspent <= 800_000_000, "kill: spend $kspent <= the cap");
ok($served < 100, "kill: the lost lease is not served again ($served of 100)");
$k->stop('chatgate');
my $lost = mc_get($k->{mc_port}, spend_key('kim')) - $kspent;
ok($lost > 0 && $lost < $held,
   "kill: memcached keeps the lost lease counted ($lost): stricter, "
   . "never looser");

# --- the same with [store] type = local --------------------------------
my $l = CG->new;
$l->start_mock;
$l->start_chatgate(%budget, 'server.workers' => 2, 'store.type' => 'local',
                   'store.path' => $l->dir . '/counters');
$l->start_nginx;
my $lc = CG::chat_parallel([$l], 40, token => $l->mint('lou'),
                           message => $msg);
ok($lc->{0} >= 1 && $lc->{0} <= 10, "local: $lc->{0} of 40 served (1..10)");
is($lc->{2}, 0, 'local: every other answer is 429 budget_exceeded');
ok(spent_by('lou', $l) <= $CAP, 'local: spend within the cap');

done_testing;
