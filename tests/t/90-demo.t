# make demo's script: it starts everything, the curl command it prints gets
# an answer, and it leaves nothing running.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $port = CG::free_port();
my $out = `DEMO_SELFTEST=1 DEMO_PORT=$port ANTHROPIC_API_KEY= CHATGATE_KEY_FILE= $CG::ROOT/scripts/demo 2>&1`;
is($? >> 8, 0, 'demo exits cleanly') or diag $out;
like($out, qr{curl -s http://127\.0\.0\.1:$port/api/chat .*chatgate_session=v1\.}, 'prints a curl command with a session cookie');
like($out, qr/"text":"mock reply: Hello! What can you do\?"/, 'the printed command gets an answer');
like($out, qr/Open the chat page:\s+http:\/\/127\.0\.0\.1:$port\//, 'prints the chat page address');
like($out, qr/^page: content-security-policy: default-src 'self'; script-src 'self';.* img-src 'self';/mi,
     'the page is served with a strict CSP');
like($out, qr/^login: set-cookie: chatgate_session=<token>; HttpOnly; SameSite=Strict; Path=\/api\//mi,
     'the demo login sets an HttpOnly, SameSite=Strict cookie for /api/ only');
like($out, qr/nothing left running/, 'says it stopped everything');
my ($dir) = $out =~ m{files:\s+(/tmp/chatgate-demo-\S+)};
ok($dir && !-e $dir, 'its temp dir is gone');
my @left = grep { $dir && /\Q$dir\E/ } map { CG::slurp($_) } glob '/proc/[0-9]*/cmdline';
is(scalar @left, 0, 'no demo process left running');
done_testing;
