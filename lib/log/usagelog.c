#include "log/usagelog.h"
#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>


int
cg_usagelog_open(cg_usagelog_t *log, const char *path, char *err,
                 size_t errlen)
{
    log->path = strdup(path);
    log->torn = 0;
    log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (log->fd < 0 || log->path == NULL) {
        snprintf(err, errlen, "cannot open usage log %s: %s", path,
                 strerror(errno));
        cg_usagelog_close(log);
        return -1;
    }
    return 0;
}


int
cg_usagelog_reopen(cg_usagelog_t *log)
{
    int fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0) {
        return -1;      /* keep writing to the old file rather than none */
    }
    close(log->fd);
    log->fd = fd;
    return 0;
}


void
cg_usagelog_close(cg_usagelog_t *log)
{
    if (log->fd >= 0) {
        close(log->fd);
    }
    free(log->path);
    log->fd = -1;
    log->path = NULL;
}


/* The date part changes once a second: format it then, not per request. */
static void
cg_usage_ts(cg_buf_t *b, double wall)
{
    static _Thread_local time_t  last = -1;
    static _Thread_local char    ts[40];
    struct tm                    tm;
    time_t                       sec = (time_t) wall;
    int                          ms = (int) ((wall - (double) sec) * 1000);

    if (sec != last) {
        gmtime_r(&sec, &tm);
        strftime(ts, sizeof(ts), "\"%Y-%m-%dT%H:%M:%S.", &tm);
        last = sec;
    }
    cg_buf_adds(b, ts);
    cg_buf_addc(b, (char) ('0' + ms / 100));
    cg_buf_addc(b, (char) ('0' + ms / 10 % 10));
    cg_buf_addc(b, (char) ('0' + ms % 10));
    cg_buf_adds(b, "Z\"");
}


/* Milliseconds with three decimals, as "%.3f" would print them, without
 * the cost of printf's floating-point path. */
static void
cg_usage_ms(cg_buf_t *b, double ms)
{
    long long us = ms > 0 ? (long long) (ms * 1000.0 + 0.5) : 0;

    cg_buf_add_long(b, us / 1000);
    cg_buf_addc(b, '.');
    cg_buf_addc(b, (char) ('0' + us / 100 % 10));
    cg_buf_addc(b, (char) ('0' + us / 10 % 10));
    cg_buf_addc(b, (char) ('0' + us % 10));
}


/* The provider call: which route and provider, streamed or not, retries,
 * the provider calls made (attempts) and what the ones given up for a
 * retry or a fallback cost (already inside the totals), the route that
 * failed over, and whether the usage is an estimate. */
static void
cg_usage_call(const cg_req_t *r, cg_buf_t *b)
{
    cg_buf_adds(b, ",\"provider\":");
    cg_buf_add_json_cstr(b, r->provider);
    cg_buf_adds(b, r->stream ? ",\"stream\":true" : ",\"stream\":false");
    cg_buf_adds(b, ",\"retries\":");
    cg_buf_add_long(b, r->retries);
    cg_buf_adds(b, ",\"attempts\":");
    cg_buf_add_long(b, r->attempts);
    cg_buf_adds(b, ",\"prior_cost_micro_usd\":");
    cg_buf_add_long(b, r->prior_cost_micro_usd);
    cg_buf_adds(b, ",\"fallback_from\":");
    cg_buf_add_json_cstr(b, r->fallback_from);
    cg_buf_adds(b, r->usage_estimated ? ",\"usage_estimated\":true"
                                      : ",\"usage_estimated\":false");
}


/* Which front the request came in by (issue 20) and whose traffic it is:
 * "service" for a service token or any provider-compatible call (only
 * tokens are accepted there), "browser" for a session, null when the
 * request was refused before the caller was known. */
