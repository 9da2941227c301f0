#include "conf/config.h"
#include "meter/alert.h"
#include "core/buf.h"
#include "core/csv.h"
#include "who/svctoken.h"
#include "guard/guardset.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define CG_OFF(field)  offsetof(cg_conf_t, field)

static int cg_conf_set_str(const cg_conf_cmd_t *, void *, const char *,
                           char *, size_t);
static int cg_conf_set_int(const cg_conf_cmd_t *, void *, const char *,
                           char *, size_t);
static int cg_conf_set_long(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);
static int cg_conf_set_mode(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);
static int cg_conf_set_ref(const cg_conf_cmd_t *, void *, const char *,
                           char *, size_t);
static int cg_conf_set_money(const cg_conf_cmd_t *, void *, const char *,
                             char *, size_t);
static int cg_conf_set_store(const cg_conf_cmd_t *, void *, const char *,
                             char *, size_t);
static int cg_conf_set_checked(const cg_conf_cmd_t *, void *, const char *,
                               char *, size_t);
static int cg_conf_set_failmode(const cg_conf_cmd_t *, void *,
                                const char *, char *, size_t);
static int cg_conf_set_provider(const cg_conf_cmd_t *, void *,
                                const char *, char *, size_t);
static int cg_conf_set_pm(const cg_conf_cmd_t *, void *, const char *,
                          char *, size_t);
static int cg_conf_set_path(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);
static int cg_conf_set_keyref(const cg_conf_cmd_t *, void *,
                              const char *, char *, size_t);
static int cg_conf_set_env(const cg_conf_cmd_t *, void *, const char *,
                           char *, size_t);
static int cg_conf_set_date(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);
static int cg_conf_set_optref(const cg_conf_cmd_t *, void *, const char *,
                              char *, size_t);
static int cg_conf_set_bool(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);
static int cg_conf_set_auth(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);
static int cg_conf_set_tokparam(const cg_conf_cmd_t *, void *, const char *,
                                char *, size_t);
static int cg_conf_set_temp(const cg_conf_cmd_t *, void *, const char *,
                            char *, size_t);

#define CG_ROFF(field)  offsetof(cg_route_t, field)
static int cg_conf_set_choice(const cg_conf_cmd_t *, void *, const char *,
                              char *, size_t);
