#include "who/svctoken.h"
#include "meter/budget.h"
#include "core/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>


static int
cg_tokens_name_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > CG_TOKEN_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'
              || s[i] == '-')) {
            return 0;
        }
    }
    return 1;
}


static cg_token_t *
cg_tokens_get(cg_token_t **list, const char *name)
{
    cg_token_t *t, **tail = list;

    for (t = *list; t; t = t->next) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
        tail = &t->next;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    memcpy(t->name, name, strlen(name) + 1);
    t->rpm = t->tpm = -1;
    *tail = t;
    return t;
}


static int
cg_tokens_hex(const char *hex, unsigned char out[32])
{
    unsigned v;
    int      i;

    if (strlen(hex) != 64) {
        return -1;
    }
    for (i = 0; i < 32; i++) {
        if (sscanf(hex + 2 * i, "%2x", &v) != 1
            || strchr("0123456789abcdefABCDEF", hex[2 * i]) == NULL
            || strchr("0123456789abcdefABCDEF", hex[2 * i + 1]) == NULL) {
            return -1;
        }
        out[i] = (unsigned char) v;
    }
    return 0;
}


static int
cg_tokens_set(cg_token_t *t, const char *key, const char *value)
{
    char *end;

    if (strcmp(key, "sha256") == 0) {
        t->have_sha = cg_tokens_hex(value, t->sha256) == 0;
        return t->have_sha ? 0 : -1;
    }
    if (strcmp(key, "routes") == 0) {
        free(t->routes);
        t->routes = strdup(value);
        return t->routes ? 0 : -1;
    }
    if (strcmp(key, "requests_per_minute") == 0
        || strcmp(key, "tokens_per_minute") == 0) {
        long *v = key[0] == 'r' ? &t->rpm : &t->tpm;

        *v = strtol(value, &end, 10);
        return (end != value && *end == '\0' && *v >= 0
                && *v <= 1000000000) ? 0 : -1;
    }
    if (strcmp(key, "output_links") == 0) {
        t->keep_links = strcmp(value, "keep") == 0;
        return t->keep_links || strcmp(value, "remove") == 0 ? 0 : -1;
    }
    if (strcmp(key, "budget_daily") == 0
        || strcmp(key, "budget_monthly") == 0) {
        int i = key[7] == 'm';

        t->have_budget[i] = cg_budget_money_parse(value, &t->budget[i]) == 0;
        return t->have_budget[i] ? 0 : -1;
    }
    return -2;
}


int
cg_svctoken_conf(cg_token_t **list, const char *section, const char *key,
                 const char *value, char *err, size_t errlen)
{
    const char *name = section + 6;     /* after "token " */
    cg_token_t *t;
    int         rc;

    if (!cg_tokens_name_valid(name)) {
        snprintf(err, errlen, "[%s]: a token name is 1-%d of "
                 "[A-Za-z0-9_-]", section, CG_TOKEN_NAME_MAX);
        return -1;
    }
    t = cg_tokens_get(list, name);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = cg_tokens_set(t, key, value);
    if (rc == -2) {
        snprintf(err, errlen, "unknown key [%s] %s (known: sha256, routes, "
                 "requests_per_minute, tokens_per_minute, budget_daily, "
                 "budget_monthly, output_links)", section, key);
    } else if (rc != 0) {
        snprintf(err, errlen, "[%s] %s: bad value (sha256 is 64 hex "
                 "digits, *_per_minute 0-1000000000, budget_* dollars such "
                 "as 5 or 0.25, output_links remove or keep)", section, key);
    }
    return rc == 0 ? 0 : -1;
}


int
cg_svctoken_check(const cg_token_t *list, char *err, size_t errlen)
{
    for (; list; list = list->next) {
        if (!list->have_sha) {
            snprintf(err, errlen, "[token %s] sha256 is required (the "
                     "token's SHA-256 in hex: printf %%s TOKEN | "
                     "sha256sum)", list->name);
            return -1;
        }
    }
    return 0;
}


const cg_token_t *
cg_svctoken_find(const cg_token_t *list, const char *tok, size_t n)
{
    unsigned char     h[32];
    unsigned int      hl = 0;
    const cg_token_t *found = NULL;

    if (n <= sizeof(CG_TOKEN_PREFIX) - 1 || n > 512
        || EVP_Digest(tok, n, h, &hl, EVP_sha256(), NULL) != 1) {
        return NULL;
    }
    /* Every hash is compared, so the time taken does not say which one
     * (or whether any) matched. */
    for (; list; list = list->next) {
        if (CRYPTO_memcmp(h, list->sha256, sizeof(h)) == 0) {
            found = list;
        }
    }
    return found;
}


int
cg_svctoken_route_allowed(const cg_token_t *t, const char *route)
{
    return cg_csv_has(t->routes, "*", 1)
           || cg_csv_has(t->routes, route, strlen(route));
}


void
cg_svctoken_free(cg_token_t *list)
{
    cg_token_t *next;

    for (; list; list = next) {
        next = list->next;
        free(list->routes);
        free(list);
    }
}
