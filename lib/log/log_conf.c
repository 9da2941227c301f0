#include "conf/config.h"

#include <syslog.h>

#define CG_OFF(field)  offsetof(cg_log_conf_t, field)

static const cg_conf_enum_t cg_log_write_errors[] = {
    { "refuse", CG_LOG_WRITE_REFUSE }, { "continue", CG_LOG_WRITE_CONTINUE },
    { NULL, 0 }
};

static const cg_conf_enum_t cg_log_facilities[] = {
    { "user", LOG_USER }, { "daemon", LOG_DAEMON },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
    { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
    { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
    { NULL, 0 }
};

static const cg_conf_cmd_t cg_log_cmds[] = {
    { "log", "usage_log", cg_conf_set_str, CG_OFF(usage_log),
      "/var/log/chatgate/usage.log", 0, 0,
      "file that receives one JSON line per request" },
    { "log", "error_log", cg_conf_set_str, CG_OFF(error_log),
      "", 0, 0, "file for operator messages (empty: standard error)" },
    { "log", "on_write_error", cg_conf_set_enum, CG_OFF(on_write_error),
      "refuse", 0, 0,
      "a usage line cannot be written (disk full): refuse (answer 503 "
      "until the log takes lines again) or continue (serve, and put the "
      "line in the error log)", NULL, cg_log_write_errors },
    { "log", "syslog", cg_conf_set_bool, CG_OFF(syslog), "no", 0, 0,
      "also send usage and alert lines to syslog (yes/no)" },
    { "log", "syslog_facility", cg_conf_set_enum, CG_OFF(syslog_facility),
      "local0", 0, 0, "syslog facility: user, daemon or local0..local7",
      NULL, cg_log_facilities },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

const cg_conf_section_t cg_log_conf_section = {
    .name = "log", .cmds = cg_log_cmds, .offset = offsetof(cg_conf_t, log),
};
