/*
 * master: opens the FastCGI socket, pre-forks the workers, replaces any
 * that die, reloads on SIGHUP and stops on SIGTERM/SIGINT/SIGQUIT.
 *
 * Signals only write a byte to a self-pipe; all the work happens in the
 * master's loop, outside signal context. The master never serves requests
 * and holds no per-request state.
 */
#ifndef CG_MASTER_H
#define CG_MASTER_H

#include "config.h"

int cg_master_run(cg_conf_t *conf, const char *conf_path);
/* Opens the listening socket described by spec (Unix path or HOST:PORT). */
int cg_master_listen(const char *spec, int mode, int backlog, char *err,
                     size_t errlen);

#endif
