package CG;

# Test harness for chatgate integration tests, after lighttpd's: one temp
# dir per test, ports picked here (the mock's socket is bound here and passed
# on fd 0, so it cannot race), real memcached, real nginx, real mock provider,
# every server stopped by PID when the test ends.

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(:sys_wait_h dup2 setsid);
use Scalar::Util ();
use Test::More ();
use Time::HiRes qw(sleep time);

our $ROOT  = abs_path(dirname(__FILE__) . '/../..');
our @LIVE;      # every harness of this test process, for the final checks
our $BUILD = $ENV{CG_BUILD} || 'build';
# The origin the test pages are "served" from: allowed in the config and
# sent by chat() whenever it sends a cookie, as a browser would.
our $ORIGIN = 'https://app.test';
$BUILD = "$ROOT/$BUILD" unless $BUILD =~ m{^/};

sub new {
    my ($class, %o) = @_;
    my $dir = tempdir('chatgate-t-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{CG_KEEP});
    chmod 0755, $dir;
    my $self = bless { dir => $dir, pids => [], names => {}, owner => $$,
                       %o }, $class;
    # Obviously fake, but shaped like a real key so that leak checks can
    # look for the shape as well as the value.
    # No run of 12 digits in either: the input guard would take one for a
    # card number and mask it before the key reaches the mock, and tests
    # that echo a key back then failed about once in a hundred runs.
    $self->{key} = 'sk-ant-api03-' . rand_hex_nocard(40) . 'AA';
    $self->{secret} = rand_hex_nocard(64);
    $self->{http} = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
    push @LIVE, $self;
    Scalar::Util::weaken($LIVE[-1]);
    return $self;
}

# Before a test file ends: stop every server it started and fail the test
# if any of them printed a sanitizer report (make check SAN=1) or crashed.
{
    no warnings 'redefine';
    my $orig = \&Test::More::done_testing;
    *Test::More::done_testing = sub {
        for my $t (grep { defined && $_->{owner} == $$ } @LIVE) {
            $t->stop_all;
            my $out = join '', map { slurp($_) }
                      glob("$t->{dir}/*.out $t->{dir}/*error.log");
            Test::More::unlike($out,
                qr/ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/,
                'no sanitizer report from any server');
            $t->check_valgrind if $t->{valgrind} // $ENV{CG_VALGRIND};
            $t->check_key_leaks;
        }
        goto &$orig;
    };
    *main::done_testing = \&Test::More::done_testing
        if defined &main::done_testing;
}

sub dir { $_[0]{dir} }
sub key { $_[0]{key} }

sub rand_hex_nocard {
    my ($n) = @_;
    my $h;
    do { $h = rand_hex($n) } while $h =~ /\d{12}/;
    return $h;
}

sub rand_hex {
    my ($n) = @_;
    open(my $fh, '<', '/dev/urandom') or die;
    read($fh, my $b, $n);
    return substr(unpack('H*', $b), 0, $n);
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "$!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub write_file {
    my ($self, $name, $content, $mode) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $content;
    close $fh;
    chmod($mode // 0600, $path);
    return $path;
}


sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return '';
    local $/;
    return scalar <$fh>;
}

# Starts a process in its own session; $fd0 (a socket) becomes its fd 0.
sub spawn {
    my ($self, $name, $fd0, @cmd) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        setsid();
        open(STDOUT, '>>', "$self->{dir}/$name.out");
        open(STDERR, '>>', "$self->{dir}/$name.out");
        if ($fd0) {
            dup2(fileno($fd0), 0) or die "dup2: $!";
        } else {
            open(STDIN, '<', '/dev/null');
        }
        exec(@cmd) or die "exec $cmd[0]: $!";
    }
    push @{$self->{pids}}, $pid;
    $self->{names}{$name} = $pid;
    return $pid;
}

sub pid_of { $_[0]{names}{$_[1]} }

sub wait_for {
    my ($what, $cond, $timeout) = @_;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        return 1 if $cond->();
        sleep 0.02;
    }
    die "timed out waiting for $what\n";
}

