/*
 * req: the request context that flows through every stage.
 *
 * The worker fills the "from the web server" part, each stage reads what it
 * needs and either passes or fails the request with cg_req_fail(); nothing
 * else decides the response. The client sees only r->err (as status, type
 * and a fixed message); r->reason is for the operator's usage log and is
 * always text that chatgate wrote itself, never provider or user text.
 */
#ifndef CG_REQ_H
#define CG_REQ_H

#include <stddef.h>
#include "core/buf.h"
#include "core/err.h"
#include "core/findings.h"
#include "core/reqparts.h"

/* Which wire format the request came in and is answered in: chatgate's
 * own (/api/chat) or a provider's (lib/http/compat.h, issue 20). */
typedef enum {
    CG_API_CHAT = 0,
    CG_API_ANTHROPIC,           /* <prefix>/v1/messages */
    CG_API_OPENAI               /* <prefix>/v1/chat/completions */
} cg_api_t;

/* One turn of the conversation; text owned by the request. */
typedef struct {
    int          assistant;     /* 0: user, 1: assistant */
    char        *text;
    size_t       len;
} cg_msg_t;

typedef struct {
    /* From the web server; pointers into FastCGI params, not owned. */
    const char  *method;
    const char  *uri;
    const char  *content_type;
    const char  *content_length;
    const char  *cookie;
    const char  *authorization;
    const char  *remote_addr;   /* the client's, once the who stage ran */
    const char  *origin;
    const char  *referer;
    const char  *sec_fetch_site;
    const char  *forwarded_for;
    const char  *accept;
    const char  *x_api_key;     /* Anthropic's key header */
    const char  *dup_header;    /* a header read below sent twice as
                                   separate params (cg_http_dup_param) */
    const char  *body;
    size_t       body_len;

    /* Filled by the stages. */
    char         request_id[40];
    char         user[CG_USER_MAX + 1];
    cg_session_t sess;          /* how user was recognised */
    char         client_addr[64];
    const char  *cors_origin;   /* allowed Origin to echo, or NULL */
    int          preflight;     /* an allowed OPTIONS: answer 204 */
    int          options_ok;    /* preflights answered (Allow names it) */
    cg_err_t     err;
    const char  *err_msg;       /* client message; NULL: the table's */
    char         err_text[128];  /* a client message chatgate composed
                                   (err_msg may point here); never holds
                                   client input */
    char         reason[160];   /* operator's reason, for the log */
    int          retry_after;   /* seconds, for 429/503; 0: none */
    const char  *store_failed;  /* a stage's counter the store did not
                                   answer ("pre-auth"), for the meter to
                                   alert and log; NULL: none */
    cg_limit_report_t rate;     /* figures for the RateLimit headers */
    cg_limit_hold_t  limit_hold;
    cg_limits_t      route_limits;  /* the chosen route's own (ns NULL:
                                       none), given back in finish */
    cg_limit_hold_t  route_hold;
    cg_budget_hold_t budget_hold;
    long long    cost_micro_usd; /* -1: no price known */
    char        *message;       /* the last user message (owned) */
    size_t       message_len;
    cg_msg_t    *msgs;          /* the whole conversation (owned) */
    size_t       nmsgs;
    size_t       msgs_bytes;    /* bytes of all message texts */
    int          stream;        /* the client asked for SSE */
    char         route_req[72]; /* route the client named; "" none */

    /* Provider-compatible endpoints (lib/http/compat.h). */
    cg_api_t     api;
    const char  *service_token; /* set: the only credential the who stage
                                   may use (never a cookie); not owned */
    char         model_req[128];/* the model the caller named */
    long         max_tokens;    /* the caller's cap; 0: the route's */
    int          include_usage; /* OpenAI stream_options.include_usage */
    char        *system;        /* the caller's system prompt (owned) */
    size_t       system_len;

    /* The provider call, for the usage line. */
    const char  *route;         /* route that answered (or was tried) */
    const char  *provider;
    const char  *model;
    const char  *key_id;
    const char  *fallback_from; /* first route, when a fallback answered */
    int          retries;
    int          attempts;      /* provider calls made */
    /* Billed by attempts given up for a retry or a fallback (the last
     * attempt's own usage is input_tokens / output_tokens until the
     * meter settles, which adds these in). */
    long         prior_input_tokens;
    long         prior_output_tokens;
    long long    prior_cost_micro_usd;
    int          usage_estimated;
    int          streamed;      /* SSE headers went out to the client */
    char         stop_reason[32];
    cg_buf_t     text;          /* the answer */
    long         input_tokens;
    long         output_tokens;
    double       t_start;       /* monotonic seconds */
    double       upstream_ms;
    int          upstream_status;
    cg_findings_t findings;     /* what the stages noticed (usage log's
                                   "flags") */
} cg_req_t;

void cg_req_init(cg_req_t *r, double now);
/* Wipes and frees what the request owns (the messages, the system prompt)
 * and wipes the answer r->text, kept for the next request; forgets the
 * body, which is the caller's. Part of cg_chat_end(), the one end of a
 * request. */
void cg_req_clear(cg_req_t *r);
void cg_req_destroy(cg_req_t *r);
/* Fails the request: err decides the status; msg (a fixed string or NULL)
 * the client message; the printf-style reason goes to the log only. */
int  cg_req_fail(cg_req_t *r, cg_err_t err, const char *msg,
                 const char *reason_fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
