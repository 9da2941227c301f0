#include "guard/textguard.h"
#include "core/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_TG_CSI_MAX  64       /* longest ESC [ ... sequence we remove */
#define CG_TG_OSC_MAX  512      /* longest ESC ] ... sequence we remove */

typedef struct {
    char                name[CG_GUARD_NAME_MAX];
    cg_guard_action_t   action;
    pcre2_code         *re;
} cg_tg_pattern_t;

struct cg_textguard_s {
    cg_textguard_limits_t   lim;
    cg_tg_pattern_t        *pat;
    size_t                  npat;
};

/* The common phrasings of "forget your instructions". Lower case, single
 * spaces: the text is folded before matching. */
static const struct {
    const char *name;
    const char *re;
} cg_tg_defaults[] = {
    { "ignore_previous",
      "\\b(ignore|disregard|forget|override|skip) (all |any |the |your |of "
      "the |these |those )*(previous|prior|above|earlier|preceding|original|"
      "system|initial) (instructions?|prompts?|rules|directions|directives|"
      "context|guidelines)" },
    { "disregard",
      "\\bdisregard (everything|anything|all|what) (you were|you've been|"
      "above|before|said)" },
    { "you_are_now", "\\byou are now (a |an |in |the |my )?\\w" },
    { "system_prompt",
      "\\b(system|hidden|initial|original|secret) (prompt|instructions|"
      "message)\\b" },
    { "developer_mode",
      "\\b(developer|dev|debug|god|jailbreak|dan|unrestricted) mode\\b" },
    { "reveal_instructions",
      "\\b(reveal|show|print|repeat|output|display|leak|tell me|what are) "
      "(me )?(all )?(your (full |exact |complete |system |hidden |initial "
      "|original )*|the (system|hidden|initial|original|secret) )"
      "(instructions|rules|prompt|guidelines|configuration)" },
    { "new_instructions", "\\b(new|updated|real) instructions ?:" },
    { "role_markup",
      "(<\\|?(im_start|im_end|system|endoftext)\\|?>|\\[/?(inst|system)\\]|"
      "^ ?(system|assistant) ?:)" },
    { "pretend",
      "\\b(pretend|act as if|imagine) (that )?(you are|you're|you have) "
      "(no|not bound|free of|an? (unrestricted|unfiltered|evil))" },
};


cg_textguard_t *
cg_textguard_new(const cg_textguard_limits_t *lim)
{
    cg_textguard_t *tg = calloc(1, sizeof(*tg));

    if (tg != NULL) {
        tg->lim = *lim;
    }
    return tg;
}


void
cg_textguard_free(cg_textguard_t *tg)
{
    size_t i;

    if (tg == NULL) {
        return;
    }
    for (i = 0; i < tg->npat; i++) {
        pcre2_code_free(tg->pat[i].re);
    }
    free(tg->pat);
    free(tg);
}


static int
cg_tg_name_ok(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n >= CG_GUARD_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}