# @args: more memcached options (-c for more connections, say).
sub start_memcached {
    my ($self, $name, @args) = @_;
    my $port = free_port();
    my @user = $> == 0 ? ('-u', 'nobody') : ();
    $self->spawn($name // 'memcached', undef, 'memcached', '-l', '127.0.0.1',
                 '-p', $port, '-U', '0', '-t', '1', '-m', '32', @user, @args);
    wait_for('memcached', sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") });
    $self->{mc_port} = $port;
    return $port;
}

# memcached's `stats` on 127.0.0.1:port, as { name => value }.
sub mc_stats {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
    print $s "stats\r\n";
    my %st;
    while (my $l = <$s>) {
        last if $l =~ /^END/;
        $st{$1} = $2 if $l =~ /^STAT (\S+) (\S+)/;
    }
    return \%st;
}

sub start_mock {
    my ($self, @args) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Listen => 1024,
                                     ReuseAddr => 1) or die "$!";
    $self->{mock_port} = $sock->sockport;
    $self->{mock_log} = "$self->{dir}/mock.log";
    my $keyfile = $self->write_file('mock.key', $self->{key});
    # mock_any_key: accept any key (a rotation test checks the key in the
    # mock's log instead).
    my @key = $self->{mock_any_key} ? () : ('--key-file', $keyfile);
    $self->spawn('mock', $sock, "$BUILD/mock-provider",
                 @key, '--log', $self->{mock_log}, @args);
    close $sock;
    return $self->{mock_port};
}

# A tiny webhook receiver on loopback: appends each POST body as one line
# to hook.log. Returns its URL.
sub start_hook {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Listen => 64,
                                     ReuseAddr => 1) or die "$!";
    my $script = $self->write_file('hook.pl', <<'PL', 0755);
use strict;
open(my $srv, '<&=', 0) or die;
my $log = shift;
while (1) {
    accept(my $c, $srv) or next;
    my ($len, $body) = (0, '');
    while (my $l = <$c>) {
        last if $l =~ /^\r?\n$/;
        $len = $1 if $l =~ /^content-length:\s*(\d+)/i;
    }
    read($c, $body, $len);
    open(my $fh, '>>', $log) or die;
    print $fh "$body\n";
    close $fh;
    print $c "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
           . "Connection: close\r\n\r\nok";
    close $c;
}
PL
    $self->{hook_log} = "$self->{dir}/hook.log";
    $self->spawn('hook', $sock, 'perl', $script, $self->{hook_log});
    my $port = $sock->sockport;
    close $sock;
    return "http://127.0.0.1:$port/hook";
}

sub hook_bodies {
    my ($self) = @_;
    return [ grep { /\S/ } split /\n/, slurp($self->{hook_log}) ];
}

sub mock_url { "http://127.0.0.1:$_[0]{mock_port}" }

sub mock_requests {
    my ($self) = @_;
    return [ map { decode_json($_) } grep { /\S/ }
             split /\n/, slurp($self->{mock_log}) ];
}

