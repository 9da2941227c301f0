#include "config.h"
#include "alert.h"
#include "buf.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define CG_OFF(field)  offsetof(cg_conf_t, field)

static int cg_conf_set_str(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                           char *, size_t);
static int cg_conf_set_int(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                           char *, size_t);
static int cg_conf_set_long(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                            char *, size_t);
static int cg_conf_set_mode(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                            char *, size_t);
static int cg_conf_set_ref(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                           char *, size_t);
static int cg_conf_set_failmode(const cg_conf_cmd_t *, cg_conf_t *,
                                const char *, char *, size_t);
static int cg_conf_set_provider(const cg_conf_cmd_t *, cg_conf_t *,
                                const char *, char *, size_t);
static int cg_conf_set_money(const cg_conf_cmd_t *, cg_conf_t *,
                             const char *, char *, size_t);
static int cg_conf_set_bool(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                            char *, size_t);
static int cg_conf_set_store(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                             char *, size_t);
static int cg_conf_set_checked(const cg_conf_cmd_t *, cg_conf_t *,
                               const char *, char *, size_t);
static int cg_conf_set_path(const cg_conf_cmd_t *, cg_conf_t *, const char *,
                            char *, size_t);

const cg_conf_cmd_t cg_conf_cmds[] = {
    { "server", "listen", cg_conf_set_str, CG_OFF(listen),
      "/run/chatgate/chatgate.sock", 0, 0,
      "FastCGI socket: a Unix socket path, or HOST:PORT on loopback "
      "(127.0.0.1:9000, [::1]:9000)" },
    { "server", "socket_mode", cg_conf_set_mode, CG_OFF(socket_mode),
      "0660", 0, 0777, "permission bits of a Unix socket (octal)" },
    { "server", "workers", cg_conf_set_int, CG_OFF(workers),
      "4", 1, 1024, "number of pre-forked worker processes" },
    { "server", "backlog", cg_conf_set_int, CG_OFF(backlog),
      "511", 1, 65535, "listen(2) backlog of the FastCGI socket" },
    { "server", "max_body", cg_conf_set_long, CG_OFF(max_body),
      "65536", 64, 16777216,
      "largest request body in bytes; larger gets 413 before it is read" },
    { "server", "chat_path", cg_conf_set_path, CG_OFF(chat_path),
      "/api/chat", 0, 0, "URL path of the chat endpoint" },
    { "server", "pid_file", cg_conf_set_str, CG_OFF(pid_file),
      "", 0, 0, "file the master writes its PID to (empty: none)" },
    { "server", "shutdown_timeout", cg_conf_set_int, CG_OFF(shutdown_timeout),
      "30", 0, 3600,
      "seconds in-flight requests get to finish on SIGTERM before workers "
      "are killed" },

    { "log", "usage_log", cg_conf_set_str, CG_OFF(usage_log),
      "/var/log/chatgate/usage.log", 0, 0,
      "file that receives one JSON line per request" },
    { "log", "error_log", cg_conf_set_str, CG_OFF(error_log),
      "", 0, 0, "file for operator messages (empty: standard error)" },
    { "log", "syslog", cg_conf_set_bool, CG_OFF(syslog), "no", 0, 0,
      "also send usage and alert lines to syslog (yes/no)" },
    { "log", "syslog_facility", cg_conf_set_checked,
      CG_OFF(syslog_facility),
      "local0", 0, 0, "syslog facility: user, daemon or local0..local7" },

    { "session", "secret", cg_conf_set_ref, CG_OFF(session_secret_ref),
      NULL, 0, 0,
      "HMAC secret for session tokens, as env:NAME or file:/path "
      "(at least 32 bytes)" },
    { "session", "cookie", cg_conf_set_str, CG_OFF(cookie_name),
      "chatgate_session", 0, 0, "name of the session cookie" },
    { "session", "ttl", cg_conf_set_int, CG_OFF(session_ttl),
      "86400", 60, 31536000, "lifetime in seconds of tokens made by `mint`" },

    { "limits", "requests_per_minute", cg_conf_set_int,
      CG_OFF(requests_per_minute), "20", 0, 1000000,
      "chat requests per user per minute (0: no limit)" },
    { "limits", "on_store_error", cg_conf_set_failmode,
      CG_OFF(store_fail_open), "deny", 0, 2,
      "when the store cannot be reached: deny (503), allow the request, or "
      "local (count in this worker only, and log that)" },
    { "limits", "tokens_per_minute", cg_conf_set_long,
      CG_OFF(tokens_per_minute), "0", 0, 1000000000,
      "tokens per user per window (0: no limit)" },
    { "limits", "addr_requests_per_minute", cg_conf_set_long,
      CG_OFF(addr_requests_per_minute), "0", 0, 1000000000,
      "requests per client address per window (0: no limit)" },
    { "limits", "addr_tokens_per_minute", cg_conf_set_long,
      CG_OFF(addr_tokens_per_minute), "0", 0, 1000000000,
      "tokens per client address per window (0: no limit)" },
    { "limits", "global_requests_per_minute", cg_conf_set_long,
      CG_OFF(global_requests_per_minute), "0", 0, 1000000000,
      "requests for the whole site per window (0: no limit)" },
    { "limits", "global_tokens_per_minute", cg_conf_set_long,
      CG_OFF(global_tokens_per_minute), "0", 0, 1000000000,
      "tokens for the whole site per window (0: no limit)" },
    { "limits", "concurrent_requests", cg_conf_set_long,
      CG_OFF(concurrent_requests), "0", 0, 1000000,
      "requests one user may have in flight at once (0: no limit)" },
    { "limits", "window_seconds", cg_conf_set_int, CG_OFF(window_seconds),
      "60", 1, 3600, "length of a rate window (\"per minute\" = 60)" },

    { "store", "type", cg_conf_set_store, CG_OFF(store_type),
      "memcached", 0, 0,
      "where counters live: memcached, or local (a file shared by the "
      "processes of this host)" },
    { "store", "path", cg_conf_set_str, CG_OFF(store_path),
      "/var/lib/chatgate/counters", 0, 0, "file of the local store" },
    { "store", "slots", cg_conf_set_int, CG_OFF(store_slots),
      "65536", 64, 16777216, "counters the local store can hold" },

    { "budget", "user_daily", cg_conf_set_money, CG_OFF(budget_user_daily),
      "0", 0, 0, "dollars one user may spend per UTC day (0: no cap)" },
    { "budget", "user_monthly", cg_conf_set_money,
      CG_OFF(budget_user_monthly), "0", 0, 0,
      "dollars one user may spend per UTC month (0: no cap)" },
    { "budget", "global_daily", cg_conf_set_money,
      CG_OFF(budget_global_daily), "0", 0, 0,
      "dollars the whole site may spend per UTC day (0: no cap)" },
    { "budget", "global_monthly", cg_conf_set_money,
      CG_OFF(budget_global_monthly), "0", 0, 0,
      "dollars the whole site may spend per UTC month (0: no cap)" },
    { "budget", "on_store_error", cg_conf_set_failmode,
      CG_OFF(budget_fail_open), "deny", 0, 1,
      "when spend cannot be counted: deny (503) or allow (uncapped)" },

    { "alerts", "budget_thresholds", cg_conf_set_checked,
      CG_OFF(alert_thresholds), "50,80,100", 0, 0,
      "percentages of any budget that raise an alert (empty: none)" },
    { "alerts", "spike_requests_per_minute", cg_conf_set_long,
      CG_OFF(alert_spike_rpm), "0", 0, 1000000000,
      "alert when one user sends more requests in a window (0: off)" },
    { "alerts", "webhook", cg_conf_set_str, CG_OFF(alert_webhook), "", 0, 0,
      "http(s) URL that gets each alert as Slack-style {\"text\":...}" },
    { "alerts", "command", cg_conf_set_str, CG_OFF(alert_command), "", 0, 0,
      "program run with each alert's JSON on standard input" },

    { "memcached", "servers", cg_conf_set_str, CG_OFF(mc_servers),
      "127.0.0.1:11211", 0, 0,
      "comma-separated memcached servers (HOST:PORT or /socket/path)" },
    { "memcached", "timeout_ms", cg_conf_set_int, CG_OFF(mc_timeout_ms),
      "50", 1, 10000, "connect and I/O timeout for memcached" },

    { "provider", "type", cg_conf_set_provider, CG_OFF(provider_type),
      "anthropic", 0, 0, "provider API: anthropic" },
    { "provider", "base_url", cg_conf_set_str, CG_OFF(base_url),
      "https://api.anthropic.com", 0, 0,
      "provider base URL (the tests and the demo point it at the mock)" },
    { "provider", "api_key", cg_conf_set_ref, CG_OFF(api_key_ref),
      NULL, 0, 0, "provider API key, as env:NAME or file:/path" },
    { "provider", "model", cg_conf_set_str, CG_OFF(model),
      "claude-sonnet-4-5", 0, 0, "model name sent to the provider" },
    { "provider", "max_tokens", cg_conf_set_int, CG_OFF(max_tokens),
      "1024", 1, 200000, "max_tokens sent to the provider" },
    { "provider", "system_prompt", cg_conf_set_str, CG_OFF(system_prompt),
      "", 0, 0,
      "system prompt text, or file:/path for a long one (empty: none)" },
    { "provider", "anthropic_version", cg_conf_set_str,
      CG_OFF(anthropic_version), "2023-06-01", 0, 0,
      "anthropic-version header" },
    { "provider", "connect_timeout_ms", cg_conf_set_int,
      CG_OFF(connect_timeout_ms), "5000", 1, 600000,
      "connect timeout to the provider" },
    { "provider", "timeout_ms", cg_conf_set_int, CG_OFF(timeout_ms),
      "60000", 1, 3600000,
      "total time allowed for one provider call; past it the client gets 504" },
    { "provider", "ca_file", cg_conf_set_str, CG_OFF(ca_file),
      "", 0, 0, "CA bundle for TLS to the provider (empty: system default)" },

    { "input", "max_chars", cg_conf_set_int, CG_OFF(max_chars),
      "10000", 1, 1000000, "longest message in characters" },

    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


static int
cg_conf_set_str(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                char *err, size_t errlen)
{
    char **field = (char **) ((char *) conf + cmd->offset);
    char  *copy = strdup(value);

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(*field);
    *field = copy;
    return 0;
}


static int
cg_conf_parse_long(const cg_conf_cmd_t *cmd, const char *value, int base,
                   long *out, char *err, size_t errlen)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(value, &end, base);
    if (errno || end == value || *end != '\0' || v < cmd->min
        || v > cmd->max) {
        snprintf(err, errlen, "[%s] %s must be a number from %ld to %ld",
                 cmd->section, cmd->name, cmd->min, cmd->max);
        return -1;
    }
    *out = v;
    return 0;
}


