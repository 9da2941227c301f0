# chatgate report: totals equal the sums of the log lines, across the live
# log, a rotated one and a gzipped one; spend from cost_micro_usd or, for
# lines without it, from the [price] table; --since/--until/--by/--json/--csv.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

my $t = CG->new;
my $d = $t->dir;
my @users = qw(ann bob cy);
my (@lines, %want);
srand(42);
for my $i (0 .. 299) {
    my $day = sprintf('2026-11-%02d', 20 + $i % 5);
    my $user = $users[$i % 3];
    my $status = $i % 7 ? 200 : 429;
    my ($in, $out) = $status == 200 ? (10 + int(rand(90)), int(rand(500)))
                                    : (0, 0);
    my %l = (v => 1, ts => "${day}T10:00:00.000Z", event => 'request',
             request_id => "req_$i", user => $user, route => 'default',
             model => 'm1', status => $status, input_tokens => $in,
             output_tokens => $out, key_id => 'abcdef012345');
    # Older lines have no cost: the price table gives it ($3 / $15).
    my $cost = int(($in * 3_000_000 + $out * 15_000_000 + 999_999)
                   / 1_000_000);
    $l{cost_micro_usd} = $cost if $i % 2;
    push @lines, encode_json(\%l);
    for my $k ('all', "user:$user", "day:$day") {
        $want{$k}{requests}++;
        $want{$k}{errors}++ if $status != 200;
        $want{$k}{input_tokens} += $in;
        $want{$k}{output_tokens} += $out;
        $want{$k}{cost_micro_usd} += $cost;
    }
}
push @lines, '{"v":1,"ts":"2026-11-21T00:00:00Z","event":"alert",'
             . '"alert":"spike","subject":"ann","period":"1","message":"x"}';
push @lines, 'not json at all';
my $log = "$d/usage.log";
$t->write_file($log, join("\n", @lines[0 .. 99]) . "\n");
$t->write_file("$log.1", join("\n", @lines[100 .. 199]) . "\n");
$t->write_file("$log.2", join("\n", @lines[200 .. $#lines]) . "\n");
system('gzip', '-9', "$log.2") == 0 or die;
$t->write_config('log.usage_log' => $log,
                 'price m1.input' => '3', 'price m1.output' => '15');

sub report {
    my (@args) = @_;
    my ($rc, $out) = $t->run_chatgate('report', '-c', $t->{conf}, @args);
    is($rc, 0, "report @args exits 0") or diag $out;
    return $out;
}

my $j = decode_json(report('--json'));
my %tot = %{$j->{total}};
delete $tot{name};
is_deeply(\%tot, $want{all}, 'totals equal the sums of the log lines');
is($j->{alerts}, 1, 'alert events counted apart');
is($j->{bad_lines}, 1, 'unreadable line counted, not fatal');
for my $g (@{$j->{groups}}) {
    my %row = %$g;
    my $name = delete $row{name};
    is_deeply(\%row, $want{"user:$name"}, "user $name sums");
}
is($j->{top_users}[0]{cost_micro_usd},
   (sort { $b <=> $a } map { $want{"user:$_"}{cost_micro_usd} } @users)[0],
   'top user has the largest spend');

$j = decode_json(report('--json', '--by', 'day', '--since', '2026-11-22',
                        '--until', '2026-11-23'));
is_deeply([map { $_->{name} } @{$j->{groups}}], ['2026-11-22', '2026-11-23'],
          '--since/--until are inclusive days');
is($j->{total}{requests},
   $want{'day:2026-11-22'}{requests} + $want{'day:2026-11-23'}{requests},
   'filtered totals');

my $csv = report('--csv', '--by', 'day', '--log', $log);
my @rows = split /\n/, $csv;
is($rows[0], 'day,requests,errors,input_tokens,output_tokens,cost_micro_usd',
   'CSV header');
is(scalar @rows, 1 + 5 + 1, 'CSV: a row per day and a total (one file)');

for my $by (qw(route key)) {
    $j = decode_json(report('--json', '--by', $by));
    is(scalar @{$j->{groups}}, 1, "--by $by: one group");
    is($j->{groups}[0]{requests}, $want{all}{requests}, "--by $by: all in it");
}
like(report(), qr/top users by spend/, 'text report has top users');
my ($rc) = $t->run_chatgate('report', '--by', 'planet');
is($rc, 2, 'bad --by: usage error');

done_testing;
