/*
 * The host-local store: a fixed hash table of counters in a memory-mapped
 * file, shared by every chatgate process on the host.
 *
 * Layout: a header (magic, version, slot count, size, a random secret,
 * checksum of those) and then slots of { key hash, value, absolute
 * expiry }. Keys are kept as a 64-bit SipHash-2-4 keyed with the file's
 * secret (drawn when the file is built), so nobody who can choose keys
 * (a user id, a client address) can choose which slots they land in and
 * crowd one probe run; a collision between two live counters is
 * negligible at the table sizes used. Linear probing over at most
 * CG_LOCAL_PROBE slots; an expired slot is free.
 *
 * Keys of the refusal path (CG_STORE_SPARE_PREFIX: failed-authentication
 * counters, which unauthenticated traffic creates) are marked in their
 * slot. When a probe run is full, a counter of money or limits takes a
 * spare slot over; a spare key never takes any live slot. So a full
 * store costs the refusal path its counts first, never a budget or a
 * limit.
 *
 * Each operation runs under flock(2) on the file: the kernel releases the
 * lock when a holder dies, so a crashed worker can never wedge the table,
 * which a spin lock kept inside the file cannot promise. Values are
 * written with __atomic stores so a reader that maps the file (a report
 * tool, a debugger) never sees a torn word.
 */
#include "store/store.h"
#include "core/clock.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_LOCAL_MAGIC    "CGSTORE\0"
#define CG_LOCAL_VERSION  3
#define CG_LOCAL_PROBE    64
#define CG_LOCAL_OWNER    256
#define CG_LOCAL_SECRET   16
/* The top bit of a slot's hash marks a spare (refusal path) key. */
#define CG_LOCAL_SPARE    (1ULL << 63)

/* The owner is the configuration that built the file: what a refusal
 * names when two configurations meet in one file. */
typedef struct {
    char        magic[8];
    uint32_t    version;
    uint32_t    slots;
    uint64_t    size;
    char        owner[CG_LOCAL_OWNER];
    uint8_t     secret[CG_LOCAL_SECRET];
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
    unsigned         slots;     /* this process's own, never the file's */
    size_t           size;
    cg_local_hdr_t  *hdr;
    cg_local_slot_t *slot;
    char             owner[CG_LOCAL_OWNER];
    char             path[CG_LOCAL_OWNER];
    char             err[1024];
} cg_store_local_t;

/* What a header says about the file, against this process's mapping. */
typedef enum {
    CG_LOCAL_OK = 0,
    CG_LOCAL_CORRUPT,       /* not a header we wrote: rebuild */
    CG_LOCAL_OTHER          /* a valid header of another geometry */
} cg_local_state_t;

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


#define CG_ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))
#define CG_SIPROUND                                                       \
    do {                                                                  \
        v0 += v1; v1 = CG_ROTL(v1, 13); v1 ^= v0; v0 = CG_ROTL(v0, 32);   \
        v2 += v3; v3 = CG_ROTL(v3, 16); v3 ^= v2;                         \
        v0 += v3; v3 = CG_ROTL(v3, 21); v3 ^= v0;                         \
        v2 += v1; v1 = CG_ROTL(v1, 17); v1 ^= v2; v2 = CG_ROTL(v2, 32);   \
    } while (0)


/* Eight bytes read little-endian: one load and (on a big-endian host) a
 * swap, where a byte loop cost a third of every counter lookup. */
static uint64_t
cg_local_le64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}


/* SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so slot positions
 * cannot be predicted without the file's secret. */
static uint64_t
cg_local_siphash(const uint8_t key[16], const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t       k0 = cg_local_le64(key), k1 = cg_local_le64(key + 8);
    uint64_t       v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t       v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t       v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t       v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t       m, b = (uint64_t) n << 56;
    uint8_t        tail[8] = { 0 };
    size_t         i;

    for (i = 0; i + 8 <= n; i += 8) {
        m = cg_local_le64(p + i);
        v3 ^= m;
        CG_SIPROUND;
        CG_SIPROUND;
        v0 ^= m;
    }
    memcpy(tail, p + i, n - i);
    b |= cg_local_le64(tail);
    v3 ^= b;
    CG_SIPROUND;
    CG_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    CG_SIPROUND;
    CG_SIPROUND;
    CG_SIPROUND;
    CG_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}


