# Admission and input validation: each bad request gets its own status and a
# JSON error, and none of them reaches the provider.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
$t->start_stack('input.max_chars' => 20, 'server.max_body' => 4096);

sub err_is {
    my ($res, $status, $type, $what) = @_;
    is($res->{status}, $status, "$what: $status");
    is($res->{json}{error}{type}, $type, "$what: $type");
    like($res->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON");
}

err_is($t->chat(body => '{"message":'), 400, 'invalid_request', 'truncated JSON');
err_is($t->chat(body => '{"message":"hi"} x'), 400, 'invalid_request', 'trailing garbage');
err_is($t->chat(body => '["hi"]'), 400, 'invalid_request', 'not an object');
err_is($t->chat(body => '{}'), 400, 'invalid_request', 'no message');
err_is($t->chat(body => '{"message":42}'), 400, 'invalid_request', 'message not a string');
err_is($t->chat(body => '{"message":""}'), 400, 'invalid_request', 'empty message');
err_is($t->chat(body => '{"message":"   \n"}'), 400, 'invalid_request', 'blank message');
err_is($t->chat(body => "{\"message\":\"\xff\xfe\"}"), 400, 'invalid_request', 'invalid UTF-8');
# json-c turns an escaped lone surrogate into U+FFFD: harmless, and valid.
my $sur = $t->chat(body => '{"message":"a\ud800b"}');
is($sur->{status}, 200, 'lone surrogate escape accepted');
is($sur->{json}{text}, "mock reply: a\x{fffd}b", 'as U+FFFD');
err_is($t->chat(body => '{"message":"' . ('x' x 21) . '"}'), 400, 'invalid_request', 'over max_chars');
is($t->chat(body => '{"message":"' . ("\x{e9}" x 20) . '"}')->{status}, 400,
   'characters, not bytes: 20 x e-acute as Latin-1 bytes is not UTF-8');
{
    use utf8;
    my $body = JSON::PP->new->utf8->encode({ message => 'é' x 20 });
    is($t->chat(body => $body)->{status}, 200, '20 two-byte characters fit max_chars 20');
}
err_is($t->chat(body => '{"message":"' . ('x' x 5000) . '"}'), 413, 'request_too_large', 'body over max_body');
err_is($t->chat(body => '{"message":"hi"}', headers => { 'Content-Type' => 'text/plain' }),
       415, 'unsupported_media_type', 'text/plain');
err_is($t->chat(body => 'message=hi', headers => { 'Content-Type' => 'application/x-www-form-urlencoded' }),
       415, 'unsupported_media_type', 'form body');
err_is($t->chat(body => '{"message":"hi"}', headers => { 'Content-Type' => undef }),
       415, 'unsupported_media_type', 'no content type');
is($t->chat(body => '{"message":"hi"}', headers => { 'Content-Type' => 'application/json; charset=utf-8' })->{status},
   200, 'application/json with charset accepted');
my $res = $t->chat(method => 'GET', body => '');
err_is($res, 405, 'method_not_allowed', 'GET');
is($res->{headers}{allow}, 'POST, OPTIONS', 'Allow header on 405 names OPTIONS (preflights are answered)');
err_is($t->chat(method => 'PUT'), 405, 'method_not_allowed', 'PUT');

# RFC 8259: raw U+0000-U+001F inside a string are refused (issue 18), with
# the byte offset in the message and in the usage line, never the content.
for my $c ("\t", "\n", "\x01", "\x1b") {
    my $r = $t->chat(body => "{\"message\":\"SECRET$c!\"}");
    err_is($r, 400, 'invalid_request', sprintf('raw U+%04X in a string', ord $c));
    like($r->{json}{error}{message} // '', qr/control character .* at byte offset 18\b/,
         'the message names the offset');
    unlike($r->{json}{error}{message} // '', qr/SECRET/, 'and not the content');
    like($t->usage_for($r)->{reason} // '', qr/raw control character .*byte offset 18\b/,
         'the usage line says why');
}
is($t->chat(body => "{\n\t\"message\":\r\n\"a\\tb\"\n}")->{status}, 200,
   'whitespace between tokens and escaped controls pass');

is(scalar @{$t->mock_requests}, 4, 'only the four valid requests reached the provider');
# The usage line is written after the answer, which the client may already
# have (it carries Content-Length): wait for the last one.
eval { CG::wait_for('usage lines', sub { @{$t->usage_lines} >= 24 }, 5) };
my @lines = @{$t->usage_lines};
is(scalar @lines, 24, 'every request has a usage line');

done_testing;
