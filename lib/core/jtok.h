/*
 * jtok: a strict JSON reader that checks a whole document in one pass and
 * hands back where the values of a few paths are, without building a tree.
 *
 * It is for the provider's answers (lib/provider) and the client's chat
 * body (lib/guard/body), both read on every request: a json-c tree of the
 * whole answer cost ~33k instructions for the three or four fields the
 * gateway keeps, of the body ~9k. It accepts exactly the object
 * documents json-c 0.16 accepts with JSON_TOKENER_STRICT and a depth of 32
 * (tests/unit/test_jtok.c holds the two to each other, on a corpus and on
 * generated documents), with one deliberate difference: a string must be
 * valid UTF-8 by RFC 3629 (json-c lets overlong forms, UTF-16 surrogates
 * and code points above U+10FFFF through), so the text the guards and the
 * client see is always valid. Escapes are decoded as json-c does: a lone
 * UTF-16 surrogate becomes U+FFFD, \u0000 a NUL byte, and a key is its
 * text up to the first NUL. When a key repeats, the last one counts.
 *
 * A value is a span of the caller's document: nothing is copied until the
 * caller asks for a string (cg_jtok_str, cg_jtok_cstr). It never allocates
 * and never keeps a pointer past the call.
 */
#ifndef CG_JTOK_H
#define CG_JTOK_H

#include <stddef.h>

#include "core/buf.h"

typedef enum {
    CG_JTOK_ABSENT = 0,     /* the path is not in the document */
    CG_JTOK_NULL,
    CG_JTOK_BOOL,
    CG_JTOK_INT,            /* a number with no '.', 'e' or 'E' */
    CG_JTOK_DOUBLE,         /* any other number, NaN, Infinity */
    CG_JTOK_STRING,
    CG_JTOK_ARRAY,
    CG_JTOK_OBJECT
} cg_jtok_type_t;

typedef struct {
    const char *p;          /* the value's first byte in the document */
    size_t      len;        /* its length in bytes */
    int         type;       /* a cg_jtok_type_t */
} cg_jtok_val_t;

/* Paths one cg_jtok_pick() call can take. */
#define CG_JTOK_PATHS   16
/* json-c's default depth: the document is level 0, a value may sit at
 * level 31 at most. */
#define CG_JTOK_DEPTH   32

/* Checks that s[0..len) is one JSON object, with nothing but whitespace
 * around it, and sets vals[i] for each of the NULL-terminated paths (at
 * most CG_JTOK_PATHS): keys joined by '.', an array index as "[N]", e.g.
 * "choices[0].message.content" or "usage". Returns 0, or -1 when the
 * document is not accepted (vals are then all absent). */
int cg_jtok_pick(const char *s, size_t len, const char *const *paths,
                 cg_jtok_val_t *vals);
/* cg_jtok_pick() with another depth than json-c's default: a value may
 * sit at level depth - 1 at most, as json_tokener_new_ex(depth) allows
 * (the client's request body is held to 16). At most CG_JTOK_DEPTH: an
 * accepted document's parts are re-read with that depth. */
int cg_jtok_pick_depth(const char *s, size_t len, int depth,
                       const char *const *paths, cg_jtok_val_t *vals);
/* cg_jtok_pick() inside an object value from an accepted document, which
 * is not checked again (cheap: strings are skipped with memchr); -1 if
 * obj is no object (vals are then all absent). */
int cg_jtok_sub(const cg_jtok_val_t *obj, const char *const *paths,
                cg_jtok_val_t *vals);
/* The next element of an array value (from cg_jtok_pick): *pos starts at
 * 0; returns 1 and sets *elem, or 0 after the last element (or when arr
 * is not an array). */
int cg_jtok_next(const cg_jtok_val_t *arr, size_t *pos, cg_jtok_val_t *elem);
/* Appends a string value's decoded bytes to out; -1 if v is no string. */
int cg_jtok_str(const cg_jtok_val_t *v, cg_buf_t *out);
/* A string value's decoded text up to its first NUL (as json-c's
 * json_object_get_string() shows it) into out[cap]; -1 if v is no string
 * or the text does not fit. */
int cg_jtok_cstr(const cg_jtok_val_t *v, char *out, size_t cap);
/* An integer value as json-c reads it (clamped to the int64 range); -1 if
 * v is no CG_JTOK_INT. */
int cg_jtok_int(const cg_jtok_val_t *v, long long *out);

#endif
