#include "alertsend.h"
#include "log.h"

#include "core/clock.h"
#include "core/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define CG_WEBHOOK_TIMEOUT_MS    3000
#define CG_ALERTSEND_QUEUE       64     /* messages the pipe holds */
#define CG_ALERTSEND_COMMANDS    8      /* commands running at once */
#define CG_ALERTSEND_POLL_MS     1000   /* how often a sender looks up */
#define CG_ALERTSEND_RESTART_S   1.0    /* a dead sender's replacement */
#define CG_ALERTSEND_DRAIN_S     5.0    /* the queue's last delivery */
#define CG_ALERTSEND_STEP_MS     50

/* The pipe: made once by the master, so every generation of workers and
 * every sender share it. Workers inherit it across fork (no exec). */
static int          cg_alertsend_fd[2] = { -1, -1 };
static pid_t        cg_alertsend_pid;       /* the running sender, or 0 */
static pid_t        cg_alertsend_leaving;   /* told to stop (reload) */
static double       cg_alertsend_after;     /* no start before (mono) */
static atomic_ulong cg_alertsend_dropped;   /* by this process */

/* Only in the sender process. */
static volatile sig_atomic_t cg_alertsend_quit;
static int                   cg_alertsend_running;  /* its commands */

typedef struct {
    char *webhook;      /* NULL: none */
    char *command;
} cg_alertsend_dest_t;


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


/* Worker side: one alert, one packet, or a logged drop. */
void
cg_alertsend(const cg_conf_t *conf, const cg_buf_t *line)
{
    const char    *why;
    unsigned long  n;

    if ((!conf->alerts.webhook[0] && !conf->alerts.command[0]) || line->oom
        || line->len == 0) {
        return;
    }
    if (line->len > PIPE_BUF) {
        why = "longer than one message";
    } else if (cg_alertsend_fd[1] < 0) {
        why = "no alert sender";
    } else if (write(cg_alertsend_fd[1], line->data, line->len)
               == (ssize_t) line->len) {
        return;
    } else {
        why = errno == EAGAIN ? "the alert sender's queue is full"
                              : strerror(errno);
    }
    n = atomic_fetch_add(&cg_alertsend_dropped, 1) + 1;
    cg_log(CG_LOG_WARN, "alert dropped: not delivered to the webhook or "
           "command (%s; %lu dropped by this process; the usage log has "
           "it)", why, n);
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


/* Waits until at most `most` commands run (INT_MAX: collects only). */
static void
cg_alertsend_reap(int most)
{
    pid_t pid;

    while (cg_alertsend_running > 0) {
        pid = waitpid(-1, NULL, cg_alertsend_running > most ? 0 : WNOHANG);
        if (pid > 0) {
            cg_alertsend_running--;
        } else if (pid == 0) {
            break;
        } else if (errno != EINTR || cg_alertsend_quit) {
            cg_alertsend_running = errno == ECHILD ? 0 : cg_alertsend_running;
            break;
        }
    }
}


/* Runs the command with the alert line on its standard input. posix_spawn
 * rather than fork, so it stays safe should libcurl leave a resolver
 * thread behind. */
static void
cg_alertsend_command(const char *cmd, const char *line, size_t len)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t          at;
    sigset_t                   all, none;
    char                      *argv[] = { (char *) cmd, NULL };
    int                        p[2], rc;
    pid_t                      pid;

    cg_alertsend_reap(CG_ALERTSEND_COMMANDS - 1);
    if (pipe2(p, O_CLOEXEC) != 0) {
        return;
    }
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF
                                  | POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawn(&pid, cmd, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[0]);
    if (rc != 0) {
        cg_log(CG_LOG_WARN, "alert command %s cannot run: %s", cmd,
               strerror(rc));
    } else {
        cg_alertsend_running++;
    }
    /* One line into an empty pipe never blocks; a command that does not
     * read gets it anyway, or we get EPIPE: nothing to do. */
    if (rc == 0 && write(p[1], line, len) < 0) {
        /* EPIPE: the command did not want it */
    }
    close(p[1]);
}


