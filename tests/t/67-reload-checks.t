# A reload applies exactly the checks of `chatgate check`: a file that
# `check` refuses is refused on SIGHUP too, the old workers keep serving
# and the error log says why (a verifier setting, an unknown key, a key
# file, a usage log no worker could open); once the file is fixed, SIGHUP
# takes it.
# (Before, `[session] php_file_owner = nosuchuser` was taken, the old
# workers left, and every new worker failed to start: nothing served.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
my %base = ('server.workers' => 2, 'limits.requests_per_minute' => 0);
$t->start_stack(%base);
is($t->chat->{status}, 200, 'the pool serves');
my $log = $t->dir . '/error.log';

# One broken file: check refuses it, and so must the reload.
sub refused_reload {
    my ($what, $reason, %o) = @_;
    $t->write_config(%base, %o);
    my ($rc, $out) = $t->run_chatgate('check', '-c', $t->{conf});
    isnt($rc, 0, "$what: check refuses the file");
    like($out, $reason, "$what: check says why");
    my @before = $t->worker_pids;
    my $seen = () = CG::slurp($log) =~ /reload refused/g;
    kill 'HUP', $t->pid_of('chatgate');
    CG::wait_for("$what: reload refused", sub {
        my $n = () = CG::slurp($log) =~ /reload refused/g;
        $n > $seen });
    my ($line) = grep { /reload refused/ } reverse split /\n/, CG::slurp($log);
    like($line, $reason, "$what: the error log names the reason");
    is_deeply([$t->worker_pids], \@before, "$what: the old workers stay");
    my @st = map { $t->chat->{status} } 1 .. 4;
    is_deeply(\@st, [200, 200, 200, 200], "$what: and keep serving");
}

refused_reload('php_file_owner', qr/php_file_owner: no such user/,
               'session.php_file_owner' => 'nosuchuser');
refused_reload('unknown key', qr/unknown key \[limits\] no_such_key/,
               'limits.no_such_key' => 1);
refused_reload('missing key file', qr/\[provider\] api_key/,
               'provider.api_key' => 'file:' . $t->dir . '/no-such.key');
# A usage log no worker could open would stop every new worker too.
refused_reload('usage log', qr/\[log\] usage_log: cannot write/,
               'log.usage_log' => $t->dir . '/no-such-dir/usage.log');

# Fixed (and changed): the reload is taken and the change takes effect.
my @old = $t->worker_pids;
$t->write_config(%base, 'provider.model' => 'claude-reloaded-model');
my ($rc, $out) = $t->run_chatgate('check', '-c', $t->{conf});
is($rc, 0, 'the fixed file passes check') or diag $out;
kill 'HUP', $t->pid_of('chatgate');
CG::wait_for('reloaded', sub { CG::slurp($log) =~ /reloaded .*generation 1/ });
CG::wait_for('old workers gone', sub {
    my %o = map { $_ => 1 } @old;
    my @now = $t->worker_pids;
    @now == 2 && !grep { $o{$_} } @now;
});
my $res = $t->chat;
is($res->{status}, 200, 'the new workers serve');
is($t->usage_for($res)->{model}, 'claude-reloaded-model',
   'with the new configuration');

done_testing;
