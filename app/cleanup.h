/*
 * cleanup: removing the pid file and the socket at exit when the master
 * dropped root and may not. Both are made as root before the drop, often
 * in a directory only root may write; the dropped master cannot unlink
 * them and they would stay behind. A tiny helper keeps root for that one
 * job: forked (and orphaned) before the drop, it wipes its copy of the
 * config, keeps only the two paths and the read end of a pipe whose write
 * end the master and every worker hold, and when the last of them has
 * exited (EOF) removes what is still theirs: the pid file if it still
 * names the master, the socket if it is still the same inode. It reads
 * nothing else, answers no signal and never execs. When the directories
 * belong to the account chatgate drops to, no helper is started.
 */
#ifndef CG_CLEANUP_H
#define CG_CLEANUP_H

#include "conf/config.h"

#include <sys/types.h>

/* pid_file and sock may be NULL or "" (nothing of that kind to remove).
 * Returns 0 (a helper runs, or none is needed) or -1. */
int cg_cleanup_spawn(cg_conf_t *conf, const char *pid_file, const char *sock,
                     uid_t run_uid);

#endif
