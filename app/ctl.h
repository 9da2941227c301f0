/*
 * ctl: the operator's commands around a running server and its keys:
 * `reload` (SIGHUP to the master named in [server] pid_file) and `probe`
 * (one minimal provider request through a named key, to prove a new key
 * works before the old one is revoked). Neither ever prints a key: only
 * its name and fingerprint.
 */
#ifndef CG_CTL_H
#define CG_CTL_H

#include "conf/config.h"

int cg_ctl_reload(const cg_conf_t *conf);
/* key NULL: the provider key. Returns 0 when the provider accepted it. */
/* One minimal provider call through key (NULL: the default route's);
 * with key_file, through the candidate key in that file instead of the
 * installed one (loaded with the same checks as file: keys). 0 when the
 * provider accepted it. */
int cg_ctl_probe(cg_conf_t *conf, const char *key, const char *key_file);
/* Prints each loaded key's name, environment and fingerprint, and an age
 * warning for keys past max_age_days (for `check`). */
void cg_ctl_check_keys(const cg_conf_t *conf);

#endif
