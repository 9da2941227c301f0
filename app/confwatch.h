/*
 * confwatch: applying a config change under a spawner (mod_fcgid,
 * spawn-fcgi, lighttpd bin-path), where there is no master to reload and
 * the account (on shared hosting) cannot restart the web server. Each
 * process watches its config file: when the file changes, or the process
 * gets SIGHUP, and the new file passes the checks a start applies, the
 * process finishes its request and leaves, and the spawner starts a fresh
 * one with the new file. When it does not pass, the reason goes to the
 * error log ([log] error_log, a file the account can read) once per change
 * and the old configuration keeps serving. Never used by the master.
 */
#ifndef CG_CONFWATCH_H
#define CG_CONFWATCH_H

/* Starts watching path (the file serve was started with). */
void cg_confwatch_start(const char *path);
/* Called about once a second, and with forced = 1 on SIGHUP: returns 1
 * when the process should leave for a new config that passes. */
int  cg_confwatch_poll(int forced);

#endif
