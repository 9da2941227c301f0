/*
 * children: the worker processes of the pool. Forks them as the pool
 * mode says (static keeps max_children, dynamic keeps the idle ones
 * between min_spare and max_spare, ondemand forks for a waiting client
 * and retires the idle), replaces the ones that leave unasked, throttles
 * respawn after a burst of crashes, kills one whose request outlives
 * request_terminate_timeout, and writes the usage line of a request its
 * worker died in. Runs in the master only, from its loop (pctl.h), never
 * in signal context; it never serves a request.
 */
#ifndef CG_CHILDREN_H
#define CG_CHILDREN_H

#include "pool.h"

#include "conf/config.h"

/* PHP_FCGI_CHILDREN on an inherited socket (0: not asked), set before
 * the master starts and kept across reloads. */
void cg_children_php_set(int n);
int  cg_children_php(void);

/* Makes conf the static single-thread pool PHP_FCGI_CHILDREN asks for. */
void cg_children_php_pool(cg_conf_t *conf);
/* The pool's size: [pool] max_children, else [server] workers. */
int  cg_children_max(const cg_conf_t *conf);
/* The first processes of a generation, as the pool mode says. */
void cg_children_start(cg_pool_t *m);
/* One step of the pool manager; listen_ready: a client waits (ondemand). */
void cg_children_manage(cg_pool_t *m, int listen_ready);
/* Kills a worker whose request outlived request_terminate_timeout. */
void cg_children_terminate_stuck(cg_pool_t *m);
/* Reaps every worker that has exited. */
void cg_children_reap(cg_pool_t *m);
/* How many workers are running, of any generation. */
int  cg_children_alive(cg_pool_t *m);
/* sig to every worker of generation (-1: of all). */
void cg_children_signal(cg_pool_t *m, int sig, int generation);

#endif
