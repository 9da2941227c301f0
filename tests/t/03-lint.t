# scripts/lint (make lint): the real tree passes, and small bad trees, one
# rule each, fail naming the file and line. No server is started.
use strict;
use warnings;
use FindBin;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use Test::More;

my $root = "$FindBin::Bin/../..";
my $lint = "$root/scripts/lint";

sub run_lint {
    my ($dir) = @_;
    my $out = qx{"$lint" "$dir" 2>&1};
    return ($? >> 8, $out);
}

# A tree of files: { 'lib/core/a.h' => "text", ... }.
sub tree {
    my (%files) = @_;
    my $dir = tempdir(CLEANUP => 1);
    for my $f (keys %files) {
        (my $d = "$dir/$f") =~ s{/[^/]+$}{};
        make_path($d);
        open my $fh, '>', "$dir/$f" or die "$f: $!";
        print $fh $files{$f};
        close $fh;
    }
    return $dir;
}

sub caught {
    my ($what, $files, $re) = @_;
    my ($rc, $out) = run_lint(tree(%$files));
    is($rc, 1, "$what: lint fails");
    like($out, $re, "$what: the finding names file and line") or diag $out;
}

sub passes {
    my ($what, $files) = @_;
    my ($rc, $out) = run_lint(tree(%$files));
    is($rc, 0, "$what: lint passes") or diag $out;
}

my ($rc, $out) = run_lint($root);
is($rc, 0, 'the real tree passes') or diag $out;
is($out, '', 'and says nothing');

caught('a cycle in lib/', {
    'lib/core/a.h' => qq{#include "core/b.h"\n},
    'lib/core/b.h' => qq{/* b */\n#include "core/a.h"\n},
}, qr{^lib/core/b\.h:2: include cycle: lib/core/a\.h -> lib/core/b\.h -> lib/core/a\.h$}m);
caught('a cycle in app/, through the includer\'s folder', {
    'app/x.h' => qq{#include "y.h"\n},
    'app/y.h' => qq{#include "z.h"\n},
    'app/z.h' => qq{#include "x.h"\n},
}, qr{^app/z\.h:1: include cycle: app/x\.h -> app/y\.h -> app/z\.h -> app/x\.h$}m);

caught('core includes a stage', {
    'lib/core/a.h'     => qq{\n#include "guard/body.h"\n},
    'lib/guard/body.h' => "",
}, qr{^lib/core/a\.h:2: upward include: core .* stage lib/guard/body\.h}m);
caught('a stage includes the pipeline', {
    'lib/provider/relay.h' => qq{#include "pipeline/chat.h"\n},
    'lib/pipeline/chat.h'  => "",
}, qr{^lib/provider/relay\.h:1: upward include: stage .* pipeline}m);
caught('lib includes app', {
    'lib/pipeline/chat.c' => qq{#include "worker.h"\n},
    'app/worker.h'        => "",
}, qr{^lib/pipeline/chat\.c:1: upward include: pipeline .* app app/worker\.h}m);
caught('a module\'s _conf.h includes its stage', {
    'lib/meter/meter_conf.h' => qq{#include "meter/budget.h"\n},
    'lib/meter/budget.h'     => "",
}, qr{^lib/meter/meter_conf\.h:1: upward include: conf}m);
passes('sideways and down', {
    'lib/conf/config.h'      => qq{#include "meter/meter_conf.h"\n#include "core/buf.h"\n},
    'lib/meter/meter_conf.h' => qq{#include "core/buf.h"\n},
    'lib/meter/meter.h'      => qq{#include "store/store.h"\n#include "conf/config.h"\n},
    'lib/store/store.h'      => "",
    'lib/core/buf.h'         => "",
    'app/worker.c'           => qq{#include "meter/meter.h"\n#include <fcgiapp.h>\n}
                              . qq{void f(void) { FCGX_Finish(); exit(1); }\n},
});

caught('exit() in lib/', {
    'lib/core/a.c' => qq{/* exit(1) in a comment is fine */\nstatic const char *s = "abort()";\n}
                    . qq{void f(void)\n{\n    exit(1);\n}\n},
}, qr{^lib/core/a\.c:5: exit\(\) in lib/}m);
caught('_exit() and abort() in lib/', {
    'lib/who/a.c' => qq{void f(void) { _exit(1); }\nvoid g(void) { abort (); }\n},
}, qr{^lib/who/a\.c:1: _exit\(\).*\n^lib/who/a\.c:2: abort\(\)}m);
caught('a FastCGI header in lib/', {
    'lib/http/http.c' => qq{#include <stdio.h>\n#include <fcgiapp.h>\n},
}, qr{^lib/http/http\.c:2: FastCGI header <fcgiapp\.h>}m);
caught('a FastCGI call in lib/', {
    'lib/http/http.c' => qq{void f(void *s)\n{\n    FCGX_PutS("x", s);\n}\n},
}, qr{^lib/http/http\.c:3: FCGX_PutS in lib/}m);

caught('an unprefixed public function', {
    'lib/who/signed.h' => qq{/* cg_sign_token(x) in a comment */\n#define X(a) cg_x(a)\n}
                        . qq{int cg_signed_sign(const char *u);\nint cg_who_x(void);\n}
                        . qq{typedef int (*cg_cb_pt)(void);\nstatic inline int cg_t(void) { return 0; }\n}
                        . qq{struct s { int (*fn)(int); };\n}
                        . qq{int\ncg_sign_token(const char *u,\n              long ttl);\n},
}, qr{^lib/who/signed\.h:9: public function cg_sign_token without its module's prefix \(cg_signed_ or cg_who_\)$}m);
caught('an unprefixed function in a _conf.h', {
    'lib/who/session_conf.h' => qq{int cg_sess_x(void);\n},
}, qr{^lib/who/session_conf\.h:1: public function cg_sess_x .*cg_session_}m);
passes('prefixes by module, folder and _conf', {
    'lib/who/session_conf.h' => qq{int cg_session_x(void);\nint cg_who_y(void);\n}
                              . qq{const char *cg_session_conf_z(int a);\n},
});

# The README's layout table names every module of lib/ and app/ (a file
# added without it fails here, not in a reader's head).
open my $fh, '<', "$root/README.md" or die "README.md: $!";
my $readme = do { local $/; <$fh> };
my @missing;
for my $f (sort glob("$root/lib/*/*.[ch] $root/app/*.[ch]")) {
    (my $name = $f) =~ s{.*/}{};
    (my $mod = $name) =~ s{\.[ch]$}{};
    push @missing, $name unless $readme =~ /`\Q$mod\E(?:\.[ch])?`|[(, ]\Q$mod\E[,)]/;
}
is_deeply(\@missing, [], 'README.md names every file of lib/ and app/');

# Unit tests are named after a module of lib/ or app/ (test_MODULE.c), and
# no two integration tests share a number.
my @stray = grep {
    my ($m) = m{test_(\w+)\.c$};
    my @module = (glob("$root/lib/*/$m.c"), glob("$root/app/$m.c"));
    !grep { -e } @module
} glob("$root/tests/unit/test_*.c");
is_deeply([map { s{.*/}{}r } @stray], [], 'every unit test names its module');
my %by_number;
push @{$by_number{(m{/(\d+)-[^/]+\.t$})[0]}}, s{.*/}{}r for glob("$root/tests/t/*.t");
is_deeply([grep { @{$by_number{$_}} > 1 } sort keys %by_number], [],
          'every integration test has its own number');

done_testing;
