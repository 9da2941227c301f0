/*
 * pctl: process control, the master's loop. Signals only write a byte
 * to a self-pipe; the loop reads them and acts outside signal context:
 * SIGTERM/SIGINT/SIGQUIT stop (graceful, then killed at
 * shutdown_timeout), SIGHUP reloads (checked as `check` does, deferred
 * while a key rotation holds the config's lock, refused with the old
 * workers still serving), SIGUSR1 reopens the logs. Each pass also reaps,
 * runs the pool manager (children.h) and the alert sender. It never
 * serves a request and holds no per-request state.
 */
#ifndef CG_PCTL_H
#define CG_PCTL_H

#include "pool.h"

#include "conf/config.h"
#include "store/store.h"

/* The self-pipe and the master's signal handlers; 0 or -1. */
int  cg_pctl_signals(void);
/* In a forked worker: the self-pipe closed, the default signal
 * dispositions back. */
void cg_pctl_child_init(void);
/* [store] type = local: opens the store conf shares; 0 or -1 (logged). */
int  cg_pctl_open_store(const cg_conf_t *conf, cg_store_t **out);
/* Starts the stop: SIGQUIT to every worker, a deadline. */
void cg_pctl_stop(cg_pool_t *m, int sig);
/* Runs until the pool has stopped. */
void cg_pctl_loop(cg_pool_t *m);

#endif
