# valgrind over the unit tests and one integration scenario (the chat path,
# its errors and a reload): no invalid access, no use of uninitialised
# memory, no definite leak. Skipped under SAN=1 (ASan and valgrind exclude
# each other); the sanitizer run covers the same ground there.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;
use Digest::SHA ();
use JSON::PP;

plan skip_all => 'valgrind and ASan do not mix (SAN=1)' if $ENV{CG_SAN};
plan skip_all => 'valgrind not installed' unless `which valgrind` =~ /\S/;

# valgrind cannot follow PCRE2's JIT code; the same patterns run interpreted.
$ENV{CHATGATE_PCRE_JIT} = 0;

for my $unit (sort glob "$CG::BUILD/tests/test_*") {
    my $out = `CMOCKA_MESSAGE_OUTPUT=TAP valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $unit 2>&1`;
    is($? >> 8, 0, "valgrind clean: $unit") or diag $out;
}

my $svc = 'cgt_' . CG::rand_hex(48);
my $t = CG->new(valgrind => 1);
$t->start_stack('limits.requests_per_minute' => 5,
                'token vg.sha256' => Digest::SHA::sha256_hex($svc),
                'token vg.routes' => '*');
is($t->chat(message => 'hello')->{status}, 200, 'chat under valgrind');
is($t->chat(message => '[[mock:status=500]]')->{status}, 502, 'provider error under valgrind');
is($t->chat(body => '{"message":')->{status}, 400, 'bad JSON under valgrind');
is($t->chat(token => 'v1.x.1.y')->{status}, 401, 'bad token under valgrind');
is($t->chat(message => '[[mock:garbage]]')->{status}, 502, 'garbage under valgrind');
# The provider-compatible endpoints (docs/sdk.md): JSON, a stream, a refusal.
my %svc = (token => undef, headers => { Authorization => "Bearer $svc" });
my $res = $t->chat(%svc, path => '/api/llm/v1/chat/completions',
                   body => { model => 'claude-test-model', messages => [{ role => 'user', content => 'hi' }] });
is($res->{status}, 200, 'openai-format call under valgrind');
$res = $t->chat(%svc, path => '/api/llm/v1/messages',
                body => { model => 'claude-test-model', max_tokens => 20, stream => JSON::PP::true,
                          messages => [{ role => 'user', content => 'hi' }] });
like($res->{content}, qr/event: message_stop/, 'anthropic-format stream under valgrind');
$res = $t->chat(%svc, path => '/api/llm/v1/messages',
                body => { model => 'claude-test-model', max_tokens => 20, tools => [],
                          messages => [{ role => 'user', content => 'hi' }] });
is($res->{status}, 400, 'a refused compat body under valgrind');
$t->chat for 1 .. 3;
is($t->chat->{status}, 429, 'rate limit under valgrind');
kill 'HUP', $t->pid_of('chatgate');
CG::wait_for('reload', sub { CG::slurp($t->dir . '/error.log') =~ /reloaded/ }, 60);
done_testing;    # stops the servers, then checks every valgrind log
