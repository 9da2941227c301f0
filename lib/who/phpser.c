#include "who/phpser.h"

#include <string.h>

#define CG_PHPSESS_DEPTH  32
#define CG_PHPSESS_BIG    (1L << 30)

typedef struct {
    const char  *p;
    const char  *end;
    int          depth;
    /* Where the wanted value was found (a string or integer literal). */
    const char  *want_key;
    const char  *val;
    size_t       val_len;
    int          found;
    int          object;
} cg_phpsess_t;

static int cg_phpsess_value(cg_phpsess_t *ps, int want);


static int
cg_phpsess_expect(cg_phpsess_t *ps, char c)
{
    if (ps->p >= ps->end || *ps->p != c) {
        return -1;
    }
    ps->p++;
    return 0;
}


/* A non-negative decimal (PHP writes lengths and counts this way). */
static int
cg_phpsess_count(cg_phpsess_t *ps, long *out)
{
    long v = 0;
    int  digits = 0;

    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p++ - '0');
        if (++digits > 10 || v > CG_PHPSESS_BIG) {
            return -1;
        }
    }
    *out = v;
    return digits ? 0 : -1;
}


/* Scalar body up to ';' (for i:, d:, b:), checked against a charset. */
static int
cg_phpsess_scalar(cg_phpsess_t *ps, const char *charset, const char **s,
                  size_t *len)
{
    const char *start = ps->p;

    while (ps->p < ps->end && *ps->p != ';') {
        /* strchr() finds the terminator too: a NUL is never valid. */
        if (*ps->p == '\0' || strchr(charset, *ps->p) == NULL) {
            return -1;
        }
        ps->p++;
    }
    if (ps->p == start || cg_phpsess_expect(ps, ';') != 0) {
        return -1;
    }
    *s = start;
    *len = (size_t) (ps->p - 1 - start);
    return 0;
}


static int
cg_phpsess_string(cg_phpsess_t *ps, const char **s, size_t *len)
{
    long n;

    if (cg_phpsess_count(ps, &n) != 0 || cg_phpsess_expect(ps, ':') != 0
        || cg_phpsess_expect(ps, '"') != 0 || n > ps->end - ps->p) {
        return -1;
    }
    *s = ps->p;
    *len = (size_t) n;
    ps->p += n;
    if (cg_phpsess_expect(ps, '"') != 0 || cg_phpsess_expect(ps, ';') != 0) {
        return -1;
    }
    return 0;
}


/* a:N:{key value ...}; keys are i: or s:. At the top level of the
 * php_serialize format, want says the keys name session variables. */
static int
cg_phpsess_array(cg_phpsess_t *ps, int top)
{
    const char *k;
    size_t      klen;
    long        n, i;
    int         match;

    if (cg_phpsess_count(ps, &n) != 0 || cg_phpsess_expect(ps, ':') != 0
        || cg_phpsess_expect(ps, '{') != 0
        || n > (ps->end - ps->p) / 4 || ++ps->depth > CG_PHPSESS_DEPTH) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (ps->end - ps->p < 2 || ps->p[1] != ':') {
            return -1;
        }
        match = 0;
        if (ps->p[0] == 's') {
            ps->p += 2;
            if (cg_phpsess_string(ps, &k, &klen) != 0) {
                return -1;
            }
            match = top && klen == strlen(ps->want_key)
                    && memcmp(k, ps->want_key, klen) == 0;
        } else if (ps->p[0] == 'i') {
            ps->p += 2;
            if (cg_phpsess_scalar(ps, "-0123456789", &k, &klen) != 0) {
                return -1;
            }
        } else {
            return -1;
        }
        if (cg_phpsess_value(ps, match) != 0) {
            return -1;
        }
    }
    ps->depth--;
    return cg_phpsess_expect(ps, '}');
}


static void
cg_phpsess_keep(cg_phpsess_t *ps, int want, const char *s, size_t len)
{
    if (want) {
        /* Last one wins, as in PHP. */
        ps->val = s;
        ps->val_len = len;
        ps->found = 1;
    }
}


