# Key custody: named keys and environments, key file ownership and mode,
# env: keys removed from the environment, non-dumpable processes, and no key
# in any log, answer, error or command output.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX qw(strftime);
use CG;

my $t = CG->new;
my $d = $t->dir;
my $conf = $t->write_config;
my $base = CG::slurp($conf);
my $today = strftime('%Y-%m-%d', gmtime);

sub check {
    my ($ini, %o) = @_;
    my $path = $t->write_file('k.ini', $ini, 0640);
    local @ENV{keys %{$o{env} // {}}} = values %{$o{env} // {}};
    return $t->run_chatgate('check', '-c', $path);
}

sub with_keys {
    my ($api_key, $server_env, @keys) = @_;
    (my $ini = $base) =~ s/^api_key = .*$/api_key = $api_key/m;
    $ini =~ s/^\[server\]\n/[server]\nenvironment = $server_env\n/m
        if $server_env;
    return join "\n", $ini, @keys;
}

my $prod_key = $t->write_file('prod.key', $t->key . "\n", 0600);
my $dev_key = $t->write_file('dev.key', "dev-" . CG::rand_hex(40) . "\n",
                             0600);
my $prod = "[key prod]\nsource = file:$prod_key\nenvironment = production\n"
         . "created = $today\n";
my $dev = "[key dev]\nsource = file:$dev_key\nenvironment = development\n";

my ($rc, $out) = check(with_keys('key:prod', undef, $prod, $dev));
is($rc, 0, 'a production server with a production key passes') or diag $out;
like($out, qr/provider key prod [0-9a-f]{12}/, 'check names the key and its fingerprint');
like($out, qr/key dev \(development\): not read/, 'another environment\'s key is not read');
unlike($out, qr/\Q${\ $t->key }\E/, 'check never prints the key');

($rc, $out) = check(with_keys('key:dev', undef, $prod, $dev));
isnt($rc, 0, 'a development key in production is refused');
like($out, qr/uses key dev, a development key, but \[server\] environment is production/,
     'and the message says why');
($rc, $out) = check(with_keys('key:prod', 'development', $prod, $dev));
isnt($rc, 0, 'a production key in development is refused');
like($out, qr/a production key, but \[server\] environment is development/, 'named');
($rc, $out) = check(with_keys('key:nosuch', undef, $prod));
like($out, qr/no \[key nosuch\] section/, 'an unknown key name is refused');
($rc, $out) = check(with_keys('key:prod', undef,
                              "[key prod]\nsource = file:$prod_key\nenvironment = production\nroutes = other\n"));
like($out, qr/routes \(other\) do not include it/, 'a key not allowed on the route is refused');
($rc, $out) = check(with_keys('key:prod', undef, "[key prod]\nsource = file:$prod_key\n"));
like($out, qr/\[key prod\] environment is required/, 'a key needs an environment');
($rc, $out) = check(with_keys('key:prod', undef, "[key prod]\nsource = file:$prod_key\n"
                              . "environment = production\nbogus = 1\n"));
like($out, qr/unknown key \[key prod\] bogus/, 'unknown settings in [key] are refused');
my $lit = 'sk-ant-api03-' . ('R' x 50) . 'AA';
($rc, $out) = check(with_keys('key:prod', undef, "[key prod]\nsource = $lit\nenvironment = production\n"));
isnt($rc, 0, 'a literal key as a source is refused');
unlike($out, qr/RRRRRRRR/, 'and not echoed');

# Age: a key past max_age_days gets a warning in check.
($rc, $out) = check(with_keys('key:prod', undef, "[key prod]\nsource = file:$prod_key\n"
                              . "environment = production\ncreated = 2020-01-01\nmax_age_days = 30\n"));
is($rc, 0, 'an old key still works');
like($out, qr/warning: key prod \([0-9a-f]{12}\) is \d+ days old, over its max_age_days of 30/,
     'check warns about an old key');

# File custody.
chmod 0604, $prod_key;
($rc, $out) = check(with_keys('key:prod', undef, $prod));
like($out, qr/readable or writable by others/, 'a world-readable key file is refused');
chmod 0620, $prod_key;
($rc, $out) = check(with_keys('key:prod', undef, $prod));
like($out, qr/writable by its group/, 'a group-writable key file is refused');
chmod 0640, $prod_key;
($rc) = check(with_keys('key:prod', undef, $prod));
is($rc, 0, 'a group-readable key file is allowed (audit lists its readers)');
chmod 0600, $prod_key;
SKIP: {
    skip 'ownership checks need root', 2 unless $> == 0;
    chown 65534, 0, $prod_key;
    ($rc, $out) = check(with_keys('key:prod', undef, $prod));
    like($out, qr/owned by \S+ \(uid 65534\), not by root, the account chatgate runs as .*\[server\] user/,
         'a key file owned by another account is refused');
    chown 0, 0, $prod_key;
    ($rc) = check(with_keys('key:prod', undef, $prod));
    is($rc, 0, 'root-owned is fine');
}

# credential: needs $CREDENTIALS_DIRECTORY.
mkdir "$d/creds";
$t->write_file("$d/creds/provider", $t->key, 0400);
($rc, $out) = check(with_keys('credential:provider', undef));
like($out, qr/credential:provider needs \$CREDENTIALS_DIRECTORY/, 'credential: without systemd says so');
($rc, $out) = check(with_keys('credential:provider', undef),
                    env => { CREDENTIALS_DIRECTORY => "$d/creds" });
is($rc, 0, 'credential: reads $CREDENTIALS_DIRECTORY/NAME') or diag $out;

# The running server: key from the environment, gone from /proc/PID/environ
# of the master and of the workers.
$t->start_memcached;
$t->start_mock;
{
    local $ENV{CG_TEST_PROVIDER_KEY} = $t->key;
    $t->start_chatgate('provider.api_key' => 'env:CG_TEST_PROVIDER_KEY');
}
$t->start_nginx;
my $res = $t->chat(message => 'env key');
is($res->{status}, 200, 'a key from env: works');
for my $pid ($t->pid_of('chatgate'), $t->worker_pids) {
    my $env = CG::slurp("/proc/$pid/environ");
    like($env, qr/PATH=/, "environ of $pid is readable here");
    unlike($env, qr/\Q${\ $t->key }\E/, "the key is not in /proc/$pid/environ");
}

# Non-dumpable: the server's processes refuse /proc access even to their
# own user, which is what gdb -p and strace -p need. As root the server runs
# as nobody for this; a dumpable process of the same user is the control.
my @as = $> == 0 ? ('setpriv', '--reuid=65534', '--regid=65534',
                    '--clear-groups') : ();
sub can_read_environ {
    my ($pid) = @_;
    system(@as, 'sh', '-c', "cat /proc/$pid/environ >/dev/null 2>&1");
    return $? == 0;
}
my $t2 = CG->new;
if ($> == 0) {
    chown 65534, 65534, $t2->dir;
}
$t2->write_config('server.listen' => $t2->dir . '/c.sock',
                  'server.pid_file' => undef);
system('chown', '-R', '65534:65534', $t2->dir) if $> == 0;
$t2->spawn('chatgate', undef, @as, "$CG::BUILD/chatgate", 'serve', '-c',
           $t2->{conf});
CG::wait_for('workers', sub { scalar($t2->worker_pids) >= 1 });
my $control = $t2->spawn('control', undef, @as, 'sleep', '30');
# Wait until the control is sleep itself, not the harness between fork
# and exec.
CG::wait_for('control', sub { CG::slurp("/proc/$control/comm") eq "sleep\n" });
ok(can_read_environ($control), 'control: a dumpable process is readable by its user');
for my $pid ($t2->pid_of('chatgate'), $t2->worker_pids) {
    ok(!can_read_environ($pid), "process $pid: not readable (ptrace) by its own user");
    like(CG::slurp("/proc/$pid/limits"), qr/Max core file size\s+0\s+0/,
         "process $pid: no core files");
}
$t2->stop('control');
$t2->stop_all;

# Errors and logs: the key, in any form, nowhere.
$t->chat(message => '[[mock:status=401]]');
$t->chat(message => '[[mock:status=500]]');
my $all = $t->all_output . join('', map { $_->{content} } $res);
unlike($all, qr/\Q${\ $t->key }\E/, 'the key is in no log line');
unlike($all, qr/sk-ant-\w/, 'no key shape in any log');
my $ev = $t->audit_lines;
ok((grep { $_->{action} eq 'start' } @$ev), 'start is an audit event');
my ($loaded) = grep { $_->{action} eq 'key_loaded' } @$ev;
ok($loaded, 'key_loaded is an audit event');
like($loaded->{key_id} // '', qr/^[0-9a-f]{12}$/, 'with the fingerprint');
is($loaded->{key}, 'provider', 'and the key name');
my ($rej) = grep { $_->{action} eq 'key_rejected' } @$ev;
ok($rej, 'a 401 from the provider is a key_rejected audit event (rotate now)');
is($rej->{key_id}, $loaded->{key_id}, 'naming the key by fingerprint');
like(CG::slurp("$d/error.log"), qr/provider rejected key provider \([0-9a-f]{12}\): rotate it/,
     'and a warning in the error log');

done_testing;
