/*
 * chatgate: a FastCGI application server that lets a website offer AI chat
 * without exposing its provider key. Commands:
 *
 * serve, check, mint, keys, reload, probe, audit, report, version; each
 * one's synopsis and --help text is in help.c, and chatgate(8) says the
 * same at length.
 */
#include "audit.h"
#include "confopen.h"
#include "ctl.h"
#include "help.h"
#include "log.h"
#include "master.h"
#include "masterctl.h"
#include "preflight.h"
#include "privs.h"
#include "report_cmd.h"
#include "sockets.h"

#include "conf/config.h"
#include "who/signed.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What a command line mistake gets: the list of commands, exit 2. */
static int
cg_usage_error(void)
{
    cg_help_usage(stderr);
    return 2;
}


static cg_conf_t *
cg_main_load(const char *path, cg_open_level_t level)
{
    cg_conf_t *conf;
    char       err[1024];

    conf = cg_confopen(path, level, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "chatgate: %s\n", err);
    }
    return conf;
}


static int
cg_main_mint(const cg_conf_t *conf, const char *user, long ttl)
{
    char tok[CG_TOKEN_MAX + 1];

    if (ttl <= 0) {
        ttl = conf->session.ttl;
    }
    if (conf->session.nkeys == 0) {
        fprintf(stderr, "chatgate: mint: no [session] secret or secrets "
                "configured\n");
        return 1;
    }
    /* The newest key signs: v2.<kid>... with secrets, else v1. */
    if (cg_signed_sign_key(&conf->session.keys[0], user, cg_clock_now() + ttl,
                           tok, sizeof(tok)) < 0) {
        fprintf(stderr, "chatgate: mint: a user id is 1-%d characters of "
                "A-Z a-z 0-9 . _ @ + : -\n", CG_USER_MAX);
        return 1;
    }
    printf("%s\n", tok);
    return 0;
}


/* The config reference, straight from the modules' rows: docs are
 * checked against this output, so a key cannot go undocumented. */
static int
cg_main_keys(void)
{
    cg_conf_print_keys(stdout);
    return 0;
}


/* `check`: what was loaded, each route with its key's fingerprint. */
static void
cg_main_check_print(const cg_conf_t *conf, const char *path)
{
    const cg_provider_conf_t *pc = &conf->provider;
    const cg_route_t         *rt;
    int                       i;

    printf("chatgate: configuration %s is ok (provider key %s %s)\n",
           path, cg_provider_api_key_name(conf), pc->routes[0].api_key.fp);
    for (i = 0; i < pc->nroutes; i++) {
        rt = &pc->routes[i];
        printf("route %s: %s %s, key %s %s%s\n", rt->name,
               cg_provider_type_name(rt->provider), rt->model,
               cg_provider_route_key_name(rt), rt->api_key.fp,
               strcmp(rt->name, pc->default_route) == 0 ? " (default)" : "");
    }
}


/* reload and reopen need only [server] pid_file and [log] error_log: no
 * secrets are read (the master checks the file itself, as `check`
 * would, before it takes it). */
static int
cg_main_reload(const char *path, int reopen)
{
    cg_conf_t *conf = cg_main_load(path, CG_OPEN_SETTINGS);
    int        rc;

    if (conf == NULL) {
        return 1;
    }
    rc = reopen ? cg_masterctl_reopen(conf->server.pid_file)
                : cg_ctl_reload(conf);
    cg_confclose(conf);
    return rc;
}


int
main(int argc, char **argv)
{
    const char *path = CG_DEFAULT_CONF, *cmd, *user = NULL, *key = NULL;
    const char *key_file = NULL;
    long        ttl = 0;
    cg_conf_t  *conf;
    int         i, rc, json = 0;

    if (argc < 2) {
        return cg_usage_error();
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "-h") == 0) {
        if (argc > 2) {
            return cg_help_command(argv[2]);
        }
        cg_help_usage(stdout);
        return 0;
    }
    if (cg_help_known(argv[1]) && cg_help_wanted(argc, argv)) {
        return cg_help_command(argv[1]);
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("chatgate %s\n", CG_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "report") == 0) {
        return cg_report_main(argc - 1, argv + 1);
    }
    cmd = argv[1];
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--ttl") == 0 && i + 1 < argc) {
            ttl = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
            key_file = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (user == NULL && argv[i][0] != '-') {
            user = argv[i];
        } else {
            return cg_usage_error();
        }
    }
    if (strcmp(cmd, "keys") == 0) {
        return cg_main_keys();
    }
    if (!cg_help_known(cmd)) {
        return cg_usage_error();
    }
    if (strcmp(cmd, "audit") == 0 || strcmp(cmd, "reload") == 0
        || strcmp(cmd, "reopen") == 0) {
        cg_privs_harden();
        return strcmp(cmd, "audit") == 0 ? cg_audit_run(path, json)
               : cg_main_reload(path, strcmp(cmd, "reopen") == 0);
    }
    if ((strcmp(cmd, "mint") == 0) != (user != NULL)) {
        return cg_usage_error();
    }
    cg_privs_harden();
    conf = cg_main_load(path, strcmp(cmd, "mint") == 0 ? CG_OPEN_SESSION
                                                        : CG_OPEN_ALL);
    if (conf == NULL) {
        return 1;
    }
    if (strcmp(cmd, "check") == 0 && (rc = cg_preflight(conf)) != 0) {
        fprintf(stderr, "chatgate: %s: %d problem%s above; serve would not "
                "start\n", path, rc, rc == 1 ? "" : "s");
        rc = 1;
    } else if (strcmp(cmd, "check") == 0) {
        cg_main_check_print(conf, path);
        cg_ctl_check_keys(conf);
        rc = 0;
    } else if (strcmp(cmd, "probe") == 0) {
        rc = cg_ctl_probe(conf, key, key_file);
    } else if (strcmp(cmd, "mint") == 0) {
        rc = cg_main_mint(conf, user, ttl);
    } else {
        if (cg_log_open(conf->log.error_log) != 0) {
            fprintf(stderr, "chatgate: cannot open error log %s\n",
                    conf->log.error_log);
            cg_confclose(conf);
            return 1;
        }
        return cg_sockets_inherited() ? cg_master_run_single(conf, path)
                                     : cg_master_run(conf, path);
    }
    cg_confclose(conf);
    cg_secret_env_clear();
    return rc;
}
