/*
 * kbuf: short text (counter keys) built into a caller's fixed buffer,
 * piece by piece, without printf.
 *
 * Every request builds a dozen counter keys; snprintf's format parsing
 * cost more than the rest of the key work together. A cg_kbuf_t appends
 * strings, characters and numbers and remembers when the text no longer
 * fits, so a caller checks once, at cg_kbuf_end(), exactly as it checked
 * snprintf's return. It never allocates and never writes past cap.
 */
#ifndef CG_KBUF_H
#define CG_KBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char   *p;
    size_t  cap;    /* bytes of p, the terminating NUL included */
    size_t  len;
    int     over;   /* something did not fit: the text is incomplete */
} cg_kbuf_t;

void cg_kbuf_init(cg_kbuf_t *k, char *buf, size_t cap);
void cg_kbuf_mem(cg_kbuf_t *k, const char *s, size_t n);
void cg_kbuf_str(cg_kbuf_t *k, const char *s);
void cg_kbuf_chr(cg_kbuf_t *k, char c);
/* Decimal, as %lld and %llu print them. */
void cg_kbuf_ll(cg_kbuf_t *k, long long v);
void cg_kbuf_ull(cg_kbuf_t *k, unsigned long long v);
/* Sixteen lowercase hex digits, as %016llx prints them. */
void cg_kbuf_hex64(cg_kbuf_t *k, uint64_t v);
/* NUL-terminates what was built; its length, or 0 when it did not fit
 * (snprintf's n >= cap). */
size_t cg_kbuf_end(cg_kbuf_t *k);

#endif