int
cg_textguard_add(cg_textguard_t *tg, const char *name,
                 cg_guard_action_t action, const char *regex, char *err,
                 size_t errlen)
{
    cg_tg_pattern_t *p;
    pcre2_code      *re;
    PCRE2_SIZE       off;
    int              ec;
    char             msg[120];

    if (!cg_tg_name_ok(name)) {
        snprintf(err, errlen, "pattern name must be 1-31 of [A-Za-z0-9_-]");
        return -1;
    }
    re = pcre2_compile((PCRE2_SPTR) regex, PCRE2_ZERO_TERMINATED,
                       PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP
                       | PCRE2_MULTILINE, &ec, &off, NULL);
    if (re == NULL) {
        pcre2_get_error_message(ec, (PCRE2_UCHAR *) msg, sizeof(msg));
        snprintf(err, errlen, "pattern %s: %s at offset %zu", name, msg,
                 (size_t) off);
        return -1;
    }
    /* JIT when the platform allows it; pcre2_match() falls back to the
     * interpreter by itself otherwise. */
    if (cg_textguard_jit()) {
        (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    }
    p = realloc(tg->pat, (tg->npat + 1) * sizeof(*p));
    if (p == NULL) {
        pcre2_code_free(re);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    tg->pat = p;
    p = &tg->pat[tg->npat++];
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->action = action;
    p->re = re;
    return 0;
}


int
cg_textguard_add_defaults(cg_textguard_t *tg, cg_guard_action_t action,
                          char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < sizeof(cg_tg_defaults) / sizeof(cg_tg_defaults[0]); i++) {
        if (cg_textguard_add(tg, cg_tg_defaults[i].name, action,
                             cg_tg_defaults[i].re, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}


int
cg_guard_action_parse(const char *s)
{
    if (strcmp(s, "block") == 0) {
        return CG_GUARD_BLOCK;
    }
    if (strcmp(s, "flag") == 0) {
        return CG_GUARD_FLAG;
    }
    if (strcmp(s, "off") == 0) {
        return CG_GUARD_OFF;
    }
    return -1;
}


static int
cg_tg_load_line(cg_textguard_t *tg, char *line, int lineno, char *err,
                size_t errlen)
{
    char  *tab, *re, *name, dflt[CG_GUARD_NAME_MAX];
    int    act;

    tab = strchr(line, '\t');
    if (tab == NULL) {
        snprintf(err, errlen, "line %d: expected action<TAB>regex", lineno);
        return -1;
    }
    *tab = '\0';
    re = tab + 1;
    act = cg_guard_action_parse(line);
    if (act < 0) {
        snprintf(err, errlen, "line %d: action must be block, flag or off",
                 lineno);
        return -1;
    }
    name = dflt;
    snprintf(dflt, sizeof(dflt), "line%d", lineno);
    tab = strchr(re, '\t');
    if (tab != NULL) {
        *tab = '\0';
        name = re;
        re = tab + 1;
    }
    if (cg_textguard_add(tg, name, (cg_guard_action_t) act, re, err, errlen)
        != 0) {
        return -1;
    }
    return 0;
}


int
cg_textguard_pattern_file_each(const char *path, cg_pattern_line_pt fn,
                               void *ctx, char *err, size_t errlen)
{
    FILE   *f;
    char    line[2048], msg[200];
    int     lineno = 0, rc = 0;
    size_t  n;

    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0 || line[0] == '#') {
            continue;
        }
        if (fn(ctx, line, lineno, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s: %s", path, msg);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}


static int
cg_tg_load_one(void *ctx, char *line, int lineno, char *msg, size_t msglen)
{
    return cg_tg_load_line(ctx, line, lineno, msg, msglen);
}


int
cg_textguard_load(cg_textguard_t *tg, const char *path, char *err,
                  size_t errlen)
{
    return cg_textguard_pattern_file_each(path, cg_tg_load_one, tg, err,
                                          errlen);
}


/* ESC [ params* intermediates* final, or ESC ] ... (BEL | ESC \). A
 * sequence that is malformed or too long loses only its ESC. */
static long
cg_tg_ansi(const unsigned char *p, size_t n, int eof)
{
    size_t i, max;

    if (n < 2) {
        return eof ? 1 : -1;
    }
    if (p[1] == '[') {
        max = n < CG_TG_CSI_MAX ? n : CG_TG_CSI_MAX;
        for (i = 2; i < max && p[i] >= 0x30 && p[i] <= 0x3f; i++) { }
        for (; i < max && p[i] >= 0x20 && p[i] <= 0x2f; i++) { }
        if (i < max) {
            return (p[i] >= 0x40 && p[i] <= 0x7e) ? (long) i + 1 : 1;
        }
        return (eof || n >= CG_TG_CSI_MAX) ? 1 : -1;
    }
    if (p[1] == ']') {
        max = n < CG_TG_OSC_MAX ? n : CG_TG_OSC_MAX;
        for (i = 2; i < max; i++) {
            if (p[i] == 0x07) {
                return (long) i + 1;
            }
            if (p[i] == 0x1b) {
                if (i + 1 >= max) {
                    break;
                }
                return p[i + 1] == '\\' ? (long) i + 2 : 1;
            }
        }
        return (eof || n >= CG_TG_OSC_MAX) ? 1 : -1;
    }
    return 1;
}


/* What a person cannot see but a model reads, from the Unicode data (via
 * utf8proc, never a hand-kept list): Default_Ignorable_Code_Point (zero
 * widths, bidi controls, tags, variation selectors, Hangul fillers, U+034F,
 * U+180E, U+1D173-1D17A, ...), every other format character (Cf: U+FFF9-
 * FFFB interlinear annotations, which the Unicode data leaves out of
 * Default_Ignorable), controls (Cc) other than newline and tab, and code
 * points unassigned in utf8proc's Unicode version (Cn): utf8proc carries
 * no property for the reserved parts of Default_Ignorable (U+2065,
 * U+FFF0-FFF8, most of U+E0000-E0FFF), and nothing unassigned has a glyph. */
int
cg_textguard_invisible_cp(unsigned cp)
{
    const utf8proc_property_t *prop;

    if (cp == '\n' || cp == '\t' || cp > 0x10ffff) {
        return 0;
    }
    prop = utf8proc_get_property((utf8proc_int32_t) cp);
    return prop->ignorable || prop->category == UTF8PROC_CATEGORY_CC
           || prop->category == UTF8PROC_CATEGORY_CF
           || prop->category == UTF8PROC_CATEGORY_CN;
}


long
cg_textguard_invisible(const unsigned char *p, size_t n, int eof)
{
    unsigned cp;
    size_t   len, need;

    if (n == 0) {
        return eof ? 0 : -1;
    }
    if (p[0] == 0x1b) {
        return cg_tg_ansi(p, n, eof);
    }
    if (p[0] < 0x80) {
        return cg_textguard_invisible_cp(p[0]) ? 1 : 0;
    }
    need = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    if (n < need && !eof) {
        return -1;
    }
    len = cg_utf8_decode(p, n, &cp);
    if (len == 0) {
        return 0;
    }
    return cg_textguard_invisible_cp(cp) ? (long) len : 0;
}


/* Copies in to out without invisible constructs; counts them. */
static size_t
cg_tg_strip(const char *in, size_t n, cg_buf_t *out)
{
    const unsigned char *p = (const unsigned char *) in, *end = p + n;
    size_t               count = 0;
    long                 len;

    while (p < end) {
        len = cg_textguard_invisible(p, (size_t) (end - p), 1);
        if (len > 0) {
            p += len;
            count++;
            continue;
        }
        cg_buf_addc(out, (char) *p++);
    }
    return count;
}


static int
cg_tg_only_cr(const char *in, size_t n)
{
    const unsigned char *p = (const unsigned char *) in, *end = p + n;
    long                 len;

    while (p < end) {
        len = cg_textguard_invisible(p, (size_t) (end - p), 1);
        if (len > 0 && *p != '\r') {
            return 0;
        }
        p += len > 0 ? len : 1;
    }
    return 1;
}


/* Lower case (ASCII; PCRE2 does the rest caselessly) and runs of white
 * space folded to one space, so "Ignore   ALL\nprevious" matches. */
static void
cg_tg_fold(const char *s, size_t n, cg_buf_t *f)
{
    size_t i;
    int    sp = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
            || c == '\v') {
            sp = 1;
            continue;
        }
        if (sp) {
            cg_buf_addc(f, ' ');
            sp = 0;
        }
        cg_buf_addc(f, (char) ((c >= 'A' && c <= 'Z') ? c + 32 : c));
    }
}


static cg_tg_rc_t
cg_tg_patterns(const cg_textguard_t *tg, const char *s, size_t n,
               cg_tg_result_t *res)
{
    pcre2_match_data *md;
    cg_buf_t          f;
    cg_tg_rc_t        rc = CG_TG_OK;
    size_t            i;

    if (tg->npat == 0) {
        return CG_TG_OK;
    }
    cg_buf_init(&f);
    cg_tg_fold(s, n, &f);
    if (f.data != NULL) {
        /* pcre2's JIT reads the subject in aligned blocks, past its end
         * within the buffer: defined bytes there (valgrind otherwise
         * reports the branches on them). */
        memset(f.data + f.len, 0, f.cap - f.len);
    }
    md = pcre2_match_data_create(4, NULL);
    if (f.oom || md == NULL) {
        cg_buf_free(&f);
        pcre2_match_data_free(md);
        return CG_TG_NOMEM;
    }
    for (i = 0; i < tg->npat && rc == CG_TG_OK; i++) {
        const cg_tg_pattern_t *p = &tg->pat[i];
        if (p->action == CG_GUARD_OFF
            || pcre2_match(p->re, (PCRE2_SPTR) (f.data ? f.data : ""), f.len,
                           0, 0, md, NULL) < 0) {
            continue;
        }
        cg_findings_add_id(&res->findings, CG_FIND_ID_INJECTION, p->name,
                           strlen(p->name));
        if (p->action == CG_GUARD_BLOCK) {
            snprintf(res->pattern, sizeof(res->pattern), "%s", p->name);
            rc = CG_TG_INJECTION;
        }
    }
    pcre2_match_data_free(md);
    cg_buf_free(&f);
    return rc;
}


static cg_tg_rc_t
cg_tg_limits(const cg_textguard_limits_t *lim, const char *s, size_t n)
{
    long chars = cg_utf8_count(s, n);

    if (chars < 0 || memchr(s, '\0', n) != NULL) {
        return CG_TG_BAD_UTF8;
    }
    if ((lim->max_bytes > 0 && (long) n > lim->max_bytes)
        || (lim->max_chars > 0 && chars > lim->max_chars)
        || (lim->max_tokens > 0 && (long) (n / 4) > lim->max_tokens)) {
        return CG_TG_TOO_LONG;
    }
    return CG_TG_OK;
}


cg_tg_rc_t
cg_textguard_check(const cg_textguard_t *tg, const char *in, size_t n,
                   cg_buf_t *out, cg_tg_result_t *res)
{
    memset(res, 0, sizeof(*res));
    cg_buf_reset(out);
    res->rc = cg_tg_limits(&tg->lim, in, n);
    if (res->rc != CG_TG_OK) {
        return res->rc;
    }
    res->stripped = cg_tg_strip(in, n, out);
    if (out->oom) {
        return res->rc = CG_TG_NOMEM;
    }
    if (res->stripped > 0 && tg->lim.refuse_invisible
        && !cg_tg_only_cr(in, n)) {
        return res->rc = CG_TG_INVISIBLE;
    }
    if (res->stripped > 0) {
        cg_findings_set(&res->findings, CG_FIND_INVISIBLE);
    }
    res->rc = cg_tg_patterns(tg, out->data ? out->data : "", out->len, res);
    return res->rc;
}


int
cg_textguard_jit(void)
{
    const char *v = getenv("CHATGATE_PCRE_JIT");

    return v == NULL || strcmp(v, "0") != 0;
}