static void
cg_usage_caller(const cg_req_t *r, cg_buf_t *b)
{
    static const char *const api[] = { "chat", "anthropic", "openai" };

    cg_buf_adds(b, ",\"api\":\"");
    cg_buf_adds(b, (unsigned) r->api < 3 ? api[r->api] : "chat");
    cg_buf_adds(b, "\",\"caller\":");
    cg_buf_adds(b, r->sess.token || r->api != CG_API_CHAT ? "\"service\""
                   : r->user[0] ? "\"browser\"" : "null");
}


static void
cg_usage_flag1(void *ctx, const char *text)
{
    cg_buf_t *b = ctx;

    if (b->len > 0 && b->data[b->len - 1] != '[') {
        cg_buf_addc(b, ',');
    }
    cg_buf_add_json_cstr(b, text);
}


/* ,"flags":["a","b:c"], rendered from the typed findings only here; []
 * when no stage noticed anything. */
static void
cg_usage_flags(cg_buf_t *b, const cg_findings_t *f)
{
    cg_buf_adds(b, ",\"flags\":[");
    cg_findings_each(f, cg_usage_flag1, b);
    cg_buf_addc(b, ']');
}


void
cg_usagelog_format(const cg_req_t *r, const cg_usage_ctx_t *u, double now,
                   double wall, cg_buf_t *b)
{
    cg_buf_reset(b);
    cg_buf_adds(b, "{\"v\":1,\"ts\":");
    cg_usage_ts(b, wall);
    cg_buf_adds(b, ",\"event\":\"request\",\"request_id\":");
    cg_buf_add_json_cstr(b, r->request_id);
    cg_buf_adds(b, ",\"user\":");
    cg_buf_add_json_cstr(b, r->user[0] ? r->user : NULL);
    cg_buf_adds(b, ",\"route\":");
    cg_buf_add_json_cstr(b, r->route ? r->route : u->route);
    cg_buf_adds(b, ",\"model\":");
    cg_buf_add_json_cstr(b, r->route ? r->model : u->model);
    cg_buf_adds(b, ",\"status\":");
    /* What the client got: an answered preflight is 204, not 200. */
    cg_buf_add_long(b, r->preflight ? 204 : cg_err_status(r->err));
    cg_buf_adds(b, ",\"error\":");
    cg_buf_add_json_cstr(b, r->err ? cg_err_type(r->err) : NULL);
    cg_buf_adds(b, ",\"reason\":");
    cg_buf_add_json_cstr(b, r->err ? r->reason : NULL);
    cg_buf_adds(b, ",\"input_tokens\":");
    cg_buf_add_long(b, r->input_tokens);
    cg_buf_adds(b, ",\"output_tokens\":");
    cg_buf_add_long(b, r->output_tokens);
    if (r->cost_micro_usd >= 0) {
        cg_buf_adds(b, ",\"cost_micro_usd\":");
        cg_buf_add_long(b, r->cost_micro_usd);
    }
    cg_buf_adds(b, ",\"latency_ms\":");
    cg_usage_ms(b, (now - r->t_start) * 1000.0);
    cg_buf_adds(b, ",\"upstream_ms\":");
    cg_usage_ms(b, r->upstream_ms);
    cg_buf_adds(b, ",\"key_id\":");
    cg_buf_add_json_cstr(b, r->route ? r->key_id : u->key_id);
    cg_buf_adds(b, ",\"remote_addr\":");
    cg_buf_add_json_cstr(b, r->remote_addr);
    cg_usage_call(r, b);
    cg_usage_caller(r, b);
    cg_usage_flags(b, &r->findings);
    cg_buf_adds(b, "}\n");
}


