/*
 * alertsend: delivers a raised alert (a JSON line from lib/meter/alert.c) to the
 * usage log's companions: syslog, the [alerts] webhook and the [alerts]
 * command. Delivery to the webhook and the command runs in a detached
 * grandchild process, so a slow or dead receiver never holds up a chat
 * request: the worker only pays for two fork()s and one waitpid().
 *
 * Also owns the syslog connection that usage lines share.
 */
#ifndef CG_ALERTSEND_H
#define CG_ALERTSEND_H

#include "core/buf.h"
#include "conf/config.h"

/* Opens syslog when [log] syslog = yes; returns -1 on a bad facility. */
int  cg_syslog_open(const cg_conf_t *conf, char *err, size_t errlen);
/* Sends one usage or alert line to syslog when it is on. */
void cg_syslog_line(const cg_conf_t *conf, const cg_buf_t *line);
/* Hands an alert line to the webhook and command, without waiting. */
void cg_alertsend(const cg_conf_t *conf, const cg_buf_t *line);

#endif
