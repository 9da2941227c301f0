#include "http/http.h"
#include "http/compat.h"
#include "core/csv.h"
#include "who/svctoken.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CG_HTTP_DUP_MSG "A request header is sent more than once."


static int
cg_http_path_is(const char *uri, const char *path)
{
    size_t n = strlen(path);

    return uri && strncmp(uri, path, n) == 0
           && (uri[n] == '\0' || uri[n] == '?');
}


/* "application/json", optionally followed by parameters such as
 * "; charset=utf-8". Simple content types (text/plain, forms) are refused,
 * which also forces a CORS preflight on any cross-origin caller. */
static int
cg_http_is_json(const char *ct)
{
    static const char json[] = "application/json";

    if (ct == NULL || strncasecmp(ct, json, sizeof(json) - 1) != 0) {
        return 0;
    }
    ct += sizeof(json) - 1;
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return *ct == '\0' || *ct == ';';
}


/* The origin part (scheme://host[:port]) of a Referer URL. */
static size_t
cg_http_referer_origin(const char *ref)
{
    const char *p = strstr(ref, "://");

    if (p == NULL) {
        return 0;
    }
    p += 3;
    p += strcspn(p, "/?#");
    return (size_t) (p - ref);
}


/* Only a Bearer credential replaces the cookie (cg_signed_find_token); a
 * browser's cached Basic credentials ride along with it. */
static int
cg_http_bearer(const char *authorization)
{
    return authorization && strncasecmp(authorization, "Bearer ", 7) == 0;
}


static int
cg_http_bearer_service(const char *authorization)
{
    const char *p;

    if (!cg_http_bearer(authorization)) {
        return 0;
    }
    for (p = authorization + 7; *p == ' '; p++) {
    }
    return strncmp(p, CG_TOKEN_PREFIX, sizeof(CG_TOKEN_PREFIX) - 1) == 0;
}


/* Cross-site checks. Service tokens are sent server to server and never by
 * a browser on its own, so they are exempt; a browser Bearer token is not
 * ambient either, so only a cookie needs an Origin or Referer. */
static int
cg_http_same_site(const cg_conf_t *conf, cg_req_t *r)
{
    const char *allowed = conf->http.allowed_origins;
    size_t      n;

    if (cg_http_bearer_service(r->authorization)) {
        return 0;
    }
    if (r->sec_fetch_site && strcmp(r->sec_fetch_site, "cross-site") == 0) {
        return cg_req_fail(r, CG_E_CROSS_SITE, NULL,
                           "Sec-Fetch-Site: cross-site");
    }
    if (r->origin) {
        return r->cors_origin ? 0 : cg_req_fail(r, CG_E_CROSS_SITE, NULL,
                                                "Origin not in "
                                                "allowed_origins");
    }
    if (r->referer && r->referer[0]) {
        n = cg_http_referer_origin(r->referer);
        return n && cg_csv_has(allowed, r->referer, n)
               ? 0 : cg_req_fail(r, CG_E_CROSS_SITE, NULL,
                                 "Referer not in allowed_origins");
    }
    /* With no allowed origins configured no browser is served at all
     * (every Origin is refused above), so a cookie request without one is
     * a script's, as before admission existed; once origins are listed,
     * a browser's cookie request must say where it comes from. */
    if (r->cookie && !cg_http_bearer(r->authorization)
        && !conf->http.allow_missing_origin
        && allowed[0] != '\0') {
        return cg_req_fail(r, CG_E_CROSS_SITE, NULL, "cookie request with "
                           "neither Origin nor Referer");
    }
    return 0;
}


static int
cg_http_length(const cg_conf_t *conf, cg_req_t *r)
{
    const char *p;
    long        n = 0;

    if (r->content_length && r->content_length[0]) {
        for (p = r->content_length; *p; p++) {
            if (*p < '0' || *p > '9' || p - r->content_length > 15) {
                return cg_req_fail(r, CG_E_INVALID, NULL,
                                   "bad Content-Length");
            }
            n = n * 10 + (*p - '0');
        }
        if (n > conf->http.max_body) {
            return cg_req_fail(r, CG_E_TOO_LARGE, NULL,
                               "declared body of %ld bytes over max_body",
                               n);
        }
    }
    return 0;
}


/* The params a request reads, each with its name's length (counted by
 * the compiler), where it goes in cg_req_t, and, for those admission or
 * the who stage reads, the header named when one comes twice. */