size_t
cg_usagelog_format_min(const cg_req_t *r, double wall, char *out, size_t cap)
{
    struct tm tm;
    time_t    sec = (time_t) wall;
    char      ts[32];
    int       n;

    gmtime_r(&sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf(out, cap, "{\"v\":1,\"ts\":\"%s\",\"event\":\"request\","
                 "\"request_id\":\"%s\",\"status\":%d,\"error\":%s%s%s,"
                 "\"reason\":\"usage line cut short: out of memory\","
                 "\"input_tokens\":%lld,\"output_tokens\":%lld,"
                 "\"cost_micro_usd\":%lld}\n", ts, r->request_id,
                 cg_err_status(r->err), r->err ? "\"" : "",
                 r->err ? cg_err_type(r->err) : "null", r->err ? "\"" : "",
                 (long long) r->input_tokens, (long long) r->output_tokens,
                 (long long) r->cost_micro_usd);
    return n < 0 || (size_t) n >= cap ? 0 : (size_t) n;
}


/* Writes all of data[0..len) at the end of the file (under the writers'
 * lock): 0, or -1 with errno after cutting the file back to where the
 * line started, so that a short write (a full disk, a file size limit)
 * leaves no fragment for the next line to be glued to. When even the cut
 * fails, the next line starts with a newline of its own (log->torn). */
static int
cg_usagelog_put(cg_usagelog_t *log, const char *data, size_t len)
{
    struct iovec iov[2] = { { (void *) "\n", 1 }, { (void *) data, len } };
    size_t       done = 0, want = len + (log->torn ? 1 : 0);
    int          first = log->torn ? 0 : 1, saved;
    ssize_t      n;
    off_t        end;

    while (done < want) {
        if (done == 0) {
            n = writev(log->fd, iov + first, 2 - first);
        } else {
            n = write(log->fd, data + (done - (want - len)), want - done);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += (size_t) n;
    }
    if (done == want) {
        log->torn = 0;
        return 0;
    }
    saved = n < 0 ? errno : ENOSPC;
    if (done > 0) {
        /* O_APPEND left the offset at the end of what we wrote, and the
         * lock kept every other writer out since. */
        end = lseek(log->fd, 0, SEEK_CUR);
        if (end < (off_t) done || ftruncate(log->fd, end - (off_t) done) != 0) {
            log->torn = 1;
        }
    }
    errno = saved;
    return -1;
}


int
cg_usagelog_write(cg_usagelog_t *log, const cg_buf_t *line)
{
    int rc, locked, saved;

    if (log->fd < 0 || line->oom) {
        return -1;
    }
    /* Every writer of the file (workers, threads, the master, the CLI)
     * takes the lock, so a cut after a short write can only remove this
     * line's own fragment. */
    do {
        locked = flock(log->fd, LOCK_EX) == 0;
    } while (!locked && errno == EINTR);
    rc = cg_usagelog_put(log, line->data, line->len);
    saved = errno;
    if (locked) {
        (void) flock(log->fd, LOCK_UN);
    }
    errno = saved;
    return rc;
}


void
cg_usagelog_audit_format(const cg_audit_event_t *ev, double wall, cg_buf_t *b)
{
    cg_buf_reset(b);
    cg_buf_adds(b, "{\"v\":1,\"ts\":");
    cg_usage_ts(b, wall);
    cg_buf_adds(b, ",\"event\":\"audit\",\"action\":");
    cg_buf_add_json_cstr(b, ev->action);
    cg_buf_adds(b, ",\"key\":");
    cg_buf_add_json_cstr(b, ev->key);
    cg_buf_adds(b, ",\"key_id\":");
    cg_buf_add_json_cstr(b, ev->key_id);
    cg_buf_adds(b, ",\"old_key_id\":");
    cg_buf_add_json_cstr(b, ev->old_key_id);
    cg_buf_adds(b, ",\"detail\":");
    cg_buf_add_json_cstr(b, ev->detail);
    cg_buf_adds(b, "}\n");
}


int
cg_usagelog_audit(const char *path, const cg_audit_event_t *ev)
{
    cg_usagelog_t   log;
    cg_buf_t        b;
    char            err[256];
    int             rc;

    if (cg_usagelog_open(&log, path, err, sizeof(err)) != 0) {
        return -1;
    }
    cg_buf_init(&b);
    cg_usagelog_audit_format(ev, cg_clock_wall(), &b);
    rc = cg_usagelog_write(&log, &b);
    cg_buf_free(&b);
    cg_usagelog_close(&log);
    return rc;
}
