# HS256 JWTs from the host site, in a Bearer header or a cookie.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(hmac_sha256);
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use CG;

my $t = CG->new;
my $key = CG::rand_hex(64);
$t->write_file('jwt.key', "$key\n");
my $d = $t->dir;
$t->start_stack(
    'session.mode'         => 'jwt, signed',
    'session.jwt_secret'   => "file:$d/jwt.key",
    'session.jwt_issuer'   => 'https://site.test',
    'session.jwt_audience' => 'chatgate',
    'session.jwt_cookie'   => 'site_jwt',
);

sub jwt {
    my ($claims, %o) = @_;
    my $h = encode_base64url(encode_json($o{header} // { alg => 'HS256', typ => 'JWT' }));
    my $p = encode_base64url(encode_json({ iss => 'https://site.test',
        aud => 'chatgate', exp => time + 300, %$claims }));
    my $sig = encode_base64url(hmac_sha256("$h.$p", $o{key} // $key));
    return "$h.$p." . ($o{sig} // $sig);
}
sub bearer { $t->chat(token => undef, headers => { Authorization => "Bearer $_[0]" }) }

my $res = bearer(jwt({ sub => 'ann' }));
is($res->{status}, 200, 'Bearer JWT accepted');
is($t->usage_for($res)->{user}, 'ann', 'user from sub');
is($t->chat(token => undef, headers => { Cookie => 'site_jwt=' . jwt({ sub => 'ben' }) })
   ->{status}, 200, 'JWT cookie accepted');
is($t->chat(token => undef, headers => { Cookie => 'site_jwt=' . jwt({ sub => 'ben' }),
                                         Origin => 'https://evil.test' })->{status},
   403, 'JWT cookie from a foreign origin refused');
is(bearer($t->mint('cat'))->{status}, 200, 'signed tokens still work (mode list)');

my %bad = (
    'alg none'      => jwt({ sub => 'x' }, header => { alg => 'none' }, sig => ''),
    'alg HS512'     => jwt({ sub => 'x' }, header => { alg => 'HS512' }),
    'wrong key'     => jwt({ sub => 'x' }, key => 'k' x 40),
    'expired'       => jwt({ sub => 'x', exp => time - 3600 }),
    'nbf in future' => jwt({ sub => 'x', nbf => time + 3600 }),
    'wrong aud'     => jwt({ sub => 'x', aud => 'other' }),
    'wrong iss'     => jwt({ sub => 'x', iss => 'https://evil.test' }),
    'no sub'        => jwt({}),
);
my @reasons;
for my $what (sort keys %bad) {
    $res = bearer($bad{$what});
    is($res->{status}, 401, "$what: 401");
    is($res->{json}{error}{type}, 'authentication_error', "$what: no detail to the client");
    push @reasons, $t->usage_for($res)->{reason};
}
like("@reasons", qr/jwt: JWT audience mismatch/, 'the log says which claim failed');
like("@reasons", qr/jwt: JWT algorithm/, 'the log says the algorithm was refused');
done_testing;
