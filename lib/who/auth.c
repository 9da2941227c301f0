#include "who/auth.h"
#include "core/csv.h"
#include "who/phpser.h"
#include "who/jwt.h"
#include "who/phpstore.h"
#include "who/svctoken.h"
#include "core/clock.h"
#include "core/kbuf.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A failure counter lives for its minute and the next one. */
#define CG_AUTH_FAIL_TTL  120

struct cg_auth_s {
    const cg_conf_t *conf;
    cg_jwt_conf_t    jwt;
    cg_phpmc_t      *phpmc;
    uid_t            php_owner;
    cg_phpser_t      php_ser;
    cg_buf_t         data;
};

/* What a verifier saw: 0 accepted, 1 no credential of its kind, -1 refused
 * (why says why). */
typedef int (*cg_auth_verify_pt)(cg_auth_t *a, cg_req_t *r,
                                 const char *bearer, time_t now, char *why,
                                 size_t whylen);


static int
cg_auth_owner(const char *name, uid_t *uid)
{
    struct passwd *pw;
    char          *end;
    long           v;

    if (name[0] == '\0') {
        *uid = geteuid();
        return 0;
    }
    v = strtol(name, &end, 10);
    if (end != name && *end == '\0' && v >= 0) {
        *uid = (uid_t) v;
        return 0;
    }
    pw = getpwnam(name);
    if (pw == NULL) {
        return -1;
    }
    *uid = pw->pw_uid;
    return 0;
}


cg_auth_t *
cg_auth_new(const cg_conf_t *conf, char *err, size_t errlen)
{
    cg_auth_t *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->conf = conf;
    a->jwt.key = conf->session.jwt_secret.data;
    a->jwt.key_len = conf->session.jwt_secret.len;
    a->jwt.issuer = conf->session.jwt_issuer;
    a->jwt.audience = conf->session.jwt_audience;
    a->jwt.user_claim = conf->session.jwt_user_claim;
    a->jwt.leeway = conf->session.jwt_leeway;
    a->php_ser = (cg_phpser_t) conf->session.php_serializer;
    if (cg_auth_owner(conf->session.php_file_owner, &a->php_owner) != 0) {
        snprintf(err, errlen, "[session] php_file_owner: no such user");
        cg_auth_free(a);
        return NULL;
    }
    if (cg_conf_list_has(&conf->session.mode, CG_SESSION_PHP_MEMCACHED)) {
        a->phpmc = cg_phpstore_mc_new(conf->session.php_mc_servers,
                                      conf->session.php_mc_prefix,
                                      conf->memcached.timeout_ms, err, errlen);
        if (a->phpmc == NULL) {
            cg_auth_free(a);
            return NULL;
        }
    }
    return a;
}


void
cg_auth_free(cg_auth_t *a)
{
    if (a) {
        cg_phpstore_mc_free(a->phpmc);
        cg_buf_free(&a->data);
        free(a);
    }
}


static int
cg_auth_cookie(const cg_req_t *r, const char *name, const char **tok,
               size_t *n)
{
    return name[0] && r->cookie
           && cg_signed_find_token(NULL, r->cookie, name, tok, n) == 0;
}


static int
cg_auth_signed(cg_auth_t *a, cg_req_t *r, const char *bearer, time_t now,
               char *why, size_t whylen)
{
    const char    *tok = bearer;
    size_t         n = bearer ? strlen(bearer) : 0;
    cg_token_rc_t  rc;

    if (bearer ? strncmp(bearer, "v1.", 3) != 0
                 && strncmp(bearer, "v2.", 3) != 0
               : !cg_auth_cookie(r, a->conf->session.cookie_name, &tok, &n)) {
        return 1;
    }
    rc = cg_signed_verify_ring(a->conf->session.keys, a->conf->session.nkeys,
                               tok, n, now, r->user);
    if (rc == CG_TOKEN_OK) {
        return 0;
    }
    snprintf(why, whylen, "signed: %s", cg_signed_reason(rc));
    return -1;
}


