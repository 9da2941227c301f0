#include "ctl.h"

#include "provider.h"
#include "upstream.h"
#include "usagelog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


int
cg_ctl_reload(const cg_conf_t *conf)
{
    FILE *f;
    long  pid = 0;

    if (conf->pid_file == NULL || conf->pid_file[0] == '\0') {
        fprintf(stderr, "chatgate: reload needs [server] pid_file\n");
        return 1;
    }
    f = fopen(conf->pid_file, "re");
    if (f == NULL || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        fprintf(stderr, "chatgate: cannot read a pid from %s\n",
                conf->pid_file);
        if (f) {
            fclose(f);
        }
        return 1;
    }
    fclose(f);
    if (kill((pid_t) pid, SIGHUP) != 0) {
        fprintf(stderr, "chatgate: cannot signal %ld: %s\n", pid,
                strerror(errno));
        return 1;
    }
    printf("chatgate: sent SIGHUP to %ld; the error log says whether the "
           "reload was accepted\n", pid);
    return 0;
}


static int
cg_ctl_probe_call(cg_conf_t *conf, long *status, char *why, size_t whylen)
{
    cg_upstream_t *up;
    cg_buf_t       body, resp;
    cg_up_rc_t     rc;

    if (cg_upstream_global_init() != 0
        || (up = cg_upstream_new(conf)) == NULL) {
        snprintf(why, whylen, "cannot set up the HTTP client");
        return -1;
    }
    cg_buf_init(&body);
    cg_buf_init(&resp);
    cg_anthropic_build(conf, "ping", 4, &body);
    rc = cg_upstream_post(up, body.data, body.len, &resp, status, why,
                          whylen);
    cg_buf_free(&body);
    cg_buf_free(&resp);     /* the provider's text is never shown */
    cg_upstream_free(up);
    return rc == CG_UP_OK && *status >= 200 && *status <= 299 ? 0 : -1;
}


int
cg_ctl_probe(cg_conf_t *conf, const char *key)
{
    cg_key_t         *k = NULL;
    cg_secret_t       saved = conf->api_key;
    const char       *name = key ? key : cg_conf_api_key_name(conf);
    long              status = 0;
    char              why[160] = "", detail[200];
    int               rc;
    cg_audit_event_t  ev = { "key_probe", name, NULL, NULL, detail };

    if (key && strcmp(key, cg_conf_api_key_name(conf)) == 0
        && strncmp(conf->api_key_ref, "key:", 4) != 0) {
        key = NULL;     /* "provider": the direct [provider] api_key */
    }
    if (key && (k = cg_keys_find(&conf->keys, key)) == NULL) {
        fprintf(stderr, "chatgate: probe: no [key %s]\n", key);
        return 1;
    }
    if (k && k->secret.data == NULL) {
        fprintf(stderr, "chatgate: probe: key %s is a %s key; this server "
                "is %s and never reads it\n", key, cg_env_name(k->env),
                cg_env_name(conf->environment));
        return 1;
    }
    if (k) {
        conf->api_key = k->secret;      /* borrowed for the one call */
    }
    conf->max_tokens = 1;
    rc = cg_ctl_probe_call(conf, &status, why, sizeof(why));
    ev.key_id = conf->api_key.fp;
    snprintf(detail, sizeof(detail), "%s: status %ld%s%s",
             rc == 0 ? "ok" : "failed", status, why[0] ? ", " : "", why);
    printf("chatgate: probe of key %s (%s): %s\n", name, conf->api_key.fp,
           detail);
    cg_usagelog_audit(conf->usage_log, &ev);
    conf->api_key = saved;
    return rc == 0 ? 0 : 1;
}


void
cg_ctl_check_keys(const cg_conf_t *conf)
{
    char     msg[300];
    size_t   i;
    cg_key_t pk;

    cg_conf_provider_key(conf, &pk);
    if (strncmp(conf->api_key_ref, "key:", 4) != 0
        && cg_key_age_check(&pk, time(NULL), msg, sizeof(msg))) {
        printf("chatgate: warning: %s\n", msg);
    }
    for (i = 0; i < conf->keys.n; i++) {
        const cg_key_t *k = &conf->keys.v[i];

        printf("chatgate: key %s (%s): %s\n", k->name, cg_env_name(k->env),
               k->secret.data ? k->secret.fp : "not read (other "
               "environment)");
        if (k->secret.data && cg_key_age_check(k, time(NULL), msg,
                                               sizeof(msg))) {
            printf("chatgate: warning: %s\n", msg);
        }
    }
}
