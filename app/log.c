#include "log.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int   cg_log_fd = 2;
static char *cg_log_path;


int
cg_log_open(const char *path)
{
    int fd;

    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        return -1;
    }
    if (cg_log_fd > 2) {
        /* dup2 swaps the file under the same descriptor in one step, so
         * another thread's cg_log() never writes to a closed fd. */
        (void) dup2(fd, cg_log_fd);
        close(fd);
    } else {
        cg_log_fd = fd;
    }
    if (path != cg_log_path) {
        free(cg_log_path);
        cg_log_path = strdup(path);
    }
    return 0;
}


void
cg_log_reopen(void)
{
    if (cg_log_path) {
        (void) cg_log_open(cg_log_path);
    }
}


int
cg_log_fileno(void)
{
    return cg_log_fd;
}


void
cg_log(cg_log_level_t level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warn", "notice" };
    char               line[1024];
    struct tm          tm;
    time_t             now = cg_clock_now();
    va_list            ap;
    int                n, saved = errno;
    size_t             len;

    gmtime_r(&now, &tm);
    n = (int) strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t) n, " [%s] %d: ",
                  names[level], (int) getpid());
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
    va_end(ap);
    len = strlen(line);
    /* Keep one event on one line whatever the message holds. */
    for (size_t i = (size_t) n; i < len; i++) {
        if ((unsigned char) line[i] < 0x20) {
            line[i] = ' ';
        }
    }
    if (len >= sizeof(line) - 1) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    if (write(cg_log_fd, line, len) < 0) {
        /* nowhere left to report it */
    }
    errno = saved;
}
