/*
 * log_conf: [log], where the usage lines and operator messages go. Plain
 * types only: lib/conf/config.h embeds this.
 */
#ifndef CG_LOG_CONF_H
#define CG_LOG_CONF_H

#include "conf/conf.h"

/* [log] on_write_error: what a worker does when a usage line cannot be
 * written. */
typedef enum {
    CG_LOG_WRITE_REFUSE = 0,    /* answer 503 until the log takes lines */
    CG_LOG_WRITE_CONTINUE       /* serve; the line goes to the error log */
} cg_log_write_t;

typedef struct {
    char   *usage_log;
    char   *error_log;
    int     on_write_error;     /* cg_log_write_t */
    int     syslog;
    int     syslog_facility;    /* the syslog(3) facility, e.g. LOG_LOCAL0 */
} cg_log_conf_t;

extern const cg_conf_section_t cg_log_conf_section;

#endif
