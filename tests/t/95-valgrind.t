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

plan skip_all => 'valgrind and ASan do not mix (SAN=1)' if $ENV{CG_SAN};
plan skip_all => 'valgrind not installed' unless `which valgrind` =~ /\S/;

# valgrind cannot follow PCRE2's JIT code; the same patterns run interpreted.
$ENV{CHATGATE_PCRE_JIT} = 0;

for my $unit (sort glob "$CG::BUILD/tests/test_*") {
    my $out = `CMOCKA_MESSAGE_OUTPUT=TAP valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $unit 2>&1`;
    is($? >> 8, 0, "valgrind clean: $unit") or diag $out;
}

my $t = CG->new(valgrind => 1);
$t->start_stack('limits.requests_per_minute' => 5);
is($t->chat(message => 'hello')->{status}, 200, 'chat under valgrind');
is($t->chat(message => '[[mock:status=500]]')->{status}, 502, 'provider error under valgrind');
is($t->chat(body => '{"message":')->{status}, 400, 'bad JSON under valgrind');
is($t->chat(token => 'v1.x.1.y')->{status}, 401, 'bad token under valgrind');
is($t->chat(message => '[[mock:garbage]]')->{status}, 502, 'garbage under valgrind');
$t->chat for 1 .. 3;
is($t->chat->{status}, 429, 'rate limit under valgrind');
kill 'HUP', $t->pid_of('chatgate');
CG::wait_for('reload', sub { CG::slurp($t->dir . '/error.log') =~ /reloaded/ }, 60);
done_testing;    # stops the servers, then checks every valgrind log
