package CGHTTP;

# A small HTTP/1.1 client for tests that send many requests: one
# keep-alive connection, the request written as one string, the answer
# read with Content-Length, chunked or close framing. HTTP::Tiny spends
# about a millisecond of CPU on a request; this spends a tenth of that,
# so a test can afford 100,000 requests (tests/t/43-meter-property.t).
#
# It never resends a request: a POST that may have reached the server
# once must not run twice, so a broken connection is an answer with
# status 0 (and the reason in content), and the next request opens a new
# connection.

use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY SOL_SOCKET SO_RCVTIMEO);

sub new {
    my ($class, $port, %o) = @_;
    return bless { port => $port, timeout => $o{timeout} // 30,
                   sock => undef, buf => '' }, $class;
}

sub close_conn {
    my ($self) = @_;
    close($self->{sock}) if $self->{sock};
    $self->{sock} = undef;
    $self->{buf} = '';
}

# Writes a request without waiting for its answer (read it with
# response); several connections can so have a request in flight at once.
# $headers: [name => value, ...].
sub send_request {
    my ($self, $method, $path, $headers, $body) = @_;
    $body //= '';
    unless ($self->{sock}) {
        $self->{sock} = IO::Socket::INET->new(
            PeerAddr => "127.0.0.1:$self->{port}",
            Timeout => $self->{timeout}) or return "connect: $!";
        setsockopt($self->{sock}, IPPROTO_TCP, TCP_NODELAY, 1);
        setsockopt($self->{sock}, SOL_SOCKET, SO_RCVTIMEO,
                   pack('l!l!', $self->{timeout}, 0));
        $self->{buf} = '';
    }
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$self->{port}\r\n";
    for (my $i = 0; $i < @$headers; $i += 2) {
        $req .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }
    $req .= 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $SIG{PIPE} = 'IGNORE';
    while (length $req) {
        my $n = syswrite($self->{sock}, $req);
        unless ($n) {
            $self->close_conn;
            return "write: $!";
        }
        substr($req, 0, $n, '');
    }
    return undef;
}

# Reads more into the buffer; false at EOF, on an error or a timeout
# (SO_RCVTIMEO: no select(2) per read).
sub _fill {
    my ($self) = @_;
    my $n = sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf});
    return $n ? 1 : 0;
}

# The answer to the request sent last: { status, headers (lower-case
# names), content }. Status 0 when the connection broke or timed out.
sub response {
    my ($self) = @_;
    my $fail = sub {
        my ($why) = @_;
        $self->close_conn;
        return { status => 0, headers => {}, content => $why };
    };
    return $fail->('not connected') unless $self->{sock};
    my $hend;
    while (($hend = index($self->{buf}, "\r\n\r\n")) < 0) {
        return $fail->('no answer') unless $self->_fill;
    }
    my $head = substr($self->{buf}, 0, $hend + 4, '');
    my ($ver, $status) = $head =~ m{^HTTP/1\.([01]) (\d{3})}
        or return $fail->('not HTTP');
    my %h;
    while ($head =~ /\r\n([^:\r\n]+):[ \t]*([^\r\n]*)/g) {
        $h{lc $1} = $2;
    }
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            my $eol;
            while (($eol = index($self->{buf}, "\r\n")) < 0) {
                return $fail->('chunk cut') unless $self->_fill;
            }
            my $size = hex(substr($self->{buf}, 0, $eol));
            if ($size == 0) {
                # The last chunk, then trailers up to an empty line.
                my $t;
                while (($t = index($self->{buf}, "\r\n\r\n")) < 0) {
                    return $fail->('trailer cut') unless $self->_fill;
                }
                substr($self->{buf}, 0, $t + 4, '');
                last;
            }
            while (length($self->{buf}) < $eol + 2 + $size + 2) {
                return $fail->('chunk cut') unless $self->_fill;
            }
            $body .= substr($self->{buf}, $eol + 2, $size);
            substr($self->{buf}, 0, $eol + 2 + $size + 2, '');
        }
    } elsif (defined $h{'content-length'}) {
        my $len = $h{'content-length'};
        while (length($self->{buf}) < $len) {
            return $fail->('body cut') unless $self->_fill;
        }
        $body = substr($self->{buf}, 0, $len, '');
    } else {
        1 while $self->_fill;
        $body = $self->{buf};
        $self->close_conn;
    }
    $self->close_conn if $ver eq '0'
                         || ($h{connection} // '') =~ /close/i;
    return { status => $status + 0, headers => \%h, content => $body };
}

sub request {
    my ($self, @req) = @_;
    my $err = $self->send_request(@req);
    return { status => 0, headers => {}, content => $err } if defined $err;
    return $self->response;
}

1;
