# Rotation under load: requests run in a loop while scripts/rotate-key
# replaces the key file, probes the new key and reloads; no request fails,
# the mock sees the new key afterwards, and the audit log has key_rotated
# with the old and new fingerprints. Also `chatgate reload` and a refused
# reload that keeps the old key.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use CG;

# The mock accepts any key; what it received is checked in its log.
my $t = CG->new(mock_any_key => 1);
$t->start_stack('server.workers' => 2, 'limits.requests_per_minute' => 0);
my $old = $t->key;
my $new = 'sk-ant-api03-' . CG::rand_hex(40) . 'BB';
my $token = $t->mint('loader');

# The load: a child sends requests one after another until told to stop
# and reports how many it sent and how many failed.
pipe(my $rd, my $wr) or die;
my $stop = $t->dir . '/stop';
my $loader = fork // die;
if ($loader == 0) {
    close $rd;
    my ($sent, $failed) = (0, 0);
    while (!-e $stop && $sent < 2000) {
        my $r = $t->chat(message => "load $sent", token => $token);
        $sent++;
        $failed++ if $r->{status} != 200;
    }
    print $wr "$sent $failed\n";
    close $wr;
    POSIX::_exit(0);
}
close $wr;
CG::wait_for('some load', sub { @{ $t->mock_requests } >= 5 }, 20);

my $newfile = $t->write_file('new.key', "$new\n", 0600);
my $st_before = join ',', (stat($t->dir . '/provider.key'))[2, 4, 5];
local $ENV{CHATGATE} = "$CG::BUILD/chatgate";
my $out = `$CG::ROOT/scripts/rotate-key provider $newfile -c $t->{conf} 2>&1`;
my $rc = $? >> 8;
is($rc, 0, 'rotate-key succeeds') or diag $out;
like($out, qr/probe of key provider \([0-9a-f]{12}\): ok/, 'it probed the new key');
like($out, qr/Revoke the old key \(fingerprint [0-9a-f]{12}\)/, 'and says what is left to do');
unlike($out, qr/\Q$new\E|\Q$old\E/, 'without printing either key');
is(join(',', (stat($t->dir . '/provider.key'))[2, 4, 5]), $st_before,
   'the new key file has the old one\'s mode, owner and group');
is(CG::slurp($t->dir . '/provider.key'), "$new\n", 'the new key is installed');
ok(!glob($t->dir . '/.provider.key.*'), 'no temporary or backup file is left');

# Let the loader run on the new workers for a while, then stop it.
my $n0 = @{ $t->mock_requests };
CG::wait_for('load on new key', sub { @{ $t->mock_requests } >= $n0 + 10 }, 20);
open(my $fh, '>', $stop) or die;
close $fh;
my ($sent, $failed) = split ' ', scalar <$rd>;
waitpid($loader, 0);
ok($sent > 20, "the loader sent requests throughout ($sent)");
is($failed, 0, 'no request failed during the rotation');

my @keys = map { $_->{key} } @{ $t->mock_requests };
ok((grep { $_ eq $old } @keys), 'the mock saw the old key before');
is($keys[-1], $new, 'the mock sees the new key afterwards');
my $last_old = 0;
for my $i (0 .. $#keys) { $last_old = $i if $keys[$i] eq $old }
ok(!grep({ $_ ne $new } @keys[$last_old + 1 .. $#keys]),
   'once the new key is used, the old one is not used again');

my ($rot) = grep { $_->{action} eq 'key_rotated' } @{ $t->audit_lines };
ok($rot, 'a key_rotated audit event');
like($rot->{old_key_id} // '', qr/^[0-9a-f]{12}$/, 'with the old fingerprint');
like($rot->{key_id} // '', qr/^[0-9a-f]{12}$/, 'and the new one');
isnt($rot->{old_key_id}, $rot->{key_id}, 'which differ');
ok((grep { $_->{action} eq 'key_probe' && $_->{detail} =~ /^ok/ }
    @{ $t->audit_lines }), 'the probe is an audit event');

# A bad key file is refused on reload; the old (current) key stays.
chmod 0644, $t->dir . '/provider.key';
my ($c, $o) = $t->run_chatgate('reload', '-c', $t->{conf});
is($c, 1, 'chatgate reload reports the refusal (exit 1)');
CG::wait_for('refusal', sub { CG::slurp($t->dir . '/error.log') =~ /reload refused/ });
like(CG::slurp($t->dir . '/error.log'), qr/reload refused.*readable or writable by others/,
     'the refusal says why');
is($t->chat(message => 'after refusal')->{status}, 200, 'still serving');
is($t->mock_requests->[-1]{key}, $new, 'with the current key');
chmod 0600, $t->dir . '/provider.key';

# rotate-key keeps the old key when the provider rejects the new one.
my $t3 = CG->new;
$t3->start_memcached;
$t3->start_mock;
$t3->start_chatgate;
my $bad = $t3->write_file('bad.key', 'sk-ant-api03-' . CG::rand_hex(40) . "CC\n");
$out = `$CG::ROOT/scripts/rotate-key provider $bad -c $t3->{conf} 2>&1`;
isnt($? >> 8, 0, 'rotate-key fails when the provider rejects the new key');
like($out, qr/old key \([0-9a-f]{12}\) is back in place/, 'and says the old key is back');
is(CG::slurp($t3->dir . '/provider.key'), $t3->key . "\n", 'the old key file is restored');
unlike($t->all_output . $t3->all_output, qr/\Q$new\E|\Q$old\E|sk-ant-\w/,
       'no key in any log');

done_testing;
