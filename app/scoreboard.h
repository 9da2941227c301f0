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
#define CG_SB_ID_MAX      40
#define CG_SB_ROUTE_MAX   72
#define CG_SB_SIGNALS     65      /* worker deaths counted per signal */

typedef enum {
    CG_SB_EMPTY = 0,
    CG_SB_IDLE,
    CG_SB_BUSY
} cg_sb_state_t;

/* The running request, for the status page and for the master: when the
 * process dies before the thread wrote its usage line (logged still 0),
 * the master writes the line from here (cg_sb_orphan). */
typedef struct {
    atomic_int          state;
    atomic_llong        started_ms;     /* monotonic ms of current request */
    atomic_ullong       requests;
    atomic_int          logged;         /* its usage line is written */
    atomic_int          stream;         /* the client asked for SSE */
    char                user[CG_SB_USER_MAX];
    char                request_id[CG_SB_ID_MAX];   /* "": not a chat */
    char                route[CG_SB_ROUTE_MAX];
} cg_sb_thread_t;

typedef struct {
    atomic_int          pid;            /* 0: free slot */
    atomic_int          generation;
    atomic_int          busy;           /* threads in a request */
    atomic_ullong       requests;
    atomic_llong        last_active_ms;
} cg_sb_proc_t;

/* Requests counted per front (cg_api_t, issue 20). */
#define CG_SB_APIS  3

typedef struct {
    atomic_ullong       requests;
    atomic_ullong       connections;    /* FastCGI connections accepted */
    atomic_ullong       by_api[CG_SB_APIS];     /* cg_api_t: chat, ... */
    atomic_ullong       errors[CG_E__COUNT];
    atomic_ullong       latency[CG_SB_LAT_BUCKETS + 1];  /* +Inf last */
    atomic_ullong       latency_sum_us;
    atomic_ullong       latency_count;
    atomic_ullong       tokens_in;
    atomic_ullong       tokens_out;
    atomic_ullong       spend_microusd;  /* the usage lines' cost_micro_usd */
    atomic_ullong       respawns;
    atomic_ullong       terminated;      /* killed by request_terminate */
    atomic_ullong       deaths;          /* workers of any generation that
                                            died by a signal or exited
                                            with an error */
    atomic_ullong       deaths_by_signal[CG_SB_SIGNALS];
    atomic_ullong       orphan_lines;    /* usage lines the master wrote
                                            for requests a death cut */
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
/* The chat request on (proc, thread) has its id (and whether it
 * streams), and later its route; then its usage line is written. */
void  cg_sb_request(cg_sb_t *sb, int proc, int thread, const char *id,
                    int stream);
void  cg_sb_route(cg_sb_t *sb, int proc, int thread, const char *route);
void  cg_sb_logged(cg_sb_t *sb, int proc, int thread);
/* The master, after process slot proc died: the requests it left without
 * a usage line, one call of fn each (thread slot, for its fields); then
 * the slot's threads are cleared. Returns how many. */
int   cg_sb_orphans(cg_sb_t *sb, int proc,
                    void (*fn)(void *ctx, const cg_sb_thread_t *t),
                    void *ctx);
/* A worker death of any generation: counted, by signal (0: an exit). */
void  cg_sb_death(cg_sb_t *sb, int signal);

#endif
