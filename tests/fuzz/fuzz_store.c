/* libFuzzer target for the local store's file format (lib/store/local.c):
 * the input is the store file as found on disk (any bytes, any length),
 * mapped by a process of a fixed size; then the input is written over the
 * file again while the store is open, as another process or a stray
 * write would. Properties: no crash, no read or write outside the
 * mapping; every operation either answers or fails cleanly; once the
 * store has answered an increment, a read of that key sees it (a rebuilt
 * file starts at zero, never at garbage for our own writes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SLOTS  64


static void
put_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "r+");

    if (f == NULL && (f = fopen(path, "w")) == NULL) {
        abort();
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        abort();
    }
    fclose(f);
}


static void
exercise(cg_store_t *st)
{
    const char *keys[2] = { "cg:r:u:alice:1", "cg:h:g:*:7" };
    size_t      lens[2] = { 14, 10 };
    uint64_t    v = 0, vals[2];

    if (cg_store_incr(st, keys[0], lens[0], 3, 60, &v) == 0
        && cg_store_get_multi(st, keys, lens, 1, vals) == 0
        && vals[0] != v) {
        abort();        /* the store answered, then lost our write */
    }
    (void) cg_store_decr(st, keys[1], lens[1], 1, &v);
    (void) cg_store_add(st, keys[1], lens[1], 5, 60);
    (void) cg_store_get_multi(st, keys, lens, 2, vals);
    (void) cg_store_notice(st);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    char        err[1024];
    cg_store_t *st;

    if (path[0] == '\0') {
        /* Memory-backed when there is one: the target is the format, not
         * the disk. */
        snprintf(path, sizeof(path), "%s/cg-fuzz-store-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
                 (int) getpid());
    }
    if (truncate(path, 0) != 0) {
        put_file(path, NULL, 0);
    }
    put_file(path, data, size);
    st = cg_store_new_local(path, FUZZ_SLOTS, "fuzz", err, sizeof(err));
    if (st == NULL) {
        return 0;       /* refused cleanly (a live other size) */
    }
    exercise(st);
    /* The same bytes over the file while it is mapped. */
    put_file(path, data, size);
    exercise(st);
    if (size > 8 && truncate(path, (off_t) data[0]) == 0) {
        exercise(st);   /* cut short under the mapping: no SIGBUS */
    }
    cg_store_free(st);
    return 0;
}
