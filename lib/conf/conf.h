/*
 * conf: the INI driver, the nginx way. It knows rows and sections, never
 * what a setting means.
 *
 * A module declares its settings as rows (cg_conf_cmd_t: name, setter,
 * offset into the module's own struct, default, range, documentation) in
 * a section (cg_conf_section_t), and its checks as the section's hooks.
 * lib/conf/registry.c lists the sections; the driver reads the file,
 * hands each "key = value" to the section that declares it (a named
 * section such as [route NAME] to its module's hook), applies every
 * default through the same setters, refuses unknown sections, unknown
 * keys and keys set twice, and runs the modules' checks in registry
 * order. It includes nothing but core: a module's struct is opaque here,
 * reached by offset. It never logs; errors come back as text.
 *
 * A new key: one row in its module's <module>_conf.c and a field in its
 * <module>_conf.h, then `scripts/config-reference > docs/config.md`. A
 * new section: a cg_conf_section_t there, one line in registry.c, and
 * (a new module) its struct in lib/conf/config.h's cg_conf_t.
 */
#ifndef CG_CONF_H
#define CG_CONF_H

#include <stddef.h>

typedef struct cg_conf_cmd_s      cg_conf_cmd_t;
typedef struct cg_conf_section_s  cg_conf_section_t;
typedef struct cg_conf_ctx_s      cg_conf_ctx_t;

/* A row's setter: parse value into base + cmd->offset. */
typedef int (*cg_conf_set_pt)(const cg_conf_cmd_t *cmd, void *base,
                              const char *value, char *err, size_t errlen);
/* A string row's shape check (cg_conf_set_str): 0, or -1 with err. */
typedef int (*cg_conf_check_pt)(const cg_conf_cmd_t *cmd, const char *value,
                                char *err, size_t errlen);

/* One word of a choice: the setter stores value (an enum). */
typedef struct {
    const char *name;
    int         value;
} cg_conf_enum_t;

/* A list of choices in order ([session] mode = jwt, signed). */
#define CG_CONF_LIST_MAX  8
typedef struct {
    int n;
    int v[CG_CONF_LIST_MAX];
} cg_conf_list_t;

struct cg_conf_cmd_s {
    const char           *section;  /* for messages and `chatgate keys` */
    const char           *name;
    cg_conf_set_pt        set;      /* NULL: documented, set by a hook */
    size_t                offset;
    const char           *dflt;     /* NULL: required, no default */
    long                  min, max; /* numbers */
    const char           *doc;
    cg_conf_check_pt      check;    /* cg_conf_set_str: shape check */
    const cg_conf_enum_t *choices;  /* cg_conf_set_enum / _list */
};

/* The setters any module may use. Strings are owned by the struct and
 * freed by the driver; every other setter stores a plain value. */
int cg_conf_set_str(const cg_conf_cmd_t *, void *, const char *, char *,
                    size_t);
int cg_conf_set_int(const cg_conf_cmd_t *, void *, const char *, char *,
                    size_t);
int cg_conf_set_long(const cg_conf_cmd_t *, void *, const char *, char *,
                     size_t);
int cg_conf_set_octal(const cg_conf_cmd_t *, void *, const char *, char *,
                      size_t);
int cg_conf_set_bool(const cg_conf_cmd_t *, void *, const char *, char *,
                     size_t);
/* One of cmd->choices, stored as an int. */
int cg_conf_set_enum(const cg_conf_cmd_t *, void *, const char *, char *,
                     size_t);
/* A comma-separated list of cmd->choices, into a cg_conf_list_t. */
int cg_conf_set_list(const cg_conf_cmd_t *, void *, const char *, char *,
                     size_t);

/* Shape checks for cg_conf_set_str rows. */
int cg_conf_check_ref(const cg_conf_cmd_t *, const char *, char *, size_t);
int cg_conf_check_optref(const cg_conf_cmd_t *, const char *, char *,
                         size_t);
int cg_conf_check_path(const cg_conf_cmd_t *, const char *, char *, size_t);

/* The name of value in choices, or "?". */
const char *cg_conf_enum_name(const cg_conf_enum_t *choices, int value);
/* 1 if list holds value. */
int         cg_conf_list_has(const cg_conf_list_t *list, int value);

/* Applies rows' defaults to base; 0 or -1 with err. */
int  cg_conf_rows_defaults(const cg_conf_cmd_t *rows, void *base, char *err,
                           size_t errlen);
/* Sets key of rows in base (label names the section in messages); seen
 * has one counter per row. Returns 0, -1 with err, or 1: no such key. */
int  cg_conf_rows_set(const cg_conf_cmd_t *rows, void *base,
                      unsigned char *seen, const char *label,
                      const char *key, const char *value, char *err,
                      size_t errlen);
/* The first row without a default that seen does not hold, or NULL. */
const cg_conf_cmd_t *cg_conf_rows_missing(const cg_conf_cmd_t *rows,
                                          const unsigned char *seen);
/* Frees the strings rows own in base. */
void cg_conf_rows_free(const cg_conf_cmd_t *rows, void *base);
size_t cg_conf_rows_count(const cg_conf_cmd_t *rows);
/* Row index of key in rows, or -1. */
int  cg_conf_rows_find(const cg_conf_cmd_t *rows, const char *key);

/* Section flags. */
#define CG_CONF_NAMED     0x1   /* [name ARG], once per ARG */
#define CG_CONF_OPTIONAL  0x2   /* its rows without a default are checked
                                   by its own check hook, not the driver */

struct cg_conf_section_s {
    const char          *name;      /* "server"; "route" for [route NAME] */
    unsigned             flags;
    const cg_conf_cmd_t *cmds;      /* plain sections: rows at base+offset;
                                       named: documentation of the keys */
    size_t               offset;    /* of the module's struct in the conf */
    const char          *doc_name;  /* `keys` heading: "route NAME" */
    /* Named sections, and keys a plain section's rows do not have:
     * 0, -1 with err, or 1 when the key is unknown. */
    int  (*key)(void *conf, const char *arg, const char *key,
                const char *value, char *err, size_t errlen);
    int  (*init)(void *conf, char *err, size_t errlen);
    /* After the whole file is read: cross-key checks, finishing. */
    int  (*check)(void *conf, const cg_conf_ctx_t *ctx, char *err,
                  size_t errlen);
    /* Reads the secrets the settings refer to, and checks what only a
     * loaded configuration can show; session_only: only what `mint`
     * needs (the session keys). */
    int  (*secrets)(void *conf, int session_only, char *err,
                    size_t errlen);
    void (*free)(void *conf);
};

/* For check hooks: 1 if the file set [section] key. */
int  cg_conf_was_set(const cg_conf_ctx_t *ctx, const char *section,
                     const char *key);

/* The registry (lib/conf/registry.c), NULL-terminated, in check order. */
extern const cg_conf_section_t *const cg_conf_registry[];

/* The driver over a registry and a conf of any shape. */
int  cg_conf_reg_init(const cg_conf_section_t *const *reg, void *conf,
                      char *err, size_t errlen);
int  cg_conf_reg_load(const cg_conf_section_t *const *reg, void *conf,
                      const char *path, char *err, size_t errlen);
int  cg_conf_reg_secrets(const cg_conf_section_t *const *reg, void *conf,
                         int session_only, char *err, size_t errlen);
void cg_conf_reg_free(const cg_conf_section_t *const *reg, void *conf);

#endif
