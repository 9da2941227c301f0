# [route NAME] sections: what `chatgate check` accepts and refuses.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
my $d = $t->dir;
my $base = CG::slurp($t->write_config);
my $route = "[route r1]\nprovider = openai\nmodel = m1\napi_key = file:$d/provider.key\n";

sub check {
    my ($ini) = @_;
    my $path = $t->write_file('t.ini', $ini, 0640);
    return $t->run_chatgate('check', '-c', $path);
}

sub refused {
    my ($ini, $re, $what) = @_;
    my ($rc, $out) = check($ini);
    isnt($rc, 0, "$what: refused");
    like($out, $re, "$what: says why");
}

my ($rc, $out) = check("$base\n$route");
is($rc, 0, '[provider] plus a route passes') or diag $out;

# Routes only: no [provider] at all, one route the default.
(my $noprov = $base) =~ s/\[provider\][^\[]*//s;
($rc, $out) = check("$noprov\n$route");
isnt($rc, 0, 'routes only: the default route must exist');
like($out, qr/default_route/, 'routes only: says default_route');
(my $rt_only = $noprov) =~ s/\[server\]\n/[server]\ndefault_route = r1\n/;
($rc, $out) = check("$rt_only\n$route");
is($rc, 0, 'routes only with default_route passes') or diag $out;
refused($noprov, qr/\[provider\] api_key is required/, 'no route at all');

refused("$base\n[route r1]\napi_key = file:$d/provider.key\n",
        qr/\[route r1\] model is required/, 'route without model');
refused("$base\n$route" . "fallback = nope\n", qr/fallback: "nope" is not another route/,
        'unknown fallback');
refused("$base\n$route" . "fallback = r1\n", qr/is not another route/, 'fallback to itself');
refused("$base\n$route" . "temperature = 1,\"x\":1\n", qr/temperature must be a number/,
        'temperature is a number');
refused("$base\n$route" . "auth = basic\n", qr/\[route\] auth/, 'unknown auth style');
refused("$base\n$route" . "colour = red\n", qr/unknown key \[route r1\] colour/, 'unknown route key');
refused("$base\n[route default]\nmodel = x\napi_key = file:$d/provider.key\n",
        qr/route default is defined twice/, '[route default] clashes with [provider]');
refused("$base\n[route bad/name]\nmodel = x\n", qr/route name/, 'bad route name');
refused("$base\n$route" . "api_key = sk-ant-api03-" . ('Q' x 60) . "AA\n",
        qr/looks like a provider API key/, 'literal key in a route');

done_testing;
