# A real WordPress (Debian's wordpress package, php-fpm, a private MariaDB)
# behind nginx with chatgate on the same site, and the chatgate plugin
# (integrations/wordpress/chatgate) installed by copying it, as docs/
# wordpress.md says. Headless Chromium (tests/browser/wordpress.test.js)
# logs in as real WordPress users: an editor gets the cookie and a streamed
# answer from the mock provider; a subscriber (editors only may chat) gets no
# cookie and the box says why; logged out, the box asks to log in and
# /api/chat answers 401. The provider key and the signing secret are in no
# page, cookie, storage or database row (mysqldump). Every plugin file passes
# php -l. Skipped, saying why, only where the packages cannot be installed
# or the set-up does not fit the time CI gives it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use CG;

my $plugin = "$CG::ROOT/integrations/wordpress/chatgate";
my $wp_code = '/usr/share/wordpress';
plan skip_all => 'wordpress: Debian\'s wordpress package is not installed (scripts/deps --browser)'
    unless -f "$wp_code/wp-settings.php";
plan skip_all => 'wordpress: mariadb-server is not installed'
    unless -x '/usr/sbin/mariadbd' || -x '/usr/sbin/mysqld';
plan skip_all => 'wordpress: php-mysql is not installed'
    unless `php -m 2>/dev/null` =~ /^mysqli$/m;
plan skip_all => 'wordpress: php-fpm is not installed' unless glob '/usr/sbin/php-fpm*';
my $missing = CG::browser_missing();
plan skip_all => "wordpress: browser tests: $missing" if $missing;

# The whole set-up (database, WordPress install) must fit this, or the test
# skips and says so: a slow CI machine is no reason to fail.
my $setup_max = $ENV{CG_WP_SETUP_SECONDS} || 240;
my $started = time;

my $t = CG->new;
my $d = $t->dir;
my $port = CG::free_port();
my $url = "http://127.0.0.1:$port";
my %pw = map { $_ => CG::rand_hex(24) } qw(admin editor subscriber db);

# chatgate: v2 tokens with key id wp1, the key in a file WordPress reads
# too (wp-config.php names it; chatgate's own config references it).
my $secret = CG::rand_hex(64);
my $keyfile = $t->write_file('session-wp.key', "$secret\n", 0640);
$t->start_memcached;
$t->start_mock;
# As root, Apache (the second half) runs as nobody and reaches chatgate's
# socket through its group, as deployed.
my (undef, $web_group) = CG::web_user();
my %cg = ('session.secret' => undef,
                   ($web_group ? ('server.socket_group' => $web_group) : ()),
                   'http.allowed_origins' => $url,
                   'limits.requests_per_minute' => 30,
                   'status.path' => '/chatgate-status',
                   'status.allow' => '127.0.0.1',
                   'price claude-test-model.input' => '3',
                   'price claude-test-model.output' => '15',
                   'budget.global_daily' => '50',
                   'budget.user_daily' => '5');
$t->start_chatgate(%cg, 'session.secrets' => "wp1:file:$keyfile");

# The database: private, on a socket in the test dir.
my $sock = $t->start_mariadb;
$t->mariadb_sql("CREATE DATABASE wordpress;\n"
    . "CREATE USER 'wordpress'\@'localhost' IDENTIFIED BY '$pw{db}';\n"
    . "GRANT ALL ON wordpress.* TO 'wordpress'\@'localhost';\n");

# WordPress: Debian's code (hard links where the file system allows, a copy
# otherwise) with this site's own wp-config.php, the theme Debian packages,
# and the plugin copied in.
my $root = "$d/wordpress";
# (Hard links to root's files are refused to other users: then a copy.)
system("cp -al $wp_code $root 2>/dev/null || { rm -rf $root && cp -r $wp_code $root; }") == 0
    or die 'copying WordPress failed';
unlink "$root/wp-config.php";
system('cp', '-r', $plugin, "$root/wp-content/plugins/chatgate") == 0
    or die 'copying the plugin failed';
my @salts = map { "define('$_', '" . CG::rand_hex(48) . "');" }
    qw(AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT
       SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT);
