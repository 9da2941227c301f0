# chatgate audit: the accounts that can read a group-readable key (test
# users and groups made here and removed at the end), keys shared across
# environments, retention reviews, the socket and the config, and the exit
# status (3 on a high finding) that cron and CI use.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use JSON::PP qw(decode_json);
use POSIX qw(strftime);
use CG;

my $t = CG->new;
my $d = $t->dir;
my $today = strftime('%Y-%m-%d', gmtime);
my $conf = $t->write_config('provider.api_key' => 'key:prod',
                            'provider.retention' => '30 days, no training',
                            'provider.reviewed' => $today);
my $prod_key = $t->write_file('prod.key', $t->key . "\n", 0600);
my $stg_key = $t->write_file('stg.key', 'stg-' . CG::rand_hex(40) . "\n", 0600);
my $keys = "[key prod]\nsource = file:$prod_key\nenvironment = production\n"
         . "created = $today\nservices = web,batch\n\n"
         . "[token web]\nsha256 = " . ('ab' x 32) . "\nroutes = *\n\n"
         . "[key stg]\nsource = file:$stg_key\nenvironment = staging\n"
         . "created = $today\n";
$t->write_file('chatgate.ini', CG::slurp($conf) . "\n$keys", 0640);

sub audit {
    my ($rc, $out) = $t->run_chatgate('audit', '-c', $conf, '--json');
    my $j = eval { decode_json($out) } or diag $out;
    return ($rc, $j, $out);
}

my ($rc, $j, $raw) = audit();
is($rc, 0, 'a clean set-up: exit 0') or diag explain $j->{findings};
is_deeply([ map { $_->{name} } @{ $j->{keys} } ], [qw(prod stg)], 'every key is listed');
my ($p) = grep { $_->{name} eq 'prod' } @{ $j->{keys} };
is($p->{environment}, 'production', 'environment');
is($p->{source}, "file:$prod_key", 'source');
like($p->{fingerprint}, qr/^[0-9a-f]{12}$/, 'fingerprint');
is($p->{age_days}, 0, 'age from created');
is($p->{services}, 'web,batch', 'the services that may use it');
is($p->{routes}, '*', 'and the routes');
ok($p->{provider_key}, 'it is the provider key');
is($p->{file}{mode}, '0600', 'file mode');
is_deeply($p->{file}{readers}, ['root'], 'a 0600 root key: only root reads it');
is($j->{providers}[0]{retention}, '30 days, no training', 'the retention policy');
is($j->{summary}{high}, 0, 'no high finding');
my @svc = grep { $_->{message} =~ /^services names/ } @{ $j->{findings} };
is_deeply([ map { "$_->{severity} $_->{subject} $_->{message}" } @svc ],
          [ 'medium prod services names batch, which is no [token NAME] in the config' ],
          'a services name without a [token NAME] is a medium finding (web has one)');
unlike($raw, qr/\Q${\ $t->key }\E/, 'the key is not in the report');
my ($c, $text) = $t->run_chatgate('audit', '-c', $conf);
like($text, qr/^key prod\n  environment: production\n/m, 'text report lists the key');
like($text, qr/summary: 0 high/, 'with a summary');
unlike($text, qr/\Q${\ $t->key }\E/, 'and no key');

