#include "masterctl.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CG_MC_CMDLINE_MAX   4096
#define CG_MC_WAIT_S        30.0    /* a reload reads keys; this is ample */
#define CG_MC_POLL_US       20000
#define CG_MC_LINE_MAX      2048


/* /proc/PID/cmdline, NULs turned into spaces; length or -1. */
static ssize_t
cg_mc_cmdline(long pid, char *out, size_t len)
{
    char    path[64];
    ssize_t n, i;
    int     fd;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return -1;
    }
    n = read(fd, out, len - 1);
    close(fd);
    if (n <= 0) {
        return -1;              /* gone, or a zombie */
    }
    for (i = 0; i < n; i++) {
        out[i] = out[i] == '\0' ? ' ' : out[i];
    }
    while (n > 0 && out[n - 1] == ' ') {
        n--;
    }
    out[n] = '\0';
    return n;
}


static long
cg_mc_ppid(long pid)
{
    char  path[64], buf[512], *p;
    long  ppid = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "re")) == NULL) {
        return 0;
    }
    /* pid (comm) state ppid ...; comm may hold spaces and parens. */
    if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL) {
        sscanf(p + 1, " %*c %ld", &ppid);
    }
    fclose(f);
    return ppid;
}


/* "chatgate... serve ...": the program's name starts with chatgate (a
 * copy may be called chatgate-bin) and its first argument is serve. */
static int
cg_mc_is_serve(const char *cmd)
{
    char        argv0[PATH_MAX];
    const char *sp = strchr(cmd, ' ');
    size_t      n = sp ? (size_t) (sp - cmd) : strlen(cmd);

    if (n >= sizeof(argv0)) {
        return 0;
    }
    memcpy(argv0, cmd, n);
    argv0[n] = '\0';
    return strncmp(basename(argv0), "chatgate", 8) == 0 && sp != NULL
           && strncmp(sp, " serve", 6) == 0 && (sp[6] == ' ' || !sp[6]);
}


int
cg_masterctl_find(const char *pid_file, pid_t *pid, char *err, size_t errlen)
{
    char  cmd[CG_MC_CMDLINE_MAX], pcmd[CG_MC_CMDLINE_MAX];
    long  p = 0;
    FILE *f;

    if (pid_file == NULL || pid_file[0] == '\0') {
        snprintf(err, errlen, "this needs [server] pid_file (under systemd "
                 "use systemctl; under a spawner such as mod_fcgid there is "
                 "no master: see docs/deploy.md)");
        return -1;
    }
    f = fopen(pid_file, "re");
    if (f == NULL || fscanf(f, "%ld", &p) != 1 || p <= 1) {
        snprintf(err, errlen, "cannot read a pid from %s%s%s", pid_file,
                 f ? "" : ": ", f ? "" : strerror(errno));
        if (f) {
            fclose(f);
        }
        return -1;
    }
    fclose(f);
    if (cg_mc_cmdline(p, cmd, sizeof(cmd)) < 0) {
        snprintf(err, errlen, "%s names process %ld, which is not running "
                 "(a stale pid file: is chatgate stopped?)", pid_file, p);
        return -1;
    }
    if (!cg_mc_is_serve(cmd)) {
        snprintf(err, errlen, "%s names process %ld, which is not chatgate "
                 "(%.200s); no signal sent", pid_file, p, cmd);
        return -1;
    }
    if (cg_mc_cmdline(cg_mc_ppid(p), pcmd, sizeof(pcmd)) > 0
        && strcmp(pcmd, cmd) == 0) {
        snprintf(err, errlen, "%s names process %ld, a chatgate worker, not "
                 "the master; no signal sent", pid_file, p);
        return -1;
    }
    *pid = (pid_t) p;
    return 0;
}


/* The outcome among the master's new log lines: 1 reloaded, -1 refused,
 * 0 not yet. Warnings about the reload are passed on. */