#define CG_HTTP_P(p) p, sizeof(p) - 1
#define CG_HTTP_AT(f) offsetof(cg_req_t, f)
#define CG_HTTP_NONE ((size_t) -1)
static const struct {
    const char *param;
    size_t      len;
    size_t      at;         /* CG_HTTP_NONE: only watched */
    const char *header;     /* NULL: not watched */
} cg_http_params_tab[] = {
    { CG_HTTP_P("REQUEST_METHOD"),       CG_HTTP_AT(method),         NULL },
    { CG_HTTP_P("REQUEST_URI"),          CG_HTTP_AT(uri),            NULL },
    { CG_HTTP_P("REMOTE_ADDR"),          CG_HTTP_AT(remote_addr),    NULL },
    { CG_HTTP_P("HTTP_ACCEPT"),          CG_HTTP_AT(accept),         NULL },
    { CG_HTTP_P("HTTP_ORIGIN"),          CG_HTTP_AT(origin),         "Origin" },
    { CG_HTTP_P("HTTP_REFERER"),         CG_HTTP_AT(referer),        "Referer" },
    { CG_HTTP_P("HTTP_SEC_FETCH_SITE"),  CG_HTTP_AT(sec_fetch_site), "Sec-Fetch-Site" },
    { CG_HTTP_P("HTTP_COOKIE"),          CG_HTTP_AT(cookie),         "Cookie" },
    { CG_HTTP_P("HTTP_AUTHORIZATION"),   CG_HTTP_AT(authorization),  "Authorization" },
    /* Anthropic's key header, on the compatible fronts. */
    { CG_HTTP_P("HTTP_X_API_KEY"),       CG_HTTP_AT(x_api_key),      "X-API-Key" },
    { CG_HTTP_P("CONTENT_TYPE"),         CG_HTTP_AT(content_type),   "Content-Type" },
    { CG_HTTP_P("CONTENT_LENGTH"),       CG_HTTP_AT(content_length), "Content-Length" },
    /* nginx sets CONTENT_TYPE from the first line only, and passes every
     * line again as HTTP_CONTENT_TYPE: that is where a second one shows. */
    { CG_HTTP_P("HTTP_CONTENT_TYPE"),    CG_HTTP_NONE,               "Content-Type" },
    { CG_HTTP_P("HTTP_CONTENT_LENGTH"),  CG_HTTP_NONE,               "Content-Length" },
    { CG_HTTP_P("HTTP_X_FORWARDED_FOR"), CG_HTTP_AT(forwarded_for),  "X-Forwarded-For" },
    { CG_HTTP_P("SCRIPT_NAME"),          CG_HTTP_NONE,               NULL },
};
#define CG_HTTP_NPARAMS (sizeof(cg_http_params_tab) / sizeof(cg_http_params_tab[0]))
#define CG_HTTP_SCRIPT_NAME (CG_HTTP_NPARAMS - 1)


/* One pass over envp: val[i] (all NULL on entry) the first value of
 * param i, and the header of the first watched param sent twice. nginx
 * before 1.23 passes each header line as its own param, and a
 * first-match lookup would leave a second Origin or X-Forwarded-For
 * unseen. Each name is measured once and compared only with the names of
 * its length: this runs on every request, over every param (one pass,
 * where a lookup per field scanned them all a dozen times). */
static const char *
cg_http_scan(char *const *envp, const char **val)
{
    const char *eq, *dup = NULL;
    size_t      i, n;

    for (; envp && *envp; envp++) {
        if ((eq = strchr(*envp, '=')) == NULL) {
            continue;
        }
        n = (size_t) (eq - *envp);
        for (i = 0; i < CG_HTTP_NPARAMS; i++) {
            if (cg_http_params_tab[i].len != n
                || memcmp(*envp, cg_http_params_tab[i].param, n) != 0) {
                continue;
            }
            if (val[i] == NULL) {
                val[i] = eq + 1;
            } else if (dup == NULL) {
                dup = cg_http_params_tab[i].header;
            }
            break;
        }
    }
    return dup;
}


const char *
cg_http_dup_param(char *const *envp)
{
    const char *val[CG_HTTP_NPARAMS] = { NULL };

    return cg_http_scan(envp, val);
}


