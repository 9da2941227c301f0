# A real PHP site (php-fpm behind the same nginx) logs a user in; the same
# browser cookie then works at /api/chat, with sessions in files and in
# memcached (php-memcached extension, two servers, so the hashing must agree).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use CG;

my $t = CG->new;
my $d = $t->dir;
mkdir "$d/php-sessions", 0700 or die;
$t->start_memcached;
# A second memcached for PHP's sessions: with two servers the gateway must
# pick the same one as php-memcached for every session id.
my $mc2 = CG::free_port();
$t->spawn('memcached2', undef, 'memcached', '-l', '127.0.0.1', '-p', $mc2,
          '-U', '0', '-t', '1', '-m', '16', ($> == 0 ? ('-u', 'nobody') : ()));
CG::wait_for('memcached2', sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$mc2") });
my $mc = "127.0.0.1:$t->{mc_port},127.0.0.1:$mc2";
$t->start_mock;
$t->start_chatgate(
    'session.mode'                  => 'php-files, php-memcached, signed',
    'session.php_save_path'         => "$d/php-sessions",
    'session.php_memcached_servers' => $mc,
);
$t->start_php_fpm(
    ini => { 'session.save_path' => "$d/php-sessions",
             'session.save_handler' => 'files',
             'session.cookie_samesite' => 'Lax' },
    env => { CG_MC_SAVE_PATH => $mc });
$t->start_nginx;

my $http = HTTP::Tiny->new(timeout => 10);
sub login {
    my ($user, $store, $sid) = @_;
    my $url = $t->url('/login.php' . ($store ? "?store=$store" : ''));
    my %h = $sid ? (headers => { Cookie => "PHPSESSID=$sid" }) : ();
    my $res = $http->post_form($url, defined $user ? { user => $user }
                                                   : { logout => 1 }, \%h);
    is($res->{status}, 200, 'login page answers') or diag $res->{content};
    my ($new) = ($res->{headers}{'set-cookie'} // '') =~ /PHPSESSID=([^;]+)/;
    return $new // $sid;
}
sub chat_as { $t->chat(token => undef, headers => { Cookie => "PHPSESSID=$_[0]" }) }

# Files.
my $sid = login('alice');
ok($sid, 'PHP set a session cookie');
ok(-f "$d/php-sessions/sess_$sid", 'the session is a file');
my $res = chat_as($sid);
is($res->{status}, 200, 'the PHP session cookie works at /api/chat');
is($t->usage_for($res)->{user}, 'alice', 'as the PHP user');
login(undef, undef, $sid);
$res = chat_as($sid);
is($res->{status}, 401, 'after logout: 401');
like($t->usage_for($res)->{reason}, qr/php-files: .*not logged in/,
     'the log says the session has no user');
is(chat_as('nosuchsession0000')->{status}, 401, 'unknown session id: 401');
$res = chat_as('..%2F..%2Fetc%2Fpasswd');
is($res->{status}, 401, 'bad session id: 401');
like($t->usage_for($res)->{reason}, qr/charset/, 'refused before any lookup');
symlink("$d/php-sessions/sess_$sid", "$d/php-sessions/sess_linked0") or die;
$res = chat_as('linked0');
is($res->{status}, 401, 'a symlinked session file is refused');
like($t->usage_for($res)->{reason}, qr/refused/, 'the log says refused');

# memcached, through the php-memcached extension.
sub mc_has {
    my ($port, $key) = @_;
    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
    print $c "get $key\r\n";
    my $line = <$c>;
    return $line =~ /^VALUE /;
}
# Log in until both servers hold a session (ketama spreads ids; 30 tries
# all landing on one server would take odds of 1 in 2^29).
my (%ok, %on);
my $n = 0;
for my $i (1 .. 30) {
    last if $i > 4 && $on{$t->{mc_port}} && $on{$mc2};
    $n = $i;
    my $s = login("mcuser$i", 'mc');
    ok(!-f "$d/php-sessions/sess_$s", "session $i is not a file");
    $res = chat_as($s);
    $ok{$i} = $res->{status};
    $on{$t->{mc_port}}++ if mc_has($t->{mc_port}, "memc.sess.key.$s");
    $on{$mc2}++ if mc_has($mc2, "memc.sess.key.$s");
}
is_deeply([values %ok], [(200) x $n], 'all memcached sessions work at /api/chat');
is(($on{$t->{mc_port}} // 0) + ($on{$mc2} // 0), $n,
   'php-memcached stored each session under memc.sess.key.<id>');
ok($on{$t->{mc_port}} && $on{$mc2},
   'sessions landed on both servers, and were all found');
is($t->usage_for($res)->{user}, "mcuser$n", 'as the PHP user');
my $s = login('mcgone', 'mc');
login(undef, 'mc', $s);
$res = chat_as($s);
is($res->{status}, 401, 'memcached session after logout: 401');
$t->usage_for($res);

# `check` catches a session file owner that does not exist.
my $other = CG->new;
$other->write_config('session.mode' => 'php-files',
                     'session.php_file_owner' => 'no-such-user-cg');
my ($rc, $out) = $other->run_chatgate('check', '-c', $other->{conf});
isnt($rc, 0, 'check refuses an unknown php_file_owner');
like($out, qr/php_file_owner/, 'and names the key');

ok(!(grep { $_->{status} == 200 && !$_->{user} } @{$t->usage_lines}),
   'every success names its user');
done_testing;