$t->write_file("$root/wp-config.php", join("\n", '<?php',
    "define('DB_NAME', 'wordpress');", "define('DB_USER', 'wordpress');",
    "define('DB_PASSWORD', '$pw{db}');", "define('DB_HOST', 'localhost:$sock');",
    "define('DB_CHARSET', 'utf8mb4');", "define('DB_COLLATE', '');", @salts,
    "\$table_prefix = 'wp_';",
    "define('WP_HOME', '$url');", "define('WP_SITEURL', '$url');",
    # Offline and quiet: no calls to wordpress.org, no cron requests.
    "define('WP_HTTP_BLOCK_EXTERNAL', true);", "define('AUTOMATIC_UPDATER_DISABLED', true);",
    "define('DISABLE_WP_CRON', true);",
    # Any PHP notice goes to a log this test reads.
    "define('WP_DEBUG', true);", "define('WP_DEBUG_DISPLAY', false);",
    "define('WP_DEBUG_LOG', '$d/wp-debug.log');",
    # The lines docs/wordpress.md gives.
    "define('CHATGATE_SECRET_FILE', '$keyfile');", "define('CHATGATE_KEY_ID', 'wp1');",
    "define('CHATGATE_REPORT_FILE', '$d/report-today.json');",
    # As Debian's wp-config.php does, for a TLS-terminating proxy in front.
    "if ((\$_SERVER['HTTP_X_FORWARDED_PROTO'] ?? '') === 'https') { \$_SERVER['HTTPS'] = 'on'; }",
    "if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }",
    "require_once ABSPATH . 'wp-settings.php';", ''), 0644);

my $out = `php $CG::ROOT/tests/wordpress/install.php $root $pw{admin} 2>&1`;
die "WordPress install failed: $out" if $? || $out !~ /"user_id":1/;
$out = `php $CG::ROOT/tests/wordpress/setup.php $root $url/chatgate-status $pw{editor} $pw{subscriber} 2>&1`;
die "WordPress set-up failed: $out" if $?;
my ($json) = $out =~ /^(\{.*\})$/m or die "set-up printed no ids: $out";
my $ids = decode_json($json);

my $took = time - $started;
plan skip_all => sprintf('wordpress: the set-up took %.0f s, more than the %d s allowed '
                         . '(CG_WP_SETUP_SECONDS)', $took, $setup_max)
    if $took > $setup_max;
note(sprintf 'WordPress set up in %.1f s', $took);

# Every plugin file is valid PHP for this PHP (8.2 on Debian 12).
for my $f (sort split /\n/, `find $plugin -name '*.php'`) {
    my $lint = `php -l $f 2>&1`;
    ok($? == 0, "php -l " . substr($f, length("$CG::ROOT/"))) or diag($lint);
}

# And every script of it is valid JavaScript.
for my $f (sort split /\n/, `find $plugin -name '*.js'`) {
    my $lint = `node --check $f 2>&1`;
    ok($? == 0, "node --check " . substr($f, length("$CG::ROOT/"))) or diag($lint);
}

# The translation template holds every string the plugin translates
# (made again by integrations/wordpress/make-pot and compared by msgid).
my $pot = "$d/chatgate.pot";
system("$CG::ROOT/integrations/wordpress/make-pot", $pot) == 0 or die 'make-pot failed';
my $msgids = sub { [ sort grep { /^msgid / } split /\n/, CG::slurp($_[0]) ] };
is_deeply($msgids->("$plugin/languages/chatgate.pot"), $msgids->($pot),
          'languages/chatgate.pot holds exactly the strings the plugin translates');

# PHP and nginx: the site is fcgi-conf/nginx/wordpress.conf, with a strict
# CSP on the public pages (not wp-admin, which needs inline script): the
# chat box must work under it.
$t->start_php_fpm;
my $site = $t->conf_file('nginx/wordpress.conf',
    '/usr/share/wordpress' => $root,
    '/var/lib/wordpress/wp-content/' => "$root/wp-content/",
    'unix:/run/php/php8.2-fpm.sock' => "unix:$t->{php_sock}",
    # Debian's fastcgi_params pass HTTP_HOST without the port; on this
    # test's random port WordPress would redirect to itself forever.
    '    include fastcgi_params;' => "    include fastcgi_params;\n    fastcgi_param HTTP_HOST \$host:\$server_port;");
