# Shared hosting as docs/deploy.md writes it: a non-root account runs the
# doc's own shell blocks; Apache (as www-data) with suexec and mod_fcgid
# starts chatgate as that account from its .htaccess and wrapper, with its
# own key file and local store, no memcached. Logged in: 200; logged out:
# 401; a Bearer service token works (CGIPassAuth); a config change takes
# effect by the documented user-level step (edit + check, no signal, no
# root); a config error is visible to the account in ~/chatgate/error.log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP;
use CG;

my $suexec_conf = '/etc/apache2/suexec/www-data';
plan skip_all => 'needs root (to create the account and start Apache)' unless $> == 0;
plan skip_all => 'apache2 with mod_fcgid, mod_suexec and mod_userdir not installed'
    unless -x '/usr/sbin/apache2'
        && -e '/usr/lib/apache2/modules/mod_fcgid.so'
        && -e '/usr/lib/apache2/modules/mod_suexec.so'
        && -e '/usr/lib/apache2/modules/mod_userdir.so';
plan skip_all => 'no setuid suexec (apt install apache2-suexec-custom)'
    unless -u '/usr/lib/apache2/suexec' && -r $suexec_conf;
my @sx = split /\n/, CG::slurp($suexec_conf);
plan skip_all => "$suexec_conf does not take userdir scripts in public_html/cgi-bin"
    unless ($sx[1] // '') =~ m{^public_html/cgi-bin/?$};
for my $tool (qw(useradd userdel runuser openssl)) {
    plan skip_all => "$tool not installed"
        unless grep { -x "$_/$tool" } qw(/usr/sbin /usr/bin /sbin /bin);
}

my $t = CG->new;
my $d = $t->dir;
$t->start_mock;                 # no memcached: the local store

# The account, with its home in the test dir.
my $acct = 'cgsh' . substr(CG::rand_hex(6), 0, 6);
mkdir "$d/home";
chmod 0755, "$d/home";
my $home = "$d/home/$acct";
system('useradd', '--home-dir', $home, '--create-home', '--skel', '/dev/null',
       '--shell', '/bin/sh', '--user-group', $acct) == 0 or die "useradd";
END { local $?; system('userdel', $acct) if $acct && $> == 0 }

# What the host's package (or the source tree) gives the account.
mkdir "$d/files";
system("cp -a $CG::ROOT/fcgi-conf/apache/shared-hosting/. $d/files/") == 0 or die;
system('chmod', '-R', 'a+rX', "$d/files") == 0 or die;
my $bin = $t->chatgate_copy;

# The doc's blocks, as written; only the placeholders change (the site's
# origin and the provider key), and the provider is the mock.
my $doc = CG::slurp("$CG::ROOT/docs/deploy.md");
sub block {
    my ($name) = @_;
    my ($b) = $doc =~ /<!-- shared-hosting: \Q$name\E -->\n```sh\n(.*?)```/s
        or die "no '$name' block in docs/deploy.md";
    $b =~ s{https://www\.example\.org}{$CG::ORIGIN}g;
    my $key = $t->key;
    $b =~ s{sk-ant-api03-YOUR-KEY}{$key}g;
    return $b;
}
sub as_acct {
    my ($script) = @_;
    my $f = "$d/step-" . CG::rand_hex(4) . '.sh';
    $t->write_file($f, "set -e\n$script", 0644);
    my $out = `runuser -u $acct -- env -i HOME=$home PATH=/usr/bin:/bin CG_BIN=$bin CG_FILES=$d/files sh $f 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = as_acct(block('setup'));
is($rc, 0, 'the setup block runs as the account') or diag $out;
like($out, qr/configuration .* is ok/, 'and its chatgate check passes');
my $ini = "$home/chatgate/chatgate.ini";
my $path = "/~$acct/cgi-bin/api/chat";
like(CG::slurp($ini), qr/^chat_path = \Q$path\E$/m, 'chat_path is the UserDir URL');
is((stat $ini)[4], getpwnam($acct), 'the config belongs to the account');

# Test only: the provider is the mock, and the polling below may send
# more than the default 20 requests a minute.
my $text = CG::slurp($ini);
my $mock = $t->mock_url;
$text =~ s/^\[provider\]$/[provider]\nbase_url = $mock/m or die;
$text .= "\n[limits]\nrequests_per_minute = 6000\n";
$t->write_file($ini, $text, 0600);

# The host's side: Apache as www-data, suexec, mod_fcgid, UserDir, and
# exactly the AllowOverride the docs ask for.
mkdir "$d/fcgid";
system('chown', 'www-data', "$d/fcgid") == 0 or die;
my $server = $t->conf_file('apache/chatgate-fcgid.conf');
$server =~ s/^ScriptAlias.*//ms;
my $site = join "\n", "FcgidIPCDir $d/fcgid", "FcgidProcessTableFile $d/fcgid-shm",
    $server, 'UserDir public_html', 'UserDir disabled root',
    "<Directory $d/home/*/public_html>",
    '    AllowOverride FileInfo Options AuthConfig',
    '    Require all granted', '</Directory>', '';
$t->start_apache(conf => $site, modules => [qw(fcgid suexec userdir)],
                 user => ['www-data', 'www-data']);
eval { CG::wait_for('suexec notice', sub {
    CG::slurp("$d/apache-error.log") =~ /suEXEC mechanism enabled/ }) };
like(CG::slurp("$d/apache-error.log"), qr/suEXEC mechanism enabled/,
     'Apache runs with suexec');

# Logged out: 401; logged in: 200, from a chatgate running as the account.
my $r = $t->chat(token => undef, path => $path);
is($r->{status}, 401, 'logged out: 401') or diag $r->{content};
like($r->{content}, qr/"error"/, 'as JSON');
($rc, my $tok) = as_acct("~/chatgate/chatgate mint -c ~/chatgate/chatgate.ini alice\n");
chomp $tok;
$r = $t->chat(token => $tok, path => $path, message => 'hello via suexec');
is($r->{status}, 200, 'logged in: 200') or diag $r->{content};
like($r->{json}{text} // '', qr/mock reply/, 'with the answer');
my @procs = grep { CG::slurp("/proc/$_/cmdline") =~ /chatgate.*serve/ }
            map { m{/proc/(\d+)/} } glob '/proc/[0-9]*/cmdline';
my @mine = grep { (stat "/proc/$_")[4] == getpwnam($acct) } @procs;
ok(@mine, 'chatgate runs as the account (suexec)');

# A service token by the docs' block: a config change, applied by the
# user-level step alone; the Bearer header reaches chatgate.
($rc, $out) = as_acct(block('token'));
is($rc, 0, 'the token block runs and check passes') or diag $out;
my ($svc) = $out =~ /give the caller: (\S+)/;
my $bearer;
eval {
    CG::wait_for('the token config', sub {
        $bearer = $t->chat(token => undef, path => $path,
                           headers => { Authorization => "Bearer $svc" });
        $bearer->{status} == 200;
    }, 20);
};
is($bearer->{status}, 200, 'a Bearer service token works (CGIPassAuth)')
    or diag $bearer->{content};

# A config change by the documented step: edit, check; nothing else.
($rc, $out) = as_acct("sed -i 's/^model = .*/model = claude-changed-model/' ~/chatgate/chatgate.ini\n"
                      . "~/chatgate/chatgate check -c ~/chatgate/chatgate.ini\n");
is($rc, 0, 'the edited config passes check') or diag $out;
my $model = '';
eval {
    CG::wait_for('the new model', sub {
        $t->chat(token => $tok, path => $path);
        my $last = $t->mock_requests->[-1] // {};
        $model = (eval { decode_json($last->{body})->{model} }) // '';
        $model eq 'claude-changed-model';
    }, 20);
};
is($model, 'claude-changed-model', 'the config change takes effect with no signal and no root');

# A config error: visible to the account, and the site keeps serving.
($rc, $out) = as_acct("printf '\\n[server]\\nbogus_setting = 1\\n' >> ~/chatgate/chatgate.ini\n");
my $elog = "$home/chatgate/error.log";
eval {
    CG::wait_for('the refusal', sub {
        $t->chat(token => $tok, path => $path);
        CG::slurp($elog) =~ /config change refused/;
    }, 20);
};
like(CG::slurp($elog), qr/config change refused.*unknown key \[server\] bogus_setting/,
     'the error is in ~/chatgate/error.log');
is((stat $elog)[4], getpwnam($acct), 'which belongs to the account');
($rc, $out) = as_acct("grep -c 'config change refused' ~/chatgate/error.log\n");
ok($rc == 0 && $out >= 1, 'and the account can read it');
is($t->chat(token => $tok, path => $path)->{status}, 200,
   'the old configuration keeps serving');

# The account's logs hold no key either.
my $all = join '', map { CG::slurp($_) } glob "$home/chatgate/*.log";
ok(index($all, $t->key) < 0, "no key in the account's logs");
unlike($all, qr/ERROR: (Address|Leak)Sanitizer|runtime error:/,
       "no sanitizer report in the account's logs");
$t->stop('apache');
# mod_fcgid stops its processes with Apache; any left (by PID) go too,
# before the account is removed.
my $uid = getpwnam($acct);
kill 'TERM', grep { (stat "/proc/$_")[4] == $uid }
             map { m{/proc/(\d+)$} ? $1 : () } glob '/proc/[0-9]*';

done_testing;
