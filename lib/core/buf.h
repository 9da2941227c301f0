/*
 * buf: a growable byte buffer and the one JSON string escaper.
 *
 * Every response body, provider request and usage line is built in a
 * cg_buf_t, so there is exactly one place that decides how untrusted text is
 * escaped for JSON. The escaper never lets input break out of its string: it
 * escapes quotes, backslashes, every control byte, DEL, U+2028/U+2029 (line
 * separators for JavaScript and many log viewers) and replaces bytes that are
 * not valid UTF-8 with U+FFFD. An allocation failure is sticky (b->oom), so
 * callers check once at the end instead of after every append.
 */
#ifndef CG_BUF_H
#define CG_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct {
    char   *data;   /* always NUL-terminated when len > 0 or after reserve */
    size_t  len;
    size_t  cap;
    int     oom;    /* set once an allocation failed; later appends no-op */
} cg_buf_t;

void cg_buf_init(cg_buf_t *b);
void cg_buf_free(cg_buf_t *b);
/* Forgets the contents but keeps the memory for reuse across requests. */
void cg_buf_reset(cg_buf_t *b);
/* cg_buf_reset(), but a buffer that grew past keep bytes (for one large
 * request) gives its memory back instead of holding it for every later
 * one. */
void cg_buf_shrink(cg_buf_t *b, size_t keep);
/* cg_buf_reset() after overwriting all its memory, not only the current
 * contents (a reset in mid-request leaves older bytes past len): for a
 * buffer that held a prompt, an answer or a secret. */
void cg_buf_wipe(cg_buf_t *b);
/* Wipes n bytes at p; p may be NULL (a buffer never grown), which
 * explicit_bzero() must not be given. */
void cg_buf_wipe_bytes(void *p, size_t n);
int  cg_buf_reserve(cg_buf_t *b, size_t extra);
void cg_buf_add(cg_buf_t *b, const void *p, size_t n);
void cg_buf_adds(cg_buf_t *b, const char *s);
void cg_buf_addc(cg_buf_t *b, char c);
void cg_buf_addf(cg_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cg_buf_add_long(cg_buf_t *b, long long v);
/* Appends s[0..n) as a quoted JSON string (see the header comment). */
void cg_buf_add_json_str(cg_buf_t *b, const char *s, size_t n);
/* Same, for a NUL-terminated string; NULL becomes JSON null. */
void cg_buf_add_json_cstr(cg_buf_t *b, const char *s);

/* Replaces *dst with a copy of src, freeing the old string; -1 when out of
 * memory (*dst is then unchanged). For config strings set more than once. */
int  cg_buf_str_replace(char **dst, const char *src);

#endif
