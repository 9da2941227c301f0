/*
 * confopen: the one way chatgate opens a configuration. `serve`, `check`,
 * `probe`, `mint`, `reload`, `audit`, `report` and the master's SIGHUP all
 * come through cg_confopen(), so a reload applies exactly the checks that
 * `check` applies and cannot accept a file that would leave every new
 * worker unable to start: the modules' checks (lib/conf's registry, the
 * session verifiers and guards built as a worker builds them) and the
 * process's own (address lists). It never logs and never exits: the caller
 * says what went wrong (stderr for a command, the error log for a
 * reload).
 */
#ifndef CG_CONFOPEN_H
#define CG_CONFOPEN_H

#include "conf/config.h"

typedef enum {
    CG_OPEN_SETTINGS = 0,   /* parse and the modules' checks, read no
                               secret (reload, audit: which reports what
                               else it finds, report) */
    CG_OPEN_SESSION,        /* and the session keys (mint) */
    CG_OPEN_ALL             /* and every secret, verifier, guard,
                               address list and file a worker opens: all
                               a worker needs (serve, check, probe,
                               SIGHUP) */
} cg_open_level_t;

/* Returns a configuration allocated with malloc (free with cg_confclose),
 * or NULL with a message in err. path NULL: the defaults alone. */
cg_conf_t *cg_confopen(const char *path, cg_open_level_t level, char *err,
                       size_t errlen);
void       cg_confclose(cg_conf_t *conf);

#endif
