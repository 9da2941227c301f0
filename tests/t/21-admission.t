# Admission against forged and cross-site requests, service tokens, the
# pre-auth limit, key-id rotation and the minting snippets of
# docs/sessions.md (run as written, with only the key path changed).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Digest::SHA qw(sha256_hex hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use CG;
use IO::Socket::INET;

my $t = CG->new;
my $d = $t->dir;
my $svc = 'cgt_' . CG::rand_hex(48);
my $narrow = 'cgt_' . CG::rand_hex(48);
$t->write_file('k2026', CG::rand_hex(64) . "\n", 0600);
$t->start_stack(
    'session.secrets'                  => "2026:file:$d/k2026",
    'http.trusted_proxies'             => '127.0.0.1',
    'limits.auth_failures_per_minute'  => 4,
    'token svc.sha256'                 => sha256_hex($svc),
    'token svc.routes'                 => 'default',
    'token svc.requests_per_minute'    => 3,
    'token narrow.sha256'              => sha256_hex($narrow),
    'token narrow.routes'              => 'reports, other',
);
# Failures are counted per address per minute: keep them in one minute.
sleep(61 - time % 60) if time % 60 > 50;

my $n = 0;
sub from { my %h = @_; $h{'X-Forwarded-For'} = '10.0.0.' . ++$n; \%h }
sub refused {
    my ($res, $status, $type, $what) = @_;
    is($res->{status}, $status, "$what: $status");
    is($res->{json}{error}{type}, $type, "$what: $type");
    ok(!defined $res->{headers}{'access-control-allow-origin'},
       "$what: no CORS headers") if $type eq 'cross_site_request';
}

# The harness sends a cookie with Origin https://app.test, allowed here.
my $res = $t->chat(headers => from());
is($res->{status}, 200, 'same-origin cookie request passes');
is($res->{headers}{'access-control-allow-origin'}, 'https://app.test',
   'CORS header names the allowed origin');
