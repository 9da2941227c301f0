#include "conf/config.h"

#include <stdio.h>
#include <string.h>


int
cg_conf_init(cg_conf_t *conf, char *err, size_t errlen)
{
    memset(conf, 0, sizeof(*conf));
    return cg_conf_reg_init(cg_conf_registry, conf, err, errlen);
}


int
cg_conf_load(cg_conf_t *conf, const char *path, char *err, size_t errlen)
{
    return cg_conf_reg_load(cg_conf_registry, conf, path, err, errlen);
}


int
cg_conf_load_secrets(cg_conf_t *conf, char *err, size_t errlen)
{
    return cg_conf_reg_secrets(cg_conf_registry, conf, 0, err, errlen);
}


int
cg_conf_load_session_secret(cg_conf_t *conf, char *err, size_t errlen)
{
    return cg_conf_reg_secrets(cg_conf_registry, conf, 1, err, errlen);
}


void
cg_conf_free(cg_conf_t *conf)
{
    cg_conf_reg_free(cg_conf_registry, conf);
    memset(conf, 0, sizeof(*conf));
}


static void
cg_conf_print_rows(FILE *f, const cg_conf_section_t *sec)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = sec->cmds; cmd && cmd->name; cmd++) {
        fprintf(f, "[%s] %s\t%s\t%s\n",
                sec->doc_name ? sec->doc_name : sec->name, cmd->name,
                cmd->dflt ? (cmd->dflt[0] ? cmd->dflt : "(empty)")
                          : "(required)", cmd->doc);
    }
}


void
cg_conf_print_keys(FILE *file)
{
    const cg_conf_section_t *const *s, *const *t;

    for (s = cg_conf_registry; *s; s++) {
        for (t = cg_conf_registry; t < s; t++) {
            if (strcmp((*t)->name, (*s)->name) == 0) {
                break;
            }
        }
        if (t < s) {
            continue;           /* printed with the first of its name */
        }
        for (t = s; *t; t++) {
            if (strcmp((*t)->name, (*s)->name) == 0) {
                cg_conf_print_rows(file, *t);
            }
        }
    }
}
