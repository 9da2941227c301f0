#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    char   pid_file[PATH_MAX];
    char   sock[PATH_MAX];
    dev_t  sock_dev;
    ino_t  sock_ino;
    pid_t  master;
} cg_cleanup_t;


/* The dropped account can remove entries of path's directory itself when
 * the directory is its own and writable by it (sticky or not). */
static int
cg_cleanup_own_dir(const char *path, uid_t uid)
{
    char        dir[PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s", path);
    return stat(dirname(dir), &st) == 0 && st.st_uid == uid
           && (st.st_mode & S_IWUSR);
}


static void
cg_cleanup_remove(const cg_cleanup_t *c)
{
    struct stat st;
    FILE       *f;
    long        pid = 0;

    if (c->pid_file[0] && (f = fopen(c->pid_file, "re")) != NULL) {
        if (fscanf(f, "%ld", &pid) == 1 && pid == (long) c->master) {
            unlink(c->pid_file);
        }
        fclose(f);
    }
    if (c->sock[0] && lstat(c->sock, &st) == 0 && S_ISSOCK(st.st_mode)
        && st.st_dev == c->sock_dev && st.st_ino == c->sock_ino) {
        unlink(c->sock);
    }
}


static void __attribute__((noreturn))
cg_cleanup_wait(int fd, const cg_cleanup_t *c)
{
    int     sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                       SIGPIPE, SIGCHLD };
    size_t  i;
    char    b;
    ssize_t n;

    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        signal(sigs[i], SIG_IGN);
    }
    prctl(PR_SET_NAME, "chatgate-clean", 0, 0, 0);
    while ((n = read(fd, &b, 1)) != 0) {
        if (n < 0 && errno != EINTR) {
            break;
        }
    }
    cg_cleanup_remove(c);
    _exit(0);
}


int
cg_cleanup_spawn(cg_conf_t *conf, const char *pid_file, const char *sock,
                 uid_t run_uid)
{
    static cg_cleanup_t c;
    struct stat         st;
    int                 p[2];
    pid_t               pid;

    memset(&c, 0, sizeof(c));
    c.master = getpid();
    if (pid_file && pid_file[0] && !cg_cleanup_own_dir(pid_file, run_uid)) {
        snprintf(c.pid_file, sizeof(c.pid_file), "%s", pid_file);
    }
    if (sock && sock[0] && !cg_cleanup_own_dir(sock, run_uid)
        && lstat(sock, &st) == 0) {
        snprintf(c.sock, sizeof(c.sock), "%s", sock);
        c.sock_dev = st.st_dev;
        c.sock_ino = st.st_ino;
    }
    if (c.pid_file[0] == '\0' && c.sock[0] == '\0') {
        return 0;
    }
    if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
        return -1;
    }
    if (pid == 0) {
        /* Orphaned at once, so it is no child of the master's pool. */
        if (fork() != 0) {
            _exit(0);
        }
        cg_conf_free(conf);     /* wipes this copy of the keys */
        close(p[1]);
        close_range(0, (unsigned) p[0] - 1, 0);
        close_range((unsigned) p[0] + 1, ~0U, 0);
        cg_cleanup_wait(p[0], &c);
    }
    close(p[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        /* retry */
    }
    return 0;                   /* p[1] stays open until we all exit */
}
