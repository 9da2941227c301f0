/*
 * Fuzz target for app/fcgi.c, the FastCGI record layer: arbitrary bytes
 * from a web server (or anyone who reaches the socket). Property: feeding
 * them whole and feeding them in pieces (split where the input's own
 * bytes say) give the same events, the same answers to management
 * records and the same verdict; and nothing reads or writes out of
 * bounds (ASan, UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fcgi.h"
#include "../unit/fcgi_events.h"

static int
run(const uint8_t *d, size_t n, int split, cg_buf_t *log, cg_buf_t *out)
{
    const char *err = NULL;
    int         rc = ev_feed((const char *) d, n, 0, split, log, out, &err);

    if (rc < 0) {
        cg_buf_adds(log, err);
    }
    return rc;
}


int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    cg_buf_t l1, l2, o1, o2;
    int      r1, r2;

    cg_buf_init(&l1); cg_buf_init(&l2); cg_buf_init(&o1); cg_buf_init(&o2);
    r1 = run(d, n, 0, &l1, &o1);
    r2 = run(d, n, 1, &l2, &o2);
    if (r1 != r2 || l1.len != l2.len || o1.len != o2.len
        || (l1.len && memcmp(l1.data, l2.data, l1.len) != 0)
        || (o1.len && memcmp(o1.data, o2.data, o1.len) != 0)) {
        abort();
    }
    cg_buf_free(&l1); cg_buf_free(&l2); cg_buf_free(&o1); cg_buf_free(&o2);
    return 0;
}
