/*
 * worker: one pre-forked worker process. Accepts FastCGI requests on the
 * inherited listening socket, reads params and the (capped) body, runs
 * admission and the chat pipeline, writes the response and the usage line.
 *
 * Stop semantics: SIGTERM/SIGINT/SIGQUIT are blocked while a request is in
 * progress, so a request is never cut off by a stop; an idle worker leaves
 * at once. SIGUSR1 reopens the logs before the next line is written.
 */
#ifndef CG_WORKER_H
#define CG_WORKER_H

#include "config.h"

/* Runs until told to stop; returns the process exit status. */
int cg_worker_run(const cg_conf_t *conf, int listen_fd);

#endif
