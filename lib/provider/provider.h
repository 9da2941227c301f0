/*
 * provider: the wire formats of the AI providers, behind one small table.
 *
 * A cg_provider_t says how to build a request body from a route and the
 * validated conversation, which headers carry the key, how to read a whole
 * answer and how to read one event of a streamed answer. Everything that is
 * sent besides the conversation (model, max_tokens, system prompt, sampling)
 * comes from the route, never from the client. The provider's own error
 * text is never copied anywhere: callers keep only the status code and, for
 * errors, the error type or code (a short identifier).
 *
 * Provider modules: anthropic.c (Messages API) and openai.c (Chat
 * Completions and compatible servers).
 */
#ifndef CG_PROVIDER_H
#define CG_PROVIDER_H

#include "core/buf.h"
#include "core/jtok.h"
#include "conf/config.h"
#include "core/req.h"

#define CG_UID_LEN  32      /* hex characters of the pseudonymous user id */

/* What a stream has told us so far. */
typedef struct {
    long    input_tokens;
    long    output_tokens;
    int     have_input;
    int     have_output;
    int     done;
    char    stop_reason[32];
    char    err_type[48];       /* the provider's error type or code */
} cg_pstream_t;

typedef struct {
    const char *name;
    /* Appended to base_url when the route has no full url. */
    const char *path;
    /* The route's auth style when it sets none (cg_route_auth_t). */
    int         auth;
    void (*build)(const cg_route_t *rt, const cg_req_t *r, const char *uid,
                  int stream, cg_buf_t *out);
    /* "Name: value\n" lines other than the key header. */
    void (*headers)(const cg_route_t *rt, cg_buf_t *out);
    /* A whole answer: 0 and the text, usage and stop reason, or -1. */
    int  (*parse)(const char *body, size_t len, cg_buf_t *text,
                  cg_pstream_t *ps);
    /* One stream event: appends text to delta; returns 0 to go on, 1 at
     * the end of the answer, -1 on an error event or garbage. */
    int  (*event)(cg_pstream_t *ps, const char *event, const char *data,
                  size_t len, cg_buf_t *delta);
} cg_provider_t;

extern const cg_provider_t cg_provider_anthropic;
extern const cg_provider_t cg_provider_openai;

/* The max_tokens parameter an OpenAI route sends (a cg_route_tokparam_t,
 * never auto): auto is the newer name for OpenAI, Azure and reasoning
 * models, the older one for compatible servers. */
int cg_provider_openai_max_tokens_param(const cg_route_t *rt);

/* The wire format of a cg_provider_type_t. */
const cg_provider_t *cg_provider_find(int type);
/* "Name: value\n" lines for the route's key (in a buffer the caller must
 * wipe) and the provider's other headers. */
void cg_provider_headers(const cg_provider_t *p, const cg_route_t *rt,
                         cg_buf_t *out);
/* The conversation as comma-separated {"role","content"} objects. */
void cg_provider_add_turns(const cg_req_t *r, cg_buf_t *out);
/* The max_tokens to send: the route's, or the caller's when lower (a
 * provider-compatible call, lib/guard/compatbody.h). */
long cg_provider_max_tokens(const cg_route_t *rt, const cg_req_t *r);
/* The system prompt to send: the route's, else the caller's (which the
 * pipeline refuses on a route that fixes one), else NULL. */
const char *cg_provider_system(const cg_route_t *rt, const cg_req_t *r);
/* The request URL of the route. */
void cg_provider_url(const cg_provider_t *p, const cg_route_t *rt,
                     cg_buf_t *out);
/* Keyed hash of the user id, hex, CG_UID_LEN characters plus NUL. */
void cg_provider_user_id(const cg_secret_t *key, const char *user,
                         char out[CG_UID_LEN + 1]);
/* 1 if an error body says the account is out of quota or over its spend
 * limit (no retry can help), else 0. Reads only type and code. */
int  cg_provider_is_quota(const char *body, size_t len);
/* A token count from the provider's usage: an integer clamped to
 * 0..CG_PROVIDER_TOKENS_MAX (anything else: 0), so a broken or hostile
 * server can never make spend negative or overflow a sum. */
#define CG_PROVIDER_TOKENS_MAX  1000000000L
long cg_provider_tokens(const cg_jtok_val_t *v);
/* Copies a short identifier (error type, stop reason) if it is one. */
void cg_provider_ident(const cg_jtok_val_t *v, char *out, size_t cap);

#endif
