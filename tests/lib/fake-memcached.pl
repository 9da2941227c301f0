# A memcached that misbehaves, for the store chaos tests
# (tests/t/51-store-chaos.t): the listening socket is fd 0.
#   silent  accepts and reads, never answers
#   reset   answers every request of a read but the last, then resets the
#           connection (a batch cut mid-way)
# Answers are the binary protocol's: get and decr of a missing key, incr
# as a new key (the initial value), add as stored.
use strict;
use warnings;
use Socket qw(SOL_SOCKET SO_LINGER);

my $mode = shift // 'silent';
open(my $srv, '<&=', 0) or die "fd 0: $!";
$SIG{CHLD} = 'IGNORE';
while (1) {
    accept(my $c, $srv) or next;
    my $pid = fork() // die;
    if ($pid == 0) {
        serve($c);
        exit 0;
    }
    close $c;
}

sub answer {
    my ($q) = @_;
    my ($magic, $op, $klen, $ext, undef, undef, $blen, $opaque) =
        unpack('C C n C C n N N', $q);
    my ($status, $body) = (0, '');
    if ($op == 0x05) {
        # incr: a new key starts at the initial value
        my ($hi, $lo) = unpack('N N', substr($q, 24 + 8, 8));
        $body = pack('N N', $hi, $lo);
    } elsif ($op == 0x00 || $op == 0x06) {
        $status = 1;        # not found
    }
    return pack('C C n C C n N N N N', 0x81, $op, 0, 0, 0, $status,
                length($body), $opaque, 0, 0) . $body;
}

sub serve {
    my ($c) = @_;
    my $buf = '';
    while (1) {
        my $n = sysread($c, $buf, 65536, length $buf);
        return if !$n;
        next if $mode eq 'silent';
        my @req;
        while (length($buf) >= 24) {
            my $blen = unpack('N', substr($buf, 8, 4));
            last if length($buf) < 24 + $blen;
            push @req, substr($buf, 0, 24 + $blen, '');
        }
        next unless @req;
        my $out = join '', map { answer($_) } @req[0 .. $#req - 1];
        syswrite($c, $out) if length $out;
        setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $c;
        return;
    }
}
