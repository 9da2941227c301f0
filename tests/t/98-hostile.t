# Hostile input under load, bounded (a few thousand requests, seeded so a
# failure can be replayed with CG_HOSTILE_SEED): random bytes, huge headers,
# bodies over the cap, deep JSON, invalid UTF-8 and wrong types through
# nginx, and broken FastCGI records straight to chatgate's socket
# (truncated records, bogus lengths, wrong versions, a huge nameLen in the
# shape of CVE-2025-23016), while a second client keeps sending good
# requests that must all succeed. No worker may crash.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use CG;

my $SEED = $ENV{CG_HOSTILE_SEED} // int(rand(1 << 30));
note("seed $SEED (rerun with CG_HOSTILE_SEED=$SEED)");
srand($SEED);
my $ROUNDS = 500;       # x 10 hostile requests per round

# --- a small FastCGI client ---
sub rec {
    my ($type, $id, $content, %o) = @_;
    my $len = $o{len} // length $content;
    my $pad = $o{pad} // 0;
    return pack('CCnnCC', $o{version} // 1, $type, $id, $len, $pad, 0)
           . $content . ("\0" x ($o{pad_bytes} // $pad));
}

sub nv_len {
    my ($n) = @_;
    return $n < 128 ? pack('C', $n) : pack('N', $n | 0x80000000);
}

sub params {
    my (%p) = @_;
    return join '', map { nv_len(length $_) . nv_len(length $p{$_}) . $_ . $p{$_} } sort keys %p;
}

sub begin { rec(1, $_[0] // 1, pack('nCx5', 1, $_[1] // 0)) }

# Sends bytes to the socket, reads what comes back for a moment, closes.
sub fcgi_send {
    my ($path, $bytes, $wait) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $path) or return undef;
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, $bytes);
    shutdown($s, 1);    # EOF: nobody waits for bytes that never come
    my ($out, $sel, $end) = ('', IO::Select->new($s), time + ($wait // 2));
    while (time < $end && $sel->can_read($end - time)) {
        sysread($s, my $b, 65536) or last;
        $out .= $b;
    }
    close $s;
    return $out;
}

sub raw_http {
    my ($port, $bytes) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or return 0;
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, $bytes);
    my ($out, $sel, $end) = ('', IO::Select->new($s), time + 2);
    while (time < $end && $out !~ /\r\n\r\n/ && $sel->can_read($end - time)) {
        sysread($s, my $b, 65536) or last;
        $out .= $b;
    }
    close $s;
    return $out =~ m{^HTTP/1\.\d (\d{3})} ? $1 : 0;
}

sub rand_bytes { join '', map { chr(int rand 256) } 1 .. $_[0] }

my $t = CG->new;
$t->start_stack('limits.requests_per_minute' => 1000000,
                'server.workers' => 2, 'server.threads' => 2);
my $tok = $t->mint('mallory');
my $sock = $t->{sock};
my $port = $t->{port};
my @workers = $t->worker_pids;

# The client code speaks FastCGI: a well-formed request gets an answer.
my $good_fcgi = begin(1) . rec(4, 1, params(REQUEST_METHOD => 'POST',
    REQUEST_URI => '/api/chat', CONTENT_TYPE => 'application/json',
    CONTENT_LENGTH => 2, REMOTE_ADDR => '127.0.0.1')) . rec(4, 1, '')
    . rec(5, 1, '{}') . rec(5, 1, '');
like(fcgi_send($sock, $good_fcgi, 5), qr/Status: 401/, 'a good FastCGI request straight to the socket is answered');

# The good client: runs until the stop file appears.
my $stop = $t->dir . '/good.stop';
my $good_pid = fork() // die;
if ($good_pid == 0) {
    open(my $fh, '>', $t->dir . '/good.txt') or POSIX::_exit(1);
    $fh->autoflush(1);
    my $end = time + 60;
    while (!-e $stop && time < $end) {
        my $r = $t->chat(token => $tok, message => 'a good question');
        print $fh "$r->{status}\n";
        sleep 0.01;
    }
    POSIX::_exit(0);
}

my $cookie = "Cookie: chatgate_session=$tok\r\nOrigin: $CG::ORIGIN\r\n";
sub post {
    my ($body, %o) = @_;
    my $ct = $o{ct} // 'application/json';
    return "POST /api/chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n$cookie"
         . ($o{headers} // '') . "Content-Type: $ct\r\nContent-Length: "
         . ($o{len} // length $body) . "\r\n\r\n$body";
}

my @http = (
    sub { rand_bytes(1 + int rand 300) . "\r\n\r\n" },
    sub { "GET /api/chat HTTP/1.1\r\nHost: x\r\nX-Big: " . ('a' x (4000 + int rand 40000)) . "\r\n\r\n" },
    sub { post('{"message":"hi"}', headers => join('', map { "X-H$_: " . rand_bytes(20) =~ s/[\r\n]//gr . "\r\n" } 1 .. 100)) },
    sub { post('{"message":"' . ('a' x 70000) . '"}') },
    sub { my $d = 1 + int rand 5000; post('{"message":' . ('[' x $d) . '1' . (']' x $d) . '}') },
    sub { my $d = 1 + int rand 5000; post(('{"a":' x $d) . '1' . ('}' x $d)) },
    sub { post('{"message":"' . rand_bytes(1 + int rand 200) =~ s/["\\]//gr . '"}') },
    sub { post('{"message":"hi","messages":' . (qw(1 "x" null {} [] [1] [{"role":7}] true))[int rand 8] . '}') },
    sub { post(rand_bytes(1 + int rand 500)) },
    sub { post('{"message":"hi"}', len => (qw(0 1 5 99999999 -1 abc))[int rand 6]) },
    sub { post('{"message":"\ud800\udfff\u0000\uffff' . "\xc0\x80\xed\xa0\x80" . '"}') },
    sub { post('{"message":"hi"}', ct => (qw(text/plain application/json;charset=latin1 multipart/form-data))[int rand 3]) },
);

my @fcgi = (
    sub { rand_bytes(1 + int rand 400) },
    sub { begin(1) . substr(rec(4, 1, params(A => 'b')), 0, 3) },          # truncated header
    sub { begin(1) . rec(4, 1, params(A => 'b'), len => 65535) },         # bogus length
    sub { rec(1, 1, pack('nCx5', 1, 0), version => (0, 2, 255)[int rand 3]) . rec(4, 1, '') }, # wrong version
    sub { begin(1) . rec(4, 1, pack('NN', 0xffffffff, 0xffffffff) . 'AB') . rec(4, 1, '') },  # huge nameLen (CVE-2025-23016 shape)
    sub { begin(1) . rec(4, 1, pack('N', 0x80000000 | 0x7ffffff0) . "\x01" . 'x' x 40) . rec(4, 1, '') },
    sub { rec(9, 0, params(FCGI_MAX_CONNS => '', FCGI_MPXS_CONNS => '')) },  # management record
    sub { rec(5, 1, 'stdin before begin') . begin(1) . begin(1) },
    sub { begin(0) . rec(4, 0, '') . rec(5, 0, '') },
    sub { begin(1) . rec(4, 1, params(map { ("P$_" => 'v' x 100) } 1 .. 300)) . rec(4, 1, '')
          . rec(5, 1, '{"message":"x"}') },
    sub { begin(1) . rec(4, 1, params(REQUEST_METHOD => 'POST', REQUEST_URI => '/api/chat',
          CONTENT_TYPE => 'application/json', CONTENT_LENGTH => 99999999)) . rec(4, 1, '')
          . rec(5, 1, 'x' x 100) },
    sub { begin(1) . rec(4, 1, '', pad => 255) . rec(77, 1, rand_bytes(10)) },
);

my (%http_st, $fcgi_n);
my $t0 = time;
for my $round (1 .. $ROUNDS) {
    for (1 .. 5) {
        my $st = raw_http($port, $http[int rand @http]->());
        $http_st{$st}++;
    }
    for (1 .. 5) {
        fcgi_send($sock, $fcgi[int rand @fcgi]->());
        $fcgi_n++;
    }
    last if time - $t0 > 20;
}
CG::write_file($t, $stop, '');
waitpid($good_pid, 0);
note('hostile over HTTP: ' . join(', ', map { "$_ x$http_st{$_}" } sort keys %http_st)
     . "; over FastCGI: $fcgi_n");

my @good = grep { /\S/ } split /\n/, CG::slurp($t->dir . '/good.txt');
ok(@good >= 20, 'the good client kept sending (' . scalar(@good) . ' requests)');
is_deeply([grep { $_ != 200 } @good], [], 'every good request succeeded');
ok(!grep({ /^5/ } keys %http_st), 'no hostile HTTP request got a 5xx')
    or diag(join ', ', map { "$_ x$http_st{$_}" } sort keys %http_st);
my $err = CG::slurp($t->dir . '/error.log');
unlike($err, qr/killed by signal|exited with status/, 'no worker crashed');
is_deeply([$t->worker_pids], \@workers, 'the same workers still serve');
is($t->chat(token => $tok)->{status}, 200, 'a good request after the storm');

done_testing;
