/*
 * The host-local store: a fixed hash table of counters in a memory-mapped
 * file, shared by every chatgate process on the host.
 *
 * Layout: a header (magic, version, slot count, size, checksum of those)
 * and then slots of { key hash, value, absolute expiry }. Keys are kept
 * as a 64-bit FNV-1a hash (a collision between two live counters is
 * negligible at the table sizes used). Linear probing over at most
 * CG_LOCAL_PROBE slots; an expired slot is free.
 *
 * Each operation runs under flock(2) on the file: the kernel releases the
 * lock when a holder dies, so a crashed worker can never wedge the table,
 * which a spin lock kept inside the file cannot promise. Values are
 * written with __atomic stores so a reader that maps the file (a report
 * tool, a debugger) never sees a torn word.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_LOCAL_MAGIC    "CGSTORE\0"
#define CG_LOCAL_VERSION  1
#define CG_LOCAL_PROBE    64

typedef struct {
    char        magic[8];
    uint32_t    version;
    uint32_t    slots;
    uint64_t    size;
    uint64_t    checksum;
} cg_local_hdr_t;

typedef struct {
    uint64_t    hash;
    uint64_t    value;
    int64_t     expires;
} cg_local_slot_t;

typedef struct {
    cg_store_t       base;
    int              fd;
    size_t           size;
    cg_local_hdr_t  *hdr;
    cg_local_slot_t *slot;
    char             err[160];
} cg_store_local_t;

static const cg_store_ops_t cg_store_local_ops;


static uint64_t
cg_local_fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;

    while (n--) {
        h = (h ^ *s++) * 1099511628211ULL;
    }
    return h;
}


static uint64_t
cg_local_hdr_sum(const cg_local_hdr_t *h)
{
    return cg_local_fnv(h, offsetof(cg_local_hdr_t, checksum),
                        14695981039346656037ULL);
}


static int
cg_local_valid(const cg_store_local_t *st, unsigned slots)
{
    const cg_local_hdr_t *h = st->hdr;

    return memcmp(h->magic, CG_LOCAL_MAGIC, 8) == 0
           && h->version == CG_LOCAL_VERSION && h->slots == slots
           && h->size == st->size && h->checksum == cg_local_hdr_sum(h);
}


/* Clears the table and writes a fresh header; runs under the lock. */
static void
cg_local_rebuild(cg_store_local_t *st, unsigned slots)
{
    memset(st->hdr, 0, st->size);
    memcpy(st->hdr->magic, CG_LOCAL_MAGIC, 8);
    st->hdr->version = CG_LOCAL_VERSION;
    st->hdr->slots = slots;
    st->hdr->size = st->size;
    st->hdr->checksum = cg_local_hdr_sum(st->hdr);
    if (st->fd >= 0) {
        (void) msync(st->hdr, sizeof(*st->hdr), MS_SYNC);
    }
}


static int
cg_local_map(cg_store_local_t *st, const char *path, unsigned slots)
{
    struct stat sb;
    int         grow;

    if (fstat(st->fd, &sb) != 0) {
        return -1;
    }
    grow = (size_t) sb.st_size != st->size;
    if (grow && ftruncate(st->fd, (off_t) st->size) != 0) {
        return -1;
    }
    st->hdr = mmap(NULL, st->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   st->fd, 0);
    if (st->hdr == MAP_FAILED) {
        st->hdr = NULL;
        return -1;
    }
    st->slot = (cg_local_slot_t *) (st->hdr + 1);
    if (!cg_local_valid(st, slots)) {
        snprintf(st->base.notice, sizeof(st->base.notice),
                 "local store %s was %s: rebuilt empty", path,
                 sb.st_size == 0 ? "missing" : "corrupt or resized");
        cg_local_rebuild(st, slots);
    }
    return 0;
}


/* Without a path: private memory of this process, the per-worker
 * fallback counters of on_store_error = local. */
static cg_store_t *
cg_store_local_anon(cg_store_local_t *st, unsigned slots, char *err,
                    size_t errlen)
{
    st->fd = -1;
    st->hdr = mmap(NULL, st->size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (st->hdr == MAP_FAILED) {
        st->hdr = NULL;
        snprintf(err, errlen, "local counters: %s", strerror(errno));
        cg_store_free(&st->base);
        return NULL;
    }
    st->slot = (cg_local_slot_t *) (st->hdr + 1);
    cg_local_rebuild(st, slots);
    return &st->base;
}


cg_store_t *
cg_store_new_local(const char *path, unsigned slots, char *err,
                   size_t errlen)
{
    cg_store_local_t *st;
    int               rc;

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->base.ops = &cg_store_local_ops;
    st->size = sizeof(cg_local_hdr_t)
               + (size_t) slots * sizeof(cg_local_slot_t);
    if (path == NULL) {
        return cg_store_local_anon(st, slots, err, errlen);
    }
    st->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->fd < 0 || flock(st->fd, LOCK_EX) != 0) {
        snprintf(err, errlen, "local store %s: %s", path, strerror(errno));
        cg_store_free(&st->base);
        return NULL;
    }
    rc = cg_local_map(st, path, slots);
    flock(st->fd, LOCK_UN);
    if (rc != 0) {
        snprintf(err, errlen, "local store %s: %s", path, strerror(errno));
        cg_store_free(&st->base);
        return NULL;
    }
    return &st->base;
}


static void
cg_store_local_free(cg_store_t *base)
{
    cg_store_local_t *st = (cg_store_local_t *) base;

    if (st->hdr) {
        munmap(st->hdr, st->size);
    }
    if (st->fd >= 0) {
        close(st->fd);
    }
    free(st);
}


