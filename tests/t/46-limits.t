# Rate windows, requests in flight, address and site scopes, several hosts
# sharing three memcached servers, memcached failure with local fallback,
# webhook alerts delivered exactly once, and the local store's file.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use CG;

# --- sliding window rolls over (2 s windows) and round trips ------------
my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 2, 'limits.concurrent_requests' => 0,
                'limits.window_seconds' => 2, 'server.workers' => 1,
                'alerts.spike_requests_per_minute' => 1,
                # The pre-auth failure counter (issue 4) costs its own
                # incr; off here so the count is the rate limit's alone.
                'limits.auth_failures_per_minute' => 0);
my $tok = $t->mint('win');
# Start at the beginning of a window so the three requests share one.
sleep(2 - (time - int(time / 2) * 2) + 0.05);
my $first = $t->chat(token => $tok);
# Measured over the second request: memcached does not count a binary
# incr that creates its key in incr_misses.
my $s0 = CG::mc_stats($t->{mc_port});
is($t->chat(token => $tok)->{status}, 200, 'second request in the window');
my $s1 = CG::mc_stats($t->{mc_port});
my $incr = ($s1->{incr_hits} + $s1->{incr_misses})
           - ($s0->{incr_hits} + $s0->{incr_misses});
diag(join ' ', map { "$_=" . ($s1->{$_} - $s0->{$_}) }
     qw(cmd_get cmd_set incr_hits incr_misses decr_hits decr_misses));
my $gets = $s1->{cmd_get} - $s0->{cmd_get};
diag("memcached per request (rpm only): $incr incr, $gets keys read in one "
     . "get_multi");
is($incr, 1, 'one increment per request for a per-user rpm limit');
is($gets, 0, 'and no read: the finished window is cached by the worker');
like($first->{headers}{'ratelimit-policy'}, qr/"rpm";q=2;w=2/,
     'RateLimit-Policy names the policy');
my $r = $t->chat(token => $tok);
is($r->{status}, 429, 'third refused');
ok($r->{headers}{'retry-after'} >= 1 && $r->{headers}{'retry-after'} <= 2,
   'Retry-After within the 2 s window');
sleep 4.2;
$r = $t->chat(token => $tok);
is($r->{status}, 200, 'after two windows it passes')
    or diag(explain($t->usage_lines->[-1]));
my @spikes = grep { $_->{event} eq 'alert' && $_->{alert} eq 'spike' }
             @{$t->usage_lines};
is(scalar @spikes, 1, 'a spike alert, once for its window');
is($spikes[0]{subject}, 'win', 'naming the user');

# --- requests in flight ---------------------------------------------------
my $c = CG->new;
$c->start_stack('limits.concurrent_requests' => 2,
                'limits.requests_per_minute' => 0, 'server.workers' => 4);