# Group-readable: exactly the owner, the group's members and the accounts
# with it as primary group, plus root.
SKIP: {
    skip 'creating test users and groups needs root', 6 unless $> == 0;
    my $tag = 'cgk' . substr(CG::rand_hex(8), 0, 6);
    my ($g, $ua, $ub, $uc, $own) = map { "$tag$_" } qw(g a b c o);
    END {
        # Removed even when the test dies.
        system('userdel', $_) for grep { /^cgk/ } @main::users;
        system('groupdel', $main::group) if $main::group;
    }
    our @users = ($ua, $ub, $uc, $own);
    our $group = $g;
    system('groupadd', $g) == 0 or die "groupadd";
    system('useradd', '-M', '-N', '-g', 'nogroup', '-G', $g, $ua) == 0 or die;
    system('useradd', '-M', '-N', '-g', $g, $ub) == 0 or die;
    system('useradd', '-M', '-N', '-g', 'nogroup', $uc) == 0 or die;
    system('useradd', '-M', '-N', '-g', 'nogroup', $own) == 0 or die;
    my $gid = getgrnam($g);
    chown 0, $gid, $prod_key;
    chmod 0640, $prod_key;
    ($rc, $j) = audit();
    ($p) = grep { $_->{name} eq 'prod' } @{ $j->{keys} };
    is($p->{file}{group}, $g, 'the group is named');
    is_deeply($p->{file}{readers}, ['root', sort($ua, $ub)],
              'readers: root, the group member and the primary-group account, no one else');
    ok((grep { $_->{severity} eq 'info' && $_->{message} =~ /readable by its group/ }
        @{ $j->{findings} }), 'a group-readable key is an info finding');
    is($rc, 0, 'which is not high');
    chmod 0644, $prod_key;
    ($rc, $j) = audit();
    ($p) = grep { $_->{name} eq 'prod' } @{ $j->{keys} };
    is($p->{file}{readers}[-1], 'everyone', 'world-readable: everyone');
    is($rc, 3, 'world-readable key: exit 3');
    chmod 0600, $prod_key;
    chown 0, 0, $prod_key;
}

