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

my $missing = CG::browser_missing();
plan skip_all => "browser tests: $missing" if $missing;

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
my $rc = CG::run_browser('chat.test.js', $t->url(''), $t->mock_url . '/_mock/stats');
delete $ENV{CG_KEY};
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
