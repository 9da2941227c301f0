/*
 * upstream: the HTTP call to the provider (libcurl).
 *
 * One cg_upstream_t per worker thread, reused across requests so the
 * connection (and TLS session) to the provider stays open. TLS verification
 * is always on. The key is only ever placed in the request header list built
 * here, which is wiped when the handle is freed; nothing of the provider's
 * response headers is kept. This module never logs.
 */
#ifndef CG_UPSTREAM_H
#define CG_UPSTREAM_H

#include "buf.h"
#include "config.h"

#define CG_UPSTREAM_MAX_BODY  (8 * 1024 * 1024)

typedef enum {
    CG_UP_OK = 0,
    CG_UP_TIMEOUT,
    CG_UP_FAILED,       /* connect error, reset, oversized answer ... */
} cg_up_rc_t;

typedef struct cg_upstream_s cg_upstream_t;

/* Call once per process before any thread starts. */
int            cg_upstream_global_init(void);
cg_upstream_t *cg_upstream_new(const cg_conf_t *conf);
void           cg_upstream_free(cg_upstream_t *up);
/* POSTs body to the provider's Messages URL; fills resp and *status. On
 * failure writes a short reason (curl's, which never contains the key). */
cg_up_rc_t     cg_upstream_post(cg_upstream_t *up, const char *body,
                                size_t len, cg_buf_t *resp, long *status,
                                char *why, size_t whylen);

#endif