# POSIX ACLs (issue 23): a 0600 key with an ACL entry for another account
# is readable by that account; it is named, and a named-user grant is
# high. A named group is named with its members; a directory's default
# ACL (inherited by a rotated key) is reported too.
SKIP: {
    skip 'needs root (test accounts) and setfacl (the acl package)', 12
        unless $> == 0 && system('which setfacl >/dev/null 2>&1') == 0;
    my $tag = 'cgl' . substr(CG::rand_hex(8), 0, 6);
    my ($lu, $lg, $lm) = map { "$tag$_" } qw(u g m);
    END {
        system('userdel', $_) for grep { /^cgl/ } @main::acl_users;
        system('groupdel', $main::acl_group) if $main::acl_group;
    }
    our @acl_users = ($lu, $lm);
    our $acl_group = $lg;
    system('groupadd', $lg) == 0 or die "groupadd";
    system('useradd', '-M', '-N', '-g', 'nogroup', $lu) == 0 or die;
    system('useradd', '-M', '-N', '-g', 'nogroup', '-G', $lg, $lm) == 0 or die;
    chown 0, 0, $prod_key;
    chmod 0600, $prod_key;
    system('setfacl', '-m', "u:$lu:r", $prod_key) == 0 or die "setfacl";
    ($rc, $j) = audit();
    ($p) = grep { $_->{name} eq 'prod' } @{ $j->{keys} };
    ok((grep { $_ eq $lu } @{ $p->{file}{readers} }), 'ACL: the named user is listed as a reader');
    ok((grep { $_->{severity} eq 'high' && $_->{message} =~ /POSIX ACL on \Q$prod_key\E grants read to user $lu/ }
        @{ $j->{findings} }), 'ACL: a named-user grant is a high finding naming the account');
    ok(!(grep { $_->{message} =~ /readable by its group/ } @{ $j->{findings} }),
       'ACL: not mistaken for the group reading it (the group bits are the mask)');
    is($rc, 3, 'ACL: exit 3');
    system('setfacl', '-b', $prod_key);
    system('setfacl', '-m', "g:$lg:r", $prod_key) == 0 or die "setfacl";
    ($rc, $j) = audit();
    ($p) = grep { $_->{name} eq 'prod' } @{ $j->{keys} };
    ok((grep { $_ eq $lm } @{ $p->{file}{readers} }), 'ACL: a named group\'s member is a reader');
    ok((grep { $_ eq $lg } @{ $p->{file}{reader_groups} }), 'ACL: the named group is listed');
    ok((grep { $_->{severity} eq 'medium' && $_->{message} =~ /grants read to group $lg/ }
        @{ $j->{findings} }), 'ACL: a named-group grant is a medium finding');
    system('setfacl', '-b', $prod_key);
    system('setfacl', '-d', '-m', "u:$lu:r", $d) == 0 or die "setfacl -d";
    ($rc, $j) = audit();
    ok((grep { $_->{severity} eq 'high' && $_->{message} =~ /default ACL of directory \Q$d\E grants read to user $lu/ }
        @{ $j->{findings} }), 'ACL: a default ACL on the key\'s directory is a high finding');
    system('setfacl', '-k', $d);
    my $sec = "$d/session.secret";
    system('setfacl', '-m', "u:$lu:r", $sec) == 0 or die "setfacl";
    ($rc, $j) = audit();
    my ($s) = @{ $j->{session_secrets} // [] };
    ok($s, 'the session secret is audited');
    ok((grep { $_ eq $lu } @{ $s->{readers} // [] }), 'ACL on the session secret: the account is named');
    ok((grep { $_->{severity} eq 'high' && $_->{subject} eq '[session] secret' && $_->{message} =~ /user $lu/ }
        @{ $j->{findings} }), 'ACL on the session secret: high');
    system('setfacl', '-b', $sec);
    ($rc, $j) = audit();
    ($p) = grep { $_->{name} eq 'prod' } @{ $j->{keys} };
    is_deeply($p->{file}{readers}, ['root'], 'ACLs removed: only root again');
}

# Findings that make the exit status 3, and the ones that do not.
my $shared = $t->write_file('shared.key', $t->key . "\n", 0600);
$t->write_file('chatgate.ini', CG::slurp($conf)
    . "\n[key stg2]\nsource = file:$shared\nenvironment = staging\ncreated = $today\n", 0640);
($rc, $j) = audit();
is($rc, 3, 'a key shared across environments: exit 3');
ok((grep { $_->{severity} eq 'high' && $_->{message} =~ /shared across environments production and staging/ }
    @{ $j->{findings} }), 'named as a high finding');
$t->write_file('chatgate.ini', CG::slurp($conf) =~ s/^reviewed = .*\n//mr
    =~ s/^created = \Q$today\E$/created = 2020-01-01/mr, 0640);
($rc, $j) = audit();
my %f = map { $_->{message} => $_->{severity} } @{ $j->{findings} };
ok((grep { /retention never reviewed/ && $f{$_} eq 'medium' } keys %f), 'no review date: medium');
ok((grep { /days old, over twice its max_age_days/ && $f{$_} eq 'high' } keys %f),
   'a key far past its age: high');
is($rc, 3, 'exit 3');

# The socket of a running server: who can connect.
$t->write_file('chatgate.ini', "[server]\nlisten = $d/chatgate.sock\nsocket_mode = 0666\n"
               . "[log]\nusage_log = $d/usage.log\nerror_log = $d/error.log\n"
               . "[session]\nsecret = file:$d/session.secret\n"
               . "[provider]\napi_key = file:$d/provider.key\nbase_url = http://127.0.0.1:1\n"
               . "retention = none\nreviewed = $today\n", 0640);
$t->spawn('chatgate', undef, "$CG::BUILD/chatgate", 'serve', '-c', $conf);
CG::wait_for('socket', sub { -S "$d/chatgate.sock" });
($rc, $j) = audit();
is($j->{socket}{mode}, '0666', 'the socket mode');
is($j->{socket}{writers}[-1], 'everyone', 'everyone can connect');
ok((grep { $_->{subject} eq 'socket' && $_->{severity} eq 'high' } @{ $j->{findings} }),
   'a world-writable socket is high');
is($j->{keys}[0]{name}, 'provider', 'a direct api_key is audited as key "provider"');
is($rc, 3, 'exit 3');
$t->stop('chatgate');

($rc) = $t->run_chatgate('audit', '-c', "$d/nonexistent.ini");
is($rc, 1, 'an unreadable config: exit 1');
($rc) = $t->run_chatgate('audit', '-c', $conf, '--bogus');
is($rc, 2, 'a usage error: exit 2');

done_testing;