my $ctok = $c->mint('busy');
my %pid;
for (1 .. 4) {
    my $pid = fork() // die;
    if ($pid == 0) {
        my $res = $c->chat(token => $ctok,
                           message => '[[mock:delay_ms=1500]] slow');
        POSIX::_exit($res->{status} == 200 ? 0 : $res->{status} == 429 ? 1
                                                                       : 2);
    }
    $pid{$pid} = 1;
}
my %n = (0 => 0, 1 => 0, 2 => 0);
while (%pid) { my $p = wait(); last if $p < 0; delete $pid{$p}; $n{$? >> 8}++ }
is($n{0}, 2, 'two requests in flight at once');
is($n{1}, 2, 'the others get 429');
is($c->chat(token => $ctok)->{status}, 200, 'slots are given back');
my ($conc) = grep { ($_->{reason} // '') =~ /concurrency/ }
             @{$c->usage_lines};
ok($conc, 'the log says which limit');
$c->chat(token => $ctok, message => "[[mock:status=401]] x$_") for 1 .. 3;
my @rej = grep { $_->{event} eq 'alert' && $_->{alert} eq 'key_rejected' }
          @{$c->usage_lines};
is(scalar @rej, 1, 'provider 401: one key_rejected alert for three');
like($rej[0]{message}, qr/refused key [0-9a-f]{12} with status 401/,
     'naming the key by its fingerprint only');

# --- two pools, three memcached servers, one limit -------------------------
my $a = CG->new;
my @ports = map { $a->start_memcached("mc$_") } 1 .. 3;
my $servers = join ',', map { "127.0.0.1:$_" } @ports;
my $b = CG->new;
for my $h ($a, $b) {
    $h->{secret} = $a->{secret};
    $h->start_mock;
    $h->start_chatgate('memcached.servers' => $servers,
                       'limits.requests_per_minute' => 0, 'limits.concurrent_requests' => 0,
                       'limits.global_requests_per_minute' => 5,
                       'alerts.spike_requests_per_minute' => 3);
    $h->start_nginx;
}
my $atok = $a->mint('zed');
my @st = map { ($_ % 2 ? $b : $a)->chat(token => $atok)->{status} } 0 .. 5;
is_deeply(\@st, [200, 200, 200, 200, 200, 429],
          'two pools share one site-wide limit across three servers');
my @spike = grep { $_->{event} eq 'alert' && $_->{alert} eq 'spike' }
            (@{$a->usage_lines}, @{$b->usage_lines});
is(scalar @spike, 0, 'no spike alert without a per-user window');

# --- memcached stops: local fallback, alert, webhook once ------------------
my $w = CG->new;
my $hook_url = $w->start_hook;
$w->start_stack('limits.on_store_error' => 'local',
                'limits.requests_per_minute' => 3, 'limits.concurrent_requests' => 0,
                'alerts.webhook' => $hook_url,
                'alerts.command' => $w->write_file('cmd.sh',
                    "#!/bin/sh\ncat >> " . $w->dir . "/cmd.log\n", 0755));
my $wtok = $w->mint('walt');
is($w->chat(token => $wtok)->{status}, 200, 'memcached up');
$w->stop('memcached');
@st = map { $w->chat(token => $wtok)->{status} } 1 .. 10;
ok((grep { $_ == 200 } @st) >= 1, 'memcached down: local counting lets '
   . 'requests through');
ok((grep { $_ == 429 } @st) >= 1, 'and still limits them per worker');
like(CG::slurp($w->dir . '/error.log'), qr/counted per worker/,
     'the error log says counting is local');
my @down = grep { $_->{event} eq 'alert' && $_->{alert} eq 'store_down' }
           @{$w->usage_lines};
ok(@down >= 1 && @down <= 2, 'store_down alert once per worker');
CG::wait_for('webhook', sub { @{$w->hook_bodies} >= @down }, 10);
sleep 0.5;
my @hooks = @{$w->hook_bodies};
is(scalar @hooks, scalar @down, 'webhook got each alert exactly once');
like(eval { JSON::PP::decode_json($hooks[0])->{text} } // '',
     qr/^chatgate alert: the counter store/, 'Slack-style {"text": ...}');
CG::wait_for('command', sub { -s $w->dir . '/cmd.log' }, 10);
like(CG::slurp($w->dir . '/cmd.log'), qr/"event":"alert"/,
     'command got the alert JSON on stdin');

# --- local store: limits shared by workers; corrupt file rebuilt ------------
my $l = CG->new;
my $path = $l->dir . '/counters';
$l->start_mock;
$l->start_chatgate('store.type' => 'local', 'store.path' => $path,
                   'limits.requests_per_minute' => 3, 'limits.concurrent_requests' => 0,
                   'server.workers' => 3);
$l->start_nginx;
my $ltok = $l->mint('lou');
@st = map { $l->chat(token => $ltok)->{status} } 1 .. 4;
is_deeply(\@st, [200, 200, 200, 429], 'local store: one count for all '
          . 'workers');
$l->stop('chatgate');
$l->write_file($path, 'garbage' x 100, 0600);
$l->start_chatgate('store.type' => 'local', 'store.path' => $path,
                   'limits.requests_per_minute' => 3);
is($l->chat(token => $ltok)->{status}, 200, 'corrupt file: rebuilt and used');
like(CG::slurp($l->dir . '/error.log'), qr/was corrupt: rebuilt/,
     'the rebuild is logged');

done_testing;