$t->write_file('nginx-site.conf', join("\n",
    'include /etc/nginx/mime.types;',
    q{set $cg_csp "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";},
    'if ($uri ~ ^/wp-(admin|login)) {', '    set $cg_csp "";', '}',
    'add_header Content-Security-Policy $cg_csp always;',
    $site, ''), 0644);
$t->start_nginx(port => $port, site => "$d/nginx-site.conf");

my $home = HTTP::Tiny->new(max_redirect => 0)->get("$url/?page_id=$ids->{page}");
is($home->{status}, 200, "WordPress serves the page with the shortcode") or diag(explain $home->{headers});
like($home->{content}, qr/class="chatgate-box" data-state="login"/,
     'anonymous visitors get the box asking them to log in');
ok(!grep({ /chatgate_session/ } @{ [ $home->{headers}{'set-cookie'} // () ] }),
   'an anonymous visitor gets no chatgate cookie');

$ENV{CG_KEY} = $t->key;
$ENV{CG_SECRET} = $secret;
$ENV{CG_WP} = encode_json({ %$ids, passwords => \%pw });
# What cron does on a real site (docs/wordpress.md): today's report as JSON
# in the file wp-config.php names. The browser test runs it before the
# administrator looks.
my @now = gmtime;
$ENV{CG_REPORT_CMD} = "$CG::BUILD/chatgate report -c $t->{conf} --by user --json --since "
    . sprintf('%04d-%02d-%02d', $now[5] + 1900, $now[4] + 1, $now[3])
    . " > $d/report-today.json";
my $shot = "$d/wordpress.png";
$ENV{CG_SCREENSHOT} = $shot;
my $rc = CG::run_browser('wordpress.test.js', $url, $t->mock_url . '/_mock/stats');
system('cp', $shot, $ENV{CG_SCREENSHOT_TO}) if $ENV{CG_SCREENSHOT_TO} && -s $shot;
delete @ENV{qw(CG_KEY CG_SECRET CG_WP CG_REPORT_CMD CG_SCREENSHOT)};
is($rc, 0, 'browser test exits 0') or $t->diag_errors;

# The status page the plugin reads gives the budget caps (0: none).
my $st = decode_json($t->{http}->get("$url/chatgate-status")->{content});
is_deeply($st->{budget_micro_usd}, { site_daily => 50_000_000, site_monthly => 0,
                                     user_daily => 5_000_000, user_monthly => 0 },
          'the status page reports the configured budgets');

# chatgate saw the WordPress users by their stable ids.
my $lines = $t->usage_lines;
ok((grep { ($_->{user} // '') eq "wp:$ids->{editor}" && $_->{status} == 200 } @$lines),
   "the editor chatted as wp:$ids->{editor}");
ok(!(grep { ($_->{user} // '') eq "wp:$ids->{subscriber}" } @$lines),
   'the subscriber never got through');
ok((grep { $_->{status} == 401 } @$lines), 'the logged-out requests were refused');

# Nothing in the database holds the key or the secret.
my $dump = `mariadb-dump --no-defaults -S $sock -u root --all-databases 2>&1`;
ok($? == 0 && $dump =~ /wp_options/, 'the database dumps');
ok(index($dump, $t->key) < 0 && index($dump, $secret) < 0
   && $dump !~ /sk-ant-(?:api|admin)\d\d-/,
   'neither the provider key nor the signing secret is in any database row');
ok($dump =~ /chatgate_who/ && $dump !~ /chatgate[^']*secret/i,
   'the plugin stores its settings, and nothing named secret');

# The same site behind Apache (fcgi-conf/apache/wordpress.conf, php-fpm
# through mod_proxy_fcgi): a login through wp-login.php sets the cookie, and
# it chats; WordPress's permalink rewrite leaves /api/chat to chatgate.
my $kid_now = 'wp1';       # wp2 once the rotation below has run
SKIP: {
    skip 'apache2 with mod_proxy_fcgi is not installed', 10
        unless -x '/usr/sbin/apache2' && -e '/usr/lib/apache2/modules/mod_proxy_fcgi.so';
    $t->stop('nginx');
    my $conf = $t->conf_file('apache/chatgate-proxy-fcgi.conf',
                             '/run/chatgate/chatgate.sock' => $t->{sock})
        . $t->conf_file('apache/wordpress.conf',
                        '/usr/share/wordpress' => $root,
                        '/var/lib/wordpress/wp-content' => "$root/wp-content",
                        'unix:/run/php/php8.2-fpm.sock' => "unix:$t->{php_sock}");
    $t->start_apache(conf => $conf, port => $port, docroot => $root,
                     modules => [qw(proxy proxy_fcgi dir)]);
    my $http = HTTP::Tiny->new(max_redirect => 0, timeout => 30);
    my $wp_login = sub {
        my %h = @_;
        my %remember = delete $h{-remember} ? (rememberme => 'forever') : ();
        my $login = $http->post_form("$url/wp-login.php",
            { log => 'admin', pwd => $pw{admin}, 'wp-submit' => 'Log In', testcookie => 1,
              %remember },
            { headers => { Cookie => 'wordpress_test_cookie=WP%20Cookie%20check', %h } });
        my $set = $login->{headers}{'set-cookie'} // [];
        return ref $set ? @$set : ($set);
    };
    my @set = $wp_login->();
    my ($line) = grep { /^chatgate_session=/ } @set;
    like($line // '', qr{^chatgate_session=v2\.wp1\.[\w-]+\.\d+\.[\w-]+; path=/api/chat; HttpOnly; SameSite=Strict$}i,
         'Apache: logging in as the administrator sets the chatgate cookie')
        or diag(explain \@set);
    my %jar = map { /^([^=]+)=([^;]*)/ ? ($1 => $2) : () } @set;
    my $cookies = join '; ', map { "$_=$jar{$_}" } sort keys %jar;
    my $page = $http->get("$url/?page_id=$ids->{page}", { headers => { Cookie => $cookies } });
    like($page->{content}, qr/class="chatgate-box" data-state="ready"/,
         'Apache: the administrator gets the chat box');
    my ($tok) = ($line // '') =~ /^chatgate_session=([^;]+)/;
    my $r = $t->chat(token => $tok, headers => { Origin => $url });
    is($r->{status}, 200, 'Apache: the cookie chats through chatgate') or $t->diag_errors;
    like($r->{json}{text} // '', qr/^mock reply/, 'Apache: with the mock provider\'s answer');
    my ($remember) = grep { /^chatgate_session=/ } $wp_login->(-remember => 1);
    my ($rexp) = ($remember // '') =~ /^chatgate_session=v2\.wp1\.[\w-]+\.(\d+)\./;
    ok($rexp && abs($rexp - time - 14 * 86400) < 600,
       'with "Remember me" the token lasts as long as that WordPress session: 14 days')
        or diag($remember);
    my ($tls) = grep { /^chatgate_session=/ } $wp_login->('X-Forwarded-Proto' => 'https');
    like($tls // '', qr{; secure; HttpOnly; SameSite=Strict$}i,
         'when WordPress is on HTTPS the cookie is Secure');

    # Rotation as docs/wordpress.md says: chatgate learns wp2, then
    # wp-config.php signs with it; wp1 tokens keep working meanwhile.
    my $secret2 = CG::rand_hex(64);
    my $keyfile2 = $t->write_file('session-wp2.key', "$secret2\n", 0640);
    $t->write_config(%cg, 'session.secrets' => "wp2:file:$keyfile2, wp1:file:$keyfile");
    my ($rc_reload, $reload_out) = $t->run_chatgate('reload', '-c', $t->{conf});
    is($rc_reload, 0, 'rotation: chatgate reloads with wp2 added') or diag($reload_out);
    my $wpconf = CG::slurp("$root/wp-config.php");
    $wpconf =~ s/'CHATGATE_SECRET_FILE', '[^']*'/'CHATGATE_SECRET_FILE', '$keyfile2'/;
    $wpconf =~ s/'CHATGATE_KEY_ID', 'wp1'/'CHATGATE_KEY_ID', 'wp2'/;
    $t->write_file("$root/wp-config.php", $wpconf, 0644);
    # (php-fpm's opcache may take a moment to see the new wp-config.php.)
    my $tok2;
    CG::wait_for('a wp2 token', sub {
        ($tok2) = map { /^chatgate_session=([^;]+)/ } grep { /^chatgate_session=v2\.wp2\./ } $wp_login->();
        $tok2 }, 15);
    my $new = $t->chat(token => $tok2, headers => { Origin => $url });
    my $old = $t->chat(token => $tok, headers => { Origin => $url });
    ok($new->{status} == 200 && $old->{status} == 200,
       'rotation: the new wp2 token chats, and so does the wp1 token issued before')
        or diag("$new->{status} $old->{status}");
    $kid_now = 'wp2';

    my $anon = $t->chat(token => undef, headers => { Origin => $url });
    is($anon->{status}, 401, 'Apache: without it /api/chat answers 401');
    is($anon->{json}{error}{type}, 'authentication_error',
       'Apache: and the answer is chatgate\'s, not a WordPress page');
}

# No PHP warning or notice from the plugin (or anything) while it ran.
my $debug = CG::slurp("$d/wp-debug.log");
my @ours = grep { m{plugins/chatgate/} } split /\n/, $debug;
is_deeply(\@ours, [], 'no PHP notice, warning or error from the plugin');
# WordPress's own view: the block (and its editor script) and the
# shortcode are registered; uninstalling removes every option.
mkdir "$root/wp-content/languages";
mkdir "$root/wp-content/languages/plugins";
$t->write_file('chatgate-de_DE.po', join("\n", 'msgid ""', 'msgstr ""',
    '"Content-Type: text/plain; charset=UTF-8\\n"', '',
    'msgid "Please log in to chat."', 'msgstr "Bitte melde dich zum Chatten an."', ''));
system('msgfmt', '-o', "$root/wp-content/languages/plugins/chatgate-de_DE.mo",
       "$d/chatgate-de_DE.po") == 0 or die 'msgfmt failed';
my $minted = $t->mint("wp:$ids->{editor}");
$out = `php $CG::ROOT/tests/wordpress/check.php $root $minted 2>&1`;
my ($cj) = $out =~ /^(\{.*\})$/m;
my $check = eval { decode_json($cj // '') } // {};
like($minted, qr/^v2\.\Q$kid_now\E\./, "chatgate mint signs v2 with key id $kid_now");
ok($check->{mint_same}, 'the plugin mints byte for byte the token chatgate mint does');
is_deeply($check->{self_check_right}, [JSON::PP::true, "chatgate accepts this site's tokens."],
          'the settings page\'s check: chatgate accepts the configured key');
ok(!$check->{self_check_wrong}[0] && $check->{self_check_wrong}[1] =~ /refuses/,
   'and refuses a wrong one') or diag(explain $check->{self_check_wrong});
ok($check->{block} && $check->{dynamic}, 'the block chatgate/chat is registered, rendered on the server')
    or diag($out);
like($check->{editor_script} // '', qr{/wp-content/plugins/chatgate/block/index\.js$},
     'with its editor script');
is_deeply([sort @{ $check->{editor_deps} // [] }], [qw(wp-blocks wp-element wp-i18n)],
          'which depends on the editor\'s scripts only');
ok($check->{shortcode}, 'the shortcode [chatgate] is registered');
like($check->{box_de} // '', qr/Bitte melde dich zum Chatten an\./,
     'with a German translation installed, the box says it in German');
like($check->{box_en} // '', qr/Please log in to chat\./, 'and in English again after');
ok(grep({ $_ eq 'chatgate_who' } @{ $check->{options_before} // [] }), 'the plugin had options');
is_deeply($check->{options_after}, [], 'uninstalling the plugin removes all of them');
done_testing;