static uint64_t
cg_local_hdr_sum(const cg_local_hdr_t *h)
{
    return cg_local_fnv(h, offsetof(cg_local_hdr_t, checksum),
                        14695981039346656037ULL);
}


static size_t
cg_local_size(uint64_t slots)
{
    return sizeof(cg_local_hdr_t) + (size_t) slots * sizeof(cg_local_slot_t);
}


/* Reads the header once (another process may write it meanwhile) and
 * checks every field: magic, version, checksum, a size that matches the
 * slot count, and that geometry against this process's own. */
static cg_local_state_t
cg_local_check(const cg_store_local_t *st, cg_local_hdr_t *copy)
{
    memcpy(copy, (const void *) st->hdr, sizeof(*copy));
    if (memcmp(copy->magic, CG_LOCAL_MAGIC, 8) != 0
        || copy->version != CG_LOCAL_VERSION
        || copy->owner[CG_LOCAL_OWNER - 1] != '\0'
        || copy->checksum != cg_local_hdr_sum(copy)
        || copy->slots < 1 || copy->size != cg_local_size(copy->slots)) {
        return CG_LOCAL_CORRUPT;
    }
    if (copy->slots != st->slots || copy->size != st->size) {
        return CG_LOCAL_OTHER;
    }
    return CG_LOCAL_OK;
}


/* A fresh secret for a rebuilt file. getrandom() does not fail for 16
 * bytes once the kernel's pool is ready; should it, the clock and the
 * pid still make the slots differ from file to file. */
static void
cg_local_new_secret(uint8_t secret[CG_LOCAL_SECRET])
{
    struct timespec ts;
    uint64_t        mix[2];

    if (getrandom(secret, CG_LOCAL_SECRET, 0) == CG_LOCAL_SECRET) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    mix[0] = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 20);
    mix[1] = (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL;
    memcpy(secret, mix, CG_LOCAL_SECRET);
}


/* Clears this process's mapping and writes a fresh header of its own
 * size; runs under the lock. An anonymous mapping is rebuilt only when
 * it is new, and zero already: clearing it would make all of it resident
 * (a private lease ledger of 4,096 slots in each request context). */
static void
cg_local_rebuild(cg_store_local_t *st)
{
    if (st->fd >= 0) {
        memset(st->hdr, 0, st->size);
    }
    memcpy(st->hdr->magic, CG_LOCAL_MAGIC, 8);
    st->hdr->version = CG_LOCAL_VERSION;
    st->hdr->slots = st->slots;
    st->hdr->size = st->size;
    snprintf(st->hdr->owner, sizeof(st->hdr->owner), "%s", st->owner);
    cg_local_new_secret(st->hdr->secret);
    /* No msync: every process maps the same pages; the disk copy only
     * matters across a reboot, and a torn one there is rebuilt. */
    st->hdr->checksum = cg_local_hdr_sum(st->hdr);
}


/* The file must be at least as long as this mapping, or touching its end
 * would be SIGBUS. It is only ever grown: a process with a larger mapping
 * may be using the rest. */
static int
cg_local_grow(cg_store_local_t *st, off_t *was)
{
    struct stat sb;

    if (fstat(st->fd, &sb) != 0) {
        return -1;
    }
    *was = sb.st_size;
    if ((size_t) sb.st_size < st->size
        && ftruncate(st->fd, (off_t) st->size) != 0) {
        return -1;
    }
    return 0;
}


/* Another open of the file (another process, another configuration)
 * holds the presence lock: the file is in use. */
static int
cg_local_in_use(cg_store_local_t *st)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
                        .l_start = 0, .l_len = 1 };

    return fcntl(st->fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}


/* Every open holds a shared open-file-description lock on byte 0 for its
 * lifetime (released by the kernel when it closes or dies; independent of
 * the flock(2) each operation takes): how a newcomer tells a file in use
 * from a stale one. */
static void
cg_local_present(cg_store_local_t *st)
{
    struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET,
                        .l_start = 0, .l_len = 1 };

    (void) fcntl(st->fd, F_OFD_SETLK, &fl);
}


/* The file at open: used as it is, rebuilt (missing, corrupt, stale, or
 * this configuration's own file at an older size), or refused when a
 * live configuration of another size uses it. */
