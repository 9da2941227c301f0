/*
 * tokens: service tokens for server-to-server callers.
 *
 * Each token is a config section [token NAME] holding only the SHA-256 of
 * the token (sha256 = <64 hex>), the routes it may use (routes = a,b or *),
 * its own requests_per_minute and tokens_per_minute, and its own money
 * caps (budget_daily, budget_monthly, dollars), which take the place of
 * [budget] user_daily / user_monthly for it, and output_links (remove,
 * or keep for a batch job that never renders Markdown: the output guard
 * then leaves links and images, never the key redaction). A caller presents the token as
 * "Authorization: Bearer cgt_..."; it is hashed and compared against every
 * configured hash in constant time. The token itself is never stored,
 * logged or echoed; a request made with one is logged as user "token:NAME".
 */
#ifndef CG_TOKENS_H
#define CG_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define CG_TOKEN_PREFIX     "cgt_"
#define CG_TOKEN_NAME_MAX   64

typedef struct cg_token_s {
    char                name[CG_TOKEN_NAME_MAX + 1];
    unsigned char       sha256[32];
    int                 have_sha;
    char               *routes;     /* comma list, or "*" */
    long                rpm;        /* -1: the [limits] default */
    long                tpm;        /* -1: the [limits] default */
    uint64_t            budget[2];  /* daily, monthly micro-dollars */
    int                 have_budget[2];     /* 0: [budget] user_* */
    int                 keep_links; /* output_links = keep (issue 20) */
    struct cg_token_s  *next;
} cg_token_t;

/* Config hook: section is "token NAME". Returns 0, or -1 with err. */
int  cg_svctoken_conf(cg_token_t **list, const char *section,
                      const char *key, const char *value, char *err,
                      size_t errlen);
/* Every token must have a hash; checked once the file is read. */
int  cg_svctoken_check(const cg_token_t *list, char *err, size_t errlen);
/* The token whose hash matches tok[0..n), or NULL. */
const cg_token_t *cg_svctoken_find(const cg_token_t *list, const char *tok,
                                   size_t n);
int  cg_svctoken_route_allowed(const cg_token_t *t, const char *route);
void cg_svctoken_free(cg_token_t *list);

#endif
