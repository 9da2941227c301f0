#include "guard/guardset.h"
#include "core/iowait.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of a whole answer the output guard reads between two yields. */
#define CG_GS_SLICE  (64 * 1024)
#define CG_GS_KEY_LABEL  "chatgate pii pseudonym key v1"

/* Built once from the config and read-only after: the compiled patterns
 * (pcre2 code is shareable; match data is made per call), the PII key and
 * the output guard's conf with the secrets' encodings. Counted, so that
 * whichever guardset goes last frees it. */
struct cg_guardset_shared_s {
    cg_textguard_t     *tg;
    cg_pii_t           *pii;
    cg_outguard_conf_t *ogc;
    atomic_uint         refs;
};

/* ---- building ---- */

static int
cg_gs_file(const char *ref, const char *what, char *err, size_t errlen)
{
    if (ref[0] != '\0' && strncmp(ref, "file:/", 6) != 0) {
        snprintf(err, errlen, "%s must be empty or file:/path", what);
        return -1;
    }
    return ref[0] != '\0';
}


static int
cg_gs_input(cg_guardset_shared_t *gs, const cg_conf_t *conf, char *err,
            size_t errlen)
{
    cg_textguard_limits_t lim;
    char                  msg[300];
    int                   f;

    lim.max_bytes = conf->guard.max_bytes;
    lim.max_chars = conf->input.max_chars;
    lim.max_tokens = conf->guard.max_tokens;
    lim.refuse_invisible = conf->guard.refuse_invisible;
    gs->tg = cg_textguard_new(&lim);
    if (gs->tg == NULL
        || cg_textguard_add_defaults(gs->tg,
                                     (cg_guard_action_t) conf->guard.injection,
                                     msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[guard] out of memory");
        return -1;
    }
    f = cg_gs_file(conf->guard.patterns, "[guard] injection_patterns", err,
                   errlen);
    if (f > 0 && cg_textguard_load(gs->tg, conf->guard.patterns + 5, msg,
                                   sizeof(msg)) != 0) {
        snprintf(err, errlen, "[guard] injection_patterns: %s", msg);
        return -1;
    }
    return f < 0 ? -1 : 0;
}


static int
cg_gs_pii_key(const cg_conf_t *conf, unsigned char key[32], char *err,
              size_t errlen)
{
    cg_secret_t  s;
    unsigned int n = 0;
    char         msg[300];

    if (conf->pii.key_ref[0] == '\0') {
        /* A key of its own, derived so that knowing a placeholder says
         * nothing about the session secret. */
        HMAC(EVP_sha256(), conf->session.secret.data,
             (int) conf->session.secret.len,
             (const unsigned char *) CG_GS_KEY_LABEL,
             strlen(CG_GS_KEY_LABEL), key, &n);
        return n == 32 ? 0 : -1;
    }
    if (cg_secret_load(&s, conf->pii.key_ref, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[pii] key: %s", msg);
        return -1;
    }
    HMAC(EVP_sha256(), s.data, (int) s.len,
         (const unsigned char *) CG_GS_KEY_LABEL, strlen(CG_GS_KEY_LABEL),
         key, &n);
    cg_secret_free(&s);
    return n == 32 ? 0 : -1;
}


static int
cg_gs_pii(cg_guardset_shared_t *gs, const cg_conf_t *conf, char *err,
          size_t errlen)
{
    static const char *names[] = { "email", "phone", "card", "iban", "ssn",
                                   "ip" };
    const int          acts[] = { conf->pii.email, conf->pii.phone,
                                  conf->pii.card, conf->pii.iban,
                                  conf->pii.ssn, conf->pii.ip };
    unsigned char      key[32];
    char               msg[300];
    size_t             i;
    int                f;

    if (cg_gs_pii_key(conf, key, err, errlen) != 0) {
        return -1;
    }
    gs->pii = cg_pii_new(key, sizeof(key));
    explicit_bzero(key, sizeof(key));
    if (gs->pii == NULL) {
        snprintf(err, errlen, "[pii] out of memory");
        return -1;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cg_pii_set_action(gs->pii, names[i], (cg_pii_action_t) acts[i]);
    }
    f = cg_gs_file(conf->pii.patterns, "[pii] patterns", err, errlen);
    if (f > 0 && cg_pii_load(gs->pii, conf->pii.patterns + 5, msg,
                             sizeof(msg)) != 0) {
        snprintf(err, errlen, "[pii] patterns: %s", msg);
        return -1;
    }
    return f < 0 ? -1 : 0;
}


/* chatgate's own secrets, matched exactly (and in hex and base64): seeing
 * one in an answer means it leaked into the model's context and must be
 * rotated. Every provider key it may hold counts: [provider], each route's
 * and each [key NAME]'s, and the session and JWT secrets. */
static void
cg_gs_own_secrets(cg_outguard_conf_t *ogc, const cg_conf_t *conf)
{
    const cg_provider_conf_t *pc = &conf->provider;
    const cg_secret_t *own[] = { &pc->api_key, &conf->session.secret,
                                 &conf->session.jwt_secret };
    size_t             i;
    int                r;

    for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        if (own[i]->data != NULL) {
            (void) cg_outguard_conf_add_secret(ogc, own[i]->data,
                                               own[i]->len);
        }
    }
    for (r = 0; r < pc->nroutes; r++) {
        if (pc->routes[r].api_key.data != NULL) {
            (void) cg_outguard_conf_add_secret(ogc, pc->routes[r].api_key.data,
                                               pc->routes[r].api_key.len);
        }
    }
    for (i = 0; i < pc->keys.n; i++) {
        if (pc->keys.v[i].secret.data != NULL) {
            (void) cg_outguard_conf_add_secret(ogc, pc->keys.v[i].secret.data,
                                               pc->keys.v[i].secret.len);
        }
    }
}


static int
cg_gs_output(cg_guardset_shared_t *gs, const cg_conf_t *conf, char *err,
             size_t errlen)
{
    gs->ogc = cg_outguard_conf_new();
    if (gs->ogc == NULL
        || cg_outguard_conf_allow_hosts(gs->ogc, conf->guard.allowed_hosts)
           != 0) {
        snprintf(err, errlen, "[guard] out of memory");
        return -1;
    }
    cg_outguard_conf_max_urls(gs->ogc, conf->guard.max_urls);
    cg_outguard_conf_bare_urls(gs->ogc, conf->guard.bare_urls);
    cg_gs_own_secrets(gs->ogc, conf);
    return 0;
}


static void
cg_gs_shared_drop(cg_guardset_shared_t *sh)
{
    if (sh == NULL || atomic_fetch_sub(&sh->refs, 1) != 1) {
        return;
    }
    cg_textguard_free(sh->tg);
    cg_pii_free(sh->pii);
    cg_outguard_conf_free(sh->ogc);
    free(sh);
}


/* What is this guardset's own: the output guard, the map, the scratch. */
static int
cg_gs_own(cg_guardset_t *gs, cg_guardset_shared_t *sh, char *err,
          size_t errlen)
{
    memset(gs, 0, sizeof(*gs));
    cg_pii_map_init(&gs->map);
    gs->sh = sh;
    gs->og = cg_outguard_new(sh->ogc, &gs->map);
    if (gs->og == NULL) {
        snprintf(err, errlen, "[guard] out of memory");
        cg_guardset_free(gs);
        return -1;
    }
    return 0;
}


int
cg_guardset_init(cg_guardset_t *gs, const cg_conf_t *conf, char *err,
                 size_t errlen)
{
    cg_guardset_shared_t *sh = calloc(1, sizeof(*sh));

    memset(gs, 0, sizeof(*gs));
    if (sh == NULL) {
        snprintf(err, errlen, "[guard] out of memory");
        return -1;
    }
    atomic_init(&sh->refs, 1);
    if (cg_gs_input(sh, conf, err, errlen) != 0
        || cg_gs_pii(sh, conf, err, errlen) != 0
        || cg_gs_output(sh, conf, err, errlen) != 0) {
        cg_gs_shared_drop(sh);
        return -1;
    }
    return cg_gs_own(gs, sh, err, errlen);
}


int
cg_guardset_init_like(cg_guardset_t *gs, const cg_guardset_t *like,
                      char *err, size_t errlen)
{
    atomic_fetch_add(&like->sh->refs, 1);
    return cg_gs_own(gs, like->sh, err, errlen);
}


void
cg_guardset_free(cg_guardset_t *gs)
{
    cg_outguard_free(gs->og);
    cg_gs_shared_drop(gs->sh);
    cg_pii_map_free(&gs->map);
    cg_buf_free(&gs->tmp);
    cg_buf_free(&gs->tmp2);
    memset(gs, 0, sizeof(*gs));
}


int
cg_guardset_check(const cg_conf_t *conf, char *err, size_t errlen)
{
    cg_guardset_t gs;

    if (cg_guardset_init(&gs, conf, err, errlen) != 0) {
        return -1;
    }
    cg_guardset_free(&gs);
    return 0;
}


/* ---- the request path ---- */

static int
cg_gs_in_fail(cg_req_t *r, cg_tg_rc_t rc, const char *pattern)
{
    switch (rc) {
    case CG_TG_BAD_UTF8:
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"message\" is not valid UTF-8 text.",
                           "message not valid UTF-8");
    case CG_TG_TOO_LONG:
        return cg_req_fail(r, CG_E_INVALID, "Field \"message\" is too long.",
                           "message over a [guard] limit");
    case CG_TG_INVISIBLE:
        return cg_req_fail(r, CG_E_PROMPT_REJECTED,
                           "The message contains invisible or control "
                           "characters.", "invisible characters refused");
    case CG_TG_INJECTION:
        return cg_req_fail(r, CG_E_PROMPT_REJECTED, NULL,
                           "injection pattern %s", pattern);
    default:
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
}


static int
cg_gs_blank(const cg_buf_t *b)
{
    size_t i;

    for (i = 0; i < b->len; i++) {
        if (b->data[i] != ' ' && b->data[i] != '\n' && b->data[i] != '\t') {
            return 0;
        }
    }
    return 1;
}


static int
cg_gs_replace_message(cg_req_t *r, const cg_buf_t *b)
{
    char *m = malloc(b->len + 1);

    if (m == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    memcpy(m, b->data, b->len);
    m[b->len] = '\0';
    cg_buf_wipe_bytes(r->message, r->message_len);
    free(r->message);
    r->message = m;
    r->message_len = b->len;
    return 0;
}


/* One message through the input guard and PII: its text is replaced by
 * the cleaned, pseudonymized text. */
static int
cg_gs_in_one(cg_guardset_t *gs, cg_req_t *r, cg_msg_t *m)
{
    cg_tg_result_t  tres;
    cg_pii_result_t pres;
    char           *text;

    if (cg_textguard_check(gs->sh->tg, m->text, m->len, &gs->tmp, &tres)
        != CG_TG_OK) {
        cg_findings_merge(&r->findings, &tres.findings);
        return cg_gs_in_fail(r, tres.rc, tres.pattern);
    }
    cg_findings_merge(&r->findings, &tres.findings);
    if (cg_gs_blank(&gs->tmp)) {
        return cg_req_fail(r, CG_E_INVALID, "A message is empty.",
                           "message empty once invisible characters were "
                           "stripped");
    }
    cg_pii_apply(gs->sh->pii, r->user, gs->tmp.data, gs->tmp.len, &gs->tmp2,
                 &gs->map, &pres);
    cg_buf_wipe_bytes(gs->tmp.data, gs->tmp.len);
    cg_findings_merge(&r->findings, &pres.findings);
    if (pres.rc == CG_PII_BLOCKED) {
        return cg_req_fail(r, CG_E_PII_REJECTED, NULL,
                           "personal data (%s) with action block",
                           pres.detector);
    }
    if (pres.rc != CG_PII_OK || (text = malloc(gs->tmp2.len + 1)) == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    memcpy(text, gs->tmp2.data, gs->tmp2.len);
    text[gs->tmp2.len] = '\0';
    cg_buf_wipe_bytes(gs->tmp2.data, gs->tmp2.len);
    cg_buf_wipe_bytes(m->text, m->len);
    free(m->text);
    m->text = text;
    m->len = gs->tmp2.len;
    return 0;
}


void
cg_guardset_shrink(cg_guardset_t *gs, size_t keep)
{
    cg_outguard_t *fresh;

    cg_buf_wipe(&gs->tmp);
    cg_buf_wipe(&gs->tmp2);
    cg_pii_map_reset(&gs->map);
    /* A large answer went through the output guard in one piece (its
     * result is in tmp), and the guard's own buffers grew with it: a
     * fresh guard holds none of that. Kept as is when out of memory. */
    if (gs->tmp.cap > keep
        && (fresh = cg_outguard_new(gs->sh->ogc, &gs->map)) != NULL) {
        cg_outguard_free(gs->og);
        gs->og = fresh;
    }
    cg_buf_shrink(&gs->tmp, keep);
    cg_buf_shrink(&gs->tmp2, keep);
}


/* Every message of the conversation (the user's and the earlier answers
 * the client sends back) goes through the guards: an earlier turn is as
 * able to carry hidden instructions or personal data as the last one. */
int
cg_guardset_in(cg_guardset_t *gs, cg_req_t *r)
{
    cg_buf_t  last;
    size_t    i;
    int       rc;

    cg_pii_map_reset(&gs->map);
    for (i = 0; i < r->nmsgs; i++) {
        if (cg_gs_in_one(gs, r, &r->msgs[i]) != 0) {
            return -1;
        }
    }
    if (r->nmsgs == 0) {
        return 0;
    }
    /* r->message mirrors the last message, as before conversations. */
    cg_buf_init(&last);
    cg_buf_add(&last, r->msgs[r->nmsgs - 1].text, r->msgs[r->nmsgs - 1].len);
    rc = last.oom ? cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory")
                  : cg_gs_replace_message(r, &last);
    if (last.data) {
        cg_buf_wipe_bytes(last.data, last.len);
    }
    cg_buf_free(&last);
    return rc;
}


cg_outguard_t *
cg_guardset_stream(cg_guardset_t *gs)
{
    cg_outguard_reset(gs->og, &gs->map);
    cg_outguard_keep_links(gs->og, gs->keep_links);
    return gs->og;
}


void
cg_guardset_stream_done(cg_guardset_t *gs, cg_req_t *r)
{
    unsigned ev = cg_outguard_events(gs->og);

    if (ev & CG_OG_EV_URL) {
        cg_findings_set(&r->findings, CG_FIND_URL_REMOVED);
    }
    if (ev & CG_OG_EV_INVISIBLE) {
        cg_findings_set(&r->findings, CG_FIND_ANSWER_INVISIBLE);
    }
    if (ev & CG_OG_EV_SECRET) {
        cg_findings_set(&r->findings, CG_FIND_KEY_EXPOSED);
    }
    cg_outguard_reset(gs->og, NULL);
}


int
cg_guardset_out(cg_guardset_t *gs, cg_req_t *r)
{
    cg_outguard_t *og = cg_guardset_stream(gs);
    size_t         off, n;
    int            rc = 0;

    cg_buf_reset(&gs->tmp);
    /* In slices, with a yield between two: under the worker's event loop
     * a huge answer cannot hold up the other requests of its process for
     * the whole of its scan. The guard gives the same output whatever the
     * chunking (it is built for streams). */
    for (off = 0; off < r->text.len && rc == 0; off += n) {
        n = r->text.len - off < CG_GS_SLICE ? r->text.len - off
                                            : CG_GS_SLICE;
        if (off > 0) {
            cg_iowait_yield();
        }
        rc = cg_outguard_feed(og, r->text.data + off, n, &gs->tmp);
    }
    if (rc != 0 || cg_outguard_finish(og, &gs->tmp) != 0) {
        cg_guardset_stream_done(gs, r);
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    cg_guardset_stream_done(gs, r);
    cg_buf_reset(&r->text);
    cg_buf_add(&r->text, gs->tmp.data, gs->tmp.len);
    cg_buf_wipe_bytes(gs->tmp.data, gs->tmp.len);
    return 0;
}
