#include "conf/conf.h"
#include "core/buf.h"
#include "core/csv.h"
#include "core/secret.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_CONF_MSG_MAX      512
#define CG_CONF_SECTION_MAX  64     /* longest section name echoed back */

struct cg_conf_ctx_s {
    const cg_conf_section_t *const *reg;
    void                           *conf;
    unsigned char                 **seen;   /* per section, per row */
    char                           *err;
    size_t                          errlen;
};


/* ---- setters ---- */

#define CG_FIELD(cmd, base, type)  ((type *) ((char *) (base) + (cmd)->offset))


int
cg_conf_set_str(const cg_conf_cmd_t *cmd, void *base, const char *value,
                char *err, size_t errlen)
{
    if (cmd->check && cmd->check(cmd, value, err, errlen) != 0) {
        return -1;
    }
    if (cg_buf_str_replace(CG_FIELD(cmd, base, char *), value) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}


static int
cg_conf_parse_long(const cg_conf_cmd_t *cmd, const char *value, int base,
                   long *out, char *err, size_t errlen)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(value, &end, base);
    if (errno || end == value || *end != '\0' || v < cmd->min
        || v > cmd->max) {
        snprintf(err, errlen, "[%s] %s must be a number from %ld to %ld",
                 cmd->section, cmd->name, cmd->min, cmd->max);
        return -1;
    }
    *out = v;
    return 0;
}


int
cg_conf_set_int(const cg_conf_cmd_t *cmd, void *base, const char *value,
                char *err, size_t errlen)
{
    long v;

    if (cg_conf_parse_long(cmd, value, 10, &v, err, errlen) != 0) {
        return -1;
    }
    *CG_FIELD(cmd, base, int) = (int) v;
    return 0;
}


int
cg_conf_set_long(const cg_conf_cmd_t *cmd, void *base, const char *value,
                 char *err, size_t errlen)
{
    return cg_conf_parse_long(cmd, value, 10, CG_FIELD(cmd, base, long),
                              err, errlen);
}


int
cg_conf_set_octal(const cg_conf_cmd_t *cmd, void *base, const char *value,
                  char *err, size_t errlen)
{
    long v;

    if (cg_conf_parse_long(cmd, value, 8, &v, err, errlen) != 0) {
        return -1;
    }
    *CG_FIELD(cmd, base, int) = (int) v;
    return 0;
}


int
cg_conf_set_bool(const cg_conf_cmd_t *cmd, void *base, const char *value,
                 char *err, size_t errlen)
{
    static const cg_conf_enum_t yes_no[] = {
        { "yes", 1 }, { "on", 1 }, { "true", 1 },
        { "no", 0 }, { "off", 0 }, { "false", 0 }, { NULL, 0 }
    };
    const cg_conf_enum_t *e;

    for (e = yes_no; e->name; e++) {
        if (strcmp(e->name, value) == 0) {
            *CG_FIELD(cmd, base, int) = e->value;
            return 0;
        }
    }
    snprintf(err, errlen, "[%s] %s must be yes or no", cmd->section,
             cmd->name);
    return -1;
}


/* "must be a, b or c" from the row's choices. */
static void
cg_conf_choices_msg(const cg_conf_cmd_t *cmd, const char *what, char *err,
                    size_t errlen)
{
    const cg_conf_enum_t *e;
    cg_buf_t              b;
    int                   n = 0, total = 0, empty = 0;

    for (e = cmd->choices; e->name; e++) {
        total += e->name[0] != '\0';
        empty |= e->name[0] == '\0';
    }
    cg_buf_init(&b);
    for (e = cmd->choices; e->name; e++) {
        if (e->name[0] == '\0') {
            continue;
        }
        n++;
        cg_buf_adds(&b, n == 1 ? "" : n == total ? " or " : ", ");
        cg_buf_adds(&b, e->name);
    }
    snprintf(err, errlen, "[%s] %s must be %s%.*s%s", cmd->section,
             cmd->name, what, b.oom ? 0 : (int) b.len, b.data ? b.data : "",
             empty ? " (or empty)" : "");
    cg_buf_free(&b);
}


