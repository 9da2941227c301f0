#include "report_cmd.h"
#include "help.h"
#include "log/report.h"

#include "core/buf.h"
#include "confopen.h"
#include "conf/config.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define CG_REPORT_MAX_LOGS  64
#define CG_REPORT_TOP       10

typedef struct {
    const char       *conf_path;
    const char       *logs[CG_REPORT_MAX_LOGS];
    int               nlogs;
    cg_report_fmt_t   fmt;
} cg_report_args_t;


static int
cg_report_usage(void)
{
    fprintf(stderr, "usage: chatgate report [-c FILE] [--log PATH...] "
            "[--since DATE] [--until DATE]\n"
            "                       [--by user|day|route|key] "
            "[--json|--csv]\n");
    return 2;
}


static int
cg_report_by(const char *s, cg_report_by_t *by)
{
    static const char *const names[] = { "user", "day", "route", "key" };
    int                      i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *by = (cg_report_by_t) i;
            return 0;
        }
    }
    return -1;
}


static int
cg_report_args(int argc, char **argv, cg_report_args_t *a, cg_report_t *rp)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
            a->conf_path = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--log") == 0) {
            if (a->nlogs == CG_REPORT_MAX_LOGS) {
                return -1;
            }
            a->logs[a->nlogs++] = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--since") == 0) {
            rp->since = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--until") == 0) {
            rp->until = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--by") == 0) {
            if (cg_report_by(argv[++i], &rp->by) != 0) {
                return -1;
            }
        } else if (strcmp(argv[i], "--json") == 0) {
            a->fmt = CG_REPORT_JSON;
        } else if (strcmp(argv[i], "--csv") == 0) {
            a->fmt = CG_REPORT_CSV;
        } else {
            return -1;
        }
    }
    return 0;
}


/* One file, plain or gzip (zlib reads both), line by line. */
static int
cg_report_file(cg_report_t *rp, const char *path)
{
    gzFile  f = gzopen(path, "rb");
    char    line[65536];
    size_t  n;

    if (f == NULL) {
        fprintf(stderr, "chatgate: report: cannot open %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while (gzgets(f, line, sizeof(line)) != NULL) {
        n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            n--;
        }
        if (n > 0) {
            (void) cg_report_line(rp, line, n);
        }
    }
    gzclose(f);
    return 0;
}


/* Without --log: the configured usage log and its rotations (.1, .2.gz,
 * ...), oldest last; order does not matter to the sums. */
static int
cg_report_default_logs(cg_report_t *rp, const char *usage_log)
{
    glob_t  g;
    char    pat[4096];
    size_t  i;
    int     rc;

    rc = cg_report_file(rp, usage_log);
    snprintf(pat, sizeof(pat), "%s.*", usage_log);
    if (glob(pat, 0, NULL, &g) == 0) {
        for (i = 0; i < g.gl_pathc; i++) {
            rc |= cg_report_file(rp, g.gl_pathv[i]);
        }
        globfree(&g);
    }
    return rc;
}


/* The config through the one opening path; when it is optional and
 * cannot be read, the defaults (path NULL). */
static cg_conf_t *
cg_report_load_conf(const char *path, int required)
{
    cg_conf_t *conf;
    char       err[1024];

    conf = cg_confopen(path, CG_OPEN_SETTINGS, err, sizeof(err));
    if (conf == NULL && !required) {
        conf = cg_confopen(NULL, CG_OPEN_SETTINGS, err, sizeof(err));
    }
    if (conf == NULL) {
        fprintf(stderr, "chatgate: %s\n", err);
    }
    return conf;
}


int
cg_report_main(int argc, char **argv)
{
    cg_report_args_t  a;
    cg_report_t       rp;
    cg_conf_t        *conf;
    cg_buf_t          out;
    int               i, rc = 0;

    memset(&a, 0, sizeof(a));
    cg_report_init(&rp);
    if (cg_report_args(argc, argv, &a, &rp) != 0) {
        return cg_report_usage();
    }
    /* The config gives prices and the log path; with --log and no -c it
     * is optional (lines carrying cost_micro_usd need no prices). */
    conf = cg_report_load_conf(a.conf_path ? a.conf_path
                                           : CG_DEFAULT_CONF,
                               a.conf_path != NULL || a.nlogs == 0);
    if (conf == NULL) {
        cg_report_free(&rp);
        return 1;
    }
    rp.prices = conf->budget.prices;
    rp.nprices = conf->budget.nprices;
    if (a.nlogs == 0) {
        rc |= cg_report_default_logs(&rp, conf->log.usage_log);
    }
    for (i = 0; i < a.nlogs; i++) {
        rc |= cg_report_file(&rp, a.logs[i]);
    }
    cg_report_sort(&rp);
    cg_buf_init(&out);
    cg_report_format(&rp, a.fmt, CG_REPORT_TOP, &out);
    if (rp.oom || out.oom) {
        fprintf(stderr, "chatgate: report: out of memory\n");
        rc = -1;
    } else {
        fwrite(out.data, 1, out.len, stdout);
    }
    cg_buf_free(&out);
    cg_report_free(&rp);
    cg_confclose(conf);
    return rc ? 1 : 0;
}
