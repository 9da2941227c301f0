/*
 * piiview: the normalised view of a text that the PII detectors match on,
 * with the way back to the original bytes.
 *
 * People and attackers write the same e-mail, card or phone number in many
 * forms: fullwidth "＠" and digits, groups split by NO-BREAK SPACE or NARROW
 * NO-BREAK SPACE, ideographic full stops. The view makes them one form, one
 * code point at a time, from the Unicode data (utf8proc): NFKC (fullwidth,
 * superscript, ligature and compatibility forms to their plain letters and
 * digits), every space separator (Zs, Zl, Zp) to " ", every dash (Pd) to
 * "-", and the full stops that IDNA reads as dots (U+3002) to ".". Case is
 * kept: detectors whose format allows match case-insensitively. Each byte of
 * the view knows the original code point it came from, so a match maps back
 * to the exact original span, and the original text is what gets replaced.
 * Bytes that are not UTF-8 are copied as they are. It never logs and never
 * keeps text beyond the view it fills.
 */
#ifndef CG_PIIVIEW_H
#define CG_PIIVIEW_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

typedef struct {
    cg_buf_t   text;        /* the view, NUL-terminated */
    uint32_t  *from;        /* per view byte: start of its source code point */
    uint32_t  *to;          /* per view byte: end of its source code point */
    size_t     cap;         /* entries of from and to */
} cg_piiview_t;

void cg_piiview_init(cg_piiview_t *v);
void cg_piiview_free(cg_piiview_t *v);
/* Builds the view of in[0..n) (n < 4 GiB); -1 when out of memory. */
int  cg_piiview_build(cg_piiview_t *v, const char *in, size_t n);
/* The original span [*start, *end) of the view span [a, b), a < b. */
void cg_piiview_span(const cg_piiview_t *v, size_t a, size_t b,
                     size_t *start, size_t *end);

#endif
