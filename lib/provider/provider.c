#include "provider/provider.h"
#include "who/signed.h"

#include <string.h>

#include <openssl/evp.h>


const cg_provider_t *
cg_provider_find(int type)
{
    return type == CG_PROVIDER_OPENAI ? &cg_provider_openai
                                      : &cg_provider_anthropic;
}


void
cg_provider_headers(const cg_provider_t *p, const cg_route_t *rt,
                    cg_buf_t *out)
{
    int auth = rt->auth != CG_AUTH_DEFAULT ? rt->auth : p->auth;

    if (auth == CG_AUTH_BEARER) {
        cg_buf_adds(out, "Authorization: Bearer ");
    } else if (auth == CG_AUTH_API_KEY) {
        cg_buf_adds(out, "api-key: ");
    } else {
        cg_buf_adds(out, "x-api-key: ");
    }
    cg_buf_add(out, rt->api_key.data, rt->api_key.len);
    cg_buf_adds(out, "\n");
    p->headers(rt, out);
}


void
cg_provider_add_turns(const cg_req_t *r, cg_buf_t *out)
{
    size_t i;

    for (i = 0; i < r->nmsgs; i++) {
        cg_buf_adds(out, i ? ",{\"role\":" : "{\"role\":");
        cg_buf_adds(out, r->msgs[i].assistant ? "\"assistant\""
                                              : "\"user\"");
        cg_buf_adds(out, ",\"content\":");
        cg_buf_add_json_str(out, r->msgs[i].text, r->msgs[i].len);
        cg_buf_addc(out, '}');
    }
}


long
cg_provider_max_tokens(const cg_route_t *rt, const cg_req_t *r)
{
    return r->max_tokens > 0 && r->max_tokens < rt->max_tokens
           ? r->max_tokens : rt->max_tokens;
}


const char *
cg_provider_system(const cg_route_t *rt, const cg_req_t *r)
{
    if (rt->system_prompt_text && rt->system_prompt_text[0]) {
        return rt->system_prompt_text;
    }
    return r->system && r->system[0] ? r->system : NULL;
}


void
cg_provider_url(const cg_provider_t *p, const cg_route_t *rt, cg_buf_t *out)
{
    size_t n;

    if (rt->url[0]) {
        cg_buf_adds(out, rt->url);
        return;
    }
    n = strlen(rt->base_url);
    while (n && rt->base_url[n - 1] == '/') {
        n--;
    }
    cg_buf_add(out, rt->base_url, n);
    cg_buf_adds(out, p->path);
}


/* The user id costs an HMAC and is the same for every request of a user
 * under one key: a thread keeps the last few (key, user) pairs it hashed.
 * The key is matched on its bytes, so a reload that changes it misses and
 * no id from the old key is ever sent. */
#define CG_UID_CACHE   8
#define CG_UID_KEYMAX  128

typedef struct {
    size_t        klen;             /* 0: an empty slot */
    unsigned char key[CG_UID_KEYMAX];
    char          user[CG_USER_MAX + 1];
    char          uid[CG_UID_LEN + 1];
} cg_uid_slot_t;

static _Thread_local cg_uid_slot_t cg_uid_cache[CG_UID_CACHE];
static _Thread_local unsigned      cg_uid_next;


static void
cg_provider_uid_hash(const cg_secret_t *key, const char *user, size_t ulen,
                     char out[CG_UID_LEN + 1])
{
    unsigned char mac[32];
    unsigned int  len = sizeof(mac), i;

    out[0] = '\0';
    if (cg_signed_hmac(key->data, key->len, user, ulen, mac) != 0) {
        return;
    }
    for (i = 0; i < len && i * 2 < CG_UID_LEN; i++) {
        out[i * 2] = "0123456789abcdef"[mac[i] >> 4];
        out[i * 2 + 1] = "0123456789abcdef"[mac[i] & 15];
    }
    out[i * 2] = '\0';
}


void
cg_provider_user_id(const cg_secret_t *key, const char *user,
                    char out[CG_UID_LEN + 1])
{
    size_t         ulen = strlen(user);
    cg_uid_slot_t *c;
    unsigned       i;

    if (key->len == 0 || key->len > CG_UID_KEYMAX || ulen > CG_USER_MAX) {
        cg_provider_uid_hash(key, user, ulen, out);
        return;
    }
    for (i = 0; i < CG_UID_CACHE; i++) {
        c = &cg_uid_cache[i];
        if (c->klen == key->len && strcmp(c->user, user) == 0
            && memcmp(c->key, key->data, key->len) == 0) {
            memcpy(out, c->uid, CG_UID_LEN + 1);
            return;
        }
    }
    cg_provider_uid_hash(key, user, ulen, out);
    if (out[0] == '\0') {
        return;                     /* a failed hash is not remembered */
    }
    c = &cg_uid_cache[cg_uid_next++ % CG_UID_CACHE];
    memcpy(c->key, key->data, key->len);
    c->klen = key->len;
    memcpy(c->user, user, ulen + 1);
    memcpy(c->uid, out, CG_UID_LEN + 1);
}


long
cg_provider_tokens(const cg_jtok_val_t *v)
{
    long long n;

    if (cg_jtok_int(v, &n) != 0) {
        return 0;
    }
    return n < 0 ? 0 : n > CG_PROVIDER_TOKENS_MAX ? CG_PROVIDER_TOKENS_MAX
                                                  : (long) n;
}


void
cg_provider_ident(const cg_jtok_val_t *v, char *out, size_t cap)
{
    char   s[64];
    size_t i;

    /* The text up to a NUL, as json-c showed it; too long: not one. */
    if (cap > sizeof(s)) {
        cap = sizeof(s);
    }
    if (cg_jtok_cstr(v, s, cap) != 0) {
        return;
    }
    for (i = 0; s[i]; i++) {
        if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z')
            && !(s[i] >= '0' && s[i] <= '9') && s[i] != '_'
            && s[i] != '-' && s[i] != '.') {
            return;     /* not an identifier: keep nothing of it */
        }
    }
    memcpy(out, s, i + 1);
}


int
cg_provider_is_quota(const char *body, size_t len)
{
    static const char *const quota[] = { "insufficient_quota",
        "enforced_spend_limit_reached", "billing_hard_limit_reached",
        "quota_exceeded", NULL };
    static const char *const path[] = { "error.type", "error.code", NULL };
    const char *const       *q;
    cg_jtok_val_t            v[2];
    char                     id[48];
    size_t                   i;

    if (cg_jtok_pick(body, len, path, v) != 0) {
        return 0;
    }
    for (i = 0; i < 2; i++) {
        id[0] = '\0';
        cg_provider_ident(&v[i], id, sizeof(id));
        for (q = quota; *q; q++) {
            if (strcmp(id, *q) == 0) {
                return 1;
            }
        }
    }
    return 0;
}