static int
cg_mc_outcome(const char *line, pid_t pid)
{
    char        tag[32];
    const char *msg;

    snprintf(tag, sizeof(tag), "] %d: ", (int) pid);
    if ((msg = strstr(line, tag)) == NULL) {
        return 0;
    }
    msg += strlen(tag);
    if (strncmp(msg, "reloaded ", 9) == 0) {
        printf("chatgate: %s", msg);
        return 1;
    }
    if (strncmp(msg, "reload refused", 14) == 0) {
        fprintf(stderr, "chatgate: %s", msg);
        return -1;
    }
    if (strncmp(msg, "reload: ", 8) == 0) {
        printf("chatgate: warning: %s", msg + 8);
    }
    return 0;
}


/* Follows fd (the error log, from where it ended before the signal)
 * until the outcome or the time limit. */
static int
cg_mc_follow(int fd, pid_t pid)
{
    char    buf[CG_MC_LINE_MAX], *nl;
    size_t  have = 0;
    ssize_t n;
    double  end = cg_clock_mono() + CG_MC_WAIT_S;
    int     rc;

    while (cg_clock_mono() < end) {
        n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0) {
            if (kill(pid, 0) != 0 && errno == ESRCH) {
                fprintf(stderr, "chatgate: the master (%d) exited during the "
                        "reload\n", (int) pid);
                return 1;
            }
            usleep(CG_MC_POLL_US);
            continue;
        }
        have += (size_t) n;
        buf[have] = '\0';
        while ((nl = strchr(buf, '\n')) != NULL) {
            char c = nl[1];

            nl[1] = '\0';
            if ((rc = cg_mc_outcome(buf, pid)) != 0) {
                return rc > 0 ? 0 : 1;
            }
            nl[1] = c;
            have -= (size_t) (nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
        if (have == sizeof(buf) - 1) {
            have = 0;           /* a line longer than any of ours */
        }
    }
    fprintf(stderr, "chatgate: no outcome from the master (%d) after %.0f s; "
            "see its error log\n", (int) pid, CG_MC_WAIT_S);
    return 1;
}


int
cg_masterctl_reload(const char *pid_file, const char *error_log)
{
    char  err[512];
    pid_t pid;
    int   fd, rc;

    if (cg_masterctl_find(pid_file, &pid, err, sizeof(err)) != 0) {
        fprintf(stderr, "chatgate: reload: %s\n", err);
        return 1;
    }
    if (error_log == NULL || error_log[0] == '\0') {
        fprintf(stderr, "chatgate: reload: the outcome is read from the "
                "master's error log, and [log] error_log is not set; set it "
                "(the signal was not sent)\n");
        return 1;
    }
    if ((fd = open(error_log, O_RDONLY | O_CLOEXEC)) < 0
        || lseek(fd, 0, SEEK_END) < 0) {
        fprintf(stderr, "chatgate: reload: cannot read %s to follow the "
                "reload: %s (the signal was not sent)\n", error_log,
                strerror(errno));
        return 1;
    }
    if (kill(pid, SIGHUP) != 0) {
        fprintf(stderr, "chatgate: reload: cannot signal %d: %s\n", (int) pid,
                strerror(errno));
        close(fd);
        return 1;
    }
    rc = cg_mc_follow(fd, pid);
    close(fd);
    return rc;
}


int
cg_masterctl_reopen(const char *pid_file)
{
    char  err[512];
    pid_t pid;

    if (cg_masterctl_find(pid_file, &pid, err, sizeof(err)) != 0) {
        fprintf(stderr, "chatgate: reopen: %s\n", err);
        return 1;
    }
    if (kill(pid, SIGUSR1) != 0) {
        fprintf(stderr, "chatgate: reopen: cannot signal %d: %s\n", (int) pid,
                strerror(errno));
        return 1;
    }
    printf("chatgate: told the master (%d) and its workers to reopen their "
           "logs\n", (int) pid);
    return 0;
}
