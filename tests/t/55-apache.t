# Apache in front of chatgate, from the files in fcgi-conf/apache/ (only
# paths and ports changed): mod_proxy_fcgi to chatgate's own socket, and
# mod_fcgid starting chatgate itself, from the server config and from a
# shared-hosting .htaccess + wrapper.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;
use Digest::SHA qw(sha256_hex);

plan skip_all => 'apache2 with mod_proxy_fcgi and mod_fcgid not installed'
    unless -x '/usr/sbin/apache2'
        && -e '/usr/lib/apache2/modules/mod_fcgid.so';

sub chat_ok {
    my ($t, $what) = @_;
    my $r = $t->chat(message => 'hello through apache');
    is($r->{status}, 200, "$what: a chat request succeeds");
    like($r->{json}{text} // '', qr/mock reply/, "$what: with the answer");
    unlike($r->{content}, qr/\Q${\ $t->key }\E/, "$what: no key in the answer");
}

# mod_proxy_fcgi; as root, Apache's user reaches the socket through
# socket_group (the documented way), not a world-writable mode.
{
    my $t = CG->new;
    my (undef, $group) = CG::web_user();
    my $svc = 'cgt_' . CG::rand_hex(48);
    $t->start_memcached;
    $t->start_mock;
    $t->start_chatgate('limits.requests_per_minute' => 0,
                       ($group ? ('server.socket_group' => $group) : ()),
                       'token svc.sha256' => sha256_hex($svc),
                       'token svc.routes' => '*',
                       'status.path' => '/chatgate-status');
    my $site = $t->conf_file('apache/chatgate-proxy-fcgi.conf',
                             '/run/chatgate/chatgate.sock' => $t->{sock},
                             '/usr/local/share/chatgate/errors' => $t->errors_copy);
    $t->start_apache(conf => $site, modules => [qw(proxy proxy_fcgi)]);
    chat_ok($t, 'mod_proxy_fcgi');
    my $s = $t->{http}->get($t->url('/chatgate-status'));
    is($s->{status}, 200, 'mod_proxy_fcgi: the status page is routed');
    like($s->{content}, qr/"requests":1\b/, 'and counts the request');
    my ($an, $oa) = $t->compat_calls($svc);
    like($an->{content}, qr/"type":"message"/, 'mod_proxy_fcgi: the Anthropic endpoint (x-api-key)');
    like($oa->{content}, qr/"object":"chat.completion"/, 'mod_proxy_fcgi: the OpenAI endpoint (Bearer)');
    $t->check_dup_headers('mod_proxy_fcgi');   # Apache joins them: "a, b"
    # chatgate down: Apache's own 503 is JSON (ErrorDocument).
    $t->stop('chatgate');
    my $r = $t->chat(message => 'nobody home');
    is($r->{status}, 503, 'mod_proxy_fcgi, chatgate down: 503');
    like($r->{headers}{'content-type'} // '', qr{^application/json}, 'as JSON');
    is($r->{json}{error}{type}, 'service_unavailable', 'with chatgate\'s error shape');
}

# mod_fcgid, server config: Apache starts chatgate through the wrapper.
sub fcgid_stack {
    my ($t, $shared) = @_;
    $t->start_memcached;
    $t->start_mock;
    $t->write_config('limits.requests_per_minute' => 0);
    return $t->conf_file('apache/shared-hosting/chatgate.fcgi',
        '/home/me/chatgate/chatgate' => $t->chatgate_copy,
        '/home/me/chatgate/chatgate.ini' => $t->{conf},
        '/home/me/chatgate/error.log' => $t->dir . '/error.log') if $shared;
    return $t->conf_file('apache/chatgate.fcgi',
        '/usr/local/bin/chatgate' => $t->chatgate_copy,
        '/etc/chatgate/chatgate.ini' => $t->{conf});
}

sub fcgid_globals {
    my ($t) = @_;
    my $d = $t->dir;
    return "FcgidIPCDir $d/fcgid\nFcgidProcessTableFile $d/fcgid-shm\n";
}

{
    my $t = CG->new;
    my $wrapper = fcgid_stack($t);
    $t->write_file('chatgate.fcgi', $wrapper, 0755);
    my $site = $t->conf_file('apache/chatgate-fcgid.conf',
        '/usr/local/lib/chatgate/chatgate.fcgi' => $t->dir . '/chatgate.fcgi');
    $t->give_dir_to_web_user;
    $t->start_apache(conf => fcgid_globals($t) . $site, modules => ['fcgid']);
    chat_ok($t, 'mod_fcgid');
    chat_ok($t, 'mod_fcgid, second request');
    $t->check_dup_headers('mod_fcgid');
    like(CG::slurp($t->dir . '/error.log'), qr/serving on the inherited socket/,
         'chatgate ran as a single worker on the socket mod_fcgid passed');
}

# mod_fcgid on shared hosting: only an .htaccess and the wrapper in the
# web root; the URL is still /api/chat.
{
    my $t = CG->new;
    my $wrapper = fcgid_stack($t, 1);
    my $api = $t->dir . '/htdocs/api';
    mkdir $t->dir . '/htdocs';
    mkdir $api;
    $t->write_file("$api/chatgate.fcgi", $wrapper, 0755);
    $t->write_file("$api/.htaccess",
                   $t->conf_file('apache/shared-hosting/.htaccess'), 0644);
    $t->give_dir_to_web_user;
    my $server = $t->conf_file('apache/chatgate-fcgid.conf');
    $server =~ s/^ScriptAlias.*//ms;   # the server part only
    $t->start_apache(conf => fcgid_globals($t) . $server,
                     modules => ['fcgid']);
    chat_ok($t, 'mod_fcgid via .htaccess');
    $t->check_dup_headers('mod_fcgid via .htaccess');
    like(CG::slurp($t->dir . '/error.log'), qr/serving on the inherited socket/,
         'chatgate ran as a single worker on the socket mod_fcgid passed');
}

done_testing;
