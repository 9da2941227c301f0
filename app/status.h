/*
 * status: the pool's status page ([status] path), read from the shared
 * scoreboard. Answers JSON, or the Prometheus text format when asked with
 * ?format=prometheus or an Accept header that prefers text/plain. Only
 * clients whose REMOTE_ADDR is in [status] allow get it; others get 403.
 * It shows counts, states and user ids, never keys, tokens or messages.
 */
#ifndef CG_STATUS_H
#define CG_STATUS_H

#include "conf/config.h"
#include "scoreboard.h"

#include "core/buf.h"

/* The whole CGI answer (Status and headers, then the body) into out, for
 * the request whose parameters are envp ("NAME=VALUE" strings). */
void cg_status_serve(const cg_conf_t *conf, cg_sb_t *sb, char *const *envp,
                     cg_buf_t *out);

#endif
