/*
 * preflight: what `chatgate check` verifies beyond the config file itself,
 * so that check passes only when serve would start (as nginx -t does): the
 * accounts [server] names exist, the files serve writes (logs, local
 * store, pid file, socket) are writable by the account that writes them,
 * the keys a reload re-reads are readable by the account chatgate runs as,
 * and a listen address off loopback is pointed out. It prints what it
 * finds and changes nothing (a probe file is never created: it asks the
 * kernel with faccessat as that account, in a child process).
 */
#ifndef CG_PREFLIGHT_H
#define CG_PREFLIGHT_H

#include "conf/config.h"

/* Prints errors on stderr and warnings on stdout; returns the number of
 * errors (0: serve would start). */
int cg_preflight(const cg_conf_t *conf);

#endif