static void
cg_alertsend_on_term(int sig)
{
    (void) sig;
    cg_alertsend_quit = 1;
}


/* The master's signals are the master's: a Ctrl-C sent to the terminal's
 * process group must not lose the queue. SIGTERM (a reload, the master
 * stopping) lets the delivery under way finish. */
static void
cg_alertsend_signals(void)
{
    struct sigaction sa;
    int              ign[] = { SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2,
                               SIGPIPE };
    size_t           i;
    int              s;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (s = 1; s < NSIG; s++) {
        (void) sigaction(s, &sa, NULL);
    }
    sa.sa_handler = SIG_IGN;
    for (i = 0; i < sizeof(ign) / sizeof(ign[0]); i++) {
        (void) sigaction(ign[i], &sa, NULL);
    }
    sa.sa_handler = cg_alertsend_on_term;
    (void) sigaction(SIGTERM, &sa, NULL);
}


/* Keeps 0-2, the pipe's read end and the error log; closes the rest (the
 * socket, memcached, the local store, the cleanup helper's pipe). */
static void
cg_alertsend_close_rest(int a, int b)
{
    unsigned keep[2], first = 3;
    size_t   i;

    keep[0] = (unsigned) (a < b ? a : b);
    keep[1] = (unsigned) (a < b ? b : a);
    for (i = 0; i < 2; i++) {
        if (keep[i] > first) {
            (void) close_range(first, keep[i] - 1, 0);
        }
        if (keep[i] >= first) {
            first = keep[i] + 1;
        }
    }
    (void) close_range(first, ~0U, 0);
}


static void
cg_alertsend_deliver(const cg_alertsend_dest_t *d, const char *msg,
                     size_t len)
{
    cg_buf_t line = { 0 };

    line.data = (char *) msg;
    line.len = len;
    if (d->webhook) {
        cg_alertsend_webhook(d->webhook, &line);
    }
    if (d->command && !cg_alertsend_quit) {
        cg_alertsend_command(d->command, msg, len);
    }
}


/* One read is one packet, one alert; EOF once every writer (the master,
 * every worker) has gone. */
static void
cg_alertsend_loop(int fd, const cg_alertsend_dest_t *d)
{
    static char   msg[PIPE_BUF + 1];
    struct pollfd pfd;
    ssize_t       n;

    while (!cg_alertsend_quit) {
        cg_alertsend_reap(INT_MAX);
        pfd = (struct pollfd) { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, CG_ALERTSEND_POLL_MS) <= 0) {
            continue;
        }
        n = read(fd, msg, PIPE_BUF);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            break;
        }
        if (n > 0) {
            msg[n] = '\0';
            cg_alertsend_deliver(d, msg, (size_t) n);
        }
    }
}


static char *
cg_alertsend_dup(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}


/* The sender process: forked by the master (single-threaded), it keeps
 * the two destinations, wipes every other setting and key, and serves the
 * pipe until EOF or SIGTERM. */
static void __attribute__((noreturn))
cg_alertsend_main(cg_conf_t *conf)
{
    cg_alertsend_dest_t d;
    int                 fd = cg_alertsend_fd[0];

    d.webhook = cg_alertsend_dup(conf->alerts.webhook);
    d.command = cg_alertsend_dup(conf->alerts.command);
    cg_conf_free(conf);         /* wipes this copy of the keys */
    cg_secret_env_clear();
    close(cg_alertsend_fd[1]);
    cg_alertsend_close_rest(fd, cg_log_fileno());
    cg_alertsend_signals();
    prctl(PR_SET_NAME, "chatgate-alert", 0, 0, 0);
    cg_alertsend_loop(fd, &d);
    free(d.webhook);
    free(d.command);
    _exit(0);
}


static int
cg_alertsend_wanted(const cg_conf_t *conf)
{
    return conf->alerts.webhook[0] || conf->alerts.command[0];
}


