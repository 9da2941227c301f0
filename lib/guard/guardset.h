/*
 * guardset: the guards of one worker thread, built from the config, and the
 * two calls the chat path makes:
 *
 *   cg_guardset_in()   on the user's message before the provider call:
 *                      input guard (textguard) then PII (pii); replaces
 *                      r->message with the cleaned, pseudonymized text
 *   cg_guardset_out()  on the whole answer r->text (non-streaming): output
 *                      guard with the request's PII map
 *
 * For a streamed answer, cg_guardset_stream() hands out the output guard,
 * reset with this request's map; feed it the deltas, finish it, then call
 * cg_guardset_stream_done() to record what it did in r->findings.
 *
 * Both record what they saw in r->findings (core/findings.h: events as
 * bits, pattern names in a bounded list) for the usage log; they never
 * put user text, originals or secrets in r->reason or r->findings. The PII map
 * holds this request's originals and is wiped at the next cg_guardset_in().
 * Its settings are guard_conf.h's ([input], [guard], [pii]).
 */
#ifndef CG_GUARDSET_H
#define CG_GUARDSET_H

#include "core/buf.h"
#include "conf/config.h"
#include "guard/outguard.h"
#include "guard/pii.h"
#include "core/req.h"
#include "guard/textguard.h"

/* The compiled guards, shared read-only by the guardsets made like one
 * another (guardset.c). */
typedef struct cg_guardset_shared_s cg_guardset_shared_t;

typedef struct {
    cg_guardset_shared_t *sh;
    cg_outguard_t      *og;
    cg_pii_map_t        map;
    cg_buf_t            tmp;
    cg_buf_t            tmp2;
    int                 keep_links; /* this request's: see outguard.h */
} cg_guardset_t;

int  cg_guardset_init(cg_guardset_t *gs, const cg_conf_t *conf, char *err,
                      size_t errlen);
/* A guardset of the same config as like, sharing its compiled guards
 * (patterns, PII key, output guard conf: ~15 kB and the time to compile
 * them) instead of building its own; only the output guard, the PII map
 * and the scratch are its own. Either may be freed first. Guardsets that
 * share may run in different threads: what they share is never written. */
int  cg_guardset_init_like(cg_guardset_t *gs, const cg_guardset_t *like,
                           char *err, size_t errlen);
void cg_guardset_free(cg_guardset_t *gs);
/* After a request: the scratch buffers are wiped and the PII map's
 * originals with them; buffers past keep bytes are given back (and the
 * output guard renewed after a large answer: a pointer from
 * cg_guardset_stream() is stale after this). */
void cg_guardset_shrink(cg_guardset_t *gs, size_t keep);
/* Builds and drops a guardset: validates patterns files and the PII key
 * for `check`, start and reload. */
int  cg_guardset_check(const cg_conf_t *conf, char *err, size_t errlen);

int  cg_guardset_in(cg_guardset_t *gs, cg_req_t *r);
int  cg_guardset_out(cg_guardset_t *gs, cg_req_t *r);
cg_outguard_t *cg_guardset_stream(cg_guardset_t *gs);
void cg_guardset_stream_done(cg_guardset_t *gs, cg_req_t *r);

#endif
