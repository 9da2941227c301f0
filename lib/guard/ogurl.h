/*
 * ogurl: how a browser will read a URL the output guard is deciding on.
 *
 * The output guard finds URLs in three syntaxes: Markdown link destinations
 * (backslash escapes and character references are decoded by every
 * CommonMark renderer), HTML attribute values (character references are
 * decoded by the HTML tokenizer) and raw text (autolinks, bare URLs). This
 * module decodes a value as that syntax does, then reads the result as the
 * WHATWG URL parser does in a page served over http(s): leading and
 * trailing C0 controls and spaces stripped, tab/CR/LF removed anywhere,
 * '\' read as '/' (special schemes), "//host" and "/\host" network paths,
 * "http:host" with any number of slashes. It says whether the URL stays on
 * the page's own origin (relative), goes to an allowed host, or goes
 * elsewhere. It must never be generous: anything it cannot read for sure
 * (userinfo, percent-escapes, non-ASCII or a backslash in the host, an
 * unknown scheme) is "elsewhere".
 */
#ifndef CG_OGURL_H
#define CG_OGURL_H

#include <stddef.h>

/* How the value is written. */
#define CG_OGURL_RAW   0   /* as is: autolinks, bare URLs */
#define CG_OGURL_MD    1   /* a Markdown destination: escapes, entities */
#define CG_OGURL_HTML  2   /* an HTML attribute value: entities */

/* What a URL does. */
#define CG_OGURL_FOREIGN  0   /* another host, another scheme, unreadable */
#define CG_OGURL_RELATIVE 1   /* stays on the page's origin */
#define CG_OGURL_ABSOLUTE 2   /* http(s) to a host the callback allows */

typedef int (*cg_ogurl_host_pt)(const void *ctx, const char *host,
                                size_t n);

/* Classifies u[0..n) written as `mode`; host_ok(ctx, host, len) is asked
 * about the host (lower case, no port) of an http(s) or network-path URL. */
int cg_ogurl_class(const char *u, size_t n, int mode,
                   cg_ogurl_host_pt host_ok, const void *ctx);

/* Decodes one character reference at s[0] == '&' (numeric, or a named one
 * that can change how a URL reads); writes UTF-8 to out (>= 4 bytes) and
 * returns the bytes consumed, or 0 if s does not start one. */
size_t cg_ogurl_entity(const char *s, size_t n, char *out, size_t *outlen);

#endif