static int
cg_auth_jwt(cg_auth_t *a, cg_req_t *r, const char *bearer, time_t now,
            char *why, size_t whylen)
{
    const char  *tok = bearer;
    size_t       n = bearer ? strlen(bearer) : 0;
    cg_jwt_rc_t  rc;

    if (bearer ? strncmp(bearer, "v1.", 3) == 0
                 || strncmp(bearer, "v2.", 3) == 0
               : !cg_auth_cookie(r, a->conf->session.jwt_cookie, &tok, &n)) {
        return 1;
    }
    rc = cg_jwt_verify(&a->jwt, tok, n, now, r->user);
    if (rc == CG_JWT_OK) {
        return 0;
    }
    snprintf(why, whylen, "jwt: %s", cg_jwt_reason(rc));
    return -1;
}


/* Both PHP stores: fetch the data, then take the user variable from it. */
static int
cg_auth_php(cg_auth_t *a, cg_req_t *r, const char *bearer, time_t now,
            char *why, size_t whylen, int files)
{
    const char      *sid;
    size_t           n;
    cg_php_rc_t      rc;
    cg_phpsess_rc_t  prc;

    if (bearer || !cg_auth_cookie(r, a->conf->session.php_cookie, &sid, &n)) {
        return 1;
    }
    rc = files ? cg_phpstore_file_read(a->conf->session.php_save_path,
                                       a->php_owner,
                                       a->conf->session.php_max_lifetime,
                                       sid, n, now, &a->data)
               : cg_phpstore_mc_read(a->phpmc, sid, n, &a->data);
    if (rc != CG_PHP_OK) {
        snprintf(why, whylen, "%s: %s", files ? "php-files"
                 : "php-memcached", cg_phpstore_reason(rc));
        return -1;
    }
    prc = cg_phpser_get(a->data.data ? a->data.data : "", a->data.len,
                        a->php_ser, a->conf->session.php_user_key, r->user,
                        CG_USER_MAX + 1);
    if (prc == CG_PHPSESS_FOUND
        && !cg_signed_user_valid(r->user, strlen(r->user))) {
        prc = CG_PHPSESS_BAD_VALUE;
    }
    if (prc != CG_PHPSESS_FOUND) {
        snprintf(why, whylen, "%s: %s", files ? "php-files"
                 : "php-memcached", cg_phpser_reason(prc));
        return -1;
    }
    return 0;
}


static int
cg_auth_php_files(cg_auth_t *a, cg_req_t *r, const char *bearer, time_t now,
                  char *why, size_t whylen)
{
    return cg_auth_php(a, r, bearer, now, why, whylen, 1);
}


static int
cg_auth_php_mc(cg_auth_t *a, cg_req_t *r, const char *bearer, time_t now,
               char *why, size_t whylen)
{
    return cg_auth_php(a, r, bearer, now, why, whylen, 0);
}


/* Indexed by cg_session_mode_t. */
static const struct {
    const char        *name;
    cg_auth_verify_pt  verify;
} cg_auth_modes[] = {
    [CG_SESSION_SIGNED] = { "signed", cg_auth_signed },
    [CG_SESSION_JWT] = { "jwt", cg_auth_jwt },
    [CG_SESSION_PHP_FILES] = { "php-files", cg_auth_php_files },
    [CG_SESSION_PHP_MEMCACHED] = { "php-memcached", cg_auth_php_mc },
};


static int
cg_auth_token(cg_auth_t *a, cg_req_t *r, const char *bearer, char *why,
              size_t whylen)
{
    const cg_token_t *t;

    t = cg_svctoken_find(a->conf->session.tokens, bearer, strlen(bearer));
    if (t == NULL) {
        snprintf(why, whylen, "service token not configured");
        return -1;
    }
    snprintf(r->user, sizeof(r->user), "token:%s", t->name);
    r->sess.token = t;
    r->sess.via = "token";
    return 0;
}


/* Runs verifier mode (a cg_session_mode_t); returns as a verifier does. */
static int
cg_auth_run(cg_auth_t *a, cg_req_t *r, int mode, const char *bearer,
            time_t now, char *why, size_t whylen)
{
    if (mode < 0 || (size_t) mode >= sizeof(cg_auth_modes)
                                     / sizeof(cg_auth_modes[0])) {
        return 1;
    }
    r->sess.via = cg_auth_modes[mode].name;
    return cg_auth_modes[mode].verify(a, r, bearer, now, why, whylen);
}


