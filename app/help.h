/*
 * help: the command line's own documentation. `chatgate` alone prints the
 * list of commands; `chatgate CMD --help` (or -h, or `chatgate help CMD`)
 * prints what CMD does and its options on stdout and exits 0. It only
 * prints; parsing and running the commands is main.c's.
 */
#ifndef CG_HELP_H
#define CG_HELP_H

#include <stdio.h>

/* The default config path, from the build (make SYSCONFDIR=...). */
#ifndef CG_DEFAULT_CONF
#define CG_DEFAULT_CONF  "/etc/chatgate/chatgate.ini"
#endif
#define CG_HELP_DEFAULT_CONF CG_DEFAULT_CONF

/* The version, from the build (git describe, or the VERSION file). */
#ifndef CG_VERSION
#define CG_VERSION       "unknown"
#endif

void cg_help_usage(FILE *f);
/* 1 when cmd is a command of chatgate. */
int  cg_help_known(const char *cmd);
/* Prints cmd's help on stdout; returns the exit status (0, or 2 for an
 * unknown command). */
int  cg_help_command(const char *cmd);
/* 1 when argv[2..] holds -h or --help. */
int  cg_help_wanted(int argc, char **argv);

#endif