static int cg_conf_set_origins(const cg_conf_cmd_t *, void *, const char *,
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
    { "server", "environment", cg_conf_set_env, CG_OFF(environment),
      "production", 0, 0,
      "production, staging or development: only keys of this environment "
      "are read, and a route using another environment's key is refused" },
    { "server", "default_route", cg_conf_set_str, CG_OFF(default_route),
      "default", 0, 0,
      "route used when the client names none ([provider] is \"default\")" },
    { "server", "heartbeat_seconds", cg_conf_set_int,
      CG_OFF(heartbeat_seconds), "15", 1, 300,
      "seconds between ': ping' comments on an idle answer stream" },
    { "server", "threads", cg_conf_set_int, CG_OFF(threads),
      "1", 1, 1024,
      "request threads per worker process; concurrency is children x "
      "threads" },
    { "server", "user", cg_conf_set_str, CG_OFF(user), "", 0, 0,
      "when started as root: user to run as after opening the socket and "
      "reading the keys (empty: stay)" },
    { "server", "group", cg_conf_set_str, CG_OFF(group), "", 0, 0,
      "when started as root: group to run as (empty: the user's group)" },
    { "server", "socket_owner", cg_conf_set_str, CG_OFF(socket_owner),
      "", 0, 0, "owner of a Unix socket (empty: unchanged)" },
    { "server", "socket_group", cg_conf_set_str, CG_OFF(socket_group),
      "", 0, 0, "group of a Unix socket, e.g. the web server's (empty: "
      "unchanged)" },
    { "server", "allowed_clients", cg_conf_set_str, CG_OFF(allowed_clients),
      "", 0, 0, "TCP listen only: comma-separated IPv4/IPv6 addresses that "
      "may connect (empty: any; like FCGI_WEB_SERVER_ADDRS)" },

    { "pool", "mode", cg_conf_set_pm, CG_OFF(pm), "static", 0, 0,
      "static (max_children always), dynamic (spares between min_spare "
      "and max_spare) or ondemand (fork on demand, leave after "
      "idle_timeout)" },
    { "pool", "max_children", cg_conf_set_int, CG_OFF(max_children),
      "0", 0, 1024, "most worker processes (0: [server] workers)" },
    { "pool", "start_children", cg_conf_set_int, CG_OFF(start_children),
      "0", 0, 1024, "dynamic: processes at start (0: (min_spare + "
      "max_spare) / 2)" },
    { "pool", "min_spare", cg_conf_set_int, CG_OFF(min_spare),
      "1", 1, 1024, "dynamic: fewest idle processes" },
    { "pool", "max_spare", cg_conf_set_int, CG_OFF(max_spare),
      "3", 1, 1024, "dynamic: most idle processes" },
    { "pool", "idle_timeout", cg_conf_set_int, CG_OFF(idle_timeout),
      "10", 1, 86400, "ondemand: seconds an idle process stays" },
    { "pool", "max_requests", cg_conf_set_int, CG_OFF(max_requests),
      "0", 0, 100000000,
      "requests a process serves before it is replaced (0: never)" },
    { "pool", "request_terminate_timeout", cg_conf_set_int,
      CG_OFF(request_terminate_timeout), "0", 0, 86400,
      "seconds after which a request is answered 504 and its process "
      "replaced (0: never)" },
    { "pool", "emergency_restart_threshold", cg_conf_set_int,
      CG_OFF(emergency_restart_threshold), "0", 0, 100000,
      "crashes within emergency_restart_interval that pause respawning "
      "for a second (0: 2 x max_children + 2)" },
    { "pool", "emergency_restart_interval", cg_conf_set_int,
      CG_OFF(emergency_restart_interval), "10", 1, 86400,
      "window in seconds for emergency_restart_threshold" },

    { "status", "path", cg_conf_set_str, CG_OFF(status_path), "", 0, 0,
      "URL path of the status page, e.g. /chatgate-status (empty: off)" },
    { "status", "allow", cg_conf_set_str, CG_OFF(status_allow),
      "127.0.0.1, ::1", 0, 0,
      "client addresses (REMOTE_ADDR) that may read the status page" },

    { "log", "usage_log", cg_conf_set_str, CG_OFF(usage_log),
      "/var/log/chatgate/usage.log", 0, 0,
      "file that receives one JSON line per request" },
    { "log", "error_log", cg_conf_set_str, CG_OFF(error_log),
      "", 0, 0, "file for operator messages (empty: standard error)" },
    { "log", "on_write_error", cg_conf_set_choice,
      CG_OFF(log_on_write_error), "refuse", 2, 0,
      "a usage line cannot be written (disk full): refuse (answer 503 "
      "until the log takes lines again) or continue (serve, and put the "
      "line in the error log)" },
    { "log", "syslog", cg_conf_set_bool, CG_OFF(syslog), "no", 0, 0,
      "also send usage and alert lines to syslog (yes/no)" },
    { "log", "syslog_facility", cg_conf_set_checked,
      CG_OFF(syslog_facility), "local0", 0, 0,
      "syslog facility: user, daemon or local0..local7" },

    { "session", "secret", cg_conf_set_optref, CG_OFF(session_secret_ref),
      "", 0, 0,
      "HMAC secret for session tokens, as env:NAME, file:/path or "
      "credential:NAME (at least 32 bytes); required for mode signed "
      "unless secrets is set" },
    { "session", "cookie", cg_conf_set_str, CG_OFF(cookie_name),
      "chatgate_session", 0, 0, "name of the session cookie" },
    { "session", "ttl", cg_conf_set_int, CG_OFF(session_ttl),
      "86400", 60, 31536000, "lifetime in seconds of tokens made by `mint`" },
    { "session", "user_id_key", cg_conf_set_optref, CG_OFF(user_id_key_ref),
      "", 0, 0,
      "key for the pseudonymous user id sent to the provider, as env:NAME "
      "or file:/path (empty: the session secret)" },

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
      "anthropic", 0, 0, "provider API: anthropic or openai" },
    { "provider", "base_url", cg_conf_set_str, CG_OFF(base_url),
      "https://api.anthropic.com", 0, 0,
      "provider base URL (the tests and the demo point it at the mock)" },
    { "provider", "api_key", cg_conf_set_keyref, CG_OFF(api_key_ref),
      NULL, 0, 0, "provider API key: key:NAME (a [key NAME] section), or "
      "env:NAME, file:/path or credential:NAME" },
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
    { "provider", "retention", cg_conf_set_str, CG_OFF(retention),
      "", 0, 0, "the provider's data-retention terms as reviewed, e.g. "
      "\"30 days, no training\" (empty: an audit finding)" },
    { "provider", "reviewed", cg_conf_set_date, CG_OFF(reviewed),
      "", 0, 0, "date of the last retention review, YYYY-MM-DD (audit flags "
      "one older than a year)" },

    { "input", "max_chars", cg_conf_set_int, CG_OFF(max_chars),
      "10000", 1, 1000000, "longest message in characters" },
    { "input", "max_messages", cg_conf_set_int, CG_OFF(max_messages),
      "50", 1, 10000, "most messages in one conversation" },
    { "input", "max_total_chars", cg_conf_set_int, CG_OFF(max_total_chars),
      "50000", 1, 10000000,
      "most characters in all messages of one conversation together" },


    { "session", "mode", cg_conf_set_choice, CG_OFF(session_mode),
      "signed", 0, 1,
      "verifiers tried in order: signed, jwt, php-files, php-memcached" },
    { "session", "secrets", cg_conf_set_str, CG_OFF(session_secrets_ref),
      "", 0, 0,
      "rotating signing keys KID:env:NAME or KID:file:/path, comma-"
      "separated; the first signs (v2 tokens), all verify" },
    { "session", "jwt_secret", cg_conf_set_optref, CG_OFF(jwt_secret_ref),
      "", 0, 0, "HS256 key for mode jwt (env:/file:, at least 32 bytes)" },
    { "session", "jwt_issuer", cg_conf_set_str, CG_OFF(jwt_issuer),
      "", 0, 0, "required iss claim (empty: not checked)" },
    { "session", "jwt_audience", cg_conf_set_str, CG_OFF(jwt_audience),
      "", 0, 0, "required aud value (empty: tokens with aud are refused)" },
    { "session", "jwt_user_claim", cg_conf_set_str, CG_OFF(jwt_user_claim),
      "sub", 0, 0, "claim that holds the user id" },
    { "session", "jwt_leeway", cg_conf_set_int, CG_OFF(jwt_leeway),
      "60", 0, 300, "clock skew allowed on exp/nbf/iat, seconds" },
    { "session", "jwt_cookie", cg_conf_set_str, CG_OFF(jwt_cookie),
      "", 0, 0, "cookie holding the JWT (empty: Authorization: Bearer only)" },
    { "session", "php_save_path", cg_conf_set_str, CG_OFF(php_save_path),
      "/var/lib/php/sessions", 0, 0,
      "PHP session.save_path for php-files (\"N;/dir\" form allowed)" },
    { "session", "php_cookie", cg_conf_set_str, CG_OFF(php_cookie),
      "PHPSESSID", 0, 0, "PHP session cookie name (session.name)" },
    { "session", "php_user_key", cg_conf_set_str, CG_OFF(php_user_key),
      "user_id", 0, 0, "$_SESSION variable that holds the user id" },
    { "session", "php_serializer", cg_conf_set_choice, CG_OFF(php_serializer),
      "php", 1, 0, "session.serialize_handler: php or php_serialize" },
    { "session", "php_file_owner", cg_conf_set_str, CG_OFF(php_file_owner),
      "", 0, 0,
      "user name or uid that must own session files (empty: chatgate's)" },
    { "session", "php_max_lifetime", cg_conf_set_int,
      CG_OFF(php_max_lifetime), "1440", 0, 31536000,
      "session files not modified for this many seconds are refused "
      "(session.gc_maxlifetime; 0: no check)" },
    { "session", "php_memcached_servers", cg_conf_set_str,
      CG_OFF(php_mc_servers), "127.0.0.1:11211", 0, 0,
      "memcached servers of PHP's session.save_path (HOST:PORT,...)" },
    { "session", "php_memcached_prefix", cg_conf_set_str,
      CG_OFF(php_mc_prefix), "memc.sess.key.", 0, 0,
      "memcached.sess_prefix of php-memcached" },
    { "http", "allowed_origins", cg_conf_set_origins,
      CG_OFF(allowed_origins),
      "", 0, 0,
      "origins allowed to call, exactly as browsers send them "
      "(https://a.example, http://127.0.0.1:8080)" },
    { "http", "allow_missing_origin", cg_conf_set_bool,
      CG_OFF(allow_missing_origin), "no", 0, 0,
      "accept a cookie-authenticated request with neither Origin nor "
      "Referer (yes/no)" },
    { "http", "trusted_proxies", cg_conf_set_str, CG_OFF(trusted_proxies),
      "", 0, 0,
      "addresses whose X-Forwarded-For is believed (exact, comma-separated)" },
    { "limits", "auth_failures_per_minute", cg_conf_set_int,
      CG_OFF(auth_failures_per_minute), "30", 0, 1000000,
      "failed authentications per client address per minute before 429 "
      "(0: no limit)" },


    { "guard", "invisible", cg_conf_set_invisible,
      CG_OFF(guard_refuse_invisible), "strip", 0, 0,
      "invisible and control characters in input: strip or refuse (400)" },
    { "guard", "injection", cg_conf_set_guard_action, CG_OFF(guard_injection),
      "flag", 0, 0,
      "built-in injection patterns: flag (usage log), block (400) or off" },
    { "guard", "injection_patterns", cg_conf_set_str, CG_OFF(guard_patterns),
      "", 0, 0,
      "more patterns, file:/path with action<TAB>[name<TAB>]regex lines" },
    { "guard", "max_bytes", cg_conf_set_long, CG_OFF(guard_max_bytes),
      "0", 0, 16777216, "longest message in bytes (0: only max_body)" },
    { "guard", "max_tokens", cg_conf_set_int, CG_OFF(guard_max_tokens),
      "0", 0, 10000000,
      "longest message in estimated tokens, bytes / 4 (0: no limit)" },
    { "guard", "allowed_hosts", cg_conf_set_str, CG_OFF(guard_allowed_hosts),
      "", 0, 0,
      "hosts answers may link to: \"a.com .b.org\" (.b.org: and subdomains)" },
    { "guard", "max_urls", cg_conf_set_int, CG_OFF(guard_max_urls),
      "10", 0, 100000, "allowed URLs kept per answer; later ones removed" },
    { "guard", "bare_urls", cg_conf_set_bare_urls, CG_OFF(guard_bare_urls),
      "keep", 0, 0,
      "plain http(s):// URLs in answers: keep, or check like links (check)" },
    { "pii", "email", cg_conf_set_pii_action, CG_OFF(pii_email),
      "pseudonymize", 0, 0, "pseudonymize, mask, block or allow" },
    { "pii", "phone", cg_conf_set_pii_action, CG_OFF(pii_phone),
      "pseudonymize", 0, 0, "pseudonymize, mask, block or allow" },
    { "pii", "card", cg_conf_set_pii_action, CG_OFF(pii_card),
      "mask", 0, 0, "payment cards (Luhn-checked)" },
    { "pii", "iban", cg_conf_set_pii_action, CG_OFF(pii_iban),
      "mask", 0, 0, "IBANs (mod-97-checked)" },
    { "pii", "ssn", cg_conf_set_pii_action, CG_OFF(pii_ssn),
      "mask", 0, 0, "US social security numbers" },
    { "pii", "ip", cg_conf_set_pii_action, CG_OFF(pii_ip),
      "allow", 0, 0, "IPv4 and IPv6 addresses" },
    { "pii", "key", cg_conf_set_str, CG_OFF(pii_key_ref),
      "", 0, 0,
      "pseudonym key, env:NAME or file:/path (empty: derived from the "
      "session secret)" },
    { "pii", "patterns", cg_conf_set_str, CG_OFF(pii_patterns),
      "", 0, 0,
      "more detectors, file:/path with action<TAB>name<TAB>regex lines" },

    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