static int
cg_auth_verify(cg_auth_t *a, cg_req_t *r, time_t now, char *why,
               size_t whylen)
{
    const cg_conf_list_t *modes = &a->conf->session.mode;
    const char           *bearer = NULL;
    char                  msg[128];
    int                   i, rc, failed = 0;

    if (r->service_token) {
        /* A provider-compatible endpoint: a service token or nothing. */
        return cg_auth_token(a, r, r->service_token, why, whylen);
    }
    if (r->authorization && strncasecmp(r->authorization, "Bearer ", 7) == 0) {
        for (bearer = r->authorization + 7; *bearer == ' '; bearer++) {
        }
        if (strncmp(bearer, CG_TOKEN_PREFIX, 4) == 0) {
            return cg_auth_token(a, r, bearer, why, whylen);
        }
    }
    snprintf(why, whylen, "no session credential");
    for (i = 0; i < modes->n; i++) {
        rc = cg_auth_run(a, r, modes->v[i], bearer, now, msg, sizeof(msg));
        if (rc == 0) {
            return 0;
        }
        if (rc < 0 && !failed++) {
            snprintf(why, whylen, "%s", msg);   /* the first refusal */
        }
    }
    r->user[0] = '\0';
    r->sess.via = NULL;
    return -1;
}


static int
cg_auth_addr_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 45) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (strchr("0123456789abcdefABCDEF.:", s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}


/* The item of a comma-separated list that ends at end (exclusive), spaces
 * trimmed; *start is where its comma (or the list) begins. */
static void
cg_auth_xff_prev(const char *list, const char *end, const char **start,
                 const char **item, size_t *len)
{
    const char *p = end, *e;

    while (p > list && p[-1] != ',') {
        p--;
    }
    *start = p > list ? p - 1 : list;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    e = end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    *item = p;
    *len = (size_t) (e - p);
}


/* X-Forwarded-For is walked from the right, through every hop: each
 * trusted proxy appended the address it saw, so the first address from
 * the right that is not a trusted proxy is the client. Whatever stands to
 * its left was written by the client and is never read: a client that
 * sends many forged hops cannot push the real one out of reach. */
void
cg_auth_client_addr(const cg_conf_t *conf, const cg_req_t *r, char *out,
                    size_t cap)
{
    const char *addr = r->remote_addr ? r->remote_addr : "", *end, *start;
    size_t      len = strlen(addr);

    if (r->forwarded_for
        && cg_csv_has(conf->http.trusted_proxies, addr, len)) {
        end = r->forwarded_for + strlen(r->forwarded_for);
        while (end > r->forwarded_for) {
            cg_auth_xff_prev(r->forwarded_for, end, &start, &addr, &len);
            end = start;
            if (len > 0
                && !cg_csv_has(conf->http.trusted_proxies, addr, len)) {
                break;
            }
        }
    }
    if (!cg_auth_addr_ok(addr, len) || len >= cap) {
        addr = "invalid";
        len = 7;
    }
    memcpy(out, addr, len);
    out[len] = '\0';
}


/* Recent pre-auth counts, per thread (a worker's event loop): with
 * [limits] auth_failures_cache_ms an address's count is read from the
 * store at most that often; this worker's own failures update it at once.
 * A small direct-mapped table: a collision only costs a store read. */
#define CG_AUTH_CACHE  256

typedef struct {
    char        addr[64];
    long long   minute;
    long        count;
    double      at;             /* monotonic, when read or counted */
} cg_auth_cache_t;

static _Thread_local cg_auth_cache_t cg_auth_cache[CG_AUTH_CACHE];


static cg_auth_cache_t *
cg_auth_cache_slot(const char *addr)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *addr; addr++) {
        h = (h ^ (unsigned char) *addr) * 1099511628211ULL;
    }
    return &cg_auth_cache[h % CG_AUTH_CACHE];
}


/* The cached count, or -1 when there is none fresh enough. */
static long
cg_auth_cache_get(int ttl_ms, const char *addr, long long minute)
{
    cg_auth_cache_t *c = cg_auth_cache_slot(addr);

    if (ttl_ms <= 0 || c->minute != minute || strcmp(c->addr, addr) != 0
        || (cg_clock_mono() - c->at) * 1000.0 >= ttl_ms) {
        return -1;
    }
    return c->count;
}