static int
cg_local_adopt(cg_store_local_t *st, off_t was, char *err, size_t errlen)
{
    cg_local_hdr_t h;

    switch (cg_local_check(st, &h)) {
    case CG_LOCAL_OK:
        return 0;
    case CG_LOCAL_OTHER:
        if (strcmp(h.owner, st->owner) != 0 && cg_local_in_use(st)) {
            snprintf(err, errlen, "local store %s is in use by %s "
                     "([store] slots = %u) and %s has [store] slots = %u: "
                     "two configurations can share a store file only with "
                     "the same slots; give one its own [store] path",
                     st->path, h.owner[0] ? h.owner : "another "
                     "configuration", h.slots, st->owner[0] ? st->owner
                     : "this configuration", st->slots);
            return -1;
        }
        snprintf(st->base.notice, sizeof(st->base.notice),
                 "local store %s held %u slots (%s): rebuilt empty with %u",
                 st->path, h.slots, h.owner[0] ? h.owner : "unnamed",
                 st->slots);
        break;
    case CG_LOCAL_CORRUPT:
        snprintf(st->base.notice, sizeof(st->base.notice),
                 "local store %s was %s: rebuilt empty", st->path,
                 was == 0 ? "missing" : "corrupt");
        break;
    }
    cg_local_rebuild(st);
    return 0;
}


static int
cg_local_map(cg_store_local_t *st, char *err, size_t errlen)
{
    off_t was;

    if (cg_local_grow(st, &was) != 0) {
        snprintf(err, errlen, "local store %s: %s", st->path,
                 strerror(errno));
        return -1;
    }
    st->hdr = mmap(NULL, st->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   st->fd, 0);
    if (st->hdr == MAP_FAILED) {
        st->hdr = NULL;
        snprintf(err, errlen, "local store %s: %s", st->path,
                 strerror(errno));
        return -1;
    }
    st->slot = (cg_local_slot_t *) (st->hdr + 1);
    if (cg_local_adopt(st, was, err, errlen) != 0) {
        return -1;
    }
    cg_local_present(st);
    return 0;
}


/* Without a path: private memory of this process, the per-worker
 * fallback counters of on_store_error = local. */
static cg_store_t *
cg_store_local_anon(cg_store_local_t *st, char *err, size_t errlen)
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
    cg_local_rebuild(st);
    return &st->base;
}


