/*
 * privs: what the processes may do beyond serving. Every command starts
 * with no core file and no same-user ptrace (keys live in memory); a
 * master started as root drops to [server] user and group once the
 * socket is open and the keys are read, and leaves the removal of what
 * root made (pid file, socket) to the cleanup helper (cleanup.h). It
 * never raises a privilege and never keeps root for itself.
 */
#ifndef CG_PRIVS_H
#define CG_PRIVS_H

#include "conf/config.h"

/* No core files, not dumpable: first thing in every command. */
void cg_privs_harden(void);
/* Started as root with a user to drop to: the helper that removes the
 * pid file and sock (NULL: none of ours) at exit (cleanup.h). */
void cg_privs_cleanup(cg_conf_t *conf, const char *sock);
/* To [server] user and group when root; 0 or -1 (logged). */
int  cg_privs_drop(const cg_conf_t *conf);

#endif
