# Signals to the operator: outages (counter store down, provider
# unreachable) reach the error log naming the store's servers or the
# provider's URL, once a minute at most; alerts carry the host name and
# dollars; key-file errors say symlinks are refused and name [server]
# user; mint as root says which account must own the secret.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Sys::Hostname qw(hostname);
use CG;

sub count { my ($text, $re) = @_; my $n = () = $text =~ /$re/g; return $n }

# Counter store down: memcached is not running.
{
    my $t = CG->new;
    $t->start_mock;
    $t->start_chatgate('memcached.servers' => '127.0.0.1:1');
    $t->start_nginx;
    my @st = map { $t->chat->{status} } 1 .. 4;
    is("@st", '503 503 503 503', 'store down: 503');
    my $log = CG::slurp($t->dir . '/error.log');
    my $n = count($log, qr/store error \([a-z-]+, fail-closed\): memcached 127\.0\.0\.1:1:/);
    ok($n >= 1, 'the error log names the store and its servers');
    cmp_ok($n, '<=', 2, 'once per worker process, not once per request');
}

# Provider unreachable.
{
    my $t = CG->new;
    $t->start_memcached;
    $t->start_chatgate('limits.requests_per_minute' => 0,
                       'provider.base_url' => 'http://127.0.0.1:1');
    $t->start_nginx;
    my @st = map { $t->chat->{status} } 1 .. 4;
    is("@st", '502 502 502 502', 'provider unreachable: 502');
    my $log = CG::slurp($t->dir . '/error.log');
    my $n = count($log, qr{provider unreachable \(route default, http://127\.0\.0\.1:1\)});
    ok($n >= 1, 'the error log names the route and the provider URL');
    cmp_ok($n, '<=', 2, 'rate-limited');
}

# Alerts: the host and dollars.
{
    my $t = CG->new;
    my $hook = $t->start_hook;
    $t->start_stack('limits.requests_per_minute' => 0,
                    'budget.user_daily' => '0.01',
                    'alerts.webhook' => $hook,
                    'price claude-test-model.input' => '100000',
                    'price claude-test-model.output' => '100000');
    $t->chat;
    $t->chat;
    my ($a) = grep { ($_->{event} // '') eq 'alert' && $_->{alert} eq 'budget' }
              @{ $t->usage_lines };
    ok($a, 'a budget alert');
    like($a->{message} // '', qr/cap \$0\.01\b/, 'the cap is in dollars');
    unlike($a->{message} // '', qr/micro/, 'not micro-dollars');
    is($a->{host}, hostname(), 'the alert names the host');
    CG::wait_for('webhook', sub { @{ $t->hook_bodies } >= 1 });
    like(decode_json($t->hook_bodies->[0])->{text},
         qr/\(on \Q${\ hostname()}\E\)$/, 'the webhook text names the host');
}

# Key files: a symlink is refused as such; the owner rule names [server] user.
{
    my $t = CG->new;
    my $conf = $t->write_config;
    my $d = $t->dir;
    rename("$d/provider.key", "$d/real.key") or die;
    symlink("$d/real.key", "$d/provider.key") or die;
    my ($rc, $out) = $t->run_chatgate('check', '-c', $conf);
    isnt($rc, 0, 'a symlinked key file is refused');
    like($out, qr/provider\.key is a symbolic link, and symbolic links are refused/,
         'and the message says symlinks are refused');
    unlink "$d/provider.key";
    rename("$d/real.key", "$d/provider.key");
  SKIP: {
        skip 'ownership needs root', 3 unless $> == 0;
        chown scalar(getpwnam('nobody')), 0, "$d/session.secret";
        ($rc, $out) = $t->run_chatgate('check', '-c', $conf);
        like($out, qr/owned by nobody \(uid \d+\), not by root, the account chatgate runs as \(root, uid 0\), \[server\] user/,
             'the owner rule names the accounts, [server] user among them');
        ($rc, $out) = $t->run_chatgate('mint', '-c', $conf, 'alice');
        isnt($rc, 0, 'mint as root refuses a secret owned by another account');
        like($out, qr/session\.secret is owned by nobody.*\[server\] user/,
             'and says which accounts may own it');
        chown 0, 0, "$d/session.secret";
    }
}

# Under a spawner (spawn-fcgi: one worker, no master) SIGHUP is no longer
# ignored: a config that passes makes the process leave for a fresh one;
# one that does not is refused in the error log and the process serves on.
SKIP: {
    skip 'spawn-fcgi not installed', 7 unless -x '/usr/bin/spawn-fcgi';
    my $t = CG->new;
    $t->start_memcached;
    $t->start_mock;
    my $sock = $t->dir . '/launched.sock';
    my $pid = $t->start_launched(['spawn-fcgi', '-n', '-s', $sock, '-M', '0660', '--'],
                                 'server.listen' => $sock,
                                 'limits.requests_per_minute' => 0);
    $t->start_nginx;
    is($t->chat->{status}, 200, 'spawn-fcgi: serving');
    my $good = CG::slurp($t->{conf});
    $t->write_file('chatgate.ini', "$good\n[server]\nbogus_key = 1\n", 0640);
    kill 'HUP', $pid;
    CG::wait_for('refusal', sub { CG::slurp($t->dir . '/error.log') =~ /config change refused/ });
    like(CG::slurp($t->dir . '/error.log'), qr/config change refused.*bogus_key/,
         'SIGHUP with a bad config: refused, in the error log');
    is($t->chat->{status}, 200, 'and the process serves on');
    $t->write_file('chatgate.ini', $good, 0640);
    CG::wait_for('good again', sub { CG::slurp($t->dir . '/error.log') =~ /passes: this process leaves/ });
    my $gone = 0;
    eval { CG::wait_for('exit', sub { $gone = waitpid($pid, WNOHANG) == $pid }) };
    ok($gone, 'a config that passes: the process leaves for a fresh one');
    delete $t->{names}{chatgate};
    is($? >> 8, 0, 'with status 0');

    # SIGHUP alone, the file unchanged: the same (a user-level "reload").
    my $t2 = CG->new;
    $t2->start_memcached;
    $t2->start_mock;
    my $sock2 = $t2->dir . '/launched.sock';
    my $pid2 = $t2->start_launched(['spawn-fcgi', '-n', '-s', $sock2, '--'],
                                   'server.listen' => $sock2,
                                   'limits.requests_per_minute' => 0);
    $t2->start_nginx;
    $t2->chat;      # serving: its signals are set up
    kill 'HUP', $pid2;
    $gone = 0;
    eval { CG::wait_for('exit', sub { $gone = waitpid($pid2, WNOHANG) == $pid2 }) };
    ok($gone && ($? >> 8) == 0 && !($? & 127),
       'SIGHUP under a spawner: the process leaves (status 0) for a fresh one');
    delete $t2->{names}{chatgate};
    like(CG::slurp($t2->dir . '/error.log'), qr/SIGHUP: config .* passes/,
         'and says why');
}

done_testing;
