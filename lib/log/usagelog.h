/*
 * usagelog: one JSON line per request, success or failure.
 *
 * Schema v1 (documented in docs/usage-log.md): v, ts, event, request_id,
 * user, route, model, status, error, reason, input_tokens, output_tokens,
 * latency_ms, upstream_ms, key_id, remote_addr; and (added, same version)
 * provider, stream, retries, fallback_from, usage_estimated, flags (an
 * array of r->findings as text, rendered only here, [] when none) and
 * cost_micro_usd (when the model has a price), api (chat, anthropic,
 * openai: the front it came in by) and caller (browser, service or
 * null). Alert events share the file (lib/meter/alert.c). Each line is
 * written with a single write(2) to a file opened O_APPEND, under
 * flock(2) held by every writer, so lines from many workers never
 * interleave; a short or failed write (a
 * full disk) is cut back to the line's start, so a line is in the file
 * whole or not at all and the next one is never glued to a fragment.
 * Every string goes through the
 * one JSON escaper, so no input can break a line. The key appears only as
 * its fingerprint (key_id).
 */
#ifndef CG_USAGELOG_H
#define CG_USAGELOG_H

#include "core/buf.h"
#include "core/req.h"

typedef struct {
    int     fd;
    char   *path;
    int     torn;       /* a fragment could not be cut: next line starts
                           with a newline */
} cg_usagelog_t;

typedef struct {
    const char *route;
    const char *model;
    const char *key_id;
} cg_usage_ctx_t;

int  cg_usagelog_open(cg_usagelog_t *log, const char *path, char *err,
                      size_t errlen);
/* Reopens the file by name (after logrotate renamed it). */
int  cg_usagelog_reopen(cg_usagelog_t *log);
void cg_usagelog_close(cg_usagelog_t *log);
/* Formats the request's line into b (cleared first). */
void cg_usagelog_format(const cg_req_t *r, const cg_usage_ctx_t *u,
                        double now, double wall, cg_buf_t *b);
/* The short line for when cg_usagelog_format() ran out of memory: request id,
 * status, error and spend, written into out[cap] without allocating, so no
 * request goes unlogged. Returns its length (0: cap too small). */
size_t cg_usagelog_format_min(const cg_req_t *r, double wall, char *out,
                              size_t cap);
/* 0 when the whole line is in the file; -1 with errno when none of it is
 * (the caller puts it in the error log or refuses, per on_write_error). */
int  cg_usagelog_write(cg_usagelog_t *log, const cg_buf_t *line);

/* An admin event (start, reload, key_loaded, key_rotated, key_age, probe):
 * {"v":1,"ts","event":"audit","action","key","key_id","old_key_id",
 * "detail"}. Keys appear by name and fingerprint only; NULL fields are
 * null. */
typedef struct {
    const char *action;
    const char *key;
    const char *key_id;
    const char *old_key_id;
    const char *detail;
} cg_audit_event_t;

void cg_usagelog_audit_format(const cg_audit_event_t *ev, double wall,
                              cg_buf_t *b);
/* Appends one audit line to the usage log at path (opened and closed here:
 * admin events are rare and come from the master and the CLI). */
int  cg_usagelog_audit(const char *path, const cg_audit_event_t *ev);

#endif