/* [route NAME] keys. [provider] accepts them too (keys it does not have
 * itself), for its route "default". */
const cg_conf_cmd_t cg_route_cmds[] = {
    { "route", "provider", cg_conf_set_provider, CG_ROFF(provider),
      "anthropic", 0, 0, "provider API: anthropic or openai" },
    { "route", "base_url", cg_conf_set_str, CG_ROFF(base_url), "", 0, 0,
      "provider base URL (empty: https://api.anthropic.com, or "
      "https://api.openai.com/v1 for openai)" },
    { "route", "url", cg_conf_set_str, CG_ROFF(url), "", 0, 0,
      "full request URL, overriding base_url (Azure deployment URLs)" },
    { "route", "api_key", cg_conf_set_keyref, CG_ROFF(api_key_ref), NULL,
      0, 0, "provider API key: key:NAME (a [key NAME] section), or "
      "env:NAME, file:/path or credential:NAME" },
    { "route", "auth", cg_conf_set_auth, CG_ROFF(auth), "", 0, 0,
      "key header: bearer, api-key (Azure) or x-api-key (empty: the "
      "provider's own)" },
    { "route", "model", cg_conf_set_str, CG_ROFF(model), NULL, 0, 0,
      "model name sent to the provider" },
    { "route", "max_tokens", cg_conf_set_int, CG_ROFF(max_tokens), "1024",
      1, 200000, "answer length limit sent to the provider" },
    { "route", "max_tokens_param", cg_conf_set_tokparam,
      CG_ROFF(max_tokens_param), "auto", 0, 0,
      "openai: max_tokens or max_completion_tokens (auto: the latter for "
      "api.openai.com, Azure and o1/o3/o4/gpt-5 models)" },
    { "route", "temperature", cg_conf_set_temp, CG_ROFF(temperature), "", 0,
      2, "sampling temperature (empty: not sent; never sent to models that "
      "reject it)" },
    { "route", "system_prompt", cg_conf_set_str, CG_ROFF(system_prompt), "",
      0, 0, "system prompt text, or file:/path (empty: none)" },
    { "route", "anthropic_version", cg_conf_set_str,
      CG_ROFF(anthropic_version), "2023-06-01", 0, 0,
      "anthropic-version header" },
    { "route", "price", cg_conf_set_str, CG_ROFF(price), "", 0, 0,
      "price row for budgets (not interpreted by routing)" },
    { "route", "fallback", cg_conf_set_str, CG_ROFF(fallback), "", 0, 0,
      "comma-separated routes tried in order when this one fails before "
      "the answer starts" },
    { "route", "public", cg_conf_set_bool, CG_ROFF(is_public), "yes", 0, 0,
      "yes: clients may name this route; no: only as default or fallback" },
    { "route", "connect_timeout_ms", cg_conf_set_int,
      CG_ROFF(connect_timeout_ms), "5000", 1, 600000,
      "connect timeout to the provider" },
    { "route", "first_byte_timeout_ms", cg_conf_set_int,
      CG_ROFF(first_byte_timeout_ms), "0", 0, 3600000,
      "time allowed until the provider's first byte (0: timeout_ms)" },
    { "route", "idle_timeout_ms", cg_conf_set_int, CG_ROFF(idle_timeout_ms),
      "30000", 1, 3600000,
      "longest silence between stream events before the call is dropped" },
    { "route", "timeout_ms", cg_conf_set_int, CG_ROFF(timeout_ms), "60000",
      1, 3600000, "total time allowed for one provider call" },
    { "route", "retries", cg_conf_set_int, CG_ROFF(retries), "2", 0, 10,
      "retries on 429/529/5xx/connection errors before the answer starts" },
    { "route", "retry_max_wait_ms", cg_conf_set_int,
      CG_ROFF(retry_max_wait_ms), "5000", 0, 60000,
      "longest wait before one retry; a longer retry-after skips to the "
      "fallbacks" },
    /* This route's own rate limits, on top of [limits] (docs/limits.md). */
    { "route", "requests_per_minute", cg_conf_set_int, CG_ROFF(rpm), "0", 0,
      1000000, "requests per user per window on this route, on top of "
      "[limits] (0: none)" },
    { "route", "tokens_per_minute", cg_conf_set_int, CG_ROFF(tpm), "0", 0,
      1000000000, "tokens per user per window on this route (0: none)" },
    { "route", "global_requests_per_minute", cg_conf_set_int,
      CG_ROFF(global_rpm), "0", 0, 1000000,
      "requests on this route for the whole site per window (0: none)" },
    { "route", "global_tokens_per_minute", cg_conf_set_int,
      CG_ROFF(global_tpm), "0", 0, 1000000000,
      "tokens on this route for the whole site per window (0: none)" },

    /* Session verifiers and admission: docs/sessions.md. For a oneof row,
     * min/max index the choice lists below. */

    /* Guards (docs/guards.md). */
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


static int
cg_conf_set_str(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                char *err, size_t errlen)
{
    if (cg_str_replace((char **) ((char *) conf + cmd->offset), value) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
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
cg_conf_set_int(const cg_conf_cmd_t *cmd, void *conf, const char *value,
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
cg_conf_set_long(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                 char *err, size_t errlen)
{
    return cg_conf_parse_long(cmd, value, 10,
                              (long *) ((char *) conf + cmd->offset),
                              err, errlen);
}


static int
cg_conf_set_mode(const cg_conf_cmd_t *cmd, void *conf, const char *value,
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
cg_conf_set_ref(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                char *err, size_t errlen)
{
    if (!cg_secret_is_ref(value)) {
        /* Never echo the value: it may be the secret itself. */
        snprintf(err, errlen, "[%s] %s must reference the secret as "
                 "env:NAME, file:/path or credential:NAME, not hold it",
                 cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_failmode(const cg_conf_cmd_t *cmd, void *conf,
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
cg_conf_set_money(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                  char *err, size_t errlen)
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
cg_conf_set_store(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                  char *err, size_t errlen)
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
cg_conf_set_checked(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                    char *err, size_t errlen)
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
cg_conf_set_provider(const cg_conf_cmd_t *cmd, void *conf,
                     const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "anthropic") != 0 && strcmp(value, "openai") != 0) {
        snprintf(err, errlen, "[%s] %s: unknown provider type (known: "
                 "anthropic, openai)", cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static const char *const cg_conf_choices[] = {
    "signed,jwt,php-files,php-memcached", "php,php_serialize",
    "refuse,continue"
};


/* Every comma-separated item of value must be one of the row's choices,
 * cg_conf_choices[min]; max 1 allows a list, max 0 exactly one. */
static int
cg_conf_set_choice(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                   char *err, size_t errlen)
{
    const char *choices = cg_conf_choices[cmd->min], *p = value, *item;
    size_t      len;
    int         n = 0;

    while (cg_csv_next(&p, &item, &len)) {
        if (!cg_csv_has(choices, item, len) || (++n > 1 && cmd->max == 0)) {
            snprintf(err, errlen, "[%s] %s must be %s%s", cmd->section,
                     cmd->name, cmd->max == 0 ? "one of " : "a list of ",
                     choices);
            return -1;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "[%s] %s is empty", cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


/* Origins are compared byte for byte with what browsers send, so an entry
 * that no browser can send (a path, a trailing slash) is a mistake. */
static int
cg_conf_set_origins(const cg_conf_cmd_t *cmd, void *conf,
                    const char *value, char *err, size_t errlen)
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
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


int
cg_conf_has_mode(const cg_conf_t *conf, const char *m)
{
    return cg_csv_has(conf->session_mode, m, strlen(m));
}


static int
cg_conf_set_pm(const cg_conf_cmd_t *cmd, void *conf, const char *value,
               char *err, size_t errlen)
{
    static const char *names[] = { "static", "dynamic", "ondemand" };
    int                i;

    for (i = 0; i < 3; i++) {
        if (strcmp(value, names[i]) == 0) {
            *(int *) ((char *) conf + cmd->offset) = i;
            return 0;
        }
    }
    snprintf(err, errlen, "[%s] %s must be static, dynamic or ondemand",
             cmd->section, cmd->name);
    return -1;
}


static int
cg_conf_set_path(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                 char *err, size_t errlen)
{
    if (value[0] != '/') {
        snprintf(err, errlen, "[%s] %s must start with /", cmd->section,
                 cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_keyref(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                   char *err, size_t errlen)
{
    if (strncmp(value, "key:", 4) == 0
        && cg_keys_valid_name(value + 4, strlen(value + 4))) {
        return cg_conf_set_str(cmd, conf, value, err, errlen);
    }
    return cg_conf_set_ref(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_env(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                char *err, size_t errlen)
{
    int env = cg_env_parse(value);

    if (env < 0) {
        snprintf(err, errlen, "[%s] %s must be production, staging or "
                 "development", cmd->section, cmd->name);
        return -1;
    }
    *(int *) ((char *) conf + cmd->offset) = env;
    return 0;
}


static int
cg_conf_set_date(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                 char *err, size_t errlen)
{
    time_t t;

    if (value[0] && cg_date_parse(value, &t) != 0) {
        snprintf(err, errlen, "[%s] %s must be a date, YYYY-MM-DD",
                 cmd->section, cmd->name);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_optref(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                   char *err, size_t errlen)
{
    if (value[0] == '\0') {
        return cg_conf_set_str(cmd, conf, value, err, errlen);
    }
    return cg_conf_set_ref(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_oneof(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                  const char *const *allowed, char *err, size_t errlen)
{
    for (; *allowed; allowed++) {
        if (strcmp(value, *allowed) == 0) {
            return cg_conf_set_str(cmd, conf, value, err, errlen);
        }
    }
    snprintf(err, errlen, "[%s] %s: \"%.40s\" is not one of the allowed "
             "values (see the docs)", cmd->section, cmd->name, value);
    return -1;
}


static int
cg_conf_set_auth(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                 char *err, size_t errlen)
{
    static const char *const ok[] = { "", "bearer", "api-key", "x-api-key",
                                      NULL };

    return cg_conf_set_oneof(cmd, conf, value, ok, err, errlen);
}


static int
cg_conf_set_tokparam(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                     char *err, size_t errlen)
{
    static const char *const ok[] = { "auto", "max_tokens",
                                      "max_completion_tokens", NULL };

    return cg_conf_set_oneof(cmd, conf, value, ok, err, errlen);
}


/* Kept as text (it goes into the provider's JSON as written), so it must
 * be a plain decimal number in range: nothing else can reach the body. */
static int
cg_conf_set_temp(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                 char *err, size_t errlen)
{
    const char *p = value;
    int         dot = 0, digits = 0;

    for (; *p; p++) {
        if (*p == '.' && !dot) {
            dot = 1;
        } else if (*p >= '0' && *p <= '9') {
            digits++;
        } else {
            break;
        }
    }
    if (value[0] && (*p || !digits || value[0] == '.'
                     || strtod(value, NULL) > (double) cmd->max)) {
        snprintf(err, errlen, "[%s] %s must be a number from %ld to %ld "
                 "(or empty)", cmd->section, cmd->name, cmd->min, cmd->max);
        return -1;
    }
    return cg_conf_set_str(cmd, conf, value, err, errlen);
}


static int
cg_conf_set_bool(const cg_conf_cmd_t *cmd, void *conf, const char *value,
                 char *err, size_t errlen)
{
    int *field = (int *) ((char *) conf + cmd->offset);

    if (strcmp(value, "yes") == 0 || strcmp(value, "on") == 0
        || strcmp(value, "true") == 0) {
        *field = 1;
    } else if (strcmp(value, "no") == 0 || strcmp(value, "off") == 0
               || strcmp(value, "false") == 0) {
        *field = 0;
    } else {
        snprintf(err, errlen, "[%s] %s must be yes or no", cmd->section,
                 cmd->name);
        return -1;
    }
    return 0;
}


static int
cg_conf_is_str(const cg_conf_cmd_t *cmd)
{
    return cmd->set == cg_conf_set_str || cmd->set == cg_conf_set_ref
           || cmd->set == cg_conf_set_provider
           || cmd->set == cg_conf_set_path || cmd->set == cg_conf_set_optref
           || cmd->set == cg_conf_set_keyref || cmd->set == cg_conf_set_date
           || cmd->set == cg_conf_set_auth
           || cmd->set == cg_conf_set_tokparam
           || cmd->set == cg_conf_set_temp
           || cmd->set == cg_conf_set_choice
           || cmd->set == cg_conf_set_origins
           || cmd->set == cg_conf_set_store
           || cmd->set == cg_conf_set_checked;
}


static int
cg_conf_defaults(const cg_conf_cmd_t *cmds, void *base, char *err,
                 size_t errlen)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = cmds; cmd->name; cmd++) {
        if (cmd->dflt && cmd->set(cmd, base, cmd->dflt, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}


/* Appends a route with its defaults; returns it or NULL. */
static cg_route_t *
cg_conf_add_route(cg_conf_t *conf, const char *name, char *err,
                  size_t errlen)
{
    cg_route_t *rt;

    rt = realloc(conf->routes, (size_t) (conf->nroutes + 1) * sizeof(*rt));
    if (rt == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    conf->routes = rt;
    rt = &conf->routes[conf->nroutes++];
    memset(rt, 0, sizeof(*rt));
    rt->name = strdup(name);
    if (rt->name == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return cg_conf_defaults(cg_route_cmds, rt, err, errlen) == 0 ? rt : NULL;
}


int
cg_conf_init(cg_conf_t *conf, char *err, size_t errlen)
{
    memset(conf, 0, sizeof(*conf));
    if (cg_conf_defaults(cg_conf_cmds, conf, err, errlen) != 0) {
        return -1;
    }
    return cg_conf_add_route(conf, "default", err, errlen) ? 0 : -1;
}


typedef struct {
    cg_conf_t  *conf;
    char       *err;
    size_t      errlen;
    unsigned    seen[sizeof(cg_conf_cmds) / sizeof(cg_conf_cmds[0])];
} cg_conf_parse_t;


static int
cg_conf_route_key(cg_conf_parse_t *ps, cg_route_t *rt, const char *section,
                  const char *name, const char *value)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = cg_route_cmds; cmd->name; cmd++) {
        if (strcmp(cmd->name, name) != 0) {
            continue;
        }
        if (rt->seen[cmd - cg_route_cmds]++) {
            snprintf(ps->err, ps->errlen, "[%s] %s is set twice", section,
                     name);
            return 0;
        }
        return cmd->set(cmd, rt, value, ps->err, ps->errlen) == 0;
    }
    snprintf(ps->err, ps->errlen, "unknown key [%s] %s", section, name);
    return 0;
}


/* [route NAME]: finds or adds the route. Index 0 is [provider]'s own and
 * is never matched here; a clash of names is reported after parsing. */
static cg_route_t *
cg_conf_section_route(cg_conf_parse_t *ps, const char *section)
{
    const char *name = section + 6, *p;
    int         i;

    while (*name == ' ') {
        name++;
    }
    for (p = name; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')
            && !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_'
            && *p != '.') {
            break;
        }
    }
    if (*p || p == name || p - name > CG_ROUTE_NAME_MAX) {
        snprintf(ps->err, ps->errlen, "[%s]: a route name is 1-%d letters, "
                 "digits, '-', '_' or '.'", section, CG_ROUTE_NAME_MAX);
        return NULL;
    }
    for (i = 1; i < ps->conf->nroutes; i++) {
        if (strcmp(ps->conf->routes[i].name, name) == 0) {
            return &ps->conf->routes[i];
        }
    }
    return cg_conf_add_route(ps->conf, name, ps->err, ps->errlen);
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


/* The price row a route is billed at: its `price`, else its model. */
const cg_price_t *
cg_conf_route_price(const cg_conf_t *conf, const cg_route_t *rt)
{
    return cg_price_find(conf->prices, conf->nprices,
                         rt->price && rt->price[0] ? rt->price : rt->model);
}


/* A cap without a price could never be enforced: refuse to start. */
static int
cg_conf_check_prices(const cg_conf_t *conf, char *err, size_t errlen)
{
    const cg_token_t *t;
    int               i, any;

    any = conf->budget_user_daily || conf->budget_user_monthly
          || conf->budget_global_daily || conf->budget_global_monthly;
    for (t = conf->tokens; t && !any; t = t->next) {
        any = (t->have_budget[0] && t->budget[0])
              || (t->have_budget[1] && t->budget[1]);
    }
    if (!any) {
        return 0;
    }
    for (i = 0; i < conf->nroutes; i++) {
        if (cg_conf_route_price(conf, &conf->routes[i]) == NULL) {
            snprintf(err, errlen, "a budget is set but route %s has no "
                     "[price %s] section", conf->routes[i].name,
                     conf->routes[i].price && conf->routes[i].price[0]
                     ? conf->routes[i].price : conf->routes[i].model);
            return -1;
        }
    }
    return 0;
}


static int
cg_conf_handler(void *user, const char *section, const char *name,
                const char *value)
{
    cg_conf_parse_t     *ps = user;
    const cg_conf_cmd_t *cmd;
    cg_route_t          *rt;
    int                  known_section = 0;

    if (strncmp(section, "key ", 4) == 0) {
        return cg_keys_set(&ps->conf->keys, section + 4, name, value,
                           ps->err, ps->errlen) == 0;
    }
    if (strncmp(section, "route ", 6) == 0) {
        rt = cg_conf_section_route(ps, section);
        return rt && cg_conf_route_key(ps, rt, section, name, value);
    }
    if (strncmp(section, "price ", 6) == 0) {
        return cg_conf_price(ps->conf, section + 6, name, value, ps->err,
                             ps->errlen) == 0;
    }
    if (strncmp(section, "token ", 6) == 0) {
        return cg_tokens_conf(&ps->conf->tokens, section, name, value,
                              ps->err, ps->errlen) == 0;
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
    if (strcmp(section, "provider") == 0 && strcmp(name, "provider") != 0) {
        return cg_conf_route_key(ps, &ps->conf->routes[0], section, name,
                                 value);
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
    if (!cg_secret_config_has_key(line, n)) {
        return 0;
    }
    snprintf(err, errlen, "%s:%d: this line holds what looks like a provider "
             "API key; keep keys out of config files and reference them as "
             "env:NAME or file:/path", path, lineno);
    return -1;
}


/* Sections that may appear once per name: "[route fast]". */
static const char *const cg_conf_multi[] = {
    "route ", "token ", "key ", "price ", NULL
};


/* inih reports only name = value lines, so an unknown section with no
 * keys would pass unseen; section headers are checked here instead. */
static int
cg_conf_scan_section(const char *line, size_t n, const char *path,
                     int lineno, char *err, size_t errlen)
{
    const char *const   *multi;
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
    if (len > 6 && memcmp(line + 1, "token ", 6) == 0) {
        return 0;       /* [token NAME]: tokens.c checks the name */
    }
    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (strlen(cmd->section) == len
            && memcmp(cmd->section, line + 1, len) == 0) {
            return 0;
        }
    }
    for (multi = cg_conf_multi; *multi; multi++) {
        if (len > strlen(*multi)
            && memcmp(*multi, line + 1, strlen(*multi)) == 0) {
            return 0;     /* its name is checked when its keys are read */
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




static void
cg_conf_route_free(cg_route_t *rt)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = cg_route_cmds; cmd->name; cmd++) {
        if (cg_conf_is_str(cmd)) {
            free(*(char **) ((char *) rt + cmd->offset));
        }
    }
    free(rt->name);
    cg_secret_free(&rt->api_key);
    free(rt->system_prompt_text);
    memset(rt, 0, sizeof(*rt));
}


static int
cg_conf_seen(const cg_conf_parse_t *ps, const char *section,
             const char *name)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (strcmp(cmd->section, section) == 0
            && strcmp(cmd->name, name) == 0) {
            return ps->seen[cmd - cg_conf_cmds] != 0;
        }
    }
    return 0;
}


static void
cg_conf_route_mark(cg_route_t *rt, const char *name)
{
    const cg_conf_cmd_t *cmd;

    for (cmd = cg_route_cmds; cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            rt->seen[cmd - cg_route_cmds] = 1;
        }
    }
}


/* [provider]'s own keys become the route "default"; or, when the file
 * has routes but no [provider] key, that route is dropped. */
static int
cg_conf_provider_route(cg_conf_t *conf, const cg_conf_parse_t *ps)
{
    cg_route_t *rt = &conf->routes[0];

    if (!cg_conf_seen(ps, "provider", "api_key")) {
        cg_conf_route_free(rt);
        memmove(rt, rt + 1, (size_t) --conf->nroutes * sizeof(*rt));
        return 0;
    }
    cg_conf_route_mark(rt, "api_key");
    cg_conf_route_mark(rt, "model");
    rt->max_tokens = conf->max_tokens;
    rt->connect_timeout_ms = conf->connect_timeout_ms;
    rt->timeout_ms = conf->timeout_ms;
    if (cg_conf_seen(ps, "provider", "base_url")
        && cg_str_replace(&rt->base_url, conf->base_url) != 0) {
        return -1;
    }
    return cg_str_replace(&rt->provider, conf->provider_type)
           | cg_str_replace(&rt->api_key_ref, conf->api_key_ref)
           | cg_str_replace(&rt->model, conf->model)
           | cg_str_replace(&rt->system_prompt, conf->system_prompt)
           | cg_str_replace(&rt->anthropic_version, conf->anthropic_version);
}


/* Every name in rt's fallback list is another route. */
static int
cg_conf_check_fallback(const cg_conf_t *conf, const cg_route_t *rt,
                       char *err, size_t errlen)
{
    const char *p = rt->fallback, *e;
    size_t      n;

    while (*p) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        for (e = p; *e && *e != ',' && *e != ' '; e++) {
            /* one name */
        }
        n = (size_t) (e - p);
        if (n && (cg_conf_route(conf, p, n) == NULL
                  || (strlen(rt->name) == n
                      && strncmp(rt->name, p, n) == 0))) {
            snprintf(err, errlen, "[route %s] fallback: \"%.*s\" is not "
                     "another route", rt->name, (int) (n > 64 ? 64 : n), p);
            return -1;
        }
        p = e;
    }
    return 0;
}


static int
cg_conf_check_route(const cg_conf_t *conf, cg_route_t *rt, char *err,
                    size_t errlen)
{
    const cg_conf_cmd_t *cmd;
    const char          *dflt;

    for (cmd = cg_route_cmds; cmd->name; cmd++) {
        if (cmd->dflt == NULL && !rt->seen[cmd - cg_route_cmds]) {
            snprintf(err, errlen, "[route %s] %s is required", rt->name,
                     cmd->name);
            return -1;
        }
    }
    if (cg_conf_route(conf, rt->name, strlen(rt->name)) != rt) {
        snprintf(err, errlen, "route %s is defined twice (note: [provider] "
                 "is the route \"default\")", rt->name);
        return -1;
    }
    /* issue 18: a password in a URL is a secret in the config file (and
     * in every log line that quotes the URL). */
    if (cg_secret_url_has_userinfo(rt->base_url)
        || cg_secret_url_has_userinfo(rt->url)) {
        snprintf(err, errlen, "[route %s] %s holds a user name or password "
                 "(user:pass@host); keep credentials out of URLs and give "
                 "the key as api_key = env:NAME or file:/path", rt->name,
                 cg_secret_url_has_userinfo(rt->url) ? "url" : "base_url");
        return -1;
    }
    if (rt->base_url[0] == '\0') {
        dflt = strcmp(rt->provider, "openai") == 0
               ? "https://api.openai.com/v1" : "https://api.anthropic.com";
        if (cg_str_replace(&rt->base_url, dflt) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return cg_conf_check_fallback(conf, rt, err, errlen);
}


static int
cg_conf_routes_finish(cg_conf_t *conf, const cg_conf_parse_t *ps,
                      char *err, size_t errlen)
{
    int i;

    if (cg_conf_provider_route(conf, ps) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < conf->nroutes; i++) {
        if (cg_conf_check_route(conf, &conf->routes[i], err, errlen) != 0) {
            return -1;
        }
    }
    if (cg_conf_route(conf, conf->default_route,
                      strlen(conf->default_route)) == NULL) {
        snprintf(err, errlen, "[server] default_route: no route called "
                 "\"%.64s\"", conf->default_route);
        return -1;
    }
    return 0;
}


const cg_route_t *
cg_conf_route(const cg_conf_t *conf, const char *name, size_t len)
{
    int i;

    for (i = 0; i < conf->nroutes; i++) {
        if (strlen(conf->routes[i].name) == len
            && strncmp(conf->routes[i].name, name, len) == 0) {
            return &conf->routes[i];
        }
    }
    return NULL;
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
    if (cg_conf_has_mode(conf, "signed") && conf->session_secret_ref[0] == '\0'
        && conf->session_secrets_ref[0] == '\0') {
        snprintf(err, errlen, "%s: [session] secret is required for mode "
                 "signed (or secrets)", path);
        return -1;
    }
    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (cmd->dflt == NULL && !ps.seen[cmd - cg_conf_cmds]
            && !(strcmp(cmd->section, "provider") == 0
                 && conf->nroutes > 1)) {
            snprintf(err, errlen, "%s: [%s] %s is required", path,
                     cmd->section, cmd->name);
            return -1;
        }
    }
    if (cg_keys_validate(&conf->keys, msg, sizeof(msg)) != 0
        || cg_conf_routes_finish(conf, &ps, msg, sizeof(msg)) != 0
        || cg_tokens_check(conf->tokens, msg, sizeof(msg)) != 0
        || cg_conf_check_prices(conf, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "%s: %s", path, msg);
        return -1;
    }
    return 0;
}


/* A system prompt is its text, or file:/path for a long one. */
static int
cg_conf_load_prompt(const char *what, const char *ref, char **out,
                    char *err, size_t errlen)
{
    FILE   *f;
    long    n;
    char   *p = NULL;

    if (strncmp(ref, "file:", 5) != 0) {
        *out = strdup(ref);
        return *out ? 0 : -1;
    }
    f = fopen(ref + 5, "re");
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0
        && n <= 1048576 && fseek(f, 0, SEEK_SET) == 0
        && (p = malloc((size_t) n + 1)) != NULL
        && fread(p, 1, (size_t) n, f) == (size_t) n) {
        fclose(f);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) {
            n--;
        }
        p[n] = '\0';
        *out = p;
        return 0;
    }
    free(p);
    if (f) {
        fclose(f);
    }
    snprintf(err, errlen, "%s system_prompt: cannot read %s", what, ref + 5);
    return -1;
}


/* Loads ref into s: a key:NAME reference borrows a copy of the [key NAME]
 * secret after checking that the key is of this server's environment and
 * lists the route; anything else is read as env:/file:/credential:. */
static int
cg_conf_load_keyref(cg_conf_t *conf, cg_secret_t *s, const char *ref,
                    const char *route, char *msg, size_t msglen)
{
    if (strncmp(ref, "key:", 4) != 0) {
        return cg_secret_load(s, ref, msg, msglen);
    }
    if (cg_keys_check_route(&conf->keys, ref + 4, conf->environment, route,
                            msg, msglen) != 0) {
        return -1;
    }
    if (cg_secret_copy(s, &cg_keys_find(&conf->keys, ref + 4)->secret)
        != 0) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}


static int
cg_conf_load_route(cg_conf_t *conf, cg_route_t *rt, char *err,
                   size_t errlen)
{
    char what[CG_ROUTE_NAME_MAX + 16], msg[400];

    /* The route "default" is usually [provider]: name what the file says. */
    snprintf(what, sizeof(what), strcmp(rt->name, "default") == 0
             ? "[provider]" : "[route %s]", rt->name);
    if (cg_conf_load_keyref(conf, &rt->api_key, rt->api_key_ref, rt->name,
                            msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "%s api_key: %s", what, msg);
        return -1;
    }
    if (strncmp(rt->api_key_ref, "key:", 4) == 0) {
        rt->key_services = cg_keys_find(&conf->keys,
                                        rt->api_key_ref + 4)->services;
    }
    return cg_conf_load_prompt(what, rt->system_prompt,
                               &rt->system_prompt_text, err, errlen);
}


static int
cg_conf_load_key(cg_secret_t *s, const char *what, const char *ref, char *err,
                 size_t errlen)
{
    char msg[400];

    if (cg_secret_load(s, ref, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[session] %s: %s", what, msg);
        return -1;
    }
    if (s->len < 32) {
        snprintf(err, errlen, "[session] %s: must be at least 32 bytes "
                 "(try: openssl rand -hex 32)", what);
        return -1;
    }
    return 0;
}


/* The keyring: each "KID:REF" of secrets, then the legacy secret (no kid,
 * signs v1 tokens only when it is the only key). */
static int
cg_conf_load_keyring(cg_conf_t *conf, char *err, size_t errlen)
{
    const char       *p = conf->session_secrets_ref, *item, *colon;
    size_t            len, n = 2;
    char              ref[512];
    cg_session_key_t *k;

    if (conf->session_keys != NULL) {
        return 0;                       /* loaded already */
    }
    for (item = p; *item; item++) {
        n += *item == ',';
    }
    conf->session_keys = calloc(n, sizeof(*conf->session_keys));
    if (conf->session_keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (cg_csv_next(&p, &item, &len)) {
        colon = memchr(item, ':', len);
        k = &conf->session_keys[conf->n_session_keys];
        if (colon == NULL || !cg_session_kid_valid(item, (size_t) (colon - item))
            || len - (size_t) (colon - item) >= sizeof(ref)) {
            snprintf(err, errlen, "[session] secrets: each item is KID:REF, "
                     "KID 1-%d of [A-Za-z0-9_-]", CG_KID_MAX);
            return -1;
        }
        memcpy(k->kid, item, (size_t) (colon - item));
        memcpy(ref, colon + 1, len - (size_t) (colon - item) - 1);
        ref[len - (size_t) (colon - item) - 1] = '\0';
        if (!cg_secret_is_ref(ref)) {
            snprintf(err, errlen, "[session] secrets: key %s must be "
                     "env:NAME or file:/path", k->kid);
            return -1;
        }
        if (cg_conf_load_key(&k->key, "secrets", ref, err, errlen) != 0) {
            return -1;
        }
        conf->n_session_keys++;
    }
    if (conf->session_secret_ref[0]) {
        if (cg_conf_load_key(&conf->session_secret, "secret",
                             conf->session_secret_ref, err, errlen) != 0) {
            return -1;
        }
        k = &conf->session_keys[conf->n_session_keys++];
        /* The ring shares the bytes; only session_secret frees them. */
        k->key = conf->session_secret;
    }
    return 0;
}


int
cg_conf_load_session_secret(cg_conf_t *conf, char *err, size_t errlen)
{
    if (cg_conf_load_keyring(conf, err, errlen) != 0) {
        return -1;
    }
    if (conf->n_session_keys == 0 && cg_conf_has_mode(conf, "signed")) {
        snprintf(err, errlen, "[session] secret (or secrets) is required "
                 "for mode signed");
        return -1;
    }
    if (cg_conf_has_mode(conf, "jwt")) {
        if (conf->jwt_secret_ref[0] == '\0') {
            snprintf(err, errlen, "[session] jwt_secret is required for "
                     "mode jwt");
            return -1;
        }
        return cg_conf_load_key(&conf->jwt_secret, "jwt_secret",
                                conf->jwt_secret_ref, err, errlen);
    }
    return 0;
}


int
cg_conf_load_secrets(cg_conf_t *conf, char *err, size_t errlen)
{
    char msg[400];
    int  i;

    if (cg_conf_load_session_secret(conf, err, errlen) != 0) {
        return -1;
    }
    if (cg_keys_load(&conf->keys, conf->environment, err, errlen) != 0) {
        return -1;
    }
    if (conf->user_id_key_ref[0]
        && cg_secret_load(&conf->user_id_key, conf->user_id_key_ref, msg,
                          sizeof(msg)) != 0) {
        snprintf(err, errlen, "[session] user_id_key: %s", msg);
        return -1;
    }
    for (i = 0; i < conf->nroutes; i++) {
        if (cg_conf_load_route(conf, &conf->routes[i], err, errlen) != 0) {
            return -1;
        }
    }
    if (conf->api_key_ref == NULL) {
        return 0;       /* no [provider]: routes only */
    }
    if (cg_conf_load_keyref(conf, &conf->api_key, conf->api_key_ref,
                            "default", msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[provider] api_key: %s", msg);
        return -1;
    }
    if (cg_conf_load_prompt("[provider]", conf->system_prompt,
                            &conf->system_prompt_text, err, errlen) != 0) {
        return -1;
    }
    return cg_guardset_check(conf, err, errlen);
}


void
cg_conf_free(cg_conf_t *conf)
{
    const cg_conf_cmd_t *cmd;

    int                  i;

    for (cmd = cg_conf_cmds; cmd->name; cmd++) {
        if (cg_conf_is_str(cmd)) {
            free(*(char **) ((char *) conf + cmd->offset));
        }
    }
    for (i = 0; i < conf->nroutes; i++) {
        cg_conf_route_free(&conf->routes[i]);
    }
    free(conf->routes);
    cg_secret_free(&conf->user_id_key);
    cg_secret_free(&conf->session_secret);
    cg_secret_free(&conf->api_key);
    cg_keys_free(&conf->keys);
    cg_secret_free(&conf->jwt_secret);
    while (conf->n_session_keys > 0) {
        conf->n_session_keys--;
        if (conf->session_keys[conf->n_session_keys].kid[0]) {
            cg_secret_free(&conf->session_keys[conf->n_session_keys].key);
        }
    }
    free(conf->session_keys);
    cg_tokens_free(conf->tokens);
    while (conf->nprices > 0) {
        free(conf->prices[--conf->nprices].model);
    }
    free(conf->prices);
    free(conf->system_prompt_text);
    memset(conf, 0, sizeof(*conf));
}


const char *
cg_conf_route_key_name(const cg_route_t *rt)
{
    if (rt->api_key_ref && strncmp(rt->api_key_ref, "key:", 4) == 0) {
        return rt->api_key_ref + 4;
    }
    return strcmp(rt->name, "default") == 0 ? "provider" : rt->name;
}


void
cg_conf_route_keyview(const cg_conf_t *conf, const cg_route_t *rt,
                      cg_key_t *out)
{
    const char *name = cg_conf_route_key_name(rt);
    size_t      i;

    if (strncmp(rt->api_key_ref, "key:", 4) == 0) {
        for (i = 0; i < conf->keys.n; i++) {
            if (strcmp(conf->keys.v[i].name, name) == 0) {
                *out = conf->keys.v[i];
                return;
            }
        }
    }
    memset(out, 0, sizeof(*out));
    out->name = (char *) name;
    out->source = rt->api_key_ref;
    out->env = conf->environment;
    out->routes = rt->name;
    out->services = (char *) "*";
    out->max_age_days = 90;
    out->secret = rt->api_key;
}


const char *
cg_conf_api_key_name(const cg_conf_t *conf)
{
    return conf->nroutes ? cg_conf_route_key_name(&conf->routes[0])
                         : "provider";
}


void
cg_conf_provider_key(const cg_conf_t *conf, cg_key_t *out)
{
    cg_conf_route_keyview(conf, &conf->routes[0], out);
}
