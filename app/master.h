/*
 * master: opens the FastCGI socket (or takes systemd's), drops root,
 * forks the workers as the pool mode says (static, dynamic, ondemand),
 * replaces any that die or reach max_requests, kills one whose request
 * outlives request_terminate_timeout, reloads on SIGHUP and stops on
 * SIGTERM/SIGINT/SIGQUIT. It reads the workers' state from the shared
 * scoreboard (scoreboard.h).
 *
 * Signals only write a byte to a self-pipe; all the work happens in the
 * master's loop, outside signal context. The master never serves requests
 * and holds no per-request state.
 */
#ifndef CG_MASTER_H
#define CG_MASTER_H

#include "conf/config.h"

/* Runs the pool on our own socket, or on a systemd-activated one (fd 3,
 * LISTEN_FDS). Takes ownership of conf. */
int cg_master_run(cg_conf_t *conf, const char *conf_path);
/* 1 if fd 0 is an inherited listening socket (mod_fcgid, spawn-fcgi,
 * lighttpd bin-path). */
int cg_master_inherited(void);
/* Serves on that socket as one process with one thread, no master; or,
 * if the spawner sets PHP_FCGI_CHILDREN=N, as a master with N workers. */
int cg_master_run_single(cg_conf_t *conf, const char *conf_path);
/* Opens the listening socket described by spec (Unix path or HOST:PORT). */
int cg_master_listen(const char *spec, int mode, int backlog, char *err,
                     size_t errlen);

#endif
