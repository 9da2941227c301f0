/*
 * scoreboard: the pool's shared memory, mapped by the master before it
 * forks (MAP_SHARED | MAP_ANONYMOUS), so every worker and the master see
 * the same pages.
 *
 * One process slot per worker process (pid, generation, busy threads,
 * requests served, last activity) and one thread slot per request thread
 * (state, the running request's user, start time), plus pool-wide counters for the
 * status page. Each slot has one writer (its own thread or process); the
 * master and the status page only read. Counters are C11 atomics, so no
 * lock is ever taken; the user string may be read torn, which only a
 * status page can notice. It must never hold secrets or request bodies.
 */
#ifndef CG_SCOREBOARD_H
#define CG_SCOREBOARD_H

#include "core/err.h"
#include "core/req.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_SB_USER_MAX    (CG_USER_MAX + 1)
#define CG_SB_LAT_BUCKETS 10

typedef enum {
    CG_SB_EMPTY = 0,
    CG_SB_IDLE,
    CG_SB_BUSY
} cg_sb_state_t;

typedef struct {
    atomic_int          state;
    atomic_llong        started_ms;     /* monotonic ms of current request */
    atomic_ullong       requests;
    char                user[CG_SB_USER_MAX];
} cg_sb_thread_t;

typedef struct {
    atomic_int          pid;            /* 0: free slot */
    atomic_int          generation;
    atomic_int          busy;           /* threads in a request */
    atomic_ullong       requests;
    atomic_llong        last_active_ms;
} cg_sb_proc_t;

typedef struct {
    atomic_ullong       requests;
    atomic_ullong       errors[CG_E__COUNT];
    atomic_ullong       latency[CG_SB_LAT_BUCKETS + 1];  /* +Inf last */
    atomic_ullong       latency_sum_us;
    atomic_ullong       latency_count;
    atomic_ullong       tokens_in;
    atomic_ullong       tokens_out;
    atomic_ullong       spend_microusd;  /* the usage lines' cost_micro_usd */
    atomic_ullong       respawns;
    atomic_ullong       terminated;      /* killed by request_terminate */
    atomic_llong        started_wall;
    int                 nprocs;
    int                 threads;
} cg_sb_counters_t;

typedef struct {
    cg_sb_counters_t   *c;
    cg_sb_proc_t       *procs;          /* nprocs */
    cg_sb_thread_t     *threads;        /* nprocs x threads */
    size_t              size;
} cg_sb_t;

extern const double cg_sb_lat_bounds_ms[CG_SB_LAT_BUCKETS];

int   cg_sb_create(cg_sb_t *sb, int nprocs, int threads);
void  cg_sb_destroy(cg_sb_t *sb);
cg_sb_thread_t *cg_sb_thread(cg_sb_t *sb, int proc, int thread);
long long cg_sb_now_ms(void);
/* A request starts or ends on (proc, thread). */
void  cg_sb_begin(cg_sb_t *sb, int proc, int thread);
/* The running request's user is known (after the session stage). */
void  cg_sb_user(cg_sb_t *sb, int proc, int thread, const char *user);
void  cg_sb_end(cg_sb_t *sb, int proc, int thread, const cg_req_t *r);

#endif
