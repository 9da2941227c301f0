# The Debian package: dpkg-buildpackage -b -us -uc builds it (in a copy of
# the tree, in this test's temp dir), lintian finds nothing, it holds the
# binary, man pages, a commented conffile, the systemd units and the
# logrotate file, and its maintainer scripts, run under a fake root
# (DPKG_ROOT, as dpkg --root does), create the chatgate user, the
# chatgate-keys group and the directories with the right owners.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

for my $tool (qw(dpkg-buildpackage dh lintian dpkg-deb fakeroot)) {
    plan skip_all => "$tool not installed (scripts/deps installs it)"
        unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

my $t = CG->new;
my $d = $t->dir;
my $root = $CG::ROOT;
chomp(my $version = CG::slurp("$root/VERSION"));
my $src = "$d/chatgate-$version";

sub run {
    my $cmd = join ' ', @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# The tree as committed plus what is not ignored (no build/ output).
mkdir $src or die;
my ($rc, $out) = -e "$root/.git"
    ? run("cd $root && git ls-files -co --exclude-standard -z | "
          . "tar --null -cf - -T - | tar -C $src -xf -")
    : run("cd $root && tar --exclude=./build -cf - . | tar -C $src -xf -");
is($rc, 0, 'a copy of the tree') or diag $out;

($rc, $out) = run("cd $src && dpkg-buildpackage -b -us -uc");
is($rc, 0, 'dpkg-buildpackage -b -us -uc succeeds') or diag $out;
my ($deb) = glob("$d/chatgate_*_*.deb");
ok($deb && -f $deb, 'it makes a .deb') or BAIL_OUT('no package');
like($deb, qr/chatgate_\Q$version\E-\d+_/, 'the package version is VERSION');

# lintian: no error and no warning (each override says why).
($rc, $out) = run("lintian --pedantic --fail-on none $d/chatgate_*.changes");
my @bad = grep { /^[EW]: / } split /\n/, $out;
is("@bad", '', 'lintian: no errors, no warnings') or diag $out;

# The contents.
my $list = `dpkg-deb -c $deb`;
for my $f (qw(./usr/bin/chatgate ./usr/bin/chatgate-rotate-key
              ./usr/share/man/man8/chatgate.8.gz
              ./usr/share/man/man8/chatgate-rotate-key.8.gz
              ./usr/share/man/man5/chatgate.ini.5.gz
              ./etc/chatgate/chatgate.ini ./etc/logrotate.d/chatgate
              ./lib/systemd/system/chatgate.service
              ./lib/systemd/system/chatgate.socket
              ./usr/lib/sysusers.d/chatgate.conf
              ./usr/lib/tmpfiles.d/chatgate.conf
              ./usr/lib/chatgate/chatgate.fcgi
              ./usr/share/chatgate/nginx/chatgate.conf
              ./usr/share/chatgate/nginx/chatgate-upstream.conf
              ./usr/share/chatgate/errors/504.json
              ./usr/share/doc/chatgate/copyright)) {
    like($list, qr/ \Q$f\E$/m, "the package holds $f");
}
unlike($list, qr{/usr/local}, 'nothing under /usr/local');
my $conffiles = `dpkg-deb -I $deb conffiles`;
like($conffiles, qr{^/etc/chatgate/chatgate.ini$}m, 'chatgate.ini is a conffile');
like($conffiles, qr{^/etc/logrotate.d/chatgate$}m, 'the logrotate file is a conffile');

# Unpacked under a fake root, with a minimal account database.
my $r = "$d/root";
($rc, $out) = run("dpkg-deb -R $deb $r");
is($rc, 0, 'dpkg-deb -R unpacks it') or diag $out;
($rc, $out) = run("$r/usr/bin/chatgate", 'version');
like($out, qr/^chatgate \Q$version\E$/m, 'the packaged binary says its version');
my $ini = CG::slurp("$r/etc/chatgate/chatgate.ini");
like($ini, qr/^; .*chatgate check/m, 'the config is commented');
like($ini, qr/^group = chatgate-keys$/m, 'the config runs chatgate in the key group');
like($ini, qr{^path = /var/lib/chatgate/}m, 'the local store is in /var/lib/chatgate');
like($ini, qr{^usage_log = /var/log/chatgate/}m, 'the logs are in /var/log/chatgate');

my $svc = CG::slurp("$r/lib/systemd/system/chatgate.service");
like($svc, qr{^ExecStart=/usr/bin/chatgate serve -c /etc/chatgate/chatgate.ini$}m,
     'the unit runs the packaged binary');
like($svc, qr{^ExecReload=/usr/bin/chatgate reload }m, 'reload waits for the outcome');
for my $k ('StateDirectory=chatgate', 'LogsDirectory=chatgate',
           'RuntimeDirectory=chatgate', 'ProtectSystem=strict', 'User=chatgate',
           'SupplementaryGroups=chatgate-keys') {
    like($svc, qr/^\Q$k\E$/m, "the unit has $k");
}
like(CG::slurp("$r/lib/systemd/system/chatgate.socket"),
     qr{^ListenStream=/run/chatgate/chatgate.sock$}m, 'the socket unit');

mkdir "$r/etc";
CG::write_file(undef, "$r/etc/passwd",
    "root:x:0:0:root:/root:/bin/bash\n"
    . "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n", 0644);
CG::write_file(undef, "$r/etc/group", "root:x:0:\nadm:x:4:\nwww-data:x:33:\n", 0644);
CG::write_file(undef, "$r/etc/shadow", "root:*:19000:0:99999:7:::\n"
               . "www-data:*:19000:0:99999:7:::\n", 0640);
CG::write_file(undef, "$r/etc/gshadow", "root:*::\nadm:*::\nwww-data:*::\n", 0640);
my $env = "DPKG_ROOT=$r DPKG_MAINTSCRIPT_PACKAGE=chatgate "
        . "DPKG_MAINTSCRIPT_NAME=postinst";
($rc, $out) = run("$env sh -e $r/DEBIAN/postinst configure");
is($rc, 0, 'postinst configure succeeds under the fake root') or diag $out;
my ($user) = CG::slurp("$r/etc/passwd") =~ /^(chatgate:.*)$/m;
ok($user, 'postinst creates the chatgate user');
my (undef, undef, $uid, $gid, undef, $home, $shell) = split /:/, $user // '';
ok($uid && $uid < 1000, 'a system user');
is($shell, '/usr/sbin/nologin', 'with no login shell');
my $groups = CG::slurp("$r/etc/group");
like($groups, qr/^chatgate-keys:x:\d+:chatgate$/m,
     'the key group chatgate-keys, with chatgate in it');
unlike($groups, qr/^chatgate-keys:.*www-data/m, 'www-data is not in the key group');
SKIP: {
    skip 'owners need root', 6 unless $> == 0;
    my $adm = 4;
    for my $c (["$r/var/log/chatgate", $uid, $adm, 0750],
               ["$r/var/lib/chatgate", $uid, $gid, 0750],
               ["$r/run/chatgate", $uid, $gid, 0755]) {
        my @st = stat $c->[0];
        is("$st[4]:$st[5]", "$c->[1]:$c->[2]", "$c->[0] belongs to chatgate");
        is($st[2] & 07777, $c->[3], sprintf("%s is %04o", $c->[0], $c->[3]));
    }
}
# A second configure (an upgrade) changes nothing and does not fail.
($rc, $out) = run("$env sh -e $r/DEBIAN/postinst configure 0.0.9-1");
is($rc, 0, 'postinst is idempotent') or diag $out;
is(scalar(() = CG::slurp("$r/etc/passwd") =~ /^chatgate:/mg), 1, 'one chatgate user');
($rc, $out) = run("DPKG_ROOT=$r DPKG_MAINTSCRIPT_PACKAGE=chatgate "
                  . "DPKG_MAINTSCRIPT_NAME=postrm sh -e $r/DEBIAN/postrm purge");
is($rc, 0, 'postrm purge succeeds');
ok(!-e "$r/var/log/chatgate" && !-e "$r/var/lib/chatgate",
   'purge removes the logs and the store');

done_testing;