int
cg_alertsend_start(cg_conf_t *conf)
{
    int fl;

    if (pipe2(cg_alertsend_fd, O_CLOEXEC | O_DIRECT) != 0) {
        cg_log(CG_LOG_ERROR, "cannot make the alert pipe: %s",
               strerror(errno));
        return -1;
    }
    fl = fcntl(cg_alertsend_fd[1], F_GETFL);
    (void) fcntl(cg_alertsend_fd[1], F_SETFL, fl | O_NONBLOCK);
    /* A packet takes a page of the pipe, whatever its length. */
    (void) fcntl(cg_alertsend_fd[1], F_SETPIPE_SZ,
                 CG_ALERTSEND_QUEUE * (int) sysconf(_SC_PAGESIZE));
    cg_alertsend_tick(conf, 0);
    return 0;
}


void
cg_alertsend_forked(void)
{
    if (cg_alertsend_fd[0] >= 0) {
        close(cg_alertsend_fd[0]);
        cg_alertsend_fd[0] = -1;
    }
}


void
cg_alertsend_tick(cg_conf_t *conf, int stopping)
{
    pid_t pid;

    /* One reader at a time: a leaving sender is reaped first. */
    if (stopping || cg_alertsend_pid != 0 || cg_alertsend_leaving != 0
        || cg_alertsend_fd[0] < 0 || !cg_alertsend_wanted(conf)
        || cg_clock_mono() < cg_alertsend_after) {
        return;
    }
    pid = fork();
    if (pid < 0) {
        cg_log(CG_LOG_ERROR, "cannot start the alert sender: %s",
               strerror(errno));
        cg_alertsend_after = cg_clock_mono() + CG_ALERTSEND_RESTART_S;
        return;
    }
    if (pid == 0) {
        cg_alertsend_main(conf);
    }
    cg_alertsend_pid = pid;
    cg_log(CG_LOG_NOTICE, "alert sender %d started", (int) pid);
}


void
cg_alertsend_reload(const cg_conf_t *old, const cg_conf_t *nc)
{
    if (strcmp(old->alerts.webhook, nc->alerts.webhook) == 0
        && strcmp(old->alerts.command, nc->alerts.command) == 0) {
        return;
    }
    if (cg_alertsend_pid != 0) {
        cg_log(CG_LOG_NOTICE, "alert sender %d stops: [alerts] webhook or "
               "command changed", (int) cg_alertsend_pid);
        kill(cg_alertsend_pid, SIGTERM);
        cg_alertsend_leaving = cg_alertsend_pid;
        cg_alertsend_pid = 0;
    }
    cg_alertsend_after = 0;
}


int
cg_alertsend_reaped(pid_t pid, int status)
{
    if (pid == cg_alertsend_leaving) {
        cg_alertsend_leaving = 0;
        return 1;
    }
    if (pid != cg_alertsend_pid) {
        return 0;
    }
    cg_alertsend_pid = 0;
    cg_alertsend_after = cg_clock_mono() + CG_ALERTSEND_RESTART_S;
    if (WIFSIGNALED(status)) {
        cg_log(CG_LOG_WARN, "alert sender %d killed by signal %d; starting "
               "another", (int) pid, WTERMSIG(status));
    } else {
        cg_log(CG_LOG_WARN, "alert sender %d exited with status %d; "
               "starting another", (int) pid, WEXITSTATUS(status));
    }
    return 1;
}


void
cg_alertsend_stop(void)
{
    double until = cg_clock_mono() + CG_ALERTSEND_DRAIN_S;
    pid_t  pid = cg_alertsend_pid;
    int    i;

    for (i = 0; i < 2; i++) {
        if (cg_alertsend_fd[i] >= 0) {
            close(cg_alertsend_fd[i]);
            cg_alertsend_fd[i] = -1;
        }
    }
    cg_alertsend_pid = 0;
    while (pid > 0 && waitpid(pid, NULL, WNOHANG) == 0) {
        if (cg_clock_mono() > until) {
            cg_log(CG_LOG_WARN, "alert sender %d: the queue was not "
                   "delivered in %.0f s; stopping it", (int) pid,
                   CG_ALERTSEND_DRAIN_S);
            kill(pid, SIGKILL);
            (void) waitpid(pid, NULL, 0);
            break;
        }
        (void) poll(NULL, 0, CG_ALERTSEND_STEP_MS);
    }
}
