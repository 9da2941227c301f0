/*
 * pool: the master's state, one struct that its modules share: the
 * process slots (children.c starts, counts, reaps and replaces them),
 * the generation and the stop (pctl.c moves them on SIGHUP and SIGTERM),
 * the listening socket and the hand-off pair every worker inherits
 * (master.c opens them). Only the master holds one; a worker gets its
 * slot number and the scoreboard, never this struct. No function here.
 */
#ifndef CG_POOL_H
#define CG_POOL_H

#include "scoreboard.h"

#include "conf/config.h"
#include "store/store.h"

#include <sys/types.h>

/* Two generations of 1024, during a reload. */
#define CG_POOL_MAX_SLOTS  2050

typedef struct {
    pid_t   pid;
    int     generation;
    int     retiring;       /* told to leave (spare, idle, reload) */
    int     killed;         /* by request_terminate_timeout */
    double  started;
} cg_pool_slot_t;

typedef struct {
    cg_conf_t      *conf;
    const char     *conf_path;
    int             listen_fd;
    int             handoff[2];     /* worker.h: kept connections between
                                       workers */
    pid_t           master_pid;
    int             own_socket;     /* ours to unlink at exit */
    int             systemd;        /* socket activation: fd 3 */
    int             generation;
    int             stopping;
    double          stop_deadline;
    cg_sb_t         sb;
    int             nslots;         /* process slots in the scoreboard */
    int             threads;        /* threads per process, fixed at start */
    cg_pool_slot_t  slots[CG_POOL_MAX_SLOTS];
    double          respawn_after;  /* throttle after a crash burst */
    int             crashes;
    double          crash_window;
    double          ondemand_after; /* ondemand: no new fork before this */
    cg_store_t     *store;          /* [store] type = local: held open, so
                                       the file is seen in use by this
                                       config */
    int             reload_pending; /* deferred: a key rotation holds the
                                       config's lock */
    int             owed;           /* workers that left unasked, to
                                       replace */
    int             start_failures; /* in a row, with no worker serving */
    int             exit_code;
} cg_pool_t;

#endif
