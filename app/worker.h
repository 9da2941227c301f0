/*
 * worker: one worker process, one event loop (app/loop.c).
 *
 * Each FastCGI connection is served by a fiber; a request takes one of
 * the process's nthreads request contexts (chat handles and buffers, set
 * up at the start), and the process accepts a connection only while one
 * is free, so a full worker leaves new connections to the others. What
 * the contexts share (the store, leases, compiled guards, provider
 * connections) is per process. Signals come on a signalfd in the loop, so
 * no request's read or write sees EINTR: SIGTERM/SIGINT/SIGQUIT stop
 * accepting (idle kept connections go to a sibling or are closed, busy
 * ones finish their request), SIGHUP under a spawner rereads the config,
 * SIGUSR1 reopens the logs. A worker never forks, never blocks its loop
 * outside epoll_wait, and never touches another process's slots.
 */
#ifndef CG_WORKER_H
#define CG_WORKER_H

#include "conf/config.h"
#include "scoreboard.h"

/* Exit status of a worker that left after answering requests past
 * request_terminate_timeout with 504: not a crash. */
#define CG_WORKER_EXIT_TERMINATED  75
/* Exit status of a worker that could not start (it logged why): after a
 * few in a row with none serving, the master gives up (EX_CONFIG). */
#define CG_WORKER_EXIT_START       78

/* Serves on listen_fd with nthreads request contexts, recording into scoreboard
 * process slot `slot`, until told to stop; returns the exit status.
 * handoff: the pool's socket pair (receive end, send end) over which a
 * stopping worker passes its kept FastCGI connections to the others, or
 * -1, -1 where there is no pool to take them. */
int cg_worker_run(const cg_conf_t *conf, int listen_fd, const int handoff[2],
                  cg_sb_t *sb, int slot, int nthreads);

#endif
