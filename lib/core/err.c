#include "core/err.h"

#include <stddef.h>

static const struct {
    int         status;
    const char *type;
    const char *message;
} cg_err_table[CG_E__COUNT] = {
    [CG_OK]                 = { 200, NULL, NULL },
    [CG_E_INVALID]          = { 400, "invalid_request",
                                "The request is not valid." },
    [CG_E_UNAUTHORIZED]     = { 401, "authentication_error",
                                "A valid session is required." },
    [CG_E_FORBIDDEN]        = { 403, "forbidden",
                                "This request is not allowed." },
    [CG_E_NOT_FOUND]        = { 404, "not_found", "No such endpoint." },
    [CG_E_METHOD]           = { 405, "method_not_allowed",
                                "Only POST is allowed here." },
    [CG_E_TOO_LARGE]        = { 413, "request_too_large",
                                "The request body is too large." },
    [CG_E_MEDIA_TYPE]       = { 415, "unsupported_media_type",
                                "Content-Type must be application/json." },
    [CG_E_RATE_LIMITED]     = { 429, "rate_limited",
                                "Too many requests; retry later." },
    [CG_E_INTERNAL]         = { 500, "internal_error",
                                "An internal error occurred." },
    [CG_E_UPSTREAM]         = { 502, "upstream_error",
                                "The AI provider could not answer." },
    [CG_E_UNAVAILABLE]      = { 503, "service_unavailable",
                                "The service is temporarily unavailable." },
    [CG_E_UPSTREAM_TIMEOUT] = { 504, "upstream_timeout",
                                "The AI provider did not answer in time." },
    [CG_E_CLIENT_CLOSED]    = { 499, "client_closed",
                                "The client closed the connection." },
    [CG_E_CROSS_SITE]       = { 403, "cross_site_request",
                                "Cross-site requests are not allowed." },
    [CG_E_PROMPT_REJECTED]  = { 400, "prompt_rejected",
                                "The message was rejected by the input "
                                "guard." },
    [CG_E_PII_REJECTED]     = { 400, "pii_rejected",
                                "The message contains personal data that "
                                "may not be sent." },
    /* 429, not 402: the client can retry once the period rolls over, and
     * the distinct type tells it not to retry sooner. */
    [CG_E_BUDGET]           = { 429, "budget_exceeded",
                                "The spending limit has been reached; "
                                "retry later." },
};


int
cg_err_status(cg_err_t e)
{
    return (e >= 0 && e < CG_E__COUNT) ? cg_err_table[e].status : 500;
}


const char *
cg_err_type(cg_err_t e)
{
    return (e > 0 && e < CG_E__COUNT) ? cg_err_table[e].type
                                      : "internal_error";
}


const char *
cg_err_message(cg_err_t e)
{
    return (e > 0 && e < CG_E__COUNT) ? cg_err_table[e].message
                                      : "An internal error occurred.";
}
