/*
 * worker: one worker process with a fixed number of request threads.
 *
 * Each thread has its own FastCGI request, chat handles (curl, memcached)
 * and buffers; the threads of a process share only the listening socket
 * (one waits on it at a time) and the scoreboard. The process's main
 * thread takes every signal with sigtimedwait(), so request threads never
 * see EINTR: SIGTERM/SIGINT/SIGQUIT stop accepting (an idle thread leaves
 * at once, a busy one finishes its request), SIGUSR1 reopens the logs.
 * A worker never forks and never touches another process's slots.
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

/* Serves on listen_fd with nthreads threads, recording into scoreboard
 * process slot `slot`, until told to stop; returns the exit status.
 * handoff: the pool's socket pair (receive end, send end) over which a
 * stopping worker passes its kept FastCGI connections to the others, or
 * -1, -1 where there is no pool to take them. */
int cg_worker_run(const cg_conf_t *conf, int listen_fd, const int handoff[2],
                  cg_sb_t *sb, int slot, int nthreads);

#endif