static int
cg_phpsess_value(cg_phpsess_t *ps, int want)
{
    const char *s;
    size_t      len;
    char        t;

    if (ps->end - ps->p < 2) {
        return -1;
    }
    t = *ps->p++;
    if (t == 'N') {
        cg_phpsess_keep(ps, want, NULL, 0);
        return cg_phpsess_expect(ps, ';');
    }
    if (strchr("OCErR", t) != NULL) {
        ps->object = 1;
        return -1;
    }
    if (cg_phpsess_expect(ps, ':') != 0) {
        return -1;
    }
    switch (t) {
    case 'b':
        return cg_phpsess_scalar(ps, "01", &s, &len) == 0 && len == 1
               ? (cg_phpsess_keep(ps, want, NULL, 0), 0) : -1;
    case 'i':
        /* PHP writes -?[0-9]+ */
        if (cg_phpsess_scalar(ps, "-0123456789", &s, &len) != 0
            || strspn(s + (s[0] == '-'), "0123456789")
               != len - (s[0] == '-') || len == (size_t) (s[0] == '-')) {
            return -1;
        }
        cg_phpsess_keep(ps, want, s, len);
        return 0;
    case 'd':
        if (cg_phpsess_scalar(ps, "-+.0123456789eEINFAN", &s, &len) != 0) {
            return -1;
        }
        cg_phpsess_keep(ps, want, NULL, 0);
        return 0;
    case 's':
        if (cg_phpsess_string(ps, &s, &len) != 0) {
            return -1;
        }
        cg_phpsess_keep(ps, want, s, len);
        return 0;
    case 'a':
        cg_phpsess_keep(ps, want, NULL, 0);
        return cg_phpsess_array(ps, 0);
    default:
        return -1;
    }
}


/* The "php" serializer: name|value, repeated; "!name|" marks a variable
 * that was unset. Names never hold '|' or '!'. */
static int
cg_phpsess_php(cg_phpsess_t *ps)
{
    const char *name;
    size_t      nlen;
    int         undef;

    while (ps->p < ps->end) {
        undef = *ps->p == '!';
        ps->p += undef;
        name = ps->p;
        while (ps->p < ps->end && *ps->p != '|' && *ps->p != '!') {
            ps->p++;
        }
        nlen = (size_t) (ps->p - name);
        if (nlen == 0 || cg_phpsess_expect(ps, '|') != 0) {
            return -1;
        }
        if (undef) {
            continue;
        }
        if (cg_phpsess_value(ps, nlen == strlen(ps->want_key)
                                 && memcmp(name, ps->want_key, nlen) == 0)
            != 0) {
            return -1;
        }
    }
    return 0;
}


cg_phpsess_rc_t
cg_phpser_get(const char *data, size_t n, cg_phpser_t ser, const char *key,
              char *out, size_t cap)
{
    cg_phpsess_t ps;
    int          rc;

    memset(&ps, 0, sizeof(ps));
    ps.p = data;
    ps.end = data + n;
    ps.want_key = key;
    if (ser == CG_PHPSER_PHP) {
        rc = cg_phpsess_php(&ps);
    } else if (n == 0) {
        rc = 0;             /* a new, empty session */
    } else {
        rc = (cg_phpsess_expect(&ps, 'a') == 0
              && cg_phpsess_expect(&ps, ':') == 0
              && cg_phpsess_array(&ps, 1) == 0 && ps.p == ps.end) ? 0 : -1;
    }
    if (rc != 0) {
        return ps.object ? CG_PHPSESS_OBJECT : CG_PHPSESS_MALFORMED;
    }
    if (!ps.found) {
        return CG_PHPSESS_ABSENT;
    }
    /* A NUL inside the value would cut the user id short (a fuzz find):
     * such a value is not a user id. */
    if (ps.val == NULL || ps.val_len == 0 || ps.val_len >= cap
        || memchr(ps.val, '\0', ps.val_len) != NULL) {
        return CG_PHPSESS_BAD_VALUE;
    }
    memcpy(out, ps.val, ps.val_len);
    out[ps.val_len] = '\0';
    return CG_PHPSESS_FOUND;
}


const char *
cg_phpser_reason(cg_phpsess_rc_t rc)
{
    switch (rc) {
    case CG_PHPSESS_FOUND:     return "ok";
    case CG_PHPSESS_ABSENT:    return "PHP session has no user variable "
                                      "(not logged in)";
    case CG_PHPSESS_MALFORMED: return "PHP session data malformed";
    case CG_PHPSESS_OBJECT:    return "PHP session holds an object or "
                                      "reference";
    case CG_PHPSESS_BAD_VALUE: return "PHP session user variable is not a "
                                      "usable id";
    }
    return "?";
}
