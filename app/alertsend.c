#include "alertsend.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define CG_WEBHOOK_TIMEOUT_MS  3000

int
cg_syslog_open(const cg_conf_t *conf, char *err, size_t errlen)
{
    (void) err;
    (void) errlen;
    if (!conf->log.syslog) {
        return 0;
    }
    /* The facility was checked and turned into LOG_* at load. */
    openlog("chatgate", LOG_PID | LOG_NDELAY, conf->log.syslog_facility);
    return 0;
}


void
cg_syslog_line(const cg_conf_t *conf, const cg_buf_t *line)
{
    int n = (int) line->len;

    if (!conf->log.syslog || line->oom || n == 0) {
        return;
    }
    if (line->data[n - 1] == '\n') {
        n--;
    }
    syslog(LOG_INFO, "%.*s", n, line->data);
}


static size_t
cg_alertsend_discard(char *p, size_t size, size_t n, void *ud)
{
    (void) p;
    (void) ud;
    return size * n;
}


/* Slack-compatible {"text": "..."} with the alert's message. */
static void
cg_alertsend_webhook(const char *url, const cg_buf_t *line)
{
    json_object        *o, *msg = NULL, *host = NULL, *body;
    struct curl_slist  *h;
    CURL               *curl;
    char                text[512];

    o = json_tokener_parse(line->data);
    if (o == NULL) {
        return;
    }
    json_object_object_get_ex(o, "message", &msg);
    json_object_object_get_ex(o, "host", &host);
    snprintf(text, sizeof(text), "chatgate alert: %s (on %s)",
             msg ? json_object_get_string(msg) : "?",
             host ? json_object_get_string(host) : "?");
    body = json_object_new_object();
    json_object_object_add(body, "text", json_object_new_string(text));
    curl = curl_easy_init();
    h = curl_slist_append(NULL, "Content-Type: application/json");
    if (curl && h) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                         json_object_to_json_string(body));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                         (long) CG_WEBHOOK_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, cg_alertsend_discard);
        (void) curl_easy_perform(curl);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    json_object_put(body);
    json_object_put(o);
}


/* Runs the command with the alert line on its standard input. */
static void
cg_alertsend_command(const char *cmd, const cg_buf_t *line)
{
    int    fd[2];
    pid_t  pid;

    if (pipe(fd) != 0) {
        return;
    }
    pid = fork();
    if (pid == 0) {
        dup2(fd[0], 0);
        close(fd[0]);
        close(fd[1]);
        execl(cmd, cmd, (char *) NULL);
        _exit(127);
    }
    close(fd[0]);
    /* A command that does not read gets EPIPE here; nothing to do. */
    if (pid > 0 && write(fd[1], line->data, line->len) < 0) {
        close(fd[1]);
        fd[1] = -1;
    }
    if (fd[1] >= 0) {
        close(fd[1]);
    }
    if (pid > 0) {
        (void) waitpid(pid, NULL, 0);
    }
}


static void
cg_alertsend_child(const cg_conf_t *conf, const cg_buf_t *line)
{
    struct sigaction sa;
    int              s;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (s = 1; s < NSIG; s++) {
        (void) sigaction(s, &sa, NULL);
    }
    /* Keep no worker socket (FastCGI listener, memcached) open. */
    (void) close_range(3, ~0U, 0);
    if (conf->alerts.webhook[0]) {
        cg_alertsend_webhook(conf->alerts.webhook, line);
    }
    if (conf->alerts.command[0]) {
        cg_alertsend_command(conf->alerts.command, line);
    }
}


void
cg_alertsend(const cg_conf_t *conf, const cg_buf_t *line)
{
    pid_t pid;

    if ((!conf->alerts.webhook[0] && !conf->alerts.command[0]) || line->oom) {
        return;
    }
    /* Double fork: the grandchild is adopted by init (or the master as
     * subreaper), so the worker neither waits for delivery nor leaves a
     * zombie. */
    pid = fork();
    if (pid < 0) {
        cg_log(CG_LOG_WARN, "cannot start alert delivery: %s",
               strerror(errno));
        return;
    }
    if (pid == 0) {
        if (fork() == 0) {
            cg_alertsend_child(conf, line);
        }
        _exit(0);
    }
    (void) waitpid(pid, NULL, 0);
}
