#include "help.h"

#include <stdio.h>
#include <string.h>

/* One row per command: what `chatgate CMD --help` prints. The man page
 * chatgate(8) says the same in longer form; keep them in step. */
typedef struct {
    const char *name;
    const char *synopsis;
    const char *what;
    const char *options;
} cg_help_t;

#define CG_HELP_CONF \
    "  -c FILE       the config file (default " CG_HELP_DEFAULT_CONF ")\n"

static const cg_help_t cg_help_cmds[] = {
    { "serve", "serve [-c FILE]",
      "Runs the master and its pre-forked workers on [server] listen (or\n"
      "on a socket passed by systemd, spawn-fcgi, mod_fcgid or lighttpd).\n"
      "SIGHUP reloads, SIGUSR1 reopens the logs, SIGTERM/SIGQUIT stop\n"
      "after the requests in flight.\n",
      CG_HELP_CONF },
    { "check", "check [-c FILE]",
      "Validates the config and everything serve would need (keys,\n"
      "secrets, [server] user/group/socket_group, writable log, store and\n"
      "pid paths) without starting, like nginx -t. Exit 0: serve would\n"
      "start.\n",
      CG_HELP_CONF },
    { "mint", "mint [-c FILE] USER [--ttl SECONDS]",
      "Prints a signed session token for USER, made with [session]\n"
      "secret (for a service account, or for tests).\n",
      CG_HELP_CONF
      "  --ttl SECONDS lifetime of the token (default [session] ttl)\n" },
    { "reload", "reload [-c FILE]",
      "Tells the master named in [server] pid_file (after checking that\n"
      "it is one) to reload its config and keys, follows its error log\n"
      "([log] error_log) to the outcome and reports it. Exit 0 only when\n"
      "the new configuration is serving; a refused one is not, and the\n"
      "old one keeps serving.\n",
      CG_HELP_CONF },
    { "reopen", "reopen [-c FILE]",
      "Tells the master named in [server] pid_file (after checking that\n"
      "it is one) and its workers to reopen their logs (SIGUSR1), for\n"
      "logrotate's postrotate.\n",
      CG_HELP_CONF },
    { "probe", "probe [-c FILE] [--key NAME]",
      "Sends one minimal request (max_tokens 1) to the provider through a\n"
      "key, to prove it works; logs a key_probe audit event.\n",
      CG_HELP_CONF
      "  --key NAME    the [key NAME] to try (default: the provider key)\n" },
    { "audit", "audit [-c FILE] [--json]",
      "Reports who and what can reach the provider keys and the session\n"
      "secret (owners, modes, groups, the PHP session owner). Exit 3 on a\n"
      "high finding.\n",
      CG_HELP_CONF
      "  --json        machine-readable output\n" },
    { "report", "report [-c FILE] [--log PATH...] [--since DATE] "
      "[--until DATE]\n                [--by user|day|route|key] "
      "[--json|--csv]",
      "Sums the usage log (and its rotations): requests, tokens and\n"
      "dollars per user, day, route or key.\n",
      CG_HELP_CONF
      "  --log PATH    read PATH instead of [log] usage_log (repeatable)\n"
      "  --since DATE  from DATE (YYYY-MM-DD)\n"
      "  --until DATE  up to DATE\n"
      "  --by KEY      group by user, day, route or key\n"
      "  --json, --csv machine-readable output\n" },
    { "keys", "keys",
      "Lists every config key with its default and meaning, one per line\n"
      "(the source of docs/config.md and chatgate.ini(5)).\n",
      "" },
    { "version", "version",
      "Prints the version of this chatgate.\n", "" },
    { "help", "help [COMMAND]",
      "Prints the list of commands, or one command's help.\n", "" },
    { NULL, NULL, NULL, NULL }
};


void
cg_help_usage(FILE *f)
{
    const cg_help_t *h;

    for (h = cg_help_cmds; h->name; h++) {
        fprintf(f, "%s chatgate %s\n", h == cg_help_cmds ? "usage:" : "      ",
                h->synopsis);
    }
    fprintf(f, "`chatgate COMMAND --help` says what a command does. The "
            "default config\nfile is " CG_HELP_DEFAULT_CONF ".\n");
}


int
cg_help_known(const char *cmd)
{
    const cg_help_t *h;

    for (h = cg_help_cmds; h->name; h++) {
        if (strcmp(h->name, cmd) == 0) {
            return 1;
        }
    }
    return 0;
}


int
cg_help_command(const char *cmd)
{
    const cg_help_t *h;

    for (h = cg_help_cmds; h->name; h++) {
        if (strcmp(h->name, cmd) == 0) {
            printf("usage: chatgate %s\n\n%s%s%s", h->synopsis, h->what,
                   h->options[0] ? "\nOptions:\n" : "", h->options);
            printf("  -h, --help    this help\n");
            return 0;
        }
    }
    fprintf(stderr, "chatgate: no command %s\n", cmd);
    cg_help_usage(stderr);
    return 2;
}


int
cg_help_wanted(int argc, char **argv)
{
    int i;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return 1;
        }
    }
    return 0;
}