static const cg_conf_enum_t *
cg_conf_choice(const cg_conf_enum_t *choices, const char *item, size_t len)
{
    for (; choices->name; choices++) {
        if (strlen(choices->name) == len
            && memcmp(choices->name, item, len) == 0) {
            return choices;
        }
    }
    return NULL;
}


int
cg_conf_set_enum(const cg_conf_cmd_t *cmd, void *base, const char *value,
                 char *err, size_t errlen)
{
    const cg_conf_enum_t *e = cg_conf_choice(cmd->choices, value,
                                             strlen(value));

    if (e == NULL) {
        cg_conf_choices_msg(cmd, "", err, errlen);
        return -1;
    }
    *CG_FIELD(cmd, base, int) = e->value;
    return 0;
}


int
cg_conf_set_list(const cg_conf_cmd_t *cmd, void *base, const char *value,
                 char *err, size_t errlen)
{
    cg_conf_list_t        list;
    const cg_conf_enum_t *e;
    const char           *p = value, *item;
    size_t                len;

    memset(&list, 0, sizeof(list));
    while (cg_csv_next(&p, &item, &len)) {
        e = cg_conf_choice(cmd->choices, item, len);
        if (e == NULL || list.n == CG_CONF_LIST_MAX) {
            cg_conf_choices_msg(cmd, "a list of ", err, errlen);
            return -1;
        }
        list.v[list.n++] = e->value;
    }
    if (list.n == 0) {
        snprintf(err, errlen, "[%s] %s is empty", cmd->section, cmd->name);
        return -1;
    }
    *CG_FIELD(cmd, base, cg_conf_list_t) = list;
    return 0;
}


const char *
cg_conf_enum_name(const cg_conf_enum_t *choices, int value)
{
    for (; choices->name; choices++) {
        if (choices->value == value) {
            return choices->name;
        }
    }
    return "?";
}


int
cg_conf_list_has(const cg_conf_list_t *list, int value)
{
    int i;

    for (i = 0; i < list->n; i++) {
        if (list->v[i] == value) {
            return 1;
        }
    }
    return 0;
}


int
cg_conf_check_ref(const cg_conf_cmd_t *cmd, const char *value, char *err,
                  size_t errlen)
{
    if (!cg_secret_is_ref(value)) {
        /* Never echo the value: it may be the secret itself. */
        snprintf(err, errlen, "[%s] %s must reference the secret as "
                 "env:NAME, file:/path or credential:NAME, not hold it",
                 cmd->section, cmd->name);
        return -1;
    }
    return 0;
}


int
cg_conf_check_optref(const cg_conf_cmd_t *cmd, const char *value, char *err,
                     size_t errlen)
{
    return value[0] == '\0' ? 0 : cg_conf_check_ref(cmd, value, err, errlen);
}


int
cg_conf_check_path(const cg_conf_cmd_t *cmd, const char *value, char *err,
                   size_t errlen)
{
    if (value[0] != '/') {
        snprintf(err, errlen, "[%s] %s must start with /", cmd->section,
                 cmd->name);
        return -1;
    }
    return 0;
}


/* ---- rows ---- */

size_t
cg_conf_rows_count(const cg_conf_cmd_t *rows)
{
    size_t n = 0;

    while (rows && rows[n].name) {
        n++;
    }
    return n;
}


int
cg_conf_rows_find(const cg_conf_cmd_t *rows, const char *key)
{
    int i;

    for (i = 0; rows && rows[i].name; i++) {
        if (strcmp(rows[i].name, key) == 0) {
            return i;
        }
    }
    return -1;
}


