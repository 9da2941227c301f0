#include "master.h"
#include "keylog.h"
#include "log.h"
#include "worker.h"

#include "clock.h"
#include "upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG_MAX_WORKERS  1024

typedef struct {
    pid_t   pid;
    int     generation;
    double  started;
} cg_slot_t;

typedef struct {
    cg_conf_t  *conf;
    const char *conf_path;
    int         listen_fd;
    pid_t       master_pid;
    int         generation;
    int         stopping;
    double      stop_deadline;
    cg_slot_t   slots[CG_MAX_WORKERS];
    double      respawn_after;  /* throttle after a crash burst */
    int         crashes;
    double      crash_window;
} cg_master_t;

static int cg_master_pipe[2] = { -1, -1 };


static void
cg_master_on_signal(int sig)
{
    int           saved = errno;
    unsigned char c = (unsigned char) sig;

    if (write(cg_master_pipe[1], &c, 1) < 0) {
        /* pipe full: the loop polls and reaps on its own anyway */
    }
    errno = saved;
}


static int
cg_master_signals(void)
{
    struct sigaction sa;
    int              sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                SIGCHLD };
    size_t           i;

    if (pipe2(cg_master_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = cg_master_on_signal;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}


static int
cg_master_listen_unix(const char *path, int mode, int backlog, char *err,
                      size_t errlen)
{
    struct sockaddr_un sun;
    struct stat        st;
    int                fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);
    /* A socket left by a previous run is replaced; anything else at that
     * path is not ours to remove. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0
        || chmod(path, (mode_t) mode) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}


static int
cg_master_listen_tcp(const char *spec, int backlog, char *err, size_t errlen)
{
    struct addrinfo  hints, *ai = NULL;
    char             host[256];
    const char      *colon = strrchr(spec, ':');
    size_t           hlen;
    int              fd = -1, one = 1, rc;

    hlen = colon ? (size_t) (colon - spec) : 0;
    if (colon == NULL || hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "listen: expected HOST:PORT, got %s", spec);
        return -1;
    }
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0
        || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}


int
cg_master_listen(const char *spec, int mode, int backlog, char *err,
                 size_t errlen)
{
    if (spec[0] == '/') {
        return cg_master_listen_unix(spec, mode, backlog, err, errlen);
    }
    return cg_master_listen_tcp(spec, backlog, err, errlen);
}


static void
cg_master_child_signals(void)
{
    struct sigaction sa;
    int              sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                SIGCHLD, SIGPIPE };
    size_t           i;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
}


static void
cg_master_spawn(cg_master_t *m, cg_slot_t *slot)
{
    pid_t pid = fork();
    int   rc;

    if (pid < 0) {
        cg_log(CG_LOG_ERROR, "fork failed: %s", strerror(errno));
        slot->pid = 0;
        return;
    }
    if (pid == 0) {
        /* A worker must not outlive its master (a master killed with
         * SIGKILL would otherwise leave workers serving a stale config). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != m->master_pid) {
            _exit(0);
        }
        close(cg_master_pipe[0]);
        close(cg_master_pipe[1]);
        cg_master_child_signals();
        /* The listening socket is the only fd a worker inherits on
         * purpose; keep it across nothing else (no exec happens). */
        rc = cg_worker_run(m->conf, m->listen_fd);
        cg_conf_free(m->conf);      /* wipes this process's copy of keys */
        _exit(rc);
    }
    slot->pid = pid;
    slot->generation = m->generation;
    slot->started = cg_clock_mono();
}


static void
cg_master_spawn_missing(cg_master_t *m)
{
    int i, live = 0;

    if (m->stopping || cg_clock_mono() < m->respawn_after) {
        return;
    }
    for (i = 0; i < CG_MAX_WORKERS; i++) {
        live += m->slots[i].pid != 0
                && m->slots[i].generation == m->generation;
    }
    for (i = 0; i < CG_MAX_WORKERS && live < m->conf->workers; i++) {
        if (m->slots[i].pid == 0) {
            cg_master_spawn(m, &m->slots[i]);
            live += m->slots[i].pid != 0;
        }
    }
}


static void
cg_master_note_crash(cg_master_t *m, double now)
{
    /* Emergency throttle: a burst of crashes (a bad deploy, a dead
     * dependency) must not become a fork storm. */
    if (now - m->crash_window > 10.0) {
        m->crash_window = now;
        m->crashes = 0;
    }
    if (++m->crashes > m->conf->workers * 2 + 2) {
        m->respawn_after = now + 1.0;
        cg_log(CG_LOG_WARN, "workers are crashing repeatedly; "
               "throttling respawn");
    }
}


static void
cg_master_reap(cg_master_t *m)
{
    pid_t  pid;
    int    status, i;
    double now = cg_clock_mono();

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < CG_MAX_WORKERS; i++) {
            if (m->slots[i].pid != pid) {
                continue;
            }
            if (WIFSIGNALED(status) && !m->stopping
                && m->slots[i].generation == m->generation) {
                cg_log(CG_LOG_WARN, "worker %d killed by signal %d; "
                       "replacing it", (int) pid, WTERMSIG(status));
                cg_master_note_crash(m, now);
            } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0
                       && !m->stopping) {
                cg_log(CG_LOG_WARN, "worker %d exited with status %d",
                       (int) pid, WEXITSTATUS(status));
                cg_master_note_crash(m, now);
            }
            m->slots[i].pid = 0;
        }
    }
}


static int
cg_master_alive(cg_master_t *m)
{
    int i, n = 0;

    for (i = 0; i < CG_MAX_WORKERS; i++) {
        n += m->slots[i].pid != 0;
    }
    return n;
}


