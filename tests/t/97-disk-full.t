# The disk holding the usage log fills up. [log] on_write_error = refuse
# (the default): no answer goes out without its usage line; requests get
# 503 service_unavailable until the log takes lines again. continue: serve,
# and put each line that could not be written in the error log. Needs a
# small tmpfs (root and mount permission); skipped otherwise.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my @mounts;
END { system('umount', $_) for @mounts }

# A 64 KiB tmpfs under the test dir, or undef.
sub small_disk {
    my ($t) = @_;
    my $dir = $t->dir . '/disk';
    mkdir $dir;
    return undef if $> != 0;
    system("mount -t tmpfs -o size=64k tmpfs '$dir' 2>/dev/null") == 0 or return undef;
    push @mounts, $dir;
    chmod 0777, $dir;
    return $dir;
}

# Fills the disk; returns the filler's path. tmpfs hands out whole pages,
# so the usage log's own last page is filled too, with blanks (a JSON
# reader skips them).
sub fill {
    my ($dir) = @_;
    my $f = "$dir/filler";
    open(my $fh, '>', $f) or die "$f: $!";
    1 while syswrite($fh, 'x' x 4096);
    close $fh;
    open($fh, '>>', "$dir/usage.log") or die "$dir/usage.log: $!";
    1 while syswrite($fh, ' ');
    close $fh;
    return $f;
}

sub stack {
    my ($policy) = @_;
    my $t = CG->new;
    my $disk = small_disk($t) or return;
    $t->start_stack('log.usage_log' => "$disk/usage.log",
                    'log.on_write_error' => $policy,
                    'server.workers' => 1, 'server.threads' => 1);
    $t->{default_token} = $t->mint('alice');
    return ($t, $disk);
}

my ($t, $disk) = stack('refuse');
plan skip_all => 'needs root and permission to mount a small tmpfs' unless $t;

my $log = sub { CG::slurp("$disk/usage.log") };
is($t->chat->{status}, 200, 'refuse: served while the disk has room');
my $filler = fill($disk);
my $res = $t->chat;
is($res->{status}, 503, 'refuse: disk full, the answer is withheld: 503');
is($res->{json}{error}{type}, 'service_unavailable', 'clean service_unavailable');
unlike($res->{content}, qr/mock reply|usage|disk/i, 'no internal detail to the client');
my $id = $res->{headers}{'x-request-id'};
like(CG::slurp($t->dir . '/error.log'), qr/cannot write usage line for \Q$id\E/,
     'the operator is told, with the line');
like(CG::slurp($t->dir . '/error.log'), qr/\Q$id\E: answer withheld \(503\)/,
     'and that the answer was withheld');
my $before = scalar @{ $t->mock_requests };
$res = $t->chat;
is($res->{status}, 503, 'refuse: later requests are refused up front');
is(scalar @{ $t->mock_requests }, $before, '... without calling the provider');
unlink $filler;
$res = $t->chat;
is($res->{status}, 503, 'room again: the refusal whose line is written notices');
like($log->(), qr/\Q$res->{headers}{'x-request-id'}\E/, 'that refusal is logged');
$res = $t->chat;
is($res->{status}, 200, 'and requests are served again');
like($log->(), qr/\Q$res->{headers}{'x-request-id'}\E.*"status":200/, 'with their usage line');

my ($u, $udisk) = stack('continue');
fill($udisk);
$res = $u->chat;
is($res->{status}, 200, 'continue: served with the disk full');
$id = $res->{headers}{'x-request-id'};
my $elog;
CG::wait_for('the line in the error log', sub {
    $elog = CG::slurp($u->dir . '/error.log');
    $elog =~ /cannot write usage line for \Q$id\E .*"status":200/ });
like($elog, qr/cannot write usage line for \Q$id\E \(No space left on device\): \{.*"request_id":"\Q$id\E"/,
     'continue: the usage line goes to the error log instead');
unlike(CG::slurp("$udisk/usage.log"), qr/\Q$id\E/, 'not in the full usage log');

done_testing;
