# lighttpd in front of chatgate, from fcgi-conf/lighttpd/ (only paths and
# ports changed): to chatgate's own socket, and with lighttpd starting
# chatgate itself (bin-path, socket on fd 0).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;
use Digest::SHA qw(sha256_hex);

plan skip_all => 'lighttpd not installed' unless -x '/usr/sbin/lighttpd';

sub chat_ok {
    my ($t, $what) = @_;
    my $r = $t->chat(message => 'hello through lighttpd');
    is($r->{status}, 200, "$what: a chat request succeeds");
    like($r->{json}{text} // '', qr/mock reply/, "$what: with the answer");
    $t->check_dup_headers($what);      # lighttpd joins them: "a, b"
}

{
    my $t = CG->new;
    my $svc = 'cgt_' . CG::rand_hex(48);
    $t->start_memcached;
    $t->start_mock;
    $t->start_chatgate('limits.requests_per_minute' => 0,
                       'token svc.sha256' => sha256_hex($svc),
                       'token svc.routes' => '*',
                       'status.path' => '/chatgate-status');
    $t->start_lighttpd(conf => $t->conf_file('lighttpd/chatgate-socket.conf',
                       '/run/chatgate/chatgate.sock' => $t->{sock}));
    chat_ok($t, 'lighttpd socket');
    my $s = $t->{http}->get($t->url('/chatgate-status'));
    is($s->{status}, 200, 'the status page is routed');
    my ($an, $oa) = $t->compat_calls($svc);
    like($an->{content}, qr/"type":"message"/, 'lighttpd: the Anthropic endpoint (x-api-key)');
    like($oa->{content}, qr/"object":"chat.completion"/, 'lighttpd: the OpenAI endpoint (Bearer)');
}

{
    my $t = CG->new;
    $t->start_memcached;
    $t->start_mock;
    $t->write_config('limits.requests_per_minute' => 0);
    my $sock = $t->dir . '/lighttpd-chatgate.sock';
    $t->start_lighttpd(conf => $t->conf_file('lighttpd/chatgate-bin-path.conf',
        '/run/lighttpd/chatgate.sock' => $sock,
        '/usr/local/bin/chatgate' => $t->chatgate_copy,
        '/etc/chatgate/chatgate.ini' => $t->{conf}));
    chat_ok($t, 'lighttpd bin-path');
    chat_ok($t, 'lighttpd bin-path, again');
    like(CG::slurp($t->dir . '/error.log'), qr/serving on the inherited socket/,
         'chatgate ran as single workers on the socket lighttpd passed');
    $t->stop('lighttpd');
    CG::wait_for('bin-path workers gone', sub {
        !grep { (CG::slurp("/proc/$_/cmdline") // '') =~ /\Q$t->{conf}\E/ }
            map { m{/proc/(\d+)/} } glob '/proc/[0-9]*/cmdline' });
    pass('they leave when lighttpd stops');
}

done_testing;