static int
cg_local_lock(cg_store_local_t *st)
{
    struct stat sb;

    while (st->fd >= 0 && flock(st->fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            snprintf(st->err, sizeof(st->err), "flock: %s", strerror(errno));
            return -1;
        }
    }
    /* A file cut short under us would turn the next access into SIGBUS:
     * give it its size back (zeros, so the check below rebuilds). */
    if (st->fd >= 0 && (fstat(st->fd, &sb) != 0
                        || ((size_t) sb.st_size < st->size
                            && ftruncate(st->fd, (off_t) st->size) != 0))) {
        snprintf(st->err, sizeof(st->err), "local store: %s",
                 strerror(errno));
        (void) flock(st->fd, LOCK_UN);
        return -1;
    }
    /* Someone truncated or overwrote the file under us: start again
     * rather than count on garbage. */
    if (!cg_local_valid(st, st->hdr->slots)) {
        cg_local_rebuild(st, st->hdr->slots ? st->hdr->slots
                         : (unsigned) ((st->size - sizeof(cg_local_hdr_t))
                                       / sizeof(cg_local_slot_t)));
    }
    return 0;
}


static void
cg_local_unlock(cg_store_local_t *st)
{
    if (st->fd >= 0) {
        (void) flock(st->fd, LOCK_UN);
    }
}


/* The live slot holding key, or (create) a free one claimed for it. */
static cg_local_slot_t *
cg_local_find(cg_store_local_t *st, const char *key, size_t keylen,
              int create)
{
    uint64_t         h = cg_local_fnv(key, keylen, 14695981039346656037ULL);
    uint32_t         n = st->hdr->slots, i;
    int64_t          now = (int64_t) time(NULL);
    cg_local_slot_t *s, *free_slot = NULL;

    h = h ? h : 1;
    for (i = 0; i < CG_LOCAL_PROBE && i < n; i++) {
        s = &st->slot[(h + i) % n];
        if (s->hash == 0 || s->expires <= now) {
            if (free_slot == NULL) {
                free_slot = s;
            }
            if (s->hash == 0) {
                break;
            }
            continue;
        }
        if (s->hash == h) {
            return s;
        }
    }
    if (!create || free_slot == NULL) {
        if (create) {
            snprintf(st->err, sizeof(st->err), "local store full");
        }
        return NULL;
    }
    free_slot->hash = h;
    __atomic_store_n(&free_slot->value, 0, __ATOMIC_RELAXED);
    return free_slot;
}


static int
cg_store_local_incr(cg_store_t *base, const char *key, size_t keylen,
                    uint64_t delta, unsigned ttl, uint64_t *value)
{
    cg_store_local_t *st = (cg_store_local_t *) base;
    cg_local_slot_t  *s;

    if (cg_local_lock(st) != 0) {
        return -1;
    }
    s = cg_local_find(st, key, keylen, 0);
    if (s == NULL && (s = cg_local_find(st, key, keylen, 1)) != NULL) {
        s->expires = (int64_t) time(NULL) + ttl;
    }
    if (s) {
        *value = __atomic_add_fetch(&s->value, delta, __ATOMIC_RELAXED);
    }
    cg_local_unlock(st);
    return s ? 0 : -1;
}


static int
cg_store_local_decr(cg_store_t *base, const char *key, size_t keylen,
                    uint64_t delta, uint64_t *value)
{
    cg_store_local_t *st = (cg_store_local_t *) base;
    cg_local_slot_t  *s;

    if (cg_local_lock(st) != 0) {
        return -1;
    }
    *value = 0;
    s = cg_local_find(st, key, keylen, 0);
    if (s) {
        *value = s->value > delta ? s->value - delta : 0;
        __atomic_store_n(&s->value, *value, __ATOMIC_RELAXED);
    }
    cg_local_unlock(st);
    return 0;
}


static int
cg_store_local_add(cg_store_t *base, const char *key, size_t keylen,
                   uint64_t value, unsigned ttl)
{
    cg_store_local_t *st = (cg_store_local_t *) base;
    cg_local_slot_t  *s;
    int               rc = 1;

    if (cg_local_lock(st) != 0) {
        return -1;
    }
    if (cg_local_find(st, key, keylen, 0) == NULL) {
        s = cg_local_find(st, key, keylen, 1);
        rc = -1;
        if (s) {
            s->expires = (int64_t) time(NULL) + ttl;
            __atomic_store_n(&s->value, value, __ATOMIC_RELAXED);
            rc = 0;
        }
    }
    cg_local_unlock(st);
    return rc;
}


static int
cg_store_local_get_multi(cg_store_t *base, const char *const *keys,
                         const size_t *lens, size_t n, uint64_t *values)
{
    cg_store_local_t *st = (cg_store_local_t *) base;
    cg_local_slot_t  *s;
    size_t            i;

    if (cg_local_lock(st) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        s = cg_local_find(st, keys[i], lens[i], 0);
        values[i] = s ? __atomic_load_n(&s->value, __ATOMIC_RELAXED) : 0;
    }
    cg_local_unlock(st);
    return 0;
}


static const char *
cg_store_local_error(cg_store_t *base)
{
    return ((cg_store_local_t *) base)->err;
}


static const cg_store_ops_t cg_store_local_ops = {
    cg_store_local_incr, cg_store_local_decr, cg_store_local_add,
    cg_store_local_get_multi, cg_store_local_error, cg_store_local_free
};
