# Who is asking: signed session tokens in a cookie or a Bearer header.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
$t->start_stack;

my $tok = $t->mint('bob');
like($tok, qr/^v1\.[A-Za-z0-9_-]+\.\d+\.[A-Za-z0-9_-]{43}$/, 'token shape');

is($t->chat(token => $tok)->{status}, 200, 'cookie token accepted');
is($t->chat(token => undef, headers => { Authorization => "Bearer $tok" })->{status},
   200, 'Bearer token accepted');
is($t->chat(token => undef, headers => { Cookie => "a=1; chatgate_session=$tok; b=2" })->{status},
   200, 'cookie found among others');

sub is_401 {
    my ($res, $what) = @_;
    is($res->{status}, 401, "$what: 401");
    is($res->{json}{error}{type}, 'authentication_error', "$what: error type");
    like($res->{json}{request_id}, qr/^req_/, "$what: request id in error");
}

is_401($t->chat(token => undef), 'no token');
is_401($t->chat(token => ''), 'empty token');
is_401($t->chat(token => 'garbage'), 'garbage token');

# Flip one character in each part of the token.
my ($v, $user, $exp, $mac) = split /\./, $tok;
my $flip = sub { my $s = shift; my $c = substr($s, 1, 1); substr($s, 1, 1) = $c eq 'A' ? 'B' : 'A'; $s };
is_401($t->chat(token => join('.', $v, $flip->($user), $exp, $mac)), 'tampered user');
is_401($t->chat(token => join('.', $v, $user, $exp + 1, $mac)), 'tampered expiry');
is_401($t->chat(token => join('.', $v, $user, $exp, $flip->($mac))), 'tampered MAC');

# A token for another user with bob's MAC.
my $eve = $t->mint('eve');
my (undef, $eve_user) = split /\./, $eve;
is_401($t->chat(token => join('.', $v, $eve_user, $exp, $mac)), 'spliced token');

# Expired: minted with a one-second lifetime.
my $short = $t->mint('carol', '--ttl', 1);
is($t->chat(token => $short)->{status}, 200, 'short token works at first');
sleep 2;
is_401($t->chat(token => $short), 'expired token');

# A token signed with another secret.
my $other = CG->new;
$other->write_config;
is_401($t->chat(token => $other->mint('bob')), 'token from another secret');

my $lines = $t->usage_lines;
my @reasons = map { $_->{reason} // '' } grep { $_->{status} == 401 } @$lines;
ok((grep { /expired/ } @reasons), 'the operator log says why (expired)');
ok((grep { /signature/ } @reasons), 'the operator log says why (signature)');
ok(!(grep { $_->{status} == 401 && defined $_->{user} } @$lines), 'no user on 401 lines');

done_testing;