int
cg_conf_rows_defaults(const cg_conf_cmd_t *rows, void *base, char *err,
                      size_t errlen)
{
    for (; rows && rows->name; rows++) {
        if (rows->set && rows->dflt
            && rows->set(rows, base, rows->dflt, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}


int
cg_conf_rows_set(const cg_conf_cmd_t *rows, void *base, unsigned char *seen,
                 const char *label, const char *key, const char *value,
                 char *err, size_t errlen)
{
    int i = cg_conf_rows_find(rows, key);

    if (i < 0 || rows[i].set == NULL) {
        return 1;
    }
    if (seen[i]) {
        snprintf(err, errlen, "[%s] %s is set twice", label, key);
        return -1;
    }
    seen[i] = 1;
    return rows[i].set(&rows[i], base, value, err, errlen) == 0 ? 0 : -1;
}


const cg_conf_cmd_t *
cg_conf_rows_missing(const cg_conf_cmd_t *rows, const unsigned char *seen)
{
    size_t i;

    for (i = 0; rows && rows[i].name; i++) {
        if (rows[i].set && rows[i].dflt == NULL && !seen[i]) {
            return &rows[i];
        }
    }
    return NULL;
}


void
cg_conf_rows_free(const cg_conf_cmd_t *rows, void *base)
{
    for (; rows && rows->name; rows++) {
        if (rows->set == cg_conf_set_str) {
            free(*CG_FIELD(rows, base, char *));
            *CG_FIELD(rows, base, char *) = NULL;
        }
    }
}


/* ---- the registry over a file ---- */

#define CG_SEC_BASE(sec, conf)  ((void *) ((char *) (conf) + (sec)->offset))


int
cg_conf_reg_init(const cg_conf_section_t *const *reg, void *conf, char *err,
                 size_t errlen)
{
    const cg_conf_section_t *const *s;

    for (s = reg; *s; s++) {
        if (!((*s)->flags & CG_CONF_NAMED)
            && cg_conf_rows_defaults((*s)->cmds, CG_SEC_BASE(*s, conf), err,
                                     errlen) != 0) {
            return -1;
        }
    }
    for (s = reg; *s; s++) {
        if ((*s)->init && (*s)->init(conf, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}


/* Splits "route fast" into head "route" (len) and arg "fast"; arg NULL
 * for a plain section. */
static size_t
cg_conf_split(const char *section, const char **arg)
{
    const char *sp = strchr(section, ' ');

    *arg = NULL;
    if (sp == NULL) {
        return strlen(section);
    }
    for (*arg = sp; **arg == ' '; (*arg)++) {
        /* the name starts after the spaces */
    }
    return (size_t) (sp - section);
}


static int
cg_conf_section_is(const cg_conf_section_t *sec, const char *head,
                   size_t len, const char *arg)
{
    return strlen(sec->name) == len && memcmp(sec->name, head, len) == 0
           && ((sec->flags & CG_CONF_NAMED) != 0) == (arg != NULL);
}


/* 1 if a registry section is called "[head arg]"; an empty name is none. */
static int
cg_conf_known(const cg_conf_section_t *const *reg, const char *head,
              size_t len, const char *arg)
{
    const cg_conf_section_t *const *s;

    if (arg && *arg == '\0') {
        return 0;
    }
    for (s = reg; *s; s++) {
        if (cg_conf_section_is(*s, head, len, arg)) {
            return 1;
        }
    }
    return 0;
}


static int
cg_conf_handler(void *user, const char *section, const char *name,
                const char *value)
{
    cg_conf_ctx_t                  *ctx = user;
    const cg_conf_section_t *const *s;
    const char                     *arg;
    size_t                          len = cg_conf_split(section, &arg);
    int                             rc;

    if (!cg_conf_known(ctx->reg, section, len, arg)) {
        snprintf(ctx->err, ctx->errlen, "unknown section [%.*s]",
                 CG_CONF_SECTION_MAX, section);
        return 0;
    }
    for (s = ctx->reg; *s; s++) {
        if (arg == NULL && cg_conf_section_is(*s, section, len, arg)) {
            rc = cg_conf_rows_set((*s)->cmds, CG_SEC_BASE(*s, ctx->conf),
                                  ctx->seen[s - ctx->reg], section, name,
                                  value, ctx->err, ctx->errlen);
            if (rc != 1) {
                return rc == 0;
            }
        }
    }
    for (s = ctx->reg; *s; s++) {
        if ((*s)->key && cg_conf_section_is(*s, section, len, arg)) {
            rc = (*s)->key(ctx->conf, arg, name, value, ctx->err,
                           ctx->errlen);
            if (rc != 1) {
                return rc == 0;
            }
        }
    }
    snprintf(ctx->err, ctx->errlen, "unknown key [%.*s] %s",
             CG_CONF_SECTION_MAX, section, name);
    return 0;
}


int
cg_conf_was_set(const cg_conf_ctx_t *ctx, const char *section,
                const char *key)
{
    const cg_conf_section_t *const *s;
    int                             i;

    for (s = ctx->reg; *s; s++) {
        if (!((*s)->flags & CG_CONF_NAMED)
            && strcmp((*s)->name, section) == 0
            && (i = cg_conf_rows_find((*s)->cmds, key)) >= 0) {
            return ctx->seen[s - ctx->reg][i] != 0;
        }
    }
    return 0;
}


/* Refuses a key-shaped string on a line: a key in a config file is
 * already a leak (backups, diffs, support tickets), comments included. */
static int
cg_conf_scan_key(const cg_conf_ctx_t *ctx, const char *line, size_t n,
                 const char *path, int lineno)
{
    if (!cg_secret_config_has_key(line, n)) {
        return 0;
    }
    snprintf(ctx->err, ctx->errlen, "%s:%d: this line holds what looks like "
             "a provider API key; keep keys out of config files and "
             "reference them as env:NAME or file:/path", path, lineno);
    return -1;
}


/* inih reports only name = value lines, so an unknown section with no
 * keys would pass unseen; section headers are checked here instead. */
static int
cg_conf_scan_section(const cg_conf_ctx_t *ctx, const char *line, size_t n,
                     const char *path, int lineno)
{
    const char *end, *sp, *arg = NULL;
    size_t      len, head;

    while (n && (*line == ' ' || *line == '\t')) {
        line++;
        n--;
    }
    if (n == 0 || *line != '[' || (end = memchr(line, ']', n)) == NULL) {
        return 0;
    }
    len = (size_t) (end - line - 1);
    sp = memchr(line + 1, ' ', len);
    head = sp ? (size_t) (sp - line - 1) : len;
    if (sp) {
        for (arg = sp; arg < end && *arg == ' '; arg++) {
            /* the name starts after the spaces */
        }
        arg = arg < end ? arg : "";
    }
    if (cg_conf_known(ctx->reg, line + 1, head, arg)) {
        return 0;       /* a named section's name is checked by its hook */
    }
    snprintf(ctx->err, ctx->errlen, "%s:%d: unknown section [%.*s]", path,
             lineno, (int) (len > CG_CONF_SECTION_MAX ? CG_CONF_SECTION_MAX
                                                      : len), line + 1);
    return -1;
}


typedef int (*cg_conf_line_pt)(const cg_conf_ctx_t *ctx, const char *line,
                               size_t n, const char *path, int lineno);

static int
cg_conf_scan_lines(const cg_conf_ctx_t *ctx, const cg_buf_t *all,
                   cg_conf_line_pt check, const char *path)
{
    size_t i, start = 0;
    int    lineno = 1;

    for (i = 0; i <= all->len; i++) {
        if (i < all->len && all->data[i] != '\n') {
            continue;
        }
        if (check(ctx, all->data + start, i - start, path, lineno) != 0) {
            return -1;
        }
        start = i + 1;
        lineno++;
    }
    return 0;
}


/* Scans the raw file before inih sees it, as one buffer so that no line
 * length can split a key from the scanner: keys first (the most important
 * finding), then section names. */
static int
cg_conf_scan(const cg_conf_ctx_t *ctx, FILE *f, const char *path)
{
    cg_buf_t    all;
    char        chunk[4096];
    size_t      n;
    int         rc;

    cg_buf_init(&all);
    cg_buf_add(&all, "", 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cg_buf_add(&all, chunk, n);
    }
    explicit_bzero(chunk, sizeof(chunk));
    if (all.oom) {
        snprintf(ctx->err, ctx->errlen, "%s: out of memory", path);
        rc = -1;
    } else {
        rc = cg_conf_scan_lines(ctx, &all, cg_conf_scan_key, path);
        if (rc == 0) {
            rc = cg_conf_scan_lines(ctx, &all, cg_conf_scan_section, path);
        }
    }
    if (all.data) {
        cg_buf_wipe_bytes(all.data, all.len);
    }
    cg_buf_free(&all);
    rewind(f);
    return rc;
}


static void
cg_conf_ctx_free(cg_conf_ctx_t *ctx)
{
    size_t i;

    for (i = 0; ctx->seen && ctx->reg[i]; i++) {
        free(ctx->seen[i]);
    }
    free(ctx->seen);
}


static int
cg_conf_ctx_init(cg_conf_ctx_t *ctx, const cg_conf_section_t *const *reg,
                 void *conf)
{
    size_t i, n = 0;

    memset(ctx, 0, sizeof(*ctx));
    ctx->reg = reg;
    ctx->conf = conf;
    while (reg[n]) {
        n++;
    }
    ctx->seen = calloc(n + 1, sizeof(*ctx->seen));
    if (ctx->seen == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        ctx->seen[i] = calloc(cg_conf_rows_count(reg[i]->cmds) + 1, 1);
        if (ctx->seen[i] == NULL) {
            return -1;
        }
    }
    return 0;
}


/* Every plain section's rows without a default were set, then each
 * module's checks in registry order. */
static int
cg_conf_checks(const cg_conf_ctx_t *ctx, const char *path, char *err,
               size_t errlen)
{
    const cg_conf_section_t *const *s;
    const cg_conf_cmd_t            *miss;
    char                            msg[CG_CONF_MSG_MAX];

    for (s = ctx->reg; *s; s++) {
        if ((*s)->flags & (CG_CONF_NAMED | CG_CONF_OPTIONAL)) {
            continue;
        }
        miss = cg_conf_rows_missing((*s)->cmds, ctx->seen[s - ctx->reg]);
        if (miss) {
            snprintf(err, errlen, "%s: [%s] %s is required", path,
                     (*s)->name, miss->name);
            return -1;
        }
    }
    for (s = ctx->reg; *s; s++) {
        msg[0] = '\0';
        if ((*s)->check && (*s)->check(ctx->conf, ctx, msg, sizeof(msg))
                           != 0) {
            snprintf(err, errlen, "%s: %s", path, msg);
            return -1;
        }
    }
    return 0;
}


int
cg_conf_reg_load(const cg_conf_section_t *const *reg, void *conf,
                 const char *path, char *err, size_t errlen)
{
    cg_conf_ctx_t ctx;
    FILE         *f;
    int           rc = -1;
    char          msg[CG_CONF_MSG_MAX];

    if (cg_conf_ctx_init(&ctx, reg, conf) != 0) {
        cg_conf_ctx_free(&ctx);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ctx.err = err;
    ctx.errlen = errlen;
    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    } else if (cg_conf_scan(&ctx, f, path) == 0) {
        ctx.err = msg;
        ctx.errlen = sizeof(msg);
        msg[0] = '\0';
        rc = ini_parse_file(f, cg_conf_handler, &ctx);
        if (rc != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, rc,
                     msg[0] ? msg : "syntax error (or a line over 190 "
                     "characters: put long values in a file:/path)");
            rc = -1;
        } else {
            rc = cg_conf_checks(&ctx, path, err, errlen);
        }
    }
    if (f) {
        fclose(f);
    }
    cg_conf_ctx_free(&ctx);
    return rc;
}


int
cg_conf_reg_secrets(const cg_conf_section_t *const *reg, void *conf,
                    int session_only, char *err, size_t errlen)
{
    for (; *reg; reg++) {
        if ((*reg)->secrets
            && (*reg)->secrets(conf, session_only, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}


void
cg_conf_reg_free(const cg_conf_section_t *const *reg, void *conf)
{
    const cg_conf_section_t *const *s;

    for (s = reg; *s; s++) {
        if ((*s)->free) {
            (*s)->free(conf);
        }
        if (!((*s)->flags & CG_CONF_NAMED)) {
            cg_conf_rows_free((*s)->cmds, CG_SEC_BASE(*s, conf));
        }
    }
}