void
cg_http_params(cg_req_t *r, char *const *envp)
{
    const char *val[CG_HTTP_NPARAMS] = { NULL };
    size_t      i;

    r->dup_header = cg_http_scan(envp, val);
    for (i = 0; i < CG_HTTP_NPARAMS; i++) {
        if (cg_http_params_tab[i].at != CG_HTTP_NONE) {
            /* The field's own type: a const char * inside cg_req_t. */
            *(const char **) (void *) ((char *) r + cg_http_params_tab[i].at)
                = val[i];
        }
    }
    if (r->uri == NULL) {
        r->uri = val[CG_HTTP_SCRIPT_NAME];
    }
}


/* A comma outside a quoted string: two media types joined. */
static int
cg_http_list_comma(const char *v)
{
    int quoted = 0;

    for (; *v; v++) {
        if (*v == '\\' && quoted && v[1]) {
            v++;
        } else if (*v == '"') {
            quoted = !quoted;
        } else if (*v == ',' && !quoted) {
            return 1;
        }
    }
    return 0;
}


static int
cg_http_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}


/* Two credentials joined ("Bearer a, Basic b"): after a comma, a scheme
 * token and a space. Digest's "realm=..." after a comma is one. */
static int
cg_http_two_credentials(const char *v)
{
    const char *p;

    for (v = strchr(v, ','); v; v = strchr(v + 1, ',')) {
        for (p = v + 1; *p == ' ' || *p == '\t'; p++) {
        }
        if (!cg_http_tchar(*p)) {
            continue;
        }
        while (*p && cg_http_tchar(*p)) {
            p++;
        }
        if (*p == ' ') {
            return 1;
        }
    }
    return 0;
}


/* How many cookies named name the Cookie value holds. Items split on ';'
 * and on ',' (Apache joins two Cookie lines with ", "). */
static int
cg_http_cookie_count(const char *cookies, const char *name)
{
    size_t      nlen = strlen(name);
    const char *p = cookies;
    int         count = 0;

    if (nlen == 0 || p == NULL) {
        return 0;
    }
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',') {
            p++;
        }
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            count++;
        }
        p += strcspn(p, ";,");
    }
    return count;
}


/* Two items in a single-valued field: a comma, or a space between two
 * words (RFC 6454's space-separated origin list). */
static int
cg_http_two_items(const char *v)
{
    const char *sp;

    if (strchr(v, ',')) {
        return 1;
    }
    for (sp = strpbrk(v, " \t"); sp; sp = strpbrk(sp + 1, " \t")) {
        if (sp > v && sp[-1] != ' ' && sp[-1] != '\t'
            && sp[1 + strspn(sp + 1, " \t")] != '\0') {
            return 1;
        }
    }
    return 0;
}


/* Which header, joined from two by the web server or sent twice in its own
 * list syntax, is ambiguous: NULL when none. X-Forwarded-For is a list by
 * definition (RFC 9110 5.3: two lines mean the same as one joined), so
 * only its separate params (dup_header) count. */
static const char *
cg_http_joined(const cg_conf_t *conf, const cg_req_t *r)
{
    if (r->origin && cg_http_two_items(r->origin)) {
        return "Origin";
    }
    if (r->sec_fetch_site && cg_http_two_items(r->sec_fetch_site)) {
        return "Sec-Fetch-Site";
    }
    /* A URL holds no raw space, and every server joins with ", ". */
    if (r->referer && strpbrk(r->referer, " \t")
        && cg_http_two_items(r->referer)) {
        return "Referer";
    }
    if (r->authorization && cg_http_two_credentials(r->authorization)) {
        return "Authorization";
    }
    if (r->content_type && cg_http_list_comma(r->content_type)) {
        return "Content-Type";
    }
    if (r->content_length && strchr(r->content_length, ',')) {
        return "Content-Length";
    }
    if (cg_http_cookie_count(r->cookie, conf->session.cookie_name) > 1
        || cg_http_cookie_count(r->cookie, conf->session.jwt_cookie) > 1
        || cg_http_cookie_count(r->cookie, conf->session.php_cookie) > 1) {
        return "Cookie";
    }
    return NULL;
}


static int
cg_http_unambiguous(const cg_conf_t *conf, cg_req_t *r)
{
    const char *h;

    if (r->dup_header) {
        return cg_req_fail(r, CG_E_INVALID, CG_HTTP_DUP_MSG,
                           "duplicated %s header", r->dup_header);
    }
    h = cg_http_joined(conf, r);
    if (h) {
        return cg_req_fail(r, CG_E_INVALID, CG_HTTP_DUP_MSG,
                           "ambiguous %s header: more than one value", h);
    }
    return 0;
}


