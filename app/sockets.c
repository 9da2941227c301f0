#include "sockets.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
cg_sockets_listen_unix(const char *path, int mode, int backlog, char *err,
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
cg_sockets_listen_tcp(const char *spec, int backlog, char *err,
                      size_t errlen)
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
cg_sockets_listen(const char *spec, int mode, int backlog, char *err,
                  size_t errlen)
{
    if (spec[0] == '/') {
        return cg_sockets_listen_unix(spec, mode, backlog, err, errlen);
    }
    return cg_sockets_listen_tcp(spec, backlog, err, errlen);
}


int
cg_sockets_owner(const cg_conf_t *conf)
{
    struct passwd *pw = NULL;
    struct group  *gr = NULL;

    if (conf->server.listen[0] != '/'
        || (conf->server.socket_owner[0] == '\0'
            && conf->server.socket_group[0] == '\0')) {
        return 0;
    }
    if (conf->server.socket_owner[0]
        && (pw = getpwnam(conf->server.socket_owner)) == NULL) {
        cg_log(CG_LOG_ERROR, "[server] socket_owner %s: no such user",
               conf->server.socket_owner);
        return -1;
    }
    if (conf->server.socket_group[0]
        && (gr = getgrnam(conf->server.socket_group)) == NULL) {
        cg_log(CG_LOG_ERROR, "[server] socket_group %s: no such group",
               conf->server.socket_group);
        return -1;
    }
    if (chown(conf->server.listen, pw ? pw->pw_uid : (uid_t) -1,
              gr ? gr->gr_gid : (gid_t) -1) != 0) {
        cg_log(CG_LOG_ERROR, "cannot chown %s: %s", conf->server.listen,
               strerror(errno));
        return -1;
    }
    return 0;
}


/* systemd socket activation: LISTEN_PID names us and LISTEN_FDS >= 1;
 * the socket is fd 3 (SD_LISTEN_FDS_START). */
int
cg_sockets_systemd(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

    if (pid == NULL || fds == NULL || atol(pid) != (long) getpid()
        || atoi(fds) < 1) {
        return -1;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    fcntl(3, F_SETFD, FD_CLOEXEC);
    return 3;
}


int
cg_sockets_inherited(void)
{
    struct sockaddr_storage sa;
    socklen_t               len = sizeof(sa);
    int                     on = 0;
    socklen_t               olen = sizeof(on);

    /* What libfcgi's OS_IsFcgi() tests, without its exit() on failure:
     * fd 0 is a socket with no peer, and it listens. */
    if (getpeername(0, (struct sockaddr *) &sa, &len) == 0
        || errno != ENOTCONN) {
        return 0;
    }
    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) == 0 && on;
}
