# Provider failures map to 502/504 with chatgate's own words; nothing of the
# provider's error text, headers or key reaches the client.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use CG;

my $t = CG->new;
$t->start_stack('provider.timeout_ms' => 1000, 'limits.requests_per_minute' => 0);

sub upstream_err {
    my ($msg, $status, $type, $what) = @_;
    my $res = $t->chat(message => $msg);
    is($res->{status}, $status, "$what: $status");
    is($res->{json}{error}{type}, $type, "$what: $type");
    unlike($res->{content}, qr/mock internal detail|srv|overloaded|req_mock/i,
           "$what: no provider text");
    ok(!grep({ /^(request-id|retry-after|anthropic)/i } keys %{$res->{headers}}),
       "$what: no provider headers");
    return $res;
}

upstream_err('[[mock:status=500]]', 502, 'upstream_error', 'provider 500');
upstream_err('[[mock:status=529]]', 502, 'upstream_error', 'provider 529');
upstream_err('[[mock:status=429]]', 502, 'upstream_error', 'provider 429');
upstream_err('[[mock:status=400]]', 502, 'upstream_error', 'provider 400');
upstream_err('[[mock:status=401]]', 502, 'upstream_error', 'provider 401');
upstream_err('[[mock:garbage]]', 502, 'upstream_error', 'garbage JSON');
upstream_err('[[mock:truncate]]', 502, 'upstream_error', 'truncated body');
upstream_err('[[mock:reset]]', 502, 'upstream_error', 'connection reset');

my $t0 = time;
upstream_err('[[mock:delay_ms=3000]]', 504, 'upstream_timeout', 'slow provider');
my $took = time - $t0;
ok($took < 2.5, "timeout enforced (took ${took}s with timeout_ms 1000)");
upstream_err('[[mock:stall_after=1]]', 504, 'upstream_timeout', 'stalled body');

# Provider gone entirely.
$t->stop('mock');
upstream_err('hello', 502, 'upstream_error', 'provider down');

my %reason = map { ($_->{reason} // '') => 1 } @{$t->usage_lines};
ok($reason{'provider status 500'}, 'the log keeps the provider status for the operator');
ok((grep { /timeout/i } keys %reason), 'the log says timeout');

done_testing;