cg_store_t *
cg_store_new_local(const char *path, unsigned slots, const char *owner,
                   char *err, size_t errlen)
{
    cg_store_local_t *st;
    int               rc;

    if (slots == 0) {
        snprintf(err, errlen, "local store: no slots");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->base.ops = &cg_store_local_ops;
    st->slots = slots;
    st->size = cg_local_size(slots);
    snprintf(st->owner, sizeof(st->owner), "%s", owner ? owner : "");
    if (path == NULL) {
        return cg_store_local_anon(st, err, errlen);
    }
    snprintf(st->path, sizeof(st->path), "%s", path);
    st->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->fd < 0 || flock(st->fd, LOCK_EX) != 0) {
        snprintf(err, errlen, "local store %s: %s", path, strerror(errno));
        cg_store_free(&st->base);
        return NULL;
    }
    rc = cg_local_map(st, err, errlen);
    flock(st->fd, LOCK_UN);
    if (rc != 0) {
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


/* Takes the lock and checks the file against this process's mapping
 * before any slot is touched. Corrupt (overwritten, cut short and grown
 * back with zeros): rebuilt empty with this process's size, and said so.
 * A valid header of another geometry (another configuration, or a newer
 * generation of this one after a reload that changed slots): a store
 * error, never a rebuild, so two sizes never take turns wiping the file. */
static int
cg_local_lock(cg_store_local_t *st)
{
    cg_local_hdr_t h;
    off_t          was;

    if (st->fd < 0) {
        return 0;
    }
    while (flock(st->fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            snprintf(st->err, sizeof(st->err), "local store %s: flock: %s",
                     st->path, strerror(errno));
            return -1;
        }
    }
    if (cg_local_grow(st, &was) != 0) {
        snprintf(st->err, sizeof(st->err), "local store %s: %s", st->path,
                 strerror(errno));
        (void) flock(st->fd, LOCK_UN);
        return -1;
    }
    switch (cg_local_check(st, &h)) {
    case CG_LOCAL_OK:
        return 0;
    case CG_LOCAL_CORRUPT:
        cg_local_rebuild(st);
        snprintf(st->base.notice, sizeof(st->base.notice),
                 "local store %s was corrupt: rebuilt empty", st->path);
        st->base.notice_taken = 0;
        return 0;
    case CG_LOCAL_OTHER:
        break;
    }
    snprintf(st->err, sizeof(st->err), "local store %s now holds %u slots "
             "(%s); this process has %u: restart it with the same [store] "
             "slots", st->path, h.slots, h.owner[0] ? h.owner : "unnamed",
             st->slots);
    (void) flock(st->fd, LOCK_UN);
    return -1;
}


static void
cg_local_unlock(cg_store_local_t *st)
{
    if (st->fd >= 0) {
        (void) flock(st->fd, LOCK_UN);
    }
}


static int
cg_local_is_spare(const char *key, size_t keylen)
{
    size_t n = sizeof(CG_STORE_SPARE_PREFIX) - 1;

    return keylen >= n && memcmp(key, CG_STORE_SPARE_PREFIX, n) == 0;
}


/* The key's slot identity: the keyed hash, never 0, its top bit saying
 * whether it is a spare key. Runs under the lock (the secret is the
 * file's, checked by cg_local_lock). */
static uint64_t
cg_local_hash(cg_store_local_t *st, const char *key, size_t keylen)
{
    uint64_t h = cg_local_siphash(st->hdr->secret, key, keylen)
                 & ~CG_LOCAL_SPARE;

    h = h ? h : 1;
    return cg_local_is_spare(key, keylen) ? h | CG_LOCAL_SPARE : h;
}


/* The live slot holding key, or (create) a free one claimed for it: an
 * empty or expired slot, else, for a key that is not spare itself, a
 * spare slot taken over. */
static cg_local_slot_t *
cg_local_find(cg_store_local_t *st, const char *key, size_t keylen,
              int create)
{
    uint64_t         h = cg_local_hash(st, key, keylen);
    uint32_t         n = st->slots, i;
    int64_t          now = (int64_t) cg_clock_now();
    cg_local_slot_t *s, *free_slot = NULL, *spare = NULL;

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
        if (spare == NULL && (s->hash & CG_LOCAL_SPARE)) {
            spare = s;
        }
    }
    if (free_slot == NULL && !(h & CG_LOCAL_SPARE)) {
        free_slot = spare;
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
        s->expires = (int64_t) cg_clock_now() + ttl;
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
            s->expires = (int64_t) cg_clock_now() + ttl;
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


int
cg_store_local_update(cg_store_t *base, const char *const *keys,
                      const size_t *lens, size_t n, unsigned ttl,
                      cg_store_update_pt fn, void *ctx)
{
    cg_store_local_t *st = (cg_store_local_t *) base;
    cg_local_slot_t  *s[CG_STORE_UPDATE_MAX];
    uint64_t          v[CG_STORE_UPDATE_MAX];
    uint64_t          any = 0;
    size_t            i;
    int               rc = -1;

    if (base->ops != &cg_store_local_ops || n > CG_STORE_UPDATE_MAX
        || cg_local_lock(st) != 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        s[i] = cg_local_find(st, keys[i], lens[i], 0);
        if (s[i] == NULL
            && (s[i] = cg_local_find(st, keys[i], lens[i], 1)) != NULL) {
            /* Live at once, or the next key's search would take the
             * same (still expired) slot. */
            s[i]->expires = (int64_t) cg_clock_now() + ttl;
        }
        if (s[i] == NULL) {
            break;
        }
        v[i] = __atomic_load_n(&s[i]->value, __ATOMIC_RELAXED);
    }
    if (i == n) {
        rc = fn(v, ctx);
        for (i = 0; i < n; i++) {
            any |= v[i];
        }
        for (i = 0; i < n; i++) {
            __atomic_store_n(&s[i]->value, v[i], __ATOMIC_RELAXED);
            /* Alive for ttl after its last change; a record of zeros is
             * nothing worth a slot (expired, never emptied: an empty
             * slot would end the probe run of keys placed after it). */
            s[i]->expires = any ? (int64_t) cg_clock_now() + ttl : 0;
        }
    }
    cg_local_unlock(st);
    return rc;
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
