#include "who/phpstore.h"
#include "core/iowait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmemcached/memcached.h>

#define CG_PHP_LOCK_TRIES  20       /* x 10 ms */

struct cg_phpmc_s {
    memcached_st  *mc;
};


int
cg_phpstore_sid_valid(const char *sid, size_t n)
{
    size_t i;
    char   c;

    if (n == 0 || n > CG_PHP_SID_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        c = sid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == ',' || c == '-')) {
            return 0;
        }
    }
    return 1;
}


/* <dir>[/c0/c1...]/sess_<sid>, after PHP's mod_files: "N;[MODE;]DIR". */
static int
cg_php_path(const char *save_path, const char *sid, size_t n, char *out,
            size_t cap)
{
    const char *dir = save_path, *semi;
    long        depth = 0, i;
    size_t      len;

    semi = strrchr(save_path, ';');
    if (semi) {
        depth = strtol(save_path, NULL, 10);
        dir = semi + 1;
    }
    if (depth < 0 || (size_t) depth > n || depth > 16) {
        return -1;
    }
    len = strlen(dir);
    if (len + 2 * (size_t) depth + 6 + n + 1 > cap) {
        return -1;
    }
    memcpy(out, dir, len);
    for (i = 0; i < depth; i++) {
        out[len++] = '/';
        out[len++] = sid[i];
    }
    memcpy(out + len, "/sess_", 6);
    memcpy(out + len + 6, sid, n);
    out[len + 6 + n] = '\0';
    return 0;
}


static cg_php_rc_t
cg_php_lock(int fd)
{
    int i;

    /* PHP holds LOCK_EX for a whole request; wait a little, not forever. */
    for (i = 0; i < CG_PHP_LOCK_TRIES; i++) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            return CG_PHP_OK;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return CG_PHP_IO;
        }
        /* Under the event loop other requests run meanwhile. */
        cg_iowait_sleep_ms(10);
    }
    return CG_PHP_LOCKED;
}


static cg_php_rc_t
cg_php_fd_read(int fd, uid_t owner, long max_age, time_t now, cg_buf_t *out)
{
    struct stat st;
    cg_php_rc_t rc;
    ssize_t     got;

    if (fstat(fd, &st) != 0) {
        return CG_PHP_IO;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != owner) {
        return CG_PHP_REFUSED;
    }
    if (max_age > 0 && (long long) st.st_mtime + max_age < (long long) now) {
        return CG_PHP_STALE;
    }
    rc = cg_php_lock(fd);
    if (rc != CG_PHP_OK) {
        return rc;
    }
    cg_buf_reset(out);
    if (cg_buf_reserve(out, CG_PHP_DATA_MAX + 1) != 0) {
        return CG_PHP_IO;
    }
    while (out->len <= CG_PHP_DATA_MAX) {
        got = read(fd, out->data + out->len, CG_PHP_DATA_MAX + 1 - out->len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return CG_PHP_IO;
        }
        if (got == 0) {
            break;
        }
        out->len += (size_t) got;
    }
    return out->len > CG_PHP_DATA_MAX ? CG_PHP_TOO_LARGE : CG_PHP_OK;
}


cg_php_rc_t
cg_phpstore_file_read(const char *save_path, uid_t owner, long max_age,
                      const char *sid, size_t n, time_t now, cg_buf_t *out)
{
    char        path[4096 + CG_PHP_SID_MAX];
    int         fd;
    cg_php_rc_t rc;

    if (!cg_phpstore_sid_valid(sid, n)) {
        return CG_PHP_BAD_SID;
    }
    if (cg_php_path(save_path, sid, n, path, sizeof(path)) != 0) {
        return CG_PHP_BAD_SID;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY
                    | O_NONBLOCK);
    if (fd < 0) {
        return errno == ENOENT ? CG_PHP_NONE
               : errno == ELOOP ? CG_PHP_REFUSED : CG_PHP_IO;
    }
    rc = cg_php_fd_read(fd, owner, max_age, now, out);
    close(fd);      /* also drops the lock */
    return rc;
}


cg_phpmc_t *
cg_phpstore_mc_new(const char *servers, const char *prefix, int timeout_ms,
                   char *err, size_t errlen)
{
    cg_phpmc_t           *m = calloc(1, sizeof(*m));
    memcached_server_st  *list;
    memcached_return_t    rc = MEMCACHED_FAILURE;

    if (m == NULL || (m->mc = memcached_create(NULL)) == NULL) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* php-memcached's defaults: binary protocol, consistent hashing
     * (ketama), and the prefix as a namespace that is not hashed, so the
     * server is picked by the bare session id. */
    memcached_behavior_set(m->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(m->mc, MEMCACHED_BEHAVIOR_KETAMA, 1);
    memcached_behavior_set(m->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                           (uint64_t) timeout_ms);
    memcached_behavior_set(m->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
                           (uint64_t) timeout_ms);
    memcached_behavior_set(m->mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
    list = memcached_servers_parse(servers);
    if (list) {
        rc = memcached_server_push(m->mc, list);
        memcached_server_list_free(list);
    }
    if (rc == MEMCACHED_SUCCESS && prefix[0]) {
        rc = memcached_callback_set(m->mc, MEMCACHED_CALLBACK_NAMESPACE,
                                    prefix);
    }
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(err, errlen, "[session] php_memcached_servers/prefix: %s",
                 memcached_strerror(m->mc, rc));
        cg_phpstore_mc_free(m);
        return NULL;
    }
    return m;
}


void
cg_phpstore_mc_free(cg_phpmc_t *m)
{
    if (m) {
        memcached_free(m->mc);
        free(m);
    }
}


cg_php_rc_t
cg_phpstore_mc_read(cg_phpmc_t *m, const char *sid, size_t n, cg_buf_t *out)
{
    memcached_return_t  rc;
    uint32_t            flags = 0;
    size_t              len = 0;
    char               *val;

    if (!cg_phpstore_sid_valid(sid, n)) {
        return CG_PHP_BAD_SID;
    }
    val = memcached_get(m->mc, sid, n, &len, &flags, &rc);
    if (val == NULL) {
        return rc == MEMCACHED_NOTFOUND ? CG_PHP_NONE : CG_PHP_IO;
    }
    cg_buf_reset(out);
    if (len > CG_PHP_DATA_MAX) {
        free(val);
        return CG_PHP_TOO_LARGE;
    }
    cg_buf_add(out, val, len);
    free(val);
    return out->oom ? CG_PHP_IO : CG_PHP_OK;
}


const char *
cg_phpstore_reason(cg_php_rc_t rc)
{
    switch (rc) {
    case CG_PHP_OK:        return "ok";
    case CG_PHP_BAD_SID:   return "PHP session id not in PHP's charset";
    case CG_PHP_NONE:      return "no such PHP session";
    case CG_PHP_REFUSED:   return "PHP session file refused (symlink, type "
                                  "or owner)";
    case CG_PHP_TOO_LARGE: return "PHP session data too large";
    case CG_PHP_STALE:     return "PHP session file older than "
                                  "php_max_lifetime";
    case CG_PHP_LOCKED:    return "PHP session file locked too long";
    case CG_PHP_IO:        return "PHP session store unreachable or "
                                  "unreadable";
    }
    return "?";
}
