#include "scoreboard.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

const double cg_sb_lat_bounds_ms[CG_SB_LAT_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
};


int
cg_sb_create(cg_sb_t *sb, int nprocs, int threads)
{
    size_t  size;
    char   *p;

    size = sizeof(cg_sb_counters_t) + (size_t) nprocs * sizeof(cg_sb_proc_t)
           + (size_t) nprocs * (size_t) threads * sizeof(cg_sb_thread_t);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        return -1;
    }
    /* Fresh anonymous pages are zero: every slot starts EMPTY. */
    sb->size = size;
    sb->c = (cg_sb_counters_t *) p;
    sb->procs = (cg_sb_proc_t *) (p + sizeof(cg_sb_counters_t));
    sb->threads = (cg_sb_thread_t *) (sb->procs + nprocs);
    sb->c->nprocs = nprocs;
    sb->c->threads = threads;
    atomic_store(&sb->c->started_wall, (long long) cg_clock_now());
    return 0;
}


void
cg_sb_destroy(cg_sb_t *sb)
{
    if (sb->c) {
        munmap(sb->c, sb->size);
    }
    memset(sb, 0, sizeof(*sb));
}


cg_sb_thread_t *
cg_sb_thread(cg_sb_t *sb, int proc, int thread)
{
    return &sb->threads[proc * sb->c->threads + thread];
}


long long
cg_sb_now_ms(void)
{
    return (long long) (cg_clock_mono() * 1000.0);
}


void
cg_sb_begin(cg_sb_t *sb, int proc, int thread)
{
    cg_sb_thread_t *t = cg_sb_thread(sb, proc, thread);
    long long       now = cg_sb_now_ms();

    t->user[0] = '\0';
    t->request_id[0] = '\0';
    t->route[0] = '\0';
    atomic_store(&t->logged, 0);
    atomic_store(&t->stream, 0);
    atomic_store(&t->started_ms, now);
    atomic_store(&t->state, CG_SB_BUSY);
    atomic_fetch_add(&sb->procs[proc].busy, 1);
    atomic_store(&sb->procs[proc].last_active_ms, now);
}


void
cg_sb_user(cg_sb_t *sb, int proc, int thread, const char *user)
{
    cg_sb_thread_t *t = cg_sb_thread(sb, proc, thread);

    snprintf(t->user, sizeof(t->user), "%s", user);
}


static void
cg_sb_count(cg_sb_counters_t *c, const cg_req_t *r)
{
    int i;

    atomic_fetch_add(&c->requests, 1);
    if ((unsigned) r->api < CG_SB_APIS) {
        atomic_fetch_add(&c->by_api[r->api], 1);
    }
    if (r->err != CG_OK && r->err < CG_E__COUNT) {
        atomic_fetch_add(&c->errors[r->err], 1);
    }
    if (r->upstream_ms > 0) {
        for (i = 0; i < CG_SB_LAT_BUCKETS; i++) {
            if (r->upstream_ms <= cg_sb_lat_bounds_ms[i]) {
                break;
            }
        }
        atomic_fetch_add(&c->latency[i], 1);
        atomic_fetch_add(&c->latency_sum_us,
                         (unsigned long long) (r->upstream_ms * 1000.0));
        atomic_fetch_add(&c->latency_count, 1);
    }
    if (r->input_tokens > 0) {
        atomic_fetch_add(&c->tokens_in, (unsigned long long) r->input_tokens);
    }
    if (r->output_tokens > 0) {
        atomic_fetch_add(&c->tokens_out,
                         (unsigned long long) r->output_tokens);
    }
    /* The same cost the usage line carries (and `report` sums). */
    if (r->cost_micro_usd > 0) {
        atomic_fetch_add(&c->spend_microusd,
                         (unsigned long long) r->cost_micro_usd);
    }
}


void
cg_sb_end(cg_sb_t *sb, int proc, int thread, const cg_req_t *r)
{
    cg_sb_thread_t *t = cg_sb_thread(sb, proc, thread);

    if (r) {
        cg_sb_count(sb->c, r);
    }
    /* An idle slot names no one: the user shown is the running one's. */
    t->user[0] = '\0';
    atomic_fetch_add(&t->requests, 1);
    atomic_store(&t->state, CG_SB_IDLE);
    atomic_fetch_add(&sb->procs[proc].requests, 1);
    atomic_fetch_sub(&sb->procs[proc].busy, 1);
    atomic_store(&sb->procs[proc].last_active_ms, cg_sb_now_ms());
}


void
cg_sb_request(cg_sb_t *sb, int proc, int thread, const char *id, int stream)
{
    cg_sb_thread_t *t = cg_sb_thread(sb, proc, thread);

    snprintf(t->request_id, sizeof(t->request_id), "%s", id);
    atomic_store(&t->stream, stream);
}


void
cg_sb_route(cg_sb_t *sb, int proc, int thread, const char *route)
{
    cg_sb_thread_t *t = cg_sb_thread(sb, proc, thread);

    snprintf(t->route, sizeof(t->route), "%s", route ? route : "");
}


void
cg_sb_logged(cg_sb_t *sb, int proc, int thread)
{
    atomic_store(&cg_sb_thread(sb, proc, thread)->logged, 1);
}


int
cg_sb_orphans(cg_sb_t *sb, int proc,
              void (*fn)(void *ctx, const cg_sb_thread_t *t), void *ctx)
{
    cg_sb_thread_t *t;
    int             i, n = 0;

    for (i = 0; i < sb->c->threads; i++) {
        t = cg_sb_thread(sb, proc, i);
        if (atomic_load(&t->state) == CG_SB_BUSY && t->request_id[0]
            && !atomic_load(&t->logged)) {
            fn(ctx, t);
            n++;
        }
        t->request_id[0] = '\0';
        atomic_store(&t->logged, 0);
    }
    atomic_fetch_add(&sb->c->orphan_lines, (unsigned long long) n);
    return n;
}


void
cg_sb_death(cg_sb_t *sb, int signal)
{
    atomic_fetch_add(&sb->c->deaths, 1);
    if (signal > 0 && signal < CG_SB_SIGNALS) {
        atomic_fetch_add(&sb->c->deaths_by_signal[signal], 1);
    }
}
