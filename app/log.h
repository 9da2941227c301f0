/*
 * log: the operator's error log (master and workers): one line per event,
 * "TIMESTAMP [level] pid: message", to the configured file or standard
 * error. Messages are written by chatgate's own code; callers never pass a
 * secret, a token or a provider's text to it.
 */
#ifndef CG_LOG_H
#define CG_LOG_H

typedef enum { CG_LOG_ERROR, CG_LOG_WARN, CG_LOG_NOTICE } cg_log_level_t;

int  cg_log_open(const char *path);
void cg_log_reopen(void);
/* The descriptor lines go to: a helper process that closes the rest
 * keeps it. */
int  cg_log_fileno(void);
void cg_log(cg_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