# Writes chatgate's config; %o overrides "section.key" => value (undef
# removes a key).
sub write_config {
    my ($self, %o) = @_;
    $self->write_file('session.secret', "$self->{secret}\n");
    $self->write_file('provider.key', "$self->{key}\n");
    my $d = $self->{dir};
    my %c = (
        'server.listen'           => "$d/chatgate.sock",
        'server.workers'          => 2,
        'server.pid_file'         => "$d/chatgate.pid",
        'server.shutdown_timeout' => 10,
        'log.usage_log'           => "$d/usage.log",
        'log.error_log'           => "$d/error.log",
        'session.secret'          => "file:$d/session.secret",
        'memcached.servers'       => '127.0.0.1:' . ($self->{mc_port} // 1),
        'memcached.timeout_ms'    => 1000,  # a loaded CI machine: a slow answer is no outage
        'provider.base_url'       => $self->{mock_port} ? $self->mock_url
                                                        : 'http://127.0.0.1:1',
        'provider.api_key'        => "file:$d/provider.key",
        'provider.model'          => 'claude-test-model',
        'provider.max_tokens'     => 256,
        'provider.system_prompt'  => 'You are a test assistant.',
        'provider.timeout_ms'     => 3000,
        'http.allowed_origins'    => $CG::ORIGIN,
        %o,
    );
    my %sec;
    for my $k (sort keys %c) {
        next if $k =~ /^-/ || !defined $c{$k};
        my ($s, $n) = split /\./, $k, 2;
        push @{$sec{$s}}, "$n = $c{$k}\n";
    }
    my $ini = join "\n", map { "[$_]\n" . join('', @{$sec{$_}}) }
              sort keys %sec;
    $self->{conf} = $self->write_file('chatgate.ini', $ini, 0640);
    $self->{sock} = $c{'server.listen'};
    return $self->{conf};
}

sub run_chatgate {
    my ($self, @args) = @_;
    my $cmd = join ' ', map { quotemeta } ("$BUILD/chatgate", @args);
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

sub start_chatgate {
    my ($self, %o) = @_;
    $self->write_config(%o);
    my @vg = ($self->{valgrind} // $ENV{CG_VALGRIND})
        ? ('valgrind', '--quiet', '--trace-children=yes', '--leak-check=full',
           '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
           "--log-file=$self->{dir}/valgrind-%p.out")
        : ();
    $self->spawn('chatgate', undef, @vg, "$BUILD/chatgate", 'serve', '-c',
                 $self->{conf});
    my $sock = $self->{sock};
    wait_for('chatgate socket', sub {
        -S $sock && IO::Socket::UNIX->new(Peer => $sock) },
        @vg ? 60 : 10);
    # An ondemand pool starts with no worker: -no_workers skips the wait.
    wait_for('chatgate workers', sub { scalar($self->worker_pids) >= 1 })
        unless $o{-no_workers};
    return $self->pid_of('chatgate');
}

# The master's children: its workers, and the alert sender
# ("chatgate-alert", app/alertsend.h) when [alerts] has a webhook or
# command.
sub master_children {
    my ($self) = @_;
    my $master = $self->pid_of('chatgate') or return ();
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = slurp($stat) or next;
        my ($pid, $comm, $ppid) = $s =~ /^(\d+) \((.*)\) \S+ (\d+)/s or next;
        push @kids, [$pid, $comm] if $ppid == $master;
    }
    return sort { $a->[0] <=> $b->[0] } @kids;
}

sub worker_pids {
    my ($self) = @_;
    return map { $_->[0] } grep { $_->[1] ne 'chatgate-alert' }
           $self->master_children;
}

sub alert_sender_pids {
    my ($self) = @_;
    return map { $_->[0] } grep { $_->[1] eq 'chatgate-alert' }
           $self->master_children;
}

# www => 1 also serves demo/www with the demo's headers and demo-only login
# (demo/nginx-www.conf, as scripts/demo does), logging in as user "demo".
sub start_nginx {
    my ($self, %o) = @_;
    my $port = $o{port} // free_port();
    my $d = $self->{dir};
    my @www;
    if ($o{www}) {
        my $www = slurp("$ROOT/demo/nginx-www.conf");
        my $token = $self->mint('demo');
        $www =~ s/\@WWW\@/$ROOT\/demo\/www/g;
        $www =~ s/\@TOKEN\@/$token/g;
        $self->write_file('nginx-www.conf', $www, 0600);
        @www = ("        include $d/nginx-www.conf;");
    }
    # chatgate.conf passes to the upstream of chatgate-upstream.conf, with
    # FastCGI keep-alive, as shipped; keepalive => 0 passes straight to the
    # socket instead, a new connection per request.
    my $snippet = slurp("$ROOT/fcgi-conf/nginx/chatgate.conf");
    my $up = slurp("$ROOT/fcgi-conf/nginx/chatgate-upstream.conf");
    $up =~ s{unix:/run/chatgate/chatgate\.sock}{unix:$self->{sock}}g
        or die "socket path not found in chatgate-upstream.conf";
    $self->write_file('nginx-chatgate-upstream.conf', $up, 0644);
    my @up = ("    include $d/nginx-chatgate-upstream.conf;");
    if (!($o{keepalive} // 1)) {
        $snippet =~ s{fastcgi_pass chatgate;\n\s*fastcgi_keep_conn on;}
                     {fastcgi_pass unix:$self->{sock};}g
            or die "fastcgi_pass chatgate not found in chatgate.conf";
        @up = ();
    }
    $snippet =~ s{/usr/local/share/chatgate/errors/}{$ROOT/fcgi-conf/errors/}g
        or die "error documents not found in fcgi-conf/nginx/chatgate.conf";
    $self->write_file('nginx-chatgate.conf', $snippet, 0644);
    system('cp', '/etc/nginx/fastcgi_params', "$d/fastcgi_params");
    mkdir "$d/nginx-tmp";
    my $conf = join "\n",
        'daemon off;',
        # As root, nginx's workers would run as nobody and could not reach
        # the test's 0660 socket; a deployment uses a shared group instead.
        ($> == 0 ? ('user root;') : ()),
        'worker_processes 1;',
        "pid $d/nginx.pid;",
        "error_log $d/nginx-error.log warn;",
        'events { worker_connections 1024; }',
        'http {',
        "    access_log $d/nginx-access.log;",
        "    client_body_temp_path $d/nginx-tmp/body;",
        "    fastcgi_temp_path $d/nginx-tmp/fastcgi;",
        "    proxy_temp_path $d/nginx-tmp/proxy;",
        "    uwsgi_temp_path $d/nginx-tmp/uwsgi;",
        "    scgi_temp_path $d/nginx-tmp/scgi;",
        @up,
        '    server {',
        "        listen 127.0.0.1:$port;",
        "        include $d/nginx-chatgate.conf;",
        # $o{site}: the site's own lines (WordPress, say) in place of the
        # default tests/php location.
        ($o{site} ? ("        include $o{site};") : ()),
        ($self->{php_sock} && !$o{site} ? (
        '        location ~ \\.php$ {',
        "            fastcgi_pass unix:$self->{php_sock};",
        '            include fastcgi_params;',
        "            fastcgi_param SCRIPT_FILENAME $ROOT/tests/php\$fastcgi_script_name;",
        '        }') : ()),
        @www,
        '    }',
        '}', '';
    $self->write_file('nginx.conf', $conf, 0644);
    $self->spawn('nginx', undef, 'nginx', '-p', "$d/", '-c', "$d/nginx.conf",
                 '-e', "$d/nginx-error.log");
    wait_for('nginx', sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") });
    $self->{port} = $port;
    return $port;
}

# A file from fcgi-conf/ with the deployment paths replaced by the test's
# (%subst: from => to; each "from" must occur, so the files stay in step).
sub conf_file {
    my ($self, $rel, %subst) = @_;
    my $text = slurp("$ROOT/fcgi-conf/$rel");
    die "fcgi-conf/$rel is missing" unless length $text;
    for my $from (sort { length $b <=> length $a } keys %subst) {
        my $to = $subst{$from};
        $text =~ s/\Q$from\E/$to/g or die "$from not found in fcgi-conf/$rel";
    }
    return $text;
}

sub wait_port {
    my ($what, $port) = @_;
    wait_for($what, sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") });
}

# As root, web servers hand requests to an unprivileged user; tests that
# need it make the test dir theirs.
# A copy of fcgi-conf/errors in the test dir, for the same reason as
# chatgate_copy below: Apache's user must read the error documents.
sub errors_copy {
    my ($self) = @_;
    my $copy = "$self->{dir}/errors";
    system('cp', '-r', "$ROOT/fcgi-conf/errors", $copy) == 0 or die "cp errors: $?";
    system('chmod', '-R', 'a+rX', $copy) == 0 or die "chmod errors: $?";
    return $copy;
}

# A copy of chatgate in the test dir, for servers that run it as another
# user: the checkout may sit under a directory that user cannot enter
# (a clone in /root, say).
sub chatgate_copy {
    my ($self) = @_;
    my $copy = "$self->{dir}/chatgate-bin";
    system('cp', "$BUILD/chatgate", $copy) == 0 or die "cp chatgate: $?";
    chmod 0755, $copy;
    return $copy;
}

sub web_user { $> == 0 ? ('nobody', 'nogroup') : () }

sub give_dir_to_web_user {
    my ($self) = @_;
    return unless $> == 0;
    my (undef, undef, $uid) = getpwnam('nobody');
    my $gid = getgrnam('nogroup');
    system('chown', '-R', "$uid:$gid", $self->{dir}) == 0 or die "chown";
}

# Apache 2.4 in the foreground with its own config in the test dir;
# $o{conf}: the site's part (usually a file from fcgi-conf/apache/);
# $o{modules}: extra modules; $o{docroot}: DocumentRoot; $o{port}; $o{user}:
# the [user, group] Apache runs as (default: web_user()).
sub start_apache {
    my ($self, %o) = @_;
    my $port = $o{port} // free_port();
    my $d = $self->{dir};
    my $docroot = $o{docroot} // "$d/htdocs";
    mkdir $docroot;
    mkdir "$d/apache-run";
    my @mods = (qw(mpm_event authz_core authz_host alias headers mime
                   rewrite), @{$o{modules} // []});
    my ($user, $group) = $o{user} ? @{$o{user}} : web_user();
    my $conf = join "\n",
        (map { "LoadModule ${_}_module /usr/lib/apache2/modules/mod_$_.so" }
         @mods),
        "ServerRoot $d", 'ServerName 127.0.0.1', "Listen 127.0.0.1:$port",
        "PidFile $d/apache.pid", "ErrorLog $d/apache-error.log",
        'LogLevel warn', "DefaultRuntimeDir $d/apache-run",
        "Mutex file:$d/apache-run default",
        'StartServers 1', 'ServerLimit 1', 'ThreadsPerChild 32',
        'ThreadLimit 32', 'MaxRequestWorkers 32',
        ($user ? ("User $user", "Group $group") : ()),
        'TypesConfig /etc/mime.types', "DocumentRoot $docroot",
        '<Directory />', '    AllowOverride None', '    Require all denied',
        '</Directory>', "<Directory $docroot>", '    AllowOverride All',
        '    Require all granted', '</Directory>',
        $o{conf} // '', '';
    $self->write_file('apache.conf', $conf, 0644);
    $self->spawn('apache', undef, 'apache2', '-d', $d, '-f',
                 "$d/apache.conf", '-DFOREGROUND');
    wait_port('apache', $port);
    $self->{port} = $port;
    return $port;
}

# lighttpd in the foreground; $o{conf}: the fastcgi part (a file from
# fcgi-conf/lighttpd/).
sub start_lighttpd {
    my ($self, %o) = @_;
    my $port = free_port();
    my $d = $self->{dir};
    mkdir "$d/htdocs";
    $self->write_file('lighttpd-chatgate.conf', $o{conf}, 0644);
    my $conf = join "\n",
        qq{server.document-root = "$d/htdocs"},
        qq{server.bind = "127.0.0.1"}, "server.port = $port",
        qq{server.errorlog = "$d/lighttpd-error.log"},
        qq{server.upload-dirs = ( "$d" )},
        qq{include "$d/lighttpd-chatgate.conf"}, '';
    $self->write_file('lighttpd.conf', $conf, 0644);
    $self->spawn('lighttpd', undef, 'lighttpd', '-D', '-f',
                 "$d/lighttpd.conf");
    wait_port('lighttpd', $port);
    $self->{port} = $port;
    return $port;
}

# chatgate on a socket that a launcher opened and passed on: @launcher is
# the command before chatgate's own (spawn-fcgi -n ..., systemd-socket-
# activate ...). The process keeps the name "chatgate".
sub start_launched {
    my ($self, $launcher, %o) = @_;
    $self->write_config(%o);
    $self->spawn('chatgate', undef, @$launcher, "$BUILD/chatgate", 'serve',
                 '-c', $self->{conf});
    my $sock = $self->{sock};
    wait_for('launched socket', sub {
        -S $sock && IO::Socket::UNIX->new(Peer => $sock) });
    return $self->pid_of('chatgate');
}

# php-fpm with its own pool in the temp dir, serving tests/php/ on a Unix
# socket; %ini becomes the pool's php_value lines, %env its env[] lines,
# children the static pool's size (default 2).
# Call before start_nginx, which then routes *.php to it.
sub start_php_fpm {
    my ($self, %o) = @_;
    my $d = $self->{dir};
    my %ini = %{ $o{ini} // {} };
    my %env = %{ $o{env} // {} };
    $self->{php_sock} = "$d/php-fpm.sock";
    my $conf = join "\n", '[global]', "pid = $d/php-fpm.pid",
        "error_log = $d/php-fpm.log", 'daemonize = no', '[test]',
        "listen = $self->{php_sock}", 'listen.mode = 0666',
        ($> == 0 ? ('user = root', 'group = root') : ()),
        'pm = static', 'pm.max_children = ' . ($o{children} // 2),
        'clear_env = yes',
        (map { "php_value[$_] = $ini{$_}" } sort keys %ini),
        (map { "env[$_] = $env{$_}" } sort keys %env), '';
    $self->write_file('php-fpm.conf', $conf, 0644);
    my ($fpm) = glob '/usr/sbin/php-fpm*' or die "php-fpm not installed";
    $self->spawn('php-fpm', undef, $fpm, '-y', "$d/php-fpm.conf", '-F',
                 ($> == 0 ? ('-R') : ()));
    my $sock = $self->{php_sock};
    wait_for('php-fpm', sub { -S $sock });
    return $self;
}

# The browser tests' prerequisites (Debian's chromium, node, playwright-core
# from tests/browser's npm lock, installed when the lock changed). Returns
# '' when ready, else why not (for skip_all).
sub browser_missing {
    my $chromium = '/usr/bin/chromium';
    my $bdir = "$ROOT/tests/browser";
    return "$chromium is missing (scripts/deps --browser installs it)"
        unless -x $chromium;
    return 'node is missing' unless `node --version 2>/dev/null`;
    my $npm = npm_ci($bdir, 'playwright-core');
    return "npm ci failed (no npm registry?): $npm" if defined $npm;
    return '';
}

# Runs a node script of tests/browser and turns its TAP lines into tests of
# this file; returns the process's exit code.
sub run_browser {
    my ($script, @args) = @_;
    my $cmd = join ' ', map { quotemeta } ('node', "$ROOT/tests/browser/$script", @args);
    my @out = `$cmd 2>&1`;
    my $rc = $? >> 8;
    my $summary = '';
    for (@out) {
        chomp;
        if (/^(not )?ok \d+ - (.*)/) {
            Test::More::ok(!$1, "browser: $2");
        } elsif (/^# (.*)/) {
            Test::More::diag($1);
        } elsif (/^\d+ passed, \d+ failed$/) {
            $summary = $_;
        } elsif (/\S/) {
            Test::More::diag($_);
        }
    }
    Test::More::like($summary, qr/^[1-9]\d* passed, 0 failed$/, 'browser test summary');
    return $rc;
}

# A private MariaDB in the test dir: its own datadir and socket, no TCP,
# started and stopped by PID like every other server. Returns the socket.
sub start_mariadb {
    my ($self) = @_;
    my $d = $self->{dir};
    my ($install) = grep { -x } qw(/usr/bin/mariadb-install-db /usr/bin/mysql_install_db);
    my ($server) = grep { -x } qw(/usr/sbin/mariadbd /usr/sbin/mysqld);
    die "mariadb-server is not installed" unless $install && $server;
    # As root, the server must be told to stay root (it refuses otherwise);
    # the files are then root's, in the test's own dir.
    my @user = $> == 0 ? ('--user=root') : ();
    my $sock = "$d/mariadb.sock";
    my @common = ('--no-defaults', "--datadir=$d/mariadb", @user);
    system("$install @common --auth-root-authentication-method=normal "
           . "--skip-test-db >$d/mariadb-install.out 2>&1") == 0
        or die "mariadb-install-db failed: " . slurp("$d/mariadb-install.out");
    $self->spawn('mariadb', undef, $server, @common, "--socket=$sock",
                 '--skip-networking', "--pid-file=$d/mariadb.pid",
                 "--log-error=$d/mariadb-error.log",
                 '--innodb-buffer-pool-size=32M',
                 '--innodb-flush-log-at-trx-commit=0', '--skip-log-bin');
    wait_for('mariadb', sub { -S $sock }, 60);
    $self->{mariadb_sock} = $sock;
    return $sock;
}

# Runs SQL as MariaDB's root over the private socket; returns the output.
sub mariadb_sql {
    my ($self, $sql) = @_;
    my $d = $self->{dir};
    $self->write_file('mariadb-in.sql', $sql);
    my $out = `mariadb --no-defaults -S $self->{mariadb_sock} -u root < $d/mariadb-in.sql 2>&1`;
    die "mariadb: $out" if $?;
    return $out;
}

# memcached, mock, chatgate and nginx: the usual stack.
sub start_stack {
    my ($self, %o) = @_;
    my @mock = @{ delete $o{-mock_args} // [] };
    $self->start_memcached;
    $self->start_mock(@mock);
    $self->start_chatgate(%o);
    $self->start_nginx;
    return $self;
}

sub url { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '/api/chat') }

# One call to each provider-compatible endpoint (docs/sdk.md) with service
# token $tok, as an SDK makes it; returns the two responses.
sub compat_calls {
    my ($self, $tok) = @_;
    my $msgs = [{ role => 'user', content => 'hello compat' }];
    return ($self->chat(token => undef, headers => { 'x-api-key' => $tok },
                        path => '/api/llm/v1/messages',
                        body => { model => 'claude-test-model',
                                  max_tokens => 50, messages => $msgs }),
            $self->chat(token => undef,
                        headers => { Authorization => "Bearer $tok" },
                        path => '/api/llm/v1/chat/completions',
                        body => { model => 'claude-test-model',
                                  messages => $msgs }));
}

# npm ci in $dir (its package-lock.json pins everything) when the lock
# changed since the last install or $module is missing. Returns undef, or
# the last line npm printed when it failed (no registry: the caller skips).
sub npm_ci {
    my ($dir, $module) = @_;
    my $stamp = "$dir/node_modules/.lock-installed";
    # Two tests may start at once (prove -j2): one installs, the other
    # waits for it.
    require Fcntl;
    open(my $lock, '<', "$dir/package-lock.json") or die "package-lock.json: $!";
    flock($lock, Fcntl::LOCK_EX()) or die "flock: $!";
    return undef if slurp($stamp) eq slurp("$dir/package-lock.json")
                    && -d "$dir/node_modules/$module";
    my $out = `cd $dir && npm ci --no-audit --no-fund 2>&1`;
    return (split /\n/, $out)[-1] // 'npm ci failed' if $?;
    open(my $fh, '>', $stamp) or die "$stamp: $!";
    print $fh slurp("$dir/package-lock.json");
    close $fh;
    return undef;
}

sub mint {
    my ($self, $user, @args) = @_;
    my ($rc, $out) = $self->run_chatgate('mint', '-c', $self->{conf}, $user,
                                         @args);
    die "mint failed: $out" if $rc;
    chomp $out;
    return $out;
}

# n chat requests at once (one process each), spread over the pools (CG
# objects), with chat()'s %o; counts { 0 => served, 1 => 429
# budget_exceeded, 2 => anything else }.
sub chat_parallel {
    my ($pools, $n, %o) = @_;
    my %pid;
    for my $i (1 .. $n) {
        my $pool = $pools->[$i % @$pools];
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $r = $pool->chat(%o);
            my $type = $r->{json}{error}{type} // '';
            POSIX::_exit($r->{status} == 200 ? 0
                         : $type eq 'budget_exceeded' ? 1 : 2);
        }
        $pid{$pid} = 1;
    }
    my %count = (0 => 0, 1 => 0, 2 => 0);
    while (%pid) {
        my $pid = wait();
        last if $pid < 0;
        delete $pid{$pid};
        $count{$? >> 8}++;
    }
    return \%count;
}

# A session token for $user signed here, in the documented format
# (docs/sessions.md: v1.<base64url(user)>.<expiry>.<base64url(HMAC)>), as
# a site's own backend signs one: for a test that needs thousands of
# users, where a `chatgate mint` process each would cost seconds.
sub sign_token {
    my ($self, $user, $ttl) = @_;
    require Digest::SHA;
    require MIME::Base64;
    my $msg = 'v1.' . MIME::Base64::encode_base64url($user) . '.'
            . (int(time) + ($ttl // 3600));
    return "$msg." . MIME::Base64::encode_base64url(
        Digest::SHA::hmac_sha256($msg, $self->{secret}));
}

# POSTs a chat request. %o: message, body (string or hashref), token (undef:
# no token), headers, method, path.
sub chat {
    my ($self, %o) = @_;
    my $body = $o{body} // { message => $o{message} // 'hello' };
    $body = encode_json($body) if ref $body;
    my %h = ('Content-Type' => 'application/json', %{$o{headers} // {}});
    for (keys %h) { delete $h{$_} unless defined $h{$_} }
    if (exists $o{token}) {
        $h{Cookie} = "chatgate_session=$o{token}" if defined $o{token};
    } else {
        $self->{default_token} //= $self->mint('alice');
        $h{Cookie} = "chatgate_session=$self->{default_token}";
    }
    $h{Origin} //= $ORIGIN if $h{Cookie} && !exists $o{headers}{Origin};
    my $res = $self->{http}->request($o{method} // 'POST',
                                     $self->url($o{path}),
                                     { headers => \%h, content => $body });
    $res->{json} = eval { decode_json($res->{content}) };
    return $res;
}

# Request lines of the usage log (audit events are left out: see
# audit_lines).
sub usage_lines {
    my ($self) = @_;
    return [ grep { ($_->{event} // '') ne 'audit' } @{ $self->log_lines } ];
}

sub audit_lines {
    my ($self) = @_;
    return [ grep { ($_->{event} // '') eq 'audit' } @{ $self->log_lines } ];
}

sub log_lines {
    my ($self) = @_;
    return [ map { decode_json($_) } grep { /\S/ }
             split /\n/, slurp("$self->{dir}/usage.log") ];
}

# The usage line of response $res (by its X-Request-Id), waiting for it:
# a worker writes the line after the response has gone out.
sub usage_for {
    my ($self, $res) = @_;
    my $id = $res->{headers}{'x-request-id'} // die "no X-Request-Id";
    my $line;
    wait_for("usage line $id", sub {
        ($line) = grep { ($_->{request_id} // "") eq $id } @{$self->usage_lines};
        $line });
    return $line;
}

# On a failure: the last lines chatgate and memcached wrote, so that a
# failure seen only in CI says why.
sub diag_errors {
    my ($self) = @_;
    for my $f (map { "$self->{dir}/$_" } qw(error.log chatgate.out memcached.out)) {
        my @l = split /\n/, slurp($f);
        Test::More::diag("$f:\n" . join("\n", @l > 30 ? @l[-30 .. -1] : @l)) if @l;
    }
    return 0;
}

# Every file the test produced, concatenated: for leak checks.
sub all_output {
    my ($self) = @_;
    my $all = '';
    for my $f (glob "$self->{dir}/*.log $self->{dir}/*.out") {
        next if $f eq ($self->{mock_log} // '');
        $all .= slurp($f);
    }
    return $all;
}

# The key-leak sweep: nothing chatgate or the front end wrote may hold the
# provider key, its base64 form, or anything shaped like a provider key.
# (The mock's own request log holds the key by design and is skipped.)
# Issue 18: two Origin lines, and two Cookie lines carrying the session,
# are refused (400 invalid_request) whatever the front end does with them.
sub check_dup_headers {
    my ($self, $what) = @_;
    my $dup = $self->chat(headers => { Origin => [$ORIGIN, 'https://evil.test'] });
    Test::More::is($dup->{status}, 400, "$what: two Origin lines are refused");
    Test::More::is($dup->{json}{error}{type} // '', 'invalid_request',
                   "$what: as invalid_request");
    my $tok = $self->mint('alice');
    $dup = $self->chat(token => undef, headers => { Origin => $ORIGIN,
        Cookie => ["chatgate_session=$tok", "chatgate_session=$tok"] });
    Test::More::is($dup->{status}, 400,
                   "$what: two Cookie lines with the session are refused");
}

sub check_key_leaks {
    my ($self) = @_;
    require MIME::Base64;
    my $key = $self->{key};
    my $b64 = MIME::Base64::encode_base64($key, '');
    my $all = $self->all_output;
    my @hits;
    push @hits, 'the key' if index($all, $key) >= 0;
    push @hits, 'its base64' if index($all, $b64) >= 0;
    push @hits, "a key shape ($1...)"
        if $all =~ /(sk-ant-(?:api|admin)\d\d-[\w-]{6})[\w-]{14,}/;
    Test::More::is_deeply(\@hits, [], 'key-leak sweep: no key in any log or output');
}

sub check_valgrind {
    my ($self) = @_;
    my @bad;
    for my $f (glob "$self->{dir}/valgrind-*.out") {
        # --quiet: valgrind writes only what it found.
        push @bad, $f if -s $f;
    }
    Test::More::is_deeply(\@bad, [], 'valgrind: no errors and no definite leaks')
        or Test::More::diag(join "\n", map { slurp($_) } @bad);
}

sub stop {
    my ($self, $name, $sig) = @_;
    my $pid = delete $self->{names}{$name} or return;
    kill($sig // 'TERM', $pid);
    my $end = time + 15;
    while (time < $end) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill('KILL', -$pid);
    waitpid($pid, 0);
    return 0;
}

sub stop_all {
    my ($self) = @_;
    for my $name (qw(nginx apache lighttpd php-fpm chatgate mock memcached mariadb),
                   keys %{$self->{names}}) {
        $self->stop($name) if $self->{names}{$name};
    }
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    # A forked test client exits too; only the process that started the
    # servers stops them.
    $self->stop_all if $self->{owner} == $$;
}

1;
