# audit and PHP: a key or the session secret readable by the account PHP
# runs as ([session] php_file_owner, else www-data) is a high finding; the
# documented set-up (root:<key group> 0640, the PHP user not in the group)
# is not. The session secret is audited like a key (who reads it can forge
# any user's session).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

plan skip_all => 'needs root (to give files to other accounts)' unless $> == 0;
plan skip_all => 'no www-data account' unless getpwnam('www-data');

my $t = CG->new;
my $d = $t->dir;
my $conf = $t->write_config;
my ($key, $sec) = ("$d/provider.key", "$d/session.secret");

sub audit {
    my ($ini) = @_;
    my ($rc, $out) = $t->run_chatgate('audit', '-c', $ini // $conf, '--json');
    my $j = eval { decode_json($out) } or diag $out;
    return ($rc, $j // {});
}
sub findings {
    my ($j, $re) = @_;
    return grep { ($_->{message} // '') =~ $re } @{ $j->{findings} // [] };
}

# The documented safe set-up: the key group is one www-data is not in.
system('chown', 'root:nogroup', $key, $sec) == 0 or die;
chmod 0640, $key, $sec;
my ($rc, $j) = audit();
is(scalar(findings($j, qr/the account PHP runs as/)), 0,
   'root:<key group> 0640: no PHP finding');
ok($j->{session_secrets} && @{ $j->{session_secrets} } == 1,
   'the session secret file is in the report');
is($j->{session_secrets}[0]{path}, $sec, 'with its path');

# The old documented root:www-data 0640: PHP can read the key.
system('chown', 'root:www-data', $key) == 0 or die;
($rc, $j) = audit();
my ($f) = findings($j, qr/key file \Q$key\E is readable by www-data, the account PHP runs as/);
ok($f, 'a key readable by www-data is flagged');
is($f->{severity}, 'high', 'as high');
like($f->{message}, qr/\[server\] group = chatgate-keys/, 'and says what to do');
is($rc, 3, 'audit exits 3');

# The session secret readable by PHP: anyone with PHP can forge sessions.
system('chown', 'root:nogroup', $key) == 0 or die;
system('chown', 'root:www-data', $sec) == 0 or die;
($rc, $j) = audit();
($f) = findings($j, qr/session secret file \Q$sec\E is readable by www-data/);
ok($f && $f->{severity} eq 'high', 'a session secret readable by PHP is high');
is($rc, 3, 'audit exits 3');
chmod 0644, $sec;
($rc, $j) = audit();
ok(findings($j, qr/readable by everyone .*forge any user's session/),
   'a world-readable session secret: anyone can forge sessions');
chmod 0640, $sec;
system('chown', 'root:nogroup', $sec) == 0 or die;

# [session] php_file_owner names the PHP user.
system('chown', 'nobody', $key) == 0 or die;
chmod 0600, $key;
my $p = $t->write_file('php.ini', CG::slurp($conf)
                       . "\n[session]\nphp_file_owner = nobody\n", 0644);
($rc, $j) = audit($p);
ok(findings($j, qr/readable by nobody, the account PHP runs as/),
   '[session] php_file_owner is the PHP user audit looks for');
system('chown', 'root', $key) == 0 or die;

done_testing;
