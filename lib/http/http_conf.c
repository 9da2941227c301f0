#include "conf/config.h"
#include "core/clock.h"
#include "core/csv.h"

#include <stdio.h>
#include <string.h>

#define CG_OFF(field)  offsetof(cg_http_conf_t, field)


/* Origins are compared byte for byte with what browsers send, so an entry
 * that no browser can send (a path, a trailing slash) is a mistake. */
static int
cg_http_conf_origins(const cg_conf_cmd_t *cmd, const char *value, char *err,
                     size_t errlen)
{
    const char *p = value, *item, *host;
    size_t      len;

    while (cg_csv_next(&p, &item, &len)) {
        host = (len > 7 && strncmp(item, "http://", 7) == 0) ? item + 7
               : (len > 8 && strncmp(item, "https://", 8) == 0) ? item + 8
               : NULL;
        if (host == NULL || strcspn(host, "/?# \t") < len - (size_t) (host
                                                                - item)) {
            snprintf(err, errlen, "[%s] %s: each origin is scheme://host"
                     "[:port], with no path or trailing slash", cmd->section,
                     cmd->name);
            return -1;
        }
    }
    return 0;
}


/* A URL prefix: empty (off), or /path without a trailing slash. */
static int
cg_http_conf_prefix(const cg_conf_cmd_t *cmd, const char *value, char *err,
                    size_t errlen)
{
    size_t n = strlen(value);

    if (n > 0 && (value[0] != '/' || value[n - 1] == '/')) {
        snprintf(err, errlen, "[%s] %s must be empty or start with / and "
                 "not end with /", cmd->section, cmd->name);
        return -1;
    }
    return 0;
}


static const cg_conf_cmd_t cg_http_server_cmds[] = {
    { "server", "max_body", cg_conf_set_long, CG_OFF(max_body),
      "65536", 64, 16777216,
      "largest request body in bytes; larger gets 413 (at most this much is "
      "kept; the rest is read and dropped)" },
    { "server", "chat_path", cg_conf_set_str, CG_OFF(chat_path),
      "/api/chat", 0, 0, "URL path of the chat endpoint",
      cg_conf_check_path },
    { "server", "llm_prefix", cg_conf_set_str, CG_OFF(llm_prefix),
      "/api/llm", 0, 0,
      "URL prefix of the provider-compatible endpoints for service tokens: "
      "<prefix>/v1/messages (Anthropic) and <prefix>/v1/chat/completions "
      "(OpenAI), see docs/sdk.md (empty: off)", cg_http_conf_prefix },
    { "server", "heartbeat_seconds", cg_conf_set_int,
      CG_OFF(heartbeat_seconds), "15", 1, 5 * CG_MINUTE_S,
      "seconds between ': ping' comments on an idle answer stream" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

static const cg_conf_cmd_t cg_http_cmds[] = {
    { "http", "allowed_origins", cg_conf_set_str, CG_OFF(allowed_origins),
      "", 0, 0,
      "origins allowed to call, exactly as browsers send them "
      "(https://a.example, http://127.0.0.1:8080)", cg_http_conf_origins },
    { "http", "allow_missing_origin", cg_conf_set_bool,
      CG_OFF(allow_missing_origin), "no", 0, 0,
      "accept a cookie-authenticated request with neither Origin nor "
      "Referer (yes/no)" },
    { "http", "trusted_proxies", cg_conf_set_str, CG_OFF(trusted_proxies),
      "", 0, 0,
      "addresses whose X-Forwarded-For is believed (exact, comma-separated)" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


const cg_conf_section_t cg_http_server_conf_section = {
    .name = "server", .cmds = cg_http_server_cmds,
    .offset = offsetof(cg_conf_t, http),
};

const cg_conf_section_t cg_http_conf_section = {
    .name = "http", .cmds = cg_http_cmds,
    .offset = offsetof(cg_conf_t, http),
};