static void
cg_auth_cache_put(int ttl_ms, const char *addr, long long minute, long n)
{
    cg_auth_cache_t *c = cg_auth_cache_slot(addr);

    if (ttl_ms <= 0 || n < 0 || strlen(addr) >= sizeof(c->addr)) {
        return;
    }
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    c->minute = minute;
    c->count = n;
    c->at = cg_clock_mono();
}


/* The pre-auth counter: delta 0 reads it, 1 counts a failure. Reading
 * never creates the key: only failed authentications make a counter, so
 * traffic from many addresses with valid credentials (or none yet) cannot
 * fill the store and crowd out the counters of users who log in. Returns
 * the count, or -1 when the store did not answer (the caller applies
 * [limits] on_store_error). */
static long
cg_auth_failures(const cg_auth_t *a, cg_store_t *st, const char *addr,
                 time_t now, int delta)
{
    int         ttl = a->conf->session.auth_failures_cache_ms;
    long long   minute = (long long) now / CG_MINUTE_S;
    char        key[96];
    const char *keys[1];
    size_t      lens[1], n;
    cg_kbuf_t   k;
    long        cached;
    uint64_t    v = 0;

    if (delta == 0 && (cached = cg_auth_cache_get(ttl, addr, minute)) >= 0) {
        return cached;
    }
    cg_kbuf_init(&k, key, sizeof(key));
    cg_kbuf_str(&k, CG_STORE_SPARE_PREFIX);
    cg_kbuf_str(&k, addr);
    cg_kbuf_chr(&k, ':');
    cg_kbuf_ll(&k, minute);
    n = cg_kbuf_end(&k);
    if (st == NULL || n == 0) {
        return -1;
    }
    keys[0] = key;
    lens[0] = n;
    if (delta == 0) {
        if (cg_store_get_multi(st, keys, lens, 1, &v) != 0) {
            return -1;
        }
    } else if (cg_store_incr(st, key, n, (uint64_t) delta,
                             CG_AUTH_FAIL_TTL, &v) != 0) {
        return -1;
    }
    cg_auth_cache_put(ttl, addr, minute, (long) v);
    return (long) v;
}


/* A failed authentication the pre-auth counter could not see (read or
 * count): [limits] on_store_error decides, as for any rate limit. deny
 * refuses it 503, so that guessing cannot go on uncounted while the store
 * is away; allow and local answer 401 uncounted (local keeps no
 * per-worker copy of this counter). An authentication that succeeds is
 * not refused for it: the limits and budget stages decide about it. */
static int
cg_auth_uncounted(const cg_auth_t *a, cg_store_t *st, cg_req_t *r,
                  const char *why)
{
    r->store_failed = "pre-auth";
    if (a->conf->limits.on_store_error != CG_FAIL_DENY) {
        return cg_req_fail(r, CG_E_UNAUTHORIZED, NULL, "%s", why);
    }
    r->retry_after = 5;
    return cg_req_fail(r, CG_E_UNAVAILABLE, NULL, "pre-auth fail-closed: %s",
                       st ? cg_store_error(st) : "no store");
}


int
cg_auth_who(cg_auth_t *a, cg_store_t *st, cg_req_t *r, time_t now)
{
    long limit = a->conf->session.auth_failures_per_minute, fails = 0;
    char why[160];

    cg_auth_client_addr(a->conf, r, r->client_addr, sizeof(r->client_addr));
    r->remote_addr = r->client_addr;
    if (limit > 0) {
        fails = cg_auth_failures(a, st, r->client_addr, now, 0);
        if (fails < 0) {
            r->store_failed = "pre-auth";
        }
        if (fails >= limit) {
            r->retry_after = (int) (CG_MINUTE_S - now % CG_MINUTE_S);
            return cg_req_fail(r, CG_E_RATE_LIMITED, NULL,
                               "pre-auth limit: %ld failed authentications "
                               "from %s this minute", fails, r->client_addr);
        }
    }
    if (cg_auth_verify(a, r, now, why, sizeof(why)) == 0) {
        return 0;
    }
    if (limit > 0 && (fails < 0
                      || cg_auth_failures(a, st, r->client_addr, now, 1) < 0)) {
        return cg_auth_uncounted(a, st, r, why);
    }
    return cg_req_fail(r, CG_E_UNAUTHORIZED, NULL, "%s", why);
}


int
cg_auth_route_allowed(const cg_session_t *s, const char *route)
{
    return s->token == NULL || cg_svctoken_route_allowed(s->token, route);
}
