# The command line: check validates and names the bad key, mint signs,
# literal keys in a config are refused without being echoed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
my $conf = $t->write_config;

my ($rc, $out) = $t->run_chatgate('check', '-c', $conf);
is($rc, 0, 'check: a good config passes');
like($out, qr/ok/, 'check says ok');
like($out, qr/[0-9a-f]{12}/, 'check shows the key fingerprint');
unlike($out, qr/\Q${\ $t->key }\E/, 'check never prints the key');

sub check_fails {
    my ($ini, $re, $what) = @_;
    my $path = $t->write_file('bad.ini', $ini, 0640);
    my ($c, $o) = $t->run_chatgate('check', '-c', $path);
    isnt($c, 0, "$what: refused");
    like($o, $re, "$what: message names the problem");
    return $o;
}

my $base = CG::slurp($conf);
check_fails("$base\n[server]\nbogus = 1\n", qr/unknown key \[server\] bogus/, 'unknown key');
check_fails("$base\n[nosuch]\nx = 1\n", qr/unknown section \[nosuch\]/, 'unknown section');
(my $w = $base) =~ s/workers = 2/workers = many/;
check_fails($w, qr/\[server\] workers/, 'bad number');
(my $nosecret = $base) =~ s/^secret = .*$//m;
check_fails($nosecret, qr/\[session\] secret is required/, 'missing secret');

# A literal key in the config, in a value or a comment.
my $fake = 'sk-ant-api03-' . ('Q' x 60) . 'AA';
(my $lit = $base) =~ s/^api_key = .*$/api_key = $fake/m;
my $o = check_fails($lit, qr/:\d+: .*looks like a provider API key/, 'literal key');
unlike($o, qr/QQQQQQQQ/, 'the key is not echoed');
$o = check_fails("; old key: sk-proj-" . ('Z' x 40) . "\n$base",
                 qr/:1: /, 'key in a comment, line named');
unlike($o, qr/ZZZZZZZZ/, 'not echoed either');
# Issue 18: every provider's key shape, pasted into a value or a comment.
for my $k ('gsk_' . ('G' x 52), 'xai-' . ('X' x 80), 'hf_' . ('H' x 34),
           'AIzaSy' . ('g' x 33), 'AKIAIOSFODNN7EXAMPL2', 'sk-or-v1-' . ('0' x 64),
           'sk-svcacct-' . ('S' x 40), 'sk-admin-' . ('D' x 40),
           ('A' x 52) . 'JQQJ99' . ('B' x 26), '0123456789abcdef' x 2,
           'Mi5tRaL' . ('m' x 24) . '7') {
    (my $c = $base) =~ s/^api_key = .*$/api_key = env:K\n; pasted: $k/m;
    my $shown = substr($k, 0, 4);
    my $out = check_fails($c, qr/:\d+: .*looks like a provider API key/, "$shown... key");
    unlike($out, qr/\Q$k\E/, "$shown... key not echoed");
}
# A password in a base_url is a secret in the config too.
for my $u ('https://user:s3cret@api.example.test/v1', 'http://token@127.0.0.1:9/') {
    (my $c = $base) =~ s/^base_url = .*$/base_url = $u/m;
    my $out = check_fails($c, qr/base_url holds a user name or password/, "userinfo in $u");
    unlike($out, qr/s3cret|token@/, 'the URL is not echoed');
}
(my $at = $base) =~ s/^base_url = .*$/base_url = http:\/\/127.0.0.1:9\/v1?user=a\@b/m;
my $apath = $t->write_file('at.ini', $at, 0640);
is(($t->run_chatgate('check', '-c', $apath))[0], 0, 'an @ in the query is no userinfo');

(my $plain = $base) =~ s/^api_key = .*$/api_key = hunter2hunter2/m;
$o = check_fails($plain, qr/\[provider\] api_key must reference/, 'plain secret');
unlike($o, qr/hunter2/, 'plain secret not echoed');

# Secrets that cannot be used.
chmod 0644, $t->dir . '/provider.key';
check_fails($base, qr/readable or writable by others/, 'world-readable key file');
chmod 0600, $t->dir . '/provider.key';
$t->write_file('session.secret', "short\n");
check_fails($base, qr/at least 32 bytes/, 'short session secret');
$t->write_file('session.secret', "$t->{secret}\n");
(my $envref = $base) =~ s/^api_key = .*$/api_key = env:CG_TEST_NO_SUCH_VAR/m;
check_fails($envref, qr/CG_TEST_NO_SUCH_VAR.*not set/, 'unset env var');
{
    local $ENV{CG_TEST_KEY} = 'x' x 40;
    (my $e = $base) =~ s/^api_key = .*$/api_key = env:CG_TEST_KEY/m;
    my $p = $t->write_file('env.ini', $e, 0640);
    my ($c) = $t->run_chatgate('check', '-c', $p);
    is($c, 0, 'env: reference works when set');
}

# mint
($rc, $out) = $t->run_chatgate('mint', '-c', $conf, 'user@example.org');
is($rc, 0, 'mint works');
like($out, qr/^v1\.[\w-]+\.\d+\.[\w-]{43}\n$/, 'mint prints a token');
my ($exp) = $out =~ /^v1\.[\w-]+\.(\d+)\./;
ok(abs($exp - time - 86400) < 5, 'default ttl is [session] ttl');
($rc, $out) = $t->run_chatgate('mint', '-c', $conf, 'u', '--ttl', '60');
($exp) = $out =~ /^v1\.[\w-]+\.(\d+)\./;
ok(abs($exp - time - 60) < 5, '--ttl is honoured');
($rc) = $t->run_chatgate('mint', '-c', $conf, 'bad user');
isnt($rc, 0, 'mint refuses an invalid user id');
($rc) = $t->run_chatgate('frobnicate');
is($rc, 2, 'unknown command: usage error');

# Every config key is documented where a sysadmin looks for it.
($rc, $out) = $t->run_chatgate('keys');
is($rc, 0, 'keys lists the config table');
my @keys = map { /^(\[[\w ]+\] \w+)\t/ ? $1 : () } split /\n/, $out;
ok(@keys > 20, 'keys lists them all');
my $docs = join '', map { CG::slurp($_) } "$CG::ROOT/README.md", glob("$CG::ROOT/docs/*.md");
my @missing = grep { index($docs, "`$_`") < 0 } @keys;
is_deeply(\@missing, [], 'every config key is documented in README.md or docs/');
my $fresh = `$CG::ROOT/scripts/config-reference $CG::BUILD/chatgate`;
is($fresh, CG::slurp("$CG::ROOT/docs/config.md"),
   'docs/config.md matches the config table (rerun scripts/config-reference > docs/config.md)');

done_testing;