like($res->{headers}{vary} // '', qr/Origin/, 'Vary: Origin');

refused($t->chat(headers => from('Content-Type' => 'text/plain')), 415,
        'unsupported_media_type', 'text/plain body');
refused($t->chat(headers => from(Origin => 'https://evil.test')), 403,
        'cross_site_request', 'foreign Origin');
refused($t->chat(headers => from(Origin => 'https://app.test.evil.test')),
        403, 'cross_site_request', 'look-alike Origin');
refused($t->chat(headers => from(Origin => 'http://app.test')), 403,
        'cross_site_request', 'other scheme');
refused($t->chat(headers => from(Origin => 'null')), 403,
        'cross_site_request', 'Origin null');
refused($t->chat(headers => from(Origin => undef)), 403,
        'cross_site_request', 'cookie without Origin or Referer');
refused($t->chat(headers => from('Sec-Fetch-Site' => 'cross-site')), 403,
        'cross_site_request', 'Sec-Fetch-Site: cross-site');
is($t->chat(headers => from(Origin => undef,
                            Referer => 'https://app.test/chat?x=1'))->{status},
   200, 'Referer from the allowed origin passes');
refused($t->chat(headers => from(Origin => undef,
                                 Referer => 'https://app.test.evil.test/')),
        403, 'cross_site_request', 'Referer look-alike');
refused($t->chat(method => 'GET', headers => from()), 405,
        'method_not_allowed', 'GET');

# A script with a Bearer token and no cookie sends no Origin: it passes.
my $tok = $t->mint('bob');
like($tok, qr/^v2\.2026\./, 'mint signs with the newest key id');
is($t->chat(token => undef, headers => from(Authorization => "Bearer $tok"))
   ->{status}, 200, 'Bearer token without Origin passes');

# CORS preflight.
$res = $t->{http}->request('OPTIONS', $t->url, { headers => {
    Origin => 'https://app.test', 'Access-Control-Request-Method' => 'POST',
    'Access-Control-Request-Headers' => 'content-type' } });
is($res->{status}, 204, 'preflight from an allowed origin: 204');
is($res->{headers}{'access-control-allow-origin'}, 'https://app.test',
   'preflight allows the origin');
like($res->{headers}{'access-control-allow-methods'} // '', qr/POST/,
     'preflight allows POST');
like($res->{headers}{'access-control-allow-headers'} // '', qr/Content-Type/i,
     'preflight allows Content-Type');
is($t->usage_for($res)->{status}, 204, 'usage log: the preflight as 204');
$res = $t->{http}->request('OPTIONS', $t->url, { headers => {
    Origin => 'https://evil.test', 'Access-Control-Request-Method' => 'POST' } });
is($res->{status}, 403, 'preflight from a foreign origin: 403');
ok(!defined $res->{headers}{'access-control-allow-origin'},
   'no CORS headers for a foreign origin');

# Service tokens: exempt from the origin rules, limited to their routes
# and their own rate.
my $sh = from(Authorization => "Bearer $svc", Origin => 'https://elsewhere.test');
is($t->chat(token => undef, headers => $sh)->{status}, 200,
   'service token works (server to server, any Origin)');
is($t->chat(token => undef, headers => $sh)->{status}, 200, 'second call');
is($t->chat(token => undef, headers => $sh)->{status}, 200, 'third call');
$res = $t->chat(token => undef, headers => $sh);
is($res->{status}, 429, 'the token\'s own requests_per_minute applies');
$t->usage_for($res);
refused($t->chat(token => undef,
                 headers => from(Authorization => "Bearer $narrow")),
        403, 'forbidden', 'token not allowed on this route');
refused($t->chat(token => undef,
                 headers => from(Authorization => "Bearer cgt_nope$svc")),
        401, 'authentication_error', 'unknown service token');
my @svc = grep { ($_->{user} // '') eq 'token:svc' } @{$t->usage_lines};
is(scalar @svc, 4, 'service token requests are logged as token:svc');
unlike(CG::slurp("$d/usage.log"), qr/\Q$svc\E|\Q$narrow\E/,
       'tokens never reach the log');

# Rotation: a v1 token made with the legacy [session] secret still works.
my $b64 = sub { encode_base64url($_[0]) };
my $v1 = 'v1.' . $b64->('carol') . '.' . (time + 300);
$v1 .= '.' . $b64->(hmac_sha256($v1, $t->{secret}));
is($t->chat(token => $v1, headers => from())->{status}, 200,
   'v1 token from the old secret still verifies');

# Minting snippets from docs/sessions.md, run as written.
my $doc = CG::slurp("$CG::ROOT/docs/sessions.md");
for my $lang (qw(sh php python)) {
    my ($code) = $doc =~ /<!-- mint:$lang -->\n```\w+\n(.*?)```/s
        or do { fail("docs/sessions.md has a $lang snippet"); next };
    $code =~ s{/etc/chatgate/session-2026\.key}{$d/k2026}g;
    my $file = $t->write_file("mint.$lang", $code, 0600);
    my $cmd = { sh => 'sh', php => 'php', python => 'python3' }->{$lang};
    my $out = `$cmd $file 2>&1`;
    chomp $out;
    like($out, qr/^v2\.2026\.[\w-]+\.\d+\.[\w-]{43}$/, "$lang snippet mints a token");
    is($t->chat(token => $out, headers => from())->{status}, 200,
       "$lang snippet's token is accepted");
}

# Issue 18: a header admission or the who stage reads, sent twice, is
# refused with 400 and the reason in the usage line, whichever way nginx
# passes the copies on (1.22: as separate params; 1.23+: joined). Even two
# equal Origins: the first value never silently decides.
my $cookie = "chatgate_session=$tok";
my @dups = (
    [ 'two equal Origins', from(Origin => ['https://app.test', 'https://app.test']), 'Origin' ],
    [ 'Origin allowed, then foreign', from(Origin => ['https://app.test', 'https://evil.test']), 'Origin' ],
    [ 'two Cookie lines', from(Cookie => [$cookie, "chatgate_session=$v1"]), 'Cookie' ],
    [ 'one Cookie line, the session twice', from(Cookie => "$cookie; chatgate_session=$v1"), 'Cookie' ],
    [ 'two X-Forwarded-For lines', { Origin => 'https://app.test',
      'X-Forwarded-For' => ['10.9.9.9', '10.8.8.8'] }, 'X-Forwarded-For' ],
    [ 'two Sec-Fetch-Site lines', from('Sec-Fetch-Site' => ['same-origin', 'cross-site']), 'Sec-Fetch-Site' ],
    [ 'two Referers', from(Origin => undef, Referer => ['https://app.test/', 'https://evil.test/']), 'Referer' ],
    [ 'two Content-Types', from('Content-Type' => ['application/json', 'text/plain']), 'Content-Type' ],
);
for my $c (@dups) {
    my ($what, $h, $name) = @$c;
    my %o = (headers => $h);
    $o{token} = undef if exists $h->{Cookie};
    my $r = $t->chat(%o);
    refused($r, 400, 'invalid_request', $what);
    like($t->usage_for($r)->{reason} // '', qr/\b(duplicated|ambiguous) \Q$name\E header/,
         "$what: the usage line names the header");
}
# Authorization twice: nginx itself refuses it (a unique header line).
is($t->chat(token => undef, headers => from(Authorization => ["Bearer $tok", "Bearer $v1"]))->{status},
   400, 'two Authorization lines: 400');
# Near misses pass: one X-Forwarded-For list, other cookies beside the
# session, a Referer with commas in it.
is($t->chat(headers => { Origin => 'https://app.test',
                         'X-Forwarded-For' => '10.7.7.7, 127.0.0.1' })->{status},
   200, 'one X-Forwarded-For list passes');
is($t->chat(token => undef, headers => from(Cookie => "a=1; $cookie; b=2, c=3"))->{status},
   200, 'the session cookie once among others passes');
is($t->chat(headers => from(Origin => undef, Referer => 'https://app.test/a,b?x=1,2'))->{status},
   200, 'a Referer with commas passes');
# A browser's cached Basic credentials do not lift the missing-Origin rule.
refused($t->chat(headers => from(Origin => undef, Authorization => 'Basic dXNlcjpwYXNz')),
        403, 'cross_site_request', 'cookie + Basic, no Origin');

# Pre-auth limit: 4 failures from one address, then 429 even for a valid
# session, while other addresses are unaffected.
my %ip = ('X-Forwarded-For' => '192.0.2.7, 127.0.0.1');
my @r401;
for my $i (1 .. 4) {
    $res = $t->chat(token => "v2.2026.bad$i.1.x", headers => {%ip});
    is($res->{status}, 401, "guess $i: 401");
    push @r401, $t->usage_for($res);
}
$res = $t->chat(token => $tok, headers => {%ip});
is($res->{status}, 429, 'the pre-auth limit trips');
ok(($res->{headers}{'retry-after'} // 0) > 0, 'with Retry-After');
is($t->chat(token => $tok, headers => from())->{status}, 200,
   'another address is not limited');
my $last = $t->usage_for($res);
like($last->{reason}, qr/pre-auth/, 'the log says pre-auth limit');
is($last->{remote_addr}, '192.0.2.7',
   'client address: right-most untrusted X-Forwarded-For hop');
ok((grep { ($_->{reason} // '') =~ /^signed: / } @r401),
   'the log says which verifier refused');

# Many forged hops cannot push the real one out of reach: X-Forwarded-For
# is walked from the right, through every hop.
my $forged = join(', ', map { "198.18.0.$_" } 1 .. 40);
$res = $t->chat(token => $tok,
                headers => { 'X-Forwarded-For' => "$forged, 192.0.2.99" });
is($res->{status}, 200, '41 hops: answered');
is($t->usage_for($res)->{remote_addr}, '192.0.2.99',
   '41 hops: the right-most untrusted hop is the client, not a forged one');

# Only failures make a pre-auth counter: requests with a valid session from
# many addresses leave no key behind (they cannot fill the store).
sub mc_get {
    my ($key) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$t->{mc_port}")
        or die "memcached: $!";
    print $s "get $key\r\n";
    my $out = '';
    while (my $l = <$s>) { $out .= $l; last if $l =~ /^(END|ERROR)/ }
    close $s;
    return $out =~ /^VALUE / ? 1 : 0;
}
my $min = int(time / 60);
my @clean = map { from() } 1 .. 5;
my $made = 0;
for my $h (@clean) {
    is($t->chat(token => $tok, headers => $h)->{status}, 200,
       "valid session from $h->{'X-Forwarded-For'}");
    $made += mc_get("cg:authfail:$h->{'X-Forwarded-For'}:$_")
        for ($min, $min + 1);
}
is($made, 0, 'no pre-auth counter was created for a valid session');
ok(mc_get("cg:authfail:192.0.2.7:$min") || mc_get("cg:authfail:192.0.2.7:"
   . ($min - 1)), 'failures still have their counter');

# [limits] auth_failures_cache_ms: a worker reads an address's pre-auth
# count once per period, not per request, and its own failures count at
# once, so the limit still trips on the worker that saw them.
{
    my $c = CG->new;
    $c->start_stack('server.workers' => 1,
                    'http.trusted_proxies' => '127.0.0.1',
                    'limits.requests_per_minute' => 0,
                    'limits.auth_failures_per_minute' => 3,
                    'limits.auth_failures_cache_ms' => 60000);
    sleep(61 - time % 60) if time % 60 > 50;
    my $ctok = $c->mint('carol');
    my %h = ('X-Forwarded-For' => '192.0.2.50, 127.0.0.1');
    is($c->chat(token => $ctok, headers => {%h})->{status}, 200,
       'cached pre-auth: a first request');
    my $before = CG::mc_stats($c->{mc_port});
    is($c->chat(token => $ctok, headers => {%h})->{status}, 200, 'and more')
        for 1 .. 10;
    my $after = CG::mc_stats($c->{mc_port});
    my $reads = ($after->{get_hits} + $after->{get_misses})
              - ($before->{get_hits} + $before->{get_misses});
    cmp_ok($reads, '<', 10, "10 requests read the store $reads times, "
           . 'not once each for the pre-auth count');
    for my $i (1 .. 3) {
        is($c->chat(token => "v2.2026.bad$i.1.x", headers => {%h})->{status},
           401, "cached pre-auth: guess $i");
    }
    is($c->chat(token => $ctok, headers => {%h})->{status}, 429,
       'the cached count saw the worker\'s own failures: 429');
}

done_testing;
