/*
 * ogfilter: the output guard over stdin, for the differential test
 * (tests/diff/) and for trying answers by hand. Reads the whole answer,
 * guards it one-shot and again cut at pseudo-random points (seeded by
 * -s), and writes the one-shot result; exits 3 if the two differ, so the
 * streaming property is checked on every input the test makes.
 *
 *   ogfilter [-a "allowed hosts"] [-m max_urls] [-b 0|1] [-k secret]
 *            [-s seed] [-n] < answer > guarded
 *
 * -n: no split run. Test tool only: never part of chatgate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/outguard.h"

#define OGF_MAX_IN (64L * 1024 * 1024)


static char *
ogf_slurp(size_t *n)
{
    size_t cap = 65536, len = 0, r;
    char  *p = malloc(cap), *t;

    while (p != NULL && (r = fread(p + len, 1, cap - len, stdin)) > 0) {
        len += r;
        if (len == cap) {
            if (cap >= (size_t) OGF_MAX_IN) {
                break;
            }
            t = realloc(p, cap * 2);
            if (t == NULL) {
                free(p);
                return NULL;
            }
            p = t;
            cap *= 2;
        }
    }
    *n = len;
    return p;
}


static int
ogf_guard(const cg_outguard_conf_t *c, const char *in, size_t n,
          unsigned seed, cg_buf_t *out)
{
    cg_outguard_t *g = cg_outguard_new(c, NULL);
    size_t         at = 0, step;
    int            rc = 0;

    if (g == NULL) {
        return -1;
    }
    while (at < n) {
        step = n - at;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            step = (seed >> 16) % 97;
            if (step > n - at) {
                step = n - at;
            }
        }
        rc |= cg_outguard_feed(g, in + at, step, out);
        at += step;
    }
    rc |= cg_outguard_finish(g, out);
    cg_outguard_free(g);
    return rc;
}


int
main(int argc, char **argv)
{
    cg_outguard_conf_t *c = cg_outguard_conf_new();
    cg_buf_t            one, many;
    unsigned            seed = 1;
    int                 opt, split = 1;
    size_t              n;
    char               *in;

    if (c == NULL) {
        return 2;
    }
    while ((opt = getopt(argc, argv, "a:m:b:k:s:n")) != -1) {
        switch (opt) {
        case 'a':
            cg_outguard_conf_allow_hosts(c, optarg);
            break;
        case 'm':
            cg_outguard_conf_max_urls(c, atol(optarg));
            break;
        case 'b':
            cg_outguard_conf_bare_urls(c, atoi(optarg));
            break;
        case 'k':
            cg_outguard_conf_add_secret(c, optarg, strlen(optarg));
            break;
        case 's':
            seed = (unsigned) strtoul(optarg, NULL, 10) | 1u;
            break;
        case 'n':
            split = 0;
            break;
        default:
            fprintf(stderr, "usage: ogfilter [-a hosts] [-m max] [-b 0|1] "
                    "[-k secret] [-s seed] [-n]\n");
            return 2;
        }
    }
    in = ogf_slurp(&n);
    if (in == NULL) {
        return 2;
    }
    cg_buf_init(&one);
    cg_buf_init(&many);
    if (ogf_guard(c, in, n, 0, &one) != 0
        || (split && ogf_guard(c, in, n, seed, &many) != 0)) {
        return 2;
    }
    fwrite(one.data ? one.data : "", 1, one.len, stdout);
    if (split && (one.len != many.len
                  || (one.len && memcmp(one.data, many.data, one.len)))) {
        fprintf(stderr, "ogfilter: streamed result differs from one-shot\n");
        return 3;
    }
    cg_buf_free(&one);
    cg_buf_free(&many);
    free(in);
    cg_outguard_conf_free(c);
    return 0;
}
