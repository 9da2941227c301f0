/*
 * master: starts and ends the pool. It takes the listening socket
 * (sockets.h: its own, systemd's or a spawner's), writes the pid file,
 * drops root (privs.h), opens what the workers share (the scoreboard,
 * scoreboard.h; a local store; the alert sender, alertsend.h; the
 * hand-off pair, worker.h), forks the first workers (children.h) and runs
 * the loop that reaps, replaces, reloads and stops (pctl.h); then it
 * removes what it made. The master never serves requests and holds no
 * per-request state.
 */
#ifndef CG_MASTER_H
#define CG_MASTER_H

#include "conf/config.h"

/* Runs the pool on our own socket, or on a systemd-activated one (fd 3,
 * LISTEN_FDS). Takes ownership of conf. */
int cg_master_run(cg_conf_t *conf, const char *conf_path);
/* On an inherited socket (fd 0, sockets.h): serves on it as one process
 * with one thread, no master; or, if the spawner sets
 * PHP_FCGI_CHILDREN=N, as a master with N workers. */
int cg_master_run_single(cg_conf_t *conf, const char *conf_path);

#endif