static int
cg_conf_set_int(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                char *err, size_t errlen)
{
    long v;

    if (cg_conf_parse_long(cmd, value, 10, &v, err, errlen) != 0) {
        return -1;
    }
    *(int *) ((char *) conf + cmd->offset) = (int) v;
    return 0;
}


static int
cg_conf_set_long(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                 char *err, size_t errlen)
{
    return cg_conf_parse_long(cmd, value, 10,
                              (long *) ((char *) conf + cmd->offset),
                              err, errlen);
}


static int
cg_conf_set_mode(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                 char *err, size_t errlen)
{
    long v;

    if (cg_conf_parse_long(cmd, value, 8, &v, err, errlen) != 0) {
        return -1;
    }
    *(int *) ((char *) conf + cmd->offset) = (int) v;
    return 0;
}


static int
cg_conf_set_ref(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                char *err, size_t errlen)
{
    if (!cg_secret_is_ref(value)) {
        /* Never echo the value: it may be the secret itself. */
        snprintf(err, errlen, "[%s] %s must reference the secret as "
                 "env:NAME or file:/path, not hold it", cmd->section,
                 cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_failmode(const cg_conf_cmd_t *cmd, cg_conf_t *conf,
                     const char *value, char *err, size_t errlen)
{
    int *field = (int *) ((char *) conf + cmd->offset);

    if (strcmp(value, "deny") == 0) {
        *field = 0;
    } else if (strcmp(value, "allow") == 0) {
        *field = 1;
    } else if (cmd->max >= 2 && strcmp(value, "local") == 0) {
        *field = 2;
    } else {
        snprintf(err, errlen, "[%s] %s must be deny%s or allow",
                 cmd->section, cmd->name, cmd->max >= 2 ? ", local" : "");
        return -1;
    }
    return 0;
}


static int
cg_conf_set_money(const cg_conf_cmd_t *cmd, cg_conf_t *conf,
                  const char *value, char *err, size_t errlen)
{
    if (cg_money_parse(value, (uint64_t *) ((char *) conf + cmd->offset))
        != 0) {
        snprintf(err, errlen, "[%s] %s must be dollars such as 5 or 0.25",
                 cmd->section, cmd->name);
        return -1;
    }
    return 0;
}


static int
cg_conf_set_bool(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                 char *err, size_t errlen)
{
    int *field = (int *) ((char *) conf + cmd->offset);

    if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
        *field = value[0] == 'y';
        return 0;
    }
    snprintf(err, errlen, "[%s] %s must be yes or no", cmd->section,
             cmd->name);
    return -1;
}


static int
cg_conf_set_store(const cg_conf_cmd_t *cmd, cg_conf_t *conf,
                  const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "memcached") != 0 && strcmp(value, "local") != 0) {
        snprintf(err, errlen, "[%s] %s must be memcached or local",
                 cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static const struct {
    const char *name;
    int         facility;
} cg_conf_facilities[] = {
    { "user", LOG_USER }, { "daemon", LOG_DAEMON },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
    { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
    { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};


int
cg_conf_syslog_facility(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(cg_conf_facilities)
                    / sizeof(cg_conf_facilities[0]); i++) {
        if (strcmp(cg_conf_facilities[i].name, name) == 0) {
            return cg_conf_facilities[i].facility;
        }
    }
    return -1;
}


/* Strings whose shape is checked here, so `chatgate check` finds the
 * mistake rather than a worker at start. */
static int
cg_conf_set_checked(const cg_conf_cmd_t *cmd, cg_conf_t *conf,
                    const char *value, char *err, size_t errlen)
{
    int t[CG_ALERT_THRESHOLDS];

    if (cmd->offset == CG_OFF(alert_thresholds)
        && cg_alert_parse_thresholds(value, t, CG_ALERT_THRESHOLDS) < 0) {
        snprintf(err, errlen, "[%s] %s must be up to %d percentages such "
                 "as 50,80,100", cmd->section, cmd->name,
                 CG_ALERT_THRESHOLDS);
        return -1;
    }
    if (cmd->offset == CG_OFF(syslog_facility)
        && cg_conf_syslog_facility(value) < 0) {
        snprintf(err, errlen, "[%s] %s must be user, daemon or "
                 "local0..local7", cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_provider(const cg_conf_cmd_t *cmd, cg_conf_t *conf,
                     const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "anthropic") != 0) {
        snprintf(err, errlen, "[%s] %s: unknown provider type (known: "
                 "anthropic)", cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_path(const cg_conf_cmd_t *cmd, cg_conf_t *conf, const char *value,
                 char *err, size_t errlen)
{
    if (value[0] != '/') {
        snprintf(err, errlen, "[%s] %s must start with /", cmd->section,
                 cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


int
cg_conf_init(cg_conf_t *conf, char *err, size_t errlen)
{
    const cg_conf_cmd_t *cmd;

    memset(conf, 0, sizeof(*conf));
    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (cmd->dflt && cmd->set(cmd, conf, cmd->dflt, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}


/* One [price MODEL] key: the row for MODEL is made on first sight. */
static int
cg_conf_price(cg_conf_t *conf, const char *model, const char *name,
              const char *value, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "input", "output", "cache_write", "cache_read"
    };
    cg_price_t *p = (cg_price_t *) cg_price_find(conf->prices, conf->nprices,
                                                 model);
    uint64_t   *field;
    size_t      i;

    for (i = 0; i < 4 && strcmp(keys[i], name) != 0; i++) {
    }
    if (i == 4) {
        snprintf(err, errlen, "unknown key [price %s] %s", model, name);
        return -1;
    }
    if (p == NULL) {
        p = realloc(conf->prices, (conf->nprices + 1) * sizeof(*p));
        if (p == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        conf->prices = p;
        p = &conf->prices[conf->nprices];
        memset(p, 0, sizeof(*p));
        if ((p->model = strdup(model)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        conf->nprices++;
    }
    field = &p->input + i;
    if (cg_money_parse(value, field) != 0) {
        snprintf(err, errlen, "[price %s] %s must be dollars per million "
                 "tokens, such as 3 or 0.30", model, name);
        return -1;
    }
    return 0;
}


typedef struct {
    cg_conf_t  *conf;
    char       *err;
    size_t      errlen;
    unsigned    seen[sizeof(cg_conf_cmds) / sizeof(cg_conf_cmds[0])];
} cg_conf_parse_t;


static int
cg_conf_handler(void *user, const char *section, const char *name,
                const char *value)
{
    cg_conf_parse_t     *ps = user;
    const cg_conf_cmd_t *cmd;
    int                  known_section = 0;

    if (strncmp(section, "price ", 6) == 0) {
        return cg_conf_price(ps->conf, section + 6, name, value, ps->err,
                             ps->errlen) == 0;
    }
    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (strcmp(cmd->section, section) != 0) {
            continue;
        }
        known_section = 1;
        if (strcmp(cmd->name, name) != 0) {
            continue;
        }
        if (ps->seen[cmd - cg_conf_cmds]++) {
            snprintf(ps->err, ps->errlen, "[%s] %s is set twice", section,
                     name);
            return 0;
        }
        return cmd->set(cmd, ps->conf, value, ps->err, ps->errlen) == 0;
    }
    if (known_section) {
        snprintf(ps->err, ps->errlen, "unknown key [%s] %s", section, name);
    } else {
        snprintf(ps->err, ps->errlen, "unknown section [%s]", section);
    }
    return 0;
}


/* Refuses a key-shaped string on a line: a key in a config file is
 * already a leak (backups, diffs, support tickets), comments included. */
static int
cg_conf_scan_key(const char *line, size_t n, const char *path, int lineno,
                 char *err, size_t errlen)
{
    if (!cg_secret_looks_like_key(line, n)) {
        return 0;
    }
    snprintf(err, errlen, "%s:%d: this line holds what looks like a provider "
             "API key; keep keys out of config files and reference them as "
             "env:NAME or file:/path", path, lineno);
    return -1;
}


/* inih reports only name = value lines, so an unknown section with no
 * keys would pass unseen; section headers are checked here instead. */
static int
cg_conf_scan_section(const char *line, size_t n, const char *path,
                     int lineno, char *err, size_t errlen)
{
    const cg_conf_cmd_t *cmd;
    const char          *end;
    size_t               len;

    while (n && (*line == ' ' || *line == '\t')) {
        line++;
        n--;
    }
    if (n == 0 || *line != '[' || (end = memchr(line, ']', n)) == NULL) {
        return 0;
    }
    len = (size_t) (end - line - 1);
    if (len > 6 && memcmp(line + 1, "price ", 6) == 0) {
        return 0;
    }
    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (strlen(cmd->section) == len
            && memcmp(cmd->section, line + 1, len) == 0) {
            return 0;
        }
    }
    snprintf(err, errlen, "%s:%d: unknown section [%.*s]", path, lineno,
             (int) (len > 64 ? 64 : len), line + 1);
    return -1;
}


typedef int (*cg_conf_line_pt)(const char *line, size_t n, const char *path,
                               int lineno, char *err, size_t errlen);

static int
cg_conf_scan_lines(const cg_buf_t *all, cg_conf_line_pt check,
                   const char *path, char *err, size_t errlen)
{
    size_t i, start = 0;
    int    lineno = 1;

    for (i = 0; i <= all->len; i++) {
        if (i < all->len && all->data[i] != '\n') {
            continue;
        }
        if (check(all->data + start, i - start, path, lineno, err,
                  errlen) != 0) {
            return -1;
        }
        start = i + 1;
        lineno++;
    }
    return 0;
}


/* Scans the raw file before inih sees it, as one buffer so that no line
 * length can split a key from the scanner: keys first (the most important
 * finding), then section names. */
static int
cg_conf_scan(FILE *f, const char *path, char *err, size_t errlen)
{
    cg_buf_t    all;
    char        chunk[4096];
    size_t      n;
    int         rc;

    cg_buf_init(&all);
    cg_buf_add(&all, "", 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        cg_buf_add(&all, chunk, n);
    }
    explicit_bzero(chunk, sizeof(chunk));
    if (all.oom) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -1;
    } else {
        rc = cg_conf_scan_lines(&all, cg_conf_scan_key, path, err, errlen);
        if (rc == 0) {
            rc = cg_conf_scan_lines(&all, cg_conf_scan_section, path, err,
                                    errlen);
        }
    }
    if (all.data) {
        explicit_bzero(all.data, all.len);
    }
    cg_buf_free(&all);
    rewind(f);
    return rc;
}


int
cg_conf_load(cg_conf_t *conf, const char *path, char *err, size_t errlen)
{
    cg_conf_parse_t      ps;
    const cg_conf_cmd_t *cmd;
    FILE                *f;
    int                  rc;
    char                 msg[512];

    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (cg_conf_scan(f, path, err, errlen) != 0) {
        fclose(f);
        return -1;
    }
    memset(&ps, 0, sizeof(ps));
    ps.conf = conf;
    ps.err = msg;
    ps.errlen = sizeof(msg);
    msg[0] = '\0';
    rc = ini_parse_file(f, cg_conf_handler, &ps);
    fclose(f);
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, rc,
                 msg[0] ? msg : "syntax error (or a line over 190 "
                 "characters: put long values in a file:/path)");
        return -1;
    }
    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (cmd->dflt == NULL && !ps.seen[cmd - cg_conf_cmds]) {
            snprintf(err, errlen, "%s: [%s] %s is required", path,
                     cmd->section, cmd->name);
            return -1;
        }
    }
    /* A cap without a price could never be enforced: refuse to start. */
    if ((conf->budget_user_daily || conf->budget_user_monthly
         || conf->budget_global_daily || conf->budget_global_monthly)
        && cg_price_find(conf->prices, conf->nprices, conf->model) == NULL) {
        snprintf(err, errlen, "%s: [budget] is set but there is no [price "
                 "%s] section for the model", path, conf->model);
        return -1;
    }
    return 0;
}


static int
cg_conf_load_prompt(cg_conf_t *conf, char *err, size_t errlen)
{
    FILE   *f;
    long    n;
    char   *p;

    if (strncmp(conf->system_prompt, "file:", 5) != 0) {
        conf->system_prompt_text = strdup(conf->system_prompt);
        return conf->system_prompt_text ? 0 : -1;
    }
    f = fopen(conf->system_prompt + 5, "re");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || n > 1048576 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "[provider] system_prompt: cannot read %s",
                 conf->system_prompt + 5);
        if (f) {
            fclose(f);
        }
        return -1;
    }
    p = malloc((size_t) n + 1);
    if (p == NULL || fread(p, 1, (size_t) n, f) != (size_t) n) {
        free(p);
        fclose(f);
        snprintf(err, errlen, "[provider] system_prompt: cannot read %s",
                 conf->system_prompt + 5);
        return -1;
    }
    fclose(f);
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) {
        n--;
    }
    p[n] = '\0';
    conf->system_prompt_text = p;
    return 0;
}


int
cg_conf_load_session_secret(cg_conf_t *conf, char *err, size_t errlen)
{
    char msg[400];

    if (cg_secret_load(&conf->session_secret, conf->session_secret_ref, msg,
                       sizeof(msg)) != 0) {
        snprintf(err, errlen, "[session] secret: %s", msg);
        return -1;
    }
    if (conf->session_secret.len < 32) {
        snprintf(err, errlen, "[session] secret: must be at least 32 bytes "
                 "(try: openssl rand -hex 32)");
        return -1;
    }
    return 0;
}


int
cg_conf_load_secrets(cg_conf_t *conf, char *err, size_t errlen)
{
    char msg[400];

    if (cg_conf_load_session_secret(conf, err, errlen) != 0) {
        return -1;
    }
    if (cg_secret_load(&conf->api_key, conf->api_key_ref, msg,
                       sizeof(msg)) != 0) {
        snprintf(err, errlen, "[provider] api_key: %s", msg);
        return -1;
    }
    return cg_conf_load_prompt(conf, err, errlen);
}


void
cg_conf_free(cg_conf_t *conf)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (cmd->set == cg_conf_set_str || cmd->set == cg_conf_set_ref
            || cmd->set == cg_conf_set_provider
            || cmd->set == cg_conf_set_path
            || cmd->set == cg_conf_set_store
            || cmd->set == cg_conf_set_checked) {
            free(*(char **) ((char *) conf + cmd->offset));
        }
    }
    while (conf->nprices > 0) {
        free(conf->prices[--conf->nprices].model);
    }
    free(conf->prices);
    cg_secret_free(&conf->session_secret);
    cg_secret_free(&conf->api_key);
    free(conf->system_prompt_text);
    memset(conf, 0, sizeof(*conf));
}
