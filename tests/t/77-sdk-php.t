# The PHP example of docs/sdk.md (plain curl, what a LAMP cron job would
# use), taken from the document as it is and run with php-cli against
# nginx + chatgate + the mock provider: the answer, an error in OpenAI's
# shape, and the usage line of a service.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use CG;

plan skip_all => 'php-cli with curl is missing (scripts/deps installs php-cli php-curl)'
    unless `php -r 'echo function_exists("curl_init") ? 1 : 0;' 2>/dev/null` eq '1';

my ($php) = CG::slurp("$CG::ROOT/docs/sdk.md") =~ /```php\n(.*?)```/s;
ok($php, 'docs/sdk.md has the PHP example');

my $tok = 'cgt_' . CG::rand_hex(48);
my $t = CG->new;
$t->start_memcached;
$t->start_mock;
$t->start_chatgate('token cron.sha256' => sha256_hex($tok),
                   'token cron.routes' => 'default');
$t->start_nginx;
my $script = $t->write_file('summarise.php', $php);

sub run_php {
    my (%env) = @_;
    local @ENV{keys %env} = values %env;
    my $out = `php $script 2>&1`;
    return ($? >> 8, $out);
}

my %env = (CHATGATE_URL => $t->url('/api/llm/v1/chat/completions'),
           CHATGATE_TOKEN => $tok, CHATGATE_MODEL => 'claude-test-model');
my ($rc, $out) = run_php(%env);
is($rc, 0, 'the PHP example exits 0');
like($out, qr/^mock reply: Summarise: The printer on floor 2 is jammed again\.$/m,
     'it prints the answer');
like($out, qr/tokens used: \d+/, 'and the usage');
my ($u) = grep { ($_->{user} // '') eq 'token:cron' } @{ $t->usage_lines };
is($u->{api}, 'openai', 'usage line: api openai');
is($u->{caller}, 'service', 'usage line: a service');
is($u->{status}, 200, 'usage line: 200');

($rc, $out) = run_php(%env, CHATGATE_MODEL => 'no-such-model');
is($rc, 1, 'an unknown model: exit 1');
like($out, qr/^chatgate 404: The model does not exist/m, 'the error message, from the OpenAI error shape');

($rc, $out) = run_php(%env, CHATGATE_TOKEN => $t->key);
like($out, qr/^chatgate 401: Provider keys are not accepted here/m, 'a provider key: 401 in words');

done_testing;
