#include "confwatch.h"
#include "confopen.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char     *path;       /* NULL: not watching */
    struct timespec mtime;
    ino_t           ino;
    off_t           size;
} cg_confwatch_t;

static cg_confwatch_t cg_confwatch;


static void
cg_confwatch_note(const struct stat *st)
{
    cg_confwatch.mtime = st->st_mtim;
    cg_confwatch.ino = st->st_ino;
    cg_confwatch.size = st->st_size;
}


void
cg_confwatch_start(const char *path)
{
    struct stat st;

    cg_confwatch.path = path;
    if (stat(path, &st) == 0) {
        cg_confwatch_note(&st);
    }
}


/* The checks a start applies (confopen: the same as check and SIGHUP). */
static int
cg_confwatch_passes(char *err, size_t errlen)
{
    cg_conf_t *nc = cg_confopen(cg_confwatch.path, CG_OPEN_ALL, err, errlen);

    if (nc == NULL) {
        return -1;
    }
    cg_confclose(nc);           /* wipes the keys it read */
    return 0;
}


int
cg_confwatch_poll(int forced)
{
    struct stat st;
    char        err[1024];

    if (cg_confwatch.path == NULL) {
        return 0;
    }
    if (stat(cg_confwatch.path, &st) != 0) {
        return 0;               /* being replaced: look again later */
    }
    if (!forced && st.st_ino == cg_confwatch.ino
        && st.st_size == cg_confwatch.size
        && st.st_mtim.tv_sec == cg_confwatch.mtime.tv_sec
        && st.st_mtim.tv_nsec == cg_confwatch.mtime.tv_nsec) {
        return 0;
    }
    cg_confwatch_note(&st);     /* one verdict per change */
    if (cg_confwatch_passes(err, sizeof(err)) != 0) {
        cg_log(CG_LOG_ERROR, "config change refused, still serving with the "
               "old configuration: %s", err);
        return 0;
    }
    cg_log(CG_LOG_NOTICE, "%s %s passes: this process leaves after its "
           "request; the spawner starts the next one with it",
           forced ? "SIGHUP: config" : "config changed:", cg_confwatch.path);
    return 1;
}
