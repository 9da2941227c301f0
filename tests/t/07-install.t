# Installing from source: `make install` / `make uninstall` with PREFIX,
# DESTDIR and SYSCONFDIR; man pages chatgate(8) and chatgate.ini(5), the
# latter from the config table; every command answers --help; `chatgate
# version` from one place; a plain make needs no libcmocka for the binary;
# rotate-key finds chatgate without CHATGATE=.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use CG;

my $t = CG->new;
my $d = $t->dir;
my $root = $CG::ROOT;
my $san = $ENV{CG_SAN} // 0;

sub run {
    my $cmd = join ' ', @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# --help for every command: what it does, its options, on stdout, exit 0.
for my $cmd (qw(serve check mint reload probe audit report keys version)) {
    for my $flag ('--help', '-h') {
        my $out = `$CG::BUILD/chatgate $cmd $flag 2>/dev/null`;
        is($? >> 8, 0, "$cmd $flag: exit 0");
        like($out, qr/^usage: chatgate \Q$cmd\E/, "$cmd $flag: its own usage on stdout");
    }
}
my ($rc, $out) = run("$CG::BUILD/chatgate check -c /nonexistent --help");
like($out, qr/-c FILE .*config file/, 'check --help lists -c');
like($out, qr/user\/group\/socket_group/, 'check --help says what it checks');
($rc, $out) = run("$CG::BUILD/chatgate", 'mint', '--help');
like($out, qr/--ttl SECONDS/, 'mint --help lists --ttl');
($rc, $out) = run("$CG::BUILD/chatgate", 'help', 'reload');
is($rc, 0, 'help reload: exit 0');
like($out, qr/to the outcome/, 'help reload: says what reload does');
($rc) = run("$CG::BUILD/chatgate", 'frobnicate', '--help');
is($rc, 2, 'an unknown command stays a usage error');

# The version comes from VERSION (plus the commit in a git checkout).
chomp(my $version = CG::slurp("$root/VERSION"));
($rc, $out) = run("$CG::BUILD/chatgate", 'version');
like($out, qr/^chatgate \Q$version\E(\+git[0-9a-f]+)?$/m,
     "version: VERSION file ($version)");
unlike($out, qr/^chatgate 0\.1\.0$/m, 'version: not a hard-coded string')
    if $version ne '0.1.0';

# A plain make without libcmocka builds the binary and no unit test:
# a pkg-config that knows every library but cmocka.
mkdir "$d/fakebin";
open(my $pc, '>', "$d/fakebin/pkg-config") or die;
print $pc "#!/bin/sh\nfor a; do [ \"\$a\" = cmocka ] && exit 1; done\n"
        . "exec /usr/bin/pkg-config \"\$@\"\n";
close $pc;
chmod 0755, "$d/fakebin/pkg-config";
($rc, $out) = run("cd $root && PATH=$d/fakebin:\$PATH make -n all BUILD=$d/nocmocka");
is($rc, 0, 'make without cmocka: the plan succeeds');
like($out, qr{-o \S*nocmocka/chatgate }, 'make without cmocka: links chatgate');
unlike($out, qr/-lcmocka/, 'make without cmocka: no unit test is linked');
like($out, qr/cmocka.*not found/, 'make without cmocka: says the unit tests were left out');

# make install into a staging dir with another prefix.
my $dest = "$d/stage";
my $make = "make -s -C $root BUILD=$CG::BUILD SAN=$san DESTDIR=$dest PREFIX=/opt/cg";
($rc, $out) = run("$make install");
is($rc, 0, 'make install succeeds') or diag $out;
for my $f (qw(/opt/cg/bin/chatgate /opt/cg/bin/chatgate-rotate-key
              /opt/cg/share/man/man8/chatgate.8
              /opt/cg/share/man/man5/chatgate.ini.5
              /etc/chatgate/chatgate.ini
              /opt/cg/lib/chatgate/chatgate.fcgi
              /opt/cg/share/chatgate/nginx/chatgate.conf
              /opt/cg/share/chatgate/nginx/chatgate-upstream.conf
              /opt/cg/share/chatgate/systemd/chatgate.service
              /opt/cg/share/chatgate/systemd/chatgate.socket
              /opt/cg/share/chatgate/logrotate/chatgate
              /opt/cg/share/chatgate/apache/shared-hosting/.htaccess
              /opt/cg/share/chatgate/errors/502.json
              /opt/cg/share/doc/chatgate/deploy.md)) {
    ok(-f "$dest$f", "installed $f");
}
ok(-x "$dest/opt/cg/bin/chatgate", 'the binary is executable');
is((stat "$dest/etc/chatgate/chatgate.ini")[2] & 07777, 0640,
   'the sample config is 0640');
like(CG::slurp("$dest/opt/cg/share/chatgate/systemd/chatgate.service"),
     qr{^ExecStart=/opt/cg/bin/chatgate serve -c /etc/chatgate/chatgate.ini$}m,
     'installed unit names the installed binary');
like(CG::slurp("$dest/opt/cg/share/chatgate/nginx/chatgate.conf"),
     qr{alias /opt/cg/share/chatgate/errors/;}, 'installed nginx snippet finds the error documents');
unlike(join('', map { CG::slurp($_) // '' } grep { -f } glob("$dest/opt/cg/share/chatgate/*/*")),
       qr{/usr/local/bin}, 'no installed snippet names /usr/local/bin');
($rc, $out) = run("$dest/opt/cg/bin/chatgate", 'version');
like($out, qr/^chatgate \Q$version\E/, 'the installed binary runs');

# Man pages: render without warnings; chatgate.ini(5) has every key.
SKIP: {
    skip 'man not installed', 4 unless -x '/usr/bin/man';
    for my $m ('man8/chatgate.8', 'man5/chatgate.ini.5') {
        my $w = `LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $dest/opt/cg/share/man/$m 2>&1 >/dev/null`;
        is($w, '', "$m renders without warnings");
    }
    my $page = `LC_ALL=C MANWIDTH=200 man -l $dest/opt/cg/share/man/man5/chatgate.ini.5 2>/dev/null`;
    my @missing;
    for my $line (split /\n/, `$CG::BUILD/chatgate keys`) {
        my ($sec, $name) = $line =~ /^\[([^\]]+)\] (\S+)\t/ or next;
        (my $s = $sec) =~ s/ NAME$//;
        push @missing, "[$sec] $name" unless $page =~ /^\s+\Q$name\E\b/m;
    }
    is("@missing", '', 'chatgate.ini(5) documents every key of chatgate keys');
    like(CG::slurp("$dest/opt/cg/share/man/man8/chatgate.8"), qr/\Q$version\E/,
         'chatgate(8) carries the version');
}

# The installed sample config passes check once its keys exist.
{
    my $ini = CG::slurp("$dest/etc/chatgate/chatgate.ini");
    like($ini, qr/^group = chatgate-keys$/m, 'sample config: the key group');
    like($ini, qr/^type = local$/m, 'sample config: the local store');
    $t->write_file('provider.key', $t->key . "\n");
    $t->write_file('session.secret', $t->{secret} . "\n");
    $ini =~ s{/etc/chatgate/}{$d/}g;
    $ini =~ s{/(var/log|var/lib|run)/chatgate/}{$d/}g;
    $ini =~ s{^(user|group|socket_group) = .*$}{}mg;
    my $p = $t->write_file('sample.ini', $ini, 0640);
    ($rc, $out) = run("$CG::BUILD/chatgate", 'check', '-c', $p);
    is($rc, 0, 'sample config: check passes with its keys in place') or diag $out;
}

# rotate-key finds chatgate without CHATGATE=: next to itself when
# installed, build/ in the source tree; PATH has no chatgate.
{
    local $ENV{PATH} = '/usr/bin:/bin';
    delete local $ENV{CHATGATE};
    my $conf = $t->write_config;
    for my $rk ("$dest/opt/cg/bin/chatgate-rotate-key", "$root/scripts/rotate-key") {
        ($rc, $out) = run($rk, 'nosuchkey', '/dev/null', '-c', $conf);
        unlike($out, qr/not found|cannot find chatgate/, "$rk: finds chatgate");
        like($out, qr/no key nosuchkey in/, "$rk: ran chatgate audit");
    }
}

# A second install keeps an edited config; uninstall removes the rest.
open(my $fh, '>>', "$dest/etc/chatgate/chatgate.ini") or die;
print $fh "; edited\n";
close $fh;
($rc, $out) = run("$make install");
like(CG::slurp("$dest/etc/chatgate/chatgate.ini"), qr/; edited/,
     'reinstall keeps the edited config');
($rc, $out) = run("$make uninstall");
is($rc, 0, 'make uninstall succeeds') or diag $out;
my @left = grep { -f } map { chomp; $_ } `find $dest -type f`;
is_deeply(\@left, ["$dest/etc/chatgate/chatgate.ini"],
          'uninstall leaves only the edited config');
unlink "$dest/etc/chatgate/chatgate.ini";
run("$make install");
run("$make uninstall");
is(`find $dest -type f`, '', 'install + uninstall of an unedited config leaves nothing');

done_testing;
