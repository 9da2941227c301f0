# The demo page in Debian's chromium (tests/browser/chat.test.js, driven by
# playwright-core from npm) against the stack the demo runs: login, a
# streamed or JSON answer, 401 and 429 in words, and no key, no foreign
# request and no loaded image whatever the answer says. Skipped, saying why,
# only where chromium or the npm package cannot be installed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $chromium = '/usr/bin/chromium';
my $bdir = "$CG::ROOT/tests/browser";
plan skip_all => "browser tests: $chromium is missing (scripts/deps --browser installs it)"
    unless -x $chromium;
plan skip_all => 'browser tests: node is missing' unless `node --version 2>/dev/null`;

# npm ci only when the lock file changed since the last install.
my $npm = CG::npm_ci($bdir, 'playwright-core');
plan skip_all => "browser tests: npm ci failed (no npm registry?): $npm" if defined $npm;

my $rpm = 5;
my $t = CG->new;
$t->start_memcached;
$t->start_mock;
# The page's origin is the front nginx: chatgate must allow exactly it.
my $port = CG::free_port();
$t->start_chatgate('limits.requests_per_minute' => $rpm,
                   'http.allowed_origins' => "http://127.0.0.1:$port");
$t->start_nginx(www => 1, port => $port);

my $shot = $t->dir . '/demo.png';
$ENV{CG_KEY} = $t->key;
$ENV{CG_RPM} = $rpm;
$ENV{CG_SCREENSHOT} = $shot;
my @out = `node $bdir/chat.test.js @{[ $t->url('') ]} @{[ $t->mock_url ]}/_mock/stats 2>&1`;
my $rc = $? >> 8;
delete $ENV{CG_KEY};

my $summary = '';
for (@out) {
    chomp;
    if (/^(not )?ok \d+ - (.*)/) {
        ok(!$1, "browser: $2");
    } elsif (/^# (.*)/) {
        diag($1);
    } elsif (/^\d+ passed, \d+ failed$/) {
        $summary = $_;
    } elsif (/\S/) {
        diag($_);
    }
}
like($summary, qr/^[1-9]\d* passed, 0 failed$/, 'browser test summary');
is($rc, 0, 'browser test exits 0');
ok(-s $shot, 'a screenshot was saved') and note("screenshot: $shot");
if ($ENV{CG_SCREENSHOT_TO} && -s $shot) {
    system('cp', $shot, $ENV{CG_SCREENSHOT_TO});
}

# The usage log saw the demo user and the refusals.
my $lines = $t->usage_lines;
ok((grep { ($_->{user} // '') eq 'demo' && $_->{status} == 200 } @$lines),
   'the demo user chatted through chatgate');
ok((grep { $_->{status} == 401 } @$lines), 'the anonymous request was refused');
ok((grep { $_->{status} == 429 } @$lines), 'the hammering was rate-limited');
done_testing;
