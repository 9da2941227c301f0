# One provider 401 is one operator line: the worker hears of a rejected
# key through the chat pipeline's events (lib/pipeline/chat.h), once per
# route tried, and says "rotate it" once; the alert and the audit event
# go to the usage log, not the error log again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 0);
my $res = $t->chat(message => '[[mock:status=401]]');
is($res->{status}, 502, 'a provider 401 is a 502 to the client');
my $u = $t->usage_for($res);
my $id = $u->{request_id};
my $log = CG::slurp($t->dir . '/error.log');
my @lines = grep { /\Q$id\E|rejected|rotate/ } split /\n/, $log;
is(scalar(@lines), 1, 'one 401: one operator line in the error log')
    or diag(join "\n", @lines);
like(join("\n", @lines), qr/provider rejected key provider \([0-9a-f]{12}\): rotate it/,
     'the line names the key and says rotate it');
my @audit = grep { $_->{action} eq 'key_rejected' } @{ $t->audit_lines };
is(scalar(@audit), 1, 'one key_rejected audit event');
my @alerts = grep { ($_->{event} // '') eq 'alert'
                    && $_->{alert} eq 'key_rejected' } @{ $t->usage_lines };
is(scalar(@alerts), 1, 'one key_rejected alert');
done_testing;
