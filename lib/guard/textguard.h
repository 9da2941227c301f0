/*
 * textguard: the input guard for user text before it goes into a prompt.
 *
 * It checks that the text is valid UTF-8 within limits (bytes, characters,
 * estimated tokens = bytes / 4), strips or refuses characters a person cannot
 * see but a model reads (the Unicode Default_Ignorable_Code_Point set,
 * format and control characters except newline and tab, from utf8proc's
 * tables: bidi controls, zero widths, tags, variation selectors, fillers;
 * and ANSI escape sequences), and runs injection heuristics: PCRE2 patterns matched
 * on a copy folded for case and whitespace, each with an action (block,
 * flag, off). The heuristics are a tripwire for the usage log, not a
 * defence: a determined attacker rephrases.
 *
 * It never echoes the input in errors and never logs; the result says which
 * pattern fired by its configured name only. A cg_textguard_t is read-only
 * after setup, so one may be shared by threads.
 */
#ifndef CG_TEXTGUARD_H
#define CG_TEXTGUARD_H

#include <stddef.h>
#include "core/buf.h"
#include "core/findings.h"

#define CG_GUARD_NAME_MAX  32     /* pattern names: [A-Za-z0-9_-]{1,31} */

typedef enum {
    CG_GUARD_OFF = 0,
    CG_GUARD_FLAG,
    CG_GUARD_BLOCK
} cg_guard_action_t;

typedef enum {
    CG_TG_OK = 0,
    CG_TG_BAD_UTF8,         /* not valid UTF-8, or holds NUL */
    CG_TG_TOO_LONG,         /* over a byte, character or token limit */
    CG_TG_INVISIBLE,        /* invisible characters with invisible=refuse */
    CG_TG_INJECTION,        /* a pattern with action block matched */
    CG_TG_NOMEM
} cg_tg_rc_t;

typedef struct {
    long    max_bytes;      /* 0: no limit */
    long    max_chars;      /* 0: no limit */
    long    max_tokens;     /* estimated as bytes / 4; 0: no limit */
    int     refuse_invisible;
} cg_textguard_limits_t;

typedef struct cg_textguard_s cg_textguard_t;

typedef struct {
    cg_tg_rc_t  rc;
    size_t      stripped;               /* invisible constructs removed */
    char        pattern[CG_GUARD_NAME_MAX]; /* the blocking pattern */
    cg_findings_t findings;             /* invisible, injection:NAME */
} cg_tg_result_t;

/* A guard with the limits and no patterns. NULL when out of memory. */
cg_textguard_t *cg_textguard_new(const cg_textguard_limits_t *lim);
void cg_textguard_free(cg_textguard_t *tg);
/* Adds one pattern (PCRE2 syntax, compiled caseless and UTF). The text it
 * is matched against is lowercased with runs of white space folded to one
 * space, so write patterns in lower case with single spaces. */
int  cg_textguard_add(cg_textguard_t *tg, const char *name,
                      cg_guard_action_t action, const char *regex,
                      char *err, size_t errlen);
/* Adds the built-in patterns, all with the given action. */
int  cg_textguard_add_defaults(cg_textguard_t *tg, cg_guard_action_t action,
                               char *err, size_t errlen);
/* Adds patterns from a file: one "action<TAB>regex" or
 * "action<TAB>name<TAB>regex" per line; '#' starts a comment line. */
int  cg_textguard_load(cg_textguard_t *tg, const char *path, char *err,
                       size_t errlen);
/* Parses "block", "flag" or "off"; -1 if none of them. */
int  cg_guard_action_parse(const char *s);

/* Checks in[0..n) and writes the cleaned text to out (cleared first). On
 * anything but CG_TG_OK, out holds nothing useful. */
cg_tg_rc_t cg_textguard_check(const cg_textguard_t *tg, const char *in,
                              size_t n, cg_buf_t *out, cg_tg_result_t *res);

/*
 * The one definition of "invisible", shared with the output guard.
 * Looks at p[0..n): returns the byte length of the invisible construct that
 * starts there (a control or format character, or a whole ANSI escape
 * sequence), 0 if p starts something visible (or bytes that are not
 * UTF-8), or -1 if more bytes are needed to decide; -1 only when !eof.
 */
long cg_textguard_invisible(const unsigned char *p, size_t n, int eof);
/* 1 if the code point is invisible: Unicode Default_Ignorable_Code_Point,
 * a format (Cf) or a control (Cc) character other than newline and tab, or
 * unassigned (Cn), all from utf8proc's Unicode tables. */
int  cg_textguard_invisible_cp(unsigned cp);

/* Reads a patterns file (the input guard's and the PII engine's): calls fn
 * for each line that is neither empty nor a # comment, with the line
 * number; stops at the first line fn refuses and reports "path: msg". */
typedef int (*cg_pattern_line_pt)(void *ctx, char *line, int lineno,
                                  char *msg, size_t msglen);
int cg_textguard_pattern_file_each(const char *path, cg_pattern_line_pt fn,
                                   void *ctx, char *err, size_t errlen);

/* Whether to JIT-compile PCRE2 patterns: yes unless the environment has
 * CHATGATE_PCRE_JIT=0, for hosts that forbid writable-executable memory
 * (systemd MemoryDenyWriteExecute=yes) and for runs under valgrind, which
 * cannot follow JIT code. Without JIT the same patterns run interpreted. */
int cg_textguard_jit(void);

#endif