/* Returns 0 to go on, -1 when r failed, 1 for an answered preflight. */
int
cg_http_admit(const cg_conf_t *conf, cg_req_t *r)
{
    if (!cg_http_path_is(r->uri, conf->http.chat_path)) {
        return cg_req_fail(r, CG_E_NOT_FOUND, NULL, "unknown path");
    }
    if (cg_http_unambiguous(conf, r) != 0) {
        return -1;
    }
    if (r->origin && cg_csv_has(conf->http.allowed_origins, r->origin,
                                strlen(r->origin))) {
        r->cors_origin = r->origin;
    }
    if (r->method && strcmp(r->method, "OPTIONS") == 0 && r->origin) {
        if (r->cors_origin == NULL) {
            return cg_req_fail(r, CG_E_CROSS_SITE, NULL, "preflight from an "
                               "Origin not in allowed_origins");
        }
        r->preflight = 1;
        return 1;
    }
    r->options_ok = conf->http.allowed_origins[0] != '\0';
    if (r->method == NULL || strcmp(r->method, "POST") != 0) {
        return cg_req_fail(r, CG_E_METHOD, NULL, "method not POST");
    }
    if (cg_http_same_site(conf, r) != 0) {
        r->cors_origin = NULL;      /* never let a refused page read it */
        return -1;
    }
    return cg_http_admit_body(conf, r);
}


int
cg_http_admit_body(const cg_conf_t *conf, cg_req_t *r)
{
    if (!cg_http_is_json(r->content_type)) {
        return cg_req_fail(r, CG_E_MEDIA_TYPE, NULL,
                           "content type not application/json");
    }
    return cg_http_length(conf, r);
}


const char *
cg_http_status_line(int status)
{
    switch (status) {
    case 200: return "200 OK";
    case 204: return "204 No Content";
    case 400: return "400 Bad Request";
    case 401: return "401 Unauthorized";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 413: return "413 Content Too Large";
    case 415: return "415 Unsupported Media Type";
    case 429: return "429 Too Many Requests";
    case 502: return "502 Bad Gateway";
    case 503: return "503 Service Unavailable";
    case 504: return "504 Gateway Timeout";
    default:  return "500 Internal Server Error";
    }
}


static void
cg_http_body(const cg_req_t *r, cg_buf_t *b)
{
    if (r->err == CG_OK) {
        cg_buf_adds(b, "{\"text\":");
        cg_buf_add_json_str(b, r->text.data ? r->text.data : "",
                            r->text.len);
        cg_buf_adds(b, ",\"request_id\":\"");
        cg_buf_adds(b, r->request_id);
        cg_buf_adds(b, "\",\"usage\":{\"input_tokens\":");
        cg_buf_add_long(b, r->input_tokens);
        cg_buf_adds(b, ",\"output_tokens\":");
        cg_buf_add_long(b, r->output_tokens);
        cg_buf_adds(b, "}}\n");
        return;
    }
    cg_buf_adds(b, "{\"error\":{\"type\":\"");
    cg_buf_adds(b, cg_err_type(r->err));
    cg_buf_adds(b, "\",\"message\":");
    cg_buf_add_json_cstr(b, r->err_msg ? r->err_msg
                                       : cg_err_message(r->err));
    cg_buf_adds(b, "},\"request_id\":\"");
    cg_buf_adds(b, r->request_id);
    cg_buf_adds(b, "\"}\n");
}


static void
cg_http_cors(const cg_req_t *r, cg_buf_t *out)
{
    cg_buf_adds(out, "\r\nVary: Origin");
    if (r->cors_origin == NULL) {
        return;
    }
    cg_buf_adds(out, "\r\nAccess-Control-Allow-Origin: ");
    cg_buf_adds(out, r->cors_origin);
    cg_buf_adds(out, "\r\nAccess-Control-Allow-Credentials: true");
    if (r->preflight) {
        cg_buf_adds(out, "\r\nAccess-Control-Allow-Methods: POST"
                    "\r\nAccess-Control-Allow-Headers: Content-Type, "
                    "Authorization\r\nAccess-Control-Max-Age: 600");
    } else {
        cg_buf_adds(out, "\r\nAccess-Control-Expose-Headers: X-Request-Id, "
                    "Retry-After, RateLimit, RateLimit-Policy");
    }
}


