# When chatgate cannot answer at all, nginx's own 502/504 are JSON in
# chatgate's error shape (fcgi-conf/nginx/chatgate.conf error_page and
# fcgi-conf/errors/), while chatgate's own errors pass through unchanged.
# Apache's ErrorDocument is checked in 55-apache.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

for my $f (glob "$CG::ROOT/fcgi-conf/errors/*.json") {
    my $j = eval { decode_json(CG::slurp($f)) };
    ok($j && $j->{error}{type} && $j->{error}{message}, "$f is an error document");
}

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 0);
# chatgate's own 502 passes through, with its request id.
my $r = $t->chat(message => '[[mock:status=500]]');
is($r->{status}, 502, "chatgate's own 502");
like($r->{json}{request_id} // '', qr/^req_/, 'passes through unchanged');

$t->stop('chatgate');
$r = $t->chat(message => 'nobody home');
is($r->{status}, 502, 'chatgate down: nginx answers 502');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'as JSON');
is($r->{json}{error}{type}, 'upstream_error', "in chatgate's error shape");
unlike($r->{content}, qr/<html/i, 'not nginx\'s HTML page');

done_testing;
