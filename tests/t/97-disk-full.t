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

# --- a write that only fits in part must not glue lines (issue 23) ---
# The disk is filled, then the usage log gives back $room bytes of its
# last page: the next line fits only in part (a short write).
sub fill_leaving {
    my ($dir, $room) = @_;
    my $f = fill($dir);
    truncate("$dir/usage.log", (-s "$dir/usage.log") - $room) or die "truncate: $!";
    return $f;
}

# Every non-blank line of the usage log, each parsed on its own; a line
# that does not parse whole is returned as { bad => TEXT }.
sub lines_of {
    my ($path) = @_;
    my @out;
    for my $l (split /\n/, CG::slurp($path)) {
        next unless $l =~ /\S/;
        my $o = eval { JSON::PP->new->decode($l) };
        push @out, $o // { bad => $l };
    }
    return \@out;
}

for my $policy (qw(continue refuse)) {
    my ($g, $gdisk) = stack($policy);
    is($g->chat->{status}, 200, "$policy, short write: served while there is room");
    my $filler = fill_leaving($gdisk, 100);
    my $short = $g->chat;
    my $sid = $short->{headers}{'x-request-id'};
    is($short->{status}, $policy eq 'continue' ? 200 : 503,
       "$policy, short write: the policy's status");
    CG::wait_for('the line in the error log', sub {
        CG::slurp($g->dir . '/error.log') =~ /cannot write usage line for \Q$sid\E/ });
    like(CG::slurp($g->dir . '/error.log'), qr/cannot write usage line for \Q$sid\E .*"request_id":"\Q$sid\E"/,
         "$policy, short write: the whole line is in the error log");
    unlink $filler;
    my @after;
    push @after, $g->chat for 1 .. 3;
    my $lines = lines_of("$gdisk/usage.log");
    is_deeply([map { $_->{bad} } grep { $_->{bad} } @$lines], [],
              "$policy, short write: every line of the usage log parses on its own (no fragment, nothing glued)");
    my @req = grep { ($_->{event} // '') eq 'request' } @$lines;
    for my $r (grep { $_->{status} == 200 } @after) {
        my $rid = $r->{headers}{'x-request-id'};
        is(scalar(grep { ($_->{request_id} // '') eq $rid } @req), 1,
           "$policy, short write: a later request ($rid) has exactly one usage line");
    }
    ok(!(grep { ($_->{request_id} // '') eq $sid } @req),
       "$policy, short write: the cut line is not half in the usage log");
    my ($rc, $out) = $g->run_chatgate('report', '-c', $g->{conf}, '--json');
    my $rep = eval { JSON::PP->new->decode($out) } // {};
    is($rep->{bad_lines}, 0, "$policy, short write: report finds no bad line")
        or diag($out);
}

done_testing;