/* RateLimit-Policy / RateLimit in the structured-field form of the IETF
 * httpapi draft (-08 and later), one item per policy, e.g.
 *   RateLimit-Policy: "rpm";q=20;w=60, "tpm";q=10000;w=60
 *   RateLimit: "rpm";r=19;t=42, "tpm";r=9800;t=42 */
static void
cg_http_ratelimit_item(cg_buf_t *out, int i, const char *name, char k1,
                       long v1)
{
    if (i) {
        cg_buf_add(out, ", ", 2);
    }
    cg_buf_addc(out, '"');
    cg_buf_adds(out, name);
    cg_buf_add(out, "\";", 2);
    cg_buf_addc(out, k1);
    cg_buf_addc(out, '=');
    cg_buf_add_long(out, v1);
}


/* Built piece by piece, never through printf: these headers go out on
 * every answer. */
static void
cg_http_ratelimit(const cg_limit_report_t *rep, cg_buf_t *out)
{
    const cg_limit_info_t *p;
    int                    i;

    if (rep->n <= 0) {
        return;
    }
    cg_buf_adds(out, "\r\nRateLimit-Policy: ");
    for (i = 0; i < rep->n; i++) {
        p = &rep->p[i];
        cg_http_ratelimit_item(out, i, p->name, 'q', p->quota);
        if (p->window > 0) {
            cg_buf_add(out, ";w=", 3);
            cg_buf_add_long(out, p->window);
        }
    }
    cg_buf_adds(out, "\r\nRateLimit: ");
    for (i = 0; i < rep->n; i++) {
        p = &rep->p[i];
        cg_http_ratelimit_item(out, i, p->name, 'r', p->remaining);
        cg_buf_add(out, ";t=", 3);
        cg_buf_add_long(out, p->reset);
    }
}


void
cg_http_headers(const cg_req_t *r, cg_buf_t *out)
{
    cg_buf_adds(out, "\r\nCache-Control: no-store"
                "\r\nX-Content-Type-Options: nosniff"
                "\r\nX-Request-Id: ");
    cg_buf_adds(out, r->request_id);
    cg_http_cors(r, out);
    if (r->retry_after > 0) {
        cg_buf_adds(out, "\r\nRetry-After: ");
        cg_buf_add_long(out, r->retry_after);
    }
    cg_http_ratelimit(&r->rate, out);
}


void
cg_http_response(const cg_req_t *r, cg_buf_t *out)
{
    cg_buf_t body;
    int      status = cg_err_status(r->err);

    if (r->api != CG_API_CHAT) {
        cg_compat_response(r, out);     /* a provider's wire format */
        return;
    }
    cg_buf_init(&body);
    if (r->preflight) {
        status = 204;
    } else {
        cg_http_body(r, &body);
    }
    cg_buf_adds(out, "Status: ");
    cg_buf_adds(out, cg_http_status_line(status));
    cg_buf_adds(out, "\r\nContent-Type: application/json");
    cg_http_headers(r, out);
    if (r->err == CG_E_METHOD) {
        cg_buf_adds(out, r->options_ok ? "\r\nAllow: POST, OPTIONS"
                                       : "\r\nAllow: POST");
    }
    cg_http_end(out, &body);
    cg_buf_free(&body);
}


void
cg_http_end(cg_buf_t *out, const cg_buf_t *body)
{
    cg_buf_adds(out, "\r\nContent-Length: ");
    cg_buf_add_long(out, (long long) body->len);
    cg_buf_adds(out, "\r\n\r\n");
    cg_buf_add(out, body->data, body->len);
    if (body->oom) {
        out->oom = 1;
    }
}


size_t
cg_http_fallback(const cg_req_t *r, char *out, size_t cap)
{
    char body[200];
    int  bn, n;

    /* The table's message is plain text, no character to escape. */
    bn = snprintf(body, sizeof(body), "{\"error\":{\"type\":\"%s\","
                  "\"message\":\"%s\"},\"request_id\":\"%s\"}\n",
                  cg_err_type(CG_E_INTERNAL), cg_err_message(CG_E_INTERNAL),
                  r->request_id);
    if (bn < 0 || (size_t) bn >= sizeof(body)) {
        return 0;
    }
    n = snprintf(out, cap, "Status: %s\r\nContent-Type: application/json"
                 "\r\nCache-Control: no-store\r\nX-Request-Id: %s"
                 "\r\nContent-Length: %d\r\n\r\n%s",
                 cg_http_status_line(500), r->request_id, bn, body);
    return n < 0 || (size_t) n >= cap ? 0 : (size_t) n;
}
