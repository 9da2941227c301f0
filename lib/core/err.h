/*
 * err: the one table of request failures.
 *
 * Every stage fails a request with a cg_err_t; cg_err_status() and
 * cg_err_type() turn it into the HTTP status and the stable "type" string of
 * the JSON error body. The client-facing message is always a fixed string
 * from this table or from the stage's own code, never text that came from
 * the provider, the store or the operating system (those go to the log).
 */
#ifndef CG_ERR_H
#define CG_ERR_H

typedef enum {
    CG_OK = 0,
    CG_E_INVALID,           /* 400 invalid_request */
    CG_E_UNAUTHORIZED,      /* 401 authentication_error */
    CG_E_FORBIDDEN,         /* 403 forbidden */
    CG_E_NOT_FOUND,         /* 404 not_found */
    CG_E_METHOD,            /* 405 method_not_allowed */
    CG_E_TOO_LARGE,         /* 413 request_too_large */
    CG_E_MEDIA_TYPE,        /* 415 unsupported_media_type */
    CG_E_RATE_LIMITED,      /* 429 rate_limited */
    CG_E_INTERNAL,          /* 500 internal_error */
    CG_E_UPSTREAM,          /* 502 upstream_error */
    CG_E_UNAVAILABLE,       /* 503 service_unavailable */
    CG_E_UPSTREAM_TIMEOUT,  /* 504 upstream_timeout */
    CG_E_CLIENT_CLOSED,     /* 499 client_closed: logged, never sent */
    CG_E_CROSS_SITE,        /* 403 cross_site_request */
    CG_E_PROMPT_REJECTED,   /* 400 prompt_rejected (input guard) */
    CG_E_PII_REJECTED,      /* 400 pii_rejected (pii block) */
    CG_E_BUDGET,            /* 429 budget_exceeded */
    CG_E__COUNT
} cg_err_t;

int         cg_err_status(cg_err_t e);
const char *cg_err_type(cg_err_t e);
/* The default client message for e; a stage may give a more precise one. */
const char *cg_err_message(cg_err_t e);

#endif