static void
cg_master_signal_all(cg_master_t *m, int sig, int generation)
{
    int i;

    for (i = 0; i < CG_MAX_WORKERS; i++) {
        if (m->slots[i].pid
            && (generation < 0 || m->slots[i].generation == generation)) {
            kill(m->slots[i].pid, sig);
        }
    }
}


static void
cg_master_reload(cg_master_t *m)
{
    cg_conf_t *nc;
    char       err[512];
    int        old = m->generation;

    nc = calloc(1, sizeof(*nc));
    if (nc == NULL || cg_conf_init(nc, err, sizeof(err)) != 0
        || cg_conf_load(nc, m->conf_path, err, sizeof(err)) != 0
        || cg_conf_load_secrets(nc, err, sizeof(err)) != 0) {
        cg_log(CG_LOG_ERROR, "reload refused, still serving with the old "
               "configuration: %s", err);
        cg_keylog_refused(m->conf, err);
        if (nc) {
            cg_conf_free(nc);
            free(nc);
        }
        return;
    }
    if (strcmp(nc->listen, m->conf->listen) != 0) {
        cg_log(CG_LOG_WARN, "reload: a new listen address needs a restart; "
               "keeping %s", m->conf->listen);
    }
    cg_keylog_events(m->conf, nc, "reload");
    /* New workers, forked with the new config, take new requests while
     * the old ones finish theirs and leave. */
    cg_conf_free(m->conf);
    free(m->conf);
    m->conf = nc;
    m->generation++;
    cg_master_spawn_missing(m);
    cg_master_signal_all(m, SIGQUIT, old);
    cg_log(CG_LOG_NOTICE, "reloaded %s (generation %d)", m->conf_path,
           m->generation);
}


static void
cg_master_stop(cg_master_t *m)
{
    if (m->stopping) {
        return;
    }
    m->stopping = 1;
    m->stop_deadline = cg_clock_mono() + m->conf->shutdown_timeout;
    cg_log(CG_LOG_NOTICE, "stopping: waiting up to %d s for requests in "
           "flight", m->conf->shutdown_timeout);
    cg_master_signal_all(m, SIGTERM, -1);
}


static void
cg_master_handle(cg_master_t *m, unsigned char sig)
{
    switch (sig) {
    case SIGCHLD:
        cg_master_reap(m);
        break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        cg_master_stop(m);
        break;
    case SIGHUP:
        if (!m->stopping) {
            cg_master_reload(m);
        }
        break;
    case SIGUSR1:
        cg_log_reopen();
        cg_master_signal_all(m, SIGUSR1, -1);
        break;
    }
}


static void
cg_master_pid_file(const cg_conf_t *conf, int create)
{
    FILE *f;

    if (conf->pid_file == NULL || conf->pid_file[0] == '\0') {
        return;
    }
    if (!create) {
        unlink(conf->pid_file);
        return;
    }
    f = fopen(conf->pid_file, "we");
    if (f == NULL) {
        cg_log(CG_LOG_WARN, "cannot write pid file %s: %s", conf->pid_file,
               strerror(errno));
        return;
    }
    fprintf(f, "%d\n", (int) getpid());
    fclose(f);
}


static void
cg_master_loop(cg_master_t *m)
{
    struct pollfd  pfd = { .fd = cg_master_pipe[0], .events = POLLIN };
    unsigned char  sigs[64];
    ssize_t        n, i;

    for (;;) {
        cg_master_spawn_missing(m);
        if (m->stopping && cg_master_alive(m) == 0) {
            return;
        }
        if (m->stopping && cg_clock_mono() > m->stop_deadline) {
            cg_log(CG_LOG_WARN, "shutdown timeout: killing the remaining "
                   "workers");
            cg_master_signal_all(m, SIGKILL, -1);
            m->stop_deadline = cg_clock_mono() + 3600;
        }
        if (poll(&pfd, 1, 200) <= 0) {
            cg_master_reap(m);      /* in case a SIGCHLD byte was lost */
            continue;
        }
        while ((n = read(cg_master_pipe[0], sigs, sizeof(sigs))) > 0) {
            for (i = 0; i < n; i++) {
                cg_master_handle(m, sigs[i]);
            }
        }
    }
}


/* Takes ownership of conf (allocated with malloc), which a reload
 * replaces. */
int
cg_master_run(cg_conf_t *conf, const char *conf_path)
{
    static cg_master_t m;
    char               err[512];

    memset(&m, 0, sizeof(m));
    m.conf = conf;
    m.conf_path = conf_path;
    m.master_pid = getpid();
    if (cg_master_signals() != 0) {
        cg_log(CG_LOG_ERROR, "cannot set up signals: %s", strerror(errno));
        return 1;
    }
    m.listen_fd = cg_master_listen(conf->listen, conf->socket_mode,
                                   conf->backlog, err, sizeof(err));
    if (m.listen_fd < 0) {
        cg_log(CG_LOG_ERROR, "%s", err);
        return 1;
    }
    if (cg_upstream_global_init() != 0) {
        cg_log(CG_LOG_ERROR, "cannot initialise libcurl");
        return 1;
    }
    cg_master_pid_file(conf, 1);
    cg_log(CG_LOG_NOTICE, "listening on %s with %d workers (provider key "
           "%s %s)", conf->listen, conf->workers, cg_conf_api_key_name(conf),
           conf->api_key.fp);
    cg_keylog_events(NULL, conf, "start");
    cg_master_loop(&m);
    close(m.listen_fd);
    if (m.conf->listen[0] == '/') {
        unlink(m.conf->listen);
    }
    cg_master_pid_file(m.conf, 0);
    cg_log(CG_LOG_NOTICE, "stopped");
    cg_conf_free(m.conf);
    free(m.conf);
    cg_secret_env_clear();
    return 0;
}
