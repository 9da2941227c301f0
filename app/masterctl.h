/*
 * masterctl: talking to a running master from the command line, for
 * `chatgate reload` and `chatgate reopen` (logrotate's postrotate). The
 * pid file may be stale, so before any signal the PID is checked to be a
 * chatgate master (`chatgate ... serve` whose parent is not one, from
 * /proc/PID/cmdline), never a recycled PID of some other program or a
 * worker. A reload is then followed to its outcome in the master's error
 * log ("reloaded ..." or "reload refused ..."), so the command's exit
 * status says whether the new configuration is serving.
 */
#ifndef CG_MASTERCTL_H
#define CG_MASTERCTL_H

#include <sys/types.h>

/* Reads pid_file and checks that it names a chatgate master; 0 and *pid,
 * or -1 with why in err. */
int cg_masterctl_find(const char *pid_file, pid_t *pid, char *err,
                      size_t errlen);
/* SIGHUP, then waits for the outcome in error_log; prints it. Returns the
 * exit status: 0 only when the new configuration is serving. */
int cg_masterctl_reload(const char *pid_file, const char *error_log);
/* SIGUSR1: the master and its workers reopen their logs. */
int cg_masterctl_reopen(const char *pid_file);

#endif
