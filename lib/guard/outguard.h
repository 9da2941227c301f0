/*
 * outguard: the output guard for answers on their way to the browser.
 *
 * A streaming state machine: feed it the answer in chunks of any size and
 * it writes the guarded text; the result is byte-identical whatever the
 * chunk boundaries. In order, it
 *
 *   1. strips invisible characters (the input guard's definition) and
 *      restores PII placeholders from the request's map, also when a
 *      placeholder arrives split across chunks;
 *   2. neutralises the channels an answer can leak data through once a
 *      renderer (CommonMark, GFM, markdown-it, marked) and a browser have
 *      read it: markdown images and links, parsed as CommonMark parses
 *      them (what is no link is read on inside), reference definitions,
 *      autolinks, HTML tags read as the HTML tokenizer reads them (any
 *      URL-bearing attribute, srcdoc, srcset, style, event handlers, and
 *      the content of <script> and <style>), and, with bare_urls (the
 *      default), bare URLs, www. and host-like words. Every URL is decoded
 *      and read as the WHATWG URL parser reads it (guard/ogurl) before its
 *      host is judged. The URL is removed and the text kept; data:,
 *      javascript: and every other non-http(s) scheme are never allowed,
 *      past max_urls allowed URLs the rest are removed too, and what is
 *      left around a removal can never join into a new construct;
 *   3. redacts secrets as "[REDACTED]": provider key shapes (the patterns of
 *      cg_secret_looks_like_key) and exact strings registered by the caller
 *      (chatgate's own keys, also in hex, base64 and base64url), and
 *      reports that it did so, so the caller can raise a "key exposed"
 *      alert, also when the key was inside something removed.
 *
 * Text is held back only while a construct may still be open, at most
 * CG_OG_LOOKAHEAD bytes; a construct longer than that is decided on what
 * was seen. Its cost is linear in the answer. It never logs and never keeps
 * text after finish/reset. What it guarantees for which renderer:
 * docs/guards.md; tests/t/81-differential.t holds it to that.
 */
#ifndef CG_OUTGUARD_H
#define CG_OUTGUARD_H

#include <stddef.h>
#include "core/buf.h"
#include "guard/pii.h"

#define CG_OG_LOOKAHEAD   2048
#define CG_OG_SECRET_MIN  8     /* shorter exact secrets are refused */
#define CG_OG_SECRET_MAX  512
/* Bytes of one answer (after PII is restored): feed fails past them. */
#define CG_OG_MAX_ANSWER  ((size_t) 0xFFFF0000u)

/* What the guard did, as bits of cg_outguard_events(). */
#define CG_OG_EV_SECRET    0x01 /* a secret was redacted: rotate it */
#define CG_OG_EV_URL       0x02 /* a URL was removed */
#define CG_OG_EV_INVISIBLE 0x04 /* invisible characters were stripped */
#define CG_OG_EV_RESTORED  0x08 /* PII placeholders were restored */

/* Configuration, shared read-only by every guard made from it. */
typedef struct cg_outguard_conf_s cg_outguard_conf_t;
typedef struct cg_outguard_s      cg_outguard_t;

cg_outguard_conf_t *cg_outguard_conf_new(void);
void cg_outguard_conf_free(cg_outguard_conf_t *c);
/* Hosts whose URLs may stay, separated by spaces or commas: "example.com"
 * matches that host only, ".example.com" it and all its subdomains. */
int  cg_outguard_conf_allow_hosts(cg_outguard_conf_t *c, const char *list);
/* Allowed URLs kept per answer; later ones are removed. Default 10. */
void cg_outguard_conf_max_urls(cg_outguard_conf_t *c, long max);
/* 1: bare URLs, www. and host-like words in text are checked (GFM, marked
 * and linkify make links of them). Default 1. */
void cg_outguard_conf_bare_urls(cg_outguard_conf_t *c, int on);
/* Registers a string redacted wherever it appears, verbatim, in hex and in
 * base64/base64url at any offset (copied). */
int  cg_outguard_conf_add_secret(cg_outguard_conf_t *c, const void *s,
                                 size_t n);

/* A guard for one answer; map (may be NULL) restores placeholders and must
 * outlive the guard's use. */
cg_outguard_t *cg_outguard_new(const cg_outguard_conf_t *c,
                               const cg_pii_map_t *map);
/* Makes g ready for the next answer, keeping its buffers (the bracket
 * table of an answer that held a '[' is given back). */
void cg_outguard_reset(cg_outguard_t *g, const cg_pii_map_t *map);
void cg_outguard_free(cg_outguard_t *g);
/* 1: step 2 (links, images, tags, URLs) is skipped for this guard, for a
 * caller that never renders the answer (a service token's output_links =
 * keep); invisible characters, PII and secret redaction still apply.
 * Kept across resets; the caller sets it for each answer. */
void cg_outguard_keep_links(cg_outguard_t *g, int on);
/* Appends the guarded text that is ready to out. -1 when out of memory
 * or past CG_OG_MAX_ANSWER. */
int  cg_outguard_feed(cg_outguard_t *g, const char *chunk, size_t len,
                      cg_buf_t *out);
/* Appends the rest; the guard must be reset before it is fed again. */
int  cg_outguard_finish(cg_outguard_t *g, cg_buf_t *out);
unsigned cg_outguard_events(const cg_outguard_t *g);

#endif
