/*
 * keylog: the master's admin events about keys, written as audit lines to
 * the usage log and as notices to the error log: start, reload, key_loaded,
 * key_rotated (a key name whose fingerprint changed on reload) and key_age
 * (a key older than its max_age_days). Keys appear by name and
 * fingerprint only; this module never sees a caller's message text.
 */
#ifndef CG_KEYLOG_H
#define CG_KEYLOG_H

#include "conf/config.h"

/* action is "start" or "reload"; old is the previous config or NULL. */
void cg_keylog_events(const cg_conf_t *old, const cg_conf_t *nc,
                      const char *action);
/* A refused reload; why is chatgate's own message (never a key). */
void cg_keylog_refused(const cg_conf_t *cur, const char *why);

#endif
